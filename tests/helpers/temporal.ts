/**
 * Test helpers for Temporal: a real dev server (the project-local Temporal CLI, `existing-path`),
 * the workflow bundle built once and cached, and unique task queues.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { DRIFT_KINDS, HEAL_OUTCOME, PIPELINE_NAME, SPEC_VERSION } from '../../common/search-attributes';
import { loadConfig } from '../../lib/config';
import { findTemporalCli } from '../../lib/temporal-cli';
import { workflowBundlePath } from '../../lib/workflow-bundle';

let runtimeInstalled = false;

/** Start a dev server on a free port with heal's search attributes. */
export async function createDevEnv(): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  }
  const config = loadConfig({}, path.resolve(__dirname, '../..'));
  const cli = findTemporalCli(config);
  if (!cli) throw new Error('Temporal CLI not installed: run `npm run setup` (tests need the real dev server)');
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli.path },
      ip: '127.0.0.1',
      searchAttributes: [PIPELINE_NAME, HEAL_OUTCOME, DRIFT_KINDS, SPEC_VERSION],
    },
  });
}

/** The workflow bundle, built once per machine and cached by content under the OS temp dir. */
export function testWorkflowBundle(): Promise<{ codePath: string }> {
  return workflowBundlePath(path.join(os.tmpdir(), 'heal-test-cache')).then((codePath) => ({ codePath }));
}

/** A suite's dev server and workflow bundle: `env` and `bundle` are set once `beforeAll` has run. */
export interface DevSuite {
  env: TestWorkflowEnvironment;
  bundle: { codePath: string };
}

/**
 * Start a dev server and build (or reuse) the workflow bundle before the suite's tests, tear the
 * server down after them. Call at the top level of a test file; read `suite.env`/`suite.bundle`
 * inside tests.
 */
export function useDevEnv(): DevSuite {
  const suite = {} as DevSuite;
  beforeAll(async () => {
    [suite.env, suite.bundle] = await Promise.all([createDevEnv(), testWorkflowBundle()]);
  }, 120_000);
  afterAll(async () => {
    await (suite.env as TestWorkflowEnvironment | undefined)?.teardown();
  });
  return suite;
}

/**
 * Save a workflow's history as a replay fixture (tests/fixtures/histories/<name>.json) when
 * RECORD_HISTORIES=1; otherwise do nothing. See tests/workflows/replay.test.ts.
 */
export async function recordHistory(env: TestWorkflowEnvironment, workflowId: string, name: string): Promise<void> {
  if (process.env['RECORD_HISTORIES'] !== '1') return;
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  const dir = path.resolve(__dirname, '../fixtures/histories');
  fs.mkdirSync(dir, { recursive: true });
  // The workflow id goes with the history: child workflow ids derive from it, so replay needs it.
  fs.writeFileSync(
    path.join(dir, `${name}.json`),
    JSON.stringify({ workflowId, history: JSON.parse(historyToJSON(history)) as unknown }, null, 1),
  );
}

/** A running activity as `describe()` shows it. */
export type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

/**
 * Wait until activity `activityType` of workflow `workflowId` (its latest run) is running and has
 * heartbeated in its current attempt (`attempt`, when given, names which one). The heartbeat is
 * the evidence that a worker is inside the activity now; the history cannot tell (an activity with a
 * retry policy gets its started event only when the attempt ends), and a fixed delay after the
 * scheduled event lands anywhere under load. Activities wrapped in `heartbeating`
 * (activities/index.ts) heartbeat as soon as they begin their work.
 * Fails at once when the workflow closes first (the activity finished before it was seen running).
 */
export async function waitForActivityHeartbeat(
  client: Client,
  workflowId: string,
  activityType: string,
  { attempt, timeoutMs = 120_000 }: { attempt?: number; timeoutMs?: number } = {},
): Promise<PendingActivity> {
  const deadline = Date.now() + timeoutMs;
  const handle = client.workflow.getHandle(workflowId);
  for (;;) {
    let desc;
    try {
      desc = await handle.describe();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      desc = undefined; // a child not started yet
    }
    if (desc) {
      const running = (desc.raw.pendingActivities ?? []).find((a) => {
        if (a.activityType?.name !== activityType) return false;
        if (a.state !== temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED) return false;
        if (attempt !== undefined && a.attempt !== attempt) return false;
        // A heartbeat of an earlier attempt is kept across a retry: this attempt's comes after its start.
        const beat = optionalTsToMs(a.lastHeartbeatTime);
        const started = optionalTsToMs(a.lastStartedTime);
        return beat !== undefined && started !== undefined && beat >= started;
      });
      if (running) return running;
      if (desc.status.name !== 'RUNNING')
        throw new Error(
          `${workflowId} is ${desc.status.name}: ${activityType} was never seen running and heartbeating`,
        );
    }
    if (Date.now() > deadline)
      throw new Error(`${activityType} of ${workflowId} did not heartbeat within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10)); // the polling interval, not a synchronisation
  }
}

let n = 0;
export function uniqueTaskQueue(prefix = 'test'): string {
  n += 1;
  return `${prefix}-${process.pid}-${Date.now()}-${n}`;
}
