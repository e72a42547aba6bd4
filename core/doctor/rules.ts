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
import { nameSimilarity, toIdentifier } from '../../common/names';
import { policyFor, WIDENINGS } from '../../common/policy';
import { detectUnitChange } from '../etl/silent-drift';
import type { Patch, PatchOp } from '../../common/patch';
import type { ColumnType, ContractColumn, CsvOptions, MappingEntry, PipelineSpec } from '../../common/spec';
import type { DriftDifference, DriftKind, DriftReport } from '../../common/types';
import { DEFAULT_UNIT_FACTORS, ENCODINGS, quarantineAllowance, withinQuarantineBudget } from '../../common/spec';
import type { ColumnProfile } from '../etl/profile';
import { hasZone, isNullToken } from '../etl/sql';
import { containment, isReliable, type Containment, type ValueSketch } from '../etl/sketch';
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
  // With a UTC offset or zone (timestamp columns only): parsed with it and stored as the UTC instant.
  '%Y-%m-%dT%H:%M:%S%z',
  '%Y-%m-%dT%H:%M:%S.%f%z',
  '%Y-%m-%d %H:%M:%S%z',
  '%Y-%m-%d %H:%M:%S.%f%z',
  '%Y-%m-%d %H:%M:%S %z',
  '%Y-%m-%d %H:%M:%S.%f %z',
  '%Y-%m-%d %H:%M:%S %Z',
  '%Y-%m-%dT%H:%M:%S %Z',
  '%Y-%m-%d %H:%M:%S.%f %Z',
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
                        : f === 'z'
                          ? '[+-]\\d{2}(:?\\d{2})?'
                          : f === 'Z'
                            ? '(UTC|GMT)'
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

type Options = Required<RulesDoctorOptions>;

/** Create the rules doctor (offline, deterministic). */
export function createRulesDoctor(opts: RulesDoctorOptions = {}): Doctor {
  const o: Options = {
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
        return await diagnose(o, input, probe);
      } catch (err) {
        if (err instanceof NoAnswer)
          return { kind: 'no-answer', doctor: 'rules', reason: err.reason, fatal: err.fatal };
        throw err;
      }
    },
  };
}

/**
 * One diagnosis, phase by phase (see the order of work at the top of this file). A phase that
 * cannot settle one of its decisions throws {@link NoAnswer}: no later phase may paper over it.
 */
async function diagnose(o: Options, input: DiagnoseInput, probe: SourceProbe): Promise<Diagnosis> {
  const { spec } = input;
  const session = startSession(o, input, probe);
  const shifts = refuseUnfixable(input.drift, spec);
  const ctx = await settleReader(session);
  const mapped = spec.contract.columns.filter(
    (c) => spec.mapping[c.name]?.from !== undefined && spec.mapping[c.name]?.expr === undefined,
  );
  if (ctx.headerMissing) {
    await mapByPosition(ctx, mapped);
  } else {
    const kept = mapped.filter((c) => ctx.now.includes(spec.mapping[c.name]?.from ?? ''));
    const missing = mapped.filter((c) => !ctx.now.includes(spec.mapping[c.name]?.from ?? ''));
    for (const c of kept) ctx.claimed.add(spec.mapping[c.name]?.from ?? '');
    const fresh = ctx.now.filter((c) => !ctx.expected.includes(c) && !ctx.claimed.has(c));
    const pairs = await scorePairs(ctx, missing, fresh);
    const done = pairRenamed(ctx, missing, pairs);
    const unpaired = missing.filter((c) => !done.has(c.name));
    settleUnpaired(ctx, unpaired, pairs, fresh);
    await fixFormats(ctx, kept);
  }
  convertUnits(ctx, shifts);
  return pinShape(ctx, await newColumnOps(ctx));
}

// -------------------------------------------------------------------------------------------------
// What a diagnosis carries from phase to phase

/** A diagnosis in progress: its input, the probe it may ask, and what it has decided so far. */
interface Session {
  o: Options;
  input: DiagnoseInput;
  probe: SourceProbe;
  /** Lowest parse rate a column may keep: what the quarantine budget lets the load set aside. */
  minRate: number;
  kinds: ReadonlySet<DriftKind>;
  bans: Bans;
  isCsv: boolean;
  /** The source columns the spec reads (its header before the drift). */
  expected: readonly string[];
  /** One line per decision or observation, in the order taken: the patch's explanation. */
  rationale: string[];
  decisions: Decision[];
  /** Healing ops per contract column, in the order decided (the patch lists them in contract order). */
  patchOps: { column: string; ops: PatchOp[] }[];
  /** Source columns some contract column now reads: the rest of the new ones get ignored. */
  claimed: Set<string>;
}

/** The session once the reader is settled: every later question is asked of the source as it reads it. */
interface ReadSession extends Session {
  reader: Partial<CsvOptions>;
  /** `reader` for the probe; undefined while the spec's own reader options still read the source. */
  readerArg: Partial<CsvOptions> | undefined;
  src: SourceSummary;
  /** The source's column names now, in file order. */
  now: string[];
  /** Without a header, columns can only be mapped by position. */
  headerMissing: boolean;
  /** Pairing asks about the same (column, entry) many times; the probe answers each once. */
  optionCache: Map<string, Promise<ReadOption[]>>;
}

function startSession(o: Options, input: DiagnoseInput, probe: SourceProbe): Session {
  const { spec, drift } = input;
  return {
    o,
    input,
    probe,
    minRate: lowestParseRate(spec, 'error' in input.source ? 0 : input.source.rows),
    kinds: new Set(drift.differences.map((d) => d.kind)),
    bans: collectBans(input.previous, spec),
    isCsv: spec.source.format === 'csv',
    expected: spec.source.columns,
    rationale: [],
    decisions: [],
    patchOps: [],
    claimed: new Set(),
  };
}

/** The parse rate a column needs: what the quarantine budget (its share, or its floor in rows) lets a load set aside. */
function lowestParseRate(spec: PipelineSpec, rows: number): number {
  return rows > 0 ? 1 - quarantineAllowance(spec.quality, rows) / rows : 1 - spec.quality.quarantineBudget;
}

/** Record a decision: the patch's confidence is that of its weakest decision. */
function decide(ctx: Session, what: string, confidence: number, line: string): void {
  ctx.decisions.push({ what, confidence });
  ctx.rationale.push(line);
}

function baseOf(ctx: Session, col: string): ColumnProfile | undefined {
  return ctx.input.baseline?.columns.find((c) => c.name === col);
}

function overlapWithExpected(ctx: Session, s: SourceSummary): number {
  return s.columns.filter((c) => ctx.expected.includes(c.name)).length;
}

/** "1461 rows", or "the first 200000 rows" when the probe read only part of the source. */
function rowsOf(s: SourceSummary): string {
  return s.complete ? `${s.rows} rows` : `the first ${s.rows} rows`;
}

// -------------------------------------------------------------------------------------------------
// Phase 1: what no patch may fix

/**
 * Why no doctor may heal this drift (an empty or partial file, a value that changed meaning the
 * policy refuses), or undefined. Asked before any doctor, so a drift like this ends the episode
 * whichever doctors are configured (`HEAL_DOCTORS=llm` included).
 */
export function unhealableDrift(drift: DriftReport, spec: PipelineSpec): string | undefined {
  try {
    refuseUnfixable(drift, spec);
    return undefined;
  } catch (err) {
    if (err instanceof NoAnswer && err.fatal) return err.reason;
    if (err instanceof NoAnswer) return undefined;
    throw err;
  }
}

/**
 * Refuse before any probing: a value that changed meaning would load as if nothing happened, and a
 * partial or empty file must never replace the table. These refusals are fatal (no doctor can fix them).
 * The one exception: a unit change by one known factor on a column whose `distributionShifts`
 * policy is `review` is returned, to be converted back (and approved by a human).
 */
function refuseUnfixable(drift: DriftReport, spec: PipelineSpec): DriftDifference[] {
  const shifts = drift.differences.filter((d) => d.kind === 'distribution-shift');
  for (const shift of shifts) {
    const policy = policyFor(spec.healing.policy, 'distributionShifts', shift.column);
    if (policy === 'review' && shift.unitFactor !== undefined && shift.column) continue;
    throw new NoAnswer(
      `distribution-shift: a column's values changed meaning (e.g. a unit change); refusing rather than loading it as if nothing happened (healing.policy.distributionShifts: ${policy}${policy === 'review' ? ', but no single unit factor explains the move' : ''}) — ${shift.detail}`,
      true,
    );
  }
  for (const d of drift.differences) {
    const why = FATAL_KINDS[d.kind];
    if (why)
      throw new NoAnswer(`${d.kind}: ${why} — ${d.detail}; a partial or empty file must never replace the table`, true);
  }
  if (!drift.differences.length) throw new NoAnswer('the drift report lists no difference to heal', false);
  return shifts;
}

// -------------------------------------------------------------------------------------------------
// Phase 2: the reader (encoding, delimiter, header)

/** Reader options found so far, and the source as they read it (or why they cannot). */
interface ReaderFix {
  reader: Partial<CsvOptions>;
  summary: SourceSummary | { error: string };
}

/**
 * Settle the reader before any column: names and values mean nothing until the file splits right.
 * Each fix reads the source with the fixes before it, since one change often hides another.
 */
async function settleReader(ctx: Session): Promise<ReadSession> {
  const fix: ReaderFix = { reader: {}, summary: ctx.input.source };
  await fixEncoding(ctx, fix);
  await fixPreamble(ctx, fix);
  await fixDelimiter(ctx, fix);
  const headerMissing = await fixHeader(ctx, fix);
  const { reader } = fix;
  let summary = fix.summary;
  if ('error' in summary) summary = await ctx.probe.summarize(Object.keys(reader).length ? reader : undefined);
  if ('error' in summary) throw new NoAnswer(`the source cannot be read: ${summary.error}`, false);
  const src: SourceSummary = summary;
  const readerArg = Object.keys(reader).length ? reader : undefined;
  if (!src.complete) {
    ctx.rationale.push(
      `probe: parse rates and profiles below are from the first ${src.rows} rows of the source (it has more); verification proves the patch on the whole file`,
    );
  }
  const now = src.columns.map((c) => c.name);
  return { ...ctx, reader, readerArg, src, now, headerMissing, optionCache: new Map() };
}

/**
 * The encoding. The report may classify a file in another encoding as renamed columns (garbled
 * names), so the reader's own complaint about the encoding counts too. An encoding qualifies only
 * when the expected names come back, not merely when the file decodes.
 */
async function fixEncoding(ctx: Session, fix: ReaderFix): Promise<void> {
  const { spec } = ctx.input;
  const { expected, kinds } = ctx;
  const encodingError = 'error' in fix.summary && /encod|unicode/i.test(fix.summary.error);
  if (!(kinds.has('encoding-change') || (ctx.isCsv && encodingError))) return;
  if (!ctx.isCsv) throw new NoAnswer('encoding-change on a non-CSV source: nothing a reader option can change', false);
  const change = ctx.input.drift.differences.find((d) => d.kind === 'encoding-change');
  // A UTF-8 file with more corrupt lines than the budget: latin-1 would "read" it, and turn every
  // valid accent into mojibake. No encoding reads every line of it.
  if (change?.found === 'mixed')
    throw new NoAnswer(
      `the file is ${spec.source.csv.encoding} with lines that are not (${change.detail}); no encoding reads every line, and switching would garble the others`,
      true,
    );
  let found: SourceSummary | undefined;
  const tried: string[] = [];
  // The encoding the bytes point at (load.ts judged them) first.
  const order = [...new Set([change?.found ?? '', 'latin-1', 'utf-16', 'utf-8'])] as CsvOptions['encoding'][];
  for (const encoding of order.filter((e) => ENCODINGS.includes(e) && e !== spec.source.csv.encoding)) {
    const s = await ctx.probe.summarize({ ...fix.reader, encoding });
    // The expected names must come back (a UTF-16 file read as latin-1 has the right count of garbled names).
    const ok =
      !('error' in s) &&
      s.rows > 0 &&
      (overlapWithExpected(ctx, s) > 0 || (kinds.has('header-missing') && s.columns.length === expected.length));
    tried.push(
      `${encoding}: ${'error' in s ? s.error : `${rowsOf(s)}, ${overlapWithExpected(ctx, s)} of ${expected.length} expected names`}`,
    );
    if (ok) {
      fix.reader.encoding = encoding;
      found = s;
      break;
    }
  }
  if (!found)
    throw new NoAnswer(
      `the source is not ${spec.source.csv.encoding} and no other encoding reads it (${tried.join('; ')})`,
      false,
    );
  fix.summary = found;
  decide(
    ctx,
    'encoding',
    1,
    `reader: encoding ${fix.reader.encoding} → ${rowsOf(found)}, ${overlapWithExpected(ctx, found)} of ${expected.length} expected column names`,
  );
}

/**
 * Lines of preamble above the header ("Report generated …", "Source: …", blank lines): the report
 * names the line the expected header is on (`header-changed`, found `line N`: load.ts finds the
 * first line that splits into the expected names); the reader skips the lines above it. Accepted
 * only when the source read that way gives back expected names and rows.
 */
async function fixPreamble(ctx: Session, fix: ReaderFix): Promise<void> {
  const moved = ctx.input.drift.differences.find((d) => d.kind === 'header-changed');
  if (!moved) return;
  const line = /^line (\d+)$/.exec(moved.found ?? '')?.[1];
  if (!ctx.isCsv || line === undefined)
    throw new NoAnswer(`the header moved, but the report does not say to which line (${moved.detail})`, false);
  const skipRows = Number(line) - 1;
  if (skipRows > 1000) throw new NoAnswer(`the header is on line ${line}: more preamble than a reader skips`, false);
  const s = await ctx.probe.summarize({ ...fix.reader, skipRows });
  const overlap = 'error' in s ? 0 : overlapWithExpected(ctx, s);
  if ('error' in s || overlap === 0 || s.rows === 0) {
    throw new NoAnswer(
      `the header looks to be on line ${line}, but skipping ${skipRows} lines does not read the expected columns (${'error' in s ? s.error : `${s.columns.length} columns, ${overlap} expected names, ${rowsOf(s)}`})`,
      false,
    );
  }
  fix.reader.skipRows = skipRows;
  fix.summary = s;
  decide(
    ctx,
    'preamble',
    1,
    `reader: skipRows=${skipRows} → the header on line ${line}: ${overlap} of ${ctx.expected.length} expected names, ${rowsOf(s)} (lines above it: ${(moved.samples ?? []).map((x) => JSON.stringify(x)).join(', ') || 'blank'})`,
  );
}

/**
 * The delimiter: reported as changed, or suspected when a reader fix leaves one column where the
 * spec expects several. The candidate that gives back the most expected names wins (ties: the one
 * closest to the expected column count); one that gives back no name must at least give the
 * expected column count, and is trusted less.
 */
async function fixDelimiter(ctx: Session, fix: ReaderFix): Promise<void> {
  const { spec, drift } = ctx.input;
  const { expected, kinds } = ctx;
  const oneColumn = (s: SourceSummary | { error: string }) =>
    !('error' in s) && s.columns.length === 1 && expected.length > 1;
  if (!(ctx.isCsv && (kinds.has('delimiter-change') || (Object.keys(fix.reader).length > 0 && oneColumn(fix.summary)))))
    return;
  const foundDelim = drift.differences.find((d) => d.kind === 'delimiter-change')?.found;
  const candidates = [...new Set([...(foundDelim ? [foundDelim] : []), ...ctx.o.delimiters])].filter(
    (d) => d !== spec.source.csv.delimiter,
  );
  let best: { delimiter: string; s: SourceSummary; overlap: number } | undefined;
  const tried: string[] = [];
  for (const delimiter of candidates) {
    const s = await ctx.probe.summarize({ ...fix.reader, delimiter });
    if ('error' in s) {
      tried.push(`${JSON.stringify(delimiter)}: ${s.error}`);
      continue;
    }
    const overlap = overlapWithExpected(ctx, s);
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
  fix.reader.delimiter = best.delimiter;
  fix.summary = best.s;
  decide(
    ctx,
    'delimiter',
    best.overlap > 0 ? 1 : 0.85,
    `reader: delimiter ${JSON.stringify(best.delimiter)} → ${best.s.columns.length} columns, ${best.overlap} of ${expected.length} expected names`,
  );
}

/**
 * The header. It can go missing together with another reader change (the report then names only
 * the first): no expected name back, as many columns as expected, and names that look like values.
 * Returns whether the source is now read without a header.
 */
async function fixHeader(ctx: Session, fix: ReaderFix): Promise<boolean> {
  const { expected } = ctx;
  const looksHeaderless = (x: SourceSummary | { error: string }) =>
    !('error' in x) &&
    overlapWithExpected(ctx, x) === 0 &&
    x.columns.length === expected.length &&
    x.columns.filter((c) => looksLikeValue(c.name)).length * 2 >= x.columns.length;
  const headerMissing =
    ctx.isCsv &&
    (ctx.kinds.has('header-missing') || (Object.keys(fix.reader).length > 0 && looksHeaderless(fix.summary)));
  if (!headerMissing) return false;
  fix.reader.header = false;
  const summary = await ctx.probe.summarize(fix.reader);
  fix.summary = summary;
  if ('error' in summary) throw new NoAnswer(`the source does not read without a header: ${summary.error}`, false);
  decide(
    ctx,
    'header',
    1,
    `reader: header=false → ${summary.columns.length} columns, ${rowsOf(summary)} (the first line holds values)`,
  );
  return true;
}

// -------------------------------------------------------------------------------------------------
// Ways to read a column, and choosing among them

/** Samples of a source column: the drift report's (taken before any reader fix) first, then the probe's. */
function samplesOf(ctx: ReadSession, sourceColumn: string, column?: string): string[] {
  const fromSummary = ctx.src.columns.find((c) => c.name === sourceColumn)?.samples ?? [];
  const fromDrift = ctx.input.drift.differences
    .filter((d) => d.samples && (d.sourceColumn === sourceColumn || (column !== undefined && d.column === column)))
    .flatMap((d) => d.samples ?? []);
  return [...new Set([...fromDrift, ...fromSummary])].filter((s) => s !== '***');
}

function patternsOf(ctx: ReadSession, sourceColumn: string): string[] {
  return ctx.src.columns.find((c) => c.name === sourceColumn)?.patterns.map((x) => x.pattern) ?? [];
}

/** Ways to read `col` through `entry` (from a given source column): as is, else healed. */
async function readOptions(
  ctx: ReadSession,
  col: ContractColumn,
  entry: MappingEntry,
  mapOps: PatchOp[],
  forceAlternatives = false,
): Promise<ReadOption[]> {
  const key = JSON.stringify([col.name, entry, mapOps, forceAlternatives]);
  let p = ctx.optionCache.get(key);
  if (!p) {
    p = computeReadOptions(ctx, col, entry, mapOps, forceAlternatives);
    ctx.optionCache.set(key, p);
  }
  return p;
}

async function measure(
  ctx: ReadSession,
  col: ContractColumn,
  entry: MappingEntry,
  ops: PatchOp[],
  label: string,
): Promise<ReadOption> {
  const result = await ctx.probe.tryColumn(col, entry, ctx.readerArg);
  const b = baseOf(ctx, col.name);
  const distance = b && result.profile ? profileDistance(b, result.profile) : b ? Infinity : NaN;
  return { ops, entry, result, distance, label };
}

/**
 * Reading as is comes first and, unless alternatives are forced, alone when it parses. A way a
 * failed verification already banned for this column is never offered again.
 */
async function computeReadOptions(
  ctx: ReadSession,
  col: ContractColumn,
  entry: MappingEntry,
  mapOps: PatchOp[],
  forceAlternatives: boolean,
): Promise<ReadOption[]> {
  const banned = ctx.bans.columns.get(col.name);
  const raw = await measure(ctx, col, entry, [], 'as is');
  const rawBanned = banned?.has(sig([...mapOps])) ?? false;
  const out: ReadOption[] = [];
  if (raw.result.rate >= ctx.minRate && !rawBanned) {
    out.push(raw);
    if (!forceAlternatives) return out;
  }
  if (col.type === 'string' || entry.from === undefined) return out;
  for (const c of healCandidates(ctx, col, entry, entry.from)) {
    if (banned?.has(sig([...mapOps, ...c.ops]))) continue;
    const m = await measure(ctx, col, c.entry, c.ops, c.label);
    if (m.result.rate >= ctx.minRate) out.push(m);
  }
  return out;
}

/**
 * Healed ways worth probing for a column that does not parse, chosen from its samples and shape
 * classes so that only plausible ones cost a probe: number cleanings, date formats some sample
 * fits, boolean words.
 */
function healCandidates(
  ctx: ReadSession,
  col: ContractColumn,
  entry: MappingEntry,
  from: string,
): { ops: PatchOp[]; entry: MappingEntry; label: string }[] {
  const all = samplesOf(ctx, from, col.name);
  // Missing values spelled out ("NA", "-") are not a format: they are read as NULL, or nothing.
  const samples = all.filter((s) => !isNullToken(s));
  const candidates: { ops: PatchOp[]; entry: MappingEntry; label: string }[] = [];
  if (col.type === 'integer' || col.type === 'number') {
    for (const c of numberCleanings(samples, patternsOf(ctx, from))) {
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
    for (const f of ctx.o.dateFormats) {
      // An offset says which instant a time is; a date column would have to pick a day for it.
      if (f === current || (col.type === 'date' && hasZone(f))) continue;
      const re = formatRegex(f);
      if (![...samples, ...patternsOf(ctx, from)].some((s) => re.test(s.trim()))) continue;
      candidates.push({
        ops: [{ op: 'format', column: col.name, format: f }],
        entry: { ...entry, format: f },
        label: `format ${f}`,
      });
    }
    if (col.type === 'timestamp') candidates.push(...zuluCandidates(ctx, col, entry, samples));
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
  return withNullTokens(col, entry, all, candidates);
}

/** The UTC designator as the offset it means: `%z` reads "+00:00", not "Z". */
const ZULU: { from: string; to: string } = { from: 'Z', to: '+00:00' };

/**
 * A timestamp column whose values end in "Z" (UTC) here and in an offset there: no one format
 * reads both (`%z` takes offsets only), so the "Z" is spelt as its offset before the cast (a
 * `clean` op) and read with an offset format. Only when both kinds are among the samples.
 */
function zuluCandidates(
  ctx: ReadSession,
  col: ContractColumn,
  entry: MappingEntry,
  samples: readonly string[],
): { ops: PatchOp[]; entry: MappingEntry; label: string }[] {
  const texts = samples.map((s) => s.trim());
  const isZulu = (s: string) => /\dZ$/.test(s);
  if (!texts.some(isZulu) || texts.every(isZulu) || entry.replace?.some((r) => r.from === ZULU.from)) return [];
  const spelt = texts.map((s) => (isZulu(s) ? `${s.slice(0, -1)}${ZULU.to}` : s));
  const replace = [...(entry.replace ?? []), ZULU];
  return ctx.o.dateFormats
    .filter((f) => /%z/.test(f) && spelt.every((s) => formatRegex(f).test(s)))
    .map((f) => ({
      ops: [
        { op: 'clean', column: col.name, ...(entry.strip?.length ? { strip: entry.strip } : {}), replace },
        { op: 'format', column: col.name, format: f },
      ],
      entry: { ...entry, replace, format: f },
      label: `"Z" read as ${ZULU.to}, format ${f}`,
    }));
}

/**
 * The candidates again, each also reading the missing-value tokens among the samples as NULL
 * (and that alone first), for an optional column only: a required column's missing value is
 * never loaded, so reading "NA" as NULL there would only move rows to quarantine.
 */
function withNullTokens(
  col: ContractColumn,
  entry: MappingEntry,
  samples: readonly string[],
  candidates: { ops: PatchOp[]; entry: MappingEntry; label: string }[],
): { ops: PatchOp[]; entry: MappingEntry; label: string }[] {
  const tokens = [...new Set(samples.map((s) => s.trim()).filter(isNullToken))].sort();
  if (col.required || !tokens.length) return candidates;
  const values = [...new Set([...(entry.nullValues ?? []), ...tokens])];
  const op: PatchOp = { op: 'nulls', column: col.name, values };
  const label = `read ${values.map((v) => JSON.stringify(v)).join(', ')} as NULL`;
  return [
    { ops: [op], entry: { ...entry, nullValues: values }, label },
    ...candidates.map((c) => ({
      ops: [op, ...c.ops],
      entry: { ...c.entry, nullValues: values },
      label: `${label}, ${c.label}`,
    })),
  ];
}

/** Value evidence in (0, 1]; 0.5 (neutral) when there is no baseline to compare with. */
function valueScore(distance: number): number {
  return Number.isNaN(distance) ? 0.5 : 1 / (1 + distance);
}

/** Confidence of a format fix: its value evidence; without a baseline, a unique candidate that parses reaches the default bar. */
function formatConfidence(distance: number): number {
  return Number.isNaN(distance) ? 0.8 : 1 / (1 + distance);
}

/**
 * Choose among the parse-able ways to read a column: the one closest to the baseline, if it
 * matches the baseline and clearly beats the runner-up (or the two load the same numbers).
 */
function choose(ctx: ReadSession, col: ContractColumn, options: ReadOption[], what: string): ReadOption {
  const b = baseOf(ctx, col.name);
  const tried = options.map(
    (x) =>
      `${x.label}: ${pct(x.result.rate)} parse, ${figureOf(x.result.profile, b)}${Number.isNaN(x.distance) ? '' : `, distance ${x.distance.toFixed(2)}`}`,
  );
  const ok = options
    .filter((r) => Number.isNaN(r.distance) || r.distance <= ctx.o.maxProfileDistance)
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
    if (!same && (margin < ctx.o.minMargin || Number.isNaN(first.distance))) {
      throw new NoAnswer(
        `${what}: ambiguous — ${first.label} and ${second.label} both parse and match the baseline about equally (${tried.join('; ')})`,
        false,
      );
    }
  }
  return first;
}

// -------------------------------------------------------------------------------------------------
// Phase 3: which source column each contract column is read from

/**
 * Without a header, names say nothing: each column is read from its old position, which only a
 * baseline can confirm (the values must still match it), and only if the column count is unchanged.
 */
async function mapByPosition(ctx: ReadSession, mapped: readonly ContractColumn[]): Promise<void> {
  const { spec, baseline } = ctx.input;
  const { now, expected } = ctx;
  if (now.length !== expected.length) {
    throw new NoAnswer(
      `without a header the source has ${now.length} columns, the spec expects ${expected.length}: cannot map by position`,
      false,
    );
  }
  if (!baseline)
    throw new NoAnswer('the header is missing and there is no baseline profile to confirm a positional mapping', false);
  for (const col of mapped) {
    const entry = spec.mapping[col.name] ?? {};
    const i = expected.indexOf(entry.from ?? '');
    const u = now[i];
    if (u === undefined)
      throw new NoAnswer(`${col.name}: its source column "${entry.from}" is not among the expected columns`, false);
    const map: PatchOp = { op: 'map', column: col.name, from: u };
    const opts2 = await readOptions(ctx, col, { ...entry, from: u }, [map]);
    const chosen = choose(ctx, col, opts2, `${col.name} ← ${u} (position ${i})`);
    ctx.claimed.add(u);
    ctx.patchOps.push({ column: col.name, ops: [map, ...chosen.ops] });
    decide(
      ctx,
      col.name,
      valueScore(chosen.distance),
      `${col.name} ← ${u} (position ${i}, was "${entry.from}"): ${chosen.ops.length ? `${chosen.label} → ` : ''}${pct(chosen.result.rate)} parse, ${figureOf(chosen.result.profile, baseOf(ctx, col.name))}, distance ${chosen.distance.toFixed(2)}`,
    );
  }
}

/** A candidate pairing of a contract column whose source column is gone with a new source column. */
interface Pair {
  col: ContractColumn;
  u: string;
  /** The best way to read the column from `u`. */
  option: ReadOption;
  value: number;
  name: number;
  position: number;
  score: number;
  /** Values match the baseline, or the name is strong and the values are not far off. */
  eligible: boolean;
  /**
   * How many of `u`'s values (read as `col`) the table already holds in `col`, or why that is not
   * known. Weighed only when names, profiles and position leave the pairing open (see weighValues).
   */
  held?: Containment | { why: string };
}

/** Share of a new column's values the table must already hold in the old column for values to decide the pair. */
const HELD_MIN = 0.5;
/** How far that share must stand above every rival's for values to decide. */
const HELD_MARGIN = 0.3;
/** Fewest distinct values a new column needs for its values to decide: a handful (0/1, 1..5) sits in many columns. */
const HELD_MIN_DISTINCT = 10;

/**
 * Score every (missing column, new column) pair on values first, then name, then position (a mere
 * tie-breaker). Pairs whose values do not parse even after healing are left out. When that leaves
 * the pairing open, each pair also gets the table's own evidence: how many of its values the table
 * already holds in the missing column (see weighValues).
 */
async function scorePairs(
  ctx: ReadSession,
  missing: readonly ContractColumn[],
  fresh: readonly string[],
): Promise<Pair[]> {
  const { o, now, expected } = ctx;
  const pairs: Pair[] = [];
  for (const col of missing) {
    const entry = ctx.input.spec.mapping[col.name] ?? {};
    const old = entry.from ?? '';
    for (const u of fresh) {
      const map: PatchOp = { op: 'map', column: col.name, from: u };
      const options = (await readOptions(ctx, col, { ...entry, from: u }, [map])).sort(
        (x, y) => (Number.isNaN(x.distance) ? 0 : x.distance) - (Number.isNaN(y.distance) ? 0 : y.distance),
      );
      const option = options[0];
      if (!option) continue;
      const value = valueScore(option.distance);
      const name = Math.max(nameSimilarity(old, u), nameSimilarity(col.name, u));
      const position = expected.indexOf(old) === now.indexOf(u) ? 1 : 0;
      const score = o.valueWeight * value + o.nameWeight * name + o.positionWeight * position;
      const eligible =
        (!Number.isNaN(option.distance) && option.distance <= o.maxProfileDistance) ||
        (name >= o.strongName && (Number.isNaN(option.distance) || option.distance <= 3 * o.maxProfileDistance));
      pairs.push({ col, u, option, value, name, position, score, eligible });
    }
  }
  if (wantsValues(ctx, missing, pairs)) await weighValues(ctx, missing, pairs);
  return pairs;
}

/**
 * Whether the table's values are worth asking (a scan of each missing column): only when there is a
 * table and a probe that can sketch, and names, profiles and position leave the pairing ambiguous,
 * not confident enough, or a missing column unpaired while a new column that parses as it is left.
 */
function wantsValues(ctx: ReadSession, missing: readonly ContractColumn[], pairs: readonly Pair[]): boolean {
  if (!ctx.input.tableValues || !ctx.probe.valueSketch || !pairs.length) return false;
  let plan: Plan;
  try {
    plan = planPairing(ctx, missing, pairs, false);
  } catch (err) {
    if (err instanceof NoAnswer) return true; // too many plausible pairings: values may narrow them
    throw err;
  }
  if ('refusal' in plan) return true;
  if (plan.planned.some((x) => x.confidence < ctx.o.minConfidence)) return true;
  const paired = new Set(plan.planned.map((x) => x.p.col.name));
  const used = new Set(plan.planned.map((x) => x.p.u));
  return pairs.some((p) => !paired.has(p.col.name) && !used.has(p.u));
}

/**
 * Compare each candidate's values, read as the missing column would load them, with the values the
 * table already holds in that column: the sketches of core/etl/sketch.ts, so neither side's values
 * move. What cannot be compared (no table, no such column, a warehouse that cannot be read) is
 * recorded as why, never an error: values are extra evidence, the pairing stands without them.
 */
async function weighValues(
  ctx: ReadSession,
  missing: readonly ContractColumn[],
  pairs: readonly Pair[],
): Promise<void> {
  const { tableValues } = ctx.input;
  if (!tableValues || !ctx.probe.valueSketch) return;
  for (const col of missing) {
    const mine = pairs.filter((p) => p.col === col);
    if (!mine.length) continue;
    let table: ValueSketch | undefined;
    let why = `the table holds no values of ${col.name}`;
    try {
      table = await tableValues(col.name);
    } catch (err) {
      why = `the table's values of ${col.name} could not be read (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})`;
    }
    for (const p of mine) {
      // An empty table column says nothing: 0% held would read as evidence against every candidate.
      if (!table?.hashes.length) {
        p.held = { why };
        continue;
      }
      const values = await ctx.probe.valueSketch(col, p.option.entry, ctx.readerArg);
      p.held = values ? containment(values, table) : { why: `no value of ${p.u} loads as ${col.name}` };
    }
  }
}

/** The share of a pair's values the table holds, when it is known well enough to weigh. */
function heldShare(p: Pair): number | undefined {
  return p.held && 'share' in p.held && isReliable(p.held) ? p.held.share : undefined;
}

/** What the table's values say of a pair, for rationales and refusals. */
function heldFigure(p: Pair): string {
  const h = p.held;
  if (!h) return 'values not compared';
  if ('why' in h) return h.why;
  if (!isReliable(h)) return `too few values to compare with the table (${h.sampled})`;
  return `${pct(h.share)} of its values already in the table (${h.exact ? `all ${h.sampled}` : `${h.sampled} sampled`})`;
}

function describePair(ctx: ReadSession, p: Pair): string {
  const share = heldShare(p);
  return `${p.u} (score ${p.score.toFixed(2)}: ${p.option.ops.length ? `${p.option.label}, ` : ''}${figureOf(p.option.result.profile, baseOf(ctx, p.col.name))}${Number.isNaN(p.option.distance) ? '' : `, distance ${p.option.distance.toFixed(2)}`}, name ${p.name.toFixed(2)}${p.position ? ', same position' : ''}${share === undefined ? '' : `, ${pct(share)} of its values in the table`})`;
}

/** What the table's values showed, when they were weighed and did not decide: the refusal names them. */
function heldSummary(missing: readonly ContractColumn[], pairs: readonly Pair[]): string {
  const lines = missing.flatMap((c) => {
    const mine = pairs.filter((p) => p.col === c && p.held);
    if (!mine.length) return [];
    const whys = new Set(mine.map((p) => (p.held && 'why' in p.held ? p.held.why : '')));
    const [why] = whys;
    if (whys.size === 1 && why) return [{ shares: false, text: `${c.name}: ${why}` }];
    const short = (p: Pair) => {
      const share = heldShare(p);
      return share === undefined ? heldFigure(p) : pct(share);
    };
    return [{ shares: true, text: `${c.name} ← ${mine.map((p) => `${p.u} ${short(p)}`).join(', ')}` }];
  });
  if (!lines.length) return '';
  const lead = lines.some((l) => l.shares) ? "share of each new column's values already in the table: " : '';
  return `; the table's values do not decide it (${lead}${lines.map((l) => l.text).join('; ')})`;
}

/** A pair the pairing settles, with the evidence that settles it. */
interface Planned {
  p: Pair;
  margin: number;
  confidence: number;
  runnerUp: string;
  /** Set when the table's values decided the pair: what they showed. */
  byValues?: string;
}

type Plan = { planned: Planned[] } | { refusal: string };

/**
 * Pairs the table's values decide: the new column holds at least HELD_MIN of its values in the old
 * column while every rival (another new column for this column, another missing column for this new
 * column) holds at least HELD_MARGIN less. Every plausible rival's share must be known (an unknown
 * one could be as high). The values must not be far from the baseline (3 × maxProfileDistance, as for
 * a strong name): verification would refuse them anyway, and a rival that far is no contender.
 */
function decideByValues(ctx: ReadSession, missing: readonly ContractColumn[], pairs: readonly Pair[]): Planned[] {
  const out: Planned[] = [];
  // A pair whose values are far from the baseline is no contender either way (a 5-value code column
  // for a measure): it neither wins by values nor blocks, whatever its share.
  const plausible = (p: Pair) =>
    p.eligible || Number.isNaN(p.option.distance) || p.option.distance <= 3 * ctx.o.maxProfileDistance;
  for (const col of missing) {
    const mine = pairs
      .filter((p) => p.col === col && plausible(p))
      .sort((x, y) => (heldShare(y) ?? -1) - (heldShare(x) ?? -1) || x.u.localeCompare(y.u));
    const top = mine[0];
    const share = top && heldShare(top);
    if (!top?.held || !('share' in top.held) || share === undefined || share < HELD_MIN) continue;
    if (top.held.sampled < HELD_MIN_DISTINCT) continue;
    const rivals = [...mine.slice(1), ...pairs.filter((q) => q.u === top.u && q.col !== col && plausible(q))];
    if (rivals.some((q) => heldShare(q) === undefined)) continue;
    const margin = share - Math.max(0, ...rivals.map((q) => heldShare(q) ?? 0));
    if (margin < HELD_MARGIN) continue;
    const runnerUp = rivals.length
      ? rivals.map((q) => `${q.col.name} ← ${q.u}: ${pct(heldShare(q) ?? 0)}`).join(', ')
      : 'no other candidate';
    out.push({
      p: top,
      margin,
      confidence: Math.min(1, share + margin),
      runnerUp,
      byValues: `${top.held.exact ? `all ${top.held.sampled}` : `${top.held.sampled} sampled`} values compared, vs ${runnerUp}`,
    });
  }
  return out;
}

/**
 * The pairing. Pairs the table's values decide (`useValues`, see decideByValues) are settled first
 * and take their column and their new column out of every other pair; the rest is the best
 * assignment of new columns to missing ones (sum of pair scores), each of its pairs beating the best
 * assignment without it by the margin, else the pairing is ambiguous.
 */
function planPairing(
  ctx: ReadSession,
  missing: readonly ContractColumn[],
  pairs: readonly Pair[],
  useValues: boolean,
): Plan {
  const { o } = ctx;
  const planned = useValues ? decideByValues(ctx, missing, pairs) : [];
  const decided = planned.map((x) => x.p);
  const eligible = pairs
    .filter((p) => p.eligible && !decided.some((q) => q.col === p.col || q.u === p.u))
    .sort((x, y) => y.score - x.score || x.u.localeCompare(y.u));
  const columns = missing.filter((c) => !decided.some((q) => q.col === c)).map((c) => c.name);
  const best = bestAssignment(columns, eligible, undefined);
  for (const p of best.pairs) {
    const alt = bestAssignment(columns, eligible, p);
    const margin = best.score - alt.score;
    const rivalFor = alt.pairs.find((q) => q.col.name === p.col.name);
    const rivalOf = alt.pairs.find((q) => q.u === p.u);
    const runnerUp = [
      rivalFor ? `${p.col.name} ← ${describePair(ctx, rivalFor)}` : `${p.col.name} unmapped`,
      ...(rivalOf && rivalOf !== rivalFor ? [`${rivalOf.col.name} ← ${describePair(ctx, rivalOf)}`] : []),
    ].join(' and ');
    if (margin < o.minMargin) {
      return {
        refusal: `ambiguous pairing: ${p.col.name} ← ${describePair(ctx, p)} or ${runnerUp} — the best pairing beats the next by ${margin.toFixed(2)} < ${o.minMargin}${heldSummary(missing, pairs)}`,
      };
    }
    planned.push({ p, margin, confidence: Math.min(1, p.score + margin), runnerUp });
  }
  const order = new Map(missing.map((c, i) => [c.name, i]));
  return { planned: planned.sort((x, y) => (order.get(x.p.col.name) ?? 0) - (order.get(y.p.col.name) ?? 0)) };
}

/**
 * Values that point elsewhere than names and profiles confidently did (another new column for a
 * column, or another column for a new column): the evidence conflicts, and the answer is no.
 */
function refuseContradiction(
  ctx: ReadSession,
  missing: readonly ContractColumn[],
  pairs: readonly Pair[],
  planned: readonly Planned[],
): void {
  const byValues = planned.filter((x) => x.byValues);
  if (!byValues.length) return;
  let alone: Plan;
  try {
    alone = planPairing(ctx, missing, pairs, false);
  } catch (err) {
    if (err instanceof NoAnswer) return; // names and profiles alone settle nothing to contradict
    throw err;
  }
  if ('refusal' in alone) return;
  for (const a of alone.planned) {
    if (a.confidence < ctx.o.minConfidence) continue;
    const clash = byValues.find((v) => v.p !== a.p && (v.p.col === a.p.col || v.p.u === a.p.u));
    if (clash) {
      throw new NoAnswer(
        `conflicting evidence: names and profiles pair ${a.p.col.name} ← ${describePair(ctx, a.p)} (margin ${a.margin.toFixed(2)}), but the table's values pair ${clash.p.col.name} ← ${clash.p.u}: ${heldFigure(clash.p)}, vs ${clash.runnerUp}`,
        false,
      );
    }
  }
}

/**
 * Map renamed columns as planPairing settles them (the table's values first, when they were
 * weighed; then names, profiles and position), or refuse an ambiguous pairing. Returns the contract
 * columns it mapped.
 */
function pairRenamed(ctx: ReadSession, missing: readonly ContractColumn[], pairs: readonly Pair[]): Set<string> {
  const plan = planPairing(ctx, missing, pairs, true);
  if ('refusal' in plan) throw new NoAnswer(plan.refusal, false);
  refuseContradiction(ctx, missing, pairs, plan.planned);
  const done = new Set<string>();
  for (const { p, margin, confidence, runnerUp, byValues } of plan.planned) {
    done.add(p.col.name);
    ctx.claimed.add(p.u);
    const map: PatchOp = { op: 'map', column: p.col.name, from: p.u };
    ctx.patchOps.push({ column: p.col.name, ops: [map, ...p.option.ops] });
    const was = `was "${ctx.input.spec.mapping[p.col.name]?.from}"`;
    decide(
      ctx,
      p.col.name,
      confidence,
      byValues
        ? `${p.col.name} ← ${describePair(ctx, p)}, ${was}; decided by the table's values (${byValues}; margin ${margin.toFixed(2)})`
        : `${p.col.name} ← ${describePair(ctx, p)}, ${was}; next best: ${runnerUp} (margin ${margin.toFixed(2)})`,
    );
  }
  return done;
}

/**
 * Contract columns left without a source: an optional one defaults to null (unless that already
 * failed verification); a required one cannot load. The refusal is fatal only when no new column is
 * left: then no doctor has anything to read it from.
 */
function settleUnpaired(
  ctx: ReadSession,
  unpaired: readonly ContractColumn[],
  pairs: readonly Pair[],
  fresh: readonly string[],
): void {
  for (const col of unpaired) {
    const old = ctx.input.spec.mapping[col.name]?.from ?? '';
    const near = pairs
      .filter((p) => p.col === col)
      .sort((x, y) => y.score - x.score)
      .slice(0, 2)
      .map((p) => describePair(ctx, p));
    const leftover = fresh.filter((u) => !ctx.claimed.has(u));
    if (!col.required) {
      const op: PatchOp = { op: 'default', column: col.name, value: null };
      if (ctx.bans.columns.get(col.name)?.has(sig([op])))
        throw new NoAnswer(`${col.name}: defaulting it to null already failed verification`, false);
      ctx.patchOps.push({ column: col.name, ops: [op] });
      decide(
        ctx,
        col.name,
        1,
        `${col.name}: optional, source column "${old}" is gone and no new column matches${near.length ? ` (closest: ${near.join('; ')})` : ''} → default null`,
      );
    } else if (!leftover.length || !pairs.some((p) => p.col === col)) {
      // Nothing the rules can map: fatal only when there is no new column at all. New columns whose
      // values do not parse as this type are still evidence a model may rebuild it from (split, merged, nested).
      throw new NoAnswer(
        `required column ${col.name}: source column "${old}" is gone and ${leftover.length ? `no new column (${leftover.join(', ')}) parses as ${col.type}` : 'the source has no new column it could be read from'}`,
        !leftover.length,
      );
    } else {
      throw new NoAnswer(
        `required column ${col.name}: source column "${old}" is gone and no new column matches its values or name (closest: ${near.join('; ')})`,
        false,
      );
    }
  }
}

// -------------------------------------------------------------------------------------------------
// Phase 4: formats

/**
 * Columns read as before must still parse (number formats, date formats, boolean words). When the
 * report is only about values, the load already checked every column and named the failing ones;
 * otherwise nothing was checked yet. A column whose reading already failed verification is
 * re-examined even if it parses.
 */
async function fixFormats(ctx: ReadSession, kept: readonly ContractColumn[]): Promise<void> {
  const { spec, drift } = ctx.input;
  const valuesChecked = [...ctx.kinds].every(
    (k) => k === 'format-change' || k === 'type-change' || k === 'summary-rows',
  );
  const named = new Set(drift.differences.flatMap((d) => (d.column ? [d.column] : [])));
  for (const col of kept) {
    const entry = spec.mapping[col.name] ?? {};
    const banned = ctx.bans.columns.get(col.name)?.has(sig([])) ?? false;
    if (!banned && (col.type === 'string' || (valuesChecked && !named.has(col.name)))) continue;
    const raw = await ctx.probe.tryColumn(col, entry, ctx.readerArg);
    // Missing-value tokens are drift even within the budget (load.ts): as is, their rows would
    // only go to quarantine; the fix reads them as NULL.
    const tokens = drift.differences.some((d) => d.column === col.name && d.found === 'missing-value tokens');
    if (raw.rate >= ctx.minRate && !banned && !tokens) continue;
    const options = await readOptions(ctx, col, entry, [], banned || tokens);
    const what = `${col.name} (source "${entry.from}", ${pct(raw.rate)} parse as ${col.type}${(entry.format ?? col.format) ? ` ${entry.format ?? col.format}` : ''})`;
    // (A date format with a time of day parses midnights only: times never make a date option.)
    const lossless = options.filter((x) => !tokens || x.ops.some((op) => op.op === 'nulls'));
    if (!lossless.length && (await widen(ctx, col, entry, what))) continue;
    if (!lossless.length) throw unparseable(ctx, col, entry, what);
    const chosen = choose(ctx, col, lossless, what);
    ctx.patchOps.push({ column: col.name, ops: chosen.ops });
    decide(
      ctx,
      col.name,
      formatConfidence(chosen.distance),
      `${col.name}: ${chosen.label} → ${pct(chosen.result.rate)} parse, ${figureOf(chosen.result.profile, baseOf(ctx, col.name))}${Number.isNaN(chosen.distance) ? ' (no baseline)' : `, distance ${chosen.distance.toFixed(2)}`}`,
    );
  }
  settleSummaryRows(ctx);
}

/**
 * Rows the load found that read as totals or footers ("Total", "Grand total", "(c) 2026 …" in a
 * text column: `summary-rows`): the labels seen are declared on their column, so those rows go to
 * quarantine as summary rows. Never more of them than the quarantine budget allows: beyond it
 * such a "label" is data (a category named "Total"), not a total row.
 */
function settleSummaryRows(ctx: ReadSession): void {
  const { spec, drift } = ctx.input;
  for (const d of drift.differences.filter((x) => x.kind === 'summary-rows')) {
    const col = spec.contract.columns.find((c) => c.name === d.column);
    const labels = d.samples ?? [];
    if (!col || !labels.length)
      throw new NoAnswer(
        `rows look like totals or footers, but the report names no column or label (${d.detail})`,
        false,
      );
    const rows = Math.max(ctx.src.rows, 1);
    const share = d.failureRate ?? 0;
    if (!withinQuarantineBudget(spec.quality, Math.round(share * rows), rows))
      throw new NoAnswer(
        `${col.name}: ${pct(share)} of rows read ${labels.map((l) => JSON.stringify(l)).join(', ')}: too many to be totals or footers (more than the quarantine budget); refusing to quarantine them as such`,
        false,
      );
    const all = [...new Set([...(spec.mapping[col.name]?.summaryLabels ?? []), ...labels])];
    ctx.patchOps.push({ column: col.name, ops: [{ op: 'summary', column: col.name, labels: all }] });
    decide(
      ctx,
      col.name,
      1,
      `${col.name}: rows reading ${labels.map((l) => JSON.stringify(l)).join(', ')} are totals or footers, not data (${d.detail}) → quarantined as summary rows`,
    );
  }
}

/**
 * Values that outgrew the column's type (decimals in an integer column, times in a date column):
 * widen it along the lossless lattice when `typeChanges` allows (`widen`, or `review` for approval)
 * and the values parse as the wider type. False when there is no wider type or they still do not parse.
 */
async function widen(ctx: ReadSession, col: ContractColumn, entry: MappingEntry, what: string): Promise<boolean> {
  const wider = WIDENINGS[col.type] as ColumnType | undefined;
  if (!wider) return false;
  const policy = policyFor(ctx.input.spec.healing.policy, 'typeChanges', col.name);
  const { format: _f, ...plain } = entry;
  const wide: ContractColumn = { ...col, type: wider };
  delete wide.format;
  const result = await ctx.probe.tryColumn(wide, plain, ctx.readerArg);
  if (result.rate < ctx.minRate) return false;
  if (policy === 'refuse')
    throw new NoAnswer(
      `${what}: the values parse as ${wider} (${pct(result.rate)}), but healing.policy.typeChanges is refuse for ${col.name}`,
      true,
    );
  const b = baseOf(ctx, col.name);
  const distance = b && result.profile ? profileDistance(b, result.profile) : NaN;
  // Fractions that come from a rescaling (a count now in thousands) are a unit change, not a widening.
  const unit = b && result.profile ? detectUnitChange(b, result.profile, DEFAULT_UNIT_FACTORS, 1.6) : null;
  if (unit)
    throw new NoAnswer(
      `${what}: the values parse as ${wider}, but they also moved by a unit factor (${unit.factor >= 1 ? '×' : '÷'}${unit.factor >= 1 ? unit.factor : Math.round(1 / unit.factor)}): a unit change, not a widening`,
      false,
    );
  ctx.patchOps.push({ column: col.name, ops: [{ op: 'widen', column: col.name, type: wider }] });
  // Sure by construction: the same source column, every value read by a type that holds all the
  // old ones. Its values may well have moved (they gained decimals): verification judges that.
  decide(
    ctx,
    col.name,
    1,
    `${what}: widen ${col.type} → ${wider} (lossless; healing.policy.typeChanges: ${policy}) → ${pct(result.rate)} parse, ${figureOf(result.profile, b)}${Number.isNaN(distance) ? '' : `, distance ${distance.toFixed(2)}`}`,
  );
  return true;
}

/**
 * The refusal for a column no healing makes parse, naming why when the samples show it: epoch
 * numbers (no strptime format expresses them) or no digits at all. Never fatal: the values are there
 * for a model to work from.
 */
function unparseable(ctx: ReadSession, col: ContractColumn, entry: MappingEntry, what: string): NoAnswer {
  const samples = samplesOf(ctx, entry.from ?? '', col.name);
  const never =
    col.type !== 'string' && col.type !== 'boolean' && samples.length > 0 && samples.every((s) => !/\d/.test(s));
  const epoch =
    (col.type === 'date' || col.type === 'timestamp') &&
    samples.length > 0 &&
    samples.every((s) => /^\d{9,13}$/.test(s.trim()));
  return new NoAnswer(
    `${what}: ${epoch ? 'values look like epoch seconds, which no strptime format expresses' : never ? 'the values hold no digits at all: nothing could parse them' : 'no cleaning or format makes the values parse'}${
      samples.length
        ? ` (e.g. ${samples
            .slice(0, 3)
            .map((s) => JSON.stringify(s))
            .join(', ')})`
        : ''
    }`,
    false, // not fatal: a model may still find a transformation (words for numbers, another calendar)
  );
}

// -------------------------------------------------------------------------------------------------
// Phase 5: ignores, shape, and the answer

/** Contract types tried for a new column, narrowest first (0/1 reads as integer before boolean); else string. */
const EVOLVE_TYPES: readonly ColumnType[] = ['integer', 'number', 'boolean', 'date', 'timestamp'];

/** The narrowest type every value of a new source column parses as (by the load's default formats). */
async function inferType(ctx: ReadSession, name: string, from: string): Promise<ColumnType> {
  for (const type of EVOLVE_TYPES) {
    const r = await ctx.probe.tryColumn({ name, type, required: false, pii: false }, { from }, ctx.readerArg);
    if (r.nonEmpty > 0 && r.parsed === r.nonEmpty) return type;
  }
  return 'string';
}

/**
 * New columns nobody reads, by `healing.policy.newColumns`: `ignore`d, added to the contract
 * (`evolve`, or `review` for approval) as optional columns of the narrowest type their values
 * parse as, or the answer is no (`refuse`: fatal, no doctor may add or ignore them).
 */
async function newColumnOps(ctx: ReadSession): Promise<PatchOp[]> {
  const { spec } = ctx.input;
  const ops: PatchOp[] = [];
  const taken = new Set(spec.contract.columns.map((c) => c.name.toLowerCase()));
  for (const c of ctx.now) {
    if (ctx.claimed.has(c) || spec.source.ignore.includes(c) || (!ctx.headerMissing && ctx.expected.includes(c)))
      continue;
    const policy = policyFor(spec.healing.policy, 'newColumns', c);
    if (policy === 'refuse') throw new NoAnswer(`new source column "${c}": healing.policy.newColumns is refuse`, true);
    if (policy === 'ignore' || ctx.headerMissing) {
      ops.push({ op: 'ignore', sourceColumn: c });
      ctx.rationale.push(`ignore new source column "${c}" (no contract column reads it; newColumns: ${policy})`);
      continue;
    }
    const column = toIdentifier(c, taken);
    taken.add(column.toLowerCase());
    const type = await inferType(ctx, column, c);
    ops.push({ op: 'add', column, from: c, type });
    ctx.rationale.push(
      `add new source column "${c}" as optional ${type} column ${column} (newColumns: ${policy}; earlier rows NULL)`,
    );
  }
  return ops;
}

/**
 * A unit change the `distributionShifts: review` policy lets through (see refuseUnfixable): read the
 * column converted back by its factor. Applied only once verified and approved by a human.
 */
function convertUnits(ctx: ReadSession, shifts: readonly DriftDifference[]): void {
  for (const shift of shifts) {
    const col = ctx.input.spec.contract.columns.find((c) => c.name === shift.column);
    const entry = col ? ctx.input.spec.mapping[col.name] : undefined;
    const factor = shift.unitFactor;
    if (!col || !entry?.from || factor === undefined || entry.strip || entry.replace)
      throw new NoAnswer(`${shift.column}: a unit change, but not on a plain source column: ${shift.detail}`, true);
    const number = `TRY_CAST("${entry.from.replace(/"/g, '""')}" AS DOUBLE)`;
    const expr = factor >= 1 ? `${number} / ${factor}` : `${number} * ${Math.round(1 / factor)}`;
    // The probe never runs expressions; the factor is the silent drift check's own finding (one
    // known factor alone fits the move), and verification proves the conversion on the whole file.
    ctx.patchOps.push({ column: col.name, ops: [{ op: 'derive', column: col.name, expr }] });
    decide(
      ctx,
      col.name,
      1,
      `${col.name}: a unit change (${shift.detail}) → convert back: ${expr} (distributionShifts: review; verification proves it restores the baseline)`,
    );
  }
}

/**
 * Pin the new shape (after the new columns' ops), then answer only with a patch that was not
 * already tried and failed, and whose weakest decision reaches the confidence bar.
 */
function pinShape(ctx: ReadSession, newColumns: readonly PatchOp[]): Diagnosis {
  const { spec } = ctx.input;
  const { o, now, rationale, decisions } = ctx;
  const ignoreOps = newColumns;
  const order = new Map(spec.contract.columns.map((c, i) => [c.name, i]));
  const patch: Patch = [
    ...(ctx.readerArg ? [{ op: 'reader' as const, ...ctx.reader }] : []),
    ...ctx.patchOps.sort((a, b) => (order.get(a.column) ?? 0) - (order.get(b.column) ?? 0)).flatMap((p) => p.ops),
    ...ignoreOps,
    { op: 'shape', columns: now },
  ];
  rationale.push(`shape: the source columns are now ${now.join(', ')}`);

  const same = ctx.bans.patches.find((b) => b.sig === JSON.stringify(patch));
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
