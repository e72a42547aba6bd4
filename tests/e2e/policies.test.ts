/**
 * `healing.policy` through the real workflow: a real dev server, the real activities and the CLI.
 * Each policy value of each drift class on a small file: what is healed on its own (and how the
 * table changes: a column added, a type widened), what waits for `heal approve|reject`, what is
 * refused with the table unchanged — and the run's `--json` says which policy decided.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PolicyDecision } from '../../common/policy';
import type { PipelineSpec } from '../../common/spec';
import type { PipelineRunResult } from '../../common/types';
import { queryRows, withDuckDB } from '../../lib/duckdb';
import { openStore } from '../../store';
import { runCli, type CliRun } from '../helpers/cli';
import { useCliSuite } from '../helpers/cli-suite';
import { recordHistory } from '../helpers/temporal';
import { tableRows } from '../helpers/fixtures';

const suite = useCliSuite('e2e-policy');
jest.setTimeout(180_000);

type Row = Record<string, string>;
const HEADER = ['id', 'city', 'temp', 'qty', 'day', 'note'];
const CITIES = ['Oslo', 'Lima', 'Pune', 'Kobe'];

/** 80 rows from `first`: ids, a category, a measure, a count, a date and an optional note. */
function rows(first = 1): Row[] {
  return Array.from({ length: 80 }, (_, k) => {
    const i = first + k - 1;
    return {
      id: String(i + 1),
      city: CITIES[i % 4] as string,
      temp: (10 + ((i * 7) % 23) + 0.5).toFixed(1),
      qty: String(1 + ((i * 13) % 40)),
      day: `2024-01-${String(1 + (i % 28)).padStart(2, '0')}`,
      note: i % 3 === 0 ? '' : `n${10 + (i % 80)}`,
    };
  });
}

function writeCsv(file: string, data: Row[], header = Object.keys(data[0] ?? {})): string {
  fs.writeFileSync(
    file,
    [header.join(','), ...data.map((r) => header.map((h) => r[h] ?? '').join(','))].join('\n') + '\n',
  );
  return file;
}

const json = (r: CliRun): PipelineRunResult => {
  const out = JSON.parse(r.stdout) as PipelineRunResult;
  if (process.env.DEBUG_POLICY && out.error) console.log(out.error.message);
  return out;
};
const warehouse = () => path.join(suite.home, 'warehouse.duckdb');
const columnTypes = (table: string) =>
  withDuckDB(warehouse(), {}, (conn) =>
    queryRows<{ column_name: string; data_type: string }>(
      conn,
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '${table}' ORDER BY ordinal_position`,
    ),
  ).then((r) => Object.fromEntries(r.map((c) => [c.column_name, c.data_type])));

/** A pipeline loaded once from the clean rows, its spec then changed by `edit` (a new version). */
async function pipeline(name: string, edit: (s: PipelineSpec) => void): Promise<string> {
  const clean = writeCsv(path.join(suite.home, `${name}-clean.csv`), rows(), HEADER);
  expect((await runCli(['init', name, '--source', clean, '--optional', 'note'], suite.vars)).code).toBe(0);
  const specs = openStore(suite.config).specs;
  const { spec } = await specs.current(name);
  edit(spec);
  await specs.create(spec, { force: true });
  const ok = await runCli(['run', name, '--json'], suite.vars);
  expect(json(ok)).toMatchObject({ outcome: 'succeeded', rowsLoaded: 80 });
  return json(ok).table ?? '';
}

/** Poll `heal pending` until this pipeline's episode waits for a decision (the server moves on its own). */
async function waitingEpisode(name: string): Promise<string> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const r = await runCli(['pending', '--json'], suite.vars);
    const p = (JSON.parse(r.stdout) as { pending: { pipeline: string; episodeId: string }[] }).pending.find(
      (x) => x.pipeline === name,
    );
    if (p) return p.episodeId;
    if (Date.now() > deadline) throw new Error(`${name}: the episode never waited for approval`);
    await new Promise((res) => setTimeout(res, 300));
  }
}

const decided = (out: PipelineRunResult): Pick<PolicyDecision, 'drift' | 'policy' | 'outcome'>[] =>
  (out.policies ?? []).map(({ drift, policy, outcome }) => ({ drift, policy, outcome }));

test('newColumns: ignore (the default) leaves the table as it is; the result names the policy', async () => {
  const table = await pipeline('nc-ignore', () => undefined);
  const drifted = rows().map((r) => ({ ...r, wind: '3.5' }));
  const out = json(
    await runCli(
      ['run', 'nc-ignore', '--json', '--source', writeCsv(path.join(suite.home, 'nci.csv'), drifted)],
      suite.vars,
    ),
  );
  expect(out).toMatchObject({ outcome: 'healed', rowsLoaded: 80 });
  expect(decided(out)).toEqual([{ drift: 'newColumns', policy: 'ignore', outcome: 'applied' }]);
  expect(Object.keys(await columnTypes(table))).toEqual(HEADER);
});

test('newColumns: evolve adds the column to the contract and the append table, earlier rows NULL', async () => {
  const table = await pipeline('nc-evolve', (s) => {
    s.target.mode = 'append';
    s.healing.policy.newColumns = 'evolve';
  });
  const drifted = rows(81).map((r, i) => ({ ...r, wind: (2 + (i % 5) * 0.5).toFixed(1) }));
  const r = await runCli(
    ['run', 'nc-evolve', '--json', '--source', writeCsv(path.join(suite.home, 'nce.csv'), drifted)],
    suite.vars,
  );
  const out = json(r);
  expect({ code: r.code, outcome: out.outcome, rowsLoaded: out.rowsLoaded }).toEqual({
    code: 0,
    outcome: 'healed',
    rowsLoaded: 80,
  });
  expect(decided(out)).toEqual([{ drift: 'newColumns', policy: 'evolve', outcome: 'applied' }]);
  expect(await columnTypes(table)).toMatchObject({ id: 'BIGINT', wind: 'DOUBLE' });
  const all = await tableRows(warehouse(), table);
  expect(all).toHaveLength(160);
  expect(all.filter((x) => x['wind'] === null)).toHaveLength(80);
  expect(all.find((x) => x['id'] === 81)?.['wind']).toBe(2);
  const { spec } = await openStore(suite.config).specs.current('nc-evolve');
  expect(spec.contract.columns.at(-1)).toMatchObject({ name: 'wind', type: 'number', required: false });
});

test('newColumns: refuse fails the run, table and version unchanged', async () => {
  const table = await pipeline('nc-refuse', (s) => {
    s.healing.policy.newColumns = 'refuse';
  });
  const before = await tableRows(warehouse(), table);
  const drifted = rows().map((r) => ({ ...r, wind: '3.5' }));
  const r = await runCli(
    ['run', 'nc-refuse', '--json', '--source', writeCsv(path.join(suite.home, 'ncr.csv'), drifted)],
    suite.vars,
  );
  expect(r.code).toBe(1);
  expect(json(r)).toMatchObject({ outcome: 'failed', specVersion: 2 });
  expect(json(r).error?.message).toContain('healing.policy.newColumns is refuse');
  expect(await tableRows(warehouse(), table)).toEqual(before);
});

// Another column than the tests above: fix memory would otherwise recall their fix for "wind".
test('newColumns: review waits for approval (per column), then adds the column', async () => {
  const table = await pipeline('nc-review', (s) => {
    s.healing.policy.columns = { gust: { newColumns: 'review' } };
  });
  const drifted = rows().map((r) => ({ ...r, gust: '4' }));
  const run = runCli(
    ['run', 'nc-review', '--json', '--source', writeCsv(path.join(suite.home, 'ncv.csv'), drifted)],
    suite.vars,
  );
  const episode = await waitingEpisode('nc-review');
  expect((await runCli(['approve', episode, '--by', 'ops'], suite.vars)).code).toBe(0);
  const out = json(await run);
  expect(out).toMatchObject({ outcome: 'healed', decision: { decision: 'approve', by: 'ops' } });
  expect(decided(out)).toEqual([{ drift: 'newColumns', policy: 'review', outcome: 'review' }]);
  await recordHistory(suite.env, out.episodeId ?? '', 'episode-policy-review');
  expect(await columnTypes(table)).toMatchObject({ gust: 'BIGINT' });
});

test('typeChanges: widen (the default) turns integers that gained decimals into a number column', async () => {
  const table = await pipeline('tc-widen', (s) => {
    s.target.mode = 'append';
  });
  const drifted = rows(81).map((r, i) => ({ ...r, qty: i % 2 ? `${r.qty}.5` : (r.qty ?? '') }));
  const out = json(
    await runCli(
      ['run', 'tc-widen', '--json', '--source', writeCsv(path.join(suite.home, 'tcw.csv'), drifted)],
      suite.vars,
    ),
  );
  expect(out).toMatchObject({ outcome: 'healed', rowsLoaded: 80, rowsQuarantined: 0 });
  expect(decided(out)).toEqual([{ drift: 'typeChanges', policy: 'widen', outcome: 'applied' }]);
  expect(await columnTypes(table)).toMatchObject({ qty: 'DOUBLE' });
  const all = await tableRows(warehouse(), table);
  expect(all).toHaveLength(160);
  expect(all.find((x) => x['id'] === 82)?.['qty']).toBe(Number(`${drifted[1]?.qty}`));
});

test('typeChanges: widen also takes a date column to timestamp when its values gain a time of day', async () => {
  const table = await pipeline('tc-date', () => undefined);
  const drifted = rows().map((r, i) => ({ ...r, day: `${r.day} ${String(8 + (i % 9)).padStart(2, '0')}:30:00` }));
  const out = json(
    await runCli(
      ['run', 'tc-date', '--json', '--source', writeCsv(path.join(suite.home, 'tcd.csv'), drifted)],
      suite.vars,
    ),
  );
  expect(out).toMatchObject({ outcome: 'healed', rowsLoaded: 80 });
  expect(decided(out)).toEqual([{ drift: 'typeChanges', policy: 'widen', outcome: 'applied' }]);
  expect(await columnTypes(table)).toMatchObject({ day: 'TIMESTAMP' });
});

test('typeChanges: refuse fails the run, table unchanged', async () => {
  const table = await pipeline('tc-refuse', (s) => {
    s.healing.policy.typeChanges = 'refuse';
  });
  const before = await tableRows(warehouse(), table);
  const drifted = rows().map((r, i) => ({ ...r, qty: i % 2 ? `${r.qty}.5` : (r.qty ?? '') }));
  const r = await runCli(
    ['run', 'tc-refuse', '--json', '--source', writeCsv(path.join(suite.home, 'tcr.csv'), drifted)],
    suite.vars,
  );
  expect(r.code).toBe(1);
  expect(json(r).error?.message).toContain('healing.policy.typeChanges is refuse');
  expect(await tableRows(warehouse(), table)).toEqual(before);
});

test('typeChanges: review waits for approval before the column is widened', async () => {
  const table = await pipeline('tc-review', (s) => {
    s.healing.policy.columns = { qty: { typeChanges: 'review' } };
  });
  const drifted = rows().map((r, i) => ({ ...r, qty: i % 3 ? `${r.qty}.25` : (r.qty ?? '') }));
  const run = runCli(
    ['run', 'tc-review', '--json', '--source', writeCsv(path.join(suite.home, 'tcv.csv'), drifted)],
    suite.vars,
  );
  expect((await runCli(['approve', await waitingEpisode('tc-review')], suite.vars)).code).toBe(0);
  const out = json(await run);
  expect(out).toMatchObject({ outcome: 'healed', rowsLoaded: 80, decision: { decision: 'approve' } });
  expect(decided(out)).toEqual([{ drift: 'typeChanges', policy: 'review', outcome: 'review' }]);
  expect(await columnTypes(table)).toMatchObject({ qty: 'DOUBLE' });
  // `heal inspect` names the policy under the patch.
  const inspect = await runCli(['inspect', out.episodeId ?? ''], suite.vars);
  expect(inspect.stdout).toContain('policy typeChanges: review → review (widen qty to number: waits for approval');
});

test('renames: review holds the mapping for a human; rejected, nothing changes', async () => {
  const table = await pipeline('rn-review', (s) => {
    s.healing.policy.renames = 'review';
  });
  const before = await tableRows(warehouse(), table);
  const header = HEADER.map((h) => (h === 'city' ? 'city_name' : h));
  const drifted = rows().map((r) => ({ ...r, city_name: r.city ?? '' }));
  const run = runCli(
    ['run', 'rn-review', '--json', '--source', writeCsv(path.join(suite.home, 'rnv.csv'), drifted, header)],
    suite.vars,
  );
  const episode = await waitingEpisode('rn-review');
  expect((await runCli(['reject', episode, '--reason', 'not that column'], suite.vars)).code).toBe(0);
  const r = await run;
  expect(r.code).toBe(1);
  expect(json(r).outcome).toBe('failed');
  expect(await tableRows(warehouse(), table)).toEqual(before);
});

test('droppedColumns: review waits, then the optional column reads NULL', async () => {
  const table = await pipeline('dc-review', (s) => {
    s.healing.policy.droppedColumns = 'review';
  });
  const header = HEADER.filter((h) => h !== 'note');
  const run = runCli(
    ['run', 'dc-review', '--json', '--source', writeCsv(path.join(suite.home, 'dcv.csv'), rows(), header)],
    suite.vars,
  );
  expect((await runCli(['approve', await waitingEpisode('dc-review')], suite.vars)).code).toBe(0);
  const out = json(await run);
  expect(out).toMatchObject({ outcome: 'healed', rowsLoaded: 80 });
  expect(decided(out)).toEqual([{ drift: 'droppedColumns', policy: 'review', outcome: 'review' }]);
  expect((await tableRows(warehouse(), table)).every((x) => x['note'] === null)).toBe(true);
});

test('distributionShifts: review proposes converting a unit change back; approved, the table holds the old unit', async () => {
  const table = await pipeline('ds-review', (s) => {
    s.healing.policy.distributionShifts = 'review';
  });
  const clean = await tableRows(warehouse(), table);
  const drifted = rows().map((r) => ({ ...r, temp: String(Math.round(Number(r.temp) * 100)) }));
  const run = runCli(
    ['run', 'ds-review', '--json', '--source', writeCsv(path.join(suite.home, 'dsv.csv'), drifted)],
    suite.vars,
  );
  expect((await runCli(['approve', await waitingEpisode('ds-review')], suite.vars)).code).toBe(0);
  const out = json(await run);
  expect(out).toMatchObject({ outcome: 'healed', rowsLoaded: 80 });
  expect(out.driftReport?.kinds).toEqual(['distribution-shift']);
  expect(decided(out)).toEqual([{ drift: 'distributionShifts', policy: 'review', outcome: 'review' }]);
  expect(await tableRows(warehouse(), table)).toEqual(clean);
});
