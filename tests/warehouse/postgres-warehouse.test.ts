/**
 * The PostgreSQL warehouse, through the activities on a real server: every load mode behaves as on
 * DuckDB (same rows, same quarantine), types cross faithfully, a retried load is a no-op, and the
 * faults a server brings (a locked table, a refused connection, a wrong password) are clear typed
 * failures with the table unchanged. Partitions staged by one worker merge on another.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { Client } from 'pg';
import { createActivities } from '../../activities';
import type { LoadSourceInput, PartitionLoad } from '../../common/contracts';
import type { PipelineSpec } from '../../common/spec';
import type { LoadSummary } from '../../common/types';
import { poolFor } from '../../lib/pg';
import { queryRows, withDuckDB } from '../../lib/duckdb';
import { copyFromPostgres, copyToPostgres } from '../../warehouse/postgres';
import { openWarehouse } from '../../warehouse';
import { inferSpec } from '../../core/spec/infer';
import { openStore } from '../../store';
import { pgQuery, TEST_PG_PASSWORD, usePostgres } from '../helpers/postgres';
import { freePort } from '../helpers/ports';
import { tableRows, tempDir, testConfig } from '../helpers/fixtures';

const pg = usePostgres();

let home: string;
let url: string;
beforeEach(async () => {
  home = fs.realpathSync(tempDir('heal-pgw-'));
  url = await pg.fresh('w');
});

const mockEnv = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

function activitiesFor(env: NodeJS.ProcessEnv = {}, own = home) {
  const config = testConfig(own, { HEAL_WAREHOUSE: url, HEAL_STORE: 'files', ...env });
  return { config, activities: createActivities({ config }) };
}

function write(name: string, text: string): string {
  const p = path.join(home, name);
  fs.writeFileSync(p, text);
  return p;
}

async function createPipeline(name: string, sample: string, edit?: (s: PipelineSpec) => void): Promise<void> {
  const spec = await inferSpec({ name, source: sample, allowedRoots: [home] });
  edit?.(spec);
  await openStore({ home, gitCommits: false }).specs.create(spec);
}

async function load(
  acts: ReturnType<typeof createActivities>,
  pipeline: string,
  runId: string,
  source?: string,
): Promise<LoadSummary> {
  const input: LoadSourceInput = { pipeline, specVersion: 1, runId, ...(source ? { source } : {}) };
  return mockEnv().run(acts.loadSource, input);
}

const TYPED_CSV = [
  'id,name,price,active,day,at',
  '1,"plain",1.5,true,2024-01-02,2024-01-02 10:11:12',
  '2,"comma, ""quoted"" and\nnewline",-0.25,false,2024-02-29,2024-02-29 23:59:59.123456',
  '3,"",1e20,true,1999-12-31,1999-12-31 00:00:00',
  '4,,,,,',
  '5,"accents: café ñ 東京 🙂",3,false,2024-03-01,2024-03-01 01:02:03',
  '',
].join('\n');

test('a clean load puts the same typed rows in PostgreSQL as in DuckDB, types mapped, the password never shown', async () => {
  const src = write('typed.csv', TYPED_CSV);
  await createPipeline('typed', src, (s) => {
    s.contract.columns.forEach((c) => (c.required = c.name === 'id'));
  });
  const { activities } = activitiesFor();
  const res = await load(activities, 'typed', 'run-1');
  expect(res).toMatchObject({ rowsRead: 5, rowsLoaded: 5, rowsQuarantined: 0 });
  expect(res.warehouse).toBe(url.replace(/:[^:@/]*@/, '@'));
  expect(JSON.stringify(res)).not.toContain(TEST_PG_PASSWORD);

  const cols = await pgQuery<{ column_name: string; data_type: string }>(
    url,
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'typed' ORDER BY ordinal_position`,
  );
  expect(cols.map((c) => `${c.column_name} ${c.data_type}`)).toEqual([
    'id bigint',
    'name text',
    'price double precision',
    'active boolean',
    'day date',
    'at timestamp without time zone',
  ]);
  const pg = await pgQuery(
    url,
    `SELECT id::text, name, price::text, active::text, day::text, at::text, name IS NULL AS name_null FROM typed ORDER BY id`,
  );
  expect(pg).toEqual([
    {
      id: '1',
      name: 'plain',
      price: '1.5',
      active: 'true',
      day: '2024-01-02',
      at: '2024-01-02 10:11:12',
      name_null: false,
    },
    {
      id: '2',
      name: 'comma, "quoted" and\nnewline',
      price: '-0.25',
      active: 'false',
      day: '2024-02-29',
      at: '2024-02-29 23:59:59.123456',
      name_null: false,
    },
    {
      id: '3',
      // A quoted empty field reads as NULL, as on DuckDB (the reader's rule; see the next test for '').
      name: null,
      price: '1e+20',
      active: 'true',
      day: '1999-12-31',
      at: '1999-12-31 00:00:00',
      name_null: true,
    },
    { id: '4', name: null, price: null, active: null, day: null, at: null, name_null: true },
    {
      id: '5',
      name: 'accents: café ñ 東京 🙂',
      price: '3',
      active: 'false',
      day: '2024-03-01',
      at: '2024-03-01 01:02:03',
      name_null: false,
    },
  ]);

  // The same spec into a DuckDB warehouse: the same values.
  const duckHome = fs.realpathSync(tempDir('heal-pgw-duck-'));
  const duckConfig = testConfig(duckHome, { HEAL_ALLOWED_ROOTS: home });
  await openStore({ home: duckHome, gitCommits: false }).specs.create(
    (await openStore({ home, gitCommits: false }).specs.current('typed')).spec,
  );
  await load(createActivities({ config: duckConfig }), 'typed', 'run-1');
  const duck = await tableRows(duckConfig.warehouse, 'typed');
  expect(duck.map((r) => r['name'])).toEqual(pg.map((r) => r['name']));
  expect(duck.map((r) => (r['price'] === null ? null : Number(r['price'])))).toEqual(
    pg.map((r) => (r['price'] === null ? null : Number(r['price']))),
  );
});

test('quarantine rows and load records land in PostgreSQL; a retried load with the same run id is a no-op', async () => {
  const src = write('q.csv', 'id,amount\n1,10\n2,oops\n3,30\n4,40\n5,50\n6,60\n7,70\n8,80\n9,90\n10,100\n');
  await createPipeline('q', src, (s) => {
    s.quality.quarantineBudget = 0.2;
    s.contract.columns.forEach((c) => (c.type = 'integer'));
  });
  const { activities } = activitiesFor();
  const first = await load(activities, 'q', 'run-q');
  expect(first).toMatchObject({ rowsLoaded: 9, rowsQuarantined: 1 });
  const again = await load(activities, 'q', 'run-q');
  expect(again).toMatchObject({ rowsLoaded: 9, rowsQuarantined: 1 });
  expect(await pgQuery(url, 'SELECT count(*)::int AS n FROM q')).toEqual([{ n: 9 }]);
  expect(await pgQuery(url, 'SELECT line::int, column_name, raw_row FROM q__quarantine')).toEqual([
    { line: 3, column_name: 'amount', raw_row: expect.stringContaining('oops') },
  ]);
  expect(await pgQuery(url, `SELECT run_id, rows_loaded::int FROM __heal_loads`)).toEqual([
    { run_id: 'run-q', rows_loaded: 9 },
  ]);
  // heal quarantine reads and trims the PostgreSQL table.
  const { quarantine } = openWarehouse(activitiesFor().config);
  expect(await quarantine.list('q', { limit: 10, reason: 'VALID INTEGER' })).toMatchObject({
    total: 1,
    rows: [{ runId: 'run-q', line: 3, column: 'amount', sourceFile: src }],
  });
  expect((await quarantine.list('q', { limit: 10, runId: 'other' })).total).toBe(0);
  expect(await quarantine.purge('q', new Date(Date.now() - 86_400_000))).toBe(0);
  expect(await quarantine.purge('q', new Date(Date.now() + 60_000))).toBe(1);
  expect((await quarantine.list('q', { limit: 10 })).total).toBe(0);
});

test('malformed lines alone (no row failing its cast) land in the PostgreSQL quarantine with file, line and reason', async () => {
  const src = write('m.csv', 'id,amount\n1,10\n2,20\n3,30,extra\n4,40\n5,50\n6,60\n7,70\n8,80\n9,90\n10,100\n');
  await createPipeline('m', write('m-clean.csv', 'id,amount\n1,10\n2,20\n'), (s) => {
    s.contract.columns.forEach((c) => (c.type = 'integer'));
  });
  const { activities } = activitiesFor();
  expect(await load(activities, 'm', 'run-m', src)).toMatchObject({ rowsLoaded: 9, rowsQuarantined: 1 });
  expect(await pgQuery(url, 'SELECT source_file, line::int, reason FROM m__quarantine')).toEqual([
    { source_file: src, line: 4, reason: expect.stringContaining('TOO MANY COLUMNS') },
  ]);
});

test('append loads a file content once; merge upserts on the key; replace keeps views on the table', async () => {
  const a = write('a.csv', 'id,v\n1,one\n2,two\n');
  await createPipeline('app', a, (s) => (s.target.mode = 'append'));
  const { activities } = activitiesFor();
  await load(activities, 'app', 'r1');
  const skipped = await load(activities, 'app', 'r2');
  expect(skipped.skipped).toBe(true);
  await load(activities, 'app', 'r3', write('b.csv', 'id,v\n3,three\n'));
  expect(await pgQuery(url, 'SELECT id::int FROM app ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);

  await createPipeline('m', write('m1.csv', 'id,v\n1,one\n2,two\n'), (s) => {
    s.target.mode = 'merge';
    s.target.key = ['id'];
  });
  await load(activities, 'm', 'm1');
  await load(activities, 'm', 'm2', write('m2.csv', 'id,v\n2,TWO\n3,three\n'));
  expect(await pgQuery(url, 'SELECT id::int, v FROM m ORDER BY id')).toEqual([
    { id: 1, v: 'one' },
    { id: 2, v: 'TWO' },
    { id: 3, v: 'three' },
  ]);

  await createPipeline('rep', write('r.csv', 'id,v\n1,one\n'));
  await load(activities, 'rep', 'p1');
  await pgQuery(url, 'CREATE VIEW rep_view AS SELECT * FROM rep');
  await load(activities, 'rep', 'p2', write('r2.csv', 'id,v\n7,seven\n8,eight\n'));
  expect(await pgQuery(url, 'SELECT id::int FROM rep_view ORDER BY id')).toEqual([{ id: 7 }, { id: 8 }]);
});

test('a table locked by another connection: the load waits for the lock timeout, fails WarehouseBusy, the table unchanged', async () => {
  await createPipeline('locked', write('l.csv', 'id,v\n1,one\n'));
  const { activities } = activitiesFor({ HEAL_PG_LOCK_TIMEOUT: '1s' });
  await load(activities, 'locked', 'l1');
  const holder = new Client({ connectionString: url });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE locked IN ACCESS EXCLUSIVE MODE');
    const err = await load(activities, 'locked', 'l2', write('l2.csv', 'id,v\n2,two\n')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'WarehouseBusy', nonRetryable: false });
    expect((err as Error).message).toMatch(/locked by another connection/);
  } finally {
    await holder.query('ROLLBACK');
    await holder.end();
  }
  expect(await pgQuery(url, 'SELECT id::int FROM locked')).toEqual([{ id: 1 }]);
  expect(await pgQuery(url, `SELECT count(*)::int AS n FROM __heal_loads WHERE run_id = 'l2'`)).toEqual([{ n: 0 }]);
});

test('a refused connection and a wrong password: typed failures naming the host, never the password', async () => {
  await createPipeline('f', write('f.csv', 'id\n1\n'));
  const port = await freePort();
  url = `postgres://heal:s3cret-pw@127.0.0.1:${port}/heal`;
  const refused = await load(activitiesFor().activities, 'f', 'x1').catch((e: unknown) => e);
  expect(refused).toMatchObject({ type: 'DatabaseUnreachable', nonRetryable: false });
  expect((refused as Error).message).toContain(`127.0.0.1:${port}`);
  expect((refused as Error).message).toMatch(/connection refused/);
  expect((refused as Error).message).not.toContain('s3cret-pw');

  url = pg.server.url.replace(`:${TEST_PG_PASSWORD}@`, ':s3cret-pw@');
  const denied = await load(activitiesFor().activities, 'f', 'x2').catch((e: unknown) => e);
  expect(denied).toMatchObject({ type: 'DatabaseAuthFailed', nonRetryable: true });
  expect((denied as Error).message).toContain(`127.0.0.1:${pg.server.port}`);
  expect((denied as Error).message).not.toContain('s3cret-pw');
});

test('partitions staged by one worker merge on another (no shared disk), once', async () => {
  const files = [0, 1, 2].map((i) => write(`part-${i}.csv`, `id,region\n${i * 2 + 1},r${i}\n${i * 2 + 2},r${i}\n`));
  await createPipeline('parts', files[0] as string);
  const one = activitiesFor();
  const otherHome = fs.realpathSync(tempDir('heal-pgw-other-'));
  const two = activitiesFor({ HEAL_ALLOWED_ROOTS: home }, otherHome);
  // The other worker's store is its own directory: give it the same spec (the shared store is tested elsewhere).
  await openStore({ home: otherHome, gitCommits: false }).specs.create(
    (await openStore({ home, gitCommits: false }).specs.current('parts')).spec,
  );
  const loads: PartitionLoad[] = [];
  for (const [i, file] of files.entries()) {
    const acts = i % 2 === 0 ? one.activities : two.activities;
    loads.push(
      await mockEnv().run(acts.loadPartition, {
        pipeline: 'parts',
        specVersion: 1,
        runId: 'fan-1',
        loadId: `fan-1/p${i}`,
        index: i,
        file,
      }),
    );
  }
  expect(loads.map((l) => l.db)).toEqual(loads.map(() => expect.stringMatching(/^heal_staging\.p_/)));
  expect(fs.existsSync(path.join(home, 'partitions'))).toBe(false);
  const input = { pipeline: 'parts', specVersion: 1, runId: 'fan-1', partitions: loads };
  const merged = await mockEnv().run(two.activities.mergePartitions, input);
  expect(merged).toMatchObject({ rowsLoaded: 6, alreadyMerged: false, partitions: 3 });
  expect(await pgQuery(url, 'SELECT id::int FROM parts ORDER BY id')).toEqual([1, 2, 3, 4, 5, 6].map((id) => ({ id })));
  expect(
    await pgQuery(
      url,
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'heal_staging' AND table_name LIKE 'p\\_%'`,
    ),
  ).toEqual([{ n: 0 }]);
  const again = await mockEnv().run(one.activities.mergePartitions, input);
  expect(again).toMatchObject({ rowsLoaded: 6, alreadyMerged: true });
  expect(await pgQuery(url, 'SELECT count(*)::int AS n FROM parts')).toEqual([{ n: 6 }]);
});

test('rows cross DuckDB → PostgreSQL → DuckDB unchanged: empty text is not NULL, non-finite doubles, U+0000 dropped', async () => {
  await withDuckDB(':memory:', {}, async (conn) => {
    await conn.run(`CREATE TEMP TABLE src AS SELECT * FROM (VALUES
      (1, '', 'inf'::DOUBLE), (2, NULL, '-inf'::DOUBLE), (3, 'a' || chr(0) || 'b', 'nan'::DOUBLE), (4, 'x"y,z' || chr(10), 0.1)) t(id, s, d)`);
    const c = await poolFor(url).connect();
    try {
      await c.query('CREATE TABLE rt (id bigint, s text, d double precision)');
      const cols = [
        { name: 'id', type: 'integer' as const },
        { name: 's', type: 'string' as const },
        { name: 'd', type: 'number' as const },
      ];
      await copyToPostgres(conn, c, 'src', 'rt', cols);
      expect((await c.query('SELECT id::int, s, d::text FROM rt ORDER BY id')).rows).toEqual([
        { id: 1, s: '', d: 'Infinity' },
        { id: 2, s: null, d: '-Infinity' },
        { id: 3, s: 'ab', d: 'NaN' },
        { id: 4, s: 'x"y,z\n', d: '0.1' },
      ]);
      await copyFromPostgres(c, conn, 'SELECT id, s, d FROM rt ORDER BY id', 'back', [
        { name: 'id', duckType: 'BIGINT' },
        { name: 's', duckType: 'VARCHAR' },
        { name: 'd', duckType: 'DOUBLE' },
      ]);
    } finally {
      c.release();
    }
    const back = await queryRows<{ id: number; s: string | null; d: number }>(conn, 'SELECT * FROM back ORDER BY id');
    expect(back.map((r) => [r.id, r.s])).toEqual([
      [1, ''],
      [2, null],
      [3, 'ab'],
      [4, 'x"y,z\n'],
    ]);
    expect(back.map((r) => r.d)).toEqual([Infinity, -Infinity, NaN, 0.1]);
  });
});

test('schema evolution on an append table: a new optional column is added, an integer widened; earlier rows keep their values', async () => {
  const first = write('evolve-1.csv', 'id,qty\n1,3\n2,4\n');
  await createPipeline('evolve', first, (s) => {
    s.target.mode = 'append';
  });
  const { activities } = activitiesFor();
  await load(activities, 'evolve', 'evolve-run-1', first);
  const specs = openStore({ home, gitCommits: false }).specs;
  const { spec } = await specs.current('evolve');
  spec.source.columns = ['id', 'qty', 'wind'];
  spec.contract.columns.push({ name: 'wind', type: 'number', required: false, pii: false });
  spec.mapping['wind'] = { from: 'wind' };
  const qty = spec.contract.columns.find((c) => c.name === 'qty');
  if (qty) qty.type = 'number';
  await specs.create(spec, { force: true });
  const second = write('evolve-2.csv', 'id,qty,wind\n3,4.5,2.5\n');
  const input: LoadSourceInput = { pipeline: 'evolve', specVersion: 2, runId: 'evolve-run-2', source: second };
  await mockEnv().run(activities.loadSource, input);
  const types = await pgQuery(
    url,
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'evolve' ORDER BY ordinal_position`,
  );
  expect(types.map((r) => [r['column_name'], r['data_type']])).toEqual([
    ['id', 'bigint'],
    ['qty', 'double precision'],
    ['wind', 'double precision'],
  ]);
  const rows = await pgQuery(url, `SELECT id::int AS id, qty, wind FROM evolve ORDER BY id`);
  expect(rows).toEqual([
    { id: 1, qty: 3, wind: null },
    { id: 2, qty: 4, wind: null },
    { id: 3, qty: 4.5, wind: 2.5 },
  ]);
});
