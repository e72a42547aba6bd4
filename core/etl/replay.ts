/**
 * Quarantine replay: the rows earlier loads set aside (`<table>__quarantine`) cast again with the
 * pipeline's current spec — after a fix, a `clean` op that now strips "$" — exactly as a load casts
 * them (castSelect: the same mapping, cleaning, casts, required and parse checks, the same reasons).
 * Rows that now load go into the table and leave quarantine in one transaction of the warehouse;
 * the rest stay, with the new reason and spec version. A row is known by (run_id, source_file,
 * line): the commit inserts only rows whose quarantine row it deletes, so a retried or a second
 * replay never loads a row twice.
 *
 * `raw_row` is what the load kept of a row: a JSON object of its source columns as text (rows whose
 * values failed the cast), or, for a line the CSV reader rejected, the line itself. JSON rows are
 * read back by source column name; lines are parsed again with the current spec's CSV options, one
 * file per line (a line with an unterminated quote must not swallow the next one).
 *
 * Works on any DuckDB connection; a {@link ReplayTarget} reads and writes the warehouse (the DuckDB
 * file itself, {@link DUCKDB_REPLAY}, or PostgreSQL, warehouse/postgres-replay.ts).
 */
import type { ReplayOutcome, ReplayRunCount } from '../../common/contracts';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { ReplayRefusedError } from '../../common/errors';
import { groupByReading, specForFile } from '../../common/files';
import type { ColumnType, PipelineSpec } from '../../common/spec';
import { ident, lit, queryOne, queryRows } from '../../lib/duckdb';
import { compileExpression } from './expression';
import { castSelect, DUPLICATE_KEY_REASON } from './load';
import { FILE_COLUMN } from './source';
import { DUCKDB_TYPES, readerCall, tableColumnsDdl, textFlagColumns } from './sql';
import { DUCKDB_RECORD_TYPES, keyMatch, LOADS_COLUMNS, LOADS_TABLE, quarantineTable, recordColumnsDdl } from './target';

/** `load_key` of a replay's load record: never a file's content key, and skipped when looking for a table's current load. */
export const REPLAY_LOAD_KEY = 'quarantine-replay';

/** Which quarantined rows a replay takes (as `heal quarantine list` filters them). */
export interface ReplayFilter {
  /** Only this run's rows (their `run_id`). */
  runId?: string;
  /** Only rows whose reason contains this text (case-insensitive; `%` and `_` are LIKE wildcards, as in `list`). */
  reason?: string;
}

/**
 * The temp table a target fills with the selected quarantine rows: `__heal_qid` (1.. in quarantine
 * order: oldest first, then run, file, line), `run_id`, `spec_version`, `source_file`, `line`,
 * `column_name`, `reason`, `raw_row`.
 */
export const REPLAY_SOURCE = '__heal_replay_src';

/** DuckDB types of {@link REPLAY_SOURCE}'s columns, in order. */
export const REPLAY_SOURCE_COLUMNS: readonly { name: string; duckType: string }[] = [
  { name: '__heal_qid', duckType: 'BIGINT' },
  { name: 'run_id', duckType: 'VARCHAR' },
  { name: 'spec_version', duckType: 'INTEGER' },
  { name: 'source_file', duckType: 'VARCHAR' },
  { name: 'line', duckType: 'BIGINT' },
  { name: 'column_name', duckType: 'VARCHAR' },
  { name: 'reason', duckType: 'VARCHAR' },
  { name: 'raw_row', duckType: 'VARCHAR' },
];

/** The SELECT a target runs on its quarantine table `q` to fill {@link REPLAY_SOURCE}; `quote` makes a string literal. */
export function replaySourceQuery(q: string, filter: ReplayFilter, quote: (s: string) => string): string {
  // A line set aside for bytes not in its encoding is stored decoded (its bad bytes as "?"): replaying that text
  // would load a corrupted value, so it stays in quarantine for a person.
  const where: string[] = [`reason NOT LIKE ${quote('invalid %: a byte sequence %')}`];
  if (filter.runId !== undefined) where.push(`run_id = ${quote(filter.runId)}`);
  if (filter.reason !== undefined) where.push(`lower(reason) LIKE ${quote(`%${filter.reason.toLowerCase()}%`)}`);
  return `SELECT row_number() OVER (ORDER BY quarantined_at, run_id, source_file, line) AS __heal_qid,
      run_id, spec_version, source_file, line, column_name, reason, raw_row
    FROM ${q} WHERE ${where.join(' AND ')}`;
}

/** What a replay commits, as relations of the DuckDB connection. */
export interface ReplayBatch {
  spec: PipelineSpec;
  specVersion: number;
  /** The replay's id: the run id of its load record. */
  replayId: string;
  /**
   * The rows that now load: `__heal_run_id`, `__heal_source_file`, `__heal_line` (their quarantine
   * row), `__heal_ord` (insertion order), then the contract's columns.
   */
  rows: string;
  /** Quarantine rows that still fail: `__heal_run_id`, `__heal_source_file`, `__heal_line`, `reason`, `column_name`. */
  failed: string;
  /** The files the loading rows came from (the load record's `sources`). */
  sources: string[];
  stillQuarantined: number;
}

/** A quarantine row: its run, file and line. */
export interface ReplayRowId {
  runId: string;
  sourceFile: string | null;
  line: number | null;
}

/** Quarantine row ids as a held-rows query ({@link heldRowsQuery}) returns them, on either target. */
export function replayRowIds(
  rows: readonly { run_id: string; source_file: string | null; line: number | string | bigint | null }[],
): ReplayRowId[] {
  return rows.map((h) => ({
    runId: h.run_id,
    sourceFile: h.source_file,
    line: h.line === null ? null : Number(h.line),
  }));
}

/** What a replay's commit did. */
export interface ReplayCommit {
  /** Rows inserted into the table (and gone from quarantine). */
  inserted: number;
  /**
   * `merge` mode: rows held back in quarantine, as they were, because their key is in the table and
   * a later load wrote the table: the table's row may be newer than the quarantined one, and a
   * replay never puts an older row over a newer one.
   */
  held: ReplayRowId[];
}

/** The warehouse side of a replay. */
export interface ReplayTarget {
  /** Run id of the latest committed load of `table` that is not a replay: the table's content in `replace` mode. */
  currentLoad(conn: DuckDBConnection, table: string): Promise<string | undefined>;
  /** Rows an earlier attempt of this replay loaded (its load record), 0 when none. */
  replayed(conn: DuckDBConnection, table: string, replayId: string): Promise<number>;
  /** Fill {@link REPLAY_SOURCE} on `conn` with the quarantine rows the filter selects; how many. */
  readQuarantine(conn: DuckDBConnection, table: string, filter: ReplayFilter): Promise<number>;
  /**
   * One transaction: of `rows`, those whose quarantine row is still there are inserted (appended,
   * or upserted on the key in `merge` mode, but for the rows {@link ReplayCommit.held}) and their
   * quarantine rows deleted; the `failed` rows get their new reason and spec version; the load
   * record counts the rows inserted.
   */
  commitReplay(conn: DuckDBConnection, batch: ReplayBatch): Promise<ReplayCommit>;
}

/** Why a replay cannot insert into the table as it is, or undefined: its columns must be the contract's, in order, with their types. */
export function tableMismatch(
  spec: PipelineSpec,
  have: readonly { name: string; type: string }[],
  types: Record<ColumnType, string>,
): ReplayRefusedError | undefined {
  const want = spec.contract.columns.map((c) => ({ name: c.name, type: types[c.type] }));
  const same =
    have.length === want.length &&
    want.every((w, i) => have[i]?.name === w.name && have[i]?.type.toLowerCase() === w.type.toLowerCase());
  if (same) return undefined;
  if (!have.length)
    return new ReplayRefusedError(
      `${spec.target.table}: the table does not exist; a replay adds rows to the table its loads wrote (run the pipeline first)`,
    );
  const list = (cols: readonly { name: string; type: string }[]) => cols.map((c) => `${c.name} ${c.type}`).join(', ');
  // A replay only adds rows: bringing the table to a new contract (added or widened columns) is a load's work.
  return new ReplayRefusedError(
    `${spec.target.table}: the table's columns (${list(have)}) are not the current contract's (${list(want)}); run the pipeline with the current spec first, then replay`,
  );
}

export interface ReplayContext {
  spec: PipelineSpec;
  specVersion: number;
  replayId: string;
  filter: ReplayFilter;
  target: ReplayTarget;
}

/** Temp tables of a replay on its connection. */
const Q = '__heal_replay_q';
const TYPED = '__heal_replay_typed';
const REJECTED = '__heal_replay_rejected';
const OUT = '__heal_replay_out';
const REJECTS = '__heal_replay_rejects';
const REJECT_SCANS = '__heal_replay_reject_scans';
const LINE_FILE = '__heal_replay_path';
const LINES = '__heal_replay_lines';

/** Replay the quarantined rows the filter selects through `ctx.spec` (see the module comment). */
export async function replayQuarantined(conn: DuckDBConnection, ctx: ReplayContext): Promise<ReplayOutcome> {
  const { spec, target } = ctx;
  const table = spec.target.table;
  const earlier = await target.replayed(conn, table, ctx.replayId);
  const currentRun = spec.target.mode === 'replace' ? ((await target.currentLoad(conn, table)) ?? null) : null;
  const selected = await target.readQuarantine(conn, table, ctx.filter);
  const none = { selected, stillQuarantined: 0, superseded: 0, byReason: [], runs: [] };
  if (!selected) return { ...none, replayed: earlier, currentRun, alreadyCommitted: earlier > 0 };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heal-replay-'));
  try {
    await markRows(conn, spec, currentRun);
    await castRows(conn, spec, dir);
    if (spec.target.mode === 'merge' && spec.target.key?.length) await flagDuplicateKeys(conn, spec.target.key);
    await settleRows(conn);
    const count = async (where: string) =>
      Number((await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${OUT} WHERE ${where}`))?.n ?? 0);
    const stillQuarantined = await count('NOT loads AND NOT superseded');
    const sources = await queryRows<{ f: string }>(
      conn,
      `SELECT DISTINCT source_file AS f FROM ${OUT} WHERE loads AND source_file IS NOT NULL ORDER BY f`,
    );
    const cols = spec.contract.columns.map((c) => `t.${ident(c.name)}`).join(', ');
    const { inserted, held } = await target.commitReplay(conn, {
      spec,
      specVersion: ctx.specVersion,
      replayId: ctx.replayId,
      rows: `(SELECT o.run_id AS __heal_run_id, o.source_file AS __heal_source_file, o.line AS __heal_line,
          o.__heal_qid AS __heal_ord, ${cols} FROM ${OUT} o JOIN ${TYPED} t USING (__heal_qid) WHERE o.loads)`,
      failed: `(SELECT run_id AS __heal_run_id, source_file AS __heal_source_file, line AS __heal_line, reason, column_name
          FROM ${OUT} WHERE NOT loads AND NOT superseded)`,
      sources: sources.map((s) => s.f),
      stillQuarantined,
    });
    await markHeld(conn, held);
    return {
      selected,
      replayed: earlier + inserted,
      stillQuarantined,
      superseded: await count('superseded'),
      currentRun,
      byReason: await reasonCounts(conn),
      runs: await runCounts(conn),
      alreadyCommitted: earlier > 0,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    for (const t of [Q, TYPED, REJECTED, OUT, LINES, REJECTS, REJECT_SCANS, REPLAY_SOURCE])
      await conn.run(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
  }
}

/**
 * The selected rows with what a replay needs to know of each: superseded (`replace` mode: not of
 * the run whose load is the table's content, or of one of its partitions, `<run>-p…`; `merge` mode:
 * quarantined for a duplicate key, a later row with that key having loaded) and the kind
 * of its raw text: `json` (a row the load kept as a JSON object: it has the `__heal_file` key every
 * such row has), `line` (a line the CSV reader rejected), or `none` (nothing kept).
 */
async function markRows(conn: DuckDBConnection, spec: PipelineSpec, currentRun: string | null): Promise<void> {
  const superseded =
    spec.target.mode === 'merge'
      ? `starts_with(coalesce(reason, ''), ${lit(DUPLICATE_KEY_REASON)})`
      : spec.target.mode !== 'replace'
        ? 'false'
        : currentRun === null
          ? 'true'
          : `NOT (run_id = ${lit(currentRun)} OR starts_with(run_id, ${lit(`${currentRun}-p`)}))`;
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${Q} AS SELECT *, ${superseded} AS __heal_superseded,
      CASE WHEN raw_row IS NULL THEN 'none'
        WHEN json_valid(raw_row) THEN (CASE WHEN json_type(raw_row) = 'OBJECT' AND json_exists(raw_row, ${lit(`$."${FILE_COLUMN}"`)}) THEN 'json' ELSE 'line' END)
        ELSE 'line' END AS __heal_kind
    FROM ${REPLAY_SOURCE}`);
}

/**
 * Cast the rows that are not superseded into {@link TYPED} (one row per `__heal_qid`), group by
 * group of files read the same way (the per-file overrides of `source.files`), each with its own
 * spec: a relation of its source columns as text, then the load's own cast.
 */
async function castRows(conn: DuckDBConnection, spec: PipelineSpec, dir: string): Promise<void> {
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${REJECTED} (__heal_qid BIGINT, reason VARCHAR, column_name VARCHAR)`);
  const files = await queryRows<{ f: string }>(
    conn,
    `SELECT DISTINCT coalesce(source_file, '') AS f FROM ${Q} WHERE NOT __heal_superseded AND __heal_kind <> 'none' ORDER BY f`,
  );
  let created = false;
  // One decision for every group: they append into one table, column by column.
  const textFlags = textFlagColumns(spec);
  for (const group of groupByReading(
    spec,
    files.map((r) => r.f),
  )) {
    const gs = specForFile(spec, group[0] ?? '');
    const inGroup = `NOT __heal_superseded AND coalesce(source_file, '') IN (${group.map(lit).join(', ')})`;
    const parts = [jsonRows(gs, inGroup)];
    const lines = gs.source.format === 'csv' ? await csvLineRows(conn, gs, inGroup, dir) : null;
    if (lines) parts.push(lines);
    const exprs: Record<string, string> = {};
    for (const [column, entry] of Object.entries(gs.mapping)) {
      if (entry.expr !== undefined)
        exprs[column] = await compileExpression(conn, entry.expr, { sourceColumns: gs.source.columns, rel: 'r' });
    }
    const select = castSelect(gs, parts.join(' UNION ALL '), gs.source.columns, exprs, {
      fileColumn: true,
      carry: ['__heal_qid'],
      textFlags,
    });
    await conn.run(created ? `INSERT INTO ${TYPED} ${select}` : `CREATE OR REPLACE TEMP TABLE ${TYPED} AS ${select}`);
    created = true;
  }
  if (!created) {
    // Nothing to cast (every row superseded, or none with a raw text): an empty table of the same shape.
    await conn.run(`CREATE OR REPLACE TEMP TABLE ${TYPED} (__heal_qid BIGINT, __bad BOOLEAN, __reason VARCHAR,
      __columns VARCHAR, ${tableColumnsDdl(spec).replace(/ NOT NULL/g, '')})`);
  }
  // A line the reader rejected now, or text that reads as several rows, does not load: one row per id, flagged.
  await conn.run(`UPDATE ${TYPED} SET __bad = true, __reason = j.reason, __columns = j.column_name
    FROM ${REJECTED} j WHERE ${TYPED}.__heal_qid = j.__heal_qid`);
  await conn.run(`UPDATE ${TYPED} SET __bad = true, __columns = NULL,
      __reason = 'the quarantined text reads as more than one row with the current reader options'
    WHERE __heal_qid IN (SELECT __heal_qid FROM ${TYPED} GROUP BY __heal_qid HAVING count(*) > 1)`);
  await conn.run(`DELETE FROM ${TYPED} WHERE rowid NOT IN (SELECT min(rowid) FROM ${TYPED} GROUP BY __heal_qid)`);
}

/** The JSON rows of a group as a relation of its source columns (as text) and `__heal_file`. */
function jsonRows(gs: PipelineSpec, inGroup: string): string {
  const structure = JSON.stringify(Object.fromEntries(gs.source.columns.map((c) => [c, 'VARCHAR'])));
  return `SELECT __heal_qid, ${gs.source.columns.map((c) => `struct_extract(__heal_s, ${lit(c)}) AS ${ident(c)}`).join(', ')},
      source_file AS ${ident(FILE_COLUMN)}
    FROM (SELECT __heal_qid, source_file, from_json(raw_row, ${lit(structure)}) AS __heal_s FROM ${Q}
      WHERE __heal_kind = 'json' AND ${inGroup})`;
}

/**
 * The rejected lines of a group, each written to a file of its own (`<qid>.csv`) and read with the
 * group's CSV options (no header, nothing skipped, the text as heal stored it: UTF-8) as the source
 * columns, in order. Lines the reader rejects again go to {@link REJECTED} with the reader's error,
 * as a load records them. Null when the group has no such line.
 */
async function csvLineRows(
  conn: DuckDBConnection,
  gs: PipelineSpec,
  inGroup: string,
  dir: string,
): Promise<string | null> {
  const lines = await queryRows<{ id: number; raw: string }>(
    conn,
    `SELECT __heal_qid AS id, raw_row AS raw FROM ${Q} WHERE __heal_kind = 'line' AND ${inGroup}`,
  );
  if (!lines.length || gs.source.format !== 'csv') return null;
  const files = lines.map((l) => {
    const f = path.join(dir, `${l.id}.csv`);
    fs.writeFileSync(f, /[\r\n]$/.test(l.raw) ? l.raw : `${l.raw}\n`);
    return f;
  });
  const lineSpec: PipelineSpec = {
    ...gs,
    source: { ...gs.source, csv: { ...gs.source.csv, header: false, skipRows: 0, encoding: 'utf-8' } },
  };
  const reader = readerCall(lineSpec, files, {
    columns: gs.source.columns,
    filename: LINE_FILE,
    rejectsTable: REJECTS,
    rejectsScan: REJECT_SCANS,
  });
  const idOf = (file: string) => `CAST(regexp_extract(${file}, '([0-9]+)\\.csv$', 1) AS BIGINT)`;
  // Read once into a temp table: the scan records the rejects the reasons are taken from.
  const read = LINES;
  await conn.run(`DROP TABLE IF EXISTS ${REJECTS}`);
  await conn.run(`DROP TABLE IF EXISTS ${REJECT_SCANS}`);
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${read} AS SELECT ${idOf(`r.${ident(LINE_FILE)}`)} AS __heal_qid,
      ${gs.source.columns.map((c) => `r.${ident(c)}`).join(', ')} FROM ${reader} r`);
  await conn.run(`INSERT INTO ${REJECTED} SELECT ${idOf('s.file_path')},
      string_agg(DISTINCT e.error_type || ': ' || coalesce(e.error_message, ''), '; '),
      string_agg(DISTINCT coalesce(e.column_name, ''), ',')
    FROM ${REJECTS} e JOIN ${REJECT_SCANS} s USING (scan_id, file_id) GROUP BY s.file_path`);
  return `SELECT l.__heal_qid, ${gs.source.columns.map((c) => `l.${ident(c)}`).join(', ')}, q.source_file AS ${ident(FILE_COLUMN)}
    FROM ${read} l JOIN ${Q} q USING (__heal_qid)`;
}

/** Merge mode: of replayed rows with the same key, the newest (last in quarantine order) loads; the others stay. */
async function flagDuplicateKeys(conn: DuckDBConnection, key: readonly string[]): Promise<void> {
  await conn.run(`UPDATE ${TYPED} SET __bad = true, __columns = ${lit(key.join(','))},
      __reason = ${lit(`${DUPLICATE_KEY_REASON} a later quarantined row with the same key is replayed`)}
    WHERE NOT __bad AND __heal_qid IN (SELECT __heal_qid FROM (
      SELECT __heal_qid, row_number() OVER (PARTITION BY ${key.map(ident).join(', ')} ORDER BY __heal_qid DESC) AS k
      FROM ${TYPED} WHERE NOT __bad) WHERE k > 1)`);
}

/** Each selected row's outcome ({@link OUT}): loads, or its new reason and columns; superseded rows keep theirs. */
async function settleRows(conn: DuckDBConnection): Promise<void> {
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${OUT} AS
    SELECT q.__heal_qid, q.run_id, q.source_file, q.line, q.__heal_superseded AS superseded,
      NOT q.__heal_superseded AND coalesce(NOT t.__bad, false) AS loads,
      CASE WHEN q.__heal_superseded THEN q.reason
        WHEN t.__heal_qid IS NOT NULL THEN t.__reason
        WHEN j.__heal_qid IS NOT NULL THEN j.reason
        WHEN q.__heal_kind = 'none' THEN 'no raw row was kept: it cannot be replayed'
        ELSE 'the quarantined text holds no row the current spec reads' END AS reason,
      CASE WHEN q.__heal_superseded THEN q.column_name
        WHEN t.__heal_qid IS NOT NULL THEN t.__columns
        ELSE j.column_name END AS column_name
    FROM ${Q} q LEFT JOIN ${TYPED} t USING (__heal_qid) LEFT JOIN ${REJECTED} j USING (__heal_qid)
    ORDER BY q.__heal_qid`);
}

/** Rows the commit held back ({@link ReplayCommit.held}) count as superseded: they stay in quarantine as they were. */
async function markHeld(conn: DuckDBConnection, held: readonly ReplayRowId[]): Promise<void> {
  const HELD_BATCH = 1000;
  for (let from = 0; from < held.length; from += HELD_BATCH) {
    const values = held
      .slice(from, from + HELD_BATCH)
      .map((h) => `(${lit(h.runId)}, ${h.sourceFile === null ? 'NULL' : lit(h.sourceFile)}, ${h.line ?? 'NULL'})`);
    await conn.run(`UPDATE ${OUT} AS q SET loads = false, superseded = true
      FROM (VALUES ${values.join(', ')}) h(__heal_run_id, __heal_source_file, __heal_line) WHERE ${sameRow('h')}`);
  }
}

/** The reasons rows stay for, their quoted values masked so that rows failing the same way count together. */
async function reasonCounts(conn: DuckDBConnection): Promise<{ reason: string; rows: number }[]> {
  return queryRows<{ reason: string; rows: number }>(
    conn,
    `SELECT regexp_replace(coalesce(reason, ''), '''[^'']*''', '''…''', 'g') AS reason, count(*) AS rows
    FROM ${OUT} WHERE NOT loads AND NOT superseded GROUP BY 1 ORDER BY rows DESC, reason LIMIT 20`,
  );
}

async function runCounts(conn: DuckDBConnection): Promise<ReplayRunCount[]> {
  return queryRows<ReplayRunCount>(
    conn,
    `SELECT run_id AS "runId", count(*) FILTER (WHERE loads) AS replayed,
      count(*) FILTER (WHERE NOT loads AND NOT superseded) AS "stillQuarantined",
      count(*) FILTER (WHERE superseded) AS superseded
    FROM ${OUT} GROUP BY run_id ORDER BY min(__heal_qid)`,
  );
}

/** Tables of the connection's own database (the warehouse file), not temp ones of the same name. */
async function hasTable(conn: DuckDBConnection, table: string): Promise<boolean> {
  const row = await queryOne<{ n: number }>(
    conn,
    `SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ${lit(table)}`,
  );
  return (row?.n ?? 0) > 0;
}

/**
 * `merge` mode, both targets: the rows of `rows` (a replay's rows about to load) whose key is in
 * `table` while a load other than their own run and this replay wrote the table after they were
 * quarantined (see {@link ReplayCommit.held}). Columns `run_id`, `source_file`, `line`.
 */
export function heldRowsQuery(
  b: Pick<ReplayBatch, 'spec' | 'replayId'>,
  rel: { rows: string; quarantine: string; table: string; loads: string },
  quote: (name: string) => string,
  literal: (value: string) => string,
): string {
  const key = b.spec.target.key ?? [];
  return `SELECT r.__heal_run_id AS run_id, r.__heal_source_file AS source_file, r.__heal_line AS line
    FROM ${rel.rows} r JOIN ${rel.quarantine} q ON ${sameRow('r')}
    WHERE EXISTS (SELECT 1 FROM ${rel.table} t WHERE ${keyMatch(key, 't', 'r', quote)})
      AND EXISTS (SELECT 1 FROM ${rel.loads} l WHERE l.table_name = ${literal(b.spec.target.table)}
        AND l.run_id <> q.run_id AND l.run_id <> ${literal(b.replayId)} AND l.loaded_at > q.quarantined_at)`;
}

/** The row of a replay's quarantine row `r` in the quarantine table `q` (both targets). */
export const sameRow = (r: string): string =>
  `q.run_id = ${r}.__heal_run_id AND q.source_file IS NOT DISTINCT FROM ${r}.__heal_source_file AND q.line IS NOT DISTINCT FROM ${r}.__heal_line`;

/** The table a DuckDB replay inserts into: created for `append`/`merge` when gone, else it must have the contract's columns. */
async function replayTable(conn: DuckDBConnection, spec: PipelineSpec): Promise<void> {
  const have = await queryRows<{ name: string; type: string }>(
    conn,
    `SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_catalog = current_database() AND table_schema = 'main' AND table_name = ${lit(spec.target.table)} ORDER BY ordinal_position`,
  );
  if (!have.length && spec.target.mode !== 'replace') {
    await conn.run(`CREATE TABLE ${ident(spec.target.table)} (${tableColumnsDdl(spec)})`);
    return;
  }
  const mismatch = tableMismatch(spec, have, DUCKDB_TYPES);
  if (mismatch) throw mismatch;
}

const HELD = '__heal_replay_held';

/** `merge` mode, in the commit: take the held rows ({@link heldRowsQuery}) out of `go`; which they are. */
async function holdNewer(conn: DuckDBConnection, b: ReplayBatch, go: string): Promise<ReplayRowId[]> {
  const { spec } = b;
  if (spec.target.mode !== 'merge' || !spec.target.key?.length || !(await hasTable(conn, LOADS_TABLE))) return [];
  const rel = { rows: go, quarantine: ident(quarantineTable(spec.target.table)), table: ident(spec.target.table) };
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE ${HELD} AS ${heldRowsQuery(b, { ...rel, loads: LOADS_TABLE }, ident, lit)}`,
  );
  const held = replayRowIds(
    await queryRows<{ run_id: string; source_file: string | null; line: number | null }>(conn, `SELECT * FROM ${HELD}`),
  );
  // The held table has a quarantine row's columns: `sameRow` matches it as `q`.
  if (held.length)
    await conn.run(`DELETE FROM ${go} AS r WHERE EXISTS (SELECT 1 FROM ${HELD} q WHERE ${sameRow('r')})`);
  return held;
}

/** The embedded warehouse as a replay's target: the DuckDB database the replay runs on. */
export const DUCKDB_REPLAY: ReplayTarget = {
  async currentLoad(conn, table) {
    if (!(await hasTable(conn, LOADS_TABLE))) return undefined;
    const row = await queryOne<{ run_id: string }>(
      conn,
      `SELECT run_id FROM ${LOADS_TABLE} WHERE table_name = ${lit(table)} AND load_key IS DISTINCT FROM ${lit(REPLAY_LOAD_KEY)}
        ORDER BY loaded_at DESC LIMIT 1`,
    );
    return row?.run_id;
  },

  async replayed(conn, table, replayId) {
    if (!(await hasTable(conn, LOADS_TABLE))) return 0;
    const row = await queryOne<{ n: number }>(
      conn,
      `SELECT rows_loaded AS n FROM ${LOADS_TABLE} WHERE run_id = ${lit(replayId)} AND table_name = ${lit(table)}`,
    );
    return Number(row?.n ?? 0);
  },

  async readQuarantine(conn, table, filter) {
    const cols = REPLAY_SOURCE_COLUMNS.map((c) => `${c.name} ${c.duckType}`).join(', ');
    if (!(await hasTable(conn, quarantineTable(table)))) {
      await conn.run(`CREATE OR REPLACE TEMP TABLE ${REPLAY_SOURCE} (${cols})`);
      return 0;
    }
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE ${REPLAY_SOURCE} AS ${replaySourceQuery(ident(quarantineTable(table)), filter, lit)}`,
    );
    return Number((await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${REPLAY_SOURCE}`))?.n ?? 0);
  },

  async commitReplay(conn, b) {
    const { spec } = b;
    const t = ident(spec.target.table);
    const q = ident(quarantineTable(spec.target.table));
    const cols = spec.contract.columns.map((c) => ident(c.name)).join(', ');
    const go = '__heal_replay_go';
    await conn.run('BEGIN TRANSACTION');
    try {
      // Only rows whose quarantine row is still there: what another replay or a purge took since they were read is not loaded.
      await conn.run(
        `CREATE OR REPLACE TEMP TABLE ${go} AS SELECT * FROM ${b.rows} r WHERE EXISTS (SELECT 1 FROM ${q} q WHERE ${sameRow('r')})`,
      );
      const count = async () =>
        Number((await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${go}`))?.n ?? 0);
      let n = await count();
      let held: ReplayRowId[] = [];
      if (n > 0) {
        await replayTable(conn, spec);
        held = await holdNewer(conn, b, go);
        if (held.length) n = await count();
      }
      if (n > 0) {
        await conn.run(`DELETE FROM ${q} AS q WHERE EXISTS (SELECT 1 FROM ${go} r WHERE ${sameRow('r')})`);
        if (spec.target.mode === 'merge' && spec.target.key?.length) {
          const on = keyMatch(spec.target.key, t, 's', ident);
          await conn.run(
            `DELETE FROM ${t} USING (SELECT ${spec.target.key.map(ident).join(', ')} FROM ${go}) s WHERE ${on}`,
          );
        }
        await conn.run(`INSERT INTO ${t} (${cols}) SELECT ${cols} FROM ${go} ORDER BY __heal_ord`);
        await conn.run(
          `CREATE TABLE IF NOT EXISTS ${LOADS_TABLE} (${recordColumnsDdl(LOADS_COLUMNS, DUCKDB_RECORD_TYPES)})`,
        );
        const where = `run_id = ${lit(b.replayId)} AND table_name = ${lit(spec.target.table)}`;
        const updated = await conn.run(`UPDATE ${LOADS_TABLE} SET rows_loaded = rows_loaded + ${n},
            rows_quarantined = ${b.stillQuarantined}, rows_read = rows_loaded + ${n + b.stillQuarantined}, loaded_at = now()::TIMESTAMP
          WHERE ${where}`);
        if (Number(updated.rowsChanged) === 0) {
          await conn.run(`INSERT INTO ${LOADS_TABLE} VALUES (${lit(b.replayId)}, ${lit(spec.name)}, ${lit(spec.target.table)},
            ${lit(spec.target.mode)}, ${lit(REPLAY_LOAD_KEY)}, ${b.specVersion}, ${lit(JSON.stringify(b.sources))},
            ${n + b.stillQuarantined}, ${n}, ${b.stillQuarantined}, now()::TIMESTAMP)`);
        }
      }
      await conn.run(`UPDATE ${q} AS q SET reason = f.reason, column_name = f.column_name, spec_version = ${b.specVersion}
        FROM ${b.failed} f WHERE ${sameRow('f')}`);
      await conn.run('COMMIT');
      return { inserted: n, held };
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      for (const tmp of [go, HELD]) await conn.run(`DROP TABLE IF EXISTS ${tmp}`).catch(() => undefined);
    }
  },
};
