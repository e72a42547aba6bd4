/**
 * pipelineRun on a real Temporal dev server (the project's own CLI binary), with real activities
 * on a temp state directory. One server and one workflow bundle per suite; a task queue per test.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { HEAL_OUTCOME, PIPELINE_NAME, SPEC_VERSION, DRIFT_KINDS } from '../../common/search-attributes';
import type { PipelineRunResult } from '../../common/types';
import type { HealConfig } from '../../lib/config';
import { pipelineRun } from '../../workflows';
import { driftCase, initPipeline, tableRows, tempDir, testConfig } from '../helpers/fixtures';
import { uniqueTaskQueue, useDevEnv } from '../helpers/temporal';

const suite = useDevEnv();

async function run(config: HealConfig, input: { pipeline: string; source?: string }, workflowId: string) {
  const taskQueue = uniqueTaskQueue('pipeline-run');
  const worker = await Worker.create({
    connection: suite.env.nativeConnection,
    taskQueue,
    workflowBundle: suite.bundle,
    activities: createActivities({ config }),
  });
  return worker.runUntil(async () => {
    const handle = await suite.env.client.workflow.start(pipelineRun, { taskQueue, workflowId, args: [input] });
    let result: PipelineRunResult;
    try {
      result = await handle.result();
    } catch (err) {
      if (!(err instanceof WorkflowFailedError) || !(err.cause instanceof ApplicationFailure)) throw err;
      expect(err.cause.type).toBe('PipelineFailed');
      result = err.cause.details?.[0] as PipelineRunResult;
    }
    const desc = await handle.describe();
    const history = await handle.fetchHistory();
    return { result, desc, history };
  });
}

test('a clean source loads: succeeded, search attributes set, no data in history', async () => {
  const config = testConfig(tempDir());
  await initPipeline(config, 'iowa', driftCase('iowa-camel-rename', 'clean.csv'));
  const { result, desc, history } = await run(config, { pipeline: 'iowa' }, 'wf-clean');
  expect(result).toMatchObject({
    outcome: 'succeeded',
    workflowId: 'wf-clean',
    pipeline: 'iowa',
    table: 'iowa',
    warehouse: config.warehouse,
    rowsLoaded: 51,
    rowsQuarantined: 0,
    specVersion: 1,
    attempts: 0,
    driftReport: null,
  });
  expect(desc.typedSearchAttributes.get(PIPELINE_NAME)).toBe('iowa');
  expect(desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('succeeded');
  expect(desc.typedSearchAttributes.get(SPEC_VERSION)).toBe(1);
  expect((await tableRows(config.warehouse, 'iowa')).length).toBe(51);
  // Rows never travel through history: no value of the data appears in it.
  const text = JSON.stringify(history);
  expect(text).not.toContain('Fossil Fuels');
  expect(text).not.toContain('35361');
});

test('a drift no doctor can fix fails with a classified report; the table is unchanged', async () => {
  const config = testConfig(tempDir());
  await initPipeline(config, 'flights', driftCase('flights-dropped-required', 'clean.csv'));
  await run(config, { pipeline: 'flights' }, 'wf-before');
  const before = await tableRows(config.warehouse, 'flights');
  const { result, desc } = await run(
    config,
    { pipeline: 'flights', source: driftCase('flights-dropped-required', 'drifted.csv') },
    'wf-drift',
  );
  expect(result.outcome).toBe('failed');
  expect(result.error?.type).toBe('HealingFailed');
  expect(result.attempts).toBe(1);
  expect(result.driftReport?.kinds).toEqual(['missing-column']);
  expect(result.driftReport?.differences[0]).toMatchObject({
    kind: 'missing-column',
    column: 'count',
    expected: 'count',
  });
  expect(desc.status.name).toBe('FAILED');
  expect(desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('failed');
  expect(desc.typedSearchAttributes.get(DRIFT_KINDS)).toEqual(['missing-column']);
  expect(await tableRows(config.warehouse, 'flights')).toEqual(before);
});

test('an unknown pipeline fails at once with PipelineNotFound', async () => {
  const config = testConfig(tempDir());
  const { result } = await run(config, { pipeline: 'nope' }, 'wf-unknown');
  expect(result.outcome).toBe('failed');
  expect(result.error?.type).toBe('PipelineNotFound');
  expect(result.table).toBeNull();
});
