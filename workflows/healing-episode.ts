/**
 * `healingEpisode`: heal a drifted pipeline. Runs `healAttempt` as a child workflow retried by the
 * server (maximumAttempts = the pipeline's healing.maxAttempts), then applies the verified version
 * and reloads; if that load fails, the previous version is restored (rollback) and the episode fails.
 * If every attempt fails, nothing changes: the version and the table stay as they were.
 * After a healed load the fix is remembered (`rememberFix`: a new fix, or a hit when it came from
 * fix memory); memory is best effort, so a failure there never undoes a healed table.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  executeChild,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { EPISODE_FATAL_ERROR_TYPES } from '../common/errors';
import { ACTIVITY_PROFILES, ATTEMPT_RETRY } from '../common/policies';
import type { AttemptRecord, EpisodeResult, HealingInput } from '../common/types';
import { healAttempt, type AttemptFailureDetails } from './heal-attempt';

const quick = proxyActivities<Pick<Activities, 'applyVersion' | 'rollbackVersion' | 'rememberFix'>>(ACTIVITY_PROFILES.quick);
const etl = proxyActivities<Pick<Activities, 'loadSource'>>(ACTIVITY_PROFILES.etl);

/** Failure type of an episode that did not heal; its first detail is the {@link EpisodeResult}. */
export const HEALING_FAILED = 'HealingFailed';

function message(err: unknown): string {
  const c = err instanceof ActivityFailure || err instanceof ChildWorkflowFailure ? err.cause : err;
  return c instanceof Error ? c.message : String(c);
}

export async function healingEpisode(input: HealingInput): Promise<EpisodeResult> {
  const { workflowId: episodeId, taskQueue } = workflowInfo();
  const base: EpisodeResult = {
    outcome: 'failed',
    episodeId,
    pipeline: input.pipeline,
    attempts: [],
    specVersion: input.specVersion,
    doctor: null,
    patch: null,
    rowsLoaded: 0,
    rowsQuarantined: 0,
    mttrMs: null,
    error: null,
  };

  let result;
  try {
    result = await executeChild(healAttempt, {
      workflowId: `${episodeId}-attempt`,
      taskQueue,
      args: [input],
      retry: { ...ATTEMPT_RETRY, maximumAttempts: input.maxAttempts, nonRetryableErrorTypes: [...EPISODE_FATAL_ERROR_TYPES] },
    });
  } catch (err) {
    const c = err instanceof ChildWorkflowFailure ? err.cause : undefined;
    const attempts: AttemptRecord[] = c instanceof ApplicationFailure ? ((c.details?.[0] as AttemptFailureDetails | undefined)?.attempts ?? []) : [];
    const reasons = attempts.map((a) => `attempt ${a.attempt} (${a.doctor}): ${a.error ?? 'failed'}`);
    return fail({ ...base, attempts, error: reasons.length ? reasons.join(' | ') : message(err) });
  }

  const reason = `healed drift (${input.drift.kinds.join(', ')}) with ${result.doctor}`;
  await quick.applyVersion({ pipeline: input.pipeline, version: result.candidateVersion, episodeId, reason });
  let load;
  try {
    load = await etl.loadSource({ pipeline: input.pipeline, specVersion: result.candidateVersion, runId: `${episodeId}/apply`, source: input.source });
  } catch (err) {
    await quick.rollbackVersion({
      pipeline: input.pipeline,
      version: input.specVersion,
      episodeId,
      reason: `rollback: the load with v${result.candidateVersion} failed: ${message(err).slice(0, 200)}`,
    });
    return fail({
      ...base,
      outcome: 'rolled-back',
      attempts: result.attempts,
      doctor: result.doctor,
      patch: result.patch,
      error: `applied v${result.candidateVersion}, but the load failed (${message(err)}); rolled back to v${input.specVersion}`,
    });
  }
  try {
    await quick.rememberFix({ pipeline: input.pipeline, drift: input.drift, baseVersion: input.specVersion, patch: result.patch, doctor: result.doctor, episodeId });
  } catch {
    // Fix memory only saves a later diagnosis: the table is healed either way.
  }
  return {
    ...base,
    outcome: 'healed',
    attempts: result.attempts,
    specVersion: result.candidateVersion,
    doctor: result.doctor,
    patch: result.patch,
    rowsLoaded: load.rowsLoaded,
    rowsQuarantined: load.rowsQuarantined,
    mttrMs: input.drift.detectedAt ? Math.max(0, Date.parse(load.committedAt) - Date.parse(input.drift.detectedAt)) : null,
  };
}

/** End the episode as failed (visible as Failed in the Web UI), with the result as the details. */
function fail(result: EpisodeResult): never {
  throw ApplicationFailure.create({ type: HEALING_FAILED, message: result.error ?? 'healing failed', nonRetryable: true, details: [result] });
}
