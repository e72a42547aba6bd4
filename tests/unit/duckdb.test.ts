/** withDuckDB: one shared instance per file within a process, closed when the last user is done. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { queryOne, queryRows, withDuckDB } from '../../lib/duckdb';

let tmp: string;
let file: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'heal-duckdb-'));
  file = path.join(tmp, 'nested', 'w.duckdb');
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('creates the directory, and the file is closed after the callback', async () => {
  await withDuckDB(file, {}, (conn) => conn.run('CREATE TABLE t AS SELECT 42 AS x').then(() => undefined));
  // A second, independent instance opens the file read-write: nothing holds it.
  const db = await DuckDBInstance.create(file);
  try {
    const conn = await db.connect();
    const rows = await queryRows(conn, 'SELECT x FROM t');
    conn.closeSync();
    expect(rows).toEqual([{ x: 42 }]);
  } finally {
    db.closeSync();
  }
});

it("concurrent users of one file share an instance and see each other's writes", async () => {
  let created!: () => void;
  const tableExists = new Promise<void>((r) => (created = r));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const a = withDuckDB(file, {}, async (conn) => {
    await conn.run('CREATE TABLE t (x INTEGER)');
    created();
    await gate;
    return queryOne<{ n: number }>(conn, 'SELECT count(*)::INTEGER AS n FROM t');
  });
  const b = withDuckDB(file, {}, async (conn) => {
    await tableExists;
    await conn.run('INSERT INTO t VALUES (1)');
    release();
  });
  await b;
  expect(await a).toEqual({ n: 1 });
});

it('a user arriving while the last one is releasing never gets a closed instance', async () => {
  // However the two interleave (0..N microtask turns apart), the newcomer's query succeeds.
  for (let turns = 0; turns < 12; turns++) {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const a = withDuckDB(file, {}, async () => {
      entered();
      await gate;
    });
    await inside;
    release();
    for (let i = 0; i < turns; i++) await Promise.resolve();
    const b = withDuckDB(file, {}, (conn) => queryOne<{ x: number }>(conn, 'SELECT 42 AS x'));
    await a;
    await expect(b).resolves.toEqual({ x: 42 });
  }
});

it('an in-memory database is private to its callback', async () => {
  await withDuckDB(':memory:', {}, (conn) => conn.run('CREATE TABLE only_here (x INTEGER)').then(() => undefined));
  const n = await withDuckDB(':memory:', {}, (conn) =>
    queryOne<{ n: number }>(
      conn,
      "SELECT count(*)::INTEGER AS n FROM information_schema.tables WHERE table_name = 'only_here'",
    ),
  );
  expect(n).toEqual({ n: 0 });
});

it('BIGINT results come back as numbers', async () => {
  const row = await withDuckDB(':memory:', {}, (conn) =>
    queryOne(conn, 'SELECT 9007199254740991::BIGINT AS big, 1::BIGINT AS one'),
  );
  expect(row).toEqual({ big: 9007199254740991, one: 1 });
});
