/**
 * One load of a pipeline: resolve → check for drift → one read of the source, cast as it is read
 * (bad rows flagged for quarantine) → value checks → profile, compared with the baseline (silent
 * drift) → write the target, quarantine and load record in one transaction. Works
 * on any DuckDB connection: the warehouse for a real load, a scratch database for verification.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { QuarantineBudgetExceededError, SchemaDriftError, SpecInvalidError } from '../../common/errors';
import type { PipelineSpec } from '../../common/spec';
import type { DriftDifference, DriftReport } from '../../common/types';
import { ident, lit, queryOne, queryRows } from '../../lib/duckdb';
import { classifyRejects, classifyValues, clip, compareColumns, driftReport, pct, valueStats } from './drift';
import { profileRelation, type TableProfile } from './profile';
import { checkDistribution, distributionSummary, distributionThresholds } from './silent-drift';
import {
  ENCODING_ERROR,
  FILE_COLUMN,
  RAW,
  REJECT_SCANS,
  REJECTS,
  fileFacts,
  readHeader,
  resolveSourceFiles,
  shapeOf,
  countStaged,
  sniffCsv,
  sourceSelect,
  stageSource,
  type OpenedSource,
  type StagedSource,
} from './source';
import { compileExpression } from '../doctor/expression';
import { columnSql, DUCKDB_TYPES, tableColumnsDdl, type CompiledExpressions } from './sql';

export const TYPED = '__heal_typed';
export const LOADS_TABLE = '__heal_loads';

export interface LoadContext {
  spec: PipelineSpec;
  specVersion: number;
  /** Identifies this load (the workflow id): quarantine rows and load records are keyed by it. */
  runId: string;
  /** Source path or glob for this load (the spec's unless overridden). */
  source: string;
  allowedRoots: readonly string[];
  /** Write the target table. False: stop after staging and casting (verification, dry runs). */
  commit: boolean;
  /**
   * Profile of the last good load. When given, the rows about to load are profiled and compared
   * with it before anything is written (the silent drift check, `quality.profile`): a column that
   * moved beyond its bounds stops the load with `SchemaDriftError` ('distribution-shift').
   */
  baseline?: TableProfile | null;
  /**
   * Keep the cast rows in this table of `conn`'s database (a persistent table, written as the
   * source is read: verification keeps them for the apply). Without it a load that does not commit
   * casts into a temp table; a committing load always stages in a table of the warehouse.
   * @default a temp table
   */
  keepAs?: string;
}

export interface LoadResult {
  sources: string[];
  rowsRead: number;
  rowsLoaded: number;
  rowsQuarantined: number;
  skipped: boolean;
  /** Profile of the rows this load accepted; null when skipped. */
  profile: TableProfile | null;
  /** True when this run id had already committed (a retried activity): nothing was redone. */
  alreadyCommitted: boolean;
  /** When the load's transaction committed (ISO time); null when nothing was committed. */
  committedAt: string | null;
}

/** Structural drift: what can be seen from file facts and headers alone. */
export async function checkStructure(conn: DuckDBConnection, ctx: LoadContext, files: string[]): Promise<DriftReport | null> {
  const { spec } = ctx;
  const differences: DriftDifference[] = [];
  let found: string[] = [];
  for (const file of files) {
    const facts = fileFacts(file);
    if (facts.empty) {
      differences.push({ kind: 'empty-file', detail: `${file} is empty (${facts.bytes} bytes)` });
      continue;
    }
    const header = await readHeader(conn, spec, file);
    if (!header.ok) {
      if (ENCODING_ERROR.test(header.error)) {
        differences.push({
          kind: 'encoding-change',
          expected: spec.source.format === 'csv' ? spec.source.csv.encoding : 'utf-8',
          detail: `${file} is not valid ${spec.source.format === 'csv' ? spec.source.csv.encoding : 'utf-8'} (${clip(header.error, 120)})`,
        });
        continue;
      }
      differences.push({ kind: 'malformed-rows', detail: `${file} cannot be read as ${spec.source.format}: ${clip(header.error, 160)}` });
      continue;
    }
    found = header.columns;
    let diffs = compareColumns(spec, header.columns);
    if (spec.source.format !== 'csv') diffs = diffs.filter((d) => d.kind !== 'reordered');
    if (diffs.length && spec.source.format === 'csv') {
      const sniff = await sniffCsv(conn, file, spec.source.csv.encoding);
      diffs = compareColumns(spec, header.columns, sniff);
    }
    differences.push(...diffs.map((d) => (files.length > 1 ? { ...d, detail: `${d.detail} (${file})` } : d)));
  }
  if (!differences.length) return null;
  return driftReport(spec, ctx.specVersion, files, differences, shapeOf(spec, spec.source.columns), shapeOf(spec, found));
}

/** Value drift over the staged source: no rows, truncation, malformed lines, values that no longer parse. */
export async function checkValues(
  conn: DuckDBConnection,
  ctx: LoadContext,
  /** `typed`: the table castStaged wrote; the counts come from its rows. */
  staged: StagedSource & { typed?: string },
  exprs: CompiledExpressions = {},
): Promise<DriftReport | null> {
  const { spec } = ctx;
  const differences: DriftDifference[] = [];
  if (staged.rows === 0 && staged.rejectedLines === 0) {
    differences.push({ kind: 'no-rows', detail: 'the source has a header but no data rows; a partial file never replaces the table' });
  } else {
    differences.push(...(await classifyRejects(conn, spec, staged.rejectedLines, staged.rows, staged.truncated)));
    differences.push(...classifyValues(spec, await valueStats(conn, spec, exprs, staged.typed ? { typed: staged.typed } : {}), staged.rows));
  }
  if (!differences.length) return null;
  return driftReport(
    spec,
    ctx.specVersion,
    staged.files,
    differences,
    shapeOf(spec, spec.source.columns),
    shapeOf(spec, staged.columns, staged.rows + staged.rejectedLines),
  );
}

/**
 * Read the source once, straight from its files, casting every row into `__heal_typed` and
 * flagging rows that go to quarantine and why (malformed lines are recorded in `__heal_rejects`).
 * The text of a row is kept (`__raw`) only for a row that goes to quarantine. Rows stay in file
 * order: a row's `rowid` in `__heal_typed` is its position among the source's well-formed rows.
 * Returns the source with its counts.
 */
export async function castStaged(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  source: OpenedSource,
  exprs: CompiledExpressions = {},
  /** A persistent table to write (see {@link LoadContext.keepAs}); default: the temp table `__heal_typed`. */
  table?: string,
): Promise<StagedSource> {
  const typed = table === undefined ? TYPED : ident(table);
  const parts = spec.contract.columns.map((c) => columnSql(spec, c, 'r', exprs));
  // Three levels, so that every cast runs once per row: the inner one casts each column
  // (`__heal_v<i>`) and notes whether its text is not empty (`__heal_n<i>`: the value checks count
  // from these, see valueStats); the middle one flags the row from those; the outer one spells out
  // why, and keeps the row's text, for flagged rows only (a CASE branch runs for its rows alone).
  const fails = parts.map((p, i) => (p.fail === 'false' ? 'false' : `(__heal_n${i} AND __heal_v${i} IS NULL)`));
  const missings = parts.map((p, i) => (p.missing === 'false' || p.missing === 'true' ? p.missing : `(NOT __heal_n${i})`));
  const bad = [...fails, ...missings].filter((x) => x !== 'false');
  const reasons = parts.flatMap((p, i) => {
    const out: string[] = [];
    if (p.fail !== 'false')
      out.push(
        `CASE WHEN ${fails[i]} THEN ${lit(`${p.column.name}: `)} || '''' || left(${p.text}, 80) || ''' is not a valid ${p.column.type}' END`,
      );
    if (p.missing !== 'false') out.push(`CASE WHEN ${missings[i]} THEN ${lit(`${p.column.name}: required value is missing`)} END`);
    return out;
  });
  const badCols = parts.flatMap((p, i) => (p.fail !== 'false' || p.missing !== 'false' ? [`CASE WHEN ${fails[i]} OR ${missings[i]} THEN ${lit(p.column.name)} END`] : []));
  const rawColumns = [...source.columns, FILE_COLUMN];
  const inner = `SELECT r.*, ${parts.map((p, i) => `${p.value} AS __heal_v${i}, (${p.text}) IS NOT NULL AS __heal_n${i}`).join(', ')}
    FROM (${sourceSelect(spec, source.files, { rejects: true })}) r`;
  await conn.run(`CREATE OR REPLACE ${table === undefined ? 'TEMP ' : ''}TABLE ${typed} AS
    SELECT ${source.files.length > 1 ? `r.${ident(FILE_COLUMN)}` : 'NULL::VARCHAR'} AS __file,
      ${parts.map((p, i) => `CAST(__heal_v${i} AS ${DUCKDB_TYPES[p.column.type]}) AS ${ident(p.column.name)}`).join(', ')},
      ${parts.map((_p, i) => `__heal_n${i}`).join(', ')},
      __heal_bad AS __bad,
      ${reasons.length ? `CASE WHEN __heal_bad THEN concat_ws('; ', ${reasons.join(', ')}) END` : 'NULL::VARCHAR'} AS __reason,
      ${badCols.length ? `CASE WHEN __heal_bad THEN concat_ws(',', ${badCols.join(', ')}) END` : 'NULL::VARCHAR'} AS __columns,
      CASE WHEN __heal_bad THEN json_object(${rawColumns.map((c) => `${lit(c)}, r.${ident(c)}`).join(', ')})::VARCHAR END AS __raw
    FROM (SELECT *, ${bad.length ? bad.join(' OR ') : 'false'} AS __heal_bad FROM (${inner})) r`);
  if (spec.target.mode === 'merge' && spec.target.key?.length) await flagDuplicateKeys(conn, spec, typed);
  const rows = (await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${typed}`))?.n ?? 0;
  return countStaged(conn, spec, source, rows);
}

/** Merge: of rows with the same key, the last one in the source wins; the others go to quarantine. */
async function flagDuplicateKeys(conn: DuckDBConnection, spec: PipelineSpec, typed: string): Promise<void> {
  const keys = (spec.target.key ?? []).map(ident);
  const marked = await queryOne<{ Count: number }>(
    conn,
    `UPDATE ${typed} SET __bad = true, __columns = ${lit((spec.target.key ?? []).join(','))},
        __reason = 'duplicate key: a later row of the source has the same key'
      WHERE NOT __bad AND rowid IN (
        SELECT rid FROM (SELECT rowid AS rid, row_number() OVER (PARTITION BY ${keys.join(', ')} ORDER BY rowid DESC) AS k FROM ${typed} WHERE NOT __bad) WHERE k > 1)`,
  );
  if (!marked || Number(marked.Count) === 0) return;
  // Their text, from a second read of the source (same rows, same order; only when there are duplicates).
  await conn.run(`UPDATE ${typed} SET __raw = s.raw
    FROM (SELECT row_number() OVER () - 1 AS pos, to_json(r)::VARCHAR AS raw FROM ${RAW} r) s
    WHERE ${typed}.rowid = s.pos AND ${typed}.__bad AND ${typed}.__raw IS NULL`);
}

async function tableExists(conn: DuckDBConnection, table: string): Promise<boolean> {
  const r = await queryOne<{ n: number }>(
    conn,
    `SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ${lit(table)} AND table_type = 'BASE TABLE'`,
  );
  return (r?.n ?? 0) > 0;
}

async function ensureLoadsTable(conn: DuckDBConnection): Promise<void> {
  await conn.run(`CREATE TABLE IF NOT EXISTS ${LOADS_TABLE} (
    run_id VARCHAR, pipeline VARCHAR, table_name VARCHAR, mode VARCHAR, load_key VARCHAR, spec_version INTEGER,
    sources VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, loaded_at TIMESTAMP)`);
}

interface LoadRecord {
  rows_read: number;
  rows_loaded: number;
  rows_quarantined: number;
  sources: string;
}

async function findLoad(conn: DuckDBConnection, where: string): Promise<LoadRecord | undefined> {
  if (!(await tableExists(conn, LOADS_TABLE))) return undefined;
  return queryOne<LoadRecord>(conn, `SELECT rows_read, rows_loaded, rows_quarantined, sources FROM ${LOADS_TABLE} WHERE ${where} LIMIT 1`);
}

/** The result of this run id's load when it already committed (a retried activity), else undefined. */
async function alreadyCommitted(conn: DuckDBConnection, ctx: LoadContext): Promise<LoadResult | undefined> {
  const done = await findLoad(conn, `run_id = ${lit(ctx.runId)} AND table_name = ${lit(ctx.spec.target.table)}`);
  if (!done) return undefined;
  return {
    sources: JSON.parse(done.sources) as string[],
    rowsRead: done.rows_read,
    rowsLoaded: done.rows_loaded,
    rowsQuarantined: done.rows_quarantined,
    skipped: false,
    profile: null,
    alreadyCommitted: true,
    committedAt: null,
  };
}

/**
 * An append's idempotency key (the content hash of its files), and the skipped result when these
 * exact files were appended before. Other modes: no key.
 */
async function appendKey(conn: DuckDBConnection, ctx: LoadContext, files: string[]): Promise<{ loadKey: string; skipped?: LoadResult }> {
  if (ctx.spec.target.mode !== 'append') return { loadKey: '' };
  const loadKey = sourceKey(files);
  const prior = await findLoad(conn, `load_key = ${lit(loadKey)} AND table_name = ${lit(ctx.spec.target.table)} AND mode = 'append'`);
  if (!prior) return { loadKey };
  return {
    loadKey,
    skipped: { sources: files, rowsRead: prior.rows_read, rowsLoaded: 0, rowsQuarantined: 0, skipped: true, profile: null, alreadyCommitted: false, committedAt: null },
  };
}

/** Content hash of the source files: an append's idempotency key. */
export function sourceKey(files: readonly string[]): string {
  const h = crypto.createHash('sha256');
  for (const f of [...files].sort()) {
    h.update(f);
    h.update('\0');
    const fd = fs.openSync(f, 'r');
    try {
      const buf = Buffer.alloc(1 << 20);
      let n: number;
      while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  }
  return h.digest('hex');
}

/**
 * Compile the spec's `derive` expressions against the staged source's columns (validated tree →
 * rendered SQL). An expression whose source columns are gone is drift, like a missing column.
 */
async function compileExpressions(conn: DuckDBConnection, ctx: LoadContext, staged: OpenedSource): Promise<CompiledExpressions> {
  const out: Record<string, string> = {};
  for (const [column, entry] of Object.entries(ctx.spec.mapping)) {
    if (entry.expr === undefined) continue;
    try {
      out[column] = await compileExpression(conn, entry.expr, { sourceColumns: staged.columns, rel: 'r' });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new SchemaDriftError(
        driftReport(ctx.spec, ctx.specVersion, staged.files, [{ kind: 'missing-column', column, detail: `the expression of "${column}" no longer applies: ${why}` }], shapeOf(ctx.spec, ctx.spec.source.columns), shapeOf(ctx.spec, staged.columns)),
      );
    }
  }
  return out;
}

/** SQL giving, for each bad typed row, its line in the source file (header, skipped and malformed lines counted). */
function badRowsWithLines(spec: PipelineSpec, typed: string, files: readonly string[]): string {
  const h = spec.source.format === 'csv' ? (spec.source.csv.header ? 1 : 0) + spec.source.csv.skipRows : 0;
  const rejected =
    spec.source.format === 'csv'
      ? `SELECT s.file_path AS file, e.line - ${h} - (row_number() OVER (PARTITION BY s.file_path ORDER BY e.line) - 1) AS k
         FROM (SELECT DISTINCT scan_id, file_id, line FROM ${REJECTS}) e JOIN ${REJECT_SCANS} s USING (scan_id, file_id)`
      : `SELECT NULL::VARCHAR AS file, NULL::BIGINT AS k WHERE false`;
  return `WITH numbered AS (
      SELECT t.rowid AS __row, t.* REPLACE (coalesce(t.__file, ${lit(files[0] ?? '')}) AS __file),
        row_number() OVER (PARTITION BY t.__file ORDER BY t.rowid) AS k FROM ${typed} t),
    rej AS (${rejected})
    SELECT n.__row, n.__file, n.__columns, n.__reason, n.__raw,
      n.k + ${h} + (SELECT count(*) FROM rej WHERE rej.file = n.__file AND rej.k <= n.k) AS line
    FROM numbered n WHERE n.__bad`;
}

/** Temp table of the bad rows with their source lines, taken before a staged table changes. */
const BAD_ROWS = '__heal_bad_rows';

/** Number the bad rows (their lines in the source) into `__heal_bad_rows`. `__file` is NULL for a one-file source. */
async function collectBadRows(conn: DuckDBConnection, ctx: LoadContext, typed: string, files: readonly string[], bad: number): Promise<void> {
  if (bad > 0) await conn.run(`CREATE OR REPLACE TEMP TABLE ${BAD_ROWS} AS ${badRowsWithLines(ctx.spec, typed, files)}`);
}

/** Write this run's quarantine rows (bad rows collected by collectBadRows, malformed lines); inside the load's transaction. */
async function writeQuarantine(conn: DuckDBConnection, ctx: LoadContext, bad: number, rejected: number): Promise<void> {
  const q = ident(`${ctx.spec.target.table}__quarantine`);
  await conn.run(`CREATE TABLE IF NOT EXISTS ${q} (
    run_id VARCHAR, pipeline VARCHAR, spec_version INTEGER, source_file VARCHAR, line BIGINT,
    column_name VARCHAR, reason VARCHAR, raw_row VARCHAR, quarantined_at TIMESTAMP)`);
  await conn.run(`DELETE FROM ${q} WHERE run_id = ${lit(ctx.runId)}`);
  // Nothing to quarantine (the common case): skip the numbering pass over every typed row.
  if (bad === 0 && rejected === 0) return;
  const common = `${lit(ctx.runId)}, ${lit(ctx.spec.name)}, ${ctx.specVersion}`;
  if (bad > 0) {
    await conn.run(`INSERT INTO ${q}
      SELECT ${common}, b.__file, b.line, b.__columns, b.__reason, b.__raw, now()::TIMESTAMP
      FROM ${BAD_ROWS} b ORDER BY b.line`);
  }
  if (ctx.spec.source.format === 'csv' && rejected > 0) {
    await conn.run(`INSERT INTO ${q}
      SELECT ${common}, s.file_path, e.line, string_agg(DISTINCT coalesce(e.column_name, ''), ','),
        string_agg(DISTINCT e.error_type || ': ' || coalesce(e.error_message, ''), '; '), any_value(e.csv_line), now()::TIMESTAMP
      FROM ${REJECTS} e JOIN ${REJECT_SCANS} s USING (scan_id, file_id) GROUP BY s.file_path, e.line`);
  }
}

async function checkTargetColumns(conn: DuckDBConnection, spec: PipelineSpec): Promise<void> {
  const cols = await queryRows<{ column_name: string }>(
    conn,
    `SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ${lit(spec.target.table)} ORDER BY ordinal_position`,
  );
  const have = cols.map((c) => c.column_name).join(', ');
  const want = spec.contract.columns.map((c) => c.name).join(', ');
  if (have !== want) {
    throw new SpecInvalidError(`target ${spec.target.table}`, [
      `${spec.target.mode} needs the table's columns to match the contract: the table has (${have}), the contract (${want})`,
    ]);
  }
}

/** Write the target table, quarantine and load record in one transaction, from the cast rows in `typed`. */
async function commitLoad(
  conn: DuckDBConnection,
  ctx: LoadContext,
  files: string[],
  rowsRead: number,
  loadKey: string,
  typed: string,
): Promise<{ loaded: number; quarantined: number }> {
  const { spec } = ctx;
  const t = ident(spec.target.table);
  const cols = spec.contract.columns.map((c) => ident(c.name)).join(', ');
  const counts = (await queryOne<{ good: number; bad: number }>(
    conn,
    `SELECT count(*) FILTER (WHERE NOT __bad) AS good, count(*) FILTER (WHERE __bad) AS bad FROM ${typed}`,
  )) ?? { good: 0, bad: 0 };
  const rejected = rowsRead - counts.good - counts.bad;
  await collectBadRows(conn, ctx, typed, files, counts.bad);
  await conn.run('BEGIN TRANSACTION');
  try {
    await writeQuarantine(conn, ctx, counts.bad, rejected);
    if (spec.target.mode === 'replace') {
      await conn.run(`CREATE OR REPLACE TABLE ${t} (${tableColumnsDdl(spec)})`);
    } else {
      await conn.run(`CREATE TABLE IF NOT EXISTS ${t} (${tableColumnsDdl(spec)})`);
      await checkTargetColumns(conn, spec);
    }
    if (spec.target.mode === 'merge' && spec.target.key?.length) {
      const on = spec.target.key.map((k) => `${t}.${ident(k)} IS NOT DISTINCT FROM s.${ident(k)}`).join(' AND ');
      await conn.run(`DELETE FROM ${t} USING (SELECT ${spec.target.key.map(ident).join(', ')} FROM ${typed} WHERE NOT __bad) s WHERE ${on}`);
    }
    // File order without a sort: the typed rows were written in file order and DuckDB preserves
    // insertion order (preserve_insertion_order, on by default) through a filtered scan.
    await conn.run(`INSERT INTO ${t} (${cols}) SELECT ${cols} FROM ${typed} WHERE NOT __bad`);
    await ensureLoadsTable(conn);
    await conn.run(`INSERT INTO ${LOADS_TABLE} VALUES (${lit(ctx.runId)}, ${lit(spec.name)}, ${lit(spec.target.table)}, ${lit(spec.target.mode)},
      ${lit(loadKey)}, ${ctx.specVersion}, ${lit(JSON.stringify(files))}, ${rowsRead}, ${counts.good}, ${counts.bad + rejected}, now()::TIMESTAMP)`);
    await conn.run('COMMIT');
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    if (counts.bad > 0) await conn.run(`DROP TABLE IF EXISTS ${BAD_ROWS}`).catch(() => undefined);
  }
  return { loaded: counts.good, quarantined: counts.bad + rejected };
}

/**
 * Run one load on `conn`. Throws `SchemaDriftError` (nothing written) when the source no longer
 * fits or, given a baseline, when a column's values shifted beyond `quality.profile`
 * ('distribution-shift'); `QuarantineBudgetExceededError` when too many rows are bad.
 */
export async function runLoad(conn: DuckDBConnection, ctx: LoadContext): Promise<LoadResult> {
  const { spec } = ctx;
  if (ctx.commit) {
    const done = await alreadyCommitted(conn, ctx);
    if (done) return done;
  }
  const files = await resolveSourceFiles(conn, ctx.source, ctx.allowedRoots);
  const structural = await checkStructure(conn, ctx, files);
  if (structural) throw new SchemaDriftError(structural);

  let loadKey = '';
  if (ctx.commit) {
    const append = await appendKey(conn, ctx, files);
    if (append.skipped) return append.skipped;
    loadKey = append.loadKey;
  }

  const opened = await stageSource(conn, spec, files);
  const exprs = await compileExpressions(conn, ctx, opened);
  // Cast rows go to a temp table, or straight into the table verification keeps for the apply.
  // (Not into a table of the warehouse: DuckDB writes a persistent table from a CSV scan in file
  // order 1.5-2x slower than a temp table, more than the copy into the target costs.)
  const stage = ctx.commit ? undefined : ctx.keepAs;
  const typed = stage === undefined ? TYPED : ident(stage);
  try {
    // One read of the source: cast as it is read, then count what failed from the cast rows.
    const staged = await castStaged(conn, spec, opened, exprs, stage);
    const valueDrift = await checkValues(conn, ctx, { ...staged, typed }, exprs);
    if (valueDrift) throw new SchemaDriftError(valueDrift);
    const rowsRead = staged.rows + staged.rejectedLines;
    const bad = (await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${typed} WHERE __bad`))?.n ?? 0;
    const quarantined = bad + staged.rejectedLines;
    const share = rowsRead ? quarantined / rowsRead : 0;
    if (share > spec.quality.quarantineBudget) {
      const reasons = await queryRows<{ r: string }>(conn, `SELECT DISTINCT __reason AS r FROM ${typed} WHERE __bad LIMIT 3`);
      throw new QuarantineBudgetExceededError(
        `${quarantined} of ${rowsRead} rows (${pct(share)}) would go to quarantine, over the budget of ${pct(spec.quality.quarantineBudget)}; e.g. ${reasons
          .map((r) => clip(r.r, 100))
          .join(' | ')}`,
        { rowsRead, quarantined, budget: spec.quality.quarantineBudget },
      );
    }

    // The profile of the rows this load accepts: checked against the baseline before anything is
    // written (silent drift), then returned as this load's profile.
    const profile = await profileRelation(conn, spec, `(SELECT * FROM ${typed} WHERE NOT __bad)`);
    if (ctx.baseline) {
      const shifts = checkDistribution(ctx.baseline, profile, distributionThresholds(spec));
      if (shifts.length) {
        const report = driftReport(spec, ctx.specVersion, files, shifts, shapeOf(spec, spec.source.columns), shapeOf(spec, staged.columns, rowsRead));
        throw new SchemaDriftError({ ...report, summary: distributionSummary(spec.name, shifts) });
      }
    }

    let loaded = rowsRead - quarantined;
    let committedAt: string | null = null;
    if (ctx.commit) {
      const c = await commitLoad(conn, ctx, files, rowsRead, loadKey || sourceKeyLite(files), typed);
      loaded = c.loaded;
      committedAt = new Date().toISOString();
    }
    return { sources: files, rowsRead, rowsLoaded: loaded, rowsQuarantined: rowsRead - loaded, skipped: false, profile, alreadyCommitted: false, committedAt };
  } catch (err) {
    if (stage !== undefined) await conn.run(`DROP TABLE IF EXISTS ${typed}`).catch(() => undefined);
    throw err;
  }
}

/** A cheap identity for non-append loads (path, size, mtime): recorded for audit, not used for skipping. */
function sourceKeyLite(files: readonly string[]): string {
  return files
    .map((f) => {
      const st = fs.statSync(f);
      return `${f}:${st.size}:${st.mtimeMs}`;
    })
    .join('|');
}

/** A verified candidate's typed rows, kept in a scratch database file by verification. */
export interface VerifiedRows {
  /** The scratch DuckDB file. */
  db: string;
  /** Its table holding the typed rows (`__heal_typed`'s columns). */
  table: string;
  files: string[];
  rowsRead: number;
}

/**
 * Commit rows a verification already staged, cast and checked (nothing quarantined) instead of
 * reading the source again: the same transaction as a load (target, quarantine, load record), the
 * same idempotency per run id. The caller checks the rows are for this spec version and source.
 */
export async function commitVerified(conn: DuckDBConnection, ctx: LoadContext, rows: VerifiedRows): Promise<LoadResult> {
  const done = await alreadyCommitted(conn, ctx);
  if (done) return done;
  const { loadKey, skipped } = await appendKey(conn, ctx, rows.files);
  if (skipped) return skipped;
  const alias = '__heal_verified_db';
  await conn.run(`ATTACH ${lit(rows.db)} AS ${alias} (READ_ONLY)`);
  try {
    const c = await commitLoad(conn, ctx, rows.files, rows.rowsRead, loadKey || sourceKeyLite(rows.files), `${alias}.${ident(rows.table)}`);
    return {
      sources: rows.files,
      rowsRead: rows.rowsRead,
      rowsLoaded: c.loaded,
      rowsQuarantined: rows.rowsRead - c.loaded,
      skipped: false,
      profile: null,
      alreadyCommitted: false,
      committedAt: new Date().toISOString(),
    };
  } finally {
    await conn.run(`DETACH ${alias}`).catch(() => undefined);
  }
}

/** Identity of source files for matching kept rows to a later load: path, size, mtime. */
export function sourceFingerprint(files: readonly string[]): string {
  return sourceKeyLite(files);
}
