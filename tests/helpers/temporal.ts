/**
 * Test helpers for Temporal: a real dev server (the project-local Temporal CLI, `existing-path`),
 * the workflow bundle built once and cached, and unique task queues.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
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

let n = 0;
export function uniqueTaskQueue(prefix = 'test'): string {
  n += 1;
  return `${prefix}-${process.pid}-${Date.now()}-${n}`;
}
