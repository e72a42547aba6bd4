/**
 * Where a load's checked rows are committed. DuckDB stays the engine that reads, casts, profiles
 * and verifies; a {@link LoadTarget} receives the result: the rows that load, their quarantine
 * rows and the load records, in one transaction of its own database. The default target is the
 * DuckDB database the load runs on (the warehouse file); warehouse/postgres.ts is PostgreSQL's.
 *
 * The record tables are named and shaped here once, for every target.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { SpecInvalidError } from '../../common/errors';
import { WIDENINGS } from '../../common/policy';
import type { ColumnType, ContractColumn, PipelineSpec } from '../../common/spec';
import { ident, inList, lit, queryOne, queryRows } from '../../lib/duckdb';
import { DUCKDB_TYPES, tableColumnsDdl } from './sql';

/** One row per committed load (run id and table): what makes a retried load a no-op. */
export const LOADS_TABLE = '__heal_loads';
/** One row per file of every committed load: what makes a file of an append or a merge load once. */
export const LOAD_FILES_TABLE = '__heal_load_files';
/** The quarantine table of a target table. */
export const quarantineTable = (table: string): string => `${table}__quarantine`;

/** Kinds of the record columns; each target maps them to its own types. */
export type RecordColumnKind = 'text' | 'int' | 'bigint' | 'timestamp';

export const LOADS_COLUMNS: readonly (readonly [string, RecordColumnKind])[] = [
  ['run_id', 'text'],
  ['pipeline', 'text'],
  ['table_name', 'text'],
  ['mode', 'text'],
  ['load_key', 'text'],
  ['spec_version', 'int'],
  ['sources', 'text'],
  ['rows_read', 'bigint'],
  ['rows_loaded', 'bigint'],
  ['rows_quarantined', 'bigint'],
  ['loaded_at', 'timestamp'],
];
export const LOAD_FILES_COLUMNS: readonly (readonly [string, RecordColumnKind])[] = [
  ['run_id', 'text'],
  ['table_name', 'text'],
  ['mode', 'text'],
  ['file', 'text'],
  ['content_key', 'text'],
  ['rows_read', 'bigint'],
  ['rows_loaded', 'bigint'],
  ['rows_quarantined', 'bigint'],
  ['loaded_at', 'timestamp'],
];
export const QUARANTINE_COLUMNS: readonly (readonly [string, RecordColumnKind])[] = [
  ['run_id', 'text'],
  ['pipeline', 'text'],
  ['spec_version', 'int'],
  ['source_file', 'text'],
  ['line', 'bigint'],
  ['column_name', 'text'],
  ['reason', 'text'],
  ['raw_row', 'text'],
  ['quarantined_at', 'timestamp'],
];

/** DuckDB type of each record column kind. */
export const DUCKDB_RECORD_TYPES: Record<RecordColumnKind, string> = {
  text: 'VARCHAR',
  int: 'INTEGER',
  bigint: 'BIGINT',
  timestamp: 'TIMESTAMP',
};

/** `name TYPE, …` of a record table, with `types` for its kinds. */
export function recordColumnsDdl(
  columns: readonly (readonly [string, RecordColumnKind])[],
  types: Record<RecordColumnKind, string>,
): string {
  return columns.map(([n, k]) => `${n} ${types[k]}`).join(', ');
}

/** A load this run id already committed to a table. */
export interface CommittedLoad {
  sources: string[];
  rowsRead: number;
  rowsLoaded: number;
  rowsQuarantined: number;
  files: { file: string; rowsRead: number; rowsLoaded: number; rowsQuarantined: number }[];
}

/** One file of a commit. */
export interface CommitFile {
  file: string;
  /** Content key (append, merge) or path/size/mtime (replace). */
  key: string;
  rowsRead: number;
  rowsLoaded: number;
  rowsQuarantined: number;
}

/** What a commit writes, as relations of the load's DuckDB connection. */
export interface CommitBatch {
  spec: PipelineSpec;
  specVersion: number;
  runId: string;
  /** The rows that load: the contract's columns, in file order. */
  rows: string;
  /** A query of this load's quarantine rows ({@link QUARANTINE_COLUMNS}), or null when there are none. */
  quarantine: string | null;
  /** The load's key (its files' keys). */
  loadKey: string;
  files: CommitFile[];
}

export interface LoadTarget {
  /** The warehouse, as output shows it (a file path, a URL without password). */
  readonly where: string;
  /** This run id's committed load of `table`, or undefined. */
  committedLoad(conn: DuckDBConnection, table: string, runId: string): Promise<CommittedLoad | undefined>;
  /** Of these content keys, those an append or a merge into `table` already committed. */
  committedKeys(conn: DuckDBConnection, table: string, keys: readonly string[]): Promise<Set<string>>;
  /** Write the table (replace, append, merge on key), the quarantine rows and the load records in one transaction. */
  commit(conn: DuckDBConnection, batch: CommitBatch): Promise<void>;
}

/** Sum of one count over a commit's files. */
export const sumFiles = (files: readonly CommitFile[], k: 'rowsRead' | 'rowsLoaded' | 'rowsQuarantined'): number =>
  files.reduce((a, f) => a + f[k], 0);

/** `t.k IS NOT DISTINCT FROM s.k AND …` over a merge key (`quote`: the target's identifier quoting). */
export const keyMatch = (key: readonly string[], t: string, s: string, quote: (name: string) => string): string =>
  key.map((k) => `${t}.${quote(k)} IS NOT DISTINCT FROM ${s}.${quote(k)}`).join(' AND ');

/** A column of an existing table, its type in the target's own words (`BIGINT`, `double precision`). */
export interface TableColumn {
  name: string;
  type: string;
}

/** How an append or a merge brings an existing table to the contract: columns to add, columns to widen. */
export interface Evolution {
  add: ContractColumn[];
  widen: ContractColumn[];
}

/**
 * Schema evolution of an append or a merge target (`healing.policy`): the table's columns must be
 * the contract's first columns, in order; the contract's further columns are added (optional
 * only: earlier rows hold NULL) and a column of the table's type one step narrower along
 * {@link WIDENINGS} is widened. Anything else is the mismatch error: never a narrowing, a drop or
 * a reorder. `types` maps each contract type to the target's type name.
 */
export function planEvolution(
  spec: PipelineSpec,
  have: readonly TableColumn[],
  types: Record<ColumnType, string>,
): Evolution | SpecInvalidError {
  const want = spec.contract.columns;
  const typeOf = (t: string) =>
    (Object.keys(types) as ColumnType[]).find((k) => types[k].toLowerCase() === t.toLowerCase());
  const evolution: Evolution = { add: [], widen: [] };
  const prefix = have.length <= want.length && have.every((h, i) => h.name === want[i]?.name);
  const extra = want.slice(have.length);
  let ok = prefix && extra.every((c) => !c.required);
  if (ok) {
    evolution.add = extra;
    for (const [i, h] of have.entries()) {
      const col = want[i] as ContractColumn;
      const was = typeOf(h.type);
      if (was === col.type) continue;
      if (was !== undefined && WIDENINGS[was] === col.type) evolution.widen.push(col);
      else ok = false;
    }
  }
  if (ok) return evolution;
  const names = (cols: readonly { name: string; type: string }[]) => cols.map((c) => `${c.name} ${c.type}`).join(', ');
  return new SpecInvalidError(`target ${spec.target.table}`, [
    `${spec.target.mode} needs the table's columns to match the contract (new optional columns last, types only widened): the table has (${names(have)}), the contract (${names(want.map((c) => ({ name: c.name, type: types[c.type] })))})`,
  ]);
}

/** Tables of the connection's own database only: a merge attaches partition files holding tables of the same name. */
async function tableExists(conn: DuckDBConnection, table: string): Promise<boolean> {
  const row = await queryOne<{ n: number }>(
    conn,
    `SELECT count(*) AS n FROM information_schema.tables WHERE table_catalog = current_database() AND table_schema = 'main' AND table_name = ${lit(table)} AND table_type = 'BASE TABLE'`,
  );
  return (row?.n ?? 0) > 0;
}

async function ensureRecordTables(conn: DuckDBConnection): Promise<void> {
  await conn.run(`CREATE TABLE IF NOT EXISTS ${LOADS_TABLE} (${recordColumnsDdl(LOADS_COLUMNS, DUCKDB_RECORD_TYPES)})`);
  await conn.run(
    `CREATE TABLE IF NOT EXISTS ${LOAD_FILES_TABLE} (${recordColumnsDdl(LOAD_FILES_COLUMNS, DUCKDB_RECORD_TYPES)})`,
  );
}

/** SQL of the rows recording a commit in {@link LOADS_TABLE} and {@link LOAD_FILES_TABLE}, for a DuckDB target. */
function recordInserts(b: CommitBatch): string[] {
  const { spec } = b;
  const t = lit(spec.target.table);
  const m = lit(spec.target.mode);
  return [
    `INSERT INTO ${LOADS_TABLE} VALUES (${lit(b.runId)}, ${lit(spec.name)}, ${t}, ${m}, ${lit(b.loadKey)}, ${b.specVersion},
      ${lit(JSON.stringify(b.files.map((f) => f.file)))}, ${sumFiles(b.files, 'rowsRead')}, ${sumFiles(b.files, 'rowsLoaded')},
      ${sumFiles(b.files, 'rowsQuarantined')}, now()::TIMESTAMP)`,
    ...b.files.map(
      (f) => `INSERT INTO ${LOAD_FILES_TABLE} VALUES (${lit(b.runId)}, ${t}, ${m}, ${lit(f.file)}, ${lit(f.key)},
        ${f.rowsRead}, ${f.rowsLoaded}, ${f.rowsQuarantined}, now()::TIMESTAMP)`,
    ),
  ];
}

/** Bring an existing append or merge table to the contract (see {@link planEvolution}), inside the commit's transaction. */
async function evolveDuckDBTable(conn: DuckDBConnection, spec: PipelineSpec): Promise<void> {
  const have = await queryRows<{ column_name: string; data_type: string }>(
    conn,
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = current_database() AND table_schema = 'main' AND table_name = ${lit(spec.target.table)} ORDER BY ordinal_position`,
  );
  const plan = planEvolution(
    spec,
    have.map((c) => ({ name: c.column_name, type: c.data_type })),
    DUCKDB_TYPES,
  );
  if (plan instanceof SpecInvalidError) throw plan;
  const t = ident(spec.target.table);
  for (const c of plan.widen)
    await conn.run(`ALTER TABLE ${t} ALTER COLUMN ${ident(c.name)} SET DATA TYPE ${DUCKDB_TYPES[c.type]}`);
  for (const c of plan.add) await conn.run(`ALTER TABLE ${t} ADD COLUMN ${ident(c.name)} ${DUCKDB_TYPES[c.type]}`);
}

/** The target that is the DuckDB database the load runs on: the embedded warehouse, a partition file. */
export const DUCKDB_TARGET: LoadTarget = {
  where: 'duckdb',

  async committedLoad(conn, table, runId) {
    if (!(await tableExists(conn, LOADS_TABLE))) return undefined;
    const done = await queryOne<{ rows_read: number; rows_loaded: number; rows_quarantined: number; sources: string }>(
      conn,
      `SELECT rows_read, rows_loaded, rows_quarantined, sources FROM ${LOADS_TABLE} WHERE run_id = ${lit(runId)} AND table_name = ${lit(table)} LIMIT 1`,
    );
    if (!done) return undefined;
    const files = (await tableExists(conn, LOAD_FILES_TABLE))
      ? await queryRows<{ file: string; rows_read: number; rows_loaded: number; rows_quarantined: number }>(
          conn,
          `SELECT file, rows_read, rows_loaded, rows_quarantined FROM ${LOAD_FILES_TABLE} WHERE run_id = ${lit(runId)} AND table_name = ${lit(table)} ORDER BY file`,
        )
      : [];
    return {
      sources: JSON.parse(done.sources) as string[],
      rowsRead: done.rows_read,
      rowsLoaded: done.rows_loaded,
      rowsQuarantined: done.rows_quarantined,
      files: files.map((f) => ({
        file: f.file,
        rowsRead: f.rows_read,
        rowsLoaded: f.rows_loaded,
        rowsQuarantined: f.rows_quarantined,
      })),
    };
  },

  async committedKeys(conn, table, keys) {
    if (!keys.length) return new Set();
    const parts: string[] = [];
    if (await tableExists(conn, LOAD_FILES_TABLE)) {
      parts.push(
        `SELECT content_key AS k FROM ${LOAD_FILES_TABLE} WHERE table_name = ${lit(table)} AND mode IN ('append', 'merge') AND content_key IN (${inList(keys)})`,
      );
    }
    // Loads recorded before per-file records existed: an append's key was its one file's.
    if (await tableExists(conn, LOADS_TABLE)) {
      parts.push(
        `SELECT load_key AS k FROM ${LOADS_TABLE} WHERE table_name = ${lit(table)} AND mode = 'append' AND load_key IN (${inList(keys)})`,
      );
    }
    if (!parts.length) return new Set();
    return new Set((await queryRows<{ k: string }>(conn, parts.join(' UNION '))).map((r) => r.k));
  },

  async commit(conn, b) {
    const { spec } = b;
    const t = ident(spec.target.table);
    const q = ident(quarantineTable(spec.target.table));
    const cols = spec.contract.columns.map((c) => ident(c.name)).join(', ');
    await conn.run('BEGIN TRANSACTION');
    try {
      await conn.run(`CREATE TABLE IF NOT EXISTS ${q} (${recordColumnsDdl(QUARANTINE_COLUMNS, DUCKDB_RECORD_TYPES)})`);
      await conn.run(`DELETE FROM ${q} WHERE run_id = ${lit(b.runId)}`);
      if (b.quarantine) await conn.run(`INSERT INTO ${q} ${b.quarantine}`);
      if (spec.target.mode === 'replace') {
        await conn.run(`CREATE OR REPLACE TABLE ${t} (${tableColumnsDdl(spec)})`);
      } else {
        await conn.run(`CREATE TABLE IF NOT EXISTS ${t} (${tableColumnsDdl(spec)})`);
        await evolveDuckDBTable(conn, spec);
      }
      if (spec.target.mode === 'merge' && spec.target.key?.length) {
        const on = keyMatch(spec.target.key, t, 's', ident);
        await conn.run(
          `DELETE FROM ${t} USING (SELECT ${spec.target.key.map(ident).join(', ')} FROM ${b.rows}) s WHERE ${on}`,
        );
      }
      // File order without a sort: DuckDB preserves insertion order (preserve_insertion_order) through a scan.
      await conn.run(`INSERT INTO ${t} (${cols}) SELECT ${cols} FROM ${b.rows}`);
      await ensureRecordTables(conn);
      for (const sql of recordInserts(b)) await conn.run(sql);
      await conn.run('COMMIT');
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  },
};
