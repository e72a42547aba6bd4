/**
 * DuckDB access for activities. The warehouse is opened per activity and closed after: never held
 * between activities, so an analyst's DuckDB session or a BI tool can read it between runs.
 * Within one worker process, concurrent activities on the same file share one instance
 * (reference-counted) because DuckDB allows a single read-write instance per file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DuckDBInstance, DuckDBConnection } from '@duckdb/node-api';
import { duckdbPackage } from './lazy';
import { StateUnwritableError, WarehouseBusyError } from '../common/errors';

/** Options for opening a DuckDB database. */
export interface DuckDBOptions {
  /** DuckDB `memory_limit`, e.g. "2GB". @default DuckDB's default (80% of RAM) */
  memoryLimit?: string;
  /** DuckDB `threads`; 0 keeps DuckDB's default (all cores). @default 0 */
  threads?: number;
}

interface Shared {
  ready: Promise<DuckDBInstance>;
  /** Set once `ready` resolves. */
  instance?: DuckDBInstance;
  /** Counted when an activity asks, before the instance is ready, so a release in between never closes it. */
  refs: number;
  key: string;
}
const open = new Map<string, Shared>();

function instanceOptions(opts: DuckDBOptions): Record<string, string> {
  const o: Record<string, string> = {};
  if (opts.memoryLimit) o['memory_limit'] = opts.memoryLimit;
  if (opts.threads && opts.threads > 0) o['threads'] = String(opts.threads);
  return o;
}

function translateOpenError(file: string, err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err);
  if (/lock/i.test(msg)) {
    return new WarehouseBusyError(
      `${file}: the warehouse is locked by another process (${msg.split('\n')[0]}); retrying`,
    );
  }
  if (/read-only|Permission denied|No space left/i.test(msg)) {
    return new StateUnwritableError(`${file}: cannot open the warehouse for writing: ${msg.split('\n')[0]}`);
  }
  return err instanceof Error ? err : new Error(msg);
}

function acquire(file: string, opts: DuckDBOptions): Shared {
  const key = file === ':memory:' ? `:memory:${Math.random()}` : path.resolve(file);
  let shared = open.get(key);
  if (!shared) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(key), { recursive: true, mode: 0o700 });
    const created: Shared = {
      ready: duckdbPackage()
        .DuckDBInstance.create(file === ':memory:' ? ':memory:' : key, instanceOptions(opts))
        .then(
          (instance) => (created.instance = instance),
          (err: unknown) => {
            if (open.get(key) === created) open.delete(key);
            throw translateOpenError(key, err);
          },
        ),
      refs: 0,
      key,
    };
    shared = created;
    if (file !== ':memory:') open.set(key, shared);
  }
  shared.refs++;
  return shared;
}

/** Called once `ready` has settled: closes the instance when no one else uses it. */
function release(shared: Shared): void {
  shared.refs--;
  if (shared.refs > 0) return;
  if (open.get(shared.key) === shared) open.delete(shared.key);
  shared.instance?.closeSync();
}

/**
 * Open `file` (or ":memory:"), run `fn` on a fresh connection, then close the connection and,
 * when no other activity in this process uses the file, the database.
 */
export async function withDuckDB<T>(
  file: string,
  opts: DuckDBOptions,
  fn: (conn: DuckDBConnection) => Promise<T>,
): Promise<T> {
  const shared = acquire(file, opts);
  let conn: DuckDBConnection | undefined;
  try {
    conn = await (await shared.ready).connect();
    return await fn(conn);
  } finally {
    conn?.closeSync();
    release(shared);
  }
}

/** Quote an identifier for SQL: always, whatever it contains. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quote a string literal for SQL. NUL bytes cannot appear in DuckDB strings and are dropped. */
export function lit(value: string): string {
  return `'${value.replace(/\u0000/g, '').replace(/'/g, "''")}'`;
}

/** The values of a SQL `IN (…)`: 'a', 'b' (NULL for none, which matches nothing). */
export function inList(values: readonly string[]): string {
  return values.length ? values.map(lit).join(', ') : 'NULL';
}

/** A SQL list literal of strings: ['a', 'b']. */
export function litList(values: readonly string[]): string {
  return `[${values.map(lit).join(', ')}]`;
}

/** Run a query (with `$1`-style parameters, if any) and return plain JSON-safe row objects (BIGINT as number). */
export async function queryRows<T = Record<string, unknown>>(
  conn: DuckDBConnection,
  sql: string,
  params?: (string | number)[],
): Promise<T[]> {
  const reader = await conn.runAndReadAll(sql, params);
  return reader.getRowObjectsJS().map((row) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) out[k] = typeof v === 'bigint' ? Number(v) : v;
    return out as T;
  });
}

/** First row of a query, or undefined. */
export async function queryOne<T = Record<string, unknown>>(
  conn: DuckDBConnection,
  sql: string,
): Promise<T | undefined> {
  return (await queryRows<T>(conn, sql))[0];
}
