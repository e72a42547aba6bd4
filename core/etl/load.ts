/**
 * One load of a pipeline: resolve → check for drift → one read of the source, cast as it is read
 * (bad rows flagged for quarantine) → value checks → profile, compared with the baseline (silent
 * drift) → write the target, quarantine and load record in one transaction. Works
 * on any DuckDB connection: the warehouse for a real load, a scratch database for verification.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { QuarantineBudgetExceededError, SchemaDriftError, SourceUnreadableError } from '../../common/errors';
import { groupByReading, specForFile } from '../../common/files';
import { budgetLabel, withinQuarantineBudget, type PipelineSpec } from '../../common/spec';
import type { DriftDifference, DriftReport, FileNote, FileOutcome, LoadOutcome } from '../../common/types';
import { ident, inList, lit, queryOne, queryRows } from '../../lib/duckdb';
import { checkSourceFile } from '../../lib/paths';
import { compileExpression } from './expression';
import {
  classifyRejects,
  classifyValues,
  clip,
  compareColumns,
  driftReport,
  pct,
  summaryRowsByFile,
  valueStatsByFile,
  type ReadGroup,
} from './drift';
import { countByFile, findPartitionKeys, sourceFingerprint, sourceKey, type FileCounts } from './files';
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
  sniffCsv,
  sourceSelect,
  stageSource,
  type OpenedSource,
} from './source';
import { columnSql, DUCKDB_TYPES, summarySql, textFlagColumns, totalHint, type CompiledExpressions } from './sql';
import { findHeaderLine, looksLatin1, looksUtf8, scanEncoding } from './text';
import { DUCKDB_TARGET, type CommitFile, type LoadTarget } from './target';

export const TYPED = '__heal_typed';

export interface LoadContext {
  spec: PipelineSpec;
  specVersion: number;
  /** Identifies this load (the workflow id): quarantine rows and load records are keyed by it. */
  runId: string;
  /** Source path or glob for this load (the spec's unless overridden). */
  source: string;
  /**
   * The files to load, already resolved (each is checked against the allowed roots again): a
   * verification loads the files its drift was found in, not whatever the glob matches now.
   * @default the files `source` matches
   */
  files?: readonly string[];
  /** Files of the source not to load: set aside by the run (they could not be loaded or healed). @default [] */
  exclude?: readonly string[];
  /**
   * A file of a many-file source whose quarantine share is over the budget is set aside (not
   * loaded, reported in `setAside`) instead of failing the load. @default false
   */
  setAsideOverBudget?: boolean;
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
  /**
   * Where a committing load writes the table, its quarantine and its records.
   * @default the DuckDB database of the load's connection
   */
  target?: LoadTarget;
}

const targetOf = (ctx: LoadContext): LoadTarget => ctx.target ?? DUCKDB_TARGET;

export interface LoadResult extends LoadOutcome {
  /** Profile of the rows this load accepted; null when skipped. */
  profile: TableProfile | null;
  /** True when this run id had already committed (a retried activity): nothing was redone. */
  alreadyCommitted: boolean;
  /** When the load's transaction committed (ISO time); null when nothing was committed. */
  committedAt: string | null;
}

/**
 * Structural drift: what can be seen from file facts and headers alone, each file with the spec it
 * is read with; and the columns of each file whose header could be read.
 */
async function checkStructure(
  conn: DuckDBConnection,
  ctx: LoadContext,
  files: string[],
): Promise<{ report: DriftReport | null; headers: ReadonlyMap<string, string[]> }> {
  const { spec } = ctx;
  const differences: DriftDifference[] = [];
  let found: string[] = [];
  const multi = files.length > 1;
  const seen: { file: string; columns: string[] }[] = [];
  for (const file of files) {
    const fs = specForFile(spec, file);
    const add = (d: DriftDifference) => differences.push(multi ? { ...d, file, detail: `${d.detail} (${file})` } : d);
    const facts = fileFacts(file);
    if (facts.empty) {
      differences.push({
        kind: 'empty-file',
        ...(multi ? { file } : {}),
        detail: `${file} is empty (${facts.bytes} bytes)`,
      });
      continue;
    }
    const header = await readFileHeader(conn, fs, file);
    if (!header.ok) {
      differences.push({ ...header.difference, ...(multi ? { file } : {}) });
      continue;
    }
    found = header.columns;
    seen.push({ file, columns: header.columns });
    let diffs = compareColumns(fs, header.columns);
    if (fs.source.format !== 'csv') diffs = diffs.filter((d) => d.kind !== 'reordered');
    if (diffs.length && fs.source.format === 'csv')
      diffs = compareColumns(fs, header.columns, await sniffCsv(conn, file, fs.source.csv.encoding));
    diffs.forEach(add);
  }
  const headers = new Map(seen.map((h) => [h.file, h.columns]));
  if (!differences.length) return { report: null, headers };
  const report = driftReport(
    spec,
    ctx.specVersion,
    files,
    differences,
    shapeOf(spec, spec.source.columns),
    shapeOf(spec, found),
  );
  return { report: multi ? { ...report, files: seen } : report, headers };
}

/**
 * The header of one file as the spec reads it, or the difference that stops it being read:
 * - lines of preamble above the header ("Report generated …", blank lines): `header-changed`,
 *   naming the line the header is on (the reader's `skipRows` is one less);
 * - bytes that are not in the spec's encoding: a UTF-8 file with a few corrupt lines is read on
 *   (those lines go to quarantine, within the budget); only a file whose bytes really are latin-1
 *   (no valid UTF-8 multi-byte sequence, letters) is `encoding-change` found `latin-1`;
 * - a file read as latin-1 that is valid UTF-8 with accents (its accents would load as "Ã©"
 *   without any error): `encoding-change` found `utf-8`;
 * - anything else unreadable: `malformed-rows`.
 */
async function readFileHeader(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  file: string,
): Promise<{ ok: true; columns: string[] } | { ok: false; difference: DriftDifference }> {
  const csv = spec.source.format === 'csv' ? spec.source.csv : undefined;
  const moved = csv?.header ? findHeaderLine(file, csv, spec.source.columns) : undefined;
  if (csv && moved) {
    const above = moved.preamble.slice(0, 3).map((l) => JSON.stringify(clip(l, 40)));
    return {
      ok: false,
      difference: {
        kind: 'header-changed',
        expected: `line ${csv.skipRows + 1}`,
        found: `line ${moved.line}`,
        samples: moved.preamble.slice(0, 3).map((l) => clip(l)),
        detail: `${file}: the header is on line ${moved.line}, not line ${csv.skipRows + 1}; the lines above it are not data${above.length ? ` (${above.join(', ')})` : ' (blank)'}`,
      },
    };
  }
  let header = await readHeader(conn, spec, file);
  const encoding = csv?.encoding ?? 'utf-8';
  let found: string | undefined;
  if (csv && !header.ok && ENCODING_ERROR.test(header.error) && encoding === 'utf-8') {
    const scan = scanEncoding(file, (s) => s.multibyte > 0 && s.invalid > 0);
    if (looksLatin1(scan)) found = 'latin-1';
    else header = await readHeader(conn, spec, file, true);
  } else if (csv && header.ok && encoding === 'latin-1' && looksUtf8(scanEncoding(file, (s) => s.invalid > 0))) {
    const detail = `${file} is UTF-8 with non-ASCII text, the spec reads it as latin-1 (its accents would load as "Ã©")`;
    return { ok: false, difference: { kind: 'encoding-change', expected: encoding, found: 'utf-8', detail } };
  }
  if (header.ok) return header;
  const difference: DriftDifference = ENCODING_ERROR.test(header.error)
    ? {
        kind: 'encoding-change',
        expected: encoding,
        ...(found ? { found } : {}),
        detail: `${file} is not valid ${encoding} (${clip(header.error, 120)})${found ? `: no valid UTF-8 multi-byte sequence, its other bytes read as ${found} letters` : ''}`,
      }
    : { kind: 'malformed-rows', detail: `${file} cannot be read as ${spec.source.format}: ${clip(header.error, 160)}` };
  return { ok: false, difference };
}

/**
 * Value drift of each file, from its cast rows: no rows, a cut-off last line, malformed lines,
 * values that no longer parse, required values missing — each beyond the quarantine budget.
 */
async function checkFileValues(
  conn: DuckDBConnection,
  ctx: LoadContext,
  cast: CastFiles,
  counts: Map<string, FileCounts>,
): Promise<DriftReport | null> {
  const { spec } = ctx;
  const { multi } = cast;
  const differences: DriftDifference[] = [];
  for (const g of cast.groups) {
    const stats = await valueStatsByFile(conn, cast.typed, g, multi);
    const summaries = await summaryRowsByFile(conn, cast.typed, g, multi, ctx.baseline);
    for (const file of g.files) {
      const c = counts.get(file) ?? { rows: 0, bad: 0, rejected: 0, lastRejected: null };
      const diffs: DriftDifference[] = [];
      if (c.rows === 0 && c.rejected === 0) {
        diffs.push({
          kind: 'no-rows',
          detail: `${multi ? file : 'the source'} has a header but no data rows; a partial file never replaces the table`,
        });
      } else {
        const h = g.spec.source.format === 'csv' ? (g.spec.source.csv.header ? 1 : 0) + g.spec.source.csv.skipRows : 0;
        const truncated =
          c.lastRejected != null && fileFacts(file).endsWithoutNewline && c.lastRejected >= c.rows + c.rejected + h;
        diffs.push(...(await classifyRejects(conn, g.spec, c.rejected, c.rows, truncated, multi ? file : undefined)));
        diffs.push(...classifyValues(g.spec, stats.get(file) ?? [], c.rows));
        diffs.push(...(summaries.get(file) ?? []));
      }
      differences.push(
        ...diffs.map((d) =>
          multi ? { ...d, file, detail: d.kind === 'no-rows' ? d.detail : `${d.detail} (${file})` } : d,
        ),
      );
    }
  }
  if (!differences.length) return null;
  const rows = [...counts.values()].reduce((a, c) => a + c.rows + c.rejected, 0);
  const report = driftReport(
    spec,
    ctx.specVersion,
    cast.files,
    differences,
    shapeOf(spec, spec.source.columns),
    shapeOf(spec, cast.groups[0]?.columns ?? [], rows),
  );
  return multi
    ? { ...report, files: cast.groups.flatMap((g) => g.files.map((file) => ({ file, columns: g.columns }))) }
    : report;
}

/** A read group after its cast: its columns too. */
interface CastGroup extends ReadGroup {
  columns: string[];
}

/** The source read and cast into one table, group by group (files read the same way are read together). */
interface CastFiles {
  typed: string;
  files: string[];
  groups: CastGroup[];
  /** Rows carry their file (`__file`): a source of many files. */
  multi: boolean;
}

/** One report of a many-file source's drift, from its per-file reports (shape, values). */
function combineReports(ctx: LoadContext, files: string[], reports: (DriftReport | null)[]): DriftReport {
  const some = reports.filter((r): r is DriftReport => r !== null);
  if (some.length === 1) return { ...(some[0] as DriftReport), sources: files };
  const first = some[0] as DriftReport;
  const report = driftReport(
    ctx.spec,
    ctx.specVersion,
    files,
    some.flatMap((r) => r.differences),
    first.expected,
    first.found,
  );
  return { ...report, files: some.flatMap((r) => r.files ?? []) };
}

/**
 * Read the files once, casting every row into `typed` (see castStaged); files read the same way
 * (the same per-file overrides) in one scan, each other way in a scan of its own appended to it.
 */
async function castFiles(
  conn: DuckDBConnection,
  ctx: LoadContext,
  files: string[],
  opts: {
    /** The table verification keeps (see LoadContext.keepAs); undefined: the temp table `__heal_typed`. */
    stage: string | undefined;
    multi: boolean;
    /** Each file's columns, as checkStructure read its header. */
    headers: ReadonlyMap<string, string[]>;
  },
): Promise<CastFiles> {
  const { stage, multi } = opts;
  const typed = stage === undefined ? TYPED : ident(stage);
  const groups: CastGroup[] = [];
  // One decision for every group: they append into one table, column by column.
  const textFlags = textFlagColumns(ctx.spec);
  for (const [i, group] of groupByReading(ctx.spec, files).entries()) {
    const spec = specForFile(ctx.spec, group[0] as string);
    const view = i === 0 ? RAW : `${RAW}_${i}`;
    const opened = await stageSource(conn, spec, group, view, opts.headers.get(group[0] as string));
    const exprs = await compileExpressions(conn, { ...ctx, spec }, opened);
    await castStaged(conn, spec, opened, exprs, stage, { append: i > 0, view, fileColumn: multi, textFlags });
    groups.push({ spec, files: group, view, exprs, columns: opened.columns, textFlags });
  }
  if (ctx.spec.target.mode === 'merge' && ctx.spec.target.key?.length)
    await flagDuplicateKeys(conn, ctx.spec, typed, groups);
  return { typed, files, groups, multi };
}

/**
 * Cast the rows of `source` (read through its view) into `__heal_typed`, flagging rows that go to
 * quarantine and why (malformed lines are recorded in `__heal_rejects`). The text of a row is kept
 * (`__raw`) only for a row that goes to quarantine. Rows stay in file order: a row's `rowid` in
 * the table is its position among the rows cast so far.
 */
export async function castStaged(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  source: OpenedSource,
  exprs: CompiledExpressions = {},
  /** A persistent table to write (see {@link LoadContext.keepAs}); default: the temp table `__heal_typed`. */
  table?: string,
  opts: { append?: boolean; view?: string; fileColumn?: boolean; textFlags?: ReadonlySet<string> } = {},
): Promise<void> {
  const typed = table === undefined ? TYPED : ident(table);
  const select = castSelect(
    spec,
    sourceSelect(spec, source.files, { rejects: true, columns: source.columns }),
    source.columns,
    exprs,
    {
      fileColumn: opts.fileColumn ?? source.files.length > 1,
      ...(opts.textFlags ? { textFlags: opts.textFlags } : {}),
    },
  );
  if (opts.append) await conn.run(`INSERT INTO ${typed} ${select}`);
  else await conn.run(`CREATE OR REPLACE ${table === undefined ? 'TEMP ' : ''}TABLE ${typed} AS ${select}`);
}

/**
 * The cast of a load as one SELECT over `relation` (its `columns` as text, plus `__heal_file`):
 * `__file`, the contract's typed columns, `__heal_n<i>` (see textFlagColumns), and
 * `__bad`/`__heal_nmask`/`__reason`/`__columns`/`__raw`
 * (see castStaged). The quarantine replay casts quarantined rows with it, so they pass exactly the
 * checks a load makes. `carry`: columns of the relation passed through as they are (a row's id).
 */
export function castSelect(
  spec: PipelineSpec,
  relation: string,
  columns: readonly string[],
  exprs: CompiledExpressions = {},
  opts: {
    fileColumn: boolean;
    carry?: readonly string[];
    /** The columns that keep a per-row text flag (`textFlagColumns` of the pipeline's spec). @default those of `spec` */
    textFlags?: ReadonlySet<string>;
  },
): string {
  const parts = spec.contract.columns.map((c) => columnSql(spec, c, 'r', exprs));
  // Three levels, so that every cast runs once per row: the inner one casts each column
  // (`__heal_v<i>`) and notes whether its text is not empty (`__heal_n<i>`: the value checks count
  // from these, see valueStatsByFile); the middle one flags the row from those; the outer one spells
  // out why, and keeps the row's text, for flagged rows only (a CASE branch runs for its rows alone).
  const fails = parts.map((p, i) => (p.fail === 'false' ? 'false' : `(__heal_n${i} AND __heal_v${i} IS NULL)`));
  const missings = parts.map((p, i) =>
    p.missing === 'false' || p.missing === 'true' ? p.missing : `(NOT __heal_n${i})`,
  );
  // Rows the spec declares totals or footers (`summaryLabels`) are bad whatever their values.
  const summary = summarySql(spec, 'r');
  const bad = [...fails, ...missings, ...(summary ? ['__heal_summary'] : [])].filter((x) => x !== 'false');
  const reasons = parts.flatMap((p, i) => {
    const out: string[] = [];
    if (i === 0 && summary) out.push(`CASE WHEN __heal_summary THEN ${summary.reason} END`);
    if (p.fail !== 'false')
      out.push(
        `CASE WHEN ${fails[i]} THEN ${lit(`${p.column.name}: `)} || '''' || left(${p.text}, 80) || ''' is not a valid ${p.column.type}' || ${totalHint(p.text)} END`,
      );
    if (p.missing !== 'false')
      out.push(`CASE WHEN ${missings[i]} THEN ${lit(`${p.column.name}: required value is missing`)} END`);
    return out;
  });
  const badCols = [
    ...(summary?.columns ?? []),
    ...parts.flatMap((p, i) =>
      p.fail !== 'false' || p.missing !== 'false'
        ? [`CASE WHEN ${fails[i]} OR ${missings[i]} THEN ${lit(p.column.name)} END`]
        : [],
    ),
  ];
  const rawColumns = [...columns, FILE_COLUMN];
  const textFlags = opts.textFlags ?? textFlagColumns(spec);
  const flags = parts.flatMap((p, i) => (textFlags.has(p.column.name) ? [i] : []));
  const inner = `SELECT r.*, ${parts.map((p, i) => `${p.value} AS __heal_v${i}, (${p.text}) IS NOT NULL AS __heal_n${i}`).join(', ')}${summary ? `, ${summary.when} AS __heal_summary` : ''}
    FROM (${relation}) r`;
  const carried = (opts.carry ?? []).map((c) => `r.${ident(c)}, `).join('');
  return `SELECT ${carried}${opts.fileColumn ? `r.${ident(FILE_COLUMN)}` : 'NULL::VARCHAR'} AS __file,
      ${parts.map((p, i) => `CAST(__heal_v${i} AS ${DUCKDB_TYPES[p.column.type]}) AS ${ident(p.column.name)}`).join(', ')},
      ${flags.map((i) => `__heal_n${i}, `).join('')}__heal_bad AS __bad,
      ${parts.length ? `CASE WHEN __heal_bad THEN concat(${parts.map((_p, i) => `__heal_n${i}::INTEGER`).join(', ')}) END` : 'NULL::VARCHAR'} AS __heal_nmask,
      ${reasons.length ? `CASE WHEN __heal_bad THEN concat_ws('; ', ${reasons.join(', ')}) END` : 'NULL::VARCHAR'} AS __reason,
      ${badCols.length ? `CASE WHEN __heal_bad THEN concat_ws(',', ${badCols.join(', ')}) END` : 'NULL::VARCHAR'} AS __columns,
      CASE WHEN __heal_bad THEN json_object(${rawColumns.map((c) => `${lit(c)}, r.${ident(c)}`).join(', ')})::VARCHAR END AS __raw
    FROM (SELECT *, ${bad.length ? bad.join(' OR ') : 'false'} AS __heal_bad FROM (${inner})) r`;
}

/**
 * How the reason of a row quarantined for its key starts (a later row with the same key won, in the
 * source or in a replay): a quarantine replay never loads such a row over its winner.
 */
export const DUPLICATE_KEY_REASON = 'duplicate key:';

/** Merge: of rows with the same key, the last one in the source wins; the others go to quarantine. */
async function flagDuplicateKeys(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  typed: string,
  groups: readonly CastGroup[],
): Promise<void> {
  const keys = (spec.target.key ?? []).map(ident);
  const marked = await queryOne<{ Count: number }>(
    conn,
    `UPDATE ${typed} SET __bad = true, __columns = ${lit((spec.target.key ?? []).join(','))},
        __reason = ${lit(`${DUPLICATE_KEY_REASON} a later row of the source has the same key`)}
      WHERE NOT __bad AND rowid IN (
        SELECT rid FROM (SELECT rowid AS rid, row_number() OVER (PARTITION BY ${keys.join(', ')} ORDER BY rowid DESC) AS k FROM ${typed} WHERE NOT __bad) WHERE k > 1)`,
  );
  if (!marked || Number(marked.Count) === 0) return;
  // Their text, from a second read of the source (same rows, same order; only when there are
  // duplicates): each group's rows follow the groups before it in the table.
  let offset = 0;
  for (const g of groups) {
    await conn.run(`UPDATE ${typed} SET __raw = s.raw
      FROM (SELECT row_number() OVER () - 1 + ${offset} AS pos, to_json(r)::VARCHAR AS raw FROM ${g.view} r) s
      WHERE ${typed}.rowid = s.pos AND ${typed}.__bad AND ${typed}.__raw IS NULL`);
    offset += Number((await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${g.view}`))?.n ?? 0);
  }
}

/** The result of this run id's load when it already committed (a retried activity), else undefined. */
async function alreadyCommitted(conn: DuckDBConnection, ctx: LoadContext): Promise<LoadResult | undefined> {
  const done = await targetOf(ctx).committedLoad(conn, ctx.spec.target.table, ctx.runId);
  if (!done) return undefined;
  return {
    ...done,
    skipped: false,
    files: done.files.map((f) => ({ ...f, outcome: 'loaded' })),
    setAside: [],
    partitionKeys: [],
    profile: null,
    alreadyCommitted: true,
    committedAt: null,
  };
}

/** Files of this load, with the content key of each: in `append` and `merge` modes, those already loaded are skipped. */
interface Pending {
  files: string[];
  keys: Map<string, string>;
  skipped: FileOutcome[];
}

async function pendingFiles(conn: DuckDBConnection, ctx: LoadContext, files: string[]): Promise<Pending> {
  const { mode, table } = ctx.spec.target;
  if (!ctx.commit || mode === 'replace')
    return { files, keys: new Map(files.map((f) => [f, sourceFingerprint([f])])), skipped: [] };
  const keys = new Map(files.map((f) => [f, sourceKey([f])]));
  const done = await targetOf(ctx).committedKeys(conn, table, [...keys.values()]);
  const skipped: FileOutcome[] = files
    .filter((f) => done.has(keys.get(f) ?? ''))
    .map((file) => ({
      file,
      outcome: 'skipped',
      rowsRead: 0,
      rowsLoaded: 0,
      rowsQuarantined: 0,
      reason: `this content was loaded by an earlier run (${mode})`,
    }));
  return { files: files.filter((f) => !done.has(keys.get(f) ?? '')), keys, skipped };
}

/**
 * Compile the spec's `derive` expressions against the staged source's columns (validated tree →
 * rendered SQL). An expression whose source columns are gone is drift, like a missing column.
 */
async function compileExpressions(
  conn: DuckDBConnection,
  ctx: LoadContext,
  staged: OpenedSource,
): Promise<CompiledExpressions> {
  const out: Record<string, string> = {};
  for (const [column, entry] of Object.entries(ctx.spec.mapping)) {
    if (entry.expr === undefined) continue;
    try {
      out[column] = await compileExpression(conn, entry.expr, { sourceColumns: staged.columns, rel: 'r' });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new SchemaDriftError(
        driftReport(
          ctx.spec,
          ctx.specVersion,
          staged.files,
          [{ kind: 'missing-column', column, detail: `the expression of "${column}" no longer applies: ${why}` }],
          shapeOf(ctx.spec, ctx.spec.source.columns),
          shapeOf(ctx.spec, staged.columns),
        ),
      );
    }
  }
  return out;
}

/** Lines before the first row of a file (header and skipped lines), by the spec it is read with. */
function headerLines(spec: PipelineSpec): number {
  return spec.source.format === 'csv' ? (spec.source.csv.header ? 1 : 0) + spec.source.csv.skipRows : 0;
}

/** SQL giving, for each bad typed row, its line in the source file (header, skipped and malformed lines counted). */
function badRowsWithLines(ctx: LoadContext, typed: string, files: readonly string[]): string {
  const { spec } = ctx;
  // Files read with an override may skip other lines: their header count, file by file.
  const own = files.filter((f) => headerLines(specForFile(spec, f)) !== headerLines(spec));
  const h = own.length
    ? `(CASE n.__file ${own.map((f) => `WHEN ${lit(f)} THEN ${headerLines(specForFile(spec, f))}`).join(' ')} ELSE ${headerLines(spec)} END)`
    : String(headerLines(spec));
  const rejected =
    spec.source.format === 'csv'
      ? `SELECT s.file_path AS file, e.line - (row_number() OVER (PARTITION BY s.file_path ORDER BY e.line) - 1) AS line_k
         FROM (SELECT DISTINCT scan_id, file_id, line FROM ${REJECTS}) e JOIN ${REJECT_SCANS} s USING (scan_id, file_id)`
      : `SELECT NULL::VARCHAR AS file, NULL::BIGINT AS line_k WHERE false`;
  return `WITH numbered AS (
      SELECT t.rowid AS __row, t.* REPLACE (coalesce(t.__file, ${lit(files[0] ?? '')}) AS __file),
        row_number() OVER (PARTITION BY t.__file ORDER BY t.rowid) AS k FROM ${typed} t),
    rej AS (${rejected})
    SELECT n.__row, n.__file, n.__columns, n.__reason, n.__raw,
      n.k + ${h} + (SELECT count(*) FROM rej WHERE rej.file = n.__file AND rej.line_k - ${h} <= n.k) AS line
    FROM numbered n WHERE n.__bad`;
}

/** Temp table of the bad rows with their source lines, taken before a staged table changes. */
const BAD_ROWS = '__heal_bad_rows';

/** Number the bad rows (their lines in the source) into `__heal_bad_rows`. `__file` is NULL for a one-file source. */
async function collectBadRows(
  conn: DuckDBConnection,
  ctx: LoadContext,
  typed: string,
  files: readonly string[],
  bad: number,
): Promise<void> {
  if (bad > 0) await conn.run(`CREATE OR REPLACE TEMP TABLE ${BAD_ROWS} AS ${badRowsWithLines(ctx, typed, files)}`);
}

/**
 * A query of this run's quarantine rows (the target's quarantine columns): bad rows collected by
 * collectBadRows, then the malformed lines of the files loaded; null when there are none.
 */
function quarantineRows(
  ctx: LoadContext,
  bad: number,
  rejected: number,
  files: readonly string[],
  typed?: string,
): string | null {
  const common = `${lit(ctx.runId)} AS run_id, ${lit(ctx.spec.name)} AS pipeline, ${ctx.specVersion} AS spec_version`;
  const parts: string[] = [];
  if (bad > 0) {
    parts.push(`(SELECT ${common}, b.__file AS source_file, b.line, b.__columns AS column_name, b.__reason AS reason,
      b.__raw AS raw_row, now()::TIMESTAMP AS quarantined_at FROM ${BAD_ROWS} b ORDER BY b.line)`);
  }
  if (ctx.spec.source.format === 'csv' && rejected > 0) parts.push(rejectedLines(ctx, common, files, typed));
  return parts.length ? `SELECT * FROM (${parts.join(' UNION ALL ')})` : null;
}

/**
 * The malformed lines of the files loaded, as quarantine rows. The reason says what a person needs:
 * a line with bytes that are not in the file's encoding is "invalid UTF-8" (the rest of the file
 * is read as UTF-8); a line after the last data row ("(c) 2026 Acme", "Rows: 120") is a footer
 * line. `typed` (the cast rows) tells how many data rows each file has; without it, no footer is named.
 */
function rejectedLines(ctx: LoadContext, common: string, files: readonly string[], typed?: string): string {
  const { spec } = ctx;
  const own = files.filter((f) => headerLines(specForFile(spec, f)) !== headerLines(spec));
  const h = own.length
    ? `(CASE f ${own.map((f) => `WHEN ${lit(f)} THEN ${headerLines(specForFile(spec, f))}`).join(' ')} ELSE ${headerLines(spec)} END)`
    : String(headerLines(spec));
  const enc = spec.source.format === 'csv' ? spec.source.csv.encoding.toUpperCase() : 'UTF-8';
  // Data rows before the line = lines before it, less the header lines and the malformed lines before it.
  const footer = typed
    ? `WHEN line - ${h} - 1 - before >= (SELECT count(*) FROM ${typed} t WHERE coalesce(t.__file, f) = f) THEN 'footer line (after the last data row, not data): ' || why`
    : '';
  return `(WITH rl AS (
      SELECT s.file_path AS f, e.line, string_agg(DISTINCT coalesce(e.column_name, ''), ',') AS cols,
        string_agg(DISTINCT e.error_type || ': ' || coalesce(e.error_message, ''), '; ') AS why,
        bool_and(e.error_type = 'INVALID ENCODING') AS enc, any_value(e.csv_line) AS raw
      FROM ${REJECTS} e JOIN ${REJECT_SCANS} s USING (scan_id, file_id)
      WHERE s.file_path IN (${inList(files)}) GROUP BY s.file_path, e.line),
    rn AS (SELECT *, row_number() OVER (PARTITION BY f ORDER BY line) - 1 AS before FROM rl)
    SELECT ${common}, f AS source_file, line, cols AS column_name,
      CASE WHEN enc THEN ${lit(`invalid ${enc}: a byte sequence on this line is not ${enc} (the rest of the file is read as ${enc})`)}
        ${footer} ELSE why END AS reason, raw AS raw_row, now()::TIMESTAMP AS quarantined_at
    FROM rn ORDER BY f, line)`;
}

/** Per-file rows of a load about to commit (its files, with the counts of each). */
interface CommitFiles {
  files: FileOutcome[];
  /** Content key of each file (append, merge: what makes it load once) or its path/size/mtime. */
  keys: ReadonlyMap<string, string>;
}

/** Commit the cast rows in `typed` to the load's target: table, quarantine and load records in one transaction. */
async function commitLoad(conn: DuckDBConnection, ctx: LoadContext, typed: string, commit: CommitFiles): Promise<void> {
  const files = commit.files.map((f) => f.file);
  const bad = Number((await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${typed} WHERE __bad`))?.n ?? 0);
  const quarantined = commit.files.reduce((a, f) => a + f.rowsQuarantined, 0);
  await collectBadRows(conn, ctx, typed, files, bad);
  try {
    const commitFiles: CommitFile[] = commit.files.map((f) => ({
      file: f.file,
      key: commit.keys.get(f.file) ?? '',
      rowsRead: f.rowsRead,
      rowsLoaded: f.rowsLoaded,
      rowsQuarantined: f.rowsQuarantined,
    }));
    await targetOf(ctx).commit(conn, {
      spec: ctx.spec,
      specVersion: ctx.specVersion,
      runId: ctx.runId,
      rows: `(SELECT * FROM ${typed} WHERE NOT __bad)`,
      quarantine: quarantineRows(ctx, bad, quarantined - bad, files, typed),
      loadKey: commitFiles.map((f) => f.key).join('|'),
      files: commitFiles,
    });
  } finally {
    if (bad > 0) await conn.run(`DROP TABLE IF EXISTS ${BAD_ROWS}`).catch(() => undefined);
  }
}

/** What each file loaded, from its counts: read = rows + malformed lines; quarantined = bad rows + malformed lines. */
function fileOutcome(file: string, c: FileCounts): FileOutcome {
  return {
    file,
    outcome: 'loaded',
    rowsRead: c.rows + c.rejected,
    rowsLoaded: c.rows - c.bad,
    rowsQuarantined: c.bad + c.rejected,
  };
}

/**
 * The quarantine budget, file by file: a file whose share of quarantined rows is over it is set
 * aside (its rows dropped from `typed`) when the load allows it, else the load is refused.
 */
async function applyBudget(
  conn: DuckDBConnection,
  ctx: LoadContext,
  typed: string,
  files: FileOutcome[],
): Promise<FileNote[]> {
  const { quality } = ctx.spec;
  const budget = quality.quarantineBudget;
  const over = files.filter((f) => f.rowsRead > 0 && !withinQuarantineBudget(quality, f.rowsQuarantined, f.rowsRead));
  if (!over.length) return [];
  const reasons = async (f: FileOutcome) =>
    (
      await queryRows<{ r: string }>(
        conn,
        `SELECT DISTINCT __reason AS r FROM ${typed} WHERE __bad ${files.length > 1 ? `AND __file = ${lit(f.file)}` : ''} LIMIT 3`,
      )
    )
      .map((r) => clip(r.r, 100))
      .join(' | ');
  const why = async (f: FileOutcome) =>
    `${f.rowsQuarantined} of ${f.rowsRead} rows${files.length > 1 ? ` of ${f.file}` : ''} (${pct(f.rowsQuarantined / f.rowsRead)}) would go to quarantine, over the budget of ${budgetLabel(quality)}; e.g. ${await reasons(f)}`;
  if (!ctx.setAsideOverBudget || files.length === 1 || over.length === files.length) {
    const f = over[0] as FileOutcome;
    throw new QuarantineBudgetExceededError(await why(f), {
      rowsRead: f.rowsRead,
      quarantined: f.rowsQuarantined,
      budget,
      budgetRows: quality.quarantineBudgetRows,
      // Many files: which one was over, and every file of the run (the others are held with it).
      ...(files.length > 1 ? { file: f.file, files: files.map((x) => x.file) } : {}),
    });
  }
  const notes: FileNote[] = [];
  for (const f of over) notes.push({ file: f.file, reason: await why(f) });
  await conn.run(`DELETE FROM ${typed} WHERE __file IN (${inList(over.map((f) => f.file))})`);
  return notes;
}

/**
 * Run one load on `conn`. Each file of a many-file source is checked on its own (shape, values,
 * quarantine budget); the rows about to become the table (replace) or to join it (a batch) are
 * profiled together and, given a baseline, compared with it, the columns the files are split by
 * aside. Throws `SchemaDriftError` (nothing written) when a file no longer fits or the rows
 * shifted beyond `quality.profile` ('distribution-shift'); `QuarantineBudgetExceededError` when a
 * file has too many bad rows (unless it may be set aside).
 */
export async function runLoad(conn: DuckDBConnection, ctx: LoadContext): Promise<LoadResult> {
  const { spec } = ctx;
  if (ctx.commit) {
    const done = await alreadyCommitted(conn, ctx);
    if (done) return done;
  }
  const resolved = ctx.files
    ? ctx.files.map((f) => checkSourceFile(f, ctx.allowedRoots))
    : await resolveSourceFiles(conn, ctx.source, ctx.allowedRoots);
  const excluded = new Set(ctx.exclude ?? []);
  const listed = resolved.filter((f) => !excluded.has(f));
  if (!listed.length) throw new SourceUnreadableError(`${ctx.source}: every file is set aside (${resolved.length})`);
  const pending = await pendingFiles(conn, ctx, listed);
  const base = { setAside: [], partitionKeys: [], profile: null, alreadyCommitted: false, committedAt: null };
  if (!pending.files.length) {
    return {
      ...base,
      sources: [],
      rowsRead: 0,
      rowsLoaded: 0,
      rowsQuarantined: 0,
      skipped: true,
      files: pending.skipped,
    };
  }
  // Each file's shape first; of a many-file source, the files whose shape fits are read on for
  // their values, so that one report names every file that drifted and how.
  const multi = pending.files.length > 1;
  const { report: structural, headers } = await checkStructure(conn, ctx, pending.files);
  const misshapen = new Set(multi ? (structural?.differences ?? []).map((d) => d.file) : []);
  if (structural && (!multi || misshapen.has(undefined) || misshapen.size === pending.files.length))
    throw new SchemaDriftError(structural);
  const reading = pending.files.filter((f) => !misshapen.has(f));

  // Cast rows go to a temp table, or straight into the table verification keeps for the apply.
  // (Not into a table of the warehouse, committed or renamed in the load's transaction: at 1M rows
  // the cast takes as long as the temp table and its copy together, and the checks read a persistent
  // table 1.5x slower; measured with DuckDB 1.5 on the bench's file, see docs/performance.md.)
  const stage = ctx.commit ? undefined : ctx.keepAs;
  let typed = stage === undefined ? TYPED : ident(stage);
  try {
    // One read of the source: cast as it is read, then count what failed from the cast rows.
    const cast = await castFiles(conn, ctx, reading, { stage, multi, headers });
    typed = cast.typed;
    const counts = await countByFile(conn, spec, typed, reading);
    const valueDrift = await checkFileValues(conn, ctx, cast, counts);
    if (structural || valueDrift)
      throw new SchemaDriftError(combineReports(ctx, pending.files, [structural, valueDrift]));
    const perFile = pending.files.map((f) =>
      fileOutcome(f, counts.get(f) ?? { rows: 0, bad: 0, rejected: 0, lastRejected: null }),
    );
    const setAside = await applyBudget(conn, ctx, typed, perFile);
    const aside = new Set(setAside.map((n) => n.file));
    const loading = perFile.filter((f) => !aside.has(f.file));
    const { profile, partitionKeys } = await checkRows(
      conn,
      ctx,
      typed,
      loading.map((f) => f.file),
    );
    if (ctx.commit) await commitLoad(conn, ctx, typed, { files: loading, keys: pending.keys });
    const total = (k: 'rowsRead' | 'rowsLoaded' | 'rowsQuarantined') => loading.reduce((a, f) => a + f[k], 0);
    const files: FileOutcome[] = [
      ...perFile.map((f): FileOutcome =>
        aside.has(f.file)
          ? { ...f, outcome: 'set-aside', rowsLoaded: 0, reason: setAside.find((n) => n.file === f.file)?.reason ?? '' }
          : f,
      ),
      ...pending.skipped,
    ];
    return {
      ...base,
      sources: loading.map((f) => f.file),
      rowsRead: total('rowsRead'),
      rowsLoaded: total('rowsLoaded'),
      rowsQuarantined: total('rowsQuarantined'),
      skipped: false,
      files,
      setAside,
      partitionKeys,
      profile,
      committedAt: ctx.commit ? new Date().toISOString() : null,
    };
  } catch (err) {
    if (stage !== undefined) await conn.run(`DROP TABLE IF EXISTS ${typed}`).catch(() => undefined);
    throw err;
  }
}

/**
 * The profile of the rows this load accepts — what becomes the table (replace) or joins it (a
 * batch) — checked against the baseline before anything is written (silent drift), the columns the
 * files are split by aside; returned as this load's profile.
 */
async function checkRows(
  conn: DuckDBConnection,
  ctx: LoadContext,
  typed: string,
  files: string[],
): Promise<{ profile: TableProfile; partitionKeys: string[] }> {
  const { spec } = ctx;
  const found = await findPartitionKeys(conn, spec, typed, files);
  const partitionKeys = [...new Set([...spec.source.partitionKeys, ...(ctx.baseline?.partitionKeys ?? []), ...found])];
  const profile = {
    ...(await profileRelation(conn, spec, `(SELECT * FROM ${typed} WHERE NOT __bad)`)),
    ...(partitionKeys.length ? { partitionKeys } : {}),
  };
  if (ctx.baseline) assertNoSilentDrift(spec, ctx.specVersion, files, ctx.baseline, profile, partitionKeys);
  return { profile, partitionKeys };
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

/** Thrown when kept rows cannot be committed as they are (a file was loaded meanwhile): load from the source. */
export class KeptRowsStaleError extends Error {}

/**
 * Commit rows a verification already staged, cast and checked (nothing quarantined) instead of
 * reading the source again: the same transaction as a load (target, quarantine, load records), the
 * same idempotency per run id. The caller checks the rows are for this spec version and source.
 */
export async function commitVerified(
  conn: DuckDBConnection,
  ctx: LoadContext,
  rows: VerifiedRows,
): Promise<LoadResult> {
  const done = await alreadyCommitted(conn, ctx);
  if (done) return done;
  const pending = await pendingFiles(conn, { ...ctx, commit: true }, rows.files);
  if (pending.skipped.length)
    throw new KeptRowsStaleError(`${pending.skipped.length} of the verified files were loaded since`);
  const alias = '__heal_verified_db';
  await conn.run(`ATTACH ${lit(rows.db)} AS ${alias} (READ_ONLY)`);
  try {
    const typed = `${alias}.${ident(rows.table)}`;
    const counts = await countByFile(
      conn,
      { ...ctx.spec, source: { ...ctx.spec.source, format: 'parquet' } },
      typed,
      rows.files,
    );
    const files = rows.files.map((f) =>
      fileOutcome(f, counts.get(f) ?? { rows: 0, bad: 0, rejected: 0, lastRejected: null }),
    );
    await commitLoad(conn, ctx, typed, { files, keys: pending.keys });
    const loaded = files.reduce((a, f) => a + f.rowsLoaded, 0);
    return {
      sources: rows.files,
      rowsRead: rows.rowsRead,
      rowsLoaded: loaded,
      rowsQuarantined: rows.rowsRead - loaded,
      skipped: false,
      files,
      setAside: [],
      partitionKeys: [],
      profile: null,
      alreadyCommitted: false,
      committedAt: new Date().toISOString(),
    };
  } finally {
    await conn.run(`DETACH ${alias}`).catch(() => undefined);
  }
}

/**
 * The silent drift check on what is about to become the table (or join it): refuse with
 * `SchemaDrift` (distribution-shift) when a column moved beyond the spec's bounds from the baseline.
 * Partition keys are judged on their null rate only.
 */
export function assertNoSilentDrift(
  spec: PipelineSpec,
  specVersion: number,
  files: string[],
  baseline: TableProfile,
  profile: TableProfile,
  partitionKeys: string[],
): void {
  const shifts = checkDistribution(baseline, profile, { ...distributionThresholds(spec), partitionKeys });
  if (!shifts.length) return;
  const report = driftReport(
    spec,
    specVersion,
    files,
    shifts,
    shapeOf(spec, spec.source.columns),
    shapeOf(spec, spec.source.columns, profile.rows),
  );
  throw new SchemaDriftError({ ...report, summary: distributionSummary(spec.name, shifts) });
}
