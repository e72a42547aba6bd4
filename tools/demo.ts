/**
 * `npm run demo`: the whole loop on real public data (vega-datasets' Seattle weather), start to end.
 *  1. a Temporal dev server + a worker (reuses `npm run dev` if it is running),
 *  2. `heal init weather` from the clean file, 3. a clean run, 4. columns renamed → healed,
 *  5. dates in another format → healed, 6. a required column dropped → refused, table untouched.
 *  Each healing episode is shown attempt by attempt, with its Web UI link. Then stops.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inferSpec } from '../core/spec/infer';
import { openStore } from '../store';
import { workflowsUrl } from '../common/ids';
import { describeOp } from '../common/patch';
import type { EpisodeResult, PipelineRunResult } from '../common/types';
import { getConfig } from '../lib/config';
import { queryRows, withDuckDB } from '../lib/duckdb';
import { ensureDir } from '../lib/atomic-files';
import { executeRun } from '../client/commands/run';
import { bold, dim, formatRunResult, green, red } from '../client/output';
import { workflowEnd } from '../client/results';
import { openSession, type TemporalSession } from '../client/temporal';

/** vega-datasets (a dev dependency) does not export its data files: find them next to its package.json. */
function datasetPath(file: string): string {
  const main = require.resolve('vega-datasets');
  let dir = path.dirname(main);
  while (!fs.existsSync(path.join(dir, 'package.json')) && dir !== path.dirname(dir)) dir = path.dirname(dir);
  return path.join(dir, 'data', file);
}
const DATASET = datasetPath('seattle-weather.csv');

function step(n: number, text: string): void {
  console.log(`\n${bold(`${n}. ${text}`)}`);
}

type Table = string[][];
const toCsv = (t: Table) => t.map((r) => r.join(',')).join('\n') + '\n';

/** Print each attempt of an episode: the doctor, the patch, the verification checks with their figures. */
async function showEpisode(session: TemporalSession, episodeId: string): Promise<void> {
  const { result: episode } = await workflowEnd<EpisodeResult>(session.client.workflow.getHandle(episodeId));
  for (const a of episode?.attempts ?? []) {
    const who = a.doctor === 'none' ? 'no doctor had a confident fix' : `${a.doctor} doctor`;
    console.log(`     attempt ${a.attempt} (${who}): ${a.error ? red('failed') : green('verified on the whole file')}`);
    for (const op of a.patch ?? []) if (op.op !== 'shape') console.log(dim(`       patch: ${describeOp(op)}`));
    const checks = a.report?.checks ?? [];
    for (const c of checks.filter((x) => !x.passed || x.name === 'rows-accounted' || x.name === 'quarantine-budget')) {
      console.log(dim(`       ${c.passed ? '✓' : '✗'} ${c.name}: ${c.figure}`));
    }
    const profiles = checks.filter((c) => c.name.startsWith('profile:') && c.passed);
    if (profiles.length)
      console.log(
        dim(
          `       ✓ ${profiles.length} column profiles match the baseline (${profiles.map((c) => c.name.slice(8)).join(', ')})`,
        ),
      );
    if (a.error && !a.report) console.log(dim(`       ${a.error}`));
  }
}

async function main(): Promise<void> {
  const config = getConfig();
  const dir = path.join(config.home, 'demo');
  ensureDir(dir);
  const clean = path.join(dir, 'seattle-weather.csv');
  fs.copyFileSync(DATASET, clean);
  const data: Table = fs
    .readFileSync(clean, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => l.split(','));
  const camel = (h: string) => h.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  const renamed: Table = [data[0]!.map(camel), ...data.slice(1)];
  const usDates: Table = renamed.map((r, i) =>
    i === 0 ? r : [r[0]!.replace(/^(\d{4})-(\d{2})-(\d{2})$/, '$2/$3/$1'), ...r.slice(1)],
  );
  const dropped: Table = usDates.map((r) => r.filter((_v, j) => j !== 2));
  const files = {
    renamed: path.join(dir, 'seattle-weather-renamed.csv'),
    usDates: path.join(dir, 'seattle-weather-us-dates.csv'),
    dropped: path.join(dir, 'seattle-weather-dropped.csv'),
  };
  fs.writeFileSync(files.renamed, toCsv(renamed));
  fs.writeFileSync(files.usDates, toCsv(usDates));
  fs.writeFileSync(files.dropped, toCsv(dropped));

  step(1, 'Temporal: a dev server and a worker');
  const log = (m: string) => console.log(dim(`   ${m}`));
  const session = await openSession(config, log);
  console.log(
    `   server ${session.address}${session.ownsServer ? ' (started for the demo; history kept in the state directory)' : ' (already running)'}`,
  );

  try {
    step(2, `heal init weather --source ${path.relative(process.cwd(), clean)}`);
    const spec = await inferSpec({ name: 'weather', source: clean, allowedRoots: config.allowedRoots });
    const rec = await openStore(config).specs.create(spec, { force: true });
    console.log(`   spec v${rec.version}: ${rec.file}`);
    for (const c of spec.contract.columns)
      console.log(
        `     ${c.name.padEnd(14)} ${c.type}${c.format ? ` (${c.format})` : ''}${c.required ? ', required' : ''}`,
      );

    const run = async (source: string): Promise<PipelineRunResult> => {
      const started = Date.now();
      const result = await executeRun(session, { config, log }, 'weather', source);
      console.log(
        formatRunResult(result, { links: config, seconds: (Date.now() - started) / 1000 }).replace(/^/gm, '   '),
      );
      if (result.episodeId) await showEpisode(session, result.episodeId);
      return result;
    };
    const count = async () =>
      (
        await withDuckDB(config.warehouse, {}, (conn) =>
          queryRows<{ n: number }>(conn, 'SELECT count(*) AS n FROM weather'),
        )
      )[0]?.n;

    step(3, 'heal run weather (the clean file)');
    const outcomes = [await run(clean)];
    const sample = await withDuckDB(config.warehouse, {}, (conn) =>
      queryRows(conn, 'SELECT * FROM weather ORDER BY date LIMIT 3'),
    );
    for (const row of sample)
      console.log(
        dim(
          `     ${Object.values(row)
            .map((v) => (v instanceof Date ? v.toISOString().slice(0, 10) : String(v)))
            .join(' | ')}`,
        ),
      );

    step(4, 'the source drifts: temp_max/temp_min arrive as tempMax/tempMin → a healing episode');
    outcomes.push(await run(files.renamed));

    step(5, 'it drifts again: dates arrive as 01/31/2012 (US format)');
    outcomes.push(await run(files.usDates));

    step(6, 'and then a required column (tempMax) disappears: no fix is safe, the load is refused');
    outcomes.push(await run(files.dropped));
    console.log(
      `\n   table weather still holds ${await count()} rows; spec v${await openStore(config).specs.currentVersion('weather')} is current.`,
    );
    const expected = ['succeeded', 'healed', 'healed', 'failed'];
    if (outcomes.some((o, i) => o.outcome !== expected[i])) {
      console.error(red(`demo: expected ${expected.join(', ')}, got ${outcomes.map((o) => o.outcome).join(', ')}`));
      process.exitCode = 1;
    }
  } finally {
    await session.close();
  }
  console.log(
    `\n${bold('done.')} Warehouse: ${config.warehouse}. Browse the runs: ${workflowsUrl(config.uiUrl, config.namespace)}`,
  );
  if (session.ownsServer)
    console.log(dim('   (the demo stopped its dev server; `npm run dev` keeps one running, with the same history)'));
}

main().catch((err: unknown) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
