/**
 * `npm run gauntlet`: every chaos kind over real public datasets (vega-datasets) and the example
 * drift-case folders (`tests/fixtures/drift-cases`, or `--cases <dir>`), through the real CLI against one dev server and one worker; prints the
 * dataset × kind matrix and fails on any WRONG.
 *
 *   npm run gauntlet -- [--datasets a,b] [--kinds k1,k2] [--concurrency 3] [--seed 7]
 *                       [--cases <dir>] [--no-cases] [--write-readme] [--json <file>] [--postgres]
 *
 * With --postgres, a real PostgreSQL server (lib/postgres-server.ts) is started for the run and is
 * the warehouse and the state store (HEAL_WAREHOUSE): tables are judged as they are there.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { CHAOS_KINDS, isChaosKind, type ChaosKind } from '../chaos';
import { formatMatrix, runCases, driftCaseFolders, type CaseResult } from './cases';
import { buildCases, DEFAULT_DATASETS } from './datasets';
import { SEARCH_ATTRIBUTE_KEYS } from '../../common/search-attributes';
import { loadConfig } from '../../lib/config';
import { findTemporalCli } from '../../lib/temporal-cli';
import { workflowBundlePath } from '../../lib/workflow-bundle';
import { closePools } from '../../lib/pg';
import { startPostgres } from '../../lib/postgres-server';
import { freePort } from '../../lib/ports';

const ROOT = path.resolve(__dirname, '..', '..');
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

async function main(): Promise<void> {
  const seed = Number(arg('seed') ?? 7);
  const concurrency = Number(arg('concurrency') ?? 3);
  const datasets = (arg('datasets') ?? DEFAULT_DATASETS.join(',')).split(',').filter(Boolean);
  const kinds = (arg('kinds') ?? CHAOS_KINDS.map((k) => k.kind).join(',')).split(',').filter(Boolean);
  for (const k of kinds) if (!isChaosKind(k)) throw new Error(`unknown kind "${k}"`);
  const casesDir = path.resolve(arg('cases') ?? path.join(ROOT, 'tests', 'fixtures', 'drift-cases'));

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'heal-gauntlet-'));
  const home = path.join(work, 'state');
  const taskQueue = `gauntlet-${process.pid}`;
  const pg = flag('postgres')
    ? await startPostgres({ dir: path.join(work, 'postgres'), port: await freePort() })
    : null;
  const warehouseEnv = pg ? { HEAL_WAREHOUSE: pg.url } : {};
  const config = loadConfig(
    {
      HEAL_HOME: home,
      HEAL_ALLOWED_ROOTS: [work, casesDir].join(path.delimiter),
      HEAL_TASK_QUEUE: taskQueue,
      ...warehouseEnv,
    },
    ROOT,
  );
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const cli = findTemporalCli(config);
  if (!cli) throw new Error('no Temporal CLI: run `npm run setup`');
  const started = Date.now();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli.path },
      ip: '127.0.0.1',
      searchAttributes: [...SEARCH_ATTRIBUTE_KEYS],
    },
  });
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: await workflowBundlePath(path.join(os.tmpdir(), 'heal-test-cache')) },
    activities: createActivities({ config }),
    maxConcurrentActivityTaskExecutions: 4,
  });
  const running = worker.run();
  let results: CaseResult[] = [];
  try {
    const cases = [
      ...(await buildCases(work, datasets, kinds as ChaosKind[], seed)),
      ...(flag('no-cases') ? [] : driftCaseFolders(casesDir)),
    ];
    const g = {
      env: {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        NO_COLOR: '1',
        HEAL_HOME: home,
        HEAL_ALLOWED_ROOTS: config.allowedRoots.join(path.delimiter),
        TEMPORAL_ADDRESS: env.address,
        HEAL_TASK_QUEUE: taskQueue,
        ...warehouseEnv,
      },
      warehouse: pg ? pg.url : config.warehouse,
      bin: path.join(ROOT, 'bin', 'heal.js'),
    };
    const applicable = cases.filter((c) => c.drifted).length;
    console.error(
      `gauntlet: ${applicable} cases (${cases.length - applicable} not applicable) over ${datasets.length} datasets × ${kinds.length} kinds + drift-case folders, concurrency ${concurrency}`,
    );
    let n = 0;
    results = await runCases(g, cases, concurrency, (r) => {
      if (r.verdict === 'n/a') return;
      n += 1;
      const mark = r.verdict === 'WRONG' ? 'WRONG ' : r.verdict === 'missed' ? 'missed' : 'ok    ';
      console.error(
        `  [${String(n).padStart(3)}/${applicable}] ${mark} ${r.dataset} × ${r.kind}: expected ${r.expect}, got ${r.outcome}${r.doctor ? ` (${r.doctor})` : ''} ${r.seconds.toFixed(1)}s${r.verdict === 'WRONG' || r.verdict === 'missed' ? ` — ${r.detail}` : ''}`,
      );
    });
  } finally {
    worker.shutdown();
    await running;
    await env.teardown();
    await closePools();
    await pg?.stop();
  }
  const chaosResults = results.filter((r) => r.kind !== 'case');
  const folders = results.filter((r) => r.kind === 'case');
  const m = formatMatrix(chaosResults);
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  console.log(m.table);
  console.log(`\n${m.summary}; ${minutes} min; warehouse ${pg ? 'PostgreSQL' : 'DuckDB'}`);
  if (folders.length) {
    console.log('\ndrift-case folders:');
    for (const r of folders)
      console.log(
        `  ${r.dataset}: expected ${r.expect}, got ${r.outcome} → ${r.verdict}${r.verdict.endsWith('correct') ? '' : ` (${r.detail})`}`,
      );
  }
  const jsonOut = arg('json');
  if (jsonOut)
    fs.writeFileSync(jsonOut, JSON.stringify({ seed, datasets, kinds, minutes: Number(minutes), results }, null, 2));
  if (flag('write-readme')) {
    const readme = path.join(ROOT, 'README.md');
    const text = fs.readFileSync(readme, 'utf8');
    const block = `<!-- gauntlet:start -->\n${m.table}\n\n${m.summary}. Seed ${seed}, ${minutes} min on ${os.cpus().length} cores (${new Date().toISOString().slice(0, 10)}).\n<!-- gauntlet:end -->`;
    fs.writeFileSync(readme, text.replace(/<!-- gauntlet:start -->[\s\S]*<!-- gauntlet:end -->/, block));
  }
  const casesBad = folders.filter((r) => !r.verdict.endsWith('correct')).length;
  const wrong = results.filter((r) => r.verdict === 'WRONG').length;
  fs.rmSync(work, { recursive: true, force: true });
  if (wrong > 0 || casesBad > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`gauntlet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
