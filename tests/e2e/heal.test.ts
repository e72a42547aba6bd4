/**
 * Healing end to end through the CLI on real public data (vega-datasets' Seattle weather):
 * `heal init` + a clean run, then a drifted copy → `heal run --json` reports `healed` and the table
 * equals the one the clean file produced; a dropped required column → `failed`, table unchanged.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PipelineRunResult } from '../../common/types';
import { useCliSuite } from '../helpers/cli-suite';
import { runCli } from '../helpers/cli';
import { tableRows } from '../helpers/fixtures';

const SEATTLE = path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data', 'seattle-weather.csv');

const suite = useCliSuite('e2e-heal');

type Table = string[][];
const readCsv = (file: string): Table =>
  fs
    .readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => l.split(','));
const writeCsv = (file: string, t: Table, delimiter = ','): void =>
  fs.writeFileSync(file, t.map((r) => r.join(delimiter)).join('\n') + '\n');
const renameHeader = (t: Table, f: (h: string) => string): Table => [t[0]!.map(f), ...t.slice(1)];
const reorder = (t: Table, order: number[]): Table => t.map((r) => order.map((i) => r[i] ?? ''));
const dropColumn = (t: Table, i: number): Table => t.map((r) => r.filter((_, j) => j !== i));
const usDates = (t: Table, col: number): Table =>
  t.map((r, i) =>
    i === 0 ? r : r.map((v, j) => (j === col ? v.replace(/^(\d{4})-(\d{2})-(\d{2})$/, '$2/$3/$1') : v)),
  );

const cases: { name: string; drift: (t: Table) => Table; kinds: string[] }[] = [
  {
    name: 'renamed',
    drift: (t) => renameHeader(t, (h) => (h === 'temp_max' ? 'tempMax' : h === 'precipitation' ? 'precip' : h)),
    kinds: ['renamed'],
  },
  { name: 'recased', drift: (t) => renameHeader(t, (h) => h.toUpperCase()), kinds: ['renamed'] },
  { name: 'reordered', drift: (t) => reorder(t, [5, 0, 3, 2, 1, 4]), kinds: ['reordered'] },
  { name: 'us-dates', drift: (t) => usDates(t, 0), kinds: ['format-change'] },
];

async function cleanPipeline(name: string): Promise<{ clean: Record<string, unknown>[]; data: Table }> {
  const file = path.join(suite.home, `${name}-clean.csv`);
  fs.copyFileSync(SEATTLE, file);
  expect((await runCli(['init', name, '--source', file], suite.vars)).code).toBe(0);
  const ok = await runCli(['run', name, '--json'], suite.vars);
  expect(ok.code).toBe(0);
  const table = (JSON.parse(ok.stdout) as PipelineRunResult).table ?? '';
  return { clean: await tableRows(path.join(suite.home, 'warehouse.duckdb'), table), data: readCsv(file) };
}

test.each(cases)('$name: healed, and the table equals the clean one', async ({ name, drift, kinds }) => {
  const { clean, data } = await cleanPipeline(name);
  const drifted = path.join(suite.home, `${name}-drifted.csv`);
  writeCsv(drifted, drift(data));
  const r = await runCli(['run', name, '--json', '--source', drifted], suite.vars);
  const out = JSON.parse(r.stdout) as PipelineRunResult;
  expect({ code: r.code, outcome: out.outcome, error: out.error }).toEqual({ code: 0, outcome: 'healed', error: null });
  expect(out).toMatchObject({ attempts: 1, specVersion: 2, doctor: 'rules', rowsLoaded: 1461, rowsQuarantined: 0 });
  expect(out.driftReport?.kinds).toEqual(kinds);
  expect(await tableRows(path.join(suite.home, 'warehouse.duckdb'), out.table ?? '')).toEqual(clean);
});

test('a dropped required column: failed, non-zero exit, the table and the version unchanged', async () => {
  const { clean, data } = await cleanPipeline('dropped');
  const drifted = path.join(suite.home, 'dropped-drifted.csv');
  writeCsv(drifted, dropColumn(data, 2));
  const r = await runCli(['run', 'dropped', '--json', '--source', drifted], suite.vars);
  expect(r.code).toBe(1);
  const out = JSON.parse(r.stdout) as PipelineRunResult;
  expect(out).toMatchObject({ outcome: 'failed', specVersion: 1 });
  expect(out.driftReport?.kinds).toContain('missing-column');
  expect(await tableRows(path.join(suite.home, 'warehouse.duckdb'), out.table ?? '')).toEqual(clean);
});
