/**
 * The embedded warehouse: one DuckDB file. Loads run on it and commit in it. A fanned-out run
 * stages each partition in **its own DuckDB file** (`<home>/partitions/<pipeline>/<run>/p<i>.duckdb`)
 * because DuckDB allows one read-write process per file: children on several worker processes
 * writing the warehouse at once would queue on its lock. Only the merge, a short copy of typed
 * rows, takes the warehouse. (Workers on several machines: use the PostgreSQL warehouse.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { ident, lit, queryOne, queryRows, withDuckDB } from '../lib/duckdb';
import { stateLayout } from '../store/layout';
import { sketchOf, sketchQuery } from '../core/etl/sketch';
import { DUCKDB_TYPES } from '../core/etl/sql';
import { DUCKDB_REPLAY } from '../core/etl/replay';
import { DUCKDB_TARGET, quarantineTable } from '../core/etl/target';
import type { Warehouse, WarehouseConfig } from './index';
import { listStatements, purgeStatement, quarantinedRow } from './quarantine';

async function hasTable(conn: DuckDBConnection, table: string): Promise<boolean> {
  const row = await queryOne<{ n: number }>(
    conn,
    `SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ${lit(table)}`,
  );
  return (row?.n ?? 0) > 0;
}

async function hasColumn(conn: DuckDBConnection, table: string, column: string): Promise<boolean> {
  const row = await queryOne<{ n: number }>(
    conn,
    `SELECT count(*) AS n FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ${lit(table)} AND column_name = ${lit(column)}`,
  );
  return (row?.n ?? 0) > 0;
}

export function duckdbWarehouse(config: WarehouseConfig): Warehouse {
  const duck = { memoryLimit: config.duckdbMemoryLimit, threads: config.duckdbThreads };
  const file = config.warehouse;
  const partitionDir = (pipeline: string, runId: string) => stateLayout(config.home).partitions(pipeline, runId);
  return {
    kind: 'duckdb',
    where: file,
    withLoad: (fn) => withDuckDB(file, duck, (conn) => fn(conn, DUCKDB_TARGET)),
    async committedKeys(table, keys) {
      if (!fs.existsSync(file)) return new Set();
      return withDuckDB(file, duck, (conn) => DUCKDB_TARGET.committedKeys(conn, table, keys));
    },
    async committedLoad(table, runId) {
      if (!fs.existsSync(file)) return undefined;
      return withDuckDB(file, duck, (conn) => DUCKDB_TARGET.committedLoad(conn, table, runId));
    },
    async withPartition(ref, fn) {
      const dir = partitionDir(ref.pipeline, ref.runId);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const db = path.join(dir, `p${String(ref.index).padStart(5, '0')}.duckdb`);
      const result = await withDuckDB(db, duck, (conn) => fn(conn, DUCKDB_TARGET, ref.table));
      return { result, stage: db };
    },
    withStaged: (spec, parts, fn) =>
      withDuckDB(file, duck, async (conn) => {
        const aliases = parts.map((_, i) => `__heal_p${i}`);
        const t = ident(spec.target.table);
        try {
          const staged = [];
          for (const [i, p] of parts.entries()) {
            const a = aliases[i] as string;
            await conn.run(`ATTACH ${lit(p.db)} AS ${a} (READ_ONLY)`);
            const hasQ = await queryOne<{ n: number }>(
              conn,
              `SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = ${lit(a)} AND table_name = ${lit(quarantineTable(spec.target.table))}`,
            );
            staged.push({
              rows: `${a}.${t}`,
              quarantine: (hasQ?.n ?? 0) > 0 ? `${a}.${ident(quarantineTable(spec.target.table))}` : null,
            });
          }
          return await fn(conn, DUCKDB_TARGET, staged);
        } finally {
          for (const a of aliases) await conn.run(`DETACH ${a}`).catch(() => undefined);
        }
      }),
    async discardPartitions(pipeline, runId) {
      fs.rmSync(partitionDir(pipeline, runId), { recursive: true, force: true });
    },
    async valueSketch(table, column, type) {
      // Never create the warehouse file to answer a question about it.
      if (!fs.existsSync(file)) return undefined;
      return withDuckDB(file, duck, async (conn) => {
        if (!(await hasColumn(conn, table, column))) return undefined;
        const x = `TRY_CAST(${ident(column)} AS ${DUCKDB_TYPES[type]})`;
        const rows = await queryRows<{ h: string }>(conn, sketchQuery('duckdb', ident(table), x, type));
        return sketchOf(rows.map((r) => r.h));
      });
    },
    quarantine: {
      async list(table, filter) {
        if (!fs.existsSync(file)) return { rows: [], total: 0 };
        return withDuckDB(file, duck, async (conn) => {
          if (!(await hasTable(conn, quarantineTable(table)))) return { rows: [], total: 0 };
          const s = listStatements(ident(quarantineTable(table)), filter);
          const rows = await queryRows(conn, s.rows.sql, s.rows.params);
          const total = await queryRows<{ n: number }>(conn, s.total.sql, s.total.params);
          return { rows: rows.map(quarantinedRow), total: Number(total[0]?.n ?? 0) };
        });
      },
      async purge(table, before) {
        if (!fs.existsSync(file)) return 0;
        return withDuckDB(file, duck, async (conn) => {
          if (!(await hasTable(conn, quarantineTable(table)))) return 0;
          const s = purgeStatement(ident(quarantineTable(table)), before);
          const res = await conn.run(s.sql, s.params);
          return Number(res.rowsChanged);
        });
      },
      // Replays cast on the warehouse file itself and commit in it, like a load; a warehouse
      // not yet created has nothing in quarantine (and is not created to say so).
      replay: (fn) => withDuckDB(fs.existsSync(file) ? file : ':memory:', duck, (conn) => fn(conn, DUCKDB_REPLAY)),
    },
  };
}
