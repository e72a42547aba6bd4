/**
 * The rules doctor with the table's values as evidence (issue 15): when names and profiles leave a
 * rename ambiguous, the values the warehouse table already holds in each missing column tell the new
 * columns apart. Real data (vega-datasets' monthly CO2: two near-identical measures), a real DuckDB
 * warehouse file holding the clean load, a real probe over the drifted file; every patch is proven
 * by loading the drifted file with it and comparing the whole table with the clean one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSourceProbe } from '../../core/doctor/probe';
import { createRulesDoctor } from '../../core/doctor/rules';
import type { Diagnosis } from '../../core/doctor/types';
import { runLoad } from '../../core/etl/load';
import { profileRelation, type TableProfile } from '../../core/etl/profile';
import type { ValueSketch } from '../../core/etl/sketch';
import { inferSpec } from '../../core/spec/infer';
import { applyPatch, type Patch } from '../../common/patch';
import type { PipelineSpec } from '../../common/spec';
import { ident, queryRows, withDuckDB } from '../../lib/duckdb';
import { duckdbWarehouse } from '../../warehouse/duckdb';
import { driftOf as realDriftOf } from '../helpers/diagnose-input';

const CO2 = path.resolve(__dirname, '../../node_modules/vega-datasets/data/co2-concentration.csv');

let tmp: string;
beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'heal-values-')));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

type Rows = string[][];
const rowsOf = (file: string): Rows =>
  fs
    .readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => l.split(','));
function write(name: string, rows: Rows): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, `${rows.map((r) => r.join(',')).join('\n')}\n`);
  return p;
}
/** The CO2 file (Date, CO2, adjusted CO2) with its header replaced, its measures swapped or changed. */
function co2(name: string, header: string[], opts: { swap?: boolean; value?: (v: string) => string } = {}): string {
  const [, ...data] = rowsOf(CO2);
  const value = opts.value ?? ((v: string) => v);
  return write(name, [
    header,
    ...data.map(([d = '', a = '', b = '']) => (opts.swap ? [d, value(b), value(a)] : [d, value(a), value(b)])),
  ]);
}

const json = (rows: Record<string, unknown>[]) =>
  JSON.parse(JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))) as Record<
    string,
    unknown
  >[];

interface Clean {
  spec: PipelineSpec;
  baseline: TableProfile;
  expected: Record<string, unknown>[];
  /** The warehouse file holding the clean load. */
  warehouse: string;
}

/** Infer a spec from the clean file and load it into its own DuckDB warehouse file: the table the doctor asks. */
async function cleanWarehouse(name: string, rows?: Rows, optional?: string[]): Promise<Clean> {
  const clean = rows ? write(`${name}-clean.csv`, rows) : path.join(tmp, `${name}-clean.csv`);
  if (!rows) fs.copyFileSync(CO2, clean);
  const spec = await inferSpec({ name, source: clean, allowedRoots: [tmp], ...(optional ? { optional } : {}) });
  const warehouse = path.join(tmp, `${name}.duckdb`);
  return withDuckDB(warehouse, {}, async (conn) => {
    await runLoad(conn, { spec, specVersion: 1, runId: 'clean', source: clean, allowedRoots: [tmp], commit: true });
    const t = ident(spec.target.table);
    return {
      spec,
      baseline: await profileRelation(conn, spec, t),
      expected: json(await queryRows(conn, `SELECT * FROM ${t} ORDER BY ALL`)),
      warehouse,
    };
  });
}

const driftOf = (spec: PipelineSpec, drifted: string) => realDriftOf(spec, drifted, [tmp]);

/** Ask the rules doctor about `drifted`, the table's values read from `warehouse` (none when undefined). */
async function diagnose(
  c: Clean,
  drifted: string,
  warehouse: string | undefined,
): Promise<{ diagnosis: Diagnosis; asked: string[] }> {
  const drift = await driftOf(c.spec, drifted);
  const asked: string[] = [];
  const wh = warehouse
    ? duckdbWarehouse({ home: tmp, warehouse, duckdbMemoryLimit: undefined, duckdbThreads: 0 })
    : undefined;
  const tableValues = wh
    ? (column: string): Promise<ValueSketch | undefined> => {
        asked.push(column);
        const type = c.spec.contract.columns.find((x) => x.name === column)?.type ?? 'string';
        return wh.valueSketch(c.spec.target.table, column, type);
      }
    : undefined;
  const diagnosis = await withDuckDB(':memory:', {}, async (conn) => {
    const probe = await createSourceProbe(conn, c.spec, [drifted]);
    const source = await probe.summarize();
    return createRulesDoctor().diagnose(
      {
        spec: c.spec,
        specVersion: 1,
        drift,
        baseline: c.baseline,
        source,
        previous: [],
        ...(tableValues ? { tableValues } : {}),
      },
      probe,
    );
  });
  if (process.env['SHOW_RATIONALE']) process.stdout.write(`\n${JSON.stringify(diagnosis, null, 1)}\n`);
  return { diagnosis, asked };
}

/** Load `file` with the patched spec into a fresh database: the whole table, ordered. */
async function loadWith(spec: PipelineSpec, patch: Patch, file: string): Promise<Record<string, unknown>[]> {
  const applied = applyPatch(spec, patch);
  if (!applied.ok) throw new Error(`patch does not apply: ${applied.issues.join('; ')}`);
  return withDuckDB(':memory:', {}, async (conn) => {
    const res = await runLoad(conn, {
      spec: applied.spec,
      specVersion: 2,
      runId: 'healed',
      source: file,
      allowedRoots: [tmp],
      commit: true,
    });
    expect(res.rowsQuarantined).toBe(0);
    return json(await queryRows(conn, `SELECT * FROM ${ident(applied.spec.target.table)} ORDER BY ALL`));
  });
}

function patchOf(d: Diagnosis): { patch: Patch; rationale: string[]; confidence: number } {
  if (d.kind !== 'patch') throw new Error(`expected a patch, got no-answer: ${d.reason}`);
  return d;
}
function refusalOf(d: Diagnosis): { reason: string; fatal: boolean } {
  if (d.kind !== 'no-answer') throw new Error(`expected no answer, got ${JSON.stringify(d.patch)}`);
  return d;
}
const maps = (patch: Patch) => patch.filter((op) => op.op === 'map');

describe('rules doctor: the table values decide a rename that names and profiles leave open', () => {
  it('two near-identical measures renamed to opaque names: refused without the table, healed with it', async () => {
    const c = await cleanWarehouse('co2_xy');
    // "adjusted CO2" now comes first as x, "CO2" second as y: neither name nor profile tells them apart.
    const drifted = co2('co2-xy.csv', ['Date', 'x', 'y'], { swap: true });

    const without = refusalOf((await diagnose(c, drifted, undefined)).diagnosis);
    expect(without.reason).toMatch(/^ambiguous pairing/);

    const { diagnosis, asked } = await diagnose(c, drifted, c.warehouse);
    const d = patchOf(diagnosis);
    expect(maps(d.patch)).toEqual([
      { op: 'map', column: 'CO2', from: 'y' },
      { op: 'map', column: 'adjusted_co2', from: 'x' },
    ]);
    expect(d.confidence).toBeGreaterThanOrEqual(0.8);
    expect(asked.sort()).toEqual(['CO2', 'adjusted_co2']);
    // The rationale (shown by `heal inspect`) names the overlaps that decided it.
    const line = d.rationale.find((l) => l.startsWith('CO2 ← y'));
    expect(line).toMatch(
      /^CO2 ← y \(.*, 100% of its values in the table\), was "CO2"; decided by the table's values \(512 sampled values compared, vs CO2 ← x: \d+(\.\d)?%, adjusted_co2 ← y: \d+(\.\d)?%; margin 0\.\d\d\)$/,
    );
    expect(await loadWith(c.spec, d.patch, drifted)).toEqual(c.expected);
  });

  it('every column renamed at once (dates included) is healed from the table', async () => {
    const c = await cleanWarehouse('co2_all');
    const drifted = co2('co2-all.csv', ['month', 'level', 'level_sa']);
    const d = patchOf((await diagnose(c, drifted, c.warehouse)).diagnosis);
    expect(maps(d.patch)).toEqual([
      { op: 'map', column: 'Date', from: 'month' },
      { op: 'map', column: 'CO2', from: 'level' },
      { op: 'map', column: 'adjusted_co2', from: 'level_sa' },
    ]);
    expect(await loadWith(c.spec, d.patch, drifted)).toEqual(c.expected);
  });

  it('a rename whose profile moved too far to qualify alone is paired by the values the table holds', async () => {
    const c = await cleanWarehouse('co2_window');
    // A rolling export: the last 70% of the rows, CO2 renamed. Its median moved (distance 0.65 > 0.5).
    const [, ...data] = rowsOf(CO2);
    const drifted = write('co2-window.csv', [
      ['Date', 'q', 'adjusted CO2'],
      ...data.slice(Math.floor(data.length * 0.3)),
    ]);
    const without = refusalOf((await diagnose(c, drifted, undefined)).diagnosis);
    expect(without.reason).toMatch(/^required column CO2: source column "CO2" is gone and no new column matches/);
    const d = patchOf((await diagnose(c, drifted, c.warehouse)).diagnosis);
    expect(maps(d.patch)).toEqual([{ op: 'map', column: 'CO2', from: 'q' }]);
    expect(d.rationale[0]).toMatch(
      /^CO2 ← q \(.*distance 0\.65, .*100% of its values in the table\), was "CO2"; decided by the table's values \(\d+ sampled values compared, vs no other candidate; margin 1\.00\)$/,
    );
    const loaded = await loadWith(c.spec, d.patch, drifted);
    expect(loaded).toEqual(c.expected.slice(c.expected.length - loaded.length));
  });

  it('values the table never held do not decide: still no answer, and the reason names the overlaps', async () => {
    const c = await cleanWarehouse('co2_new');
    // The same shape of data, every value moved by a hundredth: profiles alike, few values held by chance.
    const drifted = co2('co2-new.csv', ['Date', 'x', 'y'], { value: (v) => (Number(v) + 0.01).toFixed(2) });
    const r = refusalOf((await diagnose(c, drifted, c.warehouse)).diagnosis);
    expect(r.fatal).toBe(false);
    expect(r.reason).toMatch(/^ambiguous pairing/);
    expect(r.reason).toMatch(
      /; the table's values do not decide it \(share of each new column's values already in the table: CO2 ← x \d+(\.\d)?%, y \d+(\.\d)?%; adjusted_co2 ← x \d+(\.\d)?%, y \d+(\.\d)?%\)$/,
    );
  });

  it('no table yet: no answer, saying the table holds no values to compare', async () => {
    const c = await cleanWarehouse('co2_none');
    const empty = path.join(tmp, 'empty.duckdb');
    await withDuckDB(empty, {}, async (conn) => {
      await conn.run('CREATE TABLE IF NOT EXISTS other (x INTEGER)');
    });
    const drifted = co2('co2-none.csv', ['Date', 'x', 'y']);
    const r = refusalOf((await diagnose(c, drifted, empty)).diagnosis);
    expect(r.reason).toMatch(/^ambiguous pairing/);
    expect(r.reason).toMatch(
      /; the table's values do not decide it \(CO2: the table holds no values of CO2; adjusted_co2: the table holds no values of adjusted_co2\)$/,
    );
  });

  it('values that contradict a pairing names and profiles settled with confidence: no answer', async () => {
    // A dropped optional note and a new unrelated column leave the pairing open, so the table is asked;
    // the producer swapped the measures under names that say the opposite of their values.
    const [, ...data] = rowsOf(CO2);
    const c = await cleanWarehouse(
      'co2_note',
      [['Date', 'CO2', 'adjusted CO2', 'note'], ...data.map((r, i) => [...r, i % 2 ? 'estimated' : 'measured'])],
      ['note'],
    );
    const drifted = write('co2-note.csv', [
      ['Date', 'adjusted_co2_ppm', 'zz', 'station'],
      ...data.map(([d = '', a = '', b = ''], i) => [d, a, b, String(1000 + (i % 5))]),
    ]);
    const r = refusalOf((await diagnose(c, drifted, c.warehouse)).diagnosis);
    expect(r.fatal).toBe(false);
    expect(r.reason).toMatch(
      /^conflicting evidence: names and profiles pair adjusted_co2 ← adjusted_co2_ppm .*, but the table's values pair CO2 ← adjusted_co2_ppm: 100% of its values already in the table \(512 sampled\), vs CO2 ← zz: \d/,
    );
  });

  it('the table is not asked when names and profiles settle the pairing', async () => {
    const c = await cleanWarehouse('co2_named');
    const drifted = co2('co2-named.csv', ['Date', 'co2_ppm', 'co2_adjusted_ppm']);
    const { diagnosis, asked } = await diagnose(c, drifted, c.warehouse);
    expect(maps(patchOf(diagnosis).patch)).toEqual([
      { op: 'map', column: 'CO2', from: 'co2_ppm' },
      { op: 'map', column: 'adjusted_co2', from: 'co2_adjusted_ppm' },
    ]);
    expect(asked).toEqual([]);
  });
});
