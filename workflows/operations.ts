/**
 * Operations workflows: a manual rollback (`heal rollback`) and a scheduled run (what a Temporal
 * Schedule starts). Both run a pipeline's table-changing work under its lock id
 * (`pipeline-<name>`), so they never overlap a run of the same pipeline, whatever started it.
 */
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  executeChild,
  proxyActivities,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import { pipelineLockId } from '../common/ids';
import { ACTIVITY_PROFILES } from '../common/policies';
import { HEAL_OUTCOME, PIPELINE_NAME, SPEC_VERSION } from '../common/search-attributes';
import type { PipelineRunResult, RollbackInput, RollbackResult } from '../common/types';
import type { ErrorType } from '../common/errors';
import { messageOf } from './failures';
import { trackProgress } from './progress';
import { PARTIAL_LOAD, PIPELINE_FAILED, pipelineRun } from './pipeline-run';

const quick = proxyActivities<Pick<Activities, 'getPipeline' | 'rollbackVersion'>>(ACTIVITY_PROFILES.quick);
const etl = proxyActivities<Pick<Activities, 'loadSource'>>(ACTIVITY_PROFILES.etl);

/** Failure type of a manual rollback whose reload failed (the version was put back). */
export const ROLLBACK_FAILED = 'RollbackFailed' satisfies ErrorType;

/**
 * Restore a spec version and reload the table with it. Recorded in the version history like any
 * version change. If the reload fails (the source no longer fits that version), the previous
 * version is made current again and the rollback fails with the reason: nothing half-done.
 */
export async function manualRollback(input: RollbackInput): Promise<RollbackResult> {
  const { workflowId, startTime } = workflowInfo();
  const { step } = trackProgress({
    workflow: 'manualRollback',
    pipeline: input.pipeline,
    stage: 'starting',
    detail: 'starting',
    key: workflowId,
    startedAt: startTime.toISOString(),
  });
  upsertSearchAttributes([
    { key: PIPELINE_NAME, value: input.pipeline },
    { key: HEAL_OUTCOME, value: 'running' },
  ]);
  const info = await quick.getPipeline.executeWithOptions({ summary: `read the current spec of ${input.pipeline}` }, [
    { pipeline: input.pipeline },
  ]);
  const from = info.specVersion;
  const to = input.toVersion ?? from - 1;
  const who = input.by ? ` by ${input.by}` : '';
  const why = input.reason ? `: ${input.reason}` : '';
  const result: RollbackResult = {
    pipeline: input.pipeline,
    fromVersion: from,
    toVersion: to,
    rowsLoaded: 0,
    rowsQuarantined: 0,
    reloaded: false,
    error: null,
  };
  if (to < 1 || to === from) {
    throw ApplicationFailure.create({
      type: ROLLBACK_FAILED,
      nonRetryable: true,
      message: `nothing to roll back to: ${input.pipeline} is at v${from}`,
      details: [result],
    });
  }

  step('rolling-back', `making v${to} current (was v${from})`);
  await quick.rollbackVersion.executeWithOptions({ summary: `make v${to} current (manual rollback)` }, [
    {
      pipeline: input.pipeline,
      version: to,
      episodeId: workflowId,
      reason: `manual rollback from v${from}${who}${why}`,
    },
  ]);
  step('reloading', `reloading ${info.table} with v${to}`);
  try {
    const load = await etl.loadSource.executeWithOptions({ summary: `reload with v${to}` }, [
      {
        pipeline: input.pipeline,
        specVersion: to,
        runId: `${workflowId}-${startTime.toISOString().replace(/[-:.]/g, '')}/rollback`,
      },
    ]);
    upsertSearchAttributes([
      { key: HEAL_OUTCOME, value: 'rolled-back' },
      { key: SPEC_VERSION, value: to },
    ]);
    step('done', `rolled back to v${to}: ${load.rowsLoaded} rows loaded`);
    return { ...result, rowsLoaded: load.rowsLoaded, rowsQuarantined: load.rowsQuarantined, reloaded: true };
  } catch (err) {
    step('rolling-back', `the reload with v${to} failed; restoring v${from}`);
    await quick.rollbackVersion.executeWithOptions({ summary: `restore v${from}` }, [
      {
        pipeline: input.pipeline,
        version: from,
        episodeId: workflowId,
        reason: `manual rollback to v${to} undone: the reload failed: ${messageOf(err).slice(0, 200)}`,
      },
    ]);
    upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'failed' }]);
    const error = `the source does not load with v${to} (${messageOf(err)}); v${from} is current again, table unchanged`;
    step('done', error.slice(0, 200));
    throw ApplicationFailure.create({
      type: ROLLBACK_FAILED,
      nonRetryable: true,
      message: error,
      details: [{ ...result, error }],
    });
  }
}

/** What a scheduled run did: ran the pipeline, or skipped because a run was in progress. */
export interface ScheduledRunResult {
  outcome: 'ran' | 'skipped';
  run: PipelineRunResult | null;
  reason: string | null;
}

/**
 * Started by a pipeline's Temporal Schedule (which appends the scheduled time to this workflow's
 * id). Runs `pipelineRun` as a child under the pipeline's lock id: when another run of the
 * pipeline is active (a manual `heal run`, an episode awaiting approval), this one is skipped.
 */
export async function scheduledRun(input: { pipeline: string }): Promise<ScheduledRunResult> {
  upsertSearchAttributes([{ key: PIPELINE_NAME, value: input.pipeline }]);
  setCurrentDetails(`starting ${pipelineLockId(input.pipeline)}`);
  try {
    const run = await executeChild(pipelineRun, {
      workflowId: pipelineLockId(input.pipeline),
      taskQueue: workflowInfo().taskQueue,
      staticSummary: `scheduled run of ${input.pipeline}`,
      args: [{ pipeline: input.pipeline }],
    });
    upsertSearchAttributes([{ key: HEAL_OUTCOME, value: run.outcome }]);
    setCurrentDetails(`${run.outcome}: ${run.rowsLoaded} rows`);
    return { outcome: 'ran', run, reason: null };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      const reason = `a run of ${input.pipeline} is in progress (${pipelineLockId(input.pipeline)}); skipped`;
      upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'skipped' }]);
      setCurrentDetails(reason);
      return { outcome: 'skipped', run: null, reason };
    }
    const c = err instanceof ChildWorkflowFailure ? err.cause : undefined;
    const run = c instanceof ApplicationFailure ? (c.details?.[0] as PipelineRunResult | undefined) : undefined;
    const outcome = run?.outcome === 'partial' ? 'partial' : 'failed';
    upsertSearchAttributes([{ key: HEAL_OUTCOME, value: outcome }]);
    throw ApplicationFailure.create({
      type: outcome === 'partial' ? PARTIAL_LOAD : PIPELINE_FAILED,
      nonRetryable: true,
      message: messageOf(err),
      details: run ? [run] : [],
    });
  }
}
