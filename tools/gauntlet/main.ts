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
import { CHAOS_KINDS, isChaosKind, writeChaos, type ChaosKind } from '../chaos';
import { formatMatrix, runCases, driftCaseFolders, type CaseResult, type GauntletCase } from './cases';
import { SEARCH_ATTRIBUTE_KEYS } from '../../common/search-attributes';
import { loadConfig } from '../../lib/config';
import { findTemporalCli } from '../../lib/temporal-cli';
import { workflowBundlePath } from '../../lib/workflow-bundle';
import { closePools } from '../../lib/pg';
import { startPostgres } from '../../lib/postgres-server';
import { freePort } from '../../lib/ports';

const ROOT = path.resolve(__dirname, '..', '..');
const VEGA = path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data');
export const DEFAULT_DATASETS = [
  'seattle-weather',
  'gapminder-health-income',
  'stocks',
  'la-riots',
  'airports',
  'us-employment',
  'synthetic-customers',
];

/**
 * No vega dataset has booleans, non-ASCII text, "YYYY-MM-DD HH:MM:SS" timestamps and optional
 * columns together, so one seeded, generated dataset covers the kinds that need them.
 */
function syntheticCustomers(rows = 400, seed = 11): string {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const first = [
    'José',
    'Zoë',
    'Ana',
    'Björn',
    'Chloé',
    'Jürgen',
    'Maria',
    'Noël',
    'Olivia',
    'Søren',
    'Tomás',
    'Élodie',
  ];
  const last = ['García', 'Müller', 'Dupont', 'Nuñez', 'Smith', 'Ødegaard', 'Rossi', 'Könnig', 'Martin', 'Weiß'];
  const countries = ['ES', 'DE', 'FR', 'US', 'DK', 'IT'];
  const lines = ['customer_id,full_name,country,birth_date,signupTs,isActive,balance,referrer'];
  for (let i = 1; i <= rows; i++) {
    const d = new Date(Date.UTC(2024, 0, 1) + Math.floor(rand() * 365 * 86400) * 1000);
    const ts = d.toISOString().slice(0, 19).replace('T', ' ');
    const balance = (rand() * 5000 - 500).toFixed(2);
    const referrer = rand() < 0.3 ? '' : `ref-${Math.floor(rand() * 50)}`;
    const birth = new Date(Date.UTC(1950, 0, 1) + Math.floor(rand() * 50 * 365) * 86400000).toISOString().slice(0, 10);
    lines.push(
      [
        i,
        `${pick(first)} ${pick(last)}`,
        pick(countries),
        birth,
        ts,
        rand() < 0.6 ? 'true' : 'false',
        balance,
        referrer,
      ].join(','),
    );
  }
  return lines.join('\n') + '\n';
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

async function buildCases(work: string, datasets: string[], kinds: ChaosKind[], seed: number): Promise<GauntletCase[]> {
  const cases: GauntletCase[] = [];
  for (const ds of datasets) {
    const clean = path.join(work, ds, 'clean.csv');
    fs.mkdirSync(path.dirname(clean), { recursive: true });
    if (ds === 'synthetic-customers') fs.writeFileSync(clean, syntheticCustomers());
    else fs.copyFileSync(path.join(VEGA, `${ds}.csv`), clean);
    for (const kind of kinds) {
      const out = path.join(work, ds, `${kind}.csv`);
      const r = await writeChaos(kind, clean, out, seed);
      cases.push({
        dataset: ds,
        kind,
        clean,
        drifted: r.applicable ? out : undefined,
        expect: r.expect,
        change: r.note,
        ...(r.applicable && kind === 'drop-optional' && r.details.dropped ? { nulledColumn: r.details.dropped } : {}),
        ...(r.applicable && r.details.addedRows ? { extraRows: r.details.addedRows } : {}),
        ...(r.applicable && r.details.widened ? { widened: r.details.widened } : {}),
      });
    }
  }
  return cases;
}

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
