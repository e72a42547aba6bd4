/**
 * The proof of stateless workers: one Temporal dev server, one real PostgreSQL (warehouse and state
 * store), two worker processes with different HEAL_HOME directories, and the CLI with a third.
 *   - a healing episode verified on one worker and applied on the other (which never saw the
 *     first's scratch) heals;
 *   - a partitioned run of 20 files spreads over both workers and merges once;
 *   - status, versions, metrics, dashboard and rollback work from the CLI's machine;
 *   - PostgreSQL restarted in the middle of a load's COPY: the activity retries, rows load once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import type { PipelineRunResult } from '../../common/types';
import { openStore } from '../../store';
import { cliEnv, runCli, type CliRun } from '../helpers/cli';
import { tempDir } from '../helpers/fixtures';
import { pgQuery, TEST_PG_PASSWORD, usePostgres } from '../helpers/postgres';
import { uniqueTaskQueue, useDevEnv } from '../helpers/temporal';
import { startWorker, waitForWorkers, type WorkerProc } from '../../tools/bench/workers';

const suite = useDevEnv();
const pg = usePostgres();
const taskQueue = uniqueTaskQueue('pgworkers');

let data: string;
let url: string;
const homes: Record<'a' | 'b' | 'cli', string> = { a: '', b: '', cli: '' };
const workers: Partial<Record<'a' | 'b', WorkerProc>> = {};

const env = (home: string): NodeJS.ProcessEnv =>
  cliEnv({
    HEAL_HOME: home,
    HEAL_ALLOWED_ROOTS: data,
    HEAL_WAREHOUSE: url,
    TEMPORAL_ADDRESS: suite.env.address,
    HEAL_TASK_QUEUE: taskQueue,
  });

const cli = (args: string[]): Promise<CliRun> => runCli(args, env(homes.cli));

async function start(which: 'a' | 'b'): Promise<WorkerProc> {
  const w = startWorker(env(homes[which]), path.join(homes[which], 'worker.log'));
  workers[which] = w;
  await waitForWorkers(suite.env.client, taskQueue, 'default', [w]);
  return w;
}

function parse(r: CliRun): PipelineRunResult {
  const lines = r.stdout.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] ?? '{}') as PipelineRunResult;
}

/**
 * The worker pids that started each activity type in a workflow's history and its children's
 * (the children found in the history: episode, attempts, partition loads).
 */
async function activityWorkers(client: Client, workflowId: string): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  const queue = [workflowId];
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const types = new Map<string, string>();
    for (const e of events) {
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (child) queue.push(child);
      const sched = e.activityTaskScheduledEventAttributes;
      if (sched) types.set(String(e.eventId), sched.activityType?.name ?? '?');
      const started = e.activityTaskStartedEventAttributes;
      if (started) {
        const type = types.get(String(started.scheduledEventId)) ?? '?';
        const set = out.get(type) ?? new Set<string>();
        set.add(started.identity?.split('@')[0] ?? '?');
        out.set(type, set);
      }
    }
  }
  return out;
}

function csv(rows: number, header = 'id,city,amount'): string {
  const lines = [header];
  for (let i = 1; i <= rows; i++) lines.push(`${i},city-${i % 7},${(i * 1.25).toFixed(2)}`);
  return `${lines.join('\n')}\n`;
}

beforeAll(async () => {
  data = fs.realpathSync(tempDir('heal-pgw-data-'));
  for (const k of ['a', 'b', 'cli'] as const) homes[k] = fs.realpathSync(tempDir(`heal-pgw-${k}-`));
  url = await pg.fresh('proof');
  await start('a');
}, 180_000);

afterAll(async () => {
  await workers.a?.stop();
  await workers.b?.stop();
});

test('a healing episode verified on worker A and applied on worker B heals; neither needs the other’s disk', async () => {
  fs.writeFileSync(path.join(data, 'orders.csv'), csv(500));
  expect((await cli(['init', 'orders', '--source', path.join(data, 'orders.csv')])).code).toBe(0);
  // Review mode: the episode waits for a decision after verifying, so the apply can be sent elsewhere.
  const store = openStore({ home: homes.cli, storeUrl: url, gitCommits: false });
  const v1 = (await store.specs.current('orders')).spec;
  await store.specs.addVersion('orders', { ...v1, healing: { ...v1.healing, mode: 'review' } }, { reason: 'manual' });
  await store.specs.setCurrent('orders', 2, 'review mode for the proof');
  expect(parse(await cli(['run', 'orders', '--json']))).toMatchObject({ outcome: 'succeeded', rowsLoaded: 500 });

  fs.writeFileSync(path.join(data, 'orders-renamed.csv'), csv(500, 'id,town,amount'));
  const running = cli(['run', 'orders', '--source', path.join(data, 'orders-renamed.csv'), '--json']);
  // Wait for the episode to be waiting for a decision (verified on A, the only worker).
  let pending: { episodeId: string }[] = [];
  while (!pending.length) {
    const r = await cli(['pending', '--pipeline', 'orders', '--json']);
    expect(r.code).toBe(0);
    pending = (JSON.parse(r.stdout) as { pending: { episodeId: string }[] }).pending;
  }
  await workers.a?.stop();
  await start('b');
  expect((await cli(['approve', 'orders'])).code).toBe(0);
  const result = parse(await running);
  expect(result).toMatchObject({ outcome: 'healed', rowsLoaded: 500 });

  const ran = await activityWorkers(suite.env.client, result.workflowId);
  const a = String(workers.a?.pid);
  const b = String(workers.b?.pid);
  expect(ran.get('verifyPatch')).toEqual(new Set([a]));
  expect(ran.get('applyVersion')).toEqual(new Set([b]));
  const all = new Set([...ran.values()].flatMap((s) => [...s]));
  expect(all).toEqual(new Set([a, b]));
  expect(await pgQuery(url, 'SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM orders')).toEqual([
    { n: 500, d: 500 },
  ]);
  // Nothing of heal's state on the workers' disks: no spec versions, no profiles, no partitions.
  for (const h of [homes.a, homes.b]) expect(fs.existsSync(path.join(h, 'pipelines'))).toBe(false);
  await start('a'); // both workers for what follows
}, 240_000);

test('a partitioned run of 20 files spreads over both workers and merges once', async () => {
  const dir = path.join(data, 'parts');
  fs.mkdirSync(dir);
  for (let i = 0; i < 20; i++) {
    const rows = Array.from({ length: 50 }, (_, k) => `${i * 50 + k + 1},region-${i},${k}`);
    fs.writeFileSync(path.join(dir, `p${String(i).padStart(2, '0')}.csv`), `id,region,n\n${rows.join('\n')}\n`);
  }
  expect((await cli(['init', 'parts', '--source', path.join(dir, 'p00.csv')])).code).toBe(0);
  const r = await cli(['run', 'parts', '--source', path.join(dir, '*.csv'), '--partitioned', '--json']);
  const result = parse(r);
  expect(r.code).toBe(0);
  expect(result).toMatchObject({ outcome: 'succeeded', rowsLoaded: 1000 });
  const ran = await activityWorkers(suite.env.client, result.workflowId);
  expect(ran.get('loadPartition')).toEqual(new Set([String(workers.a?.pid), String(workers.b?.pid)]));
  expect(await pgQuery(url, `SELECT count(*)::int AS n FROM __heal_loads WHERE table_name = 'parts'`)).toEqual([
    { n: 1 },
  ]);
  expect(await pgQuery(url, 'SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM parts')).toEqual([
    { n: 1000, d: 1000 },
  ]);
  expect(
    await pgQuery(
      url,
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'heal_staging'
      AND table_name LIKE 'p\\_%'`,
    ),
  ).toEqual([{ n: 0 }]);
}, 240_000);

test('status, versions, metrics, dashboard and rollback work from the CLI’s machine', async () => {
  const status = await cli(['status', 'orders', '--json']);
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout)).toMatchObject({ pipeline: 'orders', specVersion: 3 });
  const versions = await cli(['versions', 'orders', '--json']);
  expect(versions.code).toBe(0);
  expect((JSON.parse(versions.stdout) as { versions: unknown[] }).versions).toHaveLength(3);
  const metrics = await cli(['metrics', '--json']);
  expect(metrics.code).toBe(0);
  // Run records were written by the workers, into the shared store.
  const m = JSON.parse(metrics.stdout) as { runs: { total: number; healed: number } };
  expect(m.runs.healed).toBe(1);
  expect(m.runs.total).toBeGreaterThanOrEqual(3);
  const page = path.join(homes.cli, 'dashboard.html');
  expect((await cli(['dashboard', '--out', page])).code).toBe(0);
  expect(fs.readFileSync(page, 'utf8')).toContain('orders');

  const back = await cli(['rollback', 'orders', '--to', '2', '--reason', 'proof', '--json']);
  expect(back.code).toBe(0);
  expect(await openStore({ home: homes.cli, storeUrl: url }).specs.currentVersion('orders')).toBe(2);
}, 240_000);

test('PostgreSQL restarted during a load’s COPY: the activity retries, nothing half written, rows loaded once', async () => {
  const rows = 300_000;
  fs.writeFileSync(path.join(data, 'big.csv'), csv(rows));
  expect((await cli(['init', 'big', '--source', path.join(data, 'big.csv')])).code).toBe(0);
  const running = cli(['run', 'big', '--json']);
  // The event: a COPY into the table is running on the server.
  let copying = false;
  while (!copying) {
    const active = await pgQuery(
      url,
      `SELECT 1 FROM pg_stat_activity WHERE application_name = 'heal' AND state = 'active' AND query LIKE 'COPY "public"."big"%'`,
    );
    copying = active.length > 0;
  }
  await pg.server.restart();
  const result = parse(await running);
  expect(result).toMatchObject({ outcome: 'succeeded', rowsLoaded: rows });
  expect(await pgQuery(url, 'SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM big')).toEqual([
    { n: rows, d: rows },
  ]);
  expect(await pgQuery(url, `SELECT count(*)::int AS n FROM __heal_loads WHERE table_name = 'big'`)).toEqual([
    { n: 1 },
  ]);
  // The load's first attempt was cut off by the restart: it ran again.
  const events = (await suite.env.client.workflow.getHandle(result.workflowId).fetchHistory()).events ?? [];
  const attempts = events.flatMap((e) =>
    e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 1] : [],
  );
  expect(Math.max(...attempts)).toBeGreaterThan(1);
}, 240_000);

test('the password appears in no output, log, history or state file', async () => {
  const seen: string[] = [];
  for await (const wf of suite.env.client.workflow.list({ query: `TaskQueue = "${taskQueue}"` }))
    seen.push(
      JSON.stringify((await suite.env.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory()).events),
    );
  expect(seen.length).toBeGreaterThan(10);
  const status = await cli(['status', 'orders', '--json']);
  seen.push(status.stdout, status.stderr);
  for (const h of Object.values(homes)) {
    for (const f of fs.readdirSync(h, { recursive: true }) as string[]) {
      const file = path.join(h, f);
      if (fs.statSync(file).isFile()) seen.push(fs.readFileSync(file, 'latin1'));
    }
  }
  const leaks = seen.filter((t) => t.includes(TEST_PG_PASSWORD));
  expect(leaks).toEqual([]);
});

test('a refused connection: the CLI names the host, no stack', async () => {
  const r = await runCli(['status', 'orders'], {
    ...env(homes.cli),
    HEAL_WAREHOUSE: 'postgres://heal:pw-s3cret@127.0.0.1:9/heal',
  });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/127\.0\.0\.1:9/);
  expect(r.stderr).toMatch(/connection refused/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr + r.stdout).not.toContain('pw-s3cret');
});
