/**
 * A suite of end-to-end tests through the CLI: a real dev server, one worker with the real
 * activities on a state directory of its own, and the environment the `heal` children need.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { HealConfig } from '../../lib/config';
import { cliEnv } from './cli';
import { tempDir, testConfig } from './fixtures';
import { createDevEnv, testWorkflowBundle, uniqueTaskQueue } from './temporal';

/** Set once `beforeAll` has run: read the fields inside tests. */
export interface CliSuite {
  env: TestWorkflowEnvironment;
  /** The state directory (HEAL_HOME; sources written here are allowed). */
  home: string;
  config: HealConfig;
  /** Environment for `runCli`. */
  vars: NodeJS.ProcessEnv;
}

/**
 * Call at the top level of a test file: the server and worker start before its tests and stop after
 * them. `roots`: folders beyond the state directory the CLI may read sources from.
 */
export function useCliSuite(prefix: string, opts: { roots?: readonly string[] } = {}): CliSuite {
  const suite = {} as CliSuite;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  beforeAll(async () => {
    const taskQueue = uniqueTaskQueue(prefix);
    suite.home = fs.realpathSync(tempDir(`heal-${prefix}-`));
    suite.config = testConfig(suite.home, { HEAL_TASK_QUEUE: taskQueue });
    const [env, bundle] = await Promise.all([createDevEnv(), testWorkflowBundle()]);
    suite.env = env;
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities: createActivities({ config: suite.config }),
    });
    running = worker.run();
    suite.vars = cliEnv({
      HEAL_HOME: suite.home,
      HEAL_ALLOWED_ROOTS: [suite.home, ...(opts.roots ?? [])].join(path.delimiter),
      TEMPORAL_ADDRESS: env.address,
      HEAL_TASK_QUEUE: taskQueue,
    });
  }, 120_000);
  afterAll(async () => {
    worker?.shutdown();
    await running;
    await (suite.env as TestWorkflowEnvironment | undefined)?.teardown();
  });
  return suite;
}
