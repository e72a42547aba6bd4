/**
 * Verification: a candidate spec is proven on the whole drifted source in a scratch DuckDB database
 * (never the warehouse) and accepted only if every check holds. Each check names its figure.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { HealError } from '../../common/errors';
import { WIDENINGS } from '../../common/policy';
import { budgetLabel, withinQuarantineBudget, type PipelineSpec } from '../../common/spec';
import type { VerificationCheck, VerificationReport } from '../../common/types';
import { pct } from '../etl/drift';
import { fileMatches, fileName } from '../../common/files';
import { scopedMatches, touchedColumns, type Patch } from '../../common/patch';
import { ident, lit } from '../../lib/duckdb';
import { runLoad, TYPED, type LoadResult } from '../etl/load';
import { profileRelation } from '../etl/profile';
import type { ColumnProfile, TableProfile } from '../etl/profile';

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

const fmt = (x: number | null | undefined): string =>
  x == null ? 'n/a' : Number.isInteger(x) ? String(x) : x.toPrecision(6).replace(/\.?0+$/, '');

function ratioOk(a: number, b: number, max: number): boolean {
  if (a === 0 && b === 0) return true;
  if (a === 0 || b === 0) return false;
  const r = a / b;
  return r <= max && r >= 1 / max;
}

/** Compare a column's profile with its baseline: pass/fail with the figures that decided it. */
export function compareProfiles(
  base: ColumnProfile,
  cand: ColumnProfile,
  tol: ProfileTolerance = DEFAULT_TOLERANCE,
): VerificationCheck {
  const name = `profile:${base.name}`;
  const problems: string[] = [];
  const figures: string[] = [];
  // A lossless widening (integer → number, date → timestamp: the `widen` op) keeps the column; its
  // values are compared as the wider type, but not as categories (1 and 1.0, a date and its midnight).
  const widened = cand.type !== base.type && WIDENINGS[base.type] === cand.type;
  if (widened) figures.push(`widened ${base.type} → ${cand.type}`);
  else if (cand.type !== base.type) problems.push(`type ${cand.type} vs baseline ${base.type}`);
  const nullRise = cand.nullRate - base.nullRate;
  if (nullRise > tol.maxNullRateRise)
    problems.push(`null rate ${pct(cand.nullRate)} vs baseline ${pct(base.nullRate)}`);

  // Identifiers (integer columns unique in both profiles) move with every batch or partition: their
  // centre and spread say nothing about whether the column is the same (as in the silent drift check).
  const identifier =
    base.type === 'integer' &&
    base.distinctRatio >= IDENTIFIER_DISTINCT_RATIO &&
    cand.distinctRatio >= IDENTIFIER_DISTINCT_RATIO;
  if (identifier) figures.push(`identifier (${pct(cand.distinctRatio)} distinct): centre not compared`);
  if (
    !identifier &&
    (base.type === 'integer' || base.type === 'number' || base.type === 'date' || base.type === 'timestamp')
  ) {
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
      if (moved > bound)
        problems.push(
          `${label} ${fmt(c)} vs baseline ${fmt(b)} (moved ${sd > 0 ? `${moved.toFixed(2)} sd` : pct(moved)})`,
        );
    }
    if (
      base.stddev != null &&
      cand.stddev != null &&
      (base.stddev > 0 || cand.stddev > 0) &&
      !ratioOk(cand.stddev, base.stddev, tol.maxSpreadRatio)
    ) {
      problems.push(`spread (sd) ${fmt(cand.stddev)} vs baseline ${fmt(base.stddev)}`);
    }
  }
  if (
    (base.type === 'date' || base.type === 'timestamp') &&
    base.min != null &&
    base.max != null &&
    cand.min != null &&
    cand.max != null
  ) {
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
  if (widened) {
    // Categories and shapes of the narrower type say nothing about the wider one's values.
  } else if (base.topValues && base.topValues.length && !cand.topValues && cand.distinct > 2 * base.distinct) {
    problems.push(
      `${cand.distinct} distinct values vs ${base.distinct} in the baseline (a low-cardinality column became high-cardinality)`,
    );
  } else if (base.topValues && base.topValues.length && cand.topValues) {
    const known = new Set(base.topValues.map((v) => v.value));
    const overlap = cand.topValues.filter((v) => known.has(v.value)).reduce((a, v) => a + v.share, 0);
    figures.push(`${pct(overlap)} of values known`);
    if (overlap < tol.minCategoryOverlap)
      problems.push(`only ${pct(overlap)} of values are among the baseline's categories`);
  } else if (base.type === 'string' && base.patterns.length && cand.patterns.length) {
    const known = new Set(base.patterns.map((p) => p.pattern));
    const overlap = cand.patterns.filter((p) => known.has(p.pattern)).reduce((a, p) => a + p.share, 0);
    figures.push(`${pct(overlap)} of shapes known`);
    if (overlap < tol.minPatternOverlap)
      problems.push(`only ${pct(overlap)} of values have a shape seen in the baseline`);
  }
  return problems.length
    ? {
        name,
        passed: false,
        figure: problems.join('; '),
        threshold: 'close to the baseline profile',
        detail: `${base.name}: ${problems.join('; ')}`,
      }
    : {
        name,
        passed: true,
        figure: figures.join(', ') || 'no comparable figures',
        threshold: 'close to the baseline profile',
      };
}

const mean = (xs: readonly number[]): number => xs.reduce((a, x) => a + x, 0) / (xs.length || 1);
const sdOf = (xs: readonly number[]): number =>
  xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));

/**
 * A fixed file's column against the same column of the other files of its source ("is it the same
 * column?", where a file is a slice, not the whole): the centre within the files' own spread of
 * centres (3 sd of the files' medians, plus half a within-file sd) and the spread within ×/÷2 of
 * theirs; categories among theirs, or shapes like theirs. A column the files are split by keeps its
 * type, null-rate and shape checks only.
 */
export function comparePeers(
  cand: ColumnProfile,
  peers: readonly ColumnProfile[],
  partitionKey: boolean,
  file: string,
  tol: ProfileTolerance = DEFAULT_TOLERANCE,
): VerificationCheck {
  const name = `peers:${cand.name}@${file}`;
  const threshold = `close to the other ${peers.length} file(s)`;
  const problems: string[] = [];
  const figures: string[] = [];
  const sameType = peers.filter((b) => b.type === cand.type);
  if (!sameType.length) problems.push(`type ${cand.type} vs ${peers[0]?.type}`);
  const worstNull = Math.max(...peers.map((b) => b.nullRate));
  if (cand.nullRate - worstNull > tol.maxNullRateRise)
    problems.push(`null rate ${pct(cand.nullRate)} vs at most ${pct(worstNull)} in the others`);
  const numeric =
    cand.type === 'integer' || cand.type === 'number' || cand.type === 'date' || cand.type === 'timestamp';
  const identifier =
    cand.type === 'integer' &&
    cand.distinctRatio >= IDENTIFIER_DISTINCT_RATIO &&
    sameType.every((b) => b.distinctRatio >= IDENTIFIER_DISTINCT_RATIO);
  if (numeric && !partitionKey && !identifier && cand.median != null) {
    const centres = sameType.flatMap((b) => (b.median == null ? [] : [b.median]));
    const spreads = sameType.flatMap((b) => (b.stddev == null ? [] : [b.stddev]));
    if (centres.length) {
      const bound = 3 * sdOf(centres) + tol.maxCenterShiftSd * mean(spreads);
      const off = Math.abs(cand.median - mean(centres));
      figures.push(`median ${fmt(cand.median)} vs ${fmt(mean(centres))} ± ${fmt(bound)}`);
      if (off > bound && !(bound === 0 && off === 0))
        problems.push(`median ${fmt(cand.median)} vs ${fmt(mean(centres))} in the other files (bound ± ${fmt(bound)})`);
    }
    if (cand.stddev != null && spreads.length && (cand.stddev > 0 || Math.max(...spreads) > 0)) {
      const lo = Math.min(...spreads) / tol.maxSpreadRatio;
      const hi = Math.max(...spreads) * tol.maxSpreadRatio;
      if (cand.stddev < lo || cand.stddev > hi)
        problems.push(`spread (sd) ${fmt(cand.stddev)} outside ${fmt(lo)}..${fmt(hi)} of the other files`);
    }
  }
  const known = new Set(sameType.flatMap((b) => (b.topValues ?? []).map((v) => v.value)));
  if (!partitionKey && cand.topValues && known.size && sameType.every((b) => b.topValues)) {
    const overlap = cand.topValues.filter((v) => known.has(v.value)).reduce((a, v) => a + v.share, 0);
    figures.push(`${pct(overlap)} of values known`);
    if (overlap < tol.minCategoryOverlap)
      problems.push(`only ${pct(overlap)} of values are among the other files' categories`);
  } else if (cand.type === 'string' && cand.patterns.length) {
    const shapes = new Set(sameType.flatMap((b) => b.patterns.map((x) => x.pattern)));
    const overlap = cand.patterns.filter((x) => shapes.has(x.pattern)).reduce((a, x) => a + x.share, 0);
    figures.push(`${pct(overlap)} of shapes known`);
    if (shapes.size && overlap < tol.minPatternOverlap)
      problems.push(`only ${pct(overlap)} of values have a shape seen in the other files`);
  }
  if (partitionKey) figures.push('the files are split by this column: centre and categories not compared');
  return problems.length
    ? {
        name,
        passed: false,
        figure: problems.join('; '),
        threshold,
        detail: `${cand.name} in ${file}: ${problems.join('; ')}`,
      }
    : { name, passed: true, figure: figures.join(', ') || 'no comparable figures', threshold };
}

export interface VerifyOptions {
  spec: PipelineSpec;
  candidateVersion: number;
  source: string;
  /** The files to prove it on (those the drift was found in). @default the files `source` matches */
  files?: readonly string[];
  /** Files set aside by the run: not loaded. @default [] */
  exclude?: readonly string[];
  /** A file over its quarantine budget is set aside instead of failing the candidate (the run may end partial). @default false */
  setAsideOverBudget?: boolean;
  allowedRoots: readonly string[];
  baseline: TableProfile | null;
  /**
   * The patch that made the candidate: a fix of some files only (`files` ops) is judged against
   * the other files of the source; the columns it changes are the ones compared. @default none
   */
  patch?: Patch;
  /**
   * The candidate is for one slice of a larger source (a partition): its columns are compared with
   * these other files of the source (read with `spec`, the version they fit), not with the
   * baseline of the whole. @default none
   */
  peers?: { spec: PipelineSpec; files: readonly string[] };
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

/** Each contract column compared with the baseline (the whole source: the same kind of thing as the last good load). */
function baselineChecks(
  spec: PipelineSpec,
  opts: VerifyOptions,
  profile: TableProfile | null,
  partitionKeys: ReadonlySet<string>,
): VerificationCheck[] {
  if (!opts.baseline)
    return [{ name: 'profile', passed: true, figure: 'no baseline recorded yet: profile checks skipped' }];
  const checks: VerificationCheck[] = [];
  for (const c of spec.contract.columns) {
    const cand = profile?.columns.find((p) => p.name === c.name);
    const b = opts.baseline.columns.find((p) => p.name === c.name);
    const entry = spec.mapping[c.name];
    if (entry && entry.from === undefined && entry.expr === undefined) {
      // An optional column the source no longer has: its values are the default by design.
      checks.push({
        name: `defaulted:${c.name}`,
        passed: true,
        figure: `not in the source: default ${JSON.stringify(entry.default ?? null)}`,
      });
    } else if (b && cand && partitionKeys.has(c.name)) {
      checks.push({
        name: `profile:${c.name}`,
        passed: true,
        figure: 'the files are split by this column: its mix and range are not compared',
      });
    } else if (b && cand) checks.push(compareProfiles(b, cand, opts.tolerance));
  }
  return checks;
}

/** Profiles of the fixed files and of the files the fix is judged against, by file. */
interface PeerProfiles {
  /** Contract columns the fix changes. */
  columns: string[];
  fixed: { file: string; profile: TableProfile }[];
  peers: { file: string; profile: TableProfile }[];
}

/** Most other files read to judge a fix of some files by. */
const MAX_PEERS = 8;

/**
 * For a fix of some files only — a `files` patch on a many-file source, or a partition's — the
 * profiles of the fixed files and of up to 8 others that fit without it. Undefined when the fix is
 * for the whole source, or when no other file is there to judge by (then the baseline decides).
 */
async function peerProfiles(
  conn: DuckDBConnection,
  opts: VerifyOptions,
  res: LoadResult,
): Promise<PeerProfiles | undefined> {
  const columns = opts.patch ? touchedColumns(opts.spec, opts.patch) : opts.spec.contract.columns.map((c) => c.name);
  if (!columns.length) return undefined;
  const only = {
    ...opts.spec,
    contract: { columns: opts.spec.contract.columns.filter((c) => columns.includes(c.name)) },
  };
  const typed = opts.keepAs ? ident(opts.keepAs) : TYPED;
  const ofFile = (f: string) =>
    profileRelation(
      conn,
      only,
      `(SELECT * FROM ${typed} WHERE NOT __bad${res.sources.length > 1 ? ` AND __file = ${lit(f)}` : ''})`,
    );
  if (opts.peers) {
    const peers: PeerProfiles['peers'] = [];
    for (const file of opts.peers.files.slice(0, MAX_PEERS)) {
      try {
        const r = await runLoad(conn, {
          spec: opts.peers.spec,
          specVersion: 0,
          runId: `${opts.runId}/peer`,
          source: file,
          files: [file],
          allowedRoots: opts.allowedRoots,
          commit: false,
        });
        if (r.profile)
          peers.push({
            file,
            profile: { rows: r.profile.rows, columns: r.profile.columns.filter((c) => columns.includes(c.name)) },
          });
      } catch {
        // A peer that does not fit its version either is no evidence: leave it out.
      }
    }
    const fixed = res.sources.map((file) => ({
      file,
      profile: {
        rows: res.profile?.rows ?? 0,
        columns: (res.profile?.columns ?? []).filter((c) => columns.includes(c.name)),
      },
    }));
    return peers.length ? { columns, fixed, peers } : undefined;
  }
  const matches = opts.patch ? scopedMatches(opts.patch) : undefined;
  if (!matches || res.sources.length < 2) return undefined;
  const isFixed = (f: string) => matches.some((m) => fileMatches(m, f));
  const others = res.sources.filter((f) => !isFixed(f)).slice(0, MAX_PEERS);
  if (!others.length) return undefined;
  const fixed = [];
  for (const file of res.sources.filter(isFixed)) fixed.push({ file, profile: await ofFile(file) });
  const peers = [];
  for (const file of others) peers.push({ file, profile: await ofFile(file) });
  return { columns, fixed, peers };
}

/** Each fixed file's changed columns against the same columns of the other files (how much files differ among themselves sets the bound). */
function peerChecks(spec: PipelineSpec, p: PeerProfiles, partitionKeys: ReadonlySet<string>): VerificationCheck[] {
  const checks: VerificationCheck[] = [];
  for (const { file, profile } of p.fixed) {
    for (const name of p.columns) {
      const cand = profile.columns.find((c) => c.name === name);
      const others = p.peers.flatMap((x) => x.profile.columns.filter((c) => c.name === name));
      if (!cand || !others.length) continue;
      const entry = spec.mapping[name];
      if (entry && entry.from === undefined && entry.expr === undefined) continue;
      checks.push(comparePeers(cand, others, partitionKeys.has(name), fileName(file)));
    }
  }
  return checks;
}

/** Run the candidate on the whole source in `conn` (a scratch database) and check the result. */
export async function verifyCandidate(conn: DuckDBConnection, opts: VerifyOptions): Promise<VerificationReport> {
  const { spec } = opts;
  const checks: VerificationCheck[] = [];
  const base = {
    passed: false,
    candidateVersion: opts.candidateVersion,
    rowsRead: 0,
    rowsLoaded: 0,
    rowsQuarantined: 0,
  };
  let res;
  try {
    res = await runLoad(conn, {
      spec,
      specVersion: opts.candidateVersion,
      runId: opts.runId,
      source: opts.source,
      ...(opts.files ? { files: opts.files } : {}),
      ...(opts.exclude ? { exclude: opts.exclude } : {}),
      setAsideOverBudget: opts.setAsideOverBudget ?? false,
      allowedRoots: opts.allowedRoots,
      // Staged and cast but not written: every figure below comes from the load's counts and profile.
      commit: false,
      // Several files: what would become the table meets the silent drift check as the apply's load will
      // (finding the columns that split the files); one file is compared column by column below, more strictly.
      baseline: opts.peers || (opts.files?.length ?? 0) < 2 ? null : opts.baseline,
      // Cast straight into the table kept for the apply (dropped below unless every check holds).
      ...(opts.keepAs ? { keepAs: opts.keepAs } : {}),
    });
  } catch (err) {
    if (opts.keepAs) await conn.run(`DROP TABLE IF EXISTS ${ident(opts.keepAs)}`).catch(() => undefined);
    if (!(err instanceof HealError)) throw err;
    const name = err.type === 'QuarantineBudgetExceeded' ? 'quarantine-budget' : 'contract';
    checks.push({
      name,
      passed: false,
      figure: err.message.slice(0, 300),
      threshold: name === 'contract' ? 'the source fits the contract' : `≤ ${budgetLabel(spec.quality)}`,
    });
    return { ...base, checks, summary: `${name} failed: ${err.message.slice(0, 200)}` };
  }
  checks.push({
    name: 'contract',
    passed: true,
    figure: 'the source fits the candidate spec',
    threshold: 'the source fits the contract',
  });
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
    passed: withinQuarantineBudget(spec.quality, res.rowsQuarantined, res.rowsRead),
    figure: `${pct(share)} quarantined (${res.rowsQuarantined} rows)`,
    threshold: `≤ ${budgetLabel(spec.quality)}`,
  });
  const profile = res.profile;
  for (const c of spec.contract.columns) {
    const cand = profile?.columns.find((p) => p.name === c.name);
    if (c.required) {
      const allNull = !cand || cand.count === 0;
      checks.push({
        name: `not-all-null:${c.name}`,
        passed: !allNull,
        figure: `${cand?.count ?? 0} non-null values`,
        threshold: '> 0',
      });
    }
  }
  const peers = await peerProfiles(conn, opts, res);
  if (peers) checks.push(...peerChecks(spec, peers, new Set(res.partitionKeys)));
  else checks.push(...baselineChecks(spec, opts, profile, new Set(res.partitionKeys)));
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
    summary: failed.length
      ? failed
          .map((f) => `${f.name}: ${f.figure}`)
          .join('; ')
          .slice(0, 400)
      : `all ${checks.length} checks passed`,
  };
  verifiedLoads.set(report, { sources: res.sources, rowsRead: res.rowsRead, profile: res.profile, kept });
  return report;
}
