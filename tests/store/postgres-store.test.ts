/**
 * What the PostgreSQL backend of the state store promises beyond the contract (contract.test.ts),
 * against a real server: the database itself refuses to change a version, concurrent writers
 * (connections of one process, other processes) never break the pointer or share a version
 * number, the schema is created once however many workers start at once, git commits are the
 * file backend's, and connection failures are heal's errors without the password.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { DatabaseAuthFailedError, DatabaseUnreachableError, WarehouseBusyError } from '../../common/errors';
import { loadConfig } from '../../lib/config';
import type { PipelineSpec } from '../../common/spec';
import type { Patch } from '../../common/patch';
import { openStore, type HealStore } from '../../store';
import type { PointerRecord } from '../../store/spec-store';
import { specRepoDir } from '../../store/spec-store';
import { openPostgresStore } from '../../store/postgres';
import { columnsSpec, tempDir } from '../helpers/fixtures';
import { record } from '../helpers/metrics-seed';
import { freePort } from '../helpers/ports';
import { pgQuery, usePostgres } from '../helpers/postgres';
import { driftReport } from '../helpers/stub-activities';

const pg = usePostgres();
const freshUrl = () => pg.fresh('pgstore');

/** Another pool on the same database, as another worker process has: the URL differs only in a parameter. */
const otherWorker = (url: string, n = 2) => `${url}?application_name=heal-worker-${n}`;

const open = (url: string, home = tempDir()): HealStore => openPostgresStore({ url, home, gitCommits: false });

function spec(name: string, budget?: number): PipelineSpec {
  const s: PipelineSpec = {
    ...columnsSpec([
      { name: 'id', type: 'integer' },
      { name: 'email', type: 'string' },
    ]),
    name,
  };
  return budget === undefined ? s : { ...s, quality: { quarantineBudget: budget, quarantineBudgetRows: 3 } };
}

const pointerMoves = async (store: HealStore, name: string): Promise<PointerRecord[]> =>
  (await store.specs.history(name)).filter((r): r is PointerRecord => r.event === 'current');

test('the database refuses to update, delete or truncate a version (and the history)', async () => {
  const url = await freshUrl();
  const store = open(url);
  await store.specs.create(spec('orders'));
  const before = await store.specs.text('orders', 1);
  for (const sql of [
    `UPDATE heal.spec_versions SET yaml = 'name: hacked' WHERE pipeline = 'orders'`,
    `DELETE FROM heal.spec_versions WHERE pipeline = 'orders'`,
    'TRUNCATE heal.spec_versions CASCADE',
    `UPDATE heal.spec_history SET record = '{}'::json`,
    'DELETE FROM heal.spec_history',
  ])
    await expect(pgQuery(url, sql)).rejects.toThrow(/append-only/);
  expect(await store.specs.text('orders', 1)).toBe(before);
  expect((await store.specs.history('orders')).map((r) => r.event)).toEqual(['version', 'current']);
});

test('10 concurrent pointer moves to different versions: one current version, a consistent chain of moves', async () => {
  const url = await freshUrl();
  const [a, b] = [open(url), open(otherWorker(url))];
  await a.specs.create(spec('orders'));
  for (let i = 2; i <= 11; i++) await a.specs.addVersion('orders', spec('orders', i / 100), { reason: 'manual' });
  const targets = Array.from({ length: 10 }, (_, i) => i + 2);
  // Half through each worker's pool: moves race on different connections.
  const moved = await Promise.all(
    targets.map((v) => (v % 2 ? a : b).specs.setCurrent('orders', v, `race to v${v}`, `ep-${v}`)),
  );
  // Each target is moved to once, from wherever the pointer was: no move is lost or merged.
  expect(moved.map((m) => m?.version)).toEqual(targets);
  const moves = await pointerMoves(a, 'orders');
  expect(moves).toHaveLength(11); // create's, then the ten
  expect(moves[0]).toMatchObject({ version: 1, previous: null });
  for (let i = 1; i < moves.length; i++) expect(moves[i]?.previous).toBe(moves[i - 1]?.version);
  expect(new Set(moves.slice(1).map((m) => m.version))).toEqual(new Set(targets));
  const current = await b.specs.currentVersion('orders');
  expect(current).toBe(moves[moves.length - 1]?.version);
  expect(await pgQuery(url, `SELECT version FROM heal.spec_current WHERE pipeline = 'orders'`)).toEqual([
    { version: current },
  ]);
});

test('concurrent addVersion: different specs get distinct versions; a retry racing its twin gets the same one', async () => {
  const url = await freshUrl();
  const [a, b] = [open(url), open(otherWorker(url))];
  await a.specs.create(spec('orders'));
  const added = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      (i % 2 ? a : b).specs.addVersion('orders', spec('orders', (i + 1) / 100), {
        reason: 'heal candidate',
        episodeId: `ep-${i}#1`,
      }),
    ),
  );
  expect(added.map((r) => r.version).sort((x, y) => x - y)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  // Each version holds the spec of the episode that was given its number.
  for (const [i, rec] of added.entries())
    expect((await a.specs.read('orders', rec.version)).spec.quality?.quarantineBudget).toBe((i + 1) / 100);
  expect((await b.specs.versions('orders')).map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);

  const meta = { reason: 'heal candidate', episodeId: 'ep-retry#1' };
  const twins = await Promise.all([
    a.specs.addVersion('orders', spec('orders', 0.5), meta),
    b.specs.addVersion('orders', spec('orders', 0.5), meta),
  ]);
  expect(twins[0]).toEqual(twins[1]);
  expect(twins[0].version).toBe(12);
  expect(await a.specs.versions('orders')).toHaveLength(12);
});

test('two stores on one database (two workers) see each other’s writes; retries by either write once', async () => {
  const url = await freshUrl();
  const [a, b] = [open(url), open(otherWorker(url))];
  await a.specs.create(spec('orders'));
  expect(await b.specs.list()).toEqual(['orders']);
  await b.specs.addVersion('orders', spec('orders', 0.1), { reason: 'manual', episodeId: 'ep-1' });
  expect(await a.specs.setCurrent('orders', 2, 'apply', 'ep-1')).toMatchObject({ version: 2, previous: 1 });
  expect(await b.specs.setCurrent('orders', 2, 'apply', 'ep-1')).toBeNull(); // the other worker's retry
  expect((await b.specs.current('orders')).spec.quality?.quarantineBudget).toBe(0.1);

  const run = record({
    id: 'r1',
    pipeline: 'orders',
    at: '2026-11-20T10:00:00.000Z',
    outcome: 'succeeded',
    rows: 1,
    quarantined: 0,
  });
  await Promise.all([a.runs.append(run), b.runs.append(run)]);
  expect((await b.runs.runs()).map((r) => r.run.runKey)).toEqual(['r1']);

  const FIX: Patch = [{ op: 'map', column: 'email', from: 'e_mail' }];
  const drift = driftReport();
  const { entry } = await a.memory.remember({
    drift,
    spec: spec('orders'),
    pipeline: 'orders',
    patch: FIX,
    doctor: 'rules',
    episodeId: 'ep-1',
  });
  // The version that drifted (the source now says e_mail) is what a remembered patch applies to.
  const drifted = spec('orders');
  drifted.source = { ...drifted.source, columns: ['id', 'e_mail'] };
  expect(await b.memory.recall(entry.signature, drifted)).toMatchObject({ patch: FIX, crossPipeline: false });
  await b.schedules.save('orders', { schedule: 'every 1h', paused: false, scheduleId: 'heal-orders' });
  expect(await a.schedules.note('orders')).toBe('every 1h');
});

test('concurrent hits of one remembered fix in different episodes all count', async () => {
  const url = await freshUrl();
  const [a, b] = [open(url), open(otherWorker(url))];
  const FIX: Patch = [{ op: 'map', column: 'email', from: 'e_mail' }];
  const drift = driftReport();
  const s = spec('orders');
  const { entry } = await a.memory.remember({
    drift,
    spec: s,
    pipeline: 'orders',
    patch: FIX,
    doctor: 'rules',
    episodeId: 'ep-0',
  });
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      (i % 2 ? a : b).memory.recordHit({ drift, spec: s, pipeline: 'orders', patch: FIX, episodeId: `ep-${i + 1}` }),
    ),
  );
  expect(await a.memory.entry(entry.signature, 'orders')).toMatchObject({ hits: 10, doctor: 'rules' });
});

const execFileAsync = promisify(execFile);

/** A worker process of its own: opens the store on `url` and adds a version to "orders"; prints the record. */
async function workerAddsVersion(url: string, episodeId: string, budget: number): Promise<{ version: number }> {
  const script = `
    const { openPostgresStore } = require(${JSON.stringify(path.resolve(__dirname, '../../store/postgres'))});
    const { closePools } = require(${JSON.stringify(path.resolve(__dirname, '../../lib/pg'))});
    const store = openPostgresStore({ url: process.env.STORE_URL, home: process.env.STORE_HOME, gitCommits: false });
    store.specs
      .addVersion('orders', JSON.parse(process.env.SPEC), { reason: 'worker', episodeId: process.env.EPISODE })
      .then((rec) => process.stdout.write(JSON.stringify(rec)))
      .finally(closePools)
      .catch((err) => { console.error(err); process.exitCode = 1; });`;
  const { stdout } = await execFileAsync(process.execPath, ['-r', 'tsx/cjs', '-e', script], {
    cwd: path.resolve(__dirname, '../..'),
    env: {
      ...process.env,
      STORE_URL: url,
      STORE_HOME: tempDir(),
      SPEC: JSON.stringify(spec('orders', budget)),
      EPISODE: episodeId,
    },
  });
  return JSON.parse(stdout) as { version: number };
}

test('two worker processes starting at once on an empty database: one schema, distinct versions', async () => {
  const url = await freshUrl();
  const [x, y] = await Promise.all([workerAddsVersion(url, 'ep-x', 0.1), workerAddsVersion(url, 'ep-y', 0.2)]);
  expect([x.version, y.version].sort()).toEqual([1, 2]);
  // One set of immutability triggers, however many workers created the schema.
  const triggers = await pgQuery<{ tgname: string }>(
    url,
    `SELECT tgname FROM pg_trigger WHERE tgrelid = 'heal.spec_versions'::regclass AND NOT tgisinternal ORDER BY tgname`,
  );
  expect(triggers.map((t) => t.tgname)).toEqual(['append_only', 'append_only_truncate']);
  expect((await open(url).specs.versions('orders')).map((v) => v.episodeId).sort()).toEqual(['ep-x', 'ep-y']);
});

/** Commit subjects of the spec repository of a state directory, newest first (plain git, as an auditor runs it). */
function subjects(home: string): string[] {
  return execFileSync('git', ['-C', specRepoDir(home), 'log', '--format=%s'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: home },
  })
    .trim()
    .split('\n');
}

test('git commits: the same commits as the file backend, in the repository of the machine that made the change', async () => {
  const url = await freshUrl();
  const changes = async (store: HealStore) => {
    await store.specs.create(spec('orders'));
    await store.specs.addVersion('orders', spec('orders', 0.1), {
      reason: 'heal candidate',
      episodeId: 'heal-orders-1#1',
      doctor: 'rules',
      drift: 'column "email" renamed to "e_mail"',
    });
    await store.specs.setCurrent('orders', 2, 'heal apply', 'heal-orders-1');
    expect(await store.specs.setCurrent('orders', 2, 'heal apply', 'heal-orders-1')).toBeNull();
  };
  const [filesHome, pgHome] = [tempDir(), tempDir()];
  await changes(openStore({ home: filesHome, gitCommits: true }));
  const pg = openStore({ home: pgHome, gitCommits: true, storeUrl: url });
  await changes(pg);
  expect(subjects(pgHome)).toEqual(subjects(filesHome));
  expect(subjects(pgHome)[0]).toBe('orders: current v1 → v2 (heal apply, episode heal-orders-1)');
  // Every history record names its commit; the mirror holds each version exactly as stored.
  for (const r of await pg.specs.history('orders')) expect(r.git?.commit).toMatch(/^[0-9a-f]{40}$/);
  expect(fs.readFileSync(path.join(specRepoDir(pgHome), 'orders', 'v2.yaml'), 'utf8')).toBe(
    await pg.specs.text('orders', 2),
  );

  // Another machine (its own state directory) moves the pointer: its repository catches up with the versions.
  const otherHome = tempDir();
  const other = openStore({ home: otherHome, gitCommits: true, storeUrl: otherWorker(url) });
  const back = await other.specs.setCurrent('orders', 1, 'rollback');
  expect(back?.git?.commit).toMatch(/^[0-9a-f]{40}$/);
  expect(subjects(otherHome)).toEqual(['orders: current v2 → v1 (rollback)']);
  expect(fs.readdirSync(path.join(specRepoDir(otherHome), 'orders')).sort()).toEqual([
    'current.yaml',
    'v1.yaml',
    'v2.yaml',
  ]);
});

test('a git failure never fails the write: recorded in the history, warned once', async () => {
  const url = await freshUrl();
  const home = tempDir();
  fs.writeFileSync(path.join(home, 'specs'), 'not a directory'); // the repository cannot be created
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  try {
    const store = openPostgresStore({ url, home, gitCommits: true });
    const v1 = await store.specs.create(spec('orders'));
    await store.specs.addVersion('orders', spec('orders', 0.1), { reason: 'manual' });
    await store.specs.setCurrent('orders', 2, 'manual');
    expect(await store.specs.currentVersion('orders')).toBe(2);
    expect(v1.git).toEqual({ commit: null, error: expect.any(String) });
    expect((await store.specs.history('orders')).every((r) => r.git?.commit === null)).toBe(true);
    expect(warn).toHaveBeenCalledTimes(1);
  } finally {
    warn.mockRestore();
  }
});

test('where names the database without its password', async () => {
  const url = await freshUrl();
  await pgQuery(url, `CREATE ROLE store_user LOGIN PASSWORD 'pw-s3cret-9' SUPERUSER`);
  const own = url.replace(/\/\/[^@]*@/, '//store_user:pw-s3cret-9@');
  const store = open(own);
  await store.specs.create(spec('orders'));
  expect(store.where).toBe(
    `postgres postgres://store_user@127.0.0.1:${pg.server.port}${new URL(url).pathname} (schema heal)`,
  );
  expect((await store.specs.current('orders')).file).not.toContain('pw-s3cret-9');
  await pgQuery(url, 'DROP OWNED BY store_user');
});

test('a wrong password is DatabaseAuthFailed; a refused connection is DatabaseUnreachable naming host:port', async () => {
  const url = await freshUrl();
  const wrong = url.replace(/\/\/([^:]*):[^@]*@/, '//$1:not-the-password@');
  const denied = await open(wrong)
    .specs.list()
    .catch((e: unknown) => e);
  expect(denied).toBeInstanceOf(DatabaseAuthFailedError);
  expect(String((denied as Error).message)).not.toContain('not-the-password');

  const port = await freePort(); // nothing listens there
  const refused = await open(`postgres://heal:secret-pw@127.0.0.1:${port}/heal`)
    .runs.runs()
    .catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(DatabaseUnreachableError);
  expect((refused as Error).message).toContain(`127.0.0.1:${port}`);
  expect((refused as Error).message).not.toContain('secret-pw');
});

test('a statement of the store waits for a lock no longer than HEAL_PG_LOCK_TIMEOUT, then the database is busy (retryable)', async () => {
  const url = await freshUrl();
  const config = loadConfig({ HEAL_STORE: url, HEAL_PG_LOCK_TIMEOUT: '300ms', HEAL_GIT: '0' }, tempDir());
  const store = openStore(config);
  await store.specs.create(spec('orders'));
  // Another connection holds the versions table until it is told to let go.
  const holder = new Client({ connectionString: url });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE heal.spec_versions IN ACCESS EXCLUSIVE MODE');
    // With the default (60s) this would wait out the test's timeout; the store's sessions give up at 300ms.
    await expect(store.specs.text('orders', 1)).rejects.toBeInstanceOf(WarehouseBusyError);
  } finally {
    await holder.query('ROLLBACK');
    await holder.end();
  }
  expect(await store.specs.text('orders', 1)).toContain('name: orders');
}, 20_000);
