/** The chaos monkey: every kind on real data, byte-for-byte reproducible, structurally right; the CLI. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  CHAOS_KINDS,
  CHAOS_KIND_NAMES,
  chaos,
  parseCsv,
  readCsvText,
  serializeCsv,
  serializeRecord,
  times100,
  toCurrency,
  writeChaos,
  type ChaosKind,
  type ChaosResult,
  type CsvFile,
} from '../../tools/chaos';
import { inferSpec } from '../../core/spec/infer';
import { columnSql, readerCall } from '../../core/etl/sql';
import { canonicalName, nameSimilarity } from '../../common/names';
import type { PipelineSpec } from '../../common/spec';
import { ident, queryRows, withDuckDB } from '../../lib/duckdb';
import { describeError } from '../../client/cli';
import { runChaos } from '../../client/commands/chaos';
import type { CliContext } from '../../client/context';
import { loadConfig } from '../../lib/config';
import { ROOT, cliEnv, runCli } from '../helpers/cli';

const DATA = path.join(ROOT, 'node_modules', 'vega-datasets', 'data');
const CASE_FOLDERS = path.resolve(ROOT, 'tests', 'fixtures', 'drift-cases');

let tmp: string;
beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'heal-chaos-')));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A file that every kind applies to: camelCase and snake_case names, a similar pair, nulls (in text and in numbers), booleans, dates, timestamps, non-ASCII, quoted commas and line breaks. */
function synthetic(): string {
  const names = ['José Müller', 'Zoë Brontë', 'Ana, María', 'Olé "Ace" Berg', 'Françoise', 'Åsa Ström', 'Bob', 'Chloé'];
  const cities = ['Paris', 'Saint-Denis\nCedex', 'Zürich', 'Oslo'];
  const p2 = (n: number) => String(n).padStart(2, '0');
  const records = [
    [
      'customer_id',
      'fullName',
      'is_active',
      'signup_date',
      'last_login',
      'balance',
      'visits',
      'city',
      'note_text',
      'temp_min',
      'temp_max',
      'discount',
    ],
  ];
  for (let i = 0; i < 240; i++) {
    records.push([
      String(i + 1),
      names[i % names.length] ?? '',
      i % 3 === 0 ? 'false' : 'true',
      `2023-${p2(1 + (i % 12))}-${p2(1 + ((i * 7) % 28))}`,
      `2024-${p2(1 + (i % 12))}-${p2(1 + (i % 28))} ${p2(i % 24)}:${p2((i * 13) % 60)}:${p2((i * 29) % 60)}`,
      (((i * 7919) % 500000) / 100 - 300).toFixed(2),
      String((i * 37) % 90),
      cities[i % cities.length] ?? '',
      i % 5 === 0 ? '' : `note ${i}`,
      ((i % 20) - 5 + 0.5).toFixed(1),
      ((i % 20) + 10.5).toFixed(1),
      i % 4 === 0 ? '' : (((i * 13) % 50) / 2).toFixed(1),
    ]);
  }
  return serializeCsv(records);
}

interface Dataset {
  name: string;
  file: string;
}

const DATASETS: Dataset[] = [
  ...['seattle-weather', 'iowa-electricity', 'gapminder-health-income', 'stocks'].map((n) => ({
    name: n,
    file: path.join(DATA, `${n}.csv`),
  })),
  ...(fs.existsSync(CASE_FOLDERS) ? fs.readdirSync(CASE_FOLDERS).sort() : [])
    .filter((d) => fs.existsSync(path.join(CASE_FOLDERS, d, 'clean.csv')))
    .map((d) => ({ name: `cases/${d}`, file: path.join(CASE_FOLDERS, d, 'clean.csv') })),
];
const SYNTHETIC = 'synthetic';

const texts = new Map<string, Buffer>();
function input(name: string): Buffer {
  let b = texts.get(name);
  if (!b) {
    const ds = DATASETS.find((d) => d.name === name);
    b = ds ? fs.readFileSync(ds.file) : Buffer.from(synthetic(), 'utf8');
    texts.set(name, b);
  }
  return b;
}
const ALL = [...DATASETS.map((d) => d.name), SYNTHETIC];

/** Parse a drifted copy with the delimiter and encoding the result says it has. */
function reparse(r: Extract<ChaosResult, { applicable: true }>, header = true): CsvFile {
  const text = r.data.toString(r.details.encoding === 'latin-1' ? 'latin1' : 'utf8');
  const f = readCsvText(text);
  if (f.delimiter !== (r.details.delimiter ?? ',')) {
    // A one-column file shows no delimiter; parse with the stated one.
    const records = parseCsv(f.text, r.details.delimiter ?? ',');
    return { ...f, header: records[0] ?? [], rows: records.slice(1), delimiter: r.details.delimiter ?? ',' };
  }
  if (!header) return { ...f, header: [], rows: parseCsv(f.text, f.delimiter) };
  return f;
}

function col(f: CsvFile, name: string): string[] {
  const i = f.header.indexOf(name);
  if (i < 0) throw new Error(`no column ${name} in ${f.header.join(',')}`);
  return f.rows.map((r) => r[i] ?? '');
}

/** Rows keyed by header, so a reordered or renamed file compares with the clean one. */
function byName(f: CsvFile, rename: Record<string, string> = {}): Record<string, string>[] {
  const back = Object.fromEntries(Object.entries(rename).map(([a, b]) => [b, a]));
  return f.rows.map((r) => Object.fromEntries(f.header.map((h, i) => [back[h] ?? h, r[i] ?? ''])));
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Deep equality of large row arrays, fast (jest's toEqual is slow on thousands of rows). */
function same(a: unknown, b: unknown): void {
  const ja = JSON.stringify(a);
  const jb = JSON.stringify(b);
  if (ja !== jb) expect(a).toEqual(b);
}

const without = (rows: readonly string[][], i: number) => rows.map((row) => row.filter((_, j) => j !== i));

/** Structural checks of one kind's output against the clean file. */
function checkKind(kind: ChaosKind, clean: CsvFile, r: Extract<ChaosResult, { applicable: true }>): void {
  const d = r.details;
  const target = d.columns[0] ?? '';
  expect(d.cleanRows).toBe(clean.rows.length);
  if (!['empty-file', 'header-only', 'truncated'].includes(kind)) expect(d.completeRows).toBe(clean.rows.length);
  const renamedKinds: ChaosKind[] = [
    'rename-one',
    'rename-several',
    'rename-similar-pair',
    'recase',
    'snake-to-camel',
    'camel-to-snake',
  ];
  if (renamedKinds.includes(kind)) {
    const out = reparse(r);
    const renamed = d.renamed ?? {};
    expect(Object.keys(renamed).length).toBeGreaterThan(0);
    expect(out.header).toEqual(clean.header.map((h) => renamed[h] ?? h));
    same(out.rows, clean.rows);
    for (const [a, b] of Object.entries(renamed)) {
      expect(b).not.toBe(a);
      if (kind === 'rename-one' || kind === 'rename-several') expect(nameSimilarity(a, b)).toBeGreaterThanOrEqual(0.6);
      if (kind === 'recase') expect(b.toLowerCase()).toBe(a.toLowerCase());
      if (kind === 'snake-to-camel' || kind === 'camel-to-snake') expect(canonicalName(b)).toBe(canonicalName(a));
      if (kind === 'snake-to-camel') expect(b).toMatch(/^[a-z0-9]+([A-Z][a-z0-9]*)+$/);
      if (kind === 'camel-to-snake') expect(b).toMatch(/^[a-z0-9]+(_[a-z0-9]+)+$/);
    }
    if (kind === 'rename-one') expect(Object.keys(renamed)).toHaveLength(1);
    if (kind === 'rename-several') expect(Object.keys(renamed).length).toBeGreaterThanOrEqual(2);
    if (kind === 'rename-similar-pair') expect(Object.keys(renamed)).toHaveLength(2);
    return;
  }
  switch (kind) {
    case 'reorder': {
      const out = reparse(r);
      expect([...out.header].sort()).toEqual([...clean.header].sort());
      expect(out.header).not.toEqual(clean.header);
      same(byName(out), byName(clean));
      return;
    }
    case 'add-column': {
      const out = reparse(r);
      const added = d.added;
      expect(added).toBeDefined();
      if (!added) return;
      expect(out.header[added.position]).toBe(added.name);
      expect(clean.header).not.toContain(added.name);
      expect(out.header.filter((h) => h !== added.name)).toEqual(clean.header);
      same(without(out.rows, added.position), clean.rows);
      expect(col(out, added.name).some((v) => v !== '')).toBe(true);
      return;
    }
    case 'drop-optional':
    case 'drop-required': {
      const out = reparse(r);
      expect(d.dropped).toBe(target);
      expect(out.header).toEqual(clean.header.filter((h) => h !== target));
      const i = clean.header.indexOf(target);
      same(out.rows, without(clean.rows, i));
      const nulls = col(clean, target).filter((v) => v.trim() === '').length;
      if (kind === 'drop-optional') expect(nulls).toBeGreaterThan(0);
      else expect(nulls).toBe(0);
      return;
    }
    case 'currency':
    case 'decimal-comma':
    case 'booleans-yes-no':
    case 'int-as-float':
    case 'int-gains-decimals':
    case 'date-gains-time':
    case 'date-us':
    case 'date-eu':
    case 'date-with-time':
    case 'date-epoch':
    case 'timestamp-t':
    case 'timestamp-z':
    case 'unit-x100': {
      const out = reparse(r);
      expect(out.header).toEqual(clean.header);
      const i = clean.header.indexOf(target);
      // Every other column is untouched.
      same(without(out.rows, i), without(clean.rows, i));
      const before = col(clean, target);
      const after = col(out, target);
      expect(after).toHaveLength(before.length);
      // The transformed column reads back to the clean values.
      const mismatches = before.flatMap((b, k) => {
        const a = after[k] ?? '';
        if (b.trim() === '') return a === b ? [] : [{ k, b, a }];
        const back = parseBack(kind, a);
        const ok =
          kind === 'unit-x100'
            ? Math.abs(Number(back) - Number(b) * 100) <= Math.abs(Number(b)) * 100 * 1e-12 + 1e-9
            : typeof back === 'number'
              ? back === Number(b)
              : back === b.trim();
        return ok ? [] : [{ k, b, a, back }];
      });
      expect(mismatches.slice(0, 5)).toEqual([]);
      if (kind === 'currency')
        expect(after.filter((v) => v !== '').every((v) => /^-?\$\d{1,3}(,\d{3})*\.\d{2,}$/.test(v))).toBe(true);
      if (kind === 'decimal-comma') {
        expect(after.some((v) => /^-?\d+,\d+$/.test(v))).toBe(true);
        // Quoted, since the delimiter is a comma too.
        const sample = after.find((v) => v.includes(','));
        expect(r.data.toString('utf8')).toContain(`"${sample}"`);
      }
      if (kind === 'unit-x100' || kind === 'currency' || kind === 'date-us') expect(after).not.toEqual(before);
      return;
    }
    case 'delimiter-semicolon':
    case 'delimiter-tab':
    case 'delimiter-pipe': {
      const delim = { 'delimiter-semicolon': ';', 'delimiter-tab': '\t', 'delimiter-pipe': '|' }[kind];
      expect(d.delimiter).toBe(delim);
      const records = parseCsv(r.data.toString('utf8'), delim);
      expect(records[0]).toEqual(clean.header);
      same(records.slice(1), clean.rows);
      expect(r.data.toString('utf8').split('\n', 1)[0]).toContain(delim);
      return;
    }
    case 'header-missing': {
      const records = parseCsv(r.data.toString('utf8'), clean.delimiter);
      same(records, clean.rows);
      expect(d.columns).toEqual(clean.header);
      return;
    }
    case 'header-quoted-spaces': {
      const text = r.data.toString('utf8');
      expect(text.startsWith('" ')).toBe(true);
      const out = readCsvText(text);
      expect(out.header.map((h) => canonicalName(h))).toEqual(clean.header.map((h) => canonicalName(h)));
      expect(out.header.every((h) => h.startsWith(' ') && h.endsWith(' '))).toBe(true);
      same(out.rows, clean.rows);
      expect(r.expect).toBe(out.header.every((h, k) => h.trim() === clean.header[k]) ? 'succeeded' : 'healed');
      return;
    }
    case 'bom': {
      expect([...r.data.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
      const out = readCsvText(r.data.toString('utf8'));
      expect(out.bom).toBe(true);
      expect(out.header).toEqual(clean.header);
      same(out.rows, clean.rows);
      return;
    }
    case 'latin1': {
      expect(d.encoding).toBe('latin-1');
      expect(() => new TextDecoder('utf-8', { fatal: true }).decode(r.data)).toThrow();
      expect(r.data.toString('latin1')).toBe(clean.text);
      return;
    }
    case 'crlf': {
      const out = readCsvText(r.data.toString('utf8'));
      expect(out.eol).toBe(clean.eol === '\n' ? '\r\n' : '\n');
      expect(out.header).toEqual(clean.header);
      same(out.rows, clean.rows);
      return;
    }
    case 'empty-file':
      expect(r.data.length).toBe(0);
      expect(d.completeRows).toBe(0);
      return;
    case 'header-only': {
      const out = readCsvText(r.data.toString('utf8'));
      expect(out.header).toEqual(clean.header);
      expect(out.rows).toHaveLength(0);
      expect(d.completeRows).toBe(0);
      return;
    }
    case 'truncated': {
      const text = r.data.toString('utf8');
      expect(text).not.toMatch(/[\r\n]$/);
      const records = parseCsv(text, clean.delimiter);
      same(records.slice(0, -1), [clean.header, ...clean.rows.slice(0, -1)]);
      const last = records[records.length - 1] ?? [];
      expect(last.length).toBeLessThan(clean.header.length);
      const cleanLast = serializeCsv([clean.rows[clean.rows.length - 1] ?? []], {
        delimiter: clean.delimiter,
        trailingNewline: false,
      });
      const cut = text.slice(text.lastIndexOf('\n') + 1);
      expect(cut.length).toBeGreaterThan(0);
      expect(cleanLast.startsWith(cut)).toBe(true);
      expect(d.completeRows).toBe(clean.rows.length - 1);
      return;
    }
    case 'bad-values': {
      const out = reparse(r);
      const rows = d.rows ?? [];
      const k = Math.max(1, Math.floor(clean.rows.length * 0.005));
      expect(rows).toHaveLength(k);
      const before = col(clean, target);
      const after = col(out, target);
      const bad = new Set(rows);
      const wrong = after.flatMap((a, i) =>
        bad.has(i)
          ? a === '' || NUMBER.test(a) || !NUMBER.test(before[i] ?? '')
            ? [{ i, a }]
            : []
          : a === before[i]
            ? []
            : [{ i, a }],
      );
      expect(wrong).toEqual([]);
      const i = clean.header.indexOf(target);
      same(without(out.rows, i), without(clean.rows, i));
      // The default budget: 1% of the rows or 3 rows, whichever allows more (the floor below half the rows).
      const n = clean.rows.length;
      expect(r.expect).toBe(k <= Math.max(0.01 * n, Math.min(3, Math.ceil(n / 2) - 1)) ? 'quarantined' : 'refused');
      return;
    }
    case 'preamble':
    case 'null-tokens':
    case 'timestamp-offset':
    case 'timestamp-offset-mixed':
    case 'footer-total':
    case 'invalid-byte-line':
      checkHabit(kind, clean, r);
      return;
    default:
      throw new Error(`no structural check for ${kind}`);
  }
}

/** UTC milliseconds of "YYYY-MM-DD[ T]HH:MM[:SS][.f]" followed by an offset ("+02:00", " +0100", " UTC") or nothing. */
function utcMs(v: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(?::(\d{2}))?(\.\d+)?(?: ?([+-])(\d{2}):?(\d{2})| UTC|Z)?$/.exec(v);
  if (!m) return NaN;
  const local = Date.parse(`${m[1]}T${m[2]}:${m[3] ?? '00'}${(m[4] ?? '').slice(0, 4)}Z`);
  const offset = m[5] ? (m[5] === '-' ? -1 : 1) * (Number(m[6]) * 60 + Number(m[7])) : 0;
  return local - offset * 60_000;
}

/** Structural checks of the everyday-habit kinds. */
function checkHabit(kind: ChaosKind, clean: CsvFile, r: Extract<ChaosResult, { applicable: true }>): void {
  const d = r.details;
  const target = d.columns[0] ?? '';
  switch (kind) {
    case 'preamble': {
      const lines = r.data.toString('utf8').split(clean.eol);
      const at = lines.findIndex((l) => l === serializeRecord(clean.header, clean.delimiter));
      expect(at).toBeGreaterThan(0);
      expect(at).toBeLessThanOrEqual(4);
      const out = readCsvText(lines.slice(at).join(clean.eol));
      same(out.rows, clean.rows);
      return;
    }
    case 'null-tokens': {
      const out = reparse(r);
      const i = clean.header.indexOf(target);
      same(without(out.rows, i), without(clean.rows, i));
      const before = col(clean, target);
      const after = col(out, target);
      expect(before.some((v) => v.trim() === '')).toBe(true);
      const wrong = before.flatMap((b, k) =>
        b.trim() === ''
          ? ['NA', 'N/A', 'null', 'NULL', 'None', '-', '#N/A', 'NaN', '.'].includes(after[k] ?? '')
            ? []
            : [{ k, a: after[k] }]
          : after[k] === b
            ? []
            : [{ k, a: after[k], b }],
      );
      expect(wrong).toEqual([]);
      return;
    }
    case 'timestamp-offset':
    case 'timestamp-offset-mixed': {
      const out = reparse(r);
      const i = clean.header.indexOf(target);
      same(without(out.rows, i), without(clean.rows, i));
      const before = col(clean, target);
      const after = col(out, target);
      // Mixed: "Z" and offsets side by side (both kinds present); else an offset or a zone on every value.
      const zone = kind === 'timestamp-offset-mixed' ? /[+-]\d{2}:\d{2}$|\dZ$/ : /[+-]\d{2}:?\d{2}$| UTC$/;
      const wrong = before.flatMap((b, k) => {
        if (b.trim() === '') return after[k] === b ? [] : [{ k, b, a: after[k] }];
        const a = after[k] ?? '';
        return zone.test(a) && utcMs(a) === utcMs(b.trim()) ? [] : [{ k, b, a }];
      });
      expect(wrong.slice(0, 5)).toEqual([]);
      if (kind === 'timestamp-offset-mixed') {
        expect(after.some((a) => /\dZ$/.test(a))).toBe(true);
        expect(after.some((a) => /[+-]\d{2}:\d{2}$/.test(a))).toBe(true);
      }
      return;
    }
    case 'footer-total': {
      expect(d.addedRows).toBe(2);
      const records = parseCsv(r.data.toString('utf8'), clean.delimiter);
      same(records.slice(0, clean.rows.length + 1), [clean.header, ...clean.rows]);
      const total = records[clean.rows.length + 1] ?? [];
      expect(total).toHaveLength(clean.header.length);
      expect(total[clean.header.indexOf(target)]).toMatch(/^(total|grand total)$/i);
      expect(records.slice(clean.rows.length + 2)).toEqual([[expect.stringMatching(/\S/)]]);
      return;
    }
    case 'invalid-byte-line': {
      expect(() => new TextDecoder('utf-8', { fatal: true }).decode(r.data)).toThrow();
      const rows = d.rows ?? [];
      expect(rows).toHaveLength(Math.max(1, Math.floor(clean.rows.length * 0.005)));
      const lines = r.data.toString('latin1').split(clean.eol);
      expect(lines.filter((l) => l.includes('\u0081')).length).toBe(rows.length);
      const back = readCsvText(Buffer.from(r.data.filter((b) => b !== 0x81)).toString('utf8'));
      expect(back.header).toEqual(clean.header);
      same(back.rows, clean.rows);
      return;
    }
    default:
      throw new Error(`no structural check for ${kind}`);
  }
}

/** Read a transformed value back to the clean one: numbers as numbers, dates/timestamps as ISO text. */
function parseBack(kind: ChaosKind, v: string): number | string {
  const p2 = (s: string | undefined) => s ?? '';
  switch (kind) {
    case 'currency':
      return Number(v.replace(/[$,]/g, ''));
    case 'decimal-comma':
      return Number(v.replace(',', '.'));
    case 'int-as-float':
      expect(v).toMatch(/^-?\d+\.0$/);
      return Number(v);
    case 'int-gains-decimals':
      // "-3" became "-3.5": half a unit away from zero.
      return v.endsWith('.5') ? Number(v) - Math.sign(Number(v)) * 0.5 : Number(v);
    case 'date-gains-time':
      expect(v).toMatch(/^\d{4}-\d{2}-\d{2} (?!00:00)\d{2}:\d{2}:00$/);
      return v.slice(0, 10);
    case 'unit-x100':
      return Number(v);
    case 'booleans-yes-no':
      return /^yes$/i.test(v) ? 'true' : /^no$/i.test(v) ? 'false' : `bad:${v}`;
    case 'date-us': {
      const m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(v); // %m/%d/%Y
      return m ? `${p2(m[3])}-${p2(m[1])}-${p2(m[2])}` : `bad:${v}`;
    }
    case 'date-eu': {
      const m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(v); // %d/%m/%Y
      return m ? `${p2(m[3])}-${p2(m[2])}-${p2(m[1])}` : `bad:${v}`;
    }
    case 'date-with-time':
      return v.endsWith(' 00:00:00') ? v.slice(0, 10) : `bad:${v}`;
    case 'date-epoch':
      return new Date(Number(v) * 1000).toISOString().slice(0, 10);
    case 'timestamp-t':
      return /^\d{4}-\d{2}-\d{2}T/.test(v) ? v.replace('T', ' ') : `bad:${v}`;
    case 'timestamp-z':
      return /Z$/.test(v) ? v.slice(0, -1).replace('T', ' ') : `bad:${v}`;
    default:
      return v;
  }
}

/** Kinds that do not apply to a dataset, and why that is right. */
const NOT_APPLICABLE: Record<string, ChaosKind[]> = {
  // No camelCase name, no empty value, no boolean, no integer column, no timestamp, ASCII only.
  'seattle-weather': [
    'camel-to-snake',
    'drop-optional',
    'booleans-yes-no',
    'int-as-float',
    'int-gains-decimals',
    'timestamp-t',
    'timestamp-z',
    'latin1',
    'null-tokens',
    'timestamp-offset',
    'timestamp-offset-mixed',
  ],
  // Also: no similar pair, no fractional column, no snake_case name, no ISO date ("Jan 1 2000").
  stocks: [
    'rename-similar-pair',
    'snake-to-camel',
    'camel-to-snake',
    'drop-optional',
    'booleans-yes-no',
    'int-as-float',
    'int-gains-decimals',
    'date-gains-time',
    'date-us',
    'date-eu',
    'date-with-time',
    'date-epoch',
    'timestamp-t',
    'timestamp-z',
    'latin1',
    'null-tokens',
    'timestamp-offset',
    'timestamp-offset-mixed',
  ],
  [SYNTHETIC]: [],
};

describe('CSV reading and writing', () => {
  it('parses RFC 4180: quotes, doubled quotes, embedded delimiters and line breaks, CRLF', () => {
    expect(parseCsv('a,b\r\n"x, y","say ""hi"""\r\n"multi\nline",\r\n')).toEqual([
      ['a', 'b'],
      ['x, y', 'say "hi"'],
      ['multi\nline', ''],
    ]);
    expect(parseCsv('a;b\n1;2', ';')).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
    expect(parseCsv('')).toEqual([]);
  });

  it('serializes back, quoting only what needs it', () => {
    const records = [
      ['a', 'b'],
      ['x, y', 'say "hi"'],
      ['multi\nline', ''],
    ];
    const text = serializeCsv(records);
    expect(text).toBe('a,b\n"x, y","say ""hi"""\n"multi\nline",\n');
    expect(parseCsv(text)).toEqual(records);
  });

  it('reads a file as it is: delimiter, line endings, BOM, trailing newline', () => {
    const f = readCsvText('\uFEFFa;b\r\n1;2');
    expect(f).toMatchObject({
      header: ['a', 'b'],
      rows: [['1', '2']],
      delimiter: ';',
      eol: '\r\n',
      bom: true,
      trailingNewline: false,
    });
  });

  it('rewrites number text exactly', () => {
    expect(toCurrency('1234.5')).toBe('$1,234.50');
    expect(toCurrency('-1234567')).toBe('-$1,234,567.00');
    expect(toCurrency('0.003421545')).toBe('$0.003421545');
    expect(times100('12.8')).toBe('1280.0');
    expect(times100('35361')).toBe('3536100');
    expect(times100('-0.17')).toBe('-17.0');
    expect(times100('0.0481')).toBe('4.81');
    expect(times100('0.0')).toBe('0.0');
  });
});

describe('the catalog', () => {
  it('lists every kind the issue asks for, once, each with one right outcome', () => {
    const kinds = CHAOS_KINDS.map((k) => k.kind);
    expect(new Set(kinds).size).toBe(kinds.length);
    for (const k of [
      'rename-one',
      'rename-several',
      'rename-similar-pair',
      'recase',
      'camel-to-snake',
      'snake-to-camel',
      'reorder',
      'add-column',
      'drop-optional',
      'drop-required',
      'currency',
      'decimal-comma',
      'booleans-yes-no',
      'int-as-float',
      'date-us',
      'date-eu',
      'date-with-time',
      'date-epoch',
      'timestamp-t',
      'timestamp-z',
      'delimiter-semicolon',
      'delimiter-tab',
      'delimiter-pipe',
      'header-missing',
      'header-quoted-spaces',
      'bom',
      'latin1',
      'crlf',
      'empty-file',
      'header-only',
      'truncated',
      'bad-values',
      'unit-x100',
    ]) {
      expect(kinds).toContain(k);
    }
    for (const k of CHAOS_KINDS) expect(['healed', 'quarantined', 'refused', 'succeeded']).toContain(k.expect);
    const expectOf = (k: string) => CHAOS_KINDS.find((x) => x.kind === k)?.expect;
    expect(expectOf('unit-x100')).toBe('refused');
    expect(expectOf('bad-values')).toBe('quarantined');
    expect(expectOf('drop-required')).toBe('refused');
    expect(expectOf('truncated')).toBe('refused');
  });
});

describe.each(CHAOS_KIND_NAMES.map((k) => [k]))('%s', (kind) => {
  it.each(ALL.map((n) => [n]))('on %s: reproducible, and structurally what it says', (name) => {
    const text = input(name);
    const clean = readCsvText(text.toString('utf8'));
    const a = chaos(kind, { text, seed: 42 });
    const b = chaos(kind, { text: Buffer.from(text), seed: 42 });
    expect(b.applicable).toBe(a.applicable);
    const known = NOT_APPLICABLE[name];
    if (known) expect(a.applicable).toBe(!known.includes(kind));
    if (!a.applicable) {
      expect(a.reason.length).toBeGreaterThan(0);
      expect(a.note).toBe(`not applicable: ${a.reason}`);
      return;
    }
    if (!b.applicable) throw new Error('unreachable');
    expect(Buffer.compare(a.data, b.data)).toBe(0);
    expect(a.note).toBe(b.note);
    expect(a.note.length).toBeGreaterThan(0);
    expect(a.data.equals(text)).toBe(false);
    checkKind(kind, clean, a);
  });
});

describe('seeds', () => {
  it('different seeds may choose differently; the same seed always gives the same bytes', () => {
    const text = input('seattle-weather');
    for (const kind of ['rename-one', 'reorder', 'bad-values', 'truncated', 'add-column', 'currency'] as const) {
      const outs = new Set<string>();
      for (let seed = 0; seed < 4; seed++) {
        const r = chaos(kind, { text, seed });
        if (r.applicable) outs.add(r.data.toString('latin1'));
      }
      expect(outs.size).toBeGreaterThan(1);
    }
  });

  it('a profile can name the optional columns and the quarantine budget', () => {
    const text = input('iowa-electricity');
    const opt = chaos('drop-optional', { text, seed: 1, profile: { optional: ['source'] } });
    expect(opt.applicable && opt.details.dropped).toBe('source');
    const req = chaos('drop-required', { text, seed: 1, profile: { optional: ['source', 'year'] } });
    expect(req.applicable && req.details.dropped).toBe('net_generation');
    // 1 bad value of 51 rows: over a 1% share, within the default floor of 3 rows (quarantined);
    // with no floor, refused; within a 5% share, quarantined.
    expect(chaos('bad-values', { text, seed: 1 }).expect).toBe('quarantined');
    expect(chaos('bad-values', { text, seed: 1, profile: { quarantineBudgetRows: 0 } }).expect).toBe('refused');
    expect(
      chaos('bad-values', { text, seed: 1, profile: { quarantineBudget: 0.05, quarantineBudgetRows: 0 } }).expect,
    ).toBe('quarantined');
  });

  it('not applicable, never an error: no dates, ASCII-only latin-1, empty or non-UTF-8 input', () => {
    expect(chaos('date-us', { text: input('stocks'), seed: 1 })).toMatchObject({
      applicable: false,
      reason: 'no ISO date (YYYY-MM-DD) column',
    });
    expect(chaos('latin1', { text: input('iowa-electricity'), seed: 1 })).toMatchObject({ applicable: false });
    expect(chaos('rename-one', { text: '', seed: 1 })).toMatchObject({
      applicable: false,
      reason: 'the input is empty',
    });
    expect(chaos('reorder', { text: 'a,b\n', seed: 1 })).toMatchObject({
      applicable: false,
      reason: 'the input has no data rows',
    });
    expect(
      chaos('bom', { text: Buffer.from([0x61, 0x2c, 0x62, 0x0a, 0xe9, 0x2c, 0x31, 0x0a]), seed: 1 }),
    ).toMatchObject({ applicable: false });
    expect(() => chaos('bom', { text: 'a\n1\n', seed: 1.5 })).toThrow(/integer/);
  });
});

describe('writeChaos', () => {
  it('writes the drifted copy (only when applicable) and never over its source', async () => {
    const src = path.join(DATA, 'iowa-electricity.csv');
    const out = path.join(tmp, 'w', 'iowa-us.csv');
    const r = await writeChaos('date-us', src, out, 5);
    expect(r.applicable).toBe(true);
    expect(fs.readFileSync(out, 'utf8').split('\n')[1]).toMatch(/^01\/01\/2001,/);
    const none = path.join(tmp, 'w', 'none.csv');
    expect((await writeChaos('latin1', src, none, 5)).applicable).toBe(false);
    expect(fs.existsSync(none)).toBe(false);
    const copy = path.join(tmp, 'w', 'copy.csv');
    fs.copyFileSync(src, copy);
    await expect(writeChaos('bom', copy, copy, 1)).rejects.toThrow(/overwrite the source/);
  });
});

// -------------------------------------------------------------------------------------------------
// The `expect` of each kind against what DuckDB really reads, with the spec `heal init` infers.

interface Read {
  columns: string[];
  rows: string[];
}

/** The source as the pipeline's reader and casts see it (header, then typed rows), or the reader's error. */
async function readAsSpec(conn: DuckDBConnection, spec: PipelineSpec, file: string): Promise<Read | { error: string }> {
  try {
    const described = await queryRows<{ column_name: string }>(
      conn,
      `DESCRIBE SELECT * FROM ${readerCall(spec, [file])}`,
    );
    const columns = described.map((c) => c.column_name);
    if (columns.join('\u0000') !== spec.source.columns.join('\u0000')) return { columns, rows: [] };
    // Each value and whether it failed its cast: a value read as NULL because it does not parse
    // ("NA" in a number column) is not the clean file's empty value.
    const select = spec.contract.columns
      .map((c, i) => {
        const p = columnSql(spec, c, 'r');
        return `${p.value} AS ${ident(c.name)}, ${p.fail} AS ${ident(`__fail${i}`)}`;
      })
      .join(', ');
    const rows = await queryRows(conn, `SELECT ${select} FROM ${readerCall(spec, [file])} r`);
    return { columns, rows: rows.map((row) => JSON.stringify(row)) };
  } catch (err) {
    return { error: String(err).split('\n')[0] ?? 'error' };
  }
}

describe('expectations hold against DuckDB', () => {
  /** Clean files for this check: the datasets, a Title-case header (quoting adds only spaces), HH:MM timestamps. */
  const extra: Record<string, () => Buffer> = {
    disasters: () => fs.readFileSync(path.join(DATA, 'disasters.csv')),
    'timestamps-hh-mm': () =>
      Buffer.from(
        Array.from(
          { length: 30 },
          (_, i) => `${i + 1},2024-01-${String(i + 1).padStart(2, '0')} ${String(i % 24).padStart(2, '0')}:15\n`,
        ).join(''),
        'utf8',
      ),
  };
  const cases = [
    'seattle-weather',
    'iowa-electricity',
    'gapminder-health-income',
    'stocks',
    SYNTHETIC,
    ...Object.keys(extra),
  ];
  it.each(cases.map((n) => [n]))(
    '%s: "succeeded" kinds read exactly as the clean file, the others do not',
    async (name) => {
      const dir = path.join(tmp, 'duck', name.replace(/\W+/g, '-'));
      fs.mkdirSync(dir, { recursive: true });
      const cleanFile = path.join(dir, 'clean.csv');
      const text =
        name === 'timestamps-hh-mm'
          ? Buffer.concat([Buffer.from('id,at\n'), extra[name]?.() ?? Buffer.alloc(0)])
          : (extra[name]?.() ?? input(name));
      fs.writeFileSync(cleanFile, text);
      const spec = await inferSpec({ name: 'chaos_check', source: cleanFile, allowedRoots: [tmp] });
      await withDuckDB(':memory:', {}, async (conn) => {
        const clean = await readAsSpec(conn, spec, cleanFile);
        expect('error' in clean).toBe(false);
        const summary: Record<string, string> = {};
        for (const kind of CHAOS_KIND_NAMES) {
          const r = chaos(kind, { text, seed: 3 });
          if (!r.applicable) continue;
          const file = path.join(dir, `${kind}.csv`);
          fs.writeFileSync(file, r.data);
          const got = await readAsSpec(conn, spec, file);
          const same = !('error' in got) && JSON.stringify(got) === JSON.stringify(clean);
          summary[kind] = `${r.expect}:${same ? 'same' : 'differs'}`;
        }
        const wrong = Object.entries(summary).filter(
          ([, v]) => v === 'succeeded:differs' || (v.endsWith(':same') && !v.startsWith('succeeded')),
        );
        expect(wrong).toEqual([]);
        if (name === 'disasters') expect(summary['header-quoted-spaces']).toBe('succeeded:same');
        if (name === SYNTHETIC) expect(summary['timestamp-t']).toBe('succeeded:same');
        if (name === 'timestamps-hh-mm') expect(summary['timestamp-t']).toBe('healed:differs');
        for (const k of ['bom', 'crlf']) expect(summary[k]).toBe('succeeded:same');
      });
    },
  );
});

// -------------------------------------------------------------------------------------------------

describe('heal chaos (the CLI)', () => {
  it('bin/heal.js: writes a drifted copy (--json), lists kinds, refuses an unknown kind with exit 2', async () => {
    const env = cliEnv({ HEAL_HOME: path.join(tmp, 'home') });
    const src = path.join(DATA, 'seattle-weather.csv');
    const out = path.join(tmp, 'cli', 'seattle-camel.csv');
    const [json, list, unknown] = await Promise.all([
      runCli(['chaos', 'snake-to-camel', '--source', src, '--out', out, '--seed', '7', '--json'], env),
      runCli(['chaos', '--list'], env),
      runCli(['chaos', 'sideways', '--source', src, '--out', path.join(tmp, 'cli', 'no.csv')], env),
    ]);

    expect(json.code).toBe(0);
    expect(json.stdout.trim().split('\n')).toHaveLength(1);
    const body = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(body).toMatchObject({
      kind: 'snake-to-camel',
      source: src,
      out,
      seed: 7,
      applicable: true,
      expect: 'healed',
    });
    expect(body['change']).toBe('snake_case → camelCase: "temp_max" → "tempMax", "temp_min" → "tempMin"');
    const direct = chaos('snake-to-camel', { text: fs.readFileSync(src), seed: 7 });
    expect(direct.applicable && Buffer.compare(fs.readFileSync(out), direct.data)).toBe(0);

    expect(list.code).toBe(0);
    expect(list.stdout.trim().split('\n')).toHaveLength(CHAOS_KINDS.length);
    expect(list.stdout).toMatch(/^truncated\s+refused\s+/m);

    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/unknown chaos kind "sideways"; kinds: rename-one, .*unit-x100/);
    expect(fs.existsSync(path.join(tmp, 'cli', 'no.csv'))).toBe(false);
  });

  describe('runChaos', () => {
    let printed: string[];
    let spy: jest.SpyInstance;
    beforeEach(() => {
      printed = [];
      spy = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args.join(' ')));
    });
    afterEach(() => spy.mockRestore());
    const ctx = (): CliContext => ({
      config: { ...loadConfig({}), allowedRoots: [ROOT, tmp] },
      verbose: false,
      log: () => undefined,
    });

    it('prints one line: kind, what changed, the expected outcome', async () => {
      const out = path.join(tmp, 'cli', 'x100.csv');
      await runChaos(ctx(), 'unit-x100', { source: path.join(DATA, 'iowa-electricity.csv'), out, seed: '2' });
      expect(printed).toEqual([
        `chaos unit-x100 (seed 2): "net_generation" multiplied by 100: 35361 → "3536100"; expect refused; wrote ${out}`,
      ]);
    });

    it('says when a kind does not apply, and writes nothing', async () => {
      const out = path.join(tmp, 'cli', 'na.csv');
      await runChaos(ctx(), 'date-us', { source: path.join(DATA, 'stocks.csv'), out });
      expect(printed).toHaveLength(1);
      expect(printed[0]).toMatch(
        /^chaos date-us \(seed 1\): not applicable to .*stocks\.csv: no ISO date \(YYYY-MM-DD\) column; nothing written$/,
      );
      expect(fs.existsSync(out)).toBe(false);
    });

    it('bad input is a CliError with exit 2: a bad seed, a missing source, --out onto the source, no kind', async () => {
      const src = path.join(DATA, 'iowa-electricity.csv');
      const fails = async (kind: string | undefined, o: Parameters<typeof runChaos>[2]) => {
        const err = await runChaos(ctx(), kind, o).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(Error);
        return describeError(err);
      };
      expect(await fails('bom', { source: src, out: path.join(tmp, 'o.csv'), seed: 'x' })).toMatchObject({
        exitCode: 2,
        message: expect.stringMatching(/--seed/),
      });
      expect(await fails('bom', { source: path.join(tmp, 'missing.csv'), out: path.join(tmp, 'o.csv') })).toMatchObject(
        { exitCode: 2, message: expect.stringMatching(/no such file/) },
      );
      const copy = path.join(tmp, 'cli', 'copy.csv');
      fs.mkdirSync(path.dirname(copy), { recursive: true });
      fs.copyFileSync(src, copy);
      expect(await fails('bom', { source: copy, out: copy })).toMatchObject({
        exitCode: 2,
        message: expect.stringMatching(/is the source/),
      });
      expect(await fails(undefined, {})).toMatchObject({ exitCode: 2, message: expect.stringMatching(/--list/) });
      expect(await fails('bom', { source: '/etc/hostname', out: path.join(tmp, 'o.csv') })).toMatchObject({
        exitCode: 2,
      });
    });
  });
});
