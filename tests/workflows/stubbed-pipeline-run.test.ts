/**
 * pipelineRun's orchestration branches with stubbed activities (tests/helpers/stub-activities.ts)
 * on a real dev server: a clean load, a drift healed by the episode, a drift the episode cannot
 * heal, a many-file load with files set aside (partial) and a load over the quarantine budget.
 * Stubbed because each branch is decided by what an activity answers, not by DuckDB: canned answers
 * reach every branch in well under a second, where tests/workflows/pipeline-run.test.ts and
 * healing.test.ts prove the same paths end to end with real activities.
 */
import type { PipelineRunResult } from '../../common/types';
import { DRIFT_KINDS, HEAL_OUTCOME, PIPELINE_NAME, SPEC_VERSION } from '../../common/search-attributes';
import { HEALING_PRIORITY } from '../../common/policies';
import { pipelineRun } from '../../workflows';
import {
  PIPELINE,
  SOURCE,
  diagnosis,
  driftReport,
  failure,
  fileOutcome,
  inputsOf,
  loadSummary,
  pipelineInfo,
  quietActivities,
  recording,
  runStubbed,
  scheduledActivities,
  schemaDrift,
  startedChildren,
  useStubbedDevEnv,
  verification,
} from '../helpers/stub-activities';

const suite = useStubbedDevEnv();

test('a clean load: succeeded, no episode, HealOutcome "succeeded"', async () => {
  const { activities, calls } = recording({
    ...quietActivities(),
    getPipeline: async () => pipelineInfo(),
    loadSource: async () => loadSummary(),
  });
  const workflowId = 'stub-clean';
  const run = await runStubbed(suite, activities, pipelineRun, { workflowId, args: [{ pipeline: PIPELINE }] });

  expect(run.failureType).toBeNull();
  expect(run.result).toMatchObject({
    outcome: 'succeeded',
    workflowId,
    runKey: workflowId,
    table: 'orders',
    rowsLoaded: 10,
    specVersion: 1,
    attempts: 0,
    driftReport: null,
    error: null,
  });
  expect(run.result.partitions).toBeUndefined(); // one file: no per-file list
  expect(scheduledActivities(run.history)).toEqual(['getPipeline', 'loadSource', 'recordRun']);
  expect(startedChildren(run.history)).toEqual([]);
  expect(inputsOf(calls, 'loadSource')).toEqual([{ pipeline: PIPELINE, specVersion: 1, runId: workflowId }]);
  expect(inputsOf(calls, 'recordRun')).toEqual([
    expect.objectContaining({ run: expect.objectContaining({ outcome: 'succeeded' }), episode: null }),
  ]);
  expect(run.desc.typedSearchAttributes.get(PIPELINE_NAME)).toBe(PIPELINE);
  expect(run.desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('succeeded');
  expect(run.desc.typedSearchAttributes.get(SPEC_VERSION)).toBe(1);
});

test('a drift healed by the episode: the verified version is applied, the reload is the result', async () => {
  const workflowId = 'stub-healed';
  const episodeId = `${workflowId}-heal`;
  const { activities, calls } = recording({
    ...quietActivities(),
    getPipeline: async () => pipelineInfo(),
    loadSource: async (input) => {
      if (input.runId === workflowId) throw schemaDrift();
      return loadSummary({ specVersion: input.specVersion, rowsLoaded: 9, rowsQuarantined: 1 });
    },
    diagnose: async () => diagnosis(),
    proposePatch: async () => ({ candidateVersion: 2 }),
    verifyPatch: async (input) => verification(input.candidateVersion, true),
    applyVersion: async (input) => ({ previous: 1, version: input.version }),
  });
  const run = await runStubbed(suite, activities, pipelineRun, { workflowId, args: [{ pipeline: PIPELINE }] });

  expect(run.failureType).toBeNull();
  expect(run.result).toMatchObject({
    outcome: 'healed',
    specVersion: 2,
    rowsLoaded: 9,
    rowsQuarantined: 1,
    attempts: 1,
    episodeId,
    doctor: 'rules',
    patch: diagnosis().patch,
    driftReport: driftReport(),
    // committedAt of the reload - detectedAt of the drift (the canned times are 5 s apart).
    mttrMs: 5_000,
    error: null,
  });
  expect(scheduledActivities(run.history)).toEqual(['getPipeline', 'loadSource', 'recordRun']);
  // Healing runs ahead of other pipelines' reads on a busy worker (common/policies.ts).
  expect(startedChildren(run.history)).toEqual([
    { type: 'healingEpisode', workflowId: episodeId, priorityKey: HEALING_PRIORITY.priorityKey },
  ]);

  const episode = suite.env.client.workflow.getHandle(episodeId);
  const episodeHistory = await episode.fetchHistory();
  expect(startedChildren(episodeHistory)).toEqual([{ type: 'healAttempt', workflowId: `${episodeId}-attempt` }]);
  expect(scheduledActivities(episodeHistory)).toEqual([
    'publishFix',
    'applyVersion',
    'loadSource',
    'rememberFix',
    'notifyEpisode',
  ]);
  // The attempt ran diagnose → propose → verify, in its own workflow.
  expect(calls.filter((c) => c.workflowType === 'healAttempt').map((c) => c.name)).toEqual([
    'diagnose',
    'proposePatch',
    'verifyPatch',
  ]);
  expect(inputsOf(calls, 'diagnose')).toEqual([expect.objectContaining({ previous: [], source: SOURCE })]);
  expect(inputsOf(calls, 'applyVersion')).toEqual([expect.objectContaining({ version: 2, episodeId })]);
  // The reload is the episode's, with the verified version; the first load was the run's, with v1.
  expect(inputsOf(calls, 'loadSource')).toEqual([
    expect.objectContaining({ specVersion: 1, runId: workflowId }),
    expect.objectContaining({ specVersion: 2, runId: `${episodeId}/apply`, source: SOURCE }),
  ]);
  expect(inputsOf(calls, 'notifyEpisode')).toEqual([expect.objectContaining({ outcome: 'healed' })]);
  expect(run.desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('healed');
  expect(run.desc.typedSearchAttributes.get(SPEC_VERSION)).toBe(2);
  expect(run.desc.typedSearchAttributes.get(DRIFT_KINDS)).toEqual(['renamed']);
  expect((await episode.describe()).typedSearchAttributes.get(HEAL_OUTCOME)).toBe('healed');
});

test('every attempt fails verification: the doctor hears why, the run fails with the drift report', async () => {
  const workflowId = 'stub-not-healed';
  let proposed = 1;
  const { activities, calls } = recording({
    ...quietActivities(),
    getPipeline: async () => pipelineInfo({ maxAttempts: 2 }),
    loadSource: async () => {
      throw schemaDrift();
    },
    diagnose: async () => diagnosis(),
    proposePatch: async () => ({ candidateVersion: ++proposed }),
    verifyPatch: async (input) => verification(input.candidateVersion, false),
  });
  const run = await runStubbed(suite, activities, pipelineRun, { workflowId, args: [{ pipeline: PIPELINE }] });

  expect(run.failureType).toBe('PipelineFailed');
  const result: PipelineRunResult = run.result;
  expect(result).toMatchObject({
    outcome: 'failed',
    specVersion: 1,
    attempts: 2,
    rowsLoaded: 0,
    driftReport: driftReport(),
    error: { type: 'HealingFailed' },
  });
  expect(result.error?.message).toBe(
    'orders: renamed email → e_mail; not healed: ' +
      'attempt 1 (rules): verification failed: quarantine-budget: 60% > 1% | ' +
      'attempt 2 (rules): verification failed: quarantine-budget: 60% > 1%',
  );
  // Attempt 2's doctor was told what attempt 1 tried and why it failed.
  const [first, second] = inputsOf<{ previous: unknown[] }>(calls, 'diagnose');
  expect(first?.previous).toEqual([]);
  expect(second?.previous).toEqual([
    {
      attempt: 1,
      doctor: 'rules',
      patch: diagnosis().patch,
      report: verification(2, false),
      error: 'verification failed: quarantine-budget: 60% > 1%',
    },
  ]);
  // Nothing applied or reloaded: the episode only alerted the failure.
  const episode = suite.env.client.workflow.getHandle(`${workflowId}-heal`);
  expect(scheduledActivities(await episode.fetchHistory())).toEqual(['notifyEpisode']);
  expect(inputsOf(calls, 'notifyEpisode')).toEqual([expect.objectContaining({ outcome: 'failed', attempts: 2 })]);
  expect(inputsOf(calls, 'loadSource')).toHaveLength(1);
  expect(run.desc.status.name).toBe('FAILED');
  expect(run.desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('failed');
  expect(run.desc.typedSearchAttributes.get(SPEC_VERSION)).toBe(1);
  expect((await episode.describe()).typedSearchAttributes.get(HEAL_OUTCOME)).toBe('failed');
});

test('a many-file load that sets a file aside: partial (PartialLoad), the file named in partitions and alerted', async () => {
  const a = '/stub/orders/a.csv';
  const b = '/stub/orders/b.csv';
  const reason = 'b.csv: 40% of rows quarantined (budget 1%)';
  const { activities, calls } = recording({
    ...quietActivities(),
    getPipeline: async () => pipelineInfo({ loadMode: 'append', source: '/stub/orders/*.csv' }),
    loadSource: async () =>
      loadSummary({
        mode: 'append',
        sources: [a, b],
        rowsRead: 20,
        files: [fileOutcome(a), fileOutcome(b, { outcome: 'set-aside', rowsLoaded: 0, reason })],
        setAside: [{ file: b, reason }],
      }),
  });
  const run = await runStubbed(suite, activities, pipelineRun, {
    workflowId: 'stub-partial',
    args: [{ pipeline: PIPELINE }],
  });

  expect(run.failureType).toBe('PartialLoad');
  expect(run.result).toMatchObject({
    outcome: 'partial',
    rowsLoaded: 10,
    error: { type: 'PartialLoad', message: '1 of 2 files set aside: b.csv' },
    partitions: [
      { file: a, outcome: 'loaded', rowsLoaded: 10 },
      { file: b, outcome: 'set-aside', rowsLoaded: 0, reason },
    ],
  });
  // An append may end partial: the load was told so.
  expect(inputsOf(calls, 'loadSource')).toEqual([expect.objectContaining({ allowPartial: true })]);
  expect(inputsOf(calls, 'notifyEpisode')).toEqual([
    expect.objectContaining({ outcome: 'partial', setAside: [{ file: b, reason }] }),
  ]);
  expect(startedChildren(run.history)).toEqual([]);
  expect(run.desc.status.name).toBe('FAILED');
  expect(run.desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('partial');
});

test('a load over the quarantine budget: failed with QuarantineBudgetExceeded, no healing, not retried', async () => {
  const a = '/stub/orders/a.csv';
  const b = '/stub/orders/b.csv';
  const message = 'b.csv: 40% of rows quarantined (budget 1%)';
  const { activities, calls } = recording({
    ...quietActivities(),
    getPipeline: async () => pipelineInfo({ source: '/stub/orders/*.csv' }),
    loadSource: async () => {
      throw failure('QuarantineBudgetExceeded', message, { file: b, files: [a, b] });
    },
  });
  const run = await runStubbed(suite, activities, pipelineRun, {
    workflowId: 'stub-budget',
    args: [{ pipeline: PIPELINE }],
  });

  expect(run.failureType).toBe('PipelineFailed');
  expect(run.result).toMatchObject({
    outcome: 'failed',
    rowsLoaded: 0,
    driftReport: null,
    attempts: 0,
    error: { type: 'QuarantineBudgetExceeded', message },
    partitions: [
      { file: a, outcome: 'held', rowsLoaded: 0 },
      { file: b, outcome: 'set-aside', rowsLoaded: 0, reason: message },
    ],
  });
  // A replace that refuses partial loads asks for none; the non-retryable failure is not retried.
  expect(inputsOf(calls, 'loadSource')).toEqual([{ pipeline: PIPELINE, specVersion: 1, runId: 'stub-budget' }]);
  expect(scheduledActivities(run.history)).toEqual(['getPipeline', 'loadSource', 'recordRun']);
  expect(startedChildren(run.history)).toEqual([]);
  expect(run.desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('failed');
});
