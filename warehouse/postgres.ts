/**
 * PostgreSQL as the warehouse (HEAL_WAREHOUSE=postgres://…). A load still reads, casts, profiles
 * and checks in DuckDB (an in-memory database of the activity); what it commits reaches PostgreSQL
 * with `COPY … FROM STDIN` inside one PostgreSQL transaction: the table (replace, append, merge on
 * key), its quarantine rows and the load records (`__heal_loads`, `__heal_load_files`) in the
 * configured schema. A unique index on the load records makes a second commit of a run id fail
 * rather than load twice; the retry then finds the first one committed.
 *
 * Rows cross as CSV (DuckDB's `COPY … TO` → PostgreSQL's `COPY … FROM STDIN`), with one type map
 * ({@link PG_TYPES}); NULL is an unquoted empty field, an empty string a quoted one. PostgreSQL
 * text cannot hold U+0000: such characters are dropped on the way (DuckDB literals drop them too).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { SpecInvalidError, WarehouseBusyError } from '../common/errors';
import type { ContractColumn, PipelineSpec } from '../common/spec';
import { ident, lit } from '../lib/duckdb';
import { inTransaction, pgIdent, poolFor, redactUrl, withClient } from '../lib/pg';
import {
  keyMatch,
  planEvolution,
  LOAD_FILES_COLUMNS,
  LOAD_FILES_TABLE,
  LOADS_COLUMNS,
  LOADS_TABLE,
  QUARANTINE_COLUMNS,
  quarantineTable,
  recordColumnsDdl,
  sumFiles,
  type CommitBatch,
  type CommittedLoad,
  type LoadTarget,
  type RecordColumnKind,
} from '../core/etl/target';
import { sketchOf, sketchQuery, type ValueSketch } from '../core/etl/sketch';

/** PostgreSQL type of each contract type. */
export const PG_TYPES: Record<ContractColumn['type'], string> = {
  string: 'text',
  integer: 'bigint',
  number: 'double precision',
  boolean: 'boolean',
  date: 'date',
  timestamp: 'timestamp without time zone',
};

const PG_RECORD_TYPES: Record<RecordColumnKind, string> = {
  text: 'text',
  int: 'integer',
  bigint: 'bigint',
  timestamp: 'timestamp without time zone',
};

/** Where a PostgreSQL target writes. */
export interface PostgresTargetOptions {
  /** The server's URL, password included (never shown). */
  url: string;
  /** Schema of the tables, quarantine tables and load records. */
  schema: string;
  /** `lock_timeout` of its sessions. @default "60s" */
  lockTimeout?: string;
}

/** `col type [NOT NULL], …` of the contract's columns in PostgreSQL. */
export function pgColumnsDdl(spec: PipelineSpec): string {
  return spec.contract.columns
    .map((c) => `${pgIdent(c.name)} ${PG_TYPES[c.type]}${c.required ? ' NOT NULL' : ''}`)
    .join(', ');
}

/** The DuckDB expression writing one column of `rel` as PostgreSQL reads it from CSV. */
function exportExpr(c: { name: string; type: ContractColumn['type'] | RecordColumnKind }): string {
  const x = ident(c.name);
  if (c.type === 'string' || c.type === 'text') return `replace(${x}, chr(0), '')`;
  // DuckDB writes non-finite doubles as inf/-inf/nan; PostgreSQL reads Infinity/-Infinity/NaN.
  if (c.type === 'number')
    return `CASE WHEN isinf(${x}) AND ${x} > 0 THEN 'Infinity' WHEN isinf(${x}) THEN '-Infinity' WHEN isnan(${x}) THEN 'NaN' ELSE ${x}::VARCHAR END`;
  return x;
}

const tempFiles = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'heal-pg-copy-'));

/**
 * Copy the rows of a DuckDB relation into a PostgreSQL table through a CSV file (DuckDB writes it in
 * bulk, PostgreSQL streams it in): `columns` name both sides.
 */
export async function copyToPostgres(
  conn: DuckDBConnection,
  client: PoolClient,
  relation: string,
  pgTable: string,
  columns: readonly { name: string; type: ContractColumn['type'] | RecordColumnKind }[],
): Promise<void> {
  const dir = tempFiles();
  const file = path.join(dir, 'rows.csv');
  try {
    await conn.run(
      `COPY (SELECT ${columns.map((c) => `${exportExpr(c)} AS ${ident(c.name)}`).join(', ')} FROM ${relation}) TO ${lit(file)} (FORMAT csv, HEADER false)`,
    );
    const into = client.query(
      copyFrom(`COPY ${pgTable} (${columns.map((c) => pgIdent(c.name)).join(', ')}) FROM STDIN (FORMAT csv)`),
    );
    await pipeline(fs.createReadStream(file), into);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Copy a PostgreSQL query's rows into a new DuckDB temp table of the given DuckDB column types. */
export async function copyFromPostgres(
  client: PoolClient,
  conn: DuckDBConnection,
  query: string,
  table: string,
  columns: readonly { name: string; duckType: string }[],
): Promise<void> {
  const dir = tempFiles();
  const file = path.join(dir, 'rows.csv');
  try {
    await pipeline(client.query(copyTo(`COPY (${query}) TO STDOUT (FORMAT csv)`)), fs.createWriteStream(file));
    const cols = `{${columns.map((c) => `${lit(c.name)}: ${lit(c.duckType)}`).join(', ')}}`;
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE ${ident(table)} AS SELECT * FROM read_csv(${lit(file)}, columns=${cols}, header=false, auto_detect=false, delim=',',
        quote='"', escape='"', nullstr='', allow_quoted_nulls=false, timestampformat='%Y-%m-%d %H:%M:%S.%f', new_line='\\n')`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const ready = new Set<string>();

/** The schema and the record tables, once per process (an advisory lock keeps two processes from racing). */
async function ensureSchema(pool: Pool, url: string, schema: string): Promise<void> {
  const key = `${url}\u0000${schema}`;
  if (ready.has(key)) return;
  await inTransaction(pool, url, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`heal-schema:${schema}`]);
    const s = pgIdent(schema);
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await c.query(
      `CREATE TABLE IF NOT EXISTS ${s}.${LOADS_TABLE} (${recordColumnsDdl(LOADS_COLUMNS, PG_RECORD_TYPES)})`,
    );
    await c.query(`CREATE UNIQUE INDEX IF NOT EXISTS ${LOADS_TABLE}_run ON ${s}.${LOADS_TABLE} (run_id, table_name)`);
    await c.query(
      `CREATE TABLE IF NOT EXISTS ${s}.${LOAD_FILES_TABLE} (${recordColumnsDdl(LOAD_FILES_COLUMNS, PG_RECORD_TYPES)})`,
    );
    await c.query(
      `CREATE INDEX IF NOT EXISTS ${LOAD_FILES_TABLE}_key ON ${s}.${LOAD_FILES_TABLE} (table_name, content_key)`,
    );
  });
  ready.add(key);
}

/** Column names and types of a table, in order; empty when it does not exist. */
async function tableColumns(c: PoolClient, schema: string, table: string): Promise<{ name: string; type: string }[]> {
  const res = await c.query<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [schema, table],
  );
  return res.rows.map((r) => ({ name: r.column_name, type: r.data_type }));
}

/** Write the table of a commit (replace, append, merge on key) from the batch's rows. */
async function writeTable(c: PoolClient, conn: DuckDBConnection, schema: string, b: CommitBatch): Promise<void> {
  const { spec } = b;
  const t = `${pgIdent(schema)}.${pgIdent(spec.target.table)}`;
  const have = await tableColumns(c, schema, spec.target.table);
  const same =
    have.length === spec.contract.columns.length &&
    spec.contract.columns.every((col, i) => have[i]?.name === col.name && have[i]?.type === PG_TYPES[col.type]);
  if (spec.target.mode === 'replace') {
    // Same columns: empty it (views and grants on it stay); else the contract changed: a new table.
    if (same) await c.query(`TRUNCATE ${t}`);
    else {
      await c.query(`DROP TABLE IF EXISTS ${t}`);
      await c.query(`CREATE TABLE ${t} (${pgColumnsDdl(spec)})`);
    }
  } else if (!have.length) {
    await c.query(`CREATE TABLE ${t} (${pgColumnsDdl(spec)})`);
  } else {
    const plan = planEvolution(spec, have, PG_TYPES);
    if (plan instanceof SpecInvalidError) throw plan;
    // Waits here (lock_timeout) while another connection holds the table.
    await c.query(`LOCK TABLE ${t} IN SHARE ROW EXCLUSIVE MODE`);
    for (const col of plan.widen)
      await c.query(`ALTER TABLE ${t} ALTER COLUMN ${pgIdent(col.name)} TYPE ${PG_TYPES[col.type]}`);
    for (const col of plan.add) await c.query(`ALTER TABLE ${t} ADD COLUMN ${pgIdent(col.name)} ${PG_TYPES[col.type]}`);
  }
  const columns = spec.contract.columns.map((col) => ({ name: col.name, type: col.type }));
  if (spec.target.mode === 'merge' && spec.target.key?.length) {
    await c.query(`CREATE TEMP TABLE __heal_merge (LIKE ${t}) ON COMMIT DROP`);
    await copyToPostgres(conn, c, b.rows, '__heal_merge', columns);
    const on = keyMatch(spec.target.key, t, 's', pgIdent);
    await c.query(`DELETE FROM ${t} USING __heal_merge s WHERE ${on}`);
    await c.query(`INSERT INTO ${t} SELECT * FROM __heal_merge`);
  } else {
    await copyToPostgres(conn, c, b.rows, t, columns);
  }
}

/** Record a commit: its load row (unique per run id and table) and one row per file. */
async function writeRecords(c: PoolClient, schema: string, b: CommitBatch): Promise<void> {
  const s = pgIdent(schema);
  const { spec } = b;
  try {
    await c.query(`INSERT INTO ${s}.${LOADS_TABLE} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, localtimestamp)`, [
      b.runId,
      spec.name,
      spec.target.table,
      spec.target.mode,
      b.loadKey,
      b.specVersion,
      JSON.stringify(b.files.map((f) => f.file)),
      sumFiles(b.files, 'rowsRead'),
      sumFiles(b.files, 'rowsLoaded'),
      sumFiles(b.files, 'rowsQuarantined'),
    ]);
  } catch (err) {
    if ((err as { code?: string }).code === '23505')
      throw new WarehouseBusyError(`${spec.target.table}: another attempt of run ${b.runId} committed first; retrying`);
    throw err;
  }
  for (const f of b.files) {
    await c.query(`INSERT INTO ${s}.${LOAD_FILES_TABLE} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, localtimestamp)`, [
      b.runId,
      spec.target.table,
      spec.target.mode,
      f.file,
      f.key,
      f.rowsRead,
      f.rowsLoaded,
      f.rowsQuarantined,
    ]);
  }
}

/** A PostgreSQL warehouse as a load's target. */
export function postgresTarget(opts: PostgresTargetOptions): LoadTarget {
  const { url, schema } = opts;
  const pool = poolFor(url, { lockTimeout: opts.lockTimeout });
  const s = pgIdent(schema);
  return {
    where: redactUrl(url),

    async committedLoad(_conn, table, runId): Promise<CommittedLoad | undefined> {
      await ensureSchema(pool, url, schema);
      return withClient(pool, url, async (c) => {
        const done = await c.query<{
          rows_read: string;
          rows_loaded: string;
          rows_quarantined: string;
          sources: string;
        }>(
          `SELECT rows_read, rows_loaded, rows_quarantined, sources FROM ${s}.${LOADS_TABLE} WHERE run_id = $1 AND table_name = $2 LIMIT 1`,
          [runId, table],
        );
        const row = done.rows[0];
        if (!row) return undefined;
        const files = await c.query<{ file: string; rows_read: string; rows_loaded: string; rows_quarantined: string }>(
          `SELECT file, rows_read, rows_loaded, rows_quarantined FROM ${s}.${LOAD_FILES_TABLE} WHERE run_id = $1 AND table_name = $2 ORDER BY file`,
          [runId, table],
        );
        return {
          sources: JSON.parse(row.sources) as string[],
          rowsRead: Number(row.rows_read),
          rowsLoaded: Number(row.rows_loaded),
          rowsQuarantined: Number(row.rows_quarantined),
          files: files.rows.map((f) => ({
            file: f.file,
            rowsRead: Number(f.rows_read),
            rowsLoaded: Number(f.rows_loaded),
            rowsQuarantined: Number(f.rows_quarantined),
          })),
        };
      });
    },

    async committedKeys(_conn, table, keys) {
      if (!keys.length) return new Set();
      await ensureSchema(pool, url, schema);
      return withClient(pool, url, async (c) => {
        const res = await c.query<{ k: string }>(
          `SELECT content_key AS k FROM ${s}.${LOAD_FILES_TABLE} WHERE table_name = $1 AND mode IN ('append', 'merge') AND content_key = ANY($2)`,
          [table, [...keys]],
        );
        return new Set(res.rows.map((r) => r.k));
      });
    },

    async commit(conn, b) {
      await ensureSchema(pool, url, schema);
      const q = `${s}.${pgIdent(quarantineTable(b.spec.target.table))}`;
      await inTransaction(pool, url, async (c) => {
        await c.query(`CREATE TABLE IF NOT EXISTS ${q} (${recordColumnsDdl(QUARANTINE_COLUMNS, PG_RECORD_TYPES)})`);
        await c.query(`DELETE FROM ${q} WHERE run_id = $1`, [b.runId]);
        if (b.quarantine) {
          const cols = QUARANTINE_COLUMNS.map(([name, type]) => ({ name, type }));
          await copyToPostgres(conn, c, `(${b.quarantine})`, q, cols);
        }
        await writeTable(c, conn, schema, b);
        await writeRecords(c, schema, b);
      });
    },
  };
}

/** Longest a table's value sketch may scan: past it the doctor decides without the table's values. */
export const SKETCH_STATEMENT_TIMEOUT = '60s';

/**
 * The value sketch of `schema.table`'s `column` read as `type` (core/etl/sketch.ts), in one read-only
 * transaction bounded by {@link SKETCH_STATEMENT_TIMEOUT}; undefined when the table or the column
 * does not exist.
 */
export async function pgValueSketch(
  c: PoolClient,
  schema: string,
  table: string,
  column: string,
  type: ContractColumn['type'],
): Promise<ValueSketch | undefined> {
  const found = await c.query(
    `SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3`,
    [schema, table, column],
  );
  if (!found.rowCount) return undefined;
  await c.query('BEGIN READ ONLY');
  try {
    await c.query(`SET LOCAL statement_timeout = '${SKETCH_STATEMENT_TIMEOUT}'`);
    const x = `${pgIdent(column)}::${PG_TYPES[type]}`;
    const res = await c.query<{ h: string }>(sketchQuery('postgres', `${pgIdent(schema)}.${pgIdent(table)}`, x, type));
    return sketchOf(res.rows.map((r) => r.h));
  } finally {
    await c.query('ROLLBACK').catch(() => undefined);
  }
}

/** The prefix of every staging table of one run (at most 63 bytes in all, whatever the names): to find and drop them. */
export function stagingPrefix(pipeline: string, runId: string): string {
  return `p_${crypto.createHash('sha256').update(`${pipeline}\u0000${runId}`).digest('hex').slice(0, 20)}_`;
}

/** The PostgreSQL staging table of one partition of a run. */
export function stagingTableName(pipeline: string, runId: string, index: number): string {
  return `${stagingPrefix(pipeline, runId)}${String(index).padStart(5, '0')}`;
}
