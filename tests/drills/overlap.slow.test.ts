/**
 * Drill: overlapping runs of one pipeline, through the real CLI and a real worker process. Every
 * run of a pipeline uses the workflow id `pipeline-<name>`, so Temporal itself guarantees one
 * active run per pipeline: a second `heal run` is refused (`RunInProgress`, exit 1), and a
 * schedule firing during a manual run is skipped. Either way the source is loaded once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { scheduleIdOf } from '../../common/ids';
import type { PipelineRunResult } from '../../common/types';
import { queryRows, withDuckDB } from '../../lib/duckdb';
import { cliEnv } from '../helpers/cli';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai';
import { tempDir } from '../helpers/fixtures';
import { createDevEnv, uniqueTaskQueue } from '../helpers/temporal';
import { runCliWatched } from './helpers/drill';
import { seedBundle, startWorkerProcess, type WorkerProcess } from './helpers/worker-process';

const ROWS = 300_000;
let env: TestWorkflowEnvironment;
let worker: WorkerProcess;
let home: string;
let vars: NodeJS.ProcessEnv;
let fake: FakeOpenAI;

beforeAll(async () => {
  home = tempDir('heal-drill-overlap-');
  const [e, f] = await Promise.all([createDevEnv(), startFakeOpenAI(), seedBundle(home)]);
  env = e;
  fake = f;
  vars = cliEnv({
    HEAL_HOME: home,
    HEAL_ALLOWED_ROOTS: home,
    TEMPORAL_ADDRESS: env.address,
    HEAL_TASK_QUEUE: uniqueTaskQueue('drill-overlap'),
    HEAL_GIT: '0',
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: 'sk-test-overlap',
  });
  worker = await startWorkerProcess(vars);
  const file = path.join(home, 'orders.csv');
  const lines = ['id,name,amount'];
  for (let i = 0; i < ROWS; i++) lines.push(`${i},name ${i % 977},${(i % 1000) / 4}`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  expect((await runCliWatched(['init', 'orders', '--source', file], vars)).code).toBe(0);
}, 180_000);

afterAll(async () => {
  await worker?.kill('SIGKILL');
  await fake?.close();
  await env?.teardown();
});

const loads = () =>
  withDuckDB(path.join(home, 'warehouse.duckdb'), {}, (conn) =>
    queryRows<{ n: number }>(conn, 'SELECT count(*) AS n FROM __heal_loads'),
  ).then(
    (r) => r[0]?.n ?? 0,
    () => 0,
  );

test('two `heal run` of one pipeline at once: one runs, the other is refused with RunInProgress (exit 1); one load', async () => {
  const before = await loads();
  const [a, b] = await Promise.all([
    runCliWatched(['run', 'orders', '--json'], vars),
    runCliWatched(['run', 'orders', '--json'], vars),
  ]);
  const ran = [a, b].filter((r) => r.code === 0);
  const refused = [a, b].filter((r) => r.code !== 0);
  expect(ran).toHaveLength(1);
  expect(refused).toHaveLength(1);
  expect(refused[0]?.code).toBe(1);
  expect(refused[0]?.stderr).toMatch(/already has a run in progress: pipeline-orders/);
  expect(JSON.parse(ran[0]?.stdout ?? '{}') as PipelineRunResult).toMatchObject({
    outcome: 'succeeded',
    rowsLoaded: ROWS,
  });
  expect((await loads()) - before).toBe(1);
}, 180_000);

test('a schedule firing during a manual run is skipped; one load', async () => {
  // The manual run is held in diagnosis: the model endpoint answers 500 (retried with backoff)
  // until the test gives it an answer, so the schedule fires while the run is surely active.
  const people = path.join(home, 'people.csv');
  const rows = Array.from({ length: 400 }, (_, i) => ({
    id: i + 1,
    first: `First${i % 37}`,
    last: `Last${i % 41}`,
    amount: (i % 100) / 4,
  }));
  fs.writeFileSync(
    people,
    `id,full_name,amount\n${rows.map((r) => `${r.id},${r.first} ${r.last},${r.amount}`).join('\n')}\n`,
  );
  expect((await runCliWatched(['init', 'people', '--source', people], vars)).code).toBe(0);
  expect((await runCliWatched(['run', 'people', '--json'], vars)).code).toBe(0);
  const split = path.join(home, 'people-split.csv');
  fs.writeFileSync(
    split,
    `id,first_name,last_name,amount\n${rows.map((r) => `${r.id},${r.first},${r.last},${r.amount}`).join('\n')}\n`,
  );
  const before = await loads();

  const asked = fake.requests.length;
  const manual = runCliWatched(['run', 'people', '--json', '--source', split], vars);
  await fake.waitForRequests(asked + 1); // the run is in diagnosis, holding pipeline-people
  expect((await runCliWatched(['schedule', 'create', 'people', '--every', '1h', '--paused'], vars)).code).toBe(0);
  expect((await runCliWatched(['schedule', 'trigger', 'people'], vars)).code).toBe(0);
  const schedule = env.client.schedule.getHandle(scheduleIdOf('people'));
  let scheduledId: string | undefined;
  while (!scheduledId) {
    scheduledId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
    if (!scheduledId) await new Promise((r) => setTimeout(r, 50));
  }
  const scheduled = (await env.client.workflow.getHandle(scheduledId).result()) as {
    outcome: string;
    reason: string | null;
  };
  expect(scheduled.outcome).toBe('skipped');
  expect(scheduled.reason).toMatch(/in progress/);

  // Now let the manual run finish: the model answers.
  fake.enqueue({
    content: JSON.stringify({
      patch: [
        { op: 'derive', column: 'full_name', expr: "first_name || ' ' || last_name" },
        { op: 'shape', columns: ['id', 'first_name', 'last_name', 'amount'] },
      ],
      confidence: 0.9,
      rationale: ['split name'],
    }),
  });
  const m = await manual;
  expect(m.code).toBe(0);
  expect(JSON.parse(m.stdout) as PipelineRunResult).toMatchObject({ outcome: 'healed', rowsLoaded: 400 });
  expect((await loads()) - before).toBe(1);
  await schedule.delete();
}, 240_000);
