/**
 * healingEpisode and healAttempt orchestration with stubbed activities (tests/helpers/stub-activities.ts)
 * on a real dev server: a doctor answer that cannot be used fails the attempt and the server retries
 * it (the next attempt hears why); NoDiagnosis ends the episode after one attempt; a reload that
 * fails after the apply rolls the version back; review mode refuses an early decision, waits, and
 * applies once approved (the run hears the episode's stages).
 * Stubbed because these branches hang on what diagnose/verify/load answer, which real doctors and
 * DuckDB reach only with crafted fixtures and seconds of work; tests/workflows/healing.test.ts,
 * llm-healing.test.ts and operations.test.ts cover the same ground end to end.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { HEAL_OUTCOME } from '../../common/search-attributes';
import type { HealingInput } from '../../common/types';
import { healingEpisode, pipelineRun } from '../../workflows';
import { decideUpdate } from '../../workflows/messages';
import {
  PIPELINE,
  SOURCE,
  deferred,
  diagnosis,
  driftReport,
  failure,
  inputsOf,
  loadSummary,
  pipelineInfo,
  quietActivities,
  recording,
  runStubbed,
  scheduledActivities,
  schemaDrift,
  signalsReceived,
  useStubbedDevEnv,
  verification,
  type StubActivities,
} from '../helpers/stub-activities';

const suite = useStubbedDevEnv();

function healingInput(overrides: Partial<HealingInput> = {}): HealingInput {
  return { pipeline: PIPELINE, specVersion: 1, drift: driftReport(), source: SOURCE, maxAttempts: 3, ...overrides };
}

/** A doctor, a verification and a reload that all succeed with candidate v2. */
function healingActivities(): StubActivities {
  return {
    ...quietActivities(),
    diagnose: async () => diagnosis(),
    proposePatch: async () => ({ candidateVersion: 2 }),
    verifyPatch: async (input) => verification(input.candidateVersion, true),
    applyVersion: async (input) => ({ previous: 1, version: input.version }),
    loadSource: async (input) => loadSummary({ specVersion: input.specVersion }),
  };
}

test('DoctorAnswerInvalid fails attempt 1; the server retries the attempt, which hears why and heals', async () => {
  const episodeId = 'stub-invalid-answer';
  const invalid = 'the model answer is not JSON: Unexpected token < at position 0';
  let asked = 0;
  const { activities, calls } = recording({
    ...healingActivities(),
    diagnose: async () => {
      asked += 1;
      if (asked === 1) throw failure('DoctorAnswerInvalid', invalid);
      return diagnosis({ doctor: 'llm' });
    },
  });
  const run = await runStubbed(suite, activities, healingEpisode, { workflowId: episodeId, args: [healingInput()] });

  expect(run.failureType).toBeNull();
  expect(run.result).toMatchObject({ outcome: 'healed', specVersion: 2, candidateVersion: 2, doctor: 'llm' });
  expect(run.result.attempts).toEqual([
    { attempt: 1, doctor: 'none', patch: null, candidateVersion: null, report: null, error: invalid },
    expect.objectContaining({ attempt: 2, doctor: 'llm', candidateVersion: 2, error: null }),
  ]);
  // The activity was not retried (non-retryable); the attempt workflow was, as its run 2.
  const diagnoses = calls.filter((c) => c.name === 'diagnose');
  expect(diagnoses.map((c) => [c.workflowId, c.attempt])).toEqual([
    [`${episodeId}-attempt`, 1],
    [`${episodeId}-attempt`, 1],
  ]);
  expect(inputsOf(calls, 'diagnose')[1]).toMatchObject({
    previous: [{ attempt: 1, doctor: 'none', patch: null, report: null, error: invalid }],
  });
  expect(inputsOf(calls, 'proposePatch')).toEqual([expect.objectContaining({ attempt: 2, doctor: 'llm', episodeId })]);
  expect(run.desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('healed');
});

test('NoDiagnosis ends the episode after one attempt of three: nothing proposed, applied or reloaded', async () => {
  const episodeId = 'stub-no-diagnosis';
  const why = 'required column count is gone and nothing maps to it';
  const { activities, calls } = recording({
    ...healingActivities(),
    diagnose: async () => {
      throw failure('NoDiagnosis', why);
    },
  });
  const run = await runStubbed(suite, activities, healingEpisode, { workflowId: episodeId, args: [healingInput()] });

  expect(run.failureType).toBe('HealingFailed');
  expect(run.result).toMatchObject({
    outcome: 'failed',
    specVersion: 1,
    candidateVersion: null,
    error: `attempt 1 (none): ${why}`,
    attempts: [{ attempt: 1, doctor: 'none', patch: null, report: null, error: why }],
  });
  expect(calls.map((c) => c.name)).toEqual(['diagnose', 'notifyEpisode']);
  expect(inputsOf(calls, 'notifyEpisode')).toEqual([expect.objectContaining({ outcome: 'failed', attempts: 1 })]);
  expect(scheduledActivities(run.history)).toEqual(['notifyEpisode']);
  // The attempt workflow's last run is its first: the server did not retry it.
  const attempt = suite.env.client.workflow.getHandle(`${episodeId}-attempt`);
  const attemptHistory = await attempt.fetchHistory();
  expect(attemptHistory.events?.[0]?.workflowExecutionStartedEventAttributes?.attempt).toBe(1);
  expect((await attempt.describe()).status.name).toBe('FAILED');
  expect(run.desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('failed');
});

test('the reload with the verified version fails: the previous version is restored, the episode rolled back', async () => {
  const episodeId = 'stub-rolled-back';
  const gone = '/stub/orders.csv: no such file';
  const { activities, calls } = recording({
    ...healingActivities(),
    loadSource: async () => {
      throw failure('SourceUnreadable', gone);
    },
    rollbackVersion: async (input) => ({ version: input.version }),
  });
  const run = await runStubbed(suite, activities, healingEpisode, { workflowId: episodeId, args: [healingInput()] });

  expect(run.failureType).toBe('HealingFailed');
  expect(run.result).toMatchObject({
    outcome: 'rolled-back',
    specVersion: 1,
    candidateVersion: 2,
    error: `applied v2, but the load failed (${gone}); rolled back to v1`,
  });
  expect(scheduledActivities(run.history)).toEqual([
    'publishFix',
    'applyVersion',
    'loadSource',
    'rollbackVersion',
    'notifyEpisode',
  ]);
  expect(inputsOf(calls, 'applyVersion')).toEqual([expect.objectContaining({ version: 2, episodeId })]);
  expect(inputsOf(calls, 'rollbackVersion')).toEqual([
    {
      pipeline: PIPELINE,
      version: 1,
      episodeId,
      reason: `rollback: the load with v2 failed: ${gone}`,
    },
  ]);
  expect(inputsOf(calls, 'notifyEpisode')).toEqual([expect.objectContaining({ outcome: 'rolled-back' })]);
  expect(run.desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('rolled-back');
});

test('review mode: an early decision is refused; approved while waiting, the fix is applied and the run hears each stage', async () => {
  const workflowId = 'stub-review';
  const episodeId = `${workflowId}-heal`;
  const verifying = deferred();
  const release = deferred();
  const awaiting = deferred();
  const { activities, calls } = recording({
    ...healingActivities(),
    getPipeline: async () => pipelineInfo({ mode: 'review' }),
    loadSource: async (input) => {
      if (input.runId === workflowId) throw schemaDrift();
      return loadSummary({ specVersion: input.specVersion });
    },
    // Holds the attempt in verification until the test has tried to decide too early.
    verifyPatch: async (input) => {
      verifying.resolve();
      await release.promise;
      return verification(input.candidateVersion, true);
    },
    notifyEpisode: async (input) => {
      if (input.outcome === 'awaiting-approval') awaiting.resolve();
      return { status: 'disabled' };
    },
  });
  const decide = (decision: 'approve' | 'reject') =>
    suite.env.client.workflow
      .getHandle(episodeId)
      .executeUpdate(decideUpdate, { args: [{ decision, by: 'alice', reason: 'looks right' }] });

  const run = await runStubbed(
    suite,
    activities,
    pipelineRun,
    { workflowId, args: [{ pipeline: PIPELINE }] },
    async () => {
      try {
        await verifying.promise;
        const early = decide('approve');
        await expect(early).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
        await expect(early).rejects.toHaveProperty(
          'cause.message',
          `episode ${episodeId} is not awaiting a decision: it is attempting, not awaiting approval yet`,
        );
      } finally {
        release.resolve();
      }
      await awaiting.promise;
      expect(await decide('approve')).toMatchObject({ decision: 'approve', by: 'alice', via: 'cli' });
    },
  );

  expect(run.failureType).toBeNull();
  expect(run.result).toMatchObject({
    outcome: 'healed',
    specVersion: 2,
    decision: { decision: 'approve', by: 'alice', reason: 'looks right', via: 'cli' },
  });
  expect(signalsReceived(run.history)).toEqual([
    { name: 'episodeStage', arg: { stage: 'awaiting-approval' } },
    { name: 'episodeStage', arg: { stage: 'healing' } },
  ]);
  const episodeHistory = await suite.env.client.workflow.getHandle(episodeId).fetchHistory();
  expect(scheduledActivities(episodeHistory)).toEqual([
    'publishFix',
    'notifyEpisode',
    'applyVersion',
    'loadSource',
    'rememberFix',
    'notifyEpisode',
  ]);
  expect(inputsOf(calls, 'notifyEpisode').map((n) => n['outcome'])).toEqual(['awaiting-approval', 'healed']);
  expect(inputsOf(calls, 'applyVersion')).toEqual([
    expect.objectContaining({ version: 2, reason: expect.stringMatching(/, approved by alice$/) }),
  ]);
  expect(run.desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('healed');
});

test('a verification that cannot run (the source went away) ends the episode at once, with its cause', async () => {
  const episodeId = 'stub-verify-unreadable';
  const gone = '/stub/orders.csv: no such file';
  const { activities, calls } = recording({
    ...healingActivities(),
    verifyPatch: async () => {
      throw failure('SourceUnreadable', gone);
    },
  });
  const run = await runStubbed(suite, activities, healingEpisode, { workflowId: episodeId, args: [healingInput()] });

  expect(run.failureType).toBe('HealingFailed');
  expect(run.result).toMatchObject({ outcome: 'failed', specVersion: 1 });
  // One attempt of three: SourceUnreadable ends the episode (the error table), and the record keeps the cause.
  expect(run.result.attempts).toEqual([
    expect.objectContaining({ attempt: 1, doctor: 'rules', candidateVersion: 2, error: gone }),
  ]);
  expect(calls.filter((c) => c.name === 'diagnose')).toHaveLength(1);
  expect(calls.map((c) => c.name)).not.toContain('applyVersion');
  expect(run.desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('failed');
});

test('the verified version cannot be made current: the episode fails, alerted, nothing reloaded', async () => {
  const episodeId = 'stub-apply-unwritable';
  const full = '/heal/pipelines/orders/current.json: cannot write the state directory (disk full)';
  const { activities, calls } = recording({
    ...healingActivities(),
    applyVersion: async () => {
      throw failure('StateUnwritable', full);
    },
  });
  const run = await runStubbed(suite, activities, healingEpisode, { workflowId: episodeId, args: [healingInput()] });

  expect(run.failureType).toBe('HealingFailed');
  expect(run.result).toMatchObject({ outcome: 'failed', specVersion: 1, candidateVersion: 2 });
  expect(run.result.error).toContain(full);
  expect(calls.map((c) => c.name)).not.toContain('loadSource');
  expect(inputsOf(calls, 'notifyEpisode')).toEqual([expect.objectContaining({ outcome: 'failed' })]);
  expect(run.desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('failed');
});
