/**
 * `npm run demo`: the whole loop on real public data (vega-datasets' Seattle weather), start to end.
 *  1. a Temporal dev server + a worker (reuses `npm run dev` if it is running),
 *  2. `heal init weather` from the clean file, 3. a clean run, 4. a drifted file (columns renamed to
 *  camelCase) that fails with a classified drift report and leaves the table untouched. Then stops.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inferSpec } from '../activities/infer';
import { SpecStore } from '../activities/spec-store';
import type { PipelineRunResult } from '../common/types';
import { getConfig } from '../lib/config';
import { queryRows, withDuckDB } from '../lib/duckdb';
import { ensureDir } from '../lib/state';
import { executeRun } from './commands/run';
import { bold, dim, formatRunResult, workflowUrl } from './output';
import { openSession } from './temporal';

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

async function main(): Promise<void> {
  const config = getConfig();
  const dir = path.join(config.home, 'demo');
  ensureDir(dir);
  const clean = path.join(dir, 'seattle-weather.csv');
  const drifted = path.join(dir, 'seattle-weather-drifted.csv');
  fs.copyFileSync(DATASET, clean);
  const [header, ...rest] = fs.readFileSync(clean, 'utf8').split('\n');
  fs.writeFileSync(drifted, [(header ?? '').replace('temp_max', 'tempMax').replace('temp_min', 'tempMin'), ...rest].join('\n'));

  step(1, 'Temporal: a dev server and a worker');
  const session = await openSession(config, (m) => console.log(dim(`   ${m}`)));
  console.log(`   server ${session.address}${session.ownsServer ? ' (started for the demo; history kept in the state directory)' : ' (already running)'}`);

  try {
    step(2, `heal init weather --source ${path.relative(process.cwd(), clean)}`);
    const spec = await inferSpec({ name: 'weather', source: clean, allowedRoots: config.allowedRoots });
    const store = new SpecStore(config.home);
    const rec = store.create(spec, { force: true });
    console.log(`   spec v${rec.version}: ${rec.file}`);
    for (const c of spec.contract.columns) console.log(`     ${c.name.padEnd(14)} ${c.type}${c.format ? ` (${c.format})` : ''}${c.required ? ', required' : ''}`);

    const run = async (source: string): Promise<PipelineRunResult> => {
      const started = Date.now();
      const result = await executeRun(session, { config, log: (m) => console.log(dim(`   ${m}`)) }, 'weather', source);
      const url = workflowUrl(config.uiUrl, config.namespace, result.workflowId);
      console.log(formatRunResult(result, { url, seconds: (Date.now() - started) / 1000 }).replace(/^/gm, '   '));
      return result;
    };

    step(3, 'heal run weather (the clean file)');
    const ok = await run(clean);
    const sample = await withDuckDB(config.warehouse, {}, (conn) => queryRows(conn, 'SELECT * FROM weather ORDER BY date LIMIT 3'));
    for (const row of sample) console.log(dim(`     ${Object.values(row).map((v) => (v instanceof Date ? v.toISOString().slice(0, 10) : String(v))).join(' | ')}`));

    step(4, 'the source drifts: temp_max/temp_min arrive as tempMax/tempMin');
    const bad = await run(drifted);
    const count = await withDuckDB(config.warehouse, {}, (conn) => queryRows<{ n: number }>(conn, 'SELECT count(*) AS n FROM weather'));
    console.log(`\n   table weather still holds ${count[0]?.n} rows from the clean run (${ok.rowsLoaded} loaded).`);
    console.log(`   drift kinds: ${bad.driftReport?.kinds.join(', ')}; healing episodes land next (issue: healing).`);
    if (bad.outcome !== 'failed' || ok.outcome !== 'succeeded') process.exitCode = 1;
  } finally {
    await session.close();
  }
  console.log(`\n${bold('done.')} Warehouse: ${config.warehouse}`);
}

main().catch((err: unknown) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
