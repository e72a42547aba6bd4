/**
 * The silent drift check: run on every load, not only when the contract breaks. The profile of the
 * rows about to load is compared with the baseline (the profile of the last good load) and every
 * column that moved beyond the spec's bounds (`quality.profile`) is a `distribution-shift`
 * difference: a unit change (centre and spread moved together by a known factor), a centre shift
 * far beyond normal variation, a null-rate jump, a new category mix (population stability index), a
 * changed length or shape of free text. Pure: profiles in, differences out.
 *
 * Bounds are looser than verification's ("is the healed column the same column?"), because data
 * legitimately changes between loads: next year's weather, a price that trends, a new batch of ids.
 * Figures measured on vega-datasets are in `tests/unit/silent-drift.test.ts`.
 */
import { profileCheckSchema, type PipelineSpec, type ProfileCheck, type ProfileColumnCheck } from '../../common/spec';
import type { DriftDifference } from '../../common/types';
import { pct } from './drift';
import type { ColumnProfile, TableProfile } from './profile';

/** Bounds for one column (the spec's, with the column's own overrides applied). */
export type ColumnBounds = Required<ProfileColumnCheck>;

/** Bounds of the whole check: `quality.profile` with its defaults, plus the columns never checked for a centre shift. */
export interface DistributionThresholds extends Omit<ProfileCheck, 'columns'> {
  columns: Record<string, ProfileColumnCheck>;
  /** Identifier columns (the merge key): their centre moves with every new batch, so no centre-shift check. */
  keys?: readonly string[];
  /**
   * Columns the files are split by (`source.partitionKeys`, or found disjoint across a load's
   * files): their category mix, centre and range move between a slice and the whole by
   * construction, so only their null rate is checked.
   */
  partitionKeys?: readonly string[];
}

/** The defaults of `quality.profile`. */
export const DEFAULT_DISTRIBUTION_THRESHOLDS: DistributionThresholds = profileCheckSchema.parse({});

/** Integer columns at least this unique in both profiles are identifiers: no centre-shift check. */
const IDENTIFIER_DISTINCT_RATIO = 0.95;
/** A centre (median or mean) is used as evidence of a unit change only when this far from zero, in standard deviations. */
const MEANINGFUL_CENTRE_SD = 0.2;
/** Additive smoothing of category counts in the PSI (unseen categories get half a count). */
const PSI_SMOOTHING = 0.5;
/** Sampling allowance of the PSI, in standard deviations of its null distribution. */
const PSI_NOISE_SD = 3;
/** Above this many distinct values a profile keeps no top values (see profile.ts). */
const TOP_VALUES_MAX_DISTINCT = 50;

/** The check's bounds for a spec: `quality.profile` with defaults; columns read from a default only are not checked. */
export function distributionThresholds(spec: PipelineSpec): DistributionThresholds {
  const base = spec.quality.profile ?? DEFAULT_DISTRIBUTION_THRESHOLDS;
  const columns: Record<string, ProfileColumnCheck> = { ...base.columns };
  for (const c of spec.contract.columns) {
    const m = spec.mapping[c.name];
    // No source column and no expression: the values are the spec's default, whatever the baseline had.
    if (m && m.from === undefined && m.expr === undefined && columns[c.name]?.enabled === undefined) {
      columns[c.name] = { ...columns[c.name], enabled: false };
    }
  }
  return { ...base, columns, keys: spec.target.mode === 'merge' ? (spec.target.key ?? []) : [] };
}

/** The bounds that apply to one column. */
export function columnBounds(t: DistributionThresholds, column: string): ColumnBounds {
  const o = t.columns[column] ?? {};
  return {
    enabled: o.enabled ?? t.enabled,
    maxCenterShiftSd: o.maxCenterShiftSd ?? t.maxCenterShiftSd,
    maxCenterShiftRelative: o.maxCenterShiftRelative ?? t.maxCenterShiftRelative,
    maxNullRateRise: o.maxNullRateRise ?? t.maxNullRateRise,
    maxPsi: o.maxPsi ?? t.maxPsi,
    maxLengthRatio: o.maxLengthRatio ?? t.maxLengthRatio,
    minPatternOverlap: o.minPatternOverlap ?? t.minPatternOverlap,
    unitChange: o.unitChange ?? true,
  };
}

/** A number for a message: integers as they are, others to 4 significant digits. */
export function fig(x: number | null | undefined): string {
  if (x == null || !Number.isFinite(x)) return 'n/a';
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(2);
  return x
    .toPrecision(4)
    .replace(/(\.\d*?)0+$/, '$1')
    .replace(/\.$/, '');
}

/** "×100", "÷1000". */
function factorLabel(f: number): string {
  return f >= 1 ? `×${fig(f)}` : `÷${fig(1 / f)}`;
}

// -------------------------------------------------------------------------------------------------
// Unit change

/** A unit change: centre and spread moved together by about `factor` (< 1: divided). */
export interface UnitChange {
  /** The known factor nearest to the observed move. */
  factor: number;
  /** Other known factors within tolerance, nearest first (×1000 and ×1024 are hard to tell apart). */
  alternatives: number[];
  /** The observed ratios (current / baseline) that decided it, e.g. { mean: 99.2, stddev: 101.3 }. */
  ratios: Record<string, number>;
}

/**
 * Did a number column's values move by a known unit factor? The ratios current/baseline of the
 * spread (standard deviation) and of every meaningful centre (median, mean: not within 0.2 sd of
 * zero) must all point the same way, agree with one another within `tolerance`² (next year's data
 * in cents is not exactly ×100 of this year's), and their geometric mean must lie within
 * `tolerance` of a factor (×F or ÷F). For a column of both signs centred near zero (longitudes, net
 * changes) the range stands in for the centre. Natural variation moves them apart (heavy-tailed
 * costs: mean ×6, spread ×13) or by far less than the smallest factor (seasons: ×2). A column with
 * no meaningful centre and no negative values (costs mostly 0 with rare huge ones) is not judged:
 * its spread and range are ruled by a few values that swing by ×10 between loads on their own.
 */
export function detectUnitChange(
  b: ColumnProfile,
  c: ColumnProfile,
  factors: readonly number[],
  tolerance: number,
): UnitChange | null {
  if (b.stddev == null || c.stddev == null || !(b.stddev > 0) || !(c.stddev > 0)) return null;
  const ratios: Record<string, number> = { stddev: c.stddev / b.stddev };
  const bar = MEANINGFUL_CENTRE_SD * b.stddev;
  for (const key of ['median', 'mean'] as const) {
    const x = b[key];
    const y = c[key];
    if (x == null || y == null || Math.abs(x) <= bar) continue;
    if (Math.sign(x) !== Math.sign(y)) return null; // a rescaling keeps the sign
    ratios[key] = y / x;
  }
  if (Object.keys(ratios).length === 1) {
    const { min: bMin, max: bMax } = b;
    const { min: cMin, max: cMax } = c;
    if (typeof bMin !== 'number' || typeof bMax !== 'number' || typeof cMin !== 'number' || typeof cMax !== 'number')
      return null;
    if (!(bMin < 0 && bMax > 0 && cMin < 0 && cMax > 0)) return null;
    ratios['range'] = (cMax - cMin) / (bMax - bMin);
  }
  const logs = Object.values(ratios).map(Math.log);
  const lt = Math.log(tolerance);
  if (!(logs.every((x) => x > 0) || logs.every((x) => x < 0))) return null;
  if (Math.max(...logs) - Math.min(...logs) > 2 * lt) return null; // centre and spread did not move together
  const g = logs.reduce((a, x) => a + x, 0) / logs.length;
  const near = factors
    .flatMap((f) => [f, 1 / f])
    .map((factor) => ({ factor, d: Math.abs(g - Math.log(factor)) }))
    .filter((x) => x.d <= lt)
    .sort((a, b) => a.d - b.d);
  const best = near[0];
  if (!best) return null;
  const rounded: Record<string, number> = {};
  for (const [k, v] of Object.entries(ratios)) rounded[k] = Number(v.toPrecision(4));
  return { factor: best.factor, alternatives: near.slice(1).map((x) => x.factor), ratios: rounded };
}

// -------------------------------------------------------------------------------------------------
// Centre shift

/** How far a number column's centre moved: in standard deviations and relative to the baseline centre. */
export interface CenterShift {
  /** max(|Δ median|, |Δ mean|) / √(baseline sd · current sd). */
  sd: number;
  /** max(|Δ median|, |Δ mean|) / max(|baseline median|, |baseline mean|) (Infinity around zero). */
  relative: number;
  /** Which of median and mean moved most. */
  by: 'median' | 'mean';
}

export function centerShift(b: ColumnProfile, c: ColumnProfile): CenterShift | null {
  if (b.median == null || c.median == null || b.mean == null || c.mean == null) return null;
  const sb = b.stddev ?? 0;
  const sc = c.stddev ?? 0;
  // The geometric mean of both spreads: a season whose spread doubles moves its centre "less" than
  // against the baseline's alone; a rescale by F still shows a move √F times the baseline's.
  const scale = sb > 0 && sc > 0 ? Math.sqrt(sb * sc) : Math.max(sb, sc);
  if (!(scale > 0)) return null; // constant in both: nothing to measure a move against
  const dMed = Math.abs(c.median - b.median);
  const dMean = Math.abs(c.mean - b.mean);
  const delta = Math.max(dMed, dMean);
  const centre = Math.max(Math.abs(b.median), Math.abs(b.mean));
  return {
    sd: delta / scale,
    relative: centre > 0 ? delta / centre : delta > 0 ? Infinity : 0,
    by: dMed >= dMean ? 'median' : 'mean',
  };
}

// -------------------------------------------------------------------------------------------------
// Population stability index

export interface Psi {
  /** Σ (q − p) · ln(q / p) over categories (an "other" bucket for values beyond the top values). */
  psi: number;
  /** What sampling alone gives for these row counts and categories (mean + 3 sd of its null distribution). */
  noise: number;
  /** Share of values that would have to change category to turn one mix into the other (total variation). */
  moved: number;
  categories: number;
}

/** PSI between two category mixes (from their top values), with additive smoothing for unseen categories. */
export function populationStability(b: ColumnProfile, c: ColumnProfile): Psi | null {
  if (!b.topValues?.length || !c.topValues?.length || b.count <= 0 || c.count <= 0) return null;
  const nb = b.count;
  const nc = c.count;
  const bm = new Map(b.topValues.map((v) => [v.value, v.share * nb]));
  const cm = new Map(c.topValues.map((v) => [v.value, v.share * nc]));
  const cells: [number, number][] = [...new Set([...bm.keys(), ...cm.keys()])].map((k) => [
    bm.get(k) ?? 0,
    cm.get(k) ?? 0,
  ]);
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, x) => a + x, 0);
  const otherB = Math.max(0, nb - sum(bm));
  const otherC = Math.max(0, nc - sum(cm));
  if (otherB >= 0.5 || otherC >= 0.5) cells.push([otherB, otherC]);
  const k = cells.length;
  let psi = 0;
  let moved = 0;
  for (const [x, y] of cells) {
    const p = (x + PSI_SMOOTHING) / (nb + PSI_SMOOTHING * k);
    const q = (y + PSI_SMOOTHING) / (nc + PSI_SMOOTHING * k);
    psi += (q - p) * Math.log(q / p);
    moved += Math.abs(y / nc - x / nb);
  }
  // Under no change, PSI ≈ χ²(k−1) · (1/nb + 1/nc): mean (k−1)·s, sd √(2(k−1))·s.
  const s = 1 / nb + 1 / nc;
  const noise = (k - 1 + PSI_NOISE_SD * Math.sqrt(2 * (k - 1))) * s;
  return { psi, noise, moved: moved / 2, categories: k };
}

function topMix(p: ColumnProfile, n = 3): string {
  return (p.topValues ?? [])
    .slice(0, n)
    .map((v) => `${v.value.length > 24 ? `${v.value.slice(0, 23)}…` : v.value} ${pct(v.share)}`)
    .join(', ');
}

// -------------------------------------------------------------------------------------------------
// The check

const NUMERIC = new Set(['integer', 'number']);
const CATEGORICAL = new Set(['string', 'boolean']);

/**
 * Compare the profile of the rows about to load with the baseline: one `distribution-shift`
 * difference per column and aspect that moved beyond its bounds. Nothing when either profile has
 * fewer than `minRows` rows or the check is disabled. Columns without a baseline, or whose type
 * changed since (a new contract), are not compared.
 */
export function checkDistribution(
  baseline: TableProfile,
  current: TableProfile,
  thresholds: Partial<DistributionThresholds> = {},
): DriftDifference[] {
  const t: DistributionThresholds = {
    ...DEFAULT_DISTRIBUTION_THRESHOLDS,
    ...thresholds,
    columns: thresholds.columns ?? {},
  };
  // Off for the pipeline, unless some column is turned on by name.
  if (!t.enabled && !Object.values(t.columns).some((c) => c.enabled === true)) return [];
  if (current.rows < t.minRows || baseline.rows < t.minRows) return [];
  const keys = new Set(t.keys ?? []);
  const partitionKeys = new Set(t.partitionKeys ?? []);
  const out: DriftDifference[] = [];
  for (const c of current.columns) {
    const b = baseline.columns.find((x) => x.name === c.name);
    if (!b || b.type !== c.type) continue;
    const bounds = columnBounds(t, c.name);
    if (!bounds.enabled) continue;
    const diff = (d: Omit<DriftDifference, 'kind' | 'column'>): void => {
      out.push({ kind: 'distribution-shift', column: c.name, ...d });
    };

    // Nulls.
    const rise = c.nullRate - b.nullRate;
    if (rise > bounds.maxNullRateRise) {
      diff({
        expected: `null rate ${pct(b.nullRate)}`,
        found: `null rate ${pct(c.nullRate)}`,
        failureRate: c.nullRate,
        detail: `"${c.name}": null rate ${pct(c.nullRate)} vs ${pct(b.nullRate)} in the baseline (+${pct(rise)}, limit +${pct(bounds.maxNullRateRise)})`,
      });
    }
    if (c.count === 0 || b.count === 0 || partitionKeys.has(c.name)) continue;

    // Numbers: a unit change, else a centre shift.
    if (NUMERIC.has(c.type)) {
      const unit = bounds.unitChange ? detectUnitChange(b, c, t.unitFactors, t.unitTolerance) : null;
      if (unit) {
        const moved = Object.entries(unit.ratios)
          .map(([k, r]) => `${k} ${factorLabel(r)}`)
          .join(', ');
        diff({
          expected: `median ${fig(b.median)}, mean ${fig(b.mean)}, sd ${fig(b.stddev)}`,
          found: `median ${fig(c.median)}, mean ${fig(c.mean)}, sd ${fig(c.stddev)}`,
          ...(unit.alternatives.length ? {} : { unitFactor: unit.factor }),
          detail: `"${c.name}": ${moved} against the baseline (mean ${fig(c.mean)} vs ${fig(b.mean)}, sd ${fig(c.stddev)} vs ${fig(b.stddev)}): looks like a unit change (${[unit.factor, ...unit.alternatives].map(factorLabel).join(' or ')})`,
        });
        continue;
      }
      const identifier =
        keys.has(c.name) ||
        (c.type === 'integer' &&
          b.distinctRatio >= IDENTIFIER_DISTINCT_RATIO &&
          c.distinctRatio >= IDENTIFIER_DISTINCT_RATIO);
      const shift = identifier ? null : centerShift(b, c);
      if (shift && shift.sd > bounds.maxCenterShiftSd && shift.relative > bounds.maxCenterShiftRelative) {
        const [bx, cx] = shift.by === 'median' ? [b.median, c.median] : [b.mean, c.mean];
        diff({
          expected: `${shift.by} ${fig(bx)} (sd ${fig(b.stddev)})`,
          found: `${shift.by} ${fig(cx)} (sd ${fig(c.stddev)})`,
          detail: `"${c.name}": ${shift.by} ${fig(cx)} vs ${fig(bx)} in the baseline, a move of ${shift.sd.toFixed(1)} sd (limit ${fig(bounds.maxCenterShiftSd)}) and ${Number.isFinite(shift.relative) ? pct(shift.relative) : 'all'} of the baseline's centre`,
        });
      }
      continue;
    }

    if (!CATEGORICAL.has(c.type)) continue; // dates and timestamps move on with time: nulls only

    // Categories: the mix (PSI), or a low-cardinality column that became high-cardinality.
    if (b.topValues?.length) {
      if (!c.topValues) {
        if (c.distinct > TOP_VALUES_MAX_DISTINCT && c.distinct > 2 * b.distinct) {
          diff({
            expected: `${b.distinct} distinct values`,
            found: `${c.distinct} distinct values`,
            detail: `"${c.name}": ${c.distinct} distinct values vs ${b.distinct} in the baseline: a categorical column became free text`,
          });
        }
        continue;
      }
      const p = populationStability(b, c);
      if (p && p.psi > bounds.maxPsi + p.noise) {
        diff({
          expected: topMix(b),
          found: topMix(c),
          failureRate: Number(p.moved.toFixed(4)),
          detail: `"${c.name}": the category mix moved, population stability index ${p.psi.toFixed(2)} over ${p.categories} categories (limit ${fig(bounds.maxPsi)} + ${p.noise.toFixed(2)} for sampling); ${pct(p.moved)} of values changed category (now ${topMix(c)}; was ${topMix(b)})`,
        });
      }
      continue;
    }

    // Free text: length and shape classes.
    if (c.type !== 'string') continue;
    if (b.length && c.length && b.length.mean > 0 && c.length.mean > 0) {
      const r = c.length.mean / b.length.mean;
      if (r > bounds.maxLengthRatio || r < 1 / bounds.maxLengthRatio) {
        diff({
          expected: `mean length ${fig(b.length.mean)}`,
          found: `mean length ${fig(c.length.mean)}`,
          detail: `"${c.name}": mean length ${fig(c.length.mean)} vs ${fig(b.length.mean)} in the baseline (${factorLabel(r)}, limit ×/÷${fig(bounds.maxLengthRatio)})`,
        });
        continue;
      }
    }
    if (b.patterns.length && c.patterns.length) {
      const known = new Set(b.patterns.map((x) => x.pattern));
      const overlap = c.patterns.filter((x) => known.has(x.pattern)).reduce((a, x) => a + x.share, 0);
      if (overlap < bounds.minPatternOverlap) {
        diff({
          expected: `shapes ${b.patterns
            .slice(0, 3)
            .map((x) => `"${x.pattern}"`)
            .join(', ')}`,
          found: `shapes ${c.patterns
            .slice(0, 3)
            .map((x) => `"${x.pattern}"`)
            .join(', ')}`,
          failureRate: Number((1 - overlap).toFixed(4)),
          detail: `"${c.name}": only ${pct(overlap)} of values have a shape the baseline had (limit ${pct(bounds.minPatternOverlap)}); now ${c.patterns
            .slice(0, 3)
            .map((x) => `"${x.pattern}"`)
            .join(', ')}`,
        });
      }
    }
  }
  return out;
}

/** One line for a drift report's summary. */
export function distributionSummary(pipeline: string, differences: readonly DriftDifference[]): string {
  const first = differences.slice(0, 3).map((d) => d.detail);
  const more = differences.length > 3 ? ` (+${differences.length - 3} more)` : '';
  return `silent drift in ${pipeline}: ${first.join('; ')}${more}; the load was stopped, the table is unchanged`;
}
