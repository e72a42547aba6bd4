/**
 * Drill: faults during a healing episode, with a real dev server and real worker processes
 * (`node -r tsx/cjs worker.ts`). A worker is SIGKILLed while it verifies a candidate, and again
 * while it applies the fix (the reload with the new version, in `append` mode): each kill waits for
 * the activity's first heartbeat, so it lands inside the activity's work; a new worker resumes.
 * Then: the activity ran again; the episode completes once; exactly one new current version; the
 * table holds the old rows plus the new ones exactly once (no duplicate rows: no double apply).
 * The dev server is stopped and restarted (same SQLite file) while a run waits: it resumes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { SpecStore, type PointerRecord } from '../../store/spec-store';
import type { PipelineRunResult } from '../../common/types';
import { loadConfig } from '../../lib/config';
import { queryRows, withDuckDB } from '../../lib/duckdb';
import { startDevServer } from '../../lib/dev-server';
import { findTemporalCli } from '../../lib/temporal-cli';
import { pipelineRun } from '../../workflows';
import { cliEnv, ROOT } from '../helpers/cli';
import { initPipeline, tableRows, tempDir, testConfig } from '../helpers/fixtures';
import { freePort } from '../helpers/ports';
import { createDevEnv, uniqueTaskQueue, waitForActivityHeartbeat } from '../helpers/temporal';
import { resultOfFailure } from './helpers/drill';
import { seedBundle, startWorkerProcess, type WorkerProcess } from './helpers/worker-process';

const EventType = temporal.api.enums.v1.EventType;
const ROWS = 300_000;
/**
 * The apply commits the rows verification kept instead of reading the source again: per row about
 * a quarter of verification's time (300,000 rows: ~0.25 s). More rows keep it running ~1 s, far
 * longer than seeing its heartbeat and killing the worker takes, even on a loaded machine.
 */
const APPLY_ROWS = 1_000_000;

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await createDevEnv();
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

/**
 * `n` rows; ids are even (`odd` false) or odd, so a second batch has new ids with the same
 * distribution as the first (verification compares each column's profile with the baseline).
 */
function writeOrders(file: string, amountHeader: string, odd: boolean, n: number): void {
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, `id,name,${amountHeader},day\n`);
  const chunk: string[] = [];
  for (let i = 0; i < n; i++) {
    chunk.push(
      `${2 * i + (odd ? 1 : 0)},name ${i % 977},${((i * 7919) % 100_000) / 100},2024-0${(i % 9) + 1}-${String((i % 28) + 1).padStart(2, '0')}`,
    );
    if (chunk.length === 10_000) {
      fs.writeSync(fd, `${chunk.join('\n')}\n`);
      chunk.length = 0;
    }
  }
  if (chunk.length) fs.writeSync(fd, `${chunk.join('\n')}\n`);
  fs.closeSync(fd);
}

const scheduled = (activity: string) => (e: temporal.api.history.v1.IHistoryEvent) =>
  e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
  e.activityTaskScheduledEventAttributes?.activityType?.name === activity;

/** The attempt number the activity finally completed on (≥ 2 when the kill landed while it ran). */
async function completedAttempt(client: Client, workflowId: string, activity: string): Promise<number> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const ids = events.filter(scheduled(activity)).map((e) => Number(e.eventId));
  const started = events.filter(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED &&
      ids.includes(Number(e.activityTaskStartedEventAttributes?.scheduledEventId)),
  );
  return Math.max(0, ...started.map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0));
}

async function killDuring(stage: 'verify' | 'apply'): Promise<void> {
  const rows = stage === 'apply' ? APPLY_ROWS : ROWS;
  const home = tempDir(`heal-drill-kill-${stage}-`);
  await seedBundle(home);
  const taskQueue = uniqueTaskQueue(`drill-kill-${stage}`);
  const vars = cliEnv({
    HEAL_HOME: home,
    HEAL_ALLOWED_ROOTS: home,
    TEMPORAL_ADDRESS: env.address,
    HEAL_TASK_QUEUE: taskQueue,
    HEAL_GIT: '0',
  });
  const config = testConfig(home, { HEAL_TASK_QUEUE: taskQueue, HEAL_GIT: '0' });
  const clean = path.join(home, 'orders.csv');
  writeOrders(clean, 'amount', false, rows);
  await initPipeline(config, 'orders', clean);
  const v1 = path.join(home, 'pipelines', 'orders', 'versions', 'v1.yaml');
  fs.writeFileSync(v1, fs.readFileSync(v1, 'utf8').replace('mode: replace', 'mode: append'));

  let worker: WorkerProcess = await startWorkerProcess(vars);
  const workers: WorkerProcess[] = [worker];
  try {
    const first = await env.client.workflow.execute(pipelineRun, {
      taskQueue,
      workflowId: `kill-${stage}-clean-${Date.now()}`,
      args: [{ pipeline: 'orders' }],
    });
    expect(first).toMatchObject({ outcome: 'succeeded', rowsLoaded: rows });

    // The next batch: new rows (odd ids), and the amount column renamed (the rules doctor heals it).
    const drifted = path.join(home, 'orders-next.csv');
    writeOrders(drifted, 'amount_usd', true, rows);
    const id = `kill-${stage}-${Date.now()}`;
    const handle = await env.client.workflow.start(pipelineRun, {
      taskQueue,
      workflowId: id,
      args: [{ pipeline: 'orders', source: drifted }],
    });
    const target =
      stage === 'verify'
        ? { wf: `${id}-heal-attempt`, activity: 'verifyPatch' }
        : { wf: `${id}-heal`, activity: 'loadSource' };
    // Its first attempt is at work (it heartbeats as it starts working): kill now, mid-activity.
    await waitForActivityHeartbeat(env.client, target.wf, target.activity, { attempt: 1 });
    await worker.kill('SIGKILL');
    worker = await startWorkerProcess(vars);
    workers.push(worker);

    let result: PipelineRunResult;
    try {
      result = await handle.result();
    } catch (err) {
      result =
        resultOfFailure(err) ??
        (() => {
          throw err;
        })();
    }
    expect(result).toMatchObject({ outcome: 'healed', attempts: 1, specVersion: 2, rowsLoaded: rows });
    // The kill landed while the activity ran: it was retried by the new worker.
    expect(await completedAttempt(env.client, target.wf, target.activity)).toBeGreaterThanOrEqual(2);

    // Exactly one new current version, moved once, by this episode.
    const store = new SpecStore(home);
    expect(store.currentVersion('orders')).toBe(2);
    const moves = store.history('orders').filter((r): r is PointerRecord => r.event === 'current' && r.version === 2);
    expect(moves).toHaveLength(1);

    // The table: the old rows and the new ones, each exactly once (append mode, no double apply).
    // Counted in DuckDB: two million rows as JS objects would cost more than the drill itself.
    const [table] = await withDuckDB(config.warehouse, {}, (conn) =>
      queryRows<{ n: number; ids: number }>(conn, 'SELECT count(*) AS n, count(DISTINCT id) AS ids FROM orders'),
    );
    expect(table).toEqual({ n: 2 * rows, ids: 2 * rows });
    console.log(
      `kill during ${stage}: healed; rows ${table?.n} (expected ${2 * rows}); duplicates 0; versions moved to v2: ${moves.length}`,
    );
  } finally {
    for (const w of workers) await w.kill('SIGKILL');
  }
}

test('worker SIGKILL during verification: resumed by a new worker, healed once, no row lost or doubled', async () => {
  await killDuring('verify');
}, 420_000);

test('worker SIGKILL during apply (append mode): resumed, one new version, no duplicate rows', async () => {
  await killDuring('apply');
}, 420_000);

test('dev server stopped and restarted mid-run (same SQLite file): the run resumes and completes', async () => {
  const home = tempDir('heal-drill-restart-');
  await seedBundle(home);
  const cli = findTemporalCli(loadConfig({}, ROOT));
  if (!cli) throw new Error('Temporal CLI not installed: run `npm run setup`');
  const dbFile = path.join(home, 'temporal', 'dev.sqlite');
  const [port, uiPort] = await Promise.all([freePort(), freePort()]);
  const opts = {
    cliPath: cli.path,
    dbFile,
    port,
    uiPort,
    namespace: 'default',
    logFile: path.join(home, 'logs', 'temporal-dev.log'),
  };
  let server = await startDevServer(opts);
  const taskQueue = uniqueTaskQueue('drill-restart');
  const vars = cliEnv({
    HEAL_HOME: home,
    HEAL_ALLOWED_ROOTS: home,
    TEMPORAL_ADDRESS: server.address,
    HEAL_TASK_QUEUE: taskQueue,
    HEAL_GIT: '0',
  });
  const config = testConfig(home, { HEAL_TASK_QUEUE: taskQueue });
  const clean = path.join(home, 'orders.csv');
  writeOrders(clean, 'amount', false, ROWS);
  await initPipeline(config, 'orders', clean);
  let worker: WorkerProcess | undefined;
  try {
    // The run is started while no worker runs; the server restarts; then a worker comes.
    const conn1 = await Connection.connect({ address: server.address });
    const id = `restart-${Date.now()}`;
    await new Client({ connection: conn1 }).workflow.start(pipelineRun, {
      taskQueue,
      workflowId: id,
      args: [{ pipeline: 'orders' }],
    });
    await conn1.close();
    await server.stop();
    server = await startDevServer(opts);
    worker = await startWorkerProcess(vars);
    const conn2 = await Connection.connect({ address: server.address });
    try {
      const result = await new Client({ connection: conn2 }).workflow.getHandle(id).result();
      expect(result).toMatchObject({ outcome: 'succeeded', rowsLoaded: ROWS });
    } finally {
      await conn2.close();
    }
    expect(await tableRows(config.warehouse, 'orders')).toHaveLength(ROWS);
  } finally {
    await worker?.kill('SIGKILL');
    await server.stop();
  }
}, 300_000);
