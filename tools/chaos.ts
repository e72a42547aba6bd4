/**
 * The chaos monkey: writes a drifted copy of a CSV file, reproducibly. Pure file transforms (no
 * Temporal, no DuckDB): the same kind, input bytes and seed always give the same output bytes.
 *
 * Each kind in {@link CHAOS_KINDS} has the one right outcome a pipeline whose spec was inferred from
 * the clean file (`heal init`) must reach on the drifted copy:
 * - `healed`: the table equals the one the clean file gives (for `drop-optional`: with the dropped
 *   column all NULL);
 * - `quarantined`: the rows in `details.rows` are quarantined, every other row is loaded exactly
 *   (`footer-total`: the `details.addedRows` lines it appended are quarantined, the table is the
 *   clean one);
 * - `refused`: nothing is written, the table stays as it was;
 * - `succeeded`: DuckDB reads the drifted copy exactly as the clean file (no drift, no healing).
 *
 * A few kinds change their expectation with the file (the result's `expect` is the one that holds):
 * `header-quoted-spaces` is `succeeded` when only spaces around names were added (DuckDB trims them),
 * `bad-values` is `refused` when its bad values exceed the quarantine budget (the share or the floor
 * in rows, `withinQuarantineBudget`: with the defaults, more than 3 bad values in a file under 400 rows)
 * (so are `footer-total` and `invalid-byte-line` in a file too small for their lines), `timestamp-t` is `healed` when some value has no seconds (the load's
 * default timestamp formats read "…T10:11:12" but not "…T10:11"). `tests/unit/chaos.test.ts` checks
 * every `succeeded` (and that no other kind reads unchanged) against DuckDB with the spec `heal init`
 * infers. The kinds `date-us`/`date-eu` flag `details.ambiguousDates` when every day is ≤ 12. A kind that cannot apply to a file (no date column for `date-us`) gives
 * `{ applicable: false, reason }`, never an error.
 *
 * Target columns are chosen from the file's content (column types detected from the values) and a
 * seeded PRNG (mulberry32 of seed ^ hash(kind)).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canonicalName, nameSimilarity, nameTokens } from '../common/names';
import { budgetLabel, DEFAULT_QUARANTINE_BUDGET_ROWS, withinQuarantineBudget } from '../common/spec';

/** The outcome a pipeline must reach on a drifted copy. */
export type ChaosExpect = 'healed' | 'quarantined' | 'refused' | 'succeeded';

/** What a file needs for a kind to apply. */
export type ChaosNeed =
  | 'rows'
  | 'two-columns'
  | 'three-columns'
  | 'similar-names'
  | 'snake-names'
  | 'camel-names'
  | 'nullable-column'
  | 'non-null-column'
  | 'numeric-column'
  | 'decimal-column'
  | 'integer-column'
  | 'boolean-column'
  | 'date-column'
  | 'timestamp-column'
  | 'non-ascii'
  | 'nullable-typed-column';

export interface ChaosKindInfo {
  readonly kind: string;
  readonly description: string;
  /** The right outcome (a result's `expect` may differ for a given file; see the module comment). */
  readonly expect: ChaosExpect;
  readonly needs?: ChaosNeed;
}

export const CHAOS_KINDS = [
  {
    kind: 'rename-one',
    description: 'rename one column to a similar name (abbreviated, pluralised, qualified)',
    expect: 'healed',
    needs: 'rows',
  },
  {
    kind: 'rename-several',
    description: 'rename two or three columns to similar names',
    expect: 'healed',
    needs: 'three-columns',
  },
  {
    kind: 'rename-similar-pair',
    description: 'rename both columns of a similar-named pair (temp_max/temp_min → max_temp/min_temp): easy to swap',
    expect: 'healed',
    needs: 'similar-names',
  },
  { kind: 'recase', description: 're-case every header (UPPER or Title)', expect: 'healed', needs: 'rows' },
  {
    kind: 'snake-to-camel',
    description: 'snake_case (or spaced) headers become camelCase',
    expect: 'healed',
    needs: 'snake-names',
  },
  {
    kind: 'camel-to-snake',
    description: 'camelCase headers become snake_case',
    expect: 'healed',
    needs: 'camel-names',
  },
  { kind: 'reorder', description: 'shuffle the column order', expect: 'healed', needs: 'two-columns' },
  { kind: 'add-column', description: 'insert a new column with plausible values', expect: 'healed', needs: 'rows' },
  {
    kind: 'drop-optional',
    description:
      'drop a column that has empty values (optional in an inferred spec); healed = clean table with that column NULL',
    expect: 'healed',
    needs: 'nullable-column',
  },
  {
    kind: 'drop-required',
    description: 'drop a column with no empty values (required in an inferred spec)',
    expect: 'refused',
    needs: 'non-null-column',
  },
  {
    kind: 'currency',
    description: 'a numeric column as currency text: 1234.5 → "$1,234.50"',
    expect: 'healed',
    needs: 'numeric-column',
  },
  {
    kind: 'decimal-comma',
    description: 'a decimal column with a decimal comma: 1234.5 → "1234,5" (quoted)',
    expect: 'healed',
    needs: 'decimal-column',
  },
  { kind: 'booleans-yes-no', description: 'a true/false column as yes/no', expect: 'healed', needs: 'boolean-column' },
  {
    kind: 'int-as-float',
    description: 'an integer column written as floats: 1 → 1.0 (the load casts "1.0" to 1)',
    expect: 'succeeded',
    needs: 'integer-column',
  },
  { kind: 'date-us', description: 'an ISO date column as MM/DD/YYYY', expect: 'healed', needs: 'date-column' },
  { kind: 'date-eu', description: 'an ISO date column as DD/MM/YYYY', expect: 'healed', needs: 'date-column' },
  {
    kind: 'date-with-time',
    description: 'an ISO date column as YYYY-MM-DD 00:00:00',
    expect: 'healed',
    needs: 'date-column',
  },
  {
    kind: 'date-epoch',
    description:
      'an ISO date column as epoch seconds (UTC midnight); refused: a bare number carries no unit (s, ms) or time zone, so heal does not guess a date from it',
    expect: 'refused',
    needs: 'date-column',
  },
  {
    kind: 'timestamp-t',
    description:
      'a "YYYY-MM-DD HH:MM:SS" timestamp column with a T separator (the default timestamp formats read it: healed only when some value lacks seconds)',
    expect: 'succeeded',
    needs: 'timestamp-column',
  },
  {
    kind: 'timestamp-z',
    description: 'an ISO timestamp column as YYYY-MM-DDTHH:MM:SSZ',
    expect: 'healed',
    needs: 'timestamp-column',
  },
  { kind: 'delimiter-semicolon', description: 'fields delimited by ";"', expect: 'healed', needs: 'rows' },
  { kind: 'delimiter-tab', description: 'fields delimited by a tab', expect: 'healed', needs: 'rows' },
  { kind: 'delimiter-pipe', description: 'fields delimited by "|"', expect: 'healed', needs: 'rows' },
  { kind: 'header-missing', description: 'no header row: the first line is data', expect: 'healed', needs: 'rows' },
  {
    kind: 'header-quoted-spaces',
    description: 'headers quoted, spaced and title-cased: net_generation → " Net Generation "',
    expect: 'healed',
    needs: 'rows',
  },
  {
    kind: 'bom',
    description: 'a UTF-8 byte-order mark before the header (DuckDB skips it)',
    expect: 'succeeded',
    needs: 'rows',
  },
  {
    kind: 'latin1',
    description: 're-encoded as latin-1 (needs non-ASCII text; an ASCII file would be byte-identical)',
    expect: 'healed',
    needs: 'non-ascii',
  },
  {
    kind: 'crlf',
    description: 'line endings toggled LF ↔ CRLF (DuckDB reads both)',
    expect: 'succeeded',
    needs: 'rows',
  },
  { kind: 'empty-file', description: 'an empty file (0 bytes)', expect: 'refused' },
  { kind: 'header-only', description: 'the header row and no data rows', expect: 'refused', needs: 'rows' },
  {
    kind: 'truncated',
    description: 'the last row cut mid-row (short of its last field), no trailing newline',
    expect: 'refused',
    needs: 'two-columns',
  },
  {
    kind: 'bad-values',
    description:
      'max(1, floor(rows × 0.5%)) values of a numeric column made unparseable ("#VALUE!", "ERR"…); refused when that is over the 1% budget',
    expect: 'quarantined',
    needs: 'numeric-column',
  },
  {
    kind: 'int-gains-decimals',
    description:
      'an integer column whose values gain decimals (every other one + .5): healed by widening it to number (healing.policy.typeChanges: widen, the default)',
    expect: 'healed',
    needs: 'integer-column',
  },
  {
    kind: 'date-gains-time',
    description:
      'an ISO date column whose values gain a time of day (never midnight): healed by widening it to timestamp (typeChanges: widen)',
    expect: 'healed',
    needs: 'date-column',
  },
  {
    kind: 'unit-x100',
    description: 'a numeric column multiplied by 100 (a unit change)',
    expect: 'refused',
    needs: 'numeric-column',
  },
  {
    kind: 'preamble',
    description: 'one to three lines of preamble above the header ("Report generated …", "Source: …", a blank line)',
    expect: 'healed',
    needs: 'rows',
  },
  {
    kind: 'null-tokens',
    description:
      'the empty values of an optional non-text column written as a missing-value token ("NA", "N/A", "null", "-"…)',
    expect: 'healed',
    needs: 'nullable-typed-column',
  },
  {
    kind: 'timestamp-offset',
    description:
      'a timestamp column written with UTC offsets or a zone ("…T12:00:00+02:00", "… +0100", "… UTC"), the same instants',
    expect: 'healed',
    needs: 'timestamp-column',
  },
  {
    kind: 'timestamp-offset-mixed',
    description:
      'a timestamp column written in UTC with a "Z" on every other value and with +hh:mm offsets on the rest ("…T10:00:00Z", "…T12:00:00+02:00"), the same instants',
    expect: 'healed',
    needs: 'timestamp-column',
  },
  {
    kind: 'footer-total',
    description:
      'a "Total" row (sums, its other fields filled so that it parses) and a footer line ("(c) 2026 …") appended; quarantined, never loaded',
    expect: 'quarantined',
    needs: 'two-columns',
  },
  {
    kind: 'invalid-byte-line',
    description:
      'max(1, floor(rows × 0.5%)) lines given a byte that is not UTF-8 (0x81); quarantined, the rest loads as UTF-8',
    expect: 'quarantined',
    needs: 'rows',
  },
] as const satisfies readonly ChaosKindInfo[];

export type ChaosKind = (typeof CHAOS_KINDS)[number]['kind'];

export const CHAOS_KIND_NAMES: readonly ChaosKind[] = CHAOS_KINDS.map((k) => k.kind);

export function isChaosKind(kind: string): kind is ChaosKind {
  return (CHAOS_KIND_NAMES as readonly string[]).includes(kind);
}

export function chaosKindInfo(kind: ChaosKind): ChaosKindInfo {
  const info = CHAOS_KINDS.find((k) => k.kind === kind);
  if (!info) throw new Error(`unknown chaos kind "${kind}"`);
  return info;
}

/** What the caller knows of the pipeline (e.g. from its spec); every field optional. */
export interface ChaosProfile {
  /** Columns the spec makes optional (default: the columns with empty values in the file). */
  optional?: readonly string[];
  /** Columns the spec makes required (default: the columns with no empty values). */
  required?: readonly string[];
  /** The pipeline's quarantine budget (share of rows). @default 0.01 */
  quarantineBudget?: number;
  /** The pipeline's floor in rows of the budget. @default DEFAULT_QUARANTINE_BUDGET_ROWS */
  quarantineBudgetRows?: number;
}

export interface ChaosInput {
  text: string | Buffer;
  seed: number;
  profile?: ChaosProfile;
}

/** Structured account of a change (small: names and, for bad values, row numbers). */
export interface ChaosDetails {
  /** Columns concerned (names in the clean file). */
  columns: string[];
  /** Header renames, clean name → drifted name. */
  renamed?: Record<string, string>;
  /** Column dropped (drop-*). */
  dropped?: string;
  /** Column added (add-column) and its 0-based position. */
  added?: { name: string; position: number };
  /** Data rows concerned, 0-based (bad-values: the rows to be quarantined). */
  rows?: number[];
  /**
   * A column the drift widened (int-gains-decimals, date-gains-time): the healed table holds the
   * clean rows with this column of the wider type; `sum` is the sum of its drifted numbers.
   */
  widened?: { column: string; to: 'number' | 'timestamp'; sum?: number };
  /** Data rows of the clean file. */
  cleanRows: number;
  /** Data rows the drifted copy holds complete (truncated: one fewer; empty/header-only: 0). */
  completeRows: number;
  /** Delimiter of the drifted copy. */
  delimiter?: string;
  /** Encoding of the drifted copy. */
  encoding: 'utf-8' | 'latin-1';
  /** Every date in the changed column has day ≤ 12 (day and month could be read either way). */
  ambiguousDates?: boolean;
  /**
   * Lines the drift added that are not data (footer-total: a "Total" row and a footer line): they
   * must be quarantined, never loaded; the table holds exactly the clean rows.
   */
  addedRows?: number;
}

export type ChaosResult =
  | { kind: ChaosKind; applicable: true; data: Buffer; note: string; expect: ChaosExpect; details: ChaosDetails }
  | { kind: ChaosKind; applicable: false; note: string; reason: string; expect: ChaosExpect };

// -------------------------------------------------------------------------------------------------
// CSV (RFC 4180)

/** Split CSV text into records. Quotes may hold delimiters, quotes ("") and line breaks. */
export function parseCsv(text: string, delimiter = ','): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  let fieldStarted = false;
  const n = text.length;
  const endField = () => {
    record.push(field);
    field = '';
    fieldStarted = false;
  };
  const endRecord = () => {
    endField();
    records.push(record);
    record = [];
  };
  while (i < n) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += ch;
      i++;
      continue;
    }
    if (ch === '"' && !fieldStarted) {
      quoted = true;
      fieldStarted = true;
      i++;
      continue;
    }
    if (ch === delimiter) {
      endField();
      i++;
      continue;
    }
    if (ch === '\r' || ch === '\n') {
      endRecord();
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    field += ch;
    fieldStarted = true;
    i++;
  }
  if (fieldStarted || field !== '' || record.length > 0) endRecord();
  return records;
}

export interface SerializeOptions {
  delimiter?: string;
  eol?: string;
  /** End the last record with `eol`. @default true */
  trailingNewline?: boolean;
  /** Quote every field of the first record. */
  quoteHeader?: boolean;
}

function needsQuotes(field: string, delimiter: string): boolean {
  return field.includes(delimiter) || field.includes('"') || field.includes('\n') || field.includes('\r');
}

export function serializeField(field: string, delimiter: string, force = false): string {
  return force || needsQuotes(field, delimiter) ? `"${field.replace(/"/g, '""')}"` : field;
}

export function serializeRecord(record: readonly string[], delimiter: string, force = false): string {
  return record.map((f) => serializeField(f, delimiter, force)).join(delimiter);
}

export function serializeCsv(records: readonly (readonly string[])[], opts: SerializeOptions = {}): string {
  const d = opts.delimiter ?? ',';
  const eol = opts.eol ?? '\n';
  const lines = records.map((r, i) => serializeRecord(r, d, i === 0 && Boolean(opts.quoteHeader)));
  if (lines.length === 0) return '';
  return lines.join(eol) + (opts.trailingNewline === false ? '' : eol);
}

/** A parsed CSV file with its dialect, so a transform can write it back the same way. */
export interface CsvFile {
  header: string[];
  rows: string[][];
  delimiter: string;
  eol: '\n' | '\r\n';
  trailingNewline: boolean;
  bom: boolean;
  text: string;
}

const CANDIDATE_DELIMITERS = [',', ';', '\t', '|'];

function countOutsideQuotes(line: string, ch: string): number {
  let n = 0;
  let q = false;
  for (const c of line) {
    if (c === '"') q = !q;
    else if (!q && c === ch) n++;
  }
  return n;
}

/** The delimiter of a header line: the candidate found most often outside quotes (default ","). */
export function detectDelimiter(text: string): string {
  const first = text.split(/\r?\n/, 1)[0] ?? '';
  let best = ',';
  let bestCount = 0;
  for (const d of CANDIDATE_DELIMITERS) {
    const c = countOutsideQuotes(first, d);
    if (c > bestCount) {
      best = d;
      bestCount = c;
    }
  }
  return best;
}

export function readCsvText(raw: string): CsvFile {
  const bom = raw.startsWith('\uFEFF');
  const text = bom ? raw.slice(1) : raw;
  const delimiter = detectDelimiter(text);
  const records = parseCsv(text, delimiter);
  const firstBreak = text.search(/\r?\n|\r/);
  const eol = firstBreak >= 0 && text[firstBreak] === '\r' && text[firstBreak + 1] === '\n' ? '\r\n' : '\n';
  return {
    header: records[0] ?? [],
    rows: records.slice(1),
    delimiter,
    eol,
    trailingNewline: /[\r\n]$/.test(text),
    bom,
    text,
  };
}

// -------------------------------------------------------------------------------------------------
// Column detection

export type ValueType = 'integer' | 'number' | 'boolean' | 'date' | 'timestamp' | 'text' | 'empty';

export interface ColumnInfo {
  index: number;
  name: string;
  type: ValueType;
  /** Empty (or blank) values. */
  nulls: number;
  nonEmpty: number;
  /** Some value has a fractional part (numbers). */
  hasFraction: boolean;
  /** Some value uses exponent notation (numbers). */
  hasExponent: boolean;
  /** Largest absolute value (numbers). */
  maxAbs: number;
  /** Every date has day ≤ 12. */
  lowDays: boolean;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;
const LEADING_ZERO = /^[+-]?0\d/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_TIMESTAMP = /^(\d{4}-\d{2}-\d{2})([ T])(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$/;
const BOOLEAN = /^(true|false)$/i;

function validDate(v: string): boolean {
  const m = ISO_DATE.exec(v);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}

function cell(row: readonly string[], i: number): string {
  return row[i] ?? '';
}

export function columnInfo(file: CsvFile): ColumnInfo[] {
  return file.header.map((name, index) => {
    let nulls = 0;
    let nonEmpty = 0;
    let integer = true;
    let number = true;
    let date = true;
    let timestamp = true;
    let boolean = true;
    let hasFraction = false;
    let hasExponent = false;
    let maxAbs = 0;
    let lowDays = true;
    for (const row of file.rows) {
      const v = cell(row, index).trim();
      if (v === '') {
        nulls++;
        continue;
      }
      nonEmpty++;
      if (number && (!NUMBER.test(v) || LEADING_ZERO.test(v))) number = false;
      if (integer && (!INTEGER.test(v) || LEADING_ZERO.test(v))) integer = false;
      if (number) {
        if (v.includes('.')) hasFraction = true;
        if (/[eE]/.test(v)) hasExponent = true;
        maxAbs = Math.max(maxAbs, Math.abs(Number(v)));
      }
      if (date && !validDate(v)) date = false;
      if (date && Number(v.slice(8, 10)) > 12) lowDays = false;
      if (timestamp && !(ISO_TIMESTAMP.test(v) && validDate(v.slice(0, 10)))) timestamp = false;
      if (boolean && !BOOLEAN.test(v)) boolean = false;
    }
    const type: ValueType =
      nonEmpty === 0
        ? 'empty'
        : integer
          ? 'integer'
          : number
            ? 'number'
            : boolean
              ? 'boolean'
              : date
                ? 'date'
                : timestamp
                  ? 'timestamp'
                  : 'text';
    return {
      index,
      name,
      type,
      nulls,
      nonEmpty,
      hasFraction,
      hasExponent,
      maxAbs,
      lowDays: type === 'date' && lowDays,
    };
  });
}

// -------------------------------------------------------------------------------------------------
// Seeded choice

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small, fast, seedable PRNG in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number, kind: string) {
    this.next = mulberry32((seed >>> 0) ^ fnv1a(kind));
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('internal: pick from an empty list');
    return xs[this.int(xs.length)] as T;
  }
  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
  /** `k` distinct indexes of `0..n-1`, sorted. */
  sample(n: number, k: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i))
      .slice(0, k)
      .sort((a, b) => a - b);
  }
}

// -------------------------------------------------------------------------------------------------
// Names

function capitalize(w: string): string {
  return w.charAt(0).toUpperCase() + w.slice(1);
}

/** Words of a header as written (case kept): "net_generation" → [net, generation], "netGeneration" → [net, Generation]. */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean);
}

function separatorOf(name: string): string {
  if (/[a-z0-9][A-Z]/.test(name) && !/[_\s-]/.test(name)) return 'camel';
  if (name.includes(' ')) return ' ';
  if (name.includes('-')) return '-';
  return '_';
}

/** Join tokens in the style of `like` (snake, spaced, kebab or camelCase). */
function joinLike(like: string, tokens: readonly string[]): string {
  const sep = separatorOf(like);
  const upper = like === like.toUpperCase() && /[A-Z]/.test(like);
  if (sep === 'camel') return tokens.map((t, i) => (i === 0 ? t.toLowerCase() : capitalize(t.toLowerCase()))).join('');
  const joined = tokens.join(sep);
  return upper ? joined.toUpperCase() : joined;
}

/** Vowel-dropped abbreviation that `abbreviates` in common/names accepts: "generation" → "gnrt". */
function abbreviate(token: string): string | undefined {
  if (token.length < 4) return undefined;
  const max = Math.max(2, Math.floor(token.length * 0.6));
  const cons = token[0] + token.slice(1).replace(/[aeiou]/gi, '');
  const out = cons.slice(0, max);
  return out.length >= 2 && out.length < token.length ? out : undefined;
}

function taken(header: readonly string[]): Set<string> {
  return new Set(header.flatMap((h) => [h.toLowerCase(), canonicalName(h)]));
}

/** Candidate similar names for a header: abbreviated, (un)pluralised, qualified, numbered. */
function renameCandidates(name: string, avoid: ReadonlySet<string>): string[] {
  const toks = words(name);
  const out = new Set<string>();
  toks.forEach((t, i) => {
    const a = abbreviate(t);
    if (a)
      out.add(
        joinLike(
          name,
          toks.map((u, j) => (j === i ? a : u)),
        ),
      );
  });
  const last = toks[toks.length - 1];
  if (last && last.length > 2) {
    const plural = last.endsWith('s') ? last.slice(0, -1) : `${last}s`;
    out.add(joinLike(name, [...toks.slice(0, -1), plural]));
  }
  for (const q of ['value', 'amount', 'total', 'raw']) out.add(joinLike(name, [...toks, q]));
  out.add(joinLike(name, ['src', ...toks]));
  out.add(`${name}2`);
  return [...out].filter((c) => {
    const s = nameSimilarity(name, c);
    return (
      c !== name &&
      s >= 0.6 &&
      s < 1 &&
      !avoid.has(c.toLowerCase()) &&
      !avoid.has(canonicalName(c)) &&
      canonicalName(c) !== ''
    );
  });
}

// -------------------------------------------------------------------------------------------------
// Values

function splitNumber(v: string): { sign: string; int: string; frac: string; dot: boolean } | undefined {
  const m = /^([+-]?)(\d*)(?:(\.)(\d*))?$/.exec(v.trim());
  if (!m || (m[2] === '' && (m[4] ?? '') === '')) return undefined;
  return { sign: m[1] === '-' ? '-' : '', int: m[2] ?? '', frac: m[4] ?? '', dot: m[3] === '.' };
}

function groupThousands(int: string): string {
  const s = int.replace(/^0+(?=\d)/, '') || '0';
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 1234.5 → "$1,234.50" (at least two decimals, never fewer than the value has). */
export function toCurrency(v: string): string {
  const p = splitNumber(v);
  if (!p) return v;
  const frac = p.frac.padEnd(2, '0');
  return `${p.sign}$${groupThousands(p.int)}.${frac}`;
}

/** Exact decimal × 100 on the text: "12.8" → "1280.0", "35361" → "3536100". */
export function times100(v: string): string {
  const p = splitNumber(v);
  if (!p) return v;
  const padded = p.frac.padEnd(2, '0');
  const int = `${p.int}${padded.slice(0, 2)}`.replace(/^0+(?=\d)/, '') || '0';
  const frac = padded.slice(2);
  const zero = /^0*$/.test(int + frac);
  const sign = zero ? '' : p.sign;
  return p.dot ? `${sign}${int}.${frac || '0'}` : `${sign}${int}`;
}

/** Words ignored when looking for a shared word between two names. */
const STOP_WORDS = new Set(['and', 'of', 'the', 'in', 'per', 'by', 'to', 'a']);
/** Name words of identifier-like numeric columns (not measures with a unit). */
const ID_WORDS = new Set(['id', 'year', 'yr', 'code', 'zip', 'key', 'group', 'no', 'num']);

const BAD_VALUES = ['#VALUE!', '#REF!', 'ERR', '1.2.3', '12..5', '??', 'n.a.!'];

function isoParts(v: string): [string, string, string] {
  return [v.slice(0, 4), v.slice(5, 7), v.slice(8, 10)];
}

// -------------------------------------------------------------------------------------------------
// The transforms

interface Ctx {
  kind: ChaosKind;
  file: CsvFile;
  cols: ColumnInfo[];
  rng: Rng;
  profile: ChaosProfile;
}

type Outcome =
  | {
      ok: true;
      data: Buffer;
      note: string;
      details: Partial<ChaosDetails> & { columns: string[] };
      expect?: ChaosExpect;
    }
  | { ok: false; reason: string };

function na(reason: string): Outcome {
  return { ok: false, reason };
}

function write(
  file: CsvFile,
  header: readonly string[] | null,
  rows: readonly (readonly string[])[],
  opts: Partial<SerializeOptions> & { bom?: boolean } = {},
): Buffer {
  const records = header ? [header, ...rows] : [...rows];
  const text = serializeCsv(records, {
    delimiter: opts.delimiter ?? file.delimiter,
    eol: opts.eol ?? file.eol,
    trailingNewline: opts.trailingNewline ?? file.trailingNewline,
    ...(opts.quoteHeader ? { quoteHeader: true } : {}),
  });
  return Buffer.from(((opts.bom ?? file.bom) ? '\uFEFF' : '') + text, 'utf8');
}

function listChanges(pairs: readonly [string, string][], max = 3): string {
  const shown = pairs.slice(0, max).map(([a, b]) => `${JSON.stringify(a)} → ${JSON.stringify(b)}`);
  return shown.join(', ') + (pairs.length > max ? ` (+${pairs.length - max} more)` : '');
}

function renameHeader(c: Ctx, renames: Map<number, string>, note: string): Outcome {
  const header = c.file.header.map((h, i) => renames.get(i) ?? h);
  const pairs: [string, string][] = [...renames.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([i, n]) => [c.file.header[i] ?? '', n]);
  return {
    ok: true,
    data: write(c.file, header, c.file.rows),
    note: `${note} ${listChanges(pairs)}`,
    details: { columns: pairs.map(([a]) => a), renamed: Object.fromEntries(pairs) },
  };
}

/** Replace the values of one column (empty values stay empty). */
function mapColumn(
  c: Ctx,
  col: ColumnInfo,
  fn: (v: string) => string,
): { rows: string[][]; example: [string, string] | undefined } {
  let example: [string, string] | undefined;
  const rows = c.file.rows.map((r) => {
    const v = cell(r, col.index).trim();
    if (v === '' || col.index >= r.length) return r;
    const out = [...r];
    out[col.index] = fn(v);
    if (!example || (example[0] === example[1] && v !== out[col.index])) example = [v, out[col.index] ?? ''];
    return out;
  });
  return { rows, example };
}

/** Rewrite the values of one column picked from `cols` (`need` names what is missing when none). */
function valueChange(c: Ctx, cols: ColumnInfo[], need: string, verb: string, fn: (v: string) => string): Outcome {
  if (cols.length === 0) return na(`no ${need} column`);
  const col = c.rng.pick(cols);
  const { rows, example } = mapColumn(c, col, fn);
  const ex = example ? `: ${example[0]} → ${JSON.stringify(example[1])}` : '';
  return {
    ok: true,
    data: write(c.file, c.file.header, rows),
    note: `"${col.name}" ${verb}${ex}`,
    details: { columns: [col.name] },
  };
}

function isOptional(c: Ctx, col: ColumnInfo): boolean {
  if (c.profile.optional) return c.profile.optional.includes(col.name);
  if (c.profile.required) return !c.profile.required.includes(col.name);
  return col.nulls > 0;
}

function numericCols(c: Ctx): ColumnInfo[] {
  return c.cols.filter((x) => (x.type === 'integer' || x.type === 'number') && !x.hasExponent);
}

/** Numeric columns that are measures rather than identifiers or years (all of them when none is). */
function measureCols(c: Ctx): ColumnInfo[] {
  const nums = numericCols(c);
  const measures = nums.filter((x) => !nameTokens(x.name).some((t) => ID_WORDS.has(t)));
  return measures.length > 0 ? measures : nums;
}

function dateKind(c: Ctx, label: string, fn: (v: string) => string): Outcome {
  const dates = c.cols.filter((x) => x.type === 'date');
  if (dates.length === 0) return na('no ISO date (YYYY-MM-DD) column');
  const col = c.rng.pick(dates);
  const { rows, example } = mapColumn(c, col, fn);
  return {
    ok: true,
    data: write(c.file, c.file.header, rows),
    note: `"${col.name}" ISO → ${label}${example ? `: ${example[0]} → ${JSON.stringify(example[1])}` : ''}`,
    details: { columns: [col.name], ...(col.lowDays ? { ambiguousDates: true } : {}) },
  };
}

function timestampKind(c: Ctx, label: string, only: (v: string) => boolean, fn: (v: string) => string): Outcome {
  const ts = c.cols.filter((x) => x.type === 'timestamp' && c.file.rows.some((r) => only(cell(r, x.index).trim())));
  if (ts.length === 0)
    return na(label === 'T' ? 'no "YYYY-MM-DD HH:MM:SS" timestamp column (with a space)' : 'no ISO timestamp column');
  const col = c.rng.pick(ts);
  const { rows, example } = mapColumn(c, col, fn);
  // The load's default timestamp formats read "YYYY-MM-DDTHH:MM:SS[.f]" but not "YYYY-MM-DDTHH:MM".
  const minutesOnly = label === 'T' && c.file.rows.some((r) => /^\S{10} \d{2}:\d{2}$/.test(cell(r, col.index).trim()));
  return {
    ok: true,
    data: write(c.file, c.file.header, rows),
    note: `"${col.name}" timestamps ${label === 'T' ? 'with a T separator' : 'in UTC with a Z'}${example ? `: ${example[0]} → ${JSON.stringify(example[1])}` : ''}`,
    details: { columns: [col.name] },
    ...(minutesOnly ? { expect: 'healed' as const } : {}),
  };
}

function delimiterKind(c: Ctx, d: string): Outcome {
  if (c.file.delimiter === d) return na(`the file is already delimited by ${JSON.stringify(d)}`);
  return {
    ok: true,
    data: write(c.file, c.file.header, c.file.rows, { delimiter: d }),
    note: `delimiter ${JSON.stringify(c.file.delimiter)} → ${JSON.stringify(d)}`,
    details: { columns: [], delimiter: d },
  };
}

const TRANSFORMS: Record<ChaosKind, (c: Ctx) => Outcome> = {
  'rename-one': (c) => {
    const avoid = taken(c.file.header);
    const options = c.cols
      .map((x) => ({ x, cands: renameCandidates(x.name, avoid) }))
      .filter((o) => o.cands.length > 0);
    if (options.length === 0) return na('no column has a similar alternative name');
    const o = c.rng.pick(options);
    return renameHeader(c, new Map([[o.x.index, c.rng.pick(o.cands)]]), 'renamed');
  },
  'rename-several': (c) => {
    if (c.cols.length < 3) return na('fewer than 3 columns (renaming every column leaves nothing to anchor on)');
    const k = Math.min(3, Math.max(2, Math.floor(c.cols.length / 2)));
    const avoid = taken(c.file.header);
    const renames = new Map<number, string>();
    for (const x of c.rng.shuffle(c.cols)) {
      if (renames.size >= k) break;
      const cands = renameCandidates(x.name, avoid);
      if (cands.length === 0) continue;
      const n = c.rng.pick(cands);
      renames.set(x.index, n);
      avoid.add(n.toLowerCase());
      avoid.add(canonicalName(n));
    }
    if (renames.size < 2) return na('fewer than two columns have a similar alternative name');
    return renameHeader(c, renames, 'renamed');
  },
  'rename-similar-pair': (c) => {
    const pairs: [ColumnInfo, ColumnInfo][] = [];
    for (const a of c.cols) {
      for (const b of c.cols) {
        if (a.index >= b.index || a.type !== b.type || canonicalName(a.name) === canonicalName(b.name)) continue;
        const shared = nameTokens(a.name).some((t) => !STOP_WORDS.has(t) && nameTokens(b.name).includes(t));
        if (shared || nameSimilarity(a.name, b.name) >= 0.55) pairs.push([a, b]);
      }
    }
    if (pairs.length === 0)
      return na('no two columns of the same type with similar names (a shared word, or similarity ≥ 0.55)');
    const [a, b] = c.rng.pick(pairs);
    const avoid = taken(c.file.header);
    const renames = new Map<number, string>();
    for (const x of [a, b]) {
      const toks = words(x.name);
      const other = x === a ? b : a;
      // Two words swap places (temp_max → max_temp); one word gains a qualifier; longer names abbreviate a word.
      let n: string;
      if (toks.length === 2) n = joinLike(x.name, [...toks].reverse());
      else if (toks.length < 2) n = joinLike(other.name.includes(' ') ? 'a b' : x.name, [x.name, 'raw']);
      else {
        const longest = toks.reduce((best, t, i) => (t.length > (toks[best] ?? '').length ? i : best), 0);
        n = joinLike(
          x.name,
          toks.map((t, i) => (i === longest ? (abbreviate(t) ?? t) : t)),
        );
      }
      if (avoid.has(n.toLowerCase()) || avoid.has(canonicalName(n)) || n === x.name) n = `${x.name}_1`;
      renames.set(x.index, n);
      avoid.add(n.toLowerCase());
    }
    return renameHeader(c, renames, 'renamed a similar pair:');
  },
  recase: (c) => {
    const upper = c.file.header.map((h) => h.toUpperCase());
    const title = c.file.header.map((h) =>
      /[a-z0-9][A-Z]/.test(h) && !/[_\s-]/.test(h)
        ? capitalize(h)
        : h.replace(/[A-Za-z0-9]+/g, (w) => capitalize(w.toLowerCase())),
    );
    const changed = (hs: string[]) => hs.some((h, i) => h !== c.file.header[i]);
    const first = c.rng.int(2) === 0 ? { hs: upper, label: 'UPPER' } : { hs: title, label: 'Title' };
    const second = first.label === 'UPPER' ? { hs: title, label: 'Title' } : { hs: upper, label: 'UPPER' };
    const pick = changed(first.hs) ? first : changed(second.hs) ? second : undefined;
    if (!pick) return na('every header reads the same in UPPER and Title case');
    const renames = new Map<number, string>();
    pick.hs.forEach((h, i) => {
      if (h !== c.file.header[i]) renames.set(i, h);
    });
    return renameHeader(c, renames, `re-cased headers (${pick.label}):`);
  },
  'snake-to-camel': (c) => {
    const renames = new Map<number, string>();
    c.cols.forEach((x) => {
      if (!/[A-Za-z0-9][_\s-]+[A-Za-z0-9]/.test(x.name)) return;
      const toks = nameTokens(x.name);
      if (toks.length < 2) return;
      const n = toks.map((t, i) => (i === 0 ? t : capitalize(t))).join('');
      const avoid = taken(c.file.header.filter((_, i) => i !== x.index));
      if (n !== x.name && !avoid.has(n.toLowerCase()) && !avoid.has(canonicalName(n))) renames.set(x.index, n);
    });
    if (renames.size === 0) return na('no snake_case (or spaced) header');
    return renameHeader(c, renames, 'snake_case → camelCase:');
  },
  'camel-to-snake': (c) => {
    const renames = new Map<number, string>();
    c.cols.forEach((x) => {
      if (!/[a-z0-9][A-Z]/.test(x.name)) return;
      const n = nameTokens(x.name).join('_');
      const avoid = taken(c.file.header.filter((_, i) => i !== x.index));
      if (n !== x.name && !avoid.has(n.toLowerCase()) && !avoid.has(canonicalName(n))) renames.set(x.index, n);
    });
    if (renames.size === 0) return na('no camelCase header');
    return renameHeader(c, renames, 'camelCase → snake_case:');
  },
  reorder: (c) => {
    const n = c.cols.length;
    if (n < 2) return na('a single column cannot be reordered');
    let order = c.rng.shuffle(c.cols.map((x) => x.index));
    if (order.every((v, i) => v === i)) order = [...order.slice(1), order[0] ?? 0];
    const header = order.map((i) => c.file.header[i] ?? '');
    const rows = c.file.rows.map((r) => order.map((i) => cell(r, i)));
    return {
      ok: true,
      data: write(c.file, header, rows),
      note: `reordered columns: ${c.file.header.join(', ')} → ${header.join(', ')}`,
      details: { columns: header },
    };
  },
  'add-column': (c) => {
    const gens: { name: string; what: string; value: (i: number) => string }[] = [
      { name: 'row_id', what: 'integer ids 1..N', value: (i) => String(i + 1) },
      { name: 'loaded_at', what: 'a load timestamp', value: () => '2024-05-01 12:00:00' },
      {
        name: 'comment',
        what: 'free text, mostly empty',
        value: (i) => (i % 7 === 3 ? 'checked' : i % 11 === 5 ? 'revised, see note' : ''),
      },
      {
        name: 'is_estimate',
        what: 'true/false flags',
        value: (i) => ((Math.imul(i + 1, 2654435761) >>> 0) % 5 === 0 ? 'true' : 'false'),
      },
      { name: 'quality_score', what: 'scores 0..100', value: (i) => (((i * 40503) % 1000) / 10).toFixed(1) },
    ];
    const g = c.rng.pick(gens);
    const avoid = taken(c.file.header);
    let name = g.name;
    for (let k = 2; avoid.has(name.toLowerCase()) || avoid.has(canonicalName(name)); k++) name = `${g.name}_${k}`;
    const pos = c.rng.int(c.cols.length + 1);
    const header = [...c.file.header.slice(0, pos), name, ...c.file.header.slice(pos)];
    const out = c.file.rows.map((r, i) => {
      const full = c.file.header.map((_, j) => cell(r, j));
      return [...full.slice(0, pos), g.value(i), ...full.slice(pos)];
    });
    return {
      ok: true,
      data: write(c.file, header, out),
      note: `added column "${name}" (${g.what}) at position ${pos + 1} of ${header.length}`,
      details: { columns: [name], added: { name, position: pos } },
    };
  },
  'drop-optional': (c) => {
    const opt = c.cols.filter((x) => isOptional(c, x));
    if (opt.length === 0)
      return na('no optional column (no column has empty values; heal init makes such columns required)');
    if (c.cols.length < 2) return na('a single column cannot be dropped');
    const col = c.rng.pick(opt);
    return dropColumn(
      c,
      col,
      `dropped optional column "${col.name}" (${col.nulls} of ${c.file.rows.length} values empty)`,
    );
  },
  'drop-required': (c) => {
    const req = c.cols.filter((x) => !isOptional(c, x));
    if (req.length === 0) return na('no required column (every column has empty values)');
    if (c.cols.length < 2) return na('a single column cannot be dropped');
    const col = c.rng.pick(req);
    return dropColumn(c, col, `dropped required column "${col.name}"`);
  },
  currency: (c) => {
    const nums = measureCols(c);
    const big = nums.filter((x) => x.maxAbs >= 1000);
    return valueChange(c, big.length > 0 ? big : nums, 'numeric', 'as currency', toCurrency);
  },
  'decimal-comma': (c) =>
    valueChange(
      c,
      numericCols(c).filter((x) => x.hasFraction),
      'fractional numeric',
      'with a decimal comma',
      (v) => v.replace('.', ','),
    ),
  'booleans-yes-no': (c) =>
    valueChange(
      c,
      c.cols.filter((x) => x.type === 'boolean'),
      'true/false',
      'as yes/no',
      (v) => {
        const yes = /^true$/i.test(v) ? 'yes' : 'no';
        return v === v.toUpperCase() ? yes.toUpperCase() : /^[A-Z]/.test(v) ? capitalize(yes) : yes;
      },
    ),
  'int-as-float': (c) =>
    valueChange(
      c,
      c.cols.filter((x) => x.type === 'integer'),
      'integer',
      'integers written as floats',
      (v) => `${v}.0`,
    ),
  'date-us': (c) =>
    dateKind(c, 'MM/DD/YYYY', (v) => {
      const [y, m, d] = isoParts(v);
      return `${m}/${d}/${y}`;
    }),
  'date-eu': (c) =>
    dateKind(c, 'DD/MM/YYYY', (v) => {
      const [y, m, d] = isoParts(v);
      return `${d}/${m}/${y}`;
    }),
  'date-with-time': (c) => dateKind(c, 'YYYY-MM-DD 00:00:00', (v) => `${v} 00:00:00`),
  'date-epoch': (c) =>
    dateKind(c, 'epoch seconds', (v) => {
      const [y, m, d] = isoParts(v);
      return String(Date.UTC(Number(y), Number(m) - 1, Number(d)) / 1000);
    }),
  'timestamp-t': (c) =>
    timestampKind(
      c,
      'T',
      (v) => v.charAt(10) === ' ',
      (v) => `${v.slice(0, 10)}T${v.slice(11)}`,
    ),
  'timestamp-z': (c) =>
    timestampKind(
      c,
      'Z',
      () => true,
      (v) => {
        const time = v.slice(11);
        return `${v.slice(0, 10)}T${time.length === 5 ? `${time}:00` : time}Z`;
      },
    ),
  'delimiter-semicolon': (c) => delimiterKind(c, ';'),
  'delimiter-tab': (c) => delimiterKind(c, '\t'),
  'delimiter-pipe': (c) => delimiterKind(c, '|'),
  'header-missing': (c) => ({
    ok: true,
    data: write(c.file, null, c.file.rows),
    note: `removed the header row (${clipText(serializeRecord(c.file.header, c.file.delimiter), 60)})`,
    details: { columns: [...c.file.header] },
  }),
  'header-quoted-spaces': (c) => {
    const header = c.file.header.map((h) => ` ${words(h).map(capitalize).join(' ') || h} `);
    const renames = new Map<number, string>();
    header.forEach((h, i) => renames.set(i, h));
    const pairs: [string, string][] = header.map((h, i) => [c.file.header[i] ?? '', h]);
    const trimOnly = header.every((h, i) => h.trim() === c.file.header[i]);
    return {
      ok: true,
      data: write(c.file, header, c.file.rows, { quoteHeader: true }),
      note: `headers quoted with spaces: ${listChanges(pairs)}${trimOnly ? ' (only surrounding spaces, which DuckDB trims)' : ''}`,
      details: { columns: [...c.file.header], renamed: Object.fromEntries(pairs) },
      ...(trimOnly ? { expect: 'succeeded' as const } : {}),
    };
  },
  bom: (c) => {
    if (c.file.bom) return na('the file already starts with a byte-order mark');
    return {
      ok: true,
      data: write(c.file, c.file.header, c.file.rows, { bom: true }),
      note: 'prepended a UTF-8 byte-order mark (EF BB BF)',
      details: { columns: [] },
    };
  },
  latin1: (c) => {
    const text = (c.file.bom ? '\uFEFF' : '') + c.file.text;
    const nonAscii = [...c.file.text].filter((ch) => ch.charCodeAt(0) > 0x7f);
    if (nonAscii.length === 0) return na('the file is ASCII only: latin-1 would be byte-identical');
    const outside = nonAscii.find((ch) => (ch.codePointAt(0) ?? 0) > 0xff);
    if (outside) return na(`the file has characters latin-1 cannot encode (e.g. ${JSON.stringify(outside)})`);
    return {
      ok: true,
      data: Buffer.from(c.file.text, 'latin1'),
      note: `re-encoded as latin-1 (${nonAscii.length} non-ASCII characters, e.g. ${JSON.stringify(nonAscii[0])})${text !== c.file.text ? ', byte-order mark dropped' : ''}`,
      details: { columns: [], encoding: 'latin-1' },
    };
  },
  crlf: (c) => {
    const eol = c.file.eol === '\n' ? '\r\n' : '\n';
    return {
      ok: true,
      data: write(c.file, c.file.header, c.file.rows, { eol }),
      note: `line endings ${c.file.eol === '\n' ? 'LF → CRLF' : 'CRLF → LF'}`,
      details: { columns: [] },
    };
  },
  'empty-file': () => ({
    ok: true,
    data: Buffer.alloc(0),
    note: 'emptied the file (0 bytes)',
    details: { columns: [], completeRows: 0 },
  }),
  'header-only': (c) => ({
    ok: true,
    data: write(c.file, c.file.header, [], { trailingNewline: true }),
    note: `kept only the header row (${c.file.rows.length} data rows removed)`,
    details: { columns: [], completeRows: 0 },
  }),
  truncated: (c) => {
    const last = c.file.rows[c.file.rows.length - 1];
    if (!last || last.length < 2) return na('the last row has fewer than two fields');
    // Offsets of the field separators of the serialized last line: the cut falls before the last one.
    const fields = last.map((f) => serializeField(f, c.file.delimiter));
    let offset = 0;
    const seps: number[] = [];
    fields.forEach((f, i) => {
      offset += f.length;
      if (i < fields.length - 1) {
        seps.push(offset);
        offset += c.file.delimiter.length;
      }
    });
    const lastSep = seps[seps.length - 1] ?? 0;
    if (lastSep < 1) return na('the last row is too short to cut');
    const line = fields.join(c.file.delimiter);
    const cut = 1 + c.rng.int(lastSep);
    const head = serializeCsv([c.file.header, ...c.file.rows.slice(0, -1)], {
      delimiter: c.file.delimiter,
      eol: c.file.eol,
    });
    const data = Buffer.from((c.file.bom ? '\uFEFF' : '') + head + line.slice(0, cut), 'utf8');
    return {
      ok: true,
      data,
      note: `cut the last row after ${cut} of ${line.length} characters (${JSON.stringify(clipText(line.slice(0, cut), 40))}), no trailing newline`,
      details: { columns: [], rows: [c.file.rows.length - 1], completeRows: c.file.rows.length - 1 },
    };
  },
  'bad-values': (c) => {
    const nums = numericCols(c);
    const req = nums.filter((x) => x.nulls === 0);
    const pool = req.length > 0 ? req : nums;
    if (pool.length === 0) return na('no numeric column');
    const col = c.rng.pick(pool);
    const nonEmptyRows = c.file.rows.flatMap((r, i) => (cell(r, col.index).trim() === '' ? [] : [i]));
    const k = Math.max(1, Math.floor(c.file.rows.length * 0.005));
    const chosen = c.rng.sample(nonEmptyRows.length, Math.min(k, nonEmptyRows.length)).map((j) => nonEmptyRows[j] ?? 0);
    const bad = new Map(chosen.map((i) => [i, c.rng.pick(BAD_VALUES)]));
    const rows = c.file.rows.map((r, i) => {
      const b = bad.get(i);
      if (b === undefined) return r;
      const out = [...r];
      out[col.index] = b;
      return out;
    });
    const quality = {
      quarantineBudget: c.profile.quarantineBudget ?? 0.01,
      quarantineBudgetRows: c.profile.quarantineBudgetRows ?? DEFAULT_QUARANTINE_BUDGET_ROWS,
    };
    const rowsIn = Math.max(1, Math.min(c.file.rows.length, col.nonEmpty));
    const share = chosen.length / rowsIn;
    const over = !withinQuarantineBudget(quality, chosen.length, rowsIn);
    const shown = chosen.slice(0, 5).map((i) => i + 1);
    return {
      ok: true,
      data: write(c.file, c.file.header, rows),
      note: `${chosen.length} unparseable value${chosen.length === 1 ? '' : 's'} in "${col.name}" (data row${chosen.length === 1 ? '' : 's'} ${shown.join(', ')}${chosen.length > 5 ? ', …' : ''}): ${[...new Set(bad.values())].map((v) => JSON.stringify(v)).join(', ')}${over ? `; ${(share * 100).toFixed(1)}% of rows is over the quarantine budget of ${budgetLabel(quality)}` : ''}`,
      details: { columns: [col.name], rows: chosen },
      ...(over ? { expect: 'refused' as const } : {}),
    };
  },
  'int-gains-decimals': (c) => {
    const ints = c.cols.filter((x) => x.type === 'integer');
    if (ints.length === 0) return na('no integer column');
    const col = c.rng.pick(ints);
    let k = 0;
    let sum = 0;
    const { rows, example } = mapColumn(c, col, (v) => {
      const out = k++ % 2 ? `${v}.5` : v;
      sum += Number(out);
      return out;
    });
    return {
      ok: true,
      data: write(c.file, c.file.header, rows),
      note: `"${col.name}" integers gain decimals${example ? `: ${example[0]} → ${JSON.stringify(example[1])}` : ''}`,
      details: { columns: [col.name], widened: { column: col.name, to: 'number', sum } },
    };
  },
  'date-gains-time': (c) => {
    const dates = c.cols.filter((x) => x.type === 'date');
    if (dates.length === 0) return na('no ISO date (YYYY-MM-DD) column');
    const col = c.rng.pick(dates);
    const pad = (n: number) => String(n).padStart(2, '0');
    const { rows, example } = mapColumn(c, col, (v) => `${v} ${pad(1 + c.rng.int(23))}:${pad(c.rng.int(60))}:00`);
    return {
      ok: true,
      data: write(c.file, c.file.header, rows),
      note: `"${col.name}" dates gain a time of day${example ? `: ${example[0]} → ${JSON.stringify(example[1])}` : ''}`,
      details: { columns: [col.name], widened: { column: col.name, to: 'timestamp' } },
    };
  },
  'unit-x100': (c) => {
    const nums = measureCols(c).filter((x) => x.maxAbs > 0);
    return valueChange(c, nums, 'numeric', 'multiplied by 100', times100);
  },
  preamble: (c) => preambleKind(c),
  'null-tokens': (c) => nullTokensKind(c),
  'timestamp-offset': (c) => timestampOffsetKind(c),
  'timestamp-offset-mixed': (c) => timestampOffsetKind(c, true),
  'footer-total': (c) => footerTotalKind(c),
  'invalid-byte-line': (c) => invalidByteLineKind(c),
};

// -------------------------------------------------------------------------------------------------
// Everyday file habits

const PREAMBLES = [
  'Report generated 2026-01-01 06:00 UTC',
  'Source: ERP export (sales)',
  'Exported by reporting@example.com',
  'Confidential - internal use only',
];

/** Lines of preamble above the header; a blank line between them and the header, sometimes. */
function preambleKind(c: Ctx): Outcome {
  // None of these lines holds a column name: heal finds the header as the first line that does.
  const lines = c.rng.shuffle(PREAMBLES).slice(0, 1 + c.rng.int(3));
  if (c.rng.int(2) === 0) lines.push('');
  const head = lines.join(c.file.eol) + c.file.eol;
  const body = write(c.file, c.file.header, c.file.rows, { bom: false });
  return {
    ok: true,
    data: Buffer.concat([Buffer.from((c.file.bom ? '\uFEFF' : '') + head, 'utf8'), body]),
    note: `${lines.length} line${lines.length === 1 ? '' : 's'} of preamble above the header (${lines
      .filter(Boolean)
      .map((l) => JSON.stringify(l))
      .join(', ')}${lines.includes('') ? ', a blank line' : ''}): the header is on line ${lines.length + 1}`,
    details: { columns: [] },
  };
}

/** Missing-value tokens the chaos monkey writes (each one heal's rules doctor knows). */
const NULL_TOKENS = ['NA', 'N/A', 'null', 'NULL', 'None', '-', '#N/A', 'NaN', '.'];

/** The empty values of an optional number, date, timestamp or boolean column, spelled as tokens. */
function nullTokensKind(c: Ctx): Outcome {
  const typed: ValueType[] = ['integer', 'number', 'date', 'timestamp', 'boolean'];
  const cols = c.cols.filter((x) => x.nulls > 0 && isOptional(c, x) && typed.includes(x.type));
  if (cols.length === 0) return na('no optional number, date, timestamp or boolean column with empty values');
  const col = c.rng.pick(cols);
  const tokens = c.rng.shuffle(NULL_TOKENS).slice(0, 1 + c.rng.int(2));
  let k = 0;
  const rows = c.file.rows.map((r) => {
    if (cell(r, col.index).trim() !== '' || col.index >= r.length) return r;
    const out = [...r];
    out[col.index] = tokens[k++ % tokens.length] ?? 'NA';
    return out;
  });
  return {
    ok: true,
    data: write(c.file, c.file.header, rows),
    note: `the ${col.nulls} empty values of optional ${col.type} column "${col.name}" written as ${tokens.map((t) => JSON.stringify(t)).join(' / ')}`,
    details: { columns: [col.name] },
  };
}

/** "2024-05-01 12:00:00[.f]" read as UTC, moved by `minutes`, in "YYYY-MM-DD?HH:MM:SS[.f]" with separator `sep`. */
function shiftTimestamp(v: string, minutes: number, sep: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(?::(\d{2}))?(\.\d+)?$/.exec(v);
  if (!m) return v;
  const t = new Date(Date.parse(`${m[1]}T${m[2]}:${m[3] ?? '00'}Z`) + minutes * 60_000).toISOString();
  return `${t.slice(0, 10)}${sep}${t.slice(11, 19)}${m[4] ?? ''}`;
}

function offsetText(minutes: number, colon: boolean): string {
  const a = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}${colon ? ':' : ''}${String(a % 60).padStart(2, '0')}`;
}

/**
 * A timestamp column (its values UTC instants) written with offsets or a zone: the local time of
 * each instant with its offset, so that the healed table (stored at UTC) equals the clean one.
 */
/** Timestamps with offsets or a zone; `mixed`: every other value in UTC with a "Z", the rest with offsets. */
function timestampOffsetKind(c: Ctx, mixed = false): Outcome {
  const fraction = (x: ColumnInfo) => {
    const values = c.file.rows.map((r) => cell(r, x.index).trim()).filter(Boolean);
    const some = values.filter((v) => v.includes('.')).length;
    return some === 0 ? 'none' : some === values.length ? 'all' : 'mixed';
  };
  // Fractional seconds on some values only would need two formats: not a habit of one export.
  const ts = c.cols.filter((x) => x.type === 'timestamp' && fraction(x) !== 'mixed');
  if (ts.length === 0) return na('no ISO timestamp column (with fractional seconds on all values or none)');
  const col = c.rng.pick(ts);
  const styles: { label: string; fn: (v: string, i: number) => string }[] = [
    {
      label: 'ISO with +hh:mm offsets (+02:00, -05:00, +05:30)',
      fn: (v, i) => {
        const m = [120, -300, 330][i % 3] as number;
        return `${shiftTimestamp(v, m, 'T')}${offsetText(m, true)}`;
      },
    },
    { label: 'a space and +0100', fn: (v) => `${shiftTimestamp(v, 60, ' ')} ${offsetText(60, false)}` },
    { label: 'a " UTC" suffix', fn: (v) => `${shiftTimestamp(v, 0, ' ')} UTC` },
  ];
  const style = mixed
    ? {
        label: 'a "Z" on every other value and +hh:mm offsets on the rest',
        fn: (v: string, i: number) => {
          const m = [120, -300][(i >> 1) % 2] as number;
          return i % 2 === 0 ? `${shiftTimestamp(v, 0, 'T')}Z` : `${shiftTimestamp(v, m, 'T')}${offsetText(m, true)}`;
        },
      }
    : c.rng.pick(styles);
  let i = 0;
  const { rows, example } = mapColumn(c, col, (v) => style.fn(v, i++));
  return {
    ok: true,
    data: write(c.file, c.file.header, rows),
    note: `"${col.name}" timestamps with ${style.label}, the same instants${example ? `: ${example[0]} → ${JSON.stringify(example[1])}` : ''}`,
    details: { columns: [col.name] },
  };
}

/** Sum of a numeric column's values as text, with as many decimals as its values have. */
function sumText(c: Ctx, col: ColumnInfo): string {
  const values = c.file.rows.map((r) => cell(r, col.index).trim()).filter(Boolean);
  const decimals = Math.max(0, ...values.map((v) => (v.includes('.') ? v.length - v.indexOf('.') - 1 : 0)));
  return values.reduce((a, v) => a + Number(v), 0).toFixed(Math.min(decimals, 6));
}

const TOTAL_LABELS = ['Total', 'TOTAL', 'Grand total'];
const FOOTERS = ['(c) 2026 Example Corp. All rights reserved.', 'Generated by ReportTool 4.2', 'End of report'];

/**
 * A "Total" row and a footer line after the data. The total row is written to parse: its label in
 * the first text column (the first column when none is text), sums in the numeric columns, the
 * last row's values in the other required ones; only heal's summary-row check keeps it out.
 */
function footerTotalKind(c: Ctx): Outcome {
  if (c.cols.length < 2) return na('a single column: a footer line would read as a value');
  const last = c.file.rows[c.file.rows.length - 1] ?? [];
  const label = c.cols.find((x) => x.type === 'text') ?? (c.cols[0] as ColumnInfo);
  const word = c.rng.pick(TOTAL_LABELS);
  const total = c.cols.map((x) =>
    x === label
      ? word
      : (x.type === 'integer' || x.type === 'number') && !x.hasExponent
        ? sumText(c, x)
        : isOptional(c, x)
          ? ''
          : cell(last, x.index),
  );
  const footer = c.rng.pick(FOOTERS);
  if (footer.includes(c.file.delimiter)) return na('the footer line would hold the delimiter');
  const data = write(c.file, c.file.header, [...c.file.rows, total], { trailingNewline: true });
  const quality = {
    quarantineBudget: c.profile.quarantineBudget ?? 0.01,
    quarantineBudgetRows: c.profile.quarantineBudgetRows ?? DEFAULT_QUARANTINE_BUDGET_ROWS,
  };
  const over = !withinQuarantineBudget(quality, 2, c.file.rows.length + 2);
  return {
    ok: true,
    data: Buffer.concat([data, Buffer.from(`${footer}${c.file.eol}`, 'utf8')]),
    note: `appended a ${JSON.stringify(word)} row (label in "${label.name}") and a footer line ${JSON.stringify(footer)}${over ? `; 2 rows is over the quarantine budget of ${budgetLabel(quality)}` : ''}`,
    details: { columns: [label.name], addedRows: 2 },
    ...(over ? { expect: 'refused' as const } : {}),
  };
}

/**
 * A byte that is not UTF-8 (0x81: not a letter in latin-1 or cp1252 either, so the file is not
 * taken for latin-1) in a few lines: those lines are quarantined, the rest loads as UTF-8.
 */
function invalidByteLineKind(c: Ctx): Outcome {
  const k = Math.max(1, Math.floor(c.file.rows.length * 0.005));
  const chosen = c.rng.sample(c.file.rows.length, Math.min(k, c.file.rows.length));
  const lines = [c.file.header, ...c.file.rows].map((r) => Buffer.from(serializeRecord(r, c.file.delimiter), 'utf8'));
  for (const i of chosen) {
    const line = lines[i + 1] as Buffer;
    // Before the first letter or digit: never between a quote and its pair, or in a delimiter.
    const at = Math.max(
      0,
      line.findIndex((b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)),
    );
    lines[i + 1] = Buffer.concat([line.subarray(0, at), Buffer.from([0x81]), line.subarray(at)]);
  }
  const eol = Buffer.from(c.file.eol, 'utf8');
  const parts = lines.flatMap((l, i) => (i < lines.length - 1 || c.file.trailingNewline ? [l, eol] : [l]));
  const quality = {
    quarantineBudget: c.profile.quarantineBudget ?? 0.01,
    quarantineBudgetRows: c.profile.quarantineBudgetRows ?? DEFAULT_QUARANTINE_BUDGET_ROWS,
  };
  const over = !withinQuarantineBudget(quality, chosen.length, c.file.rows.length);
  const shown = chosen.slice(0, 5).map((i) => i + 1);
  return {
    ok: true,
    data: Buffer.concat([Buffer.from(c.file.bom ? '\uFEFF' : '', 'utf8'), ...parts]),
    note: `a 0x81 byte (not UTF-8) in ${chosen.length} line${chosen.length === 1 ? '' : 's'} (data row${chosen.length === 1 ? '' : 's'} ${shown.join(', ')}${chosen.length > 5 ? ', …' : ''})${over ? `; over the quarantine budget of ${budgetLabel(quality)}` : ''}`,
    details: { columns: [], rows: chosen },
    ...(over ? { expect: 'refused' as const } : {}),
  };
}

function dropColumn(c: Ctx, col: ColumnInfo, note: string): Outcome {
  const keep = (r: readonly string[]) => c.file.header.map((_, j) => cell(r, j)).filter((_, j) => j !== col.index);
  return {
    ok: true,
    data: write(c.file, keep(c.file.header), c.file.rows.map(keep)),
    note,
    details: { columns: [col.name], dropped: col.name },
  };
}

function clipText(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Decode input bytes as UTF-8; undefined when they are not valid UTF-8. */
function decode(input: string | Buffer): string | undefined {
  if (typeof input === 'string') return input;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
  } catch {
    return undefined;
  }
}

/**
 * Apply one kind of drift to a CSV (UTF-8, with a header). Pure: the same kind, text and seed give
 * the same bytes. A kind that does not apply to this file returns `applicable: false` and a reason.
 */
export function chaos(kind: ChaosKind, input: ChaosInput): ChaosResult {
  const info = chaosKindInfo(kind);
  if (!Number.isInteger(input.seed)) throw new TypeError(`chaos: the seed must be an integer, got ${input.seed}`);
  const notApplicable = (reason: string): ChaosResult => ({
    kind,
    applicable: false,
    note: `not applicable: ${reason}`,
    reason,
    expect: info.expect,
  });
  const text = decode(input.text);
  if (text === undefined) return notApplicable('the input is not UTF-8 text');
  const file = readCsvText(text);
  if (file.header.length === 0) return notApplicable('the input is empty');
  const needsRows = kind !== 'empty-file';
  if (needsRows && file.rows.length === 0) return notApplicable('the input has no data rows');
  const ctx: Ctx = { kind, file, cols: columnInfo(file), rng: new Rng(input.seed, kind), profile: input.profile ?? {} };
  const out = TRANSFORMS[kind](ctx);
  if (!out.ok) return notApplicable(out.reason);
  const details: ChaosDetails = {
    cleanRows: file.rows.length,
    completeRows: file.rows.length,
    delimiter: file.delimiter,
    encoding: 'utf-8',
    ...out.details,
  };
  return { kind, applicable: true, data: out.data, note: out.note, expect: out.expect ?? info.expect, details };
}

/** Read `inPath`, apply `kind`, write `outPath` (only when applicable). Refuses to overwrite the input. */
export async function writeChaos(
  kind: ChaosKind,
  inPath: string,
  outPath: string,
  seed: number,
  profile?: ChaosProfile,
): Promise<ChaosResult> {
  const src = path.resolve(inPath);
  const dst = path.resolve(outPath);
  let same = src === dst;
  try {
    same ||= fs.realpathSync(src) === fs.realpathSync(dst);
  } catch {
    // The output does not exist yet.
  }
  if (same) throw new Error(`${dst}: the output would overwrite the source`);
  const text = await fs.promises.readFile(src);
  const result = chaos(kind, { text, seed, ...(profile ? { profile } : {}) });
  if (result.applicable) {
    await fs.promises.mkdir(path.dirname(dst), { recursive: true });
    await fs.promises.writeFile(dst, result.data);
  }
  return result;
}
