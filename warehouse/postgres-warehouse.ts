/**
 * The PostgreSQL warehouse: loads run on an in-memory DuckDB of the activity and commit to the
 * server (warehouse/postgres.ts). A fanned-out run stages each partition in a table of the
 * `heal_staging` schema on the same server, so the merge may run on any worker: it reads the
 * staged rows back into its DuckDB (the union's silent drift check needs them there) and commits
 * them in one PostgreSQL transaction. Nothing a partition leaves for the merge is on a worker's disk.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { withDuckDB } from '../lib/duckdb';
import { pgIdent, pgTableExists, poolFor, redactUrl, withClient } from '../lib/pg';
import { DUCKDB_TYPES } from '../core/etl/sql';
import {
  DUCKDB_RECORD_TYPES,
  LOAD_FILES_TABLE,
  LOADS_TABLE,
  QUARANTINE_COLUMNS,
  quarantineTable,
} from '../core/etl/target';
import { copyFromPostgres, pgValueSketch, postgresTarget, stagingPrefix, stagingTableName } from './postgres';
import type { PoolClient } from 'pg';
import { postgresReplayTarget } from './postgres-replay';
import type { StagedRelations, Warehouse, WarehouseConfig } from './index';
import { listStatements, purgeStatement, quarantinedRow } from './quarantine';

/** Schema of the partitions' staging tables. */
export const STAGING_SCHEMA = 'heal_staging';

export function postgresWarehouse(config: WarehouseConfig, url: string): Warehouse {
  const duck = { memoryLimit: config.duckdbMemoryLimit, threads: config.duckdbThreads };
  const lockTimeout = config.pgLockTimeout;
  const schema = config.warehouseSchema ?? 'public';
  const target = postgresTarget({ url, schema, lockTimeout });
  const replay = postgresReplayTarget({ url, schema, lockTimeout });
  const staging = postgresTarget({ url, schema: STAGING_SCHEMA, lockTimeout });
  const pool = poolFor(url, { lockTimeout });
  // Loads only read and cast in DuckDB: a private in-memory database per activity.
  const engine = <T>(fn: (conn: DuckDBConnection) => Promise<T>) => withDuckDB(':memory:', duck, fn);

  /** The quoted quarantine table of `table` in the warehouse schema, or null when there is none. */
  const quarantineIn = async (c: PoolClient, table: string): Promise<string | null> => {
    const name = quarantineTable(table);
    return (await pgTableExists(c, schema, name)) ? `${pgIdent(schema)}.${pgIdent(name)}` : null;
  };

  const stagedTables = (pipeline: string, runId: string) =>
    withClient(pool, url, async (c) => {
      const res = await c.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND starts_with(table_name, $2)`,
        [STAGING_SCHEMA, stagingPrefix(pipeline, runId)],
      );
      return res.rows.map((r) => r.table_name);
    });

  return {
    kind: 'postgres',
    where: redactUrl(url),
    withLoad: (fn) => engine((conn) => fn(conn, target)),
    committedKeys: (table, keys) => engine((conn) => target.committedKeys(conn, table, keys)),
    committedLoad: (table, runId) => engine((conn) => target.committedLoad(conn, table, runId)),
    async withPartition(ref, fn) {
      const table = stagingTableName(ref.pipeline, ref.runId, ref.index);
      const result = await engine((conn) => fn(conn, staging, table));
      return { result, stage: `${STAGING_SCHEMA}.${table}` };
    },
    withStaged: (spec, parts, fn) =>
      engine(async (conn) => {
        const staged: StagedRelations[] = [];
        await withClient(pool, url, async (c) => {
          for (const [i, p] of parts.entries()) {
            const table = p.db.slice(STAGING_SCHEMA.length + 1);
            const src = `${pgIdent(STAGING_SCHEMA)}.${pgIdent(table)}`;
            const cols = spec.contract.columns.map((col) => ({ name: col.name, duckType: DUCKDB_TYPES[col.type] }));
            await copyFromPostgres(
              c,
              conn,
              `SELECT ${cols.map((col) => pgIdent(col.name)).join(', ')} FROM ${src}`,
              `__heal_p${i}`,
              cols,
            );
            const qName = quarantineTable(table);
            let quarantine: string | null = null;
            if (await pgTableExists(c, STAGING_SCHEMA, qName)) {
              const qCols = QUARANTINE_COLUMNS.map(([name, kind]) => ({ name, duckType: DUCKDB_RECORD_TYPES[kind] }));
              await copyFromPostgres(
                c,
                conn,
                `SELECT * FROM ${pgIdent(STAGING_SCHEMA)}.${pgIdent(qName)}`,
                `__heal_q${i}`,
                qCols,
              );
              quarantine = `__heal_q${i}`;
            }
            staged.push({ rows: `__heal_p${i}`, quarantine });
          }
        });
        return fn(conn, target, staged);
      }),
    quarantine: {
      list: (table, filter) =>
        withClient(pool, url, async (c) => {
          const q = await quarantineIn(c, table);
          if (!q) return { rows: [], total: 0 };
          const s = listStatements(q, filter);
          const rows = await c.query<Record<string, unknown>>(s.rows.sql, s.rows.params);
          const total = await c.query<{ n: string }>(s.total.sql, s.total.params);
          return { rows: rows.rows.map(quarantinedRow), total: Number(total.rows[0]?.n ?? 0) };
        }),
      purge: (table, before) =>
        withClient(pool, url, async (c) => {
          const q = await quarantineIn(c, table);
          if (!q) return 0;
          const s = purgeStatement(q, before);
          return (await c.query(s.sql, s.params)).rowCount ?? 0;
        }),
      // Cast in the activity's in-memory DuckDB, committed to the server (warehouse/postgres-replay.ts).
      replay: (fn) => engine((conn) => fn(conn, replay)),
    },
    valueSketch: (table, column, type) => withClient(pool, url, (c) => pgValueSketch(c, schema, table, column, type)),
    async discardPartitions(pipeline, runId) {
      const tables = await stagedTables(pipeline, runId);
      if (!tables.length) return;
      await withClient(pool, url, async (c) => {
        await c.query(
          `DROP TABLE IF EXISTS ${tables.map((t) => `${pgIdent(STAGING_SCHEMA)}.${pgIdent(t)}`).join(', ')}`,
        );
        // Their load records too: a staging table's records mean nothing once it is gone.
        for (const records of [LOADS_TABLE, LOAD_FILES_TABLE])
          await c.query(`DELETE FROM ${pgIdent(STAGING_SCHEMA)}.${records} WHERE starts_with(table_name, $1)`, [
            stagingPrefix(pipeline, runId),
          ]);
      });
    },
  };
}
