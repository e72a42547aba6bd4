/**
 * PostgreSQL access shared by the warehouse and the state store: one pool per URL per process,
 * transactions, quoting, and errors translated into heal's domain errors. A URL's password is
 * never part of a message: {@link redactUrl} is what any output shows.
 */
import type { Pool, PoolClient } from 'pg';
import { pgPackage } from './lazy';
import { DatabaseAuthFailedError, DatabaseUnreachableError, WarehouseBusyError } from '../common/errors';

/** Is this setting a PostgreSQL URL (rather than a DuckDB file path)? */
export function isPostgresUrl(s: string | undefined): s is string {
  return s !== undefined && /^postgres(ql)?:\/\//i.test(s);
}

/** The URL without its password (and without query parameters, which may carry one): for output. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
    return `${u.protocol}//${user}${u.host}${u.pathname}`;
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

/** host:port of a URL, for messages. */
export function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** Quote an identifier for PostgreSQL: always, whatever it contains. */
export function pgIdent(name: string): string {
  return `"${name.replace(/\u0000/g, '').replace(/"/g, '""')}"`;
}

/** Options of one pool. */
export interface PoolOptions {
  /** Connections at most. @default 4 */
  max?: number;
  /** `lock_timeout` of every session: how long a statement waits for a lock another connection holds. @default "60s" */
  lockTimeout?: string;
}

const pools = new Map<string, Pool>();

/** The process's pool for `url` (created on first use; idle connections a restart broke are dropped quietly). */
export function poolFor(url: string, opts: PoolOptions = {}): Pool {
  const key = `${url}\u0000${opts.lockTimeout ?? ''}`;
  let pool = pools.get(key);
  if (!pool) {
    pool = new (pgPackage().Pool)({
      connectionString: url,
      max: opts.max ?? 4,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      application_name: 'heal',
      options: `-c lock_timeout=${opts.lockTimeout ?? '60s'}`,
    });
    // An idle connection the server closed (a restart) errors here; the next query gets a fresh one.
    pool.on('error', () => undefined);
    pools.set(key, pool);
  }
  return pool;
}

/** Close every pool of this process (tests, CLI exit). */
export async function closePools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.end().catch(() => undefined)));
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE']);

/**
 * A pg or network error as a domain error: refused, lost or restarting → DatabaseUnreachable
 * (retryable); wrong credentials → DatabaseAuthFailed; a lock wait past `lock_timeout` →
 * WarehouseBusy. Anything else is returned as it is.
 */
export function translatePgError(err: unknown, url: string, what = 'PostgreSQL'): unknown {
  const e = err as { code?: string; message?: string };
  const msg = e?.message ?? String(err);
  const at = `${what} at ${hostOf(url)}`;
  if (e?.code && UNREACHABLE_CODES.has(e.code))
    return new DatabaseUnreachableError(
      `cannot reach ${at}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : msg}`,
    );
  // 57P01..57P03: the server is shutting down or starting; 08xxx: the connection failed.
  if (e?.code && (/^57P0[123]$/.test(e.code) || /^08/.test(e.code)))
    return new DatabaseUnreachableError(`${at} dropped the connection (${msg})`);
  if (/Connection terminated|timeout exceeded when trying to connect|connection is not open/i.test(msg))
    return new DatabaseUnreachableError(`${at} dropped the connection (${msg})`);
  if (e?.code === '28P01' || e?.code === '28000')
    return new DatabaseAuthFailedError(`${at} refused the credentials: ${msg}`);
  if (e?.code === '3D000') return new DatabaseAuthFailedError(`${at}: ${msg}`);
  if (e?.code === '55P03') return new WarehouseBusyError(`${at}: a table is locked by another connection (${msg})`);
  return err;
}

/** Run `fn` on one connection of the pool, errors translated. */
export async function withClient<T>(pool: Pool, url: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  let client: PoolClient | undefined;
  let broken = false;
  try {
    client = await pool.connect();
    return await fn(client);
  } catch (err) {
    const out = translatePgError(err, url);
    broken = out instanceof DatabaseUnreachableError;
    throw out;
  } finally {
    // A connection that failed is not given back to the pool: the next caller gets a fresh one.
    client?.release(broken);
  }
}

/** Run `fn` inside one transaction (BEGIN … COMMIT, ROLLBACK on any error), errors translated. */
export async function inTransaction<T>(pool: Pool, url: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, url, async (c) => {
    await c.query('BEGIN');
    try {
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}

/** Does `schema.table` exist (a table or a view)? */
export async function pgTableExists(c: PoolClient, schema: string, table: string): Promise<boolean> {
  const found = await c.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`, [
    schema,
    table,
  ]);
  return (found.rowCount ?? 0) > 0;
}
