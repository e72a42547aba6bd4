/**
 * The rules doctor on real public data (the shared drift cases and vega-datasets CSVs transformed
 * here into drifted files): every case infers a spec from the clean file, loads it into an
 * in-memory DuckDB for the baseline profile and the expected table, loads the drifted file to get
 * the real drift report, asks the doctor with a real probe, and — when it answers — proves the
 * patch by loading the drifted file with the patched spec and comparing the whole table.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSourceProbe } from '../../core/doctor/probe';
import { createRulesDoctor, profileDistance } from '../../core/doctor/rules';
import type { Diagnosis, Doctor, PreviousAttempt } from '../../core/doctor/types';
import { runLoad } from '../../core/etl/load';
import { profileRelation, type TableProfile } from '../../core/etl/profile';
import { inferSpec } from '../../core/spec/infer';
import { SchemaDriftError } from '../../common/errors';
import { applyPatch, type Patch, type PatchOp } from '../../common/patch';
import type { PipelineSpec } from '../../common/spec';
import type { DriftReport } from '../../common/types';
import { ident, queryRows, withDuckDB } from '../../lib/duckdb';

const VEGA = path.resolve(__dirname, '../../node_modules/vega-datasets/data');
const CASES = path.resolve(__dirname, '../fixtures/drift-cases');

let tmp: string;
beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'heal-rules-')));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// CSV in, CSV out (quotes handled; enough for the vega files)

type Table = { header: string[]; rows: string[][] };

function parseCsv(text: string, delimiter = ','): Table {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === delimiter) {
      record.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || record.length) {
    record.push(field);
    records.push(record);
  }
  const [header = [], ...rows] = records;
  return { header, rows };
}

function toCsv(t: Table, delimiter = ',', withHeader = true): string {
  const cell = (v: string) =>
    v.includes(delimiter) || v.includes('"') || v.includes('\n') ? `"${v.replace(/"/g, '""')}"` : v;
  const lines = [...(withHeader ? [t.header] : []), ...t.rows].map((r) => r.map(cell).join(delimiter));
  return `${lines.join('\n')}\n`;
}

function vega(name: string): Table {
  return parseCsv(fs.readFileSync(path.join(VEGA, name), 'utf8'));
}

function write(name: string, content: string | Buffer): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, content);
  return p;
}

/** A new table with the columns picked (and renamed) in this order. */
function select(t: Table, cols: [string, string?][]): Table {
  const idx = cols.map(([c]) => {
    const i = t.header.indexOf(c);
    if (i < 0) throw new Error(`no column ${c}`);
    return i;
  });
  return { header: cols.map(([c, to]) => to ?? c), rows: t.rows.map((r) => idx.map((i) => r[i] ?? '')) };
}

function mapColumn(t: Table, col: string, f: (v: string, row: string[]) => string): Table {
  const i = t.header.indexOf(col);
  if (i < 0) throw new Error(`no column ${col}`);
  return { header: t.header, rows: t.rows.map((r) => r.map((v, j) => (j === i ? f(v, r) : v))) };
}

function rename(t: Table, renames: Record<string, string>): Table {
  return { header: t.header.map((h) => renames[h] ?? h), rows: t.rows };
}

// ---------------------------------------------------------------------------------------------
// One case, end to end

interface Outcome {
  spec: PipelineSpec;
  baseline: TableProfile;
  drift: DriftReport;
  diagnosis: Diagnosis;
  /** The table the clean file produced. */
  expected: Record<string, unknown>[];
  /** The table the patched spec produced from the drifted file (when the doctor answered). */
  healed?: Record<string, unknown>[];
}

const jsonRows = (rows: Record<string, unknown>[]) =>
  rows.map(
    (r) =>
      JSON.parse(JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))) as Record<
        string,
        unknown
      >,
  );

/** Spec, baseline profile and table of a clean file (memoised by content: inferring a spec takes a second). */
const cleanLoads = new Map<
  string,
  Promise<{ spec: PipelineSpec; baseline: TableProfile; expected: Record<string, unknown>[] }>
>();
function cleanLoad(name: string, clean: string, optional?: string[]) {
  const key = JSON.stringify([
    crypto.createHash('sha256').update(fs.readFileSync(clean)).digest('hex'),
    optional ?? [],
  ]);
  let p = cleanLoads.get(key);
  if (!p) {
    p = (async () => {
      const spec = await inferSpec({
        name,
        source: clean,
        allowedRoots: [tmp, CASES],
        ...(optional ? { optional } : {}),
      });
      const table = spec.target.table;
      return withDuckDB(':memory:', {}, async (conn) => {
        await runLoad(conn, {
          spec,
          specVersion: 1,
          runId: 'clean',
          source: clean,
          allowedRoots: [tmp, CASES],
          commit: true,
        });
        return {
          spec,
          baseline: await profileRelation(conn, spec, ident(table)),
          expected: jsonRows(await queryRows(conn, `SELECT * FROM ${ident(table)} ORDER BY ALL`)),
        };
      });
    })();
    cleanLoads.set(key, p);
  }
  return p;
}

async function runCase(opts: {
  name: string;
  clean: string;
  drifted: string;
  optional?: string[];
  previous?: PreviousAttempt[];
  doctor?: Doctor;
  /** Probe masking (PII). */
  mask?: (column: string) => boolean;
  /** Drop the report's value samples (as for a PII column whose values must not be seen). */
  scrubReport?: boolean;
  /** The probe reads only the first N rows of the drifted file. @default the probe's own (PROBE_STAGE_ROWS) */
  sampleRows?: number;
}): Promise<Outcome> {
  const { spec, baseline, expected } = await cleanLoad(opts.name, opts.clean, opts.optional);
  const drift = await withDuckDB(':memory:', {}, async (conn) => {
    try {
      await runLoad(conn, {
        spec,
        specVersion: 1,
        runId: 'drifted',
        source: opts.drifted,
        allowedRoots: [tmp, CASES],
        commit: true,
      });
    } catch (err) {
      if (err instanceof SchemaDriftError) return err.details as DriftReport;
      throw err;
    }
    throw new Error(`${opts.name}: the drifted file loaded without drift`);
  });
  const doctor = opts.doctor ?? createRulesDoctor();
  const report: DriftReport = opts.scrubReport
    ? { ...drift, differences: drift.differences.map(({ samples: _s, ...d }) => d) }
    : drift;
  const diagnosis = await withDuckDB(':memory:', {}, async (conn) => {
    const probe = await createSourceProbe(conn, spec, [opts.drifted], {
      ...(opts.mask ? { mask: opts.mask } : {}),
      ...(opts.sampleRows ? { sampleRows: opts.sampleRows } : {}),
    });
    const source = await probe.summarize();
    return doctor.diagnose(
      { spec, specVersion: 1, drift: report, baseline, source, previous: opts.previous ?? [] },
      probe,
    );
  });
  const out: Outcome = { spec, baseline, drift, diagnosis, expected };
  if (process.env['SHOW_RATIONALE']) process.stdout.write(`\n[${opts.name}] ${JSON.stringify(diagnosis, null, 1)}\n`);
  if (diagnosis.kind === 'patch') out.healed = await loadWith(spec, diagnosis.patch, opts.drifted);
  return out;
}

/** Apply `patch` and load `file` with the result into a fresh in-memory database; the whole table, ordered. */
async function loadWith(spec: PipelineSpec, patch: Patch, file: string): Promise<Record<string, unknown>[]> {
  const applied = applyPatch(spec, patch);
  if (!applied.ok) throw new Error(`patch does not apply: ${applied.issues.join('; ')}`);
  return withDuckDB(':memory:', {}, async (conn) => {
    const res = await runLoad(conn, {
      spec: applied.spec,
      specVersion: 2,
      runId: 'healed',
      source: file,
      allowedRoots: [tmp, CASES],
      commit: true,
    });
    expect(res.rowsQuarantined).toBe(0);
    return jsonRows(await queryRows(conn, `SELECT * FROM ${ident(applied.spec.target.table)} ORDER BY ALL`));
  });
}

function patchOf(o: Outcome): Patch {
  if (o.diagnosis.kind !== 'patch') throw new Error(`expected a patch, got no-answer: ${o.diagnosis.reason}`);
  return o.diagnosis.patch;
}

function noAnswer(o: Outcome): { reason: string; fatal: boolean } {
  if (o.diagnosis.kind !== 'no-answer') throw new Error(`expected no answer, got ${JSON.stringify(o.diagnosis.patch)}`);
  return o.diagnosis;
}

/** The patch is healed: same table as the clean load, and it pins the new shape last. */
function expectHealed(o: Outcome, shape: string[]): Patch {
  const patch = patchOf(o);
  expect(patch[patch.length - 1]).toEqual({ op: 'shape', columns: shape });
  expect(o.healed).toEqual(o.expected);
  if (o.diagnosis.kind === 'patch') {
    expect(o.diagnosis.confidence).toBeGreaterThanOrEqual(0.8);
    expect(o.diagnosis.rationale.length).toBeGreaterThan(0);
  }
  return patch;
}

const ops = (patch: Patch, kind: PatchOp['op']) => patch.filter((p) => p.op === kind);

const US = (iso: string) => `${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.slice(0, 4)}`;
const EU = (iso: string) => `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)}`;

// ---------------------------------------------------------------------------------------------
// Renamed, re-cased, reordered, added, dropped

describe('rules doctor: columns', () => {
  it('snake → camel rename (shared case iowa-camel-rename)', async () => {
    const o = await runCase({
      name: 'iowa',
      clean: path.join(CASES, 'iowa-camel-rename/clean.csv'),
      drifted: path.join(CASES, 'iowa-camel-rename/drifted.csv'),
    });
    const patch = expectHealed(o, ['year', 'source', 'netGeneration']);
    expect(ops(patch, 'map')).toEqual([{ op: 'map', column: 'net_generation', from: 'netGeneration' }]);
  });

  it('several renames at once, decided by values and names', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const drifted = write(
      'sw-renamed.csv',
      toCsv(rename(t, { precipitation: 'precip_mm', wind: 'windSpeed', weather: 'conditions' })),
    );
    const o = await runCase({ name: 'sw_renamed', clean, drifted });
    const patch = expectHealed(o, ['date', 'precip_mm', 'temp_max', 'temp_min', 'windSpeed', 'conditions']);
    expect(ops(patch, 'map')).toEqual([
      { op: 'map', column: 'precipitation', from: 'precip_mm' },
      { op: 'map', column: 'wind', from: 'windSpeed' },
      { op: 'map', column: 'weather', from: 'conditions' },
    ]);
    expect(ops(patch, 'ignore')).toEqual([]);
  });

  it('a similar pair renamed to a/b with swapped positions is resolved by values, never by position', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    // temp_min now comes first under the name "a", temp_max second under "b".
    const drifted = write(
      'sw-ab.csv',
      toCsv(select(t, [['date'], ['precipitation'], ['temp_min', 'a'], ['temp_max', 'b'], ['wind'], ['weather']])),
    );
    const o = await runCase({ name: 'sw_ab', clean, drifted });
    const patch = expectHealed(o, ['date', 'precipitation', 'a', 'b', 'wind', 'weather']);
    expect(ops(patch, 'map')).toEqual([
      { op: 'map', column: 'temp_max', from: 'b' },
      { op: 'map', column: 'temp_min', from: 'a' },
    ]);
  });

  it('two near-identical numeric columns renamed with no name evidence: no answer, never a guess', async () => {
    const t = vega('co2-concentration.csv');
    const clean = write('co2.csv', toCsv(t));
    const drifted = write('co2-xy.csv', toCsv(select(t, [['Date'], ['adjusted CO2', 'x'], ['CO2', 'y']])));
    const o = await runCase({ name: 'co2', clean, drifted });
    const d = noAnswer(o);
    expect(d.fatal).toBe(false);
    expect(d.reason).toMatch(/ambiguous/);
  });

  it('the same near-identical pair with decisive names is healed', async () => {
    const t = vega('co2-concentration.csv');
    const clean = write('co2.csv', toCsv(t));
    const drifted = write(
      'co2-named.csv',
      toCsv(select(t, [['Date'], ['adjusted CO2', 'co2_adjusted_ppm'], ['CO2', 'co2_ppm']])),
    );
    const o = await runCase({ name: 'co2n', clean, drifted });
    const patch = expectHealed(o, ['Date', 'co2_adjusted_ppm', 'co2_ppm']);
    expect(ops(patch, 'map')).toEqual([
      { op: 'map', column: 'CO2', from: 'co2_ppm' },
      { op: 'map', column: 'adjusted_co2', from: 'co2_adjusted_ppm' },
    ]);
  });

  it('re-cased headers', async () => {
    const t = vega('gapminder-health-income.csv');
    const clean = write('gm.csv', toCsv(t));
    const drifted = write('gm-upper.csv', toCsv({ header: t.header.map((h) => h.toUpperCase()), rows: t.rows }));
    const o = await runCase({ name: 'gm_upper', clean, drifted });
    const patch = expectHealed(o, ['COUNTRY', 'INCOME', 'HEALTH', 'POPULATION', 'REGION']);
    expect(ops(patch, 'map')).toHaveLength(5);
  });

  it('snake_case → camelCase over many string columns (la-riots)', async () => {
    const t = vega('la-riots.csv');
    const clean = write('la.csv', toCsv(t));
    const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    const drifted = write('la-camel.csv', toCsv({ header: t.header.map(camel), rows: t.rows }));
    const o = await runCase({ name: 'la', clean, drifted });
    const patch = expectHealed(o, t.header.map(camel));
    expect(ops(patch, 'map')).toEqual([
      { op: 'map', column: 'first_name', from: 'firstName' },
      { op: 'map', column: 'last_name', from: 'lastName' },
      { op: 'map', column: 'death_date', from: 'deathDate' },
    ]);
  });

  it('camelCase → snake_case (la-riots, the other way round)', async () => {
    const t = vega('la-riots.csv');
    const camel = (x: string) => x.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    const clean = write('la-camel-clean.csv', toCsv({ header: t.header.map(camel), rows: t.rows }));
    const drifted = write('la-snake.csv', toCsv(t));
    const o = await runCase({ name: 'la_c2s', clean, drifted });
    const patch = expectHealed(o, t.header);
    expect(ops(patch, 'map')).toEqual([
      { op: 'map', column: 'firstName', from: 'first_name' },
      { op: 'map', column: 'lastName', from: 'last_name' },
      { op: 'map', column: 'deathDate', from: 'death_date' },
    ]);
  });

  it('reordered columns: only the new shape', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const order = ['weather', 'wind', 'date', 'temp_min', 'temp_max', 'precipitation'];
    const drifted = write(
      'sw-reordered.csv',
      toCsv(
        select(
          t,
          order.map((c) => [c]),
        ),
      ),
    );
    const o = await runCase({ name: 'sw_reordered', clean, drifted });
    expect(o.drift.kinds).toEqual(['reordered']);
    expect(expectHealed(o, order)).toEqual([{ op: 'shape', columns: order }]);
  });

  it('an added column is ignored', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const added = { header: [...t.header, 'station'], rows: t.rows.map((r) => [...r, 'SEA']) };
    const drifted = write('sw-added.csv', toCsv(added));
    const o = await runCase({ name: 'sw_added', clean, drifted });
    expect(expectHealed(o, [...t.header, 'station'])).toEqual([
      { op: 'ignore', sourceColumn: 'station' },
      { op: 'shape', columns: [...t.header, 'station'] },
    ]);
  });

  it('a dropped optional column defaults to null', async () => {
    const t = vega('gapminder-health-income.csv');
    const clean = write('gm.csv', toCsv(t));
    const drifted = write('gm-noregion.csv', toCsv(select(t, [['country'], ['income'], ['health'], ['population']])));
    const o = await runCase({ name: 'gm_noregion', clean, drifted, optional: ['region'] });
    const patch = patchOf(o);
    expect(patch).toEqual([
      { op: 'default', column: 'region', value: null },
      { op: 'shape', columns: ['country', 'income', 'health', 'population'] },
    ]);
    expect(o.healed?.map((r) => r['region'])).toEqual(o.expected.map(() => null));
    expect(o.healed?.map(({ region: _r, ...rest }) => rest)).toEqual(o.expected.map(({ region: _r, ...rest }) => rest));
  });

  it('a dropped required column is fatal (shared case flights-dropped-required)', async () => {
    const o = await runCase({
      name: 'flights',
      clean: path.join(CASES, 'flights-dropped-required/clean.csv'),
      drifted: path.join(CASES, 'flights-dropped-required/drifted.csv'),
    });
    const d = noAnswer(o);
    expect(d.fatal).toBe(true);
    expect(d.reason).toMatch(/required column count/);
  });

  it('a dropped required column with only an unrelated new column: no answer, the new column not forced in, and not fatal (a model may rebuild it)', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const swapped = select(t, [['date'], ['precipitation'], ['temp_max'], ['temp_min'], ['weather']]);
    const drifted = write(
      'sw-nowind.csv',
      toCsv({ header: [...swapped.header, 'station'], rows: swapped.rows.map((r) => [...r, 'SEA']) }),
    );
    const o = await runCase({ name: 'sw_nowind', clean, drifted });
    const d = noAnswer(o);
    expect(d.fatal).toBe(false);
    expect(d.reason).toMatch(/required column wind.*no new column \(station\) parses as number/);
  });
});

// ---------------------------------------------------------------------------------------------
// Number, boolean and date formats

describe('rules doctor: formats', () => {
  it('currency on a masked (PII) column: the symbols are read from the shape classes', async () => {
    const spec = (await cleanLoad('gm_currency', path.join(CASES, 'gapminder-currency/clean.csv'))).spec;
    const o = await runCase({
      name: 'gm_currency',
      clean: path.join(CASES, 'gapminder-currency/clean.csv'),
      drifted: path.join(CASES, 'gapminder-currency/drifted.csv'),
      mask: (c) => c === 'income',
      scrubReport: true,
    });
    expect(spec.source.columns).toContain('income');
    expect(ops(expectHealed(o, spec.source.columns), 'clean')).toEqual([
      { op: 'clean', column: 'income', strip: ['$', ','] },
    ]);
  });

  it('currency symbols and thousands separators (shared case gapminder-currency)', async () => {
    const o = await runCase({
      name: 'gm_currency',
      clean: path.join(CASES, 'gapminder-currency/clean.csv'),
      drifted: path.join(CASES, 'gapminder-currency/drifted.csv'),
    });
    const patch = expectHealed(o, ['country', 'income', 'health', 'population', 'region']);
    expect(ops(patch, 'clean')).toEqual([{ op: 'clean', column: 'income', strip: ['$', ','] }]);
    if (o.diagnosis.kind === 'patch')
      expect(o.diagnosis.rationale.join('\n')).toMatch(
        /income: strip \$ and , → 100% parse, median \d+ vs baseline \d+/,
      );
  });

  it('decimal comma and dot thousands (gapminder health 57,63 and population 32.526.562)', async () => {
    const t = vega('gapminder-health-income.csv');
    const clean = write('gm.csv', toCsv(t));
    let d = mapColumn(t, 'health', (v) => v.replace('.', ','));
    d = mapColumn(d, 'population', (v) => v.replace(/\B(?=(\d{3})+(?!\d))/g, '.'));
    const drifted = write('gm-eu.csv', toCsv(d));
    const o = await runCase({ name: 'gm_eu', clean, drifted });
    const patch = expectHealed(o, t.header);
    expect(ops(patch, 'clean')).toEqual([
      { op: 'clean', column: 'health', strip: ['.'], replace: [{ from: ',', to: '.' }] },
      { op: 'clean', column: 'population', strip: ['.'] },
    ]);
  });

  it('yes/no booleans', async () => {
    const t = vega('seattle-weather.csv');
    const withFlag = {
      header: [...t.header, 'rain'],
      rows: t.rows.map((r) => [...r, r[5] === 'rain' ? 'true' : 'false']),
    };
    const clean = write('sw-flag.csv', toCsv(withFlag));
    const drifted = write('sw-flag-yn.csv', toCsv(mapColumn(withFlag, 'rain', (v) => (v === 'true' ? 'Yes' : 'No'))));
    const o = await runCase({ name: 'sw_flag', clean, drifted });
    expect(o.spec.contract.columns.find((c) => c.name === 'rain')?.type).toBe('boolean');
    const patch = expectHealed(o, withFlag.header);
    expect(ops(patch, 'booleans')).toEqual([
      { op: 'booleans', column: 'rain', trueValues: ['yes'], falseValues: ['no'] },
    ]);
  });

  it('US dates (mm/dd/yyyy)', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const drifted = write('sw-us.csv', toCsv(mapColumn(t, 'date', US)));
    const o = await runCase({ name: 'sw_us', clean, drifted });
    expect(o.drift.kinds).toEqual(['format-change']);
    const patch = expectHealed(o, t.header);
    expect(ops(patch, 'format')).toEqual([{ op: 'format', column: 'date', format: '%m/%d/%Y' }]);
  });

  it('EU dates (dd/mm/yyyy, days > 12 decide it)', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const drifted = write('sw-eu.csv', toCsv(mapColumn(t, 'date', EU)));
    const o = await runCase({ name: 'sw_eu', clean, drifted });
    const patch = expectHealed(o, t.header);
    expect(ops(patch, 'format')).toEqual([{ op: 'format', column: 'date', format: '%d/%m/%Y' }]);
  });

  it('ambiguous dates (every day ≤ 12, same range either way): no answer', async () => {
    const t = vega('seattle-weather.csv');
    const early = { header: t.header, rows: t.rows.filter((r) => Number((r[0] ?? '').slice(8, 10)) <= 12) };
    const clean = write('sw-early.csv', toCsv(early));
    const drifted = write('sw-early-us.csv', toCsv(mapColumn(early, 'date', US)));
    const o = await runCase({ name: 'sw_amb', clean, drifted });
    const d = noAnswer(o);
    expect(d.fatal).toBe(false);
    expect(d.reason).toMatch(/ambiguous.*%m\/%d\/%Y.*%d\/%m\/%Y|ambiguous.*%d\/%m\/%Y.*%m\/%d\/%Y/);
  });

  it('dates with every day ≤ 12 are still decided when the baseline range tells US from EU', async () => {
    const t = vega('seattle-weather.csv');
    const q1 = {
      header: t.header,
      rows: t.rows.filter((r) => (r[0] ?? '') < '2012-04-01' && Number((r[0] ?? '').slice(8, 10)) <= 12),
    };
    const clean = write('sw-q1.csv', toCsv(q1));
    const drifted = write('sw-q1-us.csv', toCsv(mapColumn(q1, 'date', US)));
    const o = await runCase({ name: 'sw_q1', clean, drifted });
    const patch = expectHealed(o, t.header);
    expect(ops(patch, 'format')).toEqual([{ op: 'format', column: 'date', format: '%m/%d/%Y' }]);
  });

  it('epoch seconds cannot be expressed as a format: no answer', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const drifted = write(
      'sw-epoch.csv',
      toCsv(mapColumn(t, 'date', (v) => String(Date.parse(`${v}T00:00:00Z`) / 1000))),
    );
    const o = await runCase({ name: 'sw_epoch', clean, drifted });
    const d = noAnswer(o);
    expect(d.fatal).toBe(false);
    expect(d.reason).toMatch(/epoch/);
  });

  it('a number now in cents parses but does not match the baseline: no answer', async () => {
    const t = vega('gapminder-health-income.csv');
    const clean = write('gm.csv', toCsv(t));
    const drifted = write('gm-cents.csv', toCsv(mapColumn(t, 'health', (v) => `${Math.round(Number(v) * 100)}¢`)));
    const o = await runCase({ name: 'gm_cents', clean, drifted });
    const d = noAnswer(o);
    expect(d.reason).toMatch(/health.*no candidate restores the baseline/);
  });
});

// ---------------------------------------------------------------------------------------------
// Reader: delimiter, header, encoding; combined kinds

describe('rules doctor: reader', () => {
  it('delimiter changed to ;', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const drifted = write('sw-semi.csv', toCsv(t, ';'));
    const o = await runCase({ name: 'sw_semi', clean, drifted });
    expect(o.drift.kinds).toEqual(['delimiter-change']);
    expect(expectHealed(o, t.header)).toEqual([
      { op: 'reader', delimiter: ';' },
      { op: 'shape', columns: t.header },
    ]);
  });

  it('delimiter ; with decimal commas and a renamed column: one combined patch', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    let d = mapColumn(t, 'temp_max', (v) => v.replace('.', ','));
    d = mapColumn(d, 'wind', (v) => v.replace('.', ','));
    d = rename(d, { precipitation: 'Precipitation' });
    const drifted = write('sw-eu-semi.csv', toCsv(d, ';'));
    const o = await runCase({ name: 'sw_eu_semi', clean, drifted });
    const patch = expectHealed(o, d.header);
    expect(patch[0]).toEqual({ op: 'reader', delimiter: ';' });
    expect(ops(patch, 'map')).toEqual([{ op: 'map', column: 'precipitation', from: 'Precipitation' }]);
    expect(ops(patch, 'clean').map((p) => 'column' in p && p.column)).toEqual(['temp_max', 'wind']);
  });

  it('header missing: columns mapped by position when every profile matches', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const drifted = write('sw-nohead.csv', toCsv(t, ',', false));
    const o = await runCase({ name: 'sw_nohead', clean, drifted });
    expect(o.drift.kinds).toEqual(['header-missing']);
    const cols = ['column0', 'column1', 'column2', 'column3', 'column4', 'column5'];
    const patch = expectHealed(o, cols);
    expect(patch[0]).toEqual({ op: 'reader', header: false });
    expect(ops(patch, 'map')).toEqual(t.header.map((c, i) => ({ op: 'map', column: c, from: cols[i] })));
  });

  it('header missing and delimiter changed at once (the report names only the delimiter)', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const drifted = write('sw-nohead-semi.csv', toCsv(t, ';', false));
    const o = await runCase({ name: 'sw_nohead_semi', clean, drifted });
    expect(o.drift.kinds).toEqual(['delimiter-change']);
    const cols = ['column0', 'column1', 'column2', 'column3', 'column4', 'column5'];
    const patch = expectHealed(o, cols);
    expect(patch[0]).toEqual({ op: 'reader', delimiter: ';', header: false });
  });

  it('sampled probe: the same patches from the first rows, and the rationale says where its figures come from', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const semi = await runCase({
      name: 'sw_semi_sampled',
      clean,
      drifted: write('sw-semi.csv', toCsv(t, ';')),
      sampleRows: 400,
    });
    expect(expectHealed(semi, t.header)).toEqual([
      { op: 'reader', delimiter: ';' },
      { op: 'shape', columns: t.header },
    ]);
    // Without a header, columns are paired by their profiles: the first 1000 of 1461 days still match the baseline.
    const nohead = write('sw-nohead.csv', toCsv(t, ',', false));
    const noHead = await runCase({ name: 'sw_nohead_sampled', clean, drifted: nohead, sampleRows: 1000 });
    const cols = ['column0', 'column1', 'column2', 'column3', 'column4', 'column5'];
    const patch = expectHealed(noHead, cols);
    expect(patch[0]).toEqual({ op: 'reader', header: false });
    expect(ops(patch, 'map')).toEqual(t.header.map((c, i) => ({ op: 'map', column: c, from: cols[i] })));
    const rationale = noHead.diagnosis.kind === 'patch' ? noHead.diagnosis.rationale : [];
    expect(rationale).toContain('reader: header=false → 6 columns, the first 1000 rows (the first line holds values)');
    expect(rationale).toContain(
      'probe: parse rates and profiles below are from the first 1000 rows of the source (it has more); verification proves the patch on the whole file',
    );
    // A sample too short for a file ordered by date (the first 400 days) does not match the baseline:
    // no answer, not fatal (the diagnose activity then asks again over the whole file).
    const short = noAnswer(await runCase({ name: 'sw_nohead_short', clean, drifted: nohead, sampleRows: 400 }));
    expect(short).toMatchObject({ fatal: false });
    expect(short.reason).toMatch(/no candidate restores the baseline profile/);
  });

  it('header missing and columns swapped: no positional guess', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const swapped = select(t, [['date'], ['precipitation'], ['temp_min'], ['temp_max'], ['wind'], ['weather']]);
    const drifted = write('sw-nohead-swapped.csv', toCsv(swapped, ',', false));
    const o = await runCase({ name: 'sw_nohead_sw', clean, drifted });
    const d = noAnswer(o);
    expect(d.reason).toMatch(/temp_max/);
  });

  it('latin-1 instead of utf-8', async () => {
    const t = mapColumn(vega('gapminder-health-income.csv'), 'country', (v) =>
      v.replace("Cote d'Ivoire", "Côte d'Ivoire").replace('Sao Tome and Principe', 'São Tomé and Príncipe'),
    );
    const clean = write('gm-utf8.csv', toCsv(t));
    const drifted = write('gm-latin1.csv', Buffer.from(toCsv(t), 'latin1'));
    const o = await runCase({ name: 'gm_latin1', clean, drifted });
    expect(o.drift.kinds).toEqual(['encoding-change']);
    expect(expectHealed(o, t.header)).toEqual([
      { op: 'reader', encoding: 'latin-1' },
      { op: 'shape', columns: t.header },
    ]);
  });

  it('utf-16 instead of utf-8 (latin-1 is tried first and rejected: the names do not come back)', async () => {
    const t = mapColumn(vega('gapminder-health-income.csv'), 'country', (v) =>
      v.replace("Cote d'Ivoire", "Côte d'Ivoire"),
    );
    const clean = write('gm-utf8b.csv', toCsv(t));
    const drifted = write('gm-utf16.csv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(toCsv(t), 'utf16le')]));
    const o = await runCase({ name: 'gm_utf16', clean, drifted });
    // (The report may call this renamed columns — DuckDB reads garbled names with ignore_errors — the doctor checks the encoding itself.)
    expect(expectHealed(o, t.header)).toEqual([
      { op: 'reader', encoding: 'utf-16' },
      { op: 'shape', columns: t.header },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Refusals and previous attempts

describe('rules doctor: refusals and previous attempts', () => {
  it('an empty file and a truncated file are fatal', async () => {
    const t = vega('iowa-electricity.csv');
    const clean = write('iowa.csv', toCsv(t));
    const empty = await runCase({ name: 'iowa_empty', clean, drifted: write('iowa-empty.csv', '') });
    expect(noAnswer(empty)).toMatchObject({ fatal: true, reason: expect.stringMatching(/^empty-file/) as unknown });
    const text = toCsv(t);
    const cut = await runCase({
      name: 'iowa_cut',
      clean,
      drifted: write('iowa-cut.csv', text.slice(0, text.length - 12)),
    });
    expect(noAnswer(cut)).toMatchObject({
      fatal: true,
      reason: expect.stringMatching(/^(truncated|malformed-rows)/) as unknown,
    });
  });

  it('an integer column now holding fractions has no cleaning: no answer, not fatal', async () => {
    const t = vega('gapminder-health-income.csv');
    const clean = write('gm.csv', toCsv(t));
    const drifted = write('gm-frac.csv', toCsv(mapColumn(t, 'population', (v) => String(Number(v) / 1000))));
    const o = await runCase({ name: 'gm_frac', clean, drifted });
    expect(noAnswer(o).fatal).toBe(false);
  });

  it('never repeats a failed patch: a failed profile check moves to the next candidate, or to no answer', async () => {
    // Ambiguous dates: with %m/%d/%Y tried and failed on the date profile, %d/%m/%Y is what is left.
    const t = vega('seattle-weather.csv');
    const early = { header: t.header, rows: t.rows.filter((r) => Number((r[0] ?? '').slice(8, 10)) <= 12) };
    const clean = write('sw-early.csv', toCsv(early));
    const drifted = write('sw-early-us.csv', toCsv(mapColumn(early, 'date', US)));
    const failed = (patch: Patch, column: string): PreviousAttempt => ({
      attempt: 1,
      doctor: 'llm',
      patch,
      report: {
        passed: false,
        candidateVersion: 2,
        rowsRead: 1,
        rowsLoaded: 1,
        rowsQuarantined: 0,
        checks: [{ name: `profile:${column}`, passed: false, figure: 'range off' }],
        summary: 'profile failed',
      },
      error: `profile:${column} failed`,
    });
    const us: Patch = [
      { op: 'format', column: 'date', format: '%m/%d/%Y' },
      { op: 'shape', columns: t.header },
    ];
    const o = await runCase({ name: 'sw_amb_prev', clean, drifted, previous: [failed(us, 'date')] });
    expect(ops(patchOf(o), 'format')).toEqual([{ op: 'format', column: 'date', format: '%d/%m/%Y' }]);

    // Decidable US dates: the right answer already failed (verification saw something we cannot): nothing else matches.
    const q1 = {
      header: t.header,
      rows: t.rows.filter((r) => (r[0] ?? '') < '2012-04-01' && Number((r[0] ?? '').slice(8, 10)) <= 12),
    };
    const q1clean = write('sw-q1.csv', toCsv(q1));
    const q1drift = write('sw-q1-us.csv', toCsv(mapColumn(q1, 'date', US)));
    const again = await runCase({
      name: 'sw_q1_prev',
      clean: q1clean,
      drifted: q1drift,
      previous: [failed(us, 'date')],
    });
    expect(noAnswer(again).reason).toMatch(/date.*no candidate restores the baseline/);

    // A failure that names no column: the identical patch is not proposed again.
    const same = await runCase({
      name: 'sw_q1_same',
      clean: q1clean,
      drifted: q1drift,
      previous: [{ attempt: 1, doctor: 'rules', patch: us, report: null, error: 'apply failed' }],
    });
    expect(noAnswer(same).reason).toMatch(/already tried/);
  });

  it('a wrong pairing that failed verification is not proposed again', async () => {
    const t = vega('seattle-weather.csv');
    const clean = write('sw.csv', toCsv(t));
    const drifted = write(
      'sw-ab.csv',
      toCsv(select(t, [['date'], ['precipitation'], ['temp_min', 'a'], ['temp_max', 'b'], ['wind'], ['weather']])),
    );
    const right: Patch = [
      { op: 'map', column: 'temp_max', from: 'b' },
      { op: 'map', column: 'temp_min', from: 'a' },
      { op: 'shape', columns: ['date', 'precipitation', 'a', 'b', 'wind', 'weather'] },
    ];
    const o = await runCase({
      name: 'sw_ab_prev',
      clean,
      drifted,
      previous: [
        {
          attempt: 1,
          doctor: 'rules',
          patch: right,
          report: {
            passed: false,
            candidateVersion: 2,
            rowsRead: 1461,
            rowsLoaded: 1461,
            rowsQuarantined: 0,
            checks: [{ name: 'profile:temp_max', passed: false, figure: 'median off' }],
            summary: 'profile:temp_max failed',
          },
          error: 'profile:temp_max failed',
        },
      ],
    });
    // temp_max ← b is banned; temp_max ← a does not match its values: no answer rather than the swap.
    expect(noAnswer(o).fatal).toBe(false);
  });
});

describe('profileDistance', () => {
  it('is 0 for the same profile and about 1 or more for a different column of the same type', async () => {
    const t = vega('seattle-weather.csv');
    const profile = (await cleanLoad('sw_pd', write('sw.csv', toCsv(t)))).baseline;
    const col = (n: string) => {
      const c = profile.columns.find((x) => x.name === n);
      if (!c) throw new Error(n);
      return c;
    };
    expect(profileDistance(col('temp_max'), col('temp_max'))).toBe(0);
    expect(profileDistance(col('temp_max'), { ...col('temp_min'), name: 'temp_max' })).toBeGreaterThan(1);
    expect(profileDistance(col('wind'), { ...col('precipitation'), name: 'wind' })).toBeGreaterThan(1);
    expect(profileDistance(col('weather'), { ...col('weather'), count: 0 })).toBe(Infinity);
  });
});
