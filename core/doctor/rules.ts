/**
 * The rules doctor: offline and deterministic. It reads the drift report, asks the probe about the
 * real drifted data, and proposes a patch only when every decision in it is settled by evidence —
 * values first (the baseline profile of the last good load), then names, then position. Whatever it
 * cannot settle with confidence is "no answer", never a guess.
 *
 * Order of work: refuse what no patch may fix (empty, truncated, malformed files, required values
 * gone, values that changed meaning: a distribution shift) → fix the reader (encoding, delimiter,
 * missing header) → pair every contract column whose source column is gone with a new source column
 * → make every mapped column parse again (number formats, date formats, boolean words) → default
 * optional columns left without a source → ignore new columns nobody claims → pin the new shape.
 */
import { nameSimilarity } from '../../common/names';
import type { Patch, PatchOp } from '../../common/patch';
import type { ContractColumn, CsvOptions, MappingEntry, PipelineSpec } from '../../common/spec';
import type { DriftKind } from '../../common/types';
import type { ColumnProfile } from '../etl/profile';
import type {
  Diagnosis,
  DiagnoseInput,
  Doctor,
  PreviousAttempt,
  ProbeResult,
  SourceProbe,
  SourceSummary,
} from './types';

/** Options of {@link createRulesDoctor}. */
export interface RulesDoctorOptions {
  /** Lowest confidence (0..1) of any decision in a patch for the doctor to answer at all. @default 0.8 */
  minConfidence?: number;
  /** Weight of value evidence (profile distance to the baseline) when pairing old and new columns. @default 0.55 */
  valueWeight?: number;
  /** Weight of name similarity (case, separators, camel/snake, tokens, abbreviations) when pairing. @default 0.4 */
  nameWeight?: number;
  /** Weight of an unchanged position when pairing: a tie-breaker, kept far below `minMargin` so position never decides. @default 0.02 */
  positionWeight?: number;
  /** How much the best candidate must beat the runner-up (pairing score, or value score for formats). @default 0.1 */
  minMargin?: number;
  /**
   * Largest profile distance (see {@link profileDistance}) at which parsed values still "match" the
   * baseline: a new column qualifies by values, a format candidate restores the column. @default 0.5
   */
  maxProfileDistance?: number;
  /** Name similarity at which a new column qualifies by name alone (its values must still parse). @default 0.85 */
  strongName?: number;
  /** strptime formats tried for date and timestamp columns, in order. @default {@link DATE_FORMAT_CANDIDATES} */
  dateFormats?: readonly string[];
  /** Delimiters tried when the report says the delimiter changed. @default [";", "\t", "|", ","] */
  delimiters?: readonly string[];
}

/** strptime formats tried when a date/timestamp column stops parsing (only those some sample fits are probed). */
export const DATE_FORMAT_CANDIDATES: readonly string[] = [
  '%Y-%m-%d',
  '%m/%d/%Y',
  '%d/%m/%Y',
  '%d.%m.%Y',
  '%Y/%m/%d',
  '%d-%m-%Y',
  '%m-%d-%Y',
  '%Y.%m.%d',
  '%Y%m%d',
  '%m/%d/%y',
  '%d/%m/%y',
  '%d-%b-%Y',
  '%d %b %Y',
  '%b %d %Y',
  '%b %d, %Y',
  '%B %d, %Y',
  '%d %B %Y',
  '%Y-%m-%dT%H:%M:%S',
  '%Y-%m-%dT%H:%M:%SZ',
  '%Y-%m-%dT%H:%M:%S.%f',
  '%Y-%m-%dT%H:%M:%S.%fZ',
  '%Y-%m-%d %H:%M:%S',
  '%Y-%m-%d %H:%M:%S.%f',
  '%Y-%m-%d %H:%M',
  '%Y/%m/%d %H:%M:%S',
  '%m/%d/%Y %H:%M:%S',
  '%d/%m/%Y %H:%M:%S',
  '%m/%d/%Y %H:%M',
  '%d/%m/%Y %H:%M',
  '%d.%m.%Y %H:%M:%S',
  '%d.%m.%Y %H:%M',
];

/** Words read as true / false (compared lower-case, as the load does). */
const TRUE_WORDS = ['true', 't', 'yes', 'y', 'on', '1', 'si', 'ja', 'oui'];
const FALSE_WORDS = ['false', 'f', 'no', 'n', 'off', '0', 'nein', 'non'];

/** Kinds no patch may fix: a partial or empty file must never replace a table. */
const FATAL_KINDS: Partial<Record<DriftKind, string>> = {
  'empty-file': 'the source file is empty',
  'no-rows': 'the source has no data rows',
  truncated: 'the source looks truncated (its last line is cut off)',
  'null-values': 'a required column lost its values',
  'malformed-rows': 'lines of the source do not split into the expected columns',
};

const DAY_MS = 86_400_000;

// -------------------------------------------------------------------------------------------------
// Profile distance

function dateMs(v: number | string | null): number | null {
  if (v == null) return null;
  const s = String(v).trim().replace(' ', 'T');
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s}${s.includes('T') ? '' : 'T00:00:00'}Z`);
  return Number.isFinite(ms) ? ms : null;
}

function shareOverlap(
  a: readonly { key: string; share: number }[],
  b: readonly { key: string; share: number }[],
): number {
  const m = new Map(a.map((x) => [x.key, x.share]));
  return b.reduce((acc, x) => acc + Math.min(x.share, m.get(x.key) ?? 0), 0);
}

/**
 * How far the profile `p` of parsed values is from the baseline profile `b` of the same contract
 * column: 0 for the same values, about 1 for a different column of the same type (e.g. daily
 * minimum vs maximum temperature), large for a wrong scale (cents, day/month swapped over a short
 * range). Sums null rate, distinct ratio, centre/range/spread (numbers), range (dates), length
 * (strings), shape classes and top-value overlap, each relative to the baseline.
 */
export function profileDistance(b: ColumnProfile, p: ColumnProfile): number {
  if (p.count === 0) return b.count === 0 ? 0 : Infinity;
  if (b.count === 0) return Infinity;
  let d = 2 * Math.abs(b.nullRate - p.nullRate);
  d += (0.5 * Math.abs(b.distinctRatio - p.distinctRatio)) / Math.max(b.distinctRatio, p.distinctRatio, 0.05);
  if (b.type === 'integer' || b.type === 'number') {
    const bmin = Number(b.min ?? 0);
    const bmax = Number(b.max ?? 0);
    const scale = Math.max(b.stddev ?? 0, Math.abs(bmax - bmin) / 6, Math.abs(b.mean ?? 0) * 0.001, 1e-9);
    const centre =
      (Math.abs((p.mean ?? 0) - (b.mean ?? 0)) + Math.abs((p.median ?? 0) - (b.median ?? 0))) / (2 * scale);
    const range =
      (Math.abs(Number(p.min ?? 0) - bmin) + Math.abs(Number(p.max ?? 0) - bmax)) / (2 * Math.max(bmax - bmin, scale));
    const spread = Math.abs(Math.log(((p.stddev ?? 0) + scale * 0.01) / ((b.stddev ?? 0) + scale * 0.01)));
    d += centre + 0.5 * range + 0.5 * spread;
  } else if (b.type === 'date' || b.type === 'timestamp') {
    const [bmin, bmax, pmin, pmax] = [dateMs(b.min), dateMs(b.max), dateMs(p.min), dateMs(p.max)];
    if (bmin != null && bmax != null && pmin != null && pmax != null) {
      const span = Math.max(bmax - bmin, DAY_MS);
      d += (Math.abs(pmin - bmin) + Math.abs(pmax - bmax)) / (2 * span);
    }
  } else if (b.type === 'string' && b.length && p.length) {
    d += Math.abs(p.length.mean - b.length.mean) / Math.max(b.length.mean, 1);
    d +=
      (0.25 * (Math.abs(p.length.min - b.length.min) + Math.abs(p.length.max - b.length.max))) /
      Math.max(b.length.max, 1);
  }
  if (b.patterns.length && p.patterns.length) {
    const overlap = shareOverlap(
      b.patterns.map((x) => ({ key: x.pattern, share: x.share })),
      p.patterns.map((x) => ({ key: x.pattern, share: x.share })),
    );
    d += (b.type === 'string' ? 1 : 0.5) * Math.max(0, 1 - overlap);
  }
  if (b.topValues && p.topValues) {
    const overlap = shareOverlap(
      b.topValues.map((x) => ({ key: x.value, share: x.share })),
      p.topValues.map((x) => ({ key: x.value, share: x.share })),
    );
    d += Math.max(0, 1 - overlap);
  } else if ((b.topValues === null) !== (p.topValues === null) && b.type !== 'date' && b.type !== 'timestamp') {
    d += 1;
  }
  return Math.round(d * 1e4) / 1e4;
}

function fmtNum(x: number | string | null | undefined): string {
  if (x == null) return 'n/a';
  if (typeof x === 'string') return x;
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

/** The figure that says the most about a profile, next to the baseline's. */
function figureOf(p: ColumnProfile | null, b: ColumnProfile | undefined): string {
  if (!p) return 'no values';
  if (p.type === 'integer' || p.type === 'number')
    return `median ${fmtNum(p.median)}${b ? ` vs baseline ${fmtNum(b.median)}` : ''}`;
  if (p.type === 'date' || p.type === 'timestamp')
    return `range ${fmtNum(p.min)}..${fmtNum(p.max)}${b ? ` vs baseline ${fmtNum(b.min)}..${fmtNum(b.max)}` : ''}`;
  if (p.type === 'boolean') {
    const t = (x: ColumnProfile) => x.topValues?.find((v) => v.value === 'true')?.share ?? 0;
    return `${pct(t(p))} true${b ? ` vs baseline ${pct(t(b))}` : ''}`;
  }
  return `mean length ${fmtNum(p.length?.mean)}${b ? ` vs baseline ${fmtNum(b.length?.mean)}` : ''}`;
}

function pct(x: number): string {
  return `${(Math.round(x * 1000) / 10).toString()}%`;
}

/** A header name that is really a value (number, date, boolean, DuckDB's columnN): the header is missing. */
function looksLikeValue(name: string): boolean {
  const t = name.trim();
  return (
    /^[+-]?[$€£]?[0-9][0-9.,]*%?$/.test(t) ||
    /^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}/.test(t) ||
    /^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}/.test(t) ||
    /^(true|false|yes|no)$/i.test(t) ||
    /^column\d+$/.test(t)
  );
}

// -------------------------------------------------------------------------------------------------
// Candidates for a column that no longer parses

/** A way to read one contract column from one source column. */
interface ReadOption {
  /** Healing ops for the column (format / clean / booleans); empty = read as the entry says. */
  ops: PatchOp[];
  entry: MappingEntry;
  result: ProbeResult;
  /** Profile distance to the baseline; NaN when there is no baseline for the column. */
  distance: number;
  label: string;
}

/** A strptime format as a regular expression, to pre-select formats some sample could fit. */
function formatRegex(format: string): RegExp {
  let re = '';
  for (let i = 0; i < format.length; i++) {
    const ch = format[i] ?? '';
    if (ch === '%' && i + 1 < format.length) {
      const f = format[++i];
      re +=
        f === 'Y'
          ? '\\d{4}'
          : f === 'y'
            ? '\\d{2}'
            : f === 'm' || f === 'd' || f === 'H' || f === 'M' || f === 'S' || f === 'I'
              ? '\\d{1,2}'
              : f === 'f'
                ? '\\d{1,9}'
                : f === 'b'
                  ? '[A-Za-z]{3}\\.?'
                  : f === 'B'
                    ? '[A-Za-z]{3,}'
                    : f === 'p'
                      ? '[AaPp][Mm]'
                      : f === 'j'
                        ? '\\d{1,3}'
                        : '.+';
    } else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Substrings that are neither digits nor separators: currency symbols, units, percent. */
function numberSymbols(samples: readonly string[], patterns: readonly string[]): string[] {
  const out = new Set<string>();
  for (const s of samples) {
    for (const m of s.matchAll(/[^0-9.,+\-\s]+/g)) {
      const tok = m[0];
      if (/^[eE]$/.test(tok) && /\d[eE][+-]?\d/.test(s)) continue;
      if (tok.length <= 8) out.add(tok);
    }
  }
  // Shape classes keep symbols but collapse letters to "a" and digits to "9" (masked columns have only these).
  for (const p of patterns) {
    for (const m of p.matchAll(/[^9.,+\-\s]+/g)) if (!/[A-Za-z]/.test(m[0]) && m[0].length <= 8) out.add(m[0]);
  }
  return [...out].sort();
}

interface Cleaning {
  strip: string[];
  replace: { from: string; to: string }[];
  label: string;
}

/** Cleanings worth trying for numbers written with symbols, thousands separators or a decimal comma. */
/** Digit-and-separator shape of a sample or pattern: "$10,620" → "99,999". */
function numberShape(s: string): string {
  return s.replace(/[0-9]/g, '9').replace(/[^9.,]/g, '');
}

/** Every value is a plain number or groups its thousands with "," (so stripping "," is safe). */
const COMMA_GROUPED = /^9{1,3}(,999)*(\.9+)?$|^9*(\.9+)?$/;
/** Every value is a plain number with a decimal comma or groups its thousands with "." (so stripping "." is safe). */
const DOT_GROUPED = /^9{1,3}(\.999)*(,9+)?$|^9*(,9+)?$/;

/**
 * Cleanings worth trying for numbers written with symbols, thousands separators or a decimal comma.
 * `shapes` are the column's samples and shape classes: a separator is stripped as a thousands
 * separator only when every shape groups digits by three around it ("4620.33" keeps its point).
 */
function numberCleanings(samples: readonly string[], patterns: readonly string[]): Cleaning[] {
  const texts = [...samples, ...patterns];
  const shapes = [...new Set(texts.map(numberShape).filter((x) => x.includes('9')))];
  const symbols = numberSymbols(samples, patterns);
  const spaced = texts.some((s) => /\d[ \u00a0\u202f]\d/.test(s));
  const spaces = spaced ? [' ', '\u00a0', '\u202f'].filter((sp) => texts.some((s) => s.includes(sp))) : [];
  const base = [...symbols, ...spaces];
  const hasComma = texts.some((s) => /\d,\d/.test(s));
  const dotThousands = texts.some((s) => /\d\.\d{3}(\.|,|$|\D)/.test(s));
  const plausible = texts.some(
    (s) => /\d/.test(s) && /^[+-]?[\d.,\s\u00a0\u202f]+$/.test(base.reduce((x, t) => x.split(t).join(''), s).trim()),
  );
  if (!plausible) return [];
  const show = (xs: readonly string[]) => xs.map((x) => (x.trim() ? x : JSON.stringify(x))).join(' and ');
  const out: Cleaning[] = [];
  if (hasComma && shapes.every((x) => COMMA_GROUPED.test(x)))
    out.push({ strip: [...base, ','], replace: [], label: `strip ${show([...base, ','])}` });
  if ((hasComma || dotThousands) && shapes.every((x) => DOT_GROUPED.test(x))) {
    out.push({
      strip: [...base, '.'],
      replace: hasComma ? [{ from: ',', to: '.' }] : [],
      label: `strip ${show([...base, '.'])}${hasComma ? ', decimal comma "," → "."' : ''}`,
    });
  }
  if (base.length) out.push({ strip: base, replace: [], label: `strip ${show(base)}` });
  return out.filter((c) => c.strip.length <= 8);
}

function booleanWords(samples: readonly string[]): { trueValues: string[]; falseValues: string[] } | undefined {
  const seen = [...new Set(samples.map((s) => s.trim().toLowerCase()))];
  const t = seen.filter((s) => TRUE_WORDS.includes(s));
  const f = seen.filter((s) => FALSE_WORDS.includes(s));
  if (!t.length || !f.length) return undefined;
  return { trueValues: t, falseValues: f };
}

// -------------------------------------------------------------------------------------------------
// Previous attempts

function sig(ops: readonly PatchOp[]): string {
  return JSON.stringify(ops.map((o) => JSON.stringify(o)).sort());
}

function opsFor(patch: readonly PatchOp[], column: string): PatchOp[] {
  return patch.filter((o) => 'column' in o && o.column === column);
}

interface Bans {
  /** Contract column → signatures of its ops in patches whose verification failed on that column. */
  columns: Map<string, Set<string>>;
  /** Whole patches that failed. */
  patches: { attempt: number; sig: string; error: string }[];
}

function collectBans(previous: readonly PreviousAttempt[], spec: PipelineSpec): Bans {
  const contract = new Set(spec.contract.columns.map((c) => c.name));
  const bans: Bans = { columns: new Map(), patches: [] };
  for (const p of previous) {
    if (!p.patch) continue;
    bans.patches.push({ attempt: p.attempt, sig: JSON.stringify(p.patch), error: p.error });
    const failed = new Set<string>();
    for (const c of p.report?.checks ?? []) {
      if (c.passed) continue;
      const i = c.name.indexOf(':');
      const col = i >= 0 ? c.name.slice(i + 1) : '';
      if (contract.has(col)) failed.add(col);
    }
    for (const col of failed) {
      const set = bans.columns.get(col) ?? new Set<string>();
      set.add(sig(opsFor(p.patch, col)));
      bans.columns.set(col, set);
    }
  }
  return bans;
}

// -------------------------------------------------------------------------------------------------
// Pairing missing columns with new ones

interface Scored {
  col: { name: string };
  u: string;
  score: number;
}

/** Largest number of search steps when pairing (beyond it, the pairing is "too ambiguous to search"). */
const PAIRING_SEARCH_LIMIT = 200_000;

/**
 * The injective assignment (missing column → new column, or none) with the largest total score,
 * optionally without one pair. Branch and bound over the eligible pairs; deterministic.
 */
function bestAssignment<P extends Scored>(
  columns: readonly string[],
  eligible: readonly P[],
  without: P | undefined,
): { score: number; pairs: P[] } {
  const byCol = columns.map((c) => eligible.filter((p) => p.col.name === c && p !== without));
  const maxRest = byCol.map((_, i) => byCol.slice(i).reduce((a, ps) => a + (ps[0]?.score ?? 0), 0));
  let best: { score: number; pairs: P[] } = { score: 0, pairs: [] };
  let steps = 0;
  const used = new Set<string>();
  const chosen: P[] = [];
  const walk = (i: number, score: number) => {
    if (++steps > PAIRING_SEARCH_LIMIT)
      throw new NoAnswer(`too many plausible pairings of ${columns.length} missing columns to decide`, false);
    if (score + (maxRest[i] ?? 0) <= best.score + 1e-12) return;
    if (i === byCol.length) {
      best = { score, pairs: [...chosen] };
      return;
    }
    for (const p of byCol[i] ?? []) {
      if (used.has(p.u)) continue;
      used.add(p.u);
      chosen.push(p);
      walk(i + 1, score + p.score);
      chosen.pop();
      used.delete(p.u);
    }
    walk(i + 1, score);
  };
  walk(0, 0);
  return best;
}

// -------------------------------------------------------------------------------------------------
// The doctor

interface Decision {
  what: string;
  confidence: number;
}

class NoAnswer extends Error {
  constructor(
    readonly reason: string,
    readonly fatal: boolean,
  ) {
    super(reason);
  }
}

/** Create the rules doctor (offline, deterministic). */
export function createRulesDoctor(opts: RulesDoctorOptions = {}): Doctor {
  const o = {
    minConfidence: opts.minConfidence ?? 0.8,
    valueWeight: opts.valueWeight ?? 0.55,
    nameWeight: opts.nameWeight ?? 0.4,
    positionWeight: opts.positionWeight ?? 0.02,
    minMargin: opts.minMargin ?? 0.1,
    maxProfileDistance: opts.maxProfileDistance ?? 0.5,
    strongName: opts.strongName ?? 0.85,
    dateFormats: opts.dateFormats ?? DATE_FORMAT_CANDIDATES,
    delimiters: opts.delimiters ?? [';', '\t', '|', ','],
  };

  return {
    name: 'rules',
    async diagnose(input: DiagnoseInput, probe: SourceProbe): Promise<Diagnosis> {
      try {
        return await diagnose(input, probe);
      } catch (err) {
        if (err instanceof NoAnswer)
          return { kind: 'no-answer', doctor: 'rules', reason: err.reason, fatal: err.fatal };
        throw err;
      }
    },
  };

  async function diagnose(input: DiagnoseInput, probe: SourceProbe): Promise<Diagnosis> {
    const { spec, drift, baseline } = input;
    const minRate = 1 - spec.quality.quarantineBudget;
    const rationale: string[] = [];
    const decisions: Decision[] = [];
    const decide = (what: string, confidence: number, line: string) => {
      decisions.push({ what, confidence });
      rationale.push(line);
    };
    const kinds = new Set(drift.differences.map((d) => d.kind));
    const bans = collectBans(input.previous, spec);
    const baseOf = (col: string) => baseline?.columns.find((c) => c.name === col);

    // 1. What no patch may fix.
    const shift = drift.differences.find((d) => d.kind === 'distribution-shift');
    if (shift) {
      throw new NoAnswer(
        `distribution-shift: a column's values changed meaning (e.g. a unit change); refusing rather than loading it as if nothing happened — ${shift.detail}`,
        true,
      );
    }
    for (const d of drift.differences) {
      const why = FATAL_KINDS[d.kind];
      if (why)
        throw new NoAnswer(
          `${d.kind}: ${why} — ${d.detail}; a partial or empty file must never replace the table`,
          true,
        );
    }
    if (!drift.differences.length) throw new NoAnswer('the drift report lists no difference to heal', false);

    // 2. The reader.
    const reader: Partial<CsvOptions> = {};
    const isCsv = spec.source.format === 'csv';
    const expected = spec.source.columns;
    let summary: SourceSummary | { error: string } = input.source;
    const overlapWithExpected = (s: SourceSummary) => s.columns.filter((c) => expected.includes(c.name)).length;
    /** "1461 rows", or "the first 200000 rows" when the probe read only part of the source. */
    const rowsOf = (s: SourceSummary) => (s.complete ? `${s.rows} rows` : `the first ${s.rows} rows`);

    // The report may classify a file in another encoding as renamed columns (garbled names): the
    // reader's own complaint about the encoding counts too.
    const encodingError = 'error' in summary && /encod|unicode/i.test(summary.error);
    if (kinds.has('encoding-change') || (isCsv && encodingError)) {
      if (!isCsv) throw new NoAnswer('encoding-change on a non-CSV source: nothing a reader option can change', false);
      let found: SourceSummary | undefined;
      const tried: string[] = [];
      for (const encoding of (['latin-1', 'utf-16', 'utf-8'] as const).filter((e) => e !== spec.source.csv.encoding)) {
        const s = await probe.summarize({ ...reader, encoding });
        // The expected names must come back (a UTF-16 file read as latin-1 has the right count of garbled names).
        const ok =
          !('error' in s) &&
          s.rows > 0 &&
          (overlapWithExpected(s) > 0 || (kinds.has('header-missing') && s.columns.length === expected.length));
        tried.push(
          `${encoding}: ${'error' in s ? s.error : `${rowsOf(s)}, ${overlapWithExpected(s)} of ${expected.length} expected names`}`,
        );
        if (ok) {
          reader.encoding = encoding;
          found = s;
          break;
        }
      }
      if (!found)
        throw new NoAnswer(
          `the source is not ${spec.source.csv.encoding} and no other encoding reads it (${tried.join('; ')})`,
          false,
        );
      summary = found;
      decide(
        'encoding',
        1,
        `reader: encoding ${reader.encoding} → ${rowsOf(found)}, ${overlapWithExpected(found)} of ${expected.length} expected column names`,
      );
    }

    const oneColumn = (s: SourceSummary | { error: string }) =>
      !('error' in s) && s.columns.length === 1 && expected.length > 1;
    if (isCsv && (kinds.has('delimiter-change') || (Object.keys(reader).length > 0 && oneColumn(summary)))) {
      const foundDelim = drift.differences.find((d) => d.kind === 'delimiter-change')?.found;
      const candidates = [...new Set([...(foundDelim ? [foundDelim] : []), ...o.delimiters])].filter(
        (d) => d !== spec.source.csv.delimiter,
      );
      let best: { delimiter: string; s: SourceSummary; overlap: number } | undefined;
      const tried: string[] = [];
      for (const delimiter of candidates) {
        const s = await probe.summarize({ ...reader, delimiter });
        if ('error' in s) {
          tried.push(`${JSON.stringify(delimiter)}: ${s.error}`);
          continue;
        }
        const overlap = overlapWithExpected(s);
        tried.push(`${JSON.stringify(delimiter)}: ${s.columns.length} columns, ${overlap} expected names`);
        if (s.columns.length < 2 || s.rows === 0) continue;
        const better =
          !best ||
          overlap > best.overlap ||
          (overlap === best.overlap &&
            Math.abs(s.columns.length - expected.length) < Math.abs(best.s.columns.length - expected.length));
        if (better) best = { delimiter, s, overlap };
      }
      if (!best || (best.overlap === 0 && best.s.columns.length !== expected.length)) {
        throw new NoAnswer(
          `the delimiter changed and no candidate delimiter gives back the expected columns (${tried.join('; ')})`,
          false,
        );
      }
      reader.delimiter = best.delimiter;
      summary = best.s;
      decide(
        'delimiter',
        best.overlap > 0 ? 1 : 0.85,
        `reader: delimiter ${JSON.stringify(best.delimiter)} → ${best.s.columns.length} columns, ${best.overlap} of ${expected.length} expected names`,
      );
    }

    // A header can go missing together with another reader change (the report then names only the
    // first): no expected name back, as many columns as expected, and names that look like values.
    const looksHeaderless = (x: SourceSummary | { error: string }) =>
      !('error' in x) &&
      overlapWithExpected(x) === 0 &&
      x.columns.length === expected.length &&
      x.columns.filter((c) => looksLikeValue(c.name)).length * 2 >= x.columns.length;
    const headerMissing =
      isCsv && (kinds.has('header-missing') || (Object.keys(reader).length > 0 && looksHeaderless(summary)));
    if (headerMissing) {
      reader.header = false;
      summary = await probe.summarize(reader);
      if ('error' in summary) throw new NoAnswer(`the source does not read without a header: ${summary.error}`, false);
      decide(
        'header',
        1,
        `reader: header=false → ${summary.columns.length} columns, ${rowsOf(summary)} (the first line holds values)`,
      );
    }

    if ('error' in summary) summary = await probe.summarize(Object.keys(reader).length ? reader : undefined);
    if ('error' in summary) throw new NoAnswer(`the source cannot be read: ${summary.error}`, false);
    const src: SourceSummary = summary;
    const readerArg = Object.keys(reader).length ? reader : undefined;
    if (!src.complete) {
      rationale.push(
        `probe: parse rates and profiles below are from the first ${src.rows} rows of the source (it has more); verification proves the patch on the whole file`,
      );
    }
    const now = src.columns.map((c) => c.name);
    const samplesOf = (sourceColumn: string, column?: string): string[] => {
      const fromSummary = src.columns.find((c) => c.name === sourceColumn)?.samples ?? [];
      const fromDrift = drift.differences
        .filter((d) => d.samples && (d.sourceColumn === sourceColumn || (column !== undefined && d.column === column)))
        .flatMap((d) => d.samples ?? []);
      return [...new Set([...fromDrift, ...fromSummary])].filter((s) => s !== '***');
    };

    const patternsOf = (sourceColumn: string) =>
      src.columns.find((c) => c.name === sourceColumn)?.patterns.map((x) => x.pattern) ?? [];

    // Ways to read `col` through `entry` (from a given source column): as is, else healed.
    const optionCache = new Map<string, Promise<ReadOption[]>>();
    async function readOptions(
      col: ContractColumn,
      entry: MappingEntry,
      mapOps: PatchOp[],
      forceAlternatives = false,
    ): Promise<ReadOption[]> {
      const key = JSON.stringify([col.name, entry, mapOps, forceAlternatives]);
      let p = optionCache.get(key);
      if (!p) {
        p = computeReadOptions(col, entry, mapOps, forceAlternatives);
        optionCache.set(key, p);
      }
      return p;
    }

    async function measure(
      col: ContractColumn,
      entry: MappingEntry,
      ops: PatchOp[],
      label: string,
    ): Promise<ReadOption> {
      const result = await probe.tryColumn(col, entry, readerArg);
      const b = baseOf(col.name);
      const distance = b && result.profile ? profileDistance(b, result.profile) : b ? Infinity : NaN;
      return { ops, entry, result, distance, label };
    }

    async function computeReadOptions(
      col: ContractColumn,
      entry: MappingEntry,
      mapOps: PatchOp[],
      forceAlternatives: boolean,
    ): Promise<ReadOption[]> {
      const banned = bans.columns.get(col.name);
      const raw = await measure(col, entry, [], 'as is');
      const rawBanned = banned?.has(sig([...mapOps])) ?? false;
      const out: ReadOption[] = [];
      if (raw.result.rate >= minRate && !rawBanned) {
        out.push(raw);
        if (!forceAlternatives) return out;
      }
      if (col.type === 'string' || entry.from === undefined) return out;
      const samples = samplesOf(entry.from, col.name);
      const candidates: { ops: PatchOp[]; entry: MappingEntry; label: string }[] = [];
      if (col.type === 'integer' || col.type === 'number') {
        for (const c of numberCleanings(samples, patternsOf(entry.from))) {
          const op: PatchOp = {
            op: 'clean',
            column: col.name,
            strip: c.strip,
            ...(c.replace.length || entry.replace?.length ? { replace: c.replace } : {}),
          };
          const e: MappingEntry = {
            ...entry,
            strip: c.strip,
            ...(c.replace.length || entry.replace?.length ? { replace: c.replace } : {}),
          };
          candidates.push({ ops: [op], entry: e, label: c.label });
        }
      } else if (col.type === 'date' || col.type === 'timestamp') {
        const current = entry.format ?? col.format;
        for (const f of o.dateFormats) {
          if (f === current) continue;
          const re = formatRegex(f);
          if (![...samples, ...patternsOf(entry.from)].some((s) => re.test(s.trim()))) continue;
          candidates.push({
            ops: [{ op: 'format', column: col.name, format: f }],
            entry: { ...entry, format: f },
            label: `format ${f}`,
          });
        }
      } else if (col.type === 'boolean') {
        const words = booleanWords(samples);
        if (words) {
          candidates.push({
            ops: [{ op: 'booleans', column: col.name, ...words }],
            entry: { ...entry, ...words },
            label: `booleans true=${words.trueValues.join('/')} false=${words.falseValues.join('/')}`,
          });
        }
      }
      for (const c of candidates) {
        if (banned?.has(sig([...mapOps, ...c.ops]))) continue;
        const m = await measure(col, c.entry, c.ops, c.label);
        if (m.result.rate >= minRate) out.push(m);
      }
      return out;
    }

    /** Value evidence in (0, 1]; 0.5 (neutral) when there is no baseline to compare with. */
    const valueScore = (distance: number) => (Number.isNaN(distance) ? 0.5 : 1 / (1 + distance));
    /** Confidence of a format fix: its value evidence; without a baseline, a unique candidate that parses reaches the default bar. */
    const formatConfidence = (distance: number) => (Number.isNaN(distance) ? 0.8 : 1 / (1 + distance));
    const matches = (r: ReadOption) => Number.isNaN(r.distance) || r.distance <= o.maxProfileDistance;

    /**
     * Choose among the parse-able ways to read a column: the one closest to the baseline, if it
     * matches the baseline and clearly beats the runner-up (or the two load the same numbers).
     */
    function choose(col: ContractColumn, options: ReadOption[], what: string): ReadOption {
      const b = baseOf(col.name);
      const tried = options.map(
        (x) =>
          `${x.label}: ${pct(x.result.rate)} parse, ${figureOf(x.result.profile, b)}${Number.isNaN(x.distance) ? '' : `, distance ${x.distance.toFixed(2)}`}`,
      );
      const ok = options
        .filter(matches)
        .sort((x, y) => (Number.isNaN(x.distance) ? 0 : x.distance) - (Number.isNaN(y.distance) ? 0 : y.distance));
      const [first, second] = ok;
      if (!first) {
        throw new NoAnswer(
          `${what}: no candidate restores the baseline profile${tried.length ? ` (${tried.join('; ')})` : ' (no candidate parses the values)'}`,
          false,
        );
      }
      if (second) {
        const margin = valueScore(first.distance) - valueScore(second.distance);
        const same =
          (col.type === 'integer' || col.type === 'number') &&
          first.result.profile &&
          second.result.profile &&
          profileDistance(first.result.profile, second.result.profile) === 0;
        if (!same && (margin < o.minMargin || Number.isNaN(first.distance))) {
          throw new NoAnswer(
            `${what}: ambiguous — ${first.label} and ${second.label} both parse and match the baseline about equally (${tried.join('; ')})`,
            false,
          );
        }
      }
      return first;
    }

    const patchOps: { column: string; ops: PatchOp[] }[] = [];
    const claimed = new Set<string>();
    const oldPos = (c: string) => expected.indexOf(c);

    // 3. Which source column each contract column is read from.
    const mapped = spec.contract.columns.filter(
      (c) => spec.mapping[c.name]?.from !== undefined && spec.mapping[c.name]?.expr === undefined,
    );
    if (headerMissing) {
      if (now.length !== expected.length) {
        throw new NoAnswer(
          `without a header the source has ${now.length} columns, the spec expects ${expected.length}: cannot map by position`,
          false,
        );
      }
      if (!baseline)
        throw new NoAnswer(
          'the header is missing and there is no baseline profile to confirm a positional mapping',
          false,
        );
      for (const col of mapped) {
        const entry = spec.mapping[col.name] ?? {};
        const i = oldPos(entry.from ?? '');
        const u = now[i];
        if (u === undefined)
          throw new NoAnswer(`${col.name}: its source column "${entry.from}" is not among the expected columns`, false);
        const map: PatchOp = { op: 'map', column: col.name, from: u };
        const opts2 = await readOptions(col, { ...entry, from: u }, [map]);
        const chosen = choose(col, opts2, `${col.name} ← ${u} (position ${i})`);
        claimed.add(u);
        patchOps.push({ column: col.name, ops: [map, ...chosen.ops] });
        decide(
          col.name,
          valueScore(chosen.distance),
          `${col.name} ← ${u} (position ${i}, was "${entry.from}"): ${chosen.ops.length ? `${chosen.label} → ` : ''}${pct(chosen.result.rate)} parse, ${figureOf(chosen.result.profile, baseOf(col.name))}, distance ${chosen.distance.toFixed(2)}`,
        );
      }
    } else {
      const kept = mapped.filter((c) => now.includes(spec.mapping[c.name]?.from ?? ''));
      const missing = mapped.filter((c) => !now.includes(spec.mapping[c.name]?.from ?? ''));
      for (const c of kept) claimed.add(spec.mapping[c.name]?.from ?? '');
      const fresh = now.filter((c) => !expected.includes(c) && !claimed.has(c));

      interface Pair {
        col: ContractColumn;
        u: string;
        option: ReadOption;
        value: number;
        name: number;
        position: number;
        score: number;
        eligible: boolean;
      }
      const pairs: Pair[] = [];
      for (const col of missing) {
        const entry = spec.mapping[col.name] ?? {};
        const old = entry.from ?? '';
        for (const u of fresh) {
          const map: PatchOp = { op: 'map', column: col.name, from: u };
          const options = (await readOptions(col, { ...entry, from: u }, [map])).sort(
            (x, y) => (Number.isNaN(x.distance) ? 0 : x.distance) - (Number.isNaN(y.distance) ? 0 : y.distance),
          );
          const option = options[0];
          if (!option) continue;
          const value = valueScore(option.distance);
          const name = Math.max(nameSimilarity(old, u), nameSimilarity(col.name, u));
          const position = oldPos(old) === now.indexOf(u) ? 1 : 0;
          const score = o.valueWeight * value + o.nameWeight * name + o.positionWeight * position;
          const eligible =
            (!Number.isNaN(option.distance) && option.distance <= o.maxProfileDistance) ||
            (name >= o.strongName && (Number.isNaN(option.distance) || option.distance <= 3 * o.maxProfileDistance));
          pairs.push({ col, u, option, value, name, position, score, eligible });
        }
      }
      const describePair = (p: Pair) =>
        `${p.u} (score ${p.score.toFixed(2)}: ${p.option.ops.length ? `${p.option.label}, ` : ''}${figureOf(p.option.result.profile, baseOf(p.col.name))}${Number.isNaN(p.option.distance) ? '' : `, distance ${p.option.distance.toFixed(2)}`}, name ${p.name.toFixed(2)}${p.position ? ', same position' : ''})`;

      // The best assignment of new columns to missing ones (sum of pair scores); each of its pairs
      // must beat the best assignment without it by the margin, else the pairing is ambiguous.
      const eligible = pairs.filter((p) => p.eligible).sort((x, y) => y.score - x.score || x.u.localeCompare(y.u));
      const best = bestAssignment(
        missing.map((c) => c.name),
        eligible,
        undefined,
      );
      const done = new Set<string>();
      for (const p of best.pairs) {
        const alt = bestAssignment(
          missing.map((c) => c.name),
          eligible,
          p,
        );
        const margin = best.score - alt.score;
        const rivalFor = alt.pairs.find((q) => q.col.name === p.col.name);
        const rivalOf = alt.pairs.find((q) => q.u === p.u);
        const runnerUp = [
          rivalFor ? `${p.col.name} ← ${describePair(rivalFor)}` : `${p.col.name} unmapped`,
          ...(rivalOf && rivalOf !== rivalFor ? [`${rivalOf.col.name} ← ${describePair(rivalOf)}`] : []),
        ].join(' and ');
        if (margin < o.minMargin) {
          throw new NoAnswer(
            `ambiguous pairing: ${p.col.name} ← ${describePair(p)} or ${runnerUp} — the best pairing beats the next by ${margin.toFixed(2)} < ${o.minMargin}`,
            false,
          );
        }
        done.add(p.col.name);
        claimed.add(p.u);
        const map: PatchOp = { op: 'map', column: p.col.name, from: p.u };
        patchOps.push({ column: p.col.name, ops: [map, ...p.option.ops] });
        decide(
          p.col.name,
          Math.min(1, p.score + margin),
          `${p.col.name} ← ${describePair(p)}, was "${spec.mapping[p.col.name]?.from}"; next best: ${runnerUp} (margin ${margin.toFixed(2)})`,
        );
      }
      const unpaired = missing.filter((c) => !done.has(c.name));
      for (const col of unpaired) {
        const old = spec.mapping[col.name]?.from ?? '';
        const near = pairs
          .filter((p) => p.col === col)
          .sort((x, y) => y.score - x.score)
          .slice(0, 2)
          .map(describePair);
        const leftover = fresh.filter((u) => !claimed.has(u));
        if (!col.required) {
          const op: PatchOp = { op: 'default', column: col.name, value: null };
          if (bans.columns.get(col.name)?.has(sig([op])))
            throw new NoAnswer(`${col.name}: defaulting it to null already failed verification`, false);
          patchOps.push({ column: col.name, ops: [op] });
          decide(
            col.name,
            1,
            `${col.name}: optional, source column "${old}" is gone and no new column matches${near.length ? ` (closest: ${near.join('; ')})` : ''} → default null`,
          );
        } else if (!leftover.length || !pairs.some((p) => p.col === col)) {
          // Nothing to map: no new column at all, or none whose values parse as this column's type even after cleaning.
          throw new NoAnswer(
            `required column ${col.name}: source column "${old}" is gone and ${leftover.length ? `no new column (${leftover.join(', ')}) parses as ${col.type}` : 'the source has no new column it could be read from'}`,
            true,
          );
        } else {
          throw new NoAnswer(
            `required column ${col.name}: source column "${old}" is gone and no new column matches its values or name (closest: ${near.join('; ')})`,
            false,
          );
        }
      }

      // 4. Columns read as before must still parse. When the report is only about values, the load
      // already checked every column and named the failing ones; otherwise nothing was checked yet.
      const valuesChecked = [...kinds].every((k) => k === 'format-change' || k === 'type-change');
      const named = new Set(drift.differences.flatMap((d) => (d.column ? [d.column] : [])));
      for (const col of kept) {
        const entry = spec.mapping[col.name] ?? {};
        const banned = bans.columns.get(col.name)?.has(sig([])) ?? false;
        if (!banned && (col.type === 'string' || (valuesChecked && !named.has(col.name)))) continue;
        const raw = await probe.tryColumn(col, entry, readerArg);
        if (raw.rate >= minRate && !banned) continue;
        const options = await readOptions(col, entry, [], banned);
        const what = `${col.name} (source "${entry.from}", ${pct(raw.rate)} parse as ${col.type}${(entry.format ?? col.format) ? ` ${entry.format ?? col.format}` : ''})`;
        if (!options.length) {
          const samples = samplesOf(entry.from ?? '', col.name);
          const never =
            col.type !== 'string' &&
            col.type !== 'boolean' &&
            samples.length > 0 &&
            samples.every((s) => !/\d/.test(s));
          const epoch =
            (col.type === 'date' || col.type === 'timestamp') &&
            samples.length > 0 &&
            samples.every((s) => /^\d{9,13}$/.test(s.trim()));
          throw new NoAnswer(
            `${what}: ${epoch ? 'values look like epoch seconds, which no strptime format expresses' : never ? 'the values hold no digits at all: nothing could parse them' : 'no cleaning or format makes the values parse'}${
              samples.length
                ? ` (e.g. ${samples
                    .slice(0, 3)
                    .map((s) => JSON.stringify(s))
                    .join(', ')})`
                : ''
            }`,
            never,
          );
        }
        const chosen = choose(col, options, what);
        patchOps.push({ column: col.name, ops: chosen.ops });
        decide(
          col.name,
          formatConfidence(chosen.distance),
          `${col.name}: ${chosen.label} → ${pct(chosen.result.rate)} parse, ${figureOf(chosen.result.profile, baseOf(col.name))}${Number.isNaN(chosen.distance) ? ' (no baseline)' : `, distance ${chosen.distance.toFixed(2)}`}`,
        );
      }
    }

    // 5. New columns nobody reads, and the new shape.
    const ignoreOps: PatchOp[] = [];
    for (const c of now) {
      if (claimed.has(c) || spec.source.ignore.includes(c) || (!headerMissing && expected.includes(c))) continue;
      ignoreOps.push({ op: 'ignore', sourceColumn: c });
      rationale.push(`ignore new source column "${c}" (no contract column reads it)`);
    }
    const order = new Map(spec.contract.columns.map((c, i) => [c.name, i]));
    const patch: Patch = [
      ...(readerArg ? [{ op: 'reader' as const, ...reader }] : []),
      ...patchOps.sort((a, b) => (order.get(a.column) ?? 0) - (order.get(b.column) ?? 0)).flatMap((p) => p.ops),
      ...ignoreOps,
      { op: 'shape', columns: now },
    ];
    rationale.push(`shape: the source columns are now ${now.join(', ')}`);

    const same = bans.patches.find((b) => b.sig === JSON.stringify(patch));
    if (same)
      throw new NoAnswer(
        `my best patch is the one attempt ${same.attempt} already tried, and it failed (${same.error}); no other candidate is left`,
        false,
      );

    const confidence = decisions.length ? Math.min(...decisions.map((d) => d.confidence)) : 1;
    if (confidence < o.minConfidence) {
      const weakest = decisions
        .filter((d) => d.confidence < o.minConfidence)
        .map((d) => `${d.what} ${d.confidence.toFixed(2)}`);
      throw new NoAnswer(
        `not confident enough (${weakest.join(', ')} < ${o.minConfidence}): ${rationale.join(' | ')}`,
        false,
      );
    }
    return { kind: 'patch', doctor: 'rules', patch, confidence: Math.round(confidence * 1000) / 1000, rationale };
  }
}
