/**
 * Test helpers for Temporal: a real dev server (the project-local Temporal CLI, `existing-path`),
 * the workflow bundle built once and cached, and unique task queues.
 */
import * as os from 'node:os';
import * as path from 'node:path';
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

let n = 0;
export function uniqueTaskQueue(prefix = 'test'): string {
  n += 1;
  return `${prefix}-${process.pid}-${Date.now()}-${n}`;
}
