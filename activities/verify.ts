/**
 * Verification: a candidate spec is proven on the whole drifted source in a scratch DuckDB database
 * (never the warehouse) and accepted only if every check holds. Each check names its figure.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { HealError } from '../common/errors';
import type { PipelineSpec } from '../common/spec';
import type { VerificationCheck, VerificationReport } from '../common/types';
import { pct } from './etl/drift';
import { ident } from '../lib/duckdb';
import { runLoad } from './etl/load';
import type { ColumnProfile, TableProfile } from './etl/profile';

/** How far a column's profile may move from its baseline and still be "the same column". */
export interface ProfileTolerance {
  /** Largest move of the median and of the mean, in baseline standard deviations. @default 0.5 */
  maxCenterShiftSd: number;
  /** Largest relative move of the median/mean when the baseline has no spread. @default 0.05 */
  maxCenterShiftRelative: number;
  /** Allowed ratio of standard deviations (and of mean string lengths), both ways. @default 2 */
  maxSpreadRatio: number;
  /** Largest rise of the null rate (absolute). @default 0.1 */
  maxNullRateRise: number;
  /** Least share of values (by count) that are among the baseline's values, for low-cardinality columns. @default 0.8 */
  minCategoryOverlap: number;
  /** Least share of values whose shape class is among the baseline's top classes. @default 0.5 */
  minPatternOverlap: number;
}

export const DEFAULT_TOLERANCE: ProfileTolerance = {
  maxCenterShiftSd: 0.5,
  maxCenterShiftRelative: 0.05,
  maxSpreadRatio: 2,
  maxNullRateRise: 0.1,
  minCategoryOverlap: 0.8,
  minPatternOverlap: 0.5,
};

/** Integer columns at least this unique in both profiles are identifiers (see etl/silent-drift.ts). */
const IDENTIFIER_DISTINCT_RATIO = 0.95;

const fmt = (x: number | null | undefined): string => (x == null ? 'n/a' : Number.isInteger(x) ? String(x) : x.toPrecision(6).replace(/\.?0+$/, ''));

function ratioOk(a: number, b: number, max: number): boolean {
  if (a === 0 && b === 0) return true;
  if (a === 0 || b === 0) return false;
  const r = a / b;
  return r <= max && r >= 1 / max;
}

/** Compare a column's profile with its baseline: pass/fail with the figures that decided it. */
export function compareProfiles(base: ColumnProfile, cand: ColumnProfile, tol: ProfileTolerance = DEFAULT_TOLERANCE): VerificationCheck {
  const name = `profile:${base.name}`;
  const problems: string[] = [];
  const figures: string[] = [];
  if (cand.type !== base.type) problems.push(`type ${cand.type} vs baseline ${base.type}`);
  const nullRise = cand.nullRate - base.nullRate;
  if (nullRise > tol.maxNullRateRise) problems.push(`null rate ${pct(cand.nullRate)} vs baseline ${pct(base.nullRate)}`);

  // Identifiers (integer columns unique in both profiles) move with every batch or partition: their
  // centre and spread say nothing about whether the column is the same (as in the silent drift check).
  const identifier = base.type === 'integer' && base.distinctRatio >= IDENTIFIER_DISTINCT_RATIO && cand.distinctRatio >= IDENTIFIER_DISTINCT_RATIO;
  if (identifier) figures.push(`identifier (${pct(cand.distinctRatio)} distinct): centre not compared`);
  if (!identifier && (base.type === 'integer' || base.type === 'number' || base.type === 'date' || base.type === 'timestamp')) {
    const sd = base.stddev ?? 0;
    for (const [label, b, c] of [
      ['median', base.median, cand.median],
      ['mean', base.mean, cand.mean],
    ] as const) {
      if (b == null || c == null) continue;
      const shift = Math.abs(c - b);
      const scale = sd > 0 ? sd : Math.abs(b);
      const bound = sd > 0 ? tol.maxCenterShiftSd : tol.maxCenterShiftRelative;
      const moved = scale > 0 ? shift / scale : shift > 0 ? Infinity : 0;
      figures.push(`${label} ${fmt(c)} vs ${fmt(b)}`);
      if (moved > bound) problems.push(`${label} ${fmt(c)} vs baseline ${fmt(b)} (moved ${sd > 0 ? `${moved.toFixed(2)} sd` : pct(moved)})`);
    }
    if (base.stddev != null && cand.stddev != null && (base.stddev > 0 || cand.stddev > 0) && !ratioOk(cand.stddev, base.stddev, tol.maxSpreadRatio)) {
      problems.push(`spread (sd) ${fmt(cand.stddev)} vs baseline ${fmt(base.stddev)}`);
    }
  }
  if ((base.type === 'date' || base.type === 'timestamp') && base.min != null && base.max != null && cand.min != null && cand.max != null) {
    figures.push(`range ${cand.min}..${cand.max} vs ${base.min}..${base.max}`);
    if (String(cand.min) > String(base.max) || String(cand.max) < String(base.min)) {
      problems.push(`range ${cand.min}..${cand.max} does not overlap the baseline ${base.min}..${base.max}`);
    }
  }
  if (base.dateParts && cand.dateParts && cand.count > 0) {
    // Day and month read the wrong way round shows in how many distinct months and days there are.
    for (const part of ['months', 'days'] as const) {
      const b = base.dateParts[part];
      const c = cand.dateParts[part];
      if (Math.max(b, c) >= 2 * Math.min(b, c) && Math.abs(b - c) >= 3) {
        problems.push(`${c} distinct ${part} vs ${b} in the baseline (day and month read the wrong way round?)`);
      }
    }
  }
  if (base.type === 'string' && base.length && cand.length) {
    figures.push(`mean length ${fmt(cand.length.mean)} vs ${fmt(base.length.mean)}`);
    if (!ratioOk(cand.length.mean, base.length.mean, tol.maxSpreadRatio)) {
      problems.push(`mean length ${fmt(cand.length.mean)} vs baseline ${fmt(base.length.mean)}`);
    }
  }
  if (base.topValues && base.topValues.length && !cand.topValues && cand.distinct > 2 * base.distinct) {
    problems.push(`${cand.distinct} distinct values vs ${base.distinct} in the baseline (a low-cardinality column became high-cardinality)`);
  } else if (base.topValues && base.topValues.length && cand.topValues) {
    const known = new Set(base.topValues.map((v) => v.value));
    const overlap = cand.topValues.filter((v) => known.has(v.value)).reduce((a, v) => a + v.share, 0);
    figures.push(`${pct(overlap)} of values known`);
    if (overlap < tol.minCategoryOverlap) problems.push(`only ${pct(overlap)} of values are among the baseline's categories`);
  } else if (base.type === 'string' && base.patterns.length && cand.patterns.length) {
    const known = new Set(base.patterns.map((p) => p.pattern));
    const overlap = cand.patterns.filter((p) => known.has(p.pattern)).reduce((a, p) => a + p.share, 0);
    figures.push(`${pct(overlap)} of shapes known`);
    if (overlap < tol.minPatternOverlap) problems.push(`only ${pct(overlap)} of values have a shape seen in the baseline`);
  }
  return problems.length
    ? { name, passed: false, figure: problems.join('; '), threshold: 'close to the baseline profile', detail: `${base.name}: ${problems.join('; ')}` }
    : { name, passed: true, figure: figures.join(', ') || 'no comparable figures', threshold: 'close to the baseline profile' };
}

export interface VerifyOptions {
  spec: PipelineSpec;
  candidateVersion: number;
  source: string;
  allowedRoots: readonly string[];
  baseline: TableProfile | null;
  /** Id for the scratch load (never touches the warehouse). */
  runId: string;
  tolerance?: ProfileTolerance;
  /**
   * When the candidate passes with nothing quarantined, keep its typed rows in this table of the
   * scratch database (a file), so the apply load commits them instead of reading the source again.
   * @default undefined (nothing kept)
   */
  keepAs?: string;
}

/** What a verification loaded, beside its report (not part of the report: it stays in the activity). */
export interface VerifiedLoad {
  sources: string[];
  rowsRead: number;
  profile: TableProfile | null;
  /** Table of the scratch database holding the typed rows (see {@link VerifyOptions.keepAs}). */
  kept: string | undefined;
}

/** The load behind a report returned by {@link verifyCandidate}. */
export const verifiedLoads = new WeakMap<VerificationReport, VerifiedLoad>();

/** Run the candidate on the whole source in `conn` (a scratch database) and check the result. */
export async function verifyCandidate(conn: DuckDBConnection, opts: VerifyOptions): Promise<VerificationReport> {
  const { spec } = opts;
  const checks: VerificationCheck[] = [];
  const base = { passed: false, candidateVersion: opts.candidateVersion, rowsRead: 0, rowsLoaded: 0, rowsQuarantined: 0 };
  let res;
  try {
    res = await runLoad(conn, {
      spec,
      specVersion: opts.candidateVersion,
      runId: opts.runId,
      source: opts.source,
      allowedRoots: opts.allowedRoots,
      // Staged and cast but not written: every figure below comes from the load's counts and profile.
      commit: false,
      // Cast straight into the table kept for the apply (dropped below unless every check holds).
      ...(opts.keepAs ? { keepAs: opts.keepAs } : {}),
    });
  } catch (err) {
    if (opts.keepAs) await conn.run(`DROP TABLE IF EXISTS ${ident(opts.keepAs)}`).catch(() => undefined);
    if (!(err instanceof HealError)) throw err;
    const name = err.type === 'QuarantineBudgetExceeded' ? 'quarantine-budget' : 'contract';
    checks.push({ name, passed: false, figure: err.message.slice(0, 300), threshold: name === 'contract' ? 'the source fits the contract' : `≤ ${pct(spec.quality.quarantineBudget)}` });
    return { ...base, checks, summary: `${name} failed: ${err.message.slice(0, 200)}` };
  }
  checks.push({ name: 'contract', passed: true, figure: 'the source fits the candidate spec', threshold: 'the source fits the contract' });
  const accounted = res.rowsLoaded + res.rowsQuarantined === res.rowsRead;
  checks.push({
    name: 'rows-accounted',
    passed: accounted,
    figure: `${res.rowsRead} in = ${res.rowsLoaded} loaded + ${res.rowsQuarantined} quarantined`,
    threshold: 'rows in = loaded + quarantined',
  });
  const share = res.rowsRead ? res.rowsQuarantined / res.rowsRead : 0;
  checks.push({
    name: 'quarantine-budget',
    passed: share <= spec.quality.quarantineBudget,
    figure: `${pct(share)} quarantined (${res.rowsQuarantined} rows)`,
    threshold: `≤ ${pct(spec.quality.quarantineBudget)}`,
  });
  const profile = res.profile;
  for (const c of spec.contract.columns) {
    const cand = profile?.columns.find((p) => p.name === c.name);
    if (c.required) {
      const allNull = !cand || cand.count === 0;
      checks.push({ name: `not-all-null:${c.name}`, passed: !allNull, figure: `${cand?.count ?? 0} non-null values`, threshold: '> 0' });
    }
    const b = opts.baseline?.columns.find((p) => p.name === c.name);
    const entry = spec.mapping[c.name];
    if (entry && entry.from === undefined && entry.expr === undefined) {
      // An optional column the source no longer has: its values are the default by design.
      checks.push({ name: `defaulted:${c.name}`, passed: true, figure: `not in the source: default ${JSON.stringify(entry.default ?? null)}` });
    } else if (b && cand) checks.push(compareProfiles(b, cand, opts.tolerance));
  }
  if (!opts.baseline) checks.push({ name: 'profile', passed: true, figure: 'no baseline recorded yet: profile checks skipped' });
  const failed = checks.filter((c) => !c.passed);
  let kept: string | undefined;
  if (opts.keepAs && failed.length === 0 && res.rowsQuarantined === 0) kept = opts.keepAs;
  else if (opts.keepAs) await conn.run(`DROP TABLE IF EXISTS ${ident(opts.keepAs)}`);
  const report: VerificationReport = {
    ...base,
    passed: failed.length === 0,
    rowsRead: res.rowsRead,
    rowsLoaded: res.rowsLoaded,
    rowsQuarantined: res.rowsQuarantined,
    checks,
    summary: failed.length ? failed.map((f) => `${f.name}: ${f.figure}`).join('; ').slice(0, 400) : `all ${checks.length} checks passed`,
  };
  verifiedLoads.set(report, { sources: res.sources, rowsRead: res.rowsRead, profile: res.profile, kept });
  return report;
}
