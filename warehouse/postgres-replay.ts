/**
 * A quarantine replay (core/etl/replay.ts) against PostgreSQL: the selected quarantine rows are
 * copied into the replay's DuckDB (cast there, as a load casts), and what loads comes back with
 * `COPY … FROM STDIN` in one PostgreSQL transaction that inserts the rows, deletes their quarantine
 * rows, updates the reasons of the rest and records the replay in `__heal_loads`. The quarantine
 * table is locked for the transaction, so two replays never both load a row: the second one waits,
 * then finds the row gone from quarantine and leaves it out.
 */
import type { PoolClient } from 'pg';
import type { ContractColumn } from '../common/spec';
import { queryOne } from '../lib/duckdb';
import { inTransaction, pgIdent, pgTableExists, poolFor, withClient } from '../lib/pg';
import {
  heldRowsQuery,
  REPLAY_LOAD_KEY,
  REPLAY_SOURCE,
  REPLAY_SOURCE_COLUMNS,
  replayRowIds,
  replaySourceQuery,
  sameRow,
  tableMismatch,
  type ReplayBatch,
  type ReplayCommit,
  type ReplayRowId,
  type ReplayTarget,
} from '../core/etl/replay';
import { keyMatch, LOADS_TABLE, quarantineTable, type RecordColumnKind } from '../core/etl/target';
import { copyFromPostgres, copyToPostgres, PG_TYPES, pgColumnsDdl, type PostgresTargetOptions } from './postgres';

/** The identity columns a replay's rows carry (see ReplayBatch.rows). */
const ROW_IDS: readonly { name: string; type: RecordColumnKind }[] = [
  { name: '__heal_run_id', type: 'text' },
  { name: '__heal_source_file', type: 'text' },
  { name: '__heal_line', type: 'bigint' },
  { name: '__heal_ord', type: 'bigint' },
];

export function postgresReplayTarget(opts: PostgresTargetOptions): ReplayTarget {
  const { url, schema } = opts;
  const pool = poolFor(url, { lockTimeout: opts.lockTimeout });
  const s = pgIdent(schema);
  const quarantineOf = (table: string) => `${s}.${pgIdent(quarantineTable(table))}`;
  return {
    currentLoad: (_conn, table) =>
      withClient(pool, url, async (c) => {
        if (!(await pgTableExists(c, schema, LOADS_TABLE))) return undefined;
        const res = await c.query<{ run_id: string }>(
          `SELECT run_id FROM ${s}.${LOADS_TABLE} WHERE table_name = $1 AND load_key IS DISTINCT FROM $2 ORDER BY loaded_at DESC LIMIT 1`,
          [table, REPLAY_LOAD_KEY],
        );
        return res.rows[0]?.run_id;
      }),

    replayed: (_conn, table, replayId) =>
      withClient(pool, url, async (c) => {
        if (!(await pgTableExists(c, schema, LOADS_TABLE))) return 0;
        const res = await c.query<{ n: string }>(
          `SELECT rows_loaded AS n FROM ${s}.${LOADS_TABLE} WHERE run_id = $1 AND table_name = $2`,
          [replayId, table],
        );
        return Number(res.rows[0]?.n ?? 0);
      }),

    readQuarantine: (conn, table, filter) =>
      withClient(pool, url, async (c) => {
        const none = `SELECT ${REPLAY_SOURCE_COLUMNS.map((col) => `NULL::${col.duckType} AS ${col.name}`).join(', ')} WHERE false`;
        if (!(await pgTableExists(c, schema, quarantineTable(table)))) {
          await conn.run(`CREATE OR REPLACE TEMP TABLE ${REPLAY_SOURCE} AS ${none}`);
          return 0;
        }
        // COPY takes no parameters: the filter's values are quoted by the driver.
        const query = replaySourceQuery(quarantineOf(table), filter, (v) => c.escapeLiteral(v));
        await copyFromPostgres(c, conn, query, REPLAY_SOURCE, REPLAY_SOURCE_COLUMNS);
        return Number((await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${REPLAY_SOURCE}`))?.n ?? 0);
      }),

    commitReplay: (conn, b) =>
      inTransaction(pool, url, async (c) => {
        const { spec } = b;
        const q = quarantineOf(spec.target.table);
        if (!(await pgTableExists(c, schema, quarantineTable(spec.target.table)))) return { inserted: 0, held: [] };
        // Waits here (lock_timeout) while another replay or a load holds it.
        await c.query(`LOCK TABLE ${q} IN SHARE ROW EXCLUSIVE MODE`);
        const contract = spec.contract.columns.map((col) => ({ name: col.name, type: col.type }));
        await c.query(
          `CREATE TEMP TABLE __heal_replay_rows (${ROW_IDS.map((r) => `${r.name} ${r.type}`).join(', ')}, ${pgColumnsDdl(spec)}) ON COMMIT DROP`,
        );
        await copyToPostgres(conn, c, b.rows, '__heal_replay_rows', [...ROW_IDS, ...contract]);
        // Only rows whose quarantine row is still there: what another replay or a purge took is not loaded again.
        await c.query(`DELETE FROM __heal_replay_rows r WHERE NOT EXISTS (SELECT 1 FROM ${q} q WHERE ${sameRow('r')})`);
        const n = Number(
          (await c.query<{ n: string }>('SELECT count(*) AS n FROM __heal_replay_rows')).rows[0]?.n ?? 0,
        );
        const done = n > 0 ? await insertReplayed(c, schema, b, contract, n) : { inserted: 0, held: [] };
        await c.query(
          `CREATE TEMP TABLE __heal_replay_failed (__heal_run_id text, __heal_source_file text, __heal_line bigint, reason text, column_name text) ON COMMIT DROP`,
        );
        await copyToPostgres(conn, c, b.failed, '__heal_replay_failed', [
          ...ROW_IDS.slice(0, 3),
          { name: 'reason', type: 'text' },
          { name: 'column_name', type: 'text' },
        ]);
        await c.query(
          `UPDATE ${q} AS q SET reason = f.reason, column_name = f.column_name, spec_version = $1 FROM __heal_replay_failed f WHERE ${sameRow('f')}`,
          [b.specVersion],
        );
        return done;
      }),
  };
}

/** `merge` mode, in the replay's transaction: take the held rows (see heldRowsQuery) out of `__heal_replay_rows`; which they are. */
async function holdNewer(c: PoolClient, schema: string, b: ReplayBatch): Promise<ReplayRowId[]> {
  const { spec } = b;
  if (spec.target.mode !== 'merge' || !spec.target.key?.length) return [];
  const s = pgIdent(schema);
  const rel = {
    rows: '__heal_replay_rows',
    quarantine: `${s}.${pgIdent(quarantineTable(spec.target.table))}`,
    table: `${s}.${pgIdent(spec.target.table)}`,
    loads: `${s}.${LOADS_TABLE}`,
  };
  await c.query(
    `CREATE TEMP TABLE __heal_replay_held ON COMMIT DROP AS ${heldRowsQuery(b, rel, pgIdent, (v) => c.escapeLiteral(v))}`,
  );
  const held = replayRowIds(
    (
      await c.query<{ run_id: string; source_file: string | null; line: string | null }>(
        'SELECT run_id, source_file, line FROM __heal_replay_held',
      )
    ).rows,
  );
  // The held table has a quarantine row's columns: `sameRow` matches it as `q`.
  if (held.length) await c.query(`DELETE FROM __heal_replay_rows r USING __heal_replay_held q WHERE ${sameRow('r')}`);
  return held;
}

/**
 * Inside the replay's transaction: the table gets the rows (appended, or upserted on the key, but
 * for the rows held back), quarantine loses them, the replay is recorded.
 */
async function insertReplayed(
  c: PoolClient,
  schema: string,
  b: ReplayBatch,
  contract: readonly { name: string; type: ContractColumn['type'] }[],
  selected: number,
): Promise<ReplayCommit> {
  const { spec } = b;
  const s = pgIdent(schema);
  const t = `${s}.${pgIdent(spec.target.table)}`;
  const have = await c.query<{ name: string; type: string }>(
    `SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [schema, spec.target.table],
  );
  if (!have.rows.length && spec.target.mode !== 'replace') await c.query(`CREATE TABLE ${t} (${pgColumnsDdl(spec)})`);
  else {
    const mismatch = tableMismatch(spec, have.rows, PG_TYPES);
    if (mismatch) throw mismatch;
    await c.query(`LOCK TABLE ${t} IN SHARE ROW EXCLUSIVE MODE`);
  }
  const held = await holdNewer(c, schema, b);
  const n = selected - held.length;
  if (n === 0) return { inserted: 0, held };
  const q = `${s}.${pgIdent(quarantineTable(spec.target.table))}`;
  await c.query(`DELETE FROM ${q} AS q USING __heal_replay_rows r WHERE ${sameRow('r')}`);
  if (spec.target.mode === 'merge' && spec.target.key?.length) {
    const on = keyMatch(spec.target.key, t, 's', pgIdent);
    await c.query(`DELETE FROM ${t} USING __heal_replay_rows s WHERE ${on}`);
  }
  const cols = contract.map((col) => pgIdent(col.name)).join(', ');
  await c.query(`INSERT INTO ${t} (${cols}) SELECT ${cols} FROM __heal_replay_rows ORDER BY __heal_ord`);
  // The record table exists: the quarantine table is written by a load's commit, which creates it first.
  const updated = await c.query(
    `UPDATE ${s}.${LOADS_TABLE} SET rows_loaded = rows_loaded + $1, rows_quarantined = $2, rows_read = rows_loaded + $1 + $2,
      loaded_at = localtimestamp WHERE run_id = $3 AND table_name = $4`,
    [n, b.stillQuarantined, b.replayId, spec.target.table],
  );
  if (!updated.rowCount) {
    await c.query(`INSERT INTO ${s}.${LOADS_TABLE} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, localtimestamp)`, [
      b.replayId,
      spec.name,
      spec.target.table,
      spec.target.mode,
      REPLAY_LOAD_KEY,
      b.specVersion,
      JSON.stringify(b.sources),
      n + b.stillQuarantined,
      n,
      b.stillQuarantined,
    ]);
  }
  return { inserted: n, held };
}
