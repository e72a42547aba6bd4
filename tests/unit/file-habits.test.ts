/**
 * Everyday file habits (issue 15, point 3), each through the real load and the rules doctor with a
 * real probe: lines of preamble above the header, missing values spelled "NA", timestamps with UTC
 * offsets, total and footer rows, a few lines of invalid UTF-8. For each: what drift detection sees,
 * what the doctor proposes (a declarative op), and the table the patched spec loads — the clean
 * table, the right rows quarantined with a reason that says why — or the refusal.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSourceProbe } from '../../core/doctor/probe';
import { createRulesDoctor } from '../../core/doctor/rules';
import type { Diagnosis } from '../../core/doctor/types';
import { runLoad, type LoadResult } from '../../core/etl/load';
import { profileRelation, type TableProfile } from '../../core/etl/profile';
import { summaryLabelSql, summarySql } from '../../core/etl/sql';
import { findHeaderLine, looksLatin1, looksUtf8, scanEncoding } from '../../core/etl/text';
import { inferSpec } from '../../core/spec/infer';
import { SchemaDriftError } from '../../common/errors';
import { applyPatch, describeOp, type Patch } from '../../common/patch';
import { parseSpec, type PipelineSpec } from '../../common/spec';
import type { DriftReport } from '../../common/types';
import { ident, queryRows, withDuckDB } from '../../lib/duckdb';
import type { DuckDBConnection } from '@duckdb/node-api';

let tmp: string;
beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'heal-habits-')));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
function write(content: string | Buffer): string {
  const p = path.join(tmp, `f${++n}.csv`);
  fs.writeFileSync(p, content);
  return p;
}

const json = (rows: Record<string, unknown>[]) =>
  rows.map(
    (r) =>
      JSON.parse(JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))) as Record<
        string,
        unknown
      >,
  );

/** A seeded sales export: id, region, sales, an optional discount, a date, a timestamp, an optional note. */
function sales(rows = 200): { header: string; lines: string[][] } {
  let a = 7;
  const rand = () => {
    a = (a * 1103515245 + 12345) % 2147483648;
    return a / 2147483648;
  };
  const regions = ['North', 'South', 'East', 'West', 'Nord-Est', 'Zürich'];
  const lines: string[][] = [];
  for (let i = 1; i <= rows; i++) {
    const t = new Date(Date.UTC(2025, 0, 1) + Math.floor(rand() * 300 * 86400) * 1000);
    lines.push([
      String(i),
      regions[Math.floor(rand() * regions.length)] as string,
      (rand() * 1000).toFixed(2),
      rand() < 0.2 ? '' : (rand() * 30).toFixed(1),
      t.toISOString().slice(0, 10),
      t.toISOString().slice(0, 19).replace('T', ' '),
      rand() < 0.5 ? '' : `note ${i}`,
    ]);
  }
  return { header: 'id,region,sales,discount,day,at,note', lines };
}

const csv = (header: string, lines: string[][], eol = '\n') =>
  [header, ...lines.map((l) => l.join(','))].join(eol) + eol;

interface Case {
  spec: PipelineSpec;
  baseline: TableProfile;
  expected: Record<string, unknown>[];
  /** The drift report, or null when the drifted file loaded as it is. */
  drift: DriftReport | null;
  /** The load of the drifted file with the spec as it is (when it loaded). */
  loaded?: LoadResult;
  diagnosis?: Diagnosis;
  /** The table (and quarantine) the patched spec, or the spec as it is, loads from the drifted file. */
  table?: Record<string, unknown>[];
  quarantine?: { line: number; reason: string }[];
}

async function loadInto(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  file: string,
  baseline?: TableProfile,
): Promise<LoadResult> {
  return runLoad(conn, {
    spec,
    specVersion: 1,
    runId: `r${++n}`,
    source: file,
    allowedRoots: [tmp],
    commit: true,
    ...(baseline ? { baseline } : {}),
  });
}

async function tableOf(conn: DuckDBConnection, spec: PipelineSpec) {
  return {
    table: json(await queryRows(conn, `SELECT * FROM ${ident(spec.target.table)} ORDER BY ALL`)),
    quarantine: json(
      await queryRows(conn, `SELECT line, reason FROM ${ident(`${spec.target.table}__quarantine`)} ORDER BY line`),
    ) as { line: number; reason: string }[],
  };
}

/** Infer a spec from `clean`, load it (baseline, expected table), then load `drifted` and heal it when it drifts. */
async function runCase(
  clean: string,
  drifted: string,
  opts: {
    optional?: string[];
    /** Infer the spec from this file (then `edit` it to read `clean`). @default clean */
    inferFrom?: string;
    edit?: (s: PipelineSpec) => PipelineSpec;
    timeZone?: string;
  } = {},
): Promise<Case> {
  let spec = await inferSpec({
    name: 'habits',
    source: opts.inferFrom ?? clean,
    allowedRoots: [tmp],
    optional: opts.optional ?? [],
  });
  if (opts.edit) spec = opts.edit(spec);
  const { baseline, expected } = await withDuckDB(':memory:', {}, async (conn) => {
    await loadInto(conn, spec, clean);
    return {
      baseline: await profileRelation(conn, spec, ident(spec.target.table)),
      expected: (await tableOf(conn, spec)).table,
    };
  });
  const out: Case = { spec, baseline, expected, drift: null };
  await withDuckDB(':memory:', {}, async (conn) => {
    if (opts.timeZone) await conn.run(`SET TimeZone = '${opts.timeZone}'`);
    try {
      out.loaded = await loadInto(conn, spec, drifted, baseline);
      Object.assign(out, await tableOf(conn, spec));
    } catch (err) {
      if (!(err instanceof SchemaDriftError)) throw err;
      out.drift = err.details as DriftReport;
    }
  });
  if (!out.drift) return out;
  const drift = out.drift;
  out.diagnosis = await withDuckDB(':memory:', {}, async (conn) => {
    const probe = await createSourceProbe(conn, spec, [drifted]);
    const source = await probe.summarize();
    return createRulesDoctor().diagnose({ spec, specVersion: 1, drift, baseline, source, previous: [] }, probe);
  });
  if (process.env['SHOW_RATIONALE']) process.stdout.write(`${JSON.stringify(out.diagnosis, null, 1)}\n`);
  if (out.diagnosis.kind !== 'patch') return out;
  const applied = applyPatch(spec, out.diagnosis.patch);
  if (!applied.ok) throw new Error(applied.issues.join('; '));
  await withDuckDB(':memory:', {}, async (conn) => {
    if (opts.timeZone) await conn.run(`SET TimeZone = '${opts.timeZone}'`);
    out.loaded = await loadInto(conn, applied.spec, drifted, baseline);
    Object.assign(out, await tableOf(conn, applied.spec));
  });
  return out;
}

function patchOf(c: Case): Patch {
  if (c.diagnosis?.kind !== 'patch')
    throw new Error(`expected a patch, got ${c.diagnosis ? `no answer: ${c.diagnosis.reason}` : 'no diagnosis'}`);
  return c.diagnosis.patch;
}

function refusal(c: Case): { reason: string; fatal: boolean } {
  if (c.diagnosis?.kind !== 'no-answer') throw new Error(`expected no answer, got ${JSON.stringify(c.diagnosis)}`);
  return c.diagnosis;
}

const S = sales();
const CLEAN = () => write(csv(S.header, S.lines));

// -------------------------------------------------------------------------------------------------

describe('preamble above the header', () => {
  it('finds the header line (blank and comma-holding preamble lines) and heals with skipRows', async () => {
    const text = `Report generated 2026-01-01\nSource: ERP, region export\n\n${csv(S.header, S.lines)}`;
    const c = await runCase(CLEAN(), write(text));
    expect(c.drift?.kinds).toEqual(['header-changed']);
    expect(c.drift?.differences[0]).toMatchObject({ expected: 'line 1', found: 'line 4' });
    expect(patchOf(c)).toEqual([
      { op: 'reader', skipRows: 3 },
      { op: 'shape', columns: S.header.split(',') },
    ]);
    expect(c.table).toEqual(c.expected);
    expect(c.quarantine).toEqual([]);
  });

  it('with CRLF line endings, and a preamble that shrank from 2 lines to 1', async () => {
    const two = write(`Title\r\nSource: x\r\n${csv(S.header, S.lines, '\r\n')}`);
    const c = await runCase(two, write(`Title only\r\n${csv(S.header, S.lines, '\r\n')}`), {
      inferFrom: CLEAN(),
      edit: (s) => ({ ...s, source: { ...s.source, csv: { ...s.source.csv, skipRows: 2 } } }),
    });
    expect(c.drift?.differences[0]).toMatchObject({ kind: 'header-changed', expected: 'line 3', found: 'line 2' });
    expect(patchOf(c)[0]).toEqual({ op: 'reader', skipRows: 1 });
    expect(c.table).toEqual(c.expected);
  });

  it('findHeaderLine: none when the header is where the spec reads it, or nowhere', () => {
    const csvOpts = { delimiter: ',', quote: '"', skipRows: 0, encoding: 'utf-8' as const };
    expect(findHeaderLine(write(csv('a,b,c', [['1', '2', '3']])), csvOpts, ['a', 'b', 'c'])).toBeUndefined();
    expect(findHeaderLine(write('x\ny,z\n1,2,3\n'), csvOpts, ['a', 'b', 'c'])).toBeUndefined();
    expect(findHeaderLine(write('"My, report"\n\n"a","b",c\n1,2,3\n'), csvOpts, ['a', 'b', 'c'])).toEqual({
      line: 3,
      preamble: ['"My, report"'],
    });
  });
});

// -------------------------------------------------------------------------------------------------

describe('missing values spelled out', () => {
  const tokens = (v: string, i: number) => (v === '' ? (['NA', 'N/A', '-', 'null'][i % 4] as string) : v);

  it('an optional number column: drift even within the budget, healed with a nulls op (per column)', async () => {
    const lines = S.lines.map((l, i) => l.map((v, j) => (j === 3 ? tokens(v, i) : v)));
    const c = await runCase(CLEAN(), write(csv(S.header, lines)));
    expect(c.drift?.differences).toEqual([
      expect.objectContaining({ kind: 'format-change', column: 'discount', found: 'missing-value tokens' }),
    ]);
    const patch = patchOf(c);
    expect(patch[0]).toEqual({ op: 'nulls', column: 'discount', values: ['-', 'N/A', 'NA', 'null'] });
    expect(describeOp(patch[0]!)).toBe('read "-", "N/A", "NA", "null" as NULL in discount');
    expect(c.table).toEqual(c.expected);
    expect(c.quarantine).toEqual([]);
  });

  it('a single "NA" in an optional column is healed too (not quarantined)', async () => {
    const i = S.lines.findIndex((l) => l[3] === '');
    const lines = S.lines.map((l, k) => (k === i ? l.map((v, j) => (j === 3 ? 'NA' : v)) : l));
    const c = await runCase(CLEAN(), write(csv(S.header, lines)));
    expect(patchOf(c)[0]).toEqual({ op: 'nulls', column: 'discount', values: ['NA'] });
    expect(c.table).toEqual(c.expected);
  });

  it('a required column full of "NA": null-values, refused (fatal); never loaded as NULL', async () => {
    const lines = S.lines.map((l, i) => l.map((v, j) => (j === 2 && i % 3 === 0 ? 'NA' : v)));
    const c = await runCase(CLEAN(), write(csv(S.header, lines)));
    expect(c.drift?.differences).toEqual([
      expect.objectContaining({ kind: 'null-values', column: 'sales', found: 'missing-value tokens' }),
    ]);
    expect(refusal(c).fatal).toBe(true);
  });

  it('a required column with one "NA": the row goes to quarantine, the rest loads', async () => {
    const lines = S.lines.map((l, i) => l.map((v, j) => (j === 2 && i === 5 ? 'NA' : v)));
    const c = await runCase(CLEAN(), write(csv(S.header, lines)));
    expect(c.drift).toBeNull();
    expect(c.loaded).toMatchObject({ rowsLoaded: 199, rowsQuarantined: 1 });
    expect(c.quarantine).toEqual([{ line: 7, reason: "sales: 'NA' is not a valid number" }]);
  });

  it('"NA" in a text column is data (Namibia): loaded as text, no drift, no op', async () => {
    const clean = write(
      csv('code,name', [
        ['DE', 'Germany'],
        ['FR', 'France'],
        ['IT', 'Italy'],
        ['ES', 'Spain'],
      ]),
    );
    const c = await runCase(
      clean,
      write(
        csv('code,name', [
          ['DE', 'Germany'],
          ['NA', 'Namibia'],
          ['IT', 'Italy'],
        ]),
      ),
    );
    expect(c.drift).toBeNull();
    expect(c.table).toContainEqual({ code: 'NA', name: 'Namibia' });
  });

  it('the spec field: nullValues read as NULL before the cast, compared trimmed and case-sensitively', async () => {
    const spec = parseSpec({
      apiVersion: 'heal/v1',
      name: 'p',
      source: { path: '/x.csv', format: 'csv', columns: ['x'] },
      contract: { columns: [{ name: 'x', type: 'number', required: false }] },
      mapping: { x: { from: 'x', nullValues: ['NA', '.'], strip: ['.'] } },
      target: { table: 't' },
    });
    if (!spec.ok) throw new Error(spec.issues.join('; '));
    const file = write('x\n1\n2\n3\n4\n NA \n.\nx\n');
    const rows = await withDuckDB(':memory:', {}, async (conn) => {
      const r = await loadInto(conn, spec.spec, file);
      expect(r.rowsQuarantined).toBe(1); // "x" is not a number
      return json(await queryRows(conn, 'SELECT x FROM t ORDER BY x NULLS LAST'));
    });
    expect(rows).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }, { x: 4 }, { x: null }, { x: null }]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('timestamps with a UTC offset or zone', () => {
  const shift = (ts: string, minutes: number) =>
    new Date(Date.parse(`${ts.replace(' ', 'T')}Z`) + minutes * 60_000).toISOString().slice(0, 19);
  const offset = (m: number, colon: boolean) => {
    const a = Math.abs(m);
    const hh = String(Math.floor(a / 60)).padStart(2, '0');
    const mm = String(a % 60).padStart(2, '0');
    return `${m < 0 ? '-' : '+'}${hh}${colon ? ':' : ''}${mm}`;
  };
  const styles: [string, (ts: string, i: number) => string, string][] = [
    [
      'ISO with +hh:mm offsets (local time = UTC + offset)',
      (ts, i) => {
        const m = [120, -300, 330][i % 3] as number;
        return `${shift(ts, m)}${offset(m, true)}`;
      },
      '%Y-%m-%dT%H:%M:%S%z',
    ],
    ['a space and +0000', (ts) => `${ts} +0000`, '%Y-%m-%d %H:%M:%S %z'],
    ['a UTC suffix', (ts) => `${ts} UTC`, '%Y-%m-%d %H:%M:%S %Z'],
  ];

  it.each(styles)('%s: healed with a zone format, stored as the UTC instant', async (_label, fn, format) => {
    const lines = S.lines.map((l, i) => l.map((v, j) => (j === 5 ? fn(v, i) : v)));
    const c = await runCase(CLEAN(), write(csv(S.header, lines)));
    expect(c.drift?.differences).toEqual([expect.objectContaining({ kind: 'format-change', column: 'at' })]);
    expect(patchOf(c)[0]).toEqual({ op: 'format', column: 'at', format });
    expect(c.table).toEqual(c.expected);
  });

  it('the UTC instant does not depend on the session time zone', async () => {
    const [, fn] = styles[0]!;
    const lines = S.lines.map((l, i) => l.map((v, j) => (j === 5 ? fn(v, i) : v)));
    const c = await runCase(CLEAN(), write(csv(S.header, lines)), { timeZone: 'America/New_York' });
    expect(c.table).toEqual(c.expected);
  });

  it('a literal Z (UTC) is still healed with its own format', async () => {
    const lines = S.lines.map((l) => l.map((v, j) => (j === 5 ? `${v.replace(' ', 'T')}Z` : v)));
    const c = await runCase(CLEAN(), write(csv(S.header, lines)));
    expect(patchOf(c)[0]).toEqual({ op: 'format', column: 'at', format: '%Y-%m-%dT%H:%M:%SZ' });
    expect(c.table).toEqual(c.expected);
  });

  it('a "Z" on some values and an offset on others: the "Z" read as +00:00, then the offset format', async () => {
    // Every other row in UTC with a "Z", the rest at +02:00 or -05:00: %z reads offsets, not "Z".
    const lines = S.lines.map((l, i) =>
      l.map((v, j) => {
        if (j !== 5) return v;
        if (i % 2 === 0) return `${v.replace(' ', 'T')}Z`;
        const m = i % 4 === 1 ? 120 : -300;
        return `${shift(v, m)}${offset(m, true)}`;
      }),
    );
    const c = await runCase(CLEAN(), write(csv(S.header, lines)), { timeZone: 'America/New_York' });
    expect(c.drift?.differences).toEqual([expect.objectContaining({ kind: 'format-change', column: 'at' })]);
    expect(patchOf(c).slice(0, 2)).toEqual([
      { op: 'clean', column: 'at', replace: [{ from: 'Z', to: '+00:00' }] },
      { op: 'format', column: 'at', format: '%Y-%m-%dT%H:%M:%S%z' },
    ]);
    expect(c.table).toEqual(c.expected);
    expect(c.quarantine).toEqual([]);
  });

  it('a date column is never given a zone format (which day an instant falls on is a choice)', async () => {
    const lines = S.lines.map((l) => l.map((v, j) => (j === 4 ? `${v}T00:00:00+02:00` : v)));
    const c = await runCase(CLEAN(), write(csv(S.header, lines)));
    const ops = c.diagnosis?.kind === 'patch' ? c.diagnosis.patch : [];
    expect(JSON.stringify(ops)).not.toMatch(/%z/);
  });
});

// -------------------------------------------------------------------------------------------------

describe('total, subtotal and footer rows', () => {
  const clean = () =>
    write(
      csv('region,sales', [
        ['North', '100'],
        ['South', '250'],
        ['East', '300'],
        ['West', '400'],
      ]),
    );

  it('a "Total" row whose fields all parse is drift (it would load); healed: quarantined as a summary row', async () => {
    const drifted = write(
      `${csv('region,sales', [
        ['North', '100'],
        ['South', '250'],
        ['East', '300'],
        ['West', '400'],
        ['Total', '1050'],
      ])}(c) 2026 Example Corp\n`,
    );
    const c = await runCase(clean(), drifted);
    expect(c.drift?.differences).toEqual([
      expect.objectContaining({ kind: 'summary-rows', column: 'region', samples: ['Total'] }),
    ]);
    expect(patchOf(c)).toEqual([
      { op: 'summary', column: 'region', labels: ['Total'] },
      { op: 'shape', columns: ['region', 'sales'] },
    ]);
    expect(c.table).toEqual(c.expected);
    expect(c.quarantine).toEqual([
      { line: 6, reason: "summary row (a total, subtotal or footer, not data): region: 'Total'" },
      {
        line: 7,
        reason:
          'footer line (after the last data row, not data): MISSING COLUMNS: Expected Number of Columns: 2 Found: 1',
      },
    ]);
  });

  it('subtotals and a grand total inside the file, in a larger export', async () => {
    const lines: string[][] = [];
    S.lines.forEach((l, i) => {
      lines.push(l);
      if (i === 99) lines.push(['', 'North Total', '12345.00', '', '', '', '']);
    });
    lines.push(['', 'Grand total', '99999.00', '', '', '', '']);
    const c = await runCase(CLEAN(), write(csv(S.header, lines)), { optional: ['id', 'day', 'at'] });
    expect(c.drift?.kinds).toEqual(['summary-rows']);
    expect(patchOf(c)[0]).toEqual({ op: 'summary', column: 'region', labels: ['Grand total', 'North Total'] });
    expect(c.table).toEqual(c.expected);
    expect(c.loaded).toMatchObject({ rowsLoaded: 200, rowsQuarantined: 2 });
  });

  it('what reads as a total or footer label, and what does not', async () => {
    const values = {
      Total: true,
      ' TOTAL ': true,
      'Grand total': true,
      'Subtotal:': true,
      'North Total': true,
      '(c) 2026 Example Corp': true,
      'Rows: 120': true,
      'Generated on 2026-01-01': true,
      'End of report': true,
      'Total Gym': false,
      'Generated on demand': false,
      '(c) option': false,
      Totality: false,
      North: false,
    };
    const got = await withDuckDB(':memory:', {}, async (conn) =>
      queryRows<{ s: string; m: boolean }>(
        conn,
        `SELECT s, ${summaryLabelSql('s')} AS m FROM (VALUES ${Object.keys(values)
          .map((v) => `('${v}')`)
          .join(', ')}) t(s)`,
      ),
    );
    expect(Object.fromEntries(got.map((r) => [r.s, r.m]))).toEqual(values);
  });

  it('an empty label cell is not a summary row, and its row is still judged (never NULL, never lost)', async () => {
    const spec = parseSpec({
      apiVersion: 'heal/v1',
      name: 'p',
      source: { path: '/x.csv', format: 'csv', columns: ['region', 'sales'] },
      contract: {
        columns: [
          { name: 'region', type: 'string', required: false },
          { name: 'sales', type: 'integer' },
        ],
      },
      mapping: { region: { from: 'region', summaryLabels: ['Total'] }, sales: 'sales' },
      target: { table: 't' },
    });
    if (!spec.ok) throw new Error(spec.issues.join('; '));
    const when = summarySql(spec.spec, 'r')?.when ?? 'NULL';
    const got = await withDuckDB(':memory:', {}, async (conn) =>
      queryRows<{ m: boolean | null }>(conn, `SELECT ${when} AS m FROM (VALUES (NULL::VARCHAR), ('Total')) r(region)`),
    );
    expect(got.map((r) => r.m)).toEqual([false, true]);
  });

  it('"Total" in a date column fails its cast: quarantined within the budget, the reason says why', async () => {
    const c = await runCase(
      write(
        csv('day,sales', [
          ['2026-01-01', '1'],
          ['2026-01-02', '2'],
          ['2026-01-03', '3'],
        ]),
      ),
      write(
        csv('day,sales', [
          ['2026-01-01', '1'],
          ['2026-01-02', '2'],
          ['2026-01-03', '3'],
          ['Total', '6'],
        ]),
      ),
    );
    expect(c.drift).toBeNull();
    expect(c.quarantine).toEqual([
      { line: 5, reason: "day: 'Total' is not a valid date (a total or footer label: a summary row, not data)" },
    ]);
  });

  it('a category the baseline already holds ("Total" as data) is not a summary row', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => [['Partial', 'Total'][i % 2] as string, String(i)]);
    const c = await runCase(write(csv('coverage,n', rows)), write(csv('coverage,n', rows.slice(0, 30))));
    expect(c.drift).toBeNull();
    expect(c.table).toHaveLength(30);
  });

  it('more "Total" rows than the budget allows are not treated as totals: no answer', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => [`r${i}`, String(i)]);
    const drifted = rows.map((r, i) => (i % 4 === 0 ? ['Total', r[1] as string] : r));
    const c = await runCase(write(csv('region,n', rows)), write(csv('region,n', drifted)));
    expect(c.drift?.kinds).toEqual(['summary-rows']);
    expect(refusal(c).reason).toMatch(/too many to be totals/);
  });
});

// -------------------------------------------------------------------------------------------------

describe('lines of invalid UTF-8', () => {
  const utf8 = () => Buffer.from(csv(S.header, S.lines), 'utf8');
  /** Replace the first "ü" (C3 BC) of data line `k` by a lone latin-1 byte (FC), or by 0x81. */
  function corrupt(buf: Buffer, lines: number[], byte = 0xfc): Buffer {
    const text = buf.toString('latin1').split('\n');
    for (const k of lines) {
      const at = text[k]!.indexOf('\u00c3\u00bc');
      text[k] =
        at >= 0 ? `${text[k]!.slice(0, at)}${String.fromCharCode(byte)}${text[k]!.slice(at + 2)}` : `${text[k]}`;
      if (at < 0) text[k] = text[k]!.replace('note', `n${String.fromCharCode(byte)}te`);
    }
    return Buffer.from(text.join('\n'), 'latin1');
  }
  const zurich = S.lines.map((l, i) => (l[1] === 'Zürich' ? i + 1 : -1)).filter((i) => i > 0);

  it('one corrupt line in a UTF-8 file: quarantined ("invalid UTF-8"), the rest loads as UTF-8, no drift', async () => {
    const c = await runCase(CLEAN(), write(corrupt(utf8(), [zurich[2]!])));
    expect(c.drift).toBeNull();
    expect(c.loaded).toMatchObject({ rowsLoaded: 199, rowsQuarantined: 1 });
    expect(c.quarantine).toEqual([
      {
        line: zurich[2]! + 1,
        reason: 'invalid UTF-8: a byte sequence on this line is not UTF-8 (the rest of the file is read as UTF-8)',
      },
    ]);
    expect(c.table?.filter((r) => r['region'] === 'Zürich').length).toBe(zurich.length - 1);
  });

  it('scanEncoding: sequences across read chunks, broken sequences, lines, early stop', () => {
    const mib = 1 << 20;
    const straddle = write(Buffer.concat([Buffer.alloc(mib - 1, 0x61), Buffer.from('é\nZürich\n', 'utf8')]));
    expect(scanEncoding(straddle)).toEqual({ multibyte: 2, invalid: 0, letters: 0, invalidLines: 0, complete: true });
    expect(looksUtf8(scanEncoding(straddle))).toBe(true);
    const mixed = write(
      Buffer.concat([Buffer.from('a,é\n', 'utf8'), Buffer.from('b,caf\xe9\nc,\xff\xfe\n', 'latin1')]),
    );
    expect(scanEncoding(mixed)).toEqual({ multibyte: 1, invalid: 3, letters: 1, invalidLines: 2, complete: true });
    expect(looksLatin1(scanEncoding(mixed))).toBe(false);
    const big = write(Buffer.concat([Buffer.from('é\xff', 'latin1'), Buffer.alloc(2 * mib, 0x61)]));
    expect(scanEncoding(big, (s) => s.invalid > 0).complete).toBe(false);
  });

  it('an ASCII file with a stray 0x81 byte: quarantined, not taken for latin-1', async () => {
    const ascii = csv(
      'a,b',
      Array.from({ length: 50 }, (_, i) => [`x${i}`, String(i)]),
    );
    const bad = Buffer.from(ascii.replace('x7,', 'x\u00817,'), 'latin1');
    expect(looksLatin1(scanEncoding(write(bad)))).toBe(false);
    const c = await runCase(write(ascii), write(bad));
    expect(c.drift).toBeNull();
    expect(c.loaded).toMatchObject({ rowsLoaded: 49, rowsQuarantined: 1 });
  });

  it('a file really in latin-1 is still healed with encoding latin-1', async () => {
    const latin = Buffer.from(csv(S.header, S.lines), 'latin1');
    expect(looksLatin1(scanEncoding(write(latin)))).toBe(true);
    const c = await runCase(CLEAN(), write(latin));
    expect(c.drift?.differences[0]).toMatchObject({ kind: 'encoding-change', found: 'latin-1' });
    expect(patchOf(c)[0]).toEqual({ op: 'reader', encoding: 'latin-1' });
    expect(c.table).toEqual(c.expected);
  });

  it('too many corrupt lines in a UTF-8 file: encoding-change "mixed", refused (no switch to latin-1)', async () => {
    const c = await runCase(CLEAN(), write(corrupt(utf8(), zurich.slice(0, 8))));
    expect(c.drift?.differences[0]).toMatchObject({ kind: 'encoding-change', found: 'mixed' });
    expect(refusal(c)).toMatchObject({ fatal: true });
  });

  it('a UTF-8 file read with a latin-1 spec is drift (not silent mojibake); healed back to utf-8', async () => {
    const latin = write(Buffer.from(csv(S.header, S.lines), 'latin1'));
    const c = await runCase(latin, write(utf8()), {
      inferFrom: CLEAN(),
      edit: (s) => ({ ...s, source: { ...s.source, csv: { ...s.source.csv, encoding: 'latin-1' } } }),
    });
    expect(c.drift?.differences[0]).toMatchObject({ kind: 'encoding-change', expected: 'latin-1', found: 'utf-8' });
    expect(patchOf(c)[0]).toEqual({ op: 'reader', encoding: 'utf-8' });
    expect(c.table).toEqual(c.expected);
  });
});
