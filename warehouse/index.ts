/**
 * The warehouse: where loads commit and where a fanned-out run stages its partitions. One
 * interface, two backends, chosen by the configuration (HEAL_WAREHOUSE):
 *   - DuckDB (the default): one database file; loads run on it; partitions are DuckDB files under
 *     the state directory (warehouse/duckdb.ts);
 *   - PostgreSQL: loads run on an in-memory DuckDB of the activity and commit to the server;
 *     partitions are staging tables on the server, so any worker can merge them
 *     (warehouse/postgres-warehouse.ts).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ContractColumn, PipelineSpec } from '../common/spec';
import type { PartitionLoad } from '../common/contracts';
import type { HealConfig } from '../lib/config';
import type { ValueSketch } from '../core/etl/sketch';
import type { ReplayTarget } from '../core/etl/replay';
import type { CommittedLoad, LoadTarget } from '../core/etl/target';
import { duckdbWarehouse } from './duckdb';
import { postgresWarehouse } from './postgres-warehouse';

/** One quarantined row, as `heal quarantine list` shows it. */
export interface QuarantinedRow {
  runId: string;
  specVersion: number;
  sourceFile: string | null;
  line: number | null;
  column: string | null;
  reason: string;
  rawRow: string | null;
  quarantinedAt: string;
}

/** Which quarantined rows of a table: all, or one run's, or those whose reason contains a text. */
export interface QuarantineFilter {
  runId?: string;
  /** A substring of the reason (case-insensitive). */
  reason?: string;
  /** At most this many rows, newest run first. */
  limit: number;
}

/** The quarantine table of a target table, read and trimmed. */
export interface QuarantineTables {
  /** The rows the filter selects (at most `limit`) and how many it selects in all. */
  list(table: string, filter: QuarantineFilter): Promise<{ rows: QuarantinedRow[]; total: number }>;
  /** Delete the rows quarantined before `before`; returns how many. */
  purge(table: string, before: Date): Promise<number>;
  /** Run a quarantine replay's DuckDB work on `conn`; it reads and commits through `target` (core/etl/replay.ts). */
  replay<T>(fn: (conn: DuckDBConnection, target: ReplayTarget) => Promise<T>): Promise<T>;
}

/** A staged partition as relations of the merge's DuckDB connection. */
export interface StagedRelations {
  /** The partition's typed rows (the contract's columns). */
  rows: string;
  /** Its quarantine rows, or null when it has none. */
  quarantine: string | null;
}

export interface Warehouse {
  readonly kind: 'duckdb' | 'postgres';
  /** As output shows it: the file, or the URL without password. */
  readonly where: string;
  /** Run a load's DuckDB work on `conn`; its commit goes to `target`. */
  withLoad<T>(fn: (conn: DuckDBConnection, target: LoadTarget) => Promise<T>): Promise<T>;
  /** Of these content keys, those an append or a merge into `table` already committed. */
  committedKeys(table: string, keys: readonly string[]): Promise<Set<string>>;
  /** This run id's committed load of `table` (a merge already done), or undefined. */
  committedLoad(table: string, runId: string): Promise<CommittedLoad | undefined>;
  /**
   * Stage one partition of a run: `fn` loads it on `conn` into `table` of `target`. Returns what
   * {@link PartitionLoad.db} records.
   */
  withPartition<T>(
    ref: { pipeline: string; runId: string; index: number; table: string },
    fn: (conn: DuckDBConnection, target: LoadTarget, table: string) => Promise<T>,
  ): Promise<{ result: T; stage: string }>;
  /** Open the staged partitions as relations of one DuckDB connection, on which the merge checks and commits to `target`. */
  withStaged<T>(
    spec: PipelineSpec,
    parts: readonly PartitionLoad[],
    fn: (conn: DuckDBConnection, target: LoadTarget, staged: StagedRelations[]) => Promise<T>,
  ): Promise<T>;
  /** Remove a run's staged partitions (merged, or nothing to merge). */
  discardPartitions(pipeline: string, runId: string): Promise<void>;
  /** The tables' quarantine rows. */
  readonly quarantine: QuarantineTables;
  /**
   * The sketch of the distinct values `table` holds in `column`, read as `type` (core/etl/sketch.ts):
   * what the rules doctor compares a renamed column's new values with. Undefined when the table or
   * the column does not exist. One scan of the column; nothing is written.
   */
  valueSketch(table: string, column: string, type: ContractColumn['type']): Promise<ValueSketch | undefined>;
}

export type WarehouseConfig = Pick<HealConfig, 'home' | 'warehouse' | 'duckdbMemoryLimit' | 'duckdbThreads'> &
  Partial<Pick<HealConfig, 'warehouseUrl' | 'warehouseSchema' | 'pgLockTimeout'>>;

/** The warehouse a configuration names. */
export function openWarehouse(config: WarehouseConfig): Warehouse {
  return config.warehouseUrl ? postgresWarehouse(config, config.warehouseUrl) : duckdbWarehouse(config);
}
