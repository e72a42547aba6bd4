/**
 * `pipelineRun`: one run of a pipeline. Loads the source with the current spec; when the source
 * has drifted, it starts a `healingEpisode` child workflow (id `<run id>-heal`), which finds,
 * verifies and applies a fix and reloads; if healing fails, the run fails with the drift report
 * and the table untouched.
 *
 * Deterministic: activities are imported as types only; no clock, randomness or I/O.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  executeChild,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, PipelineInfo } from '../activities';
import { ACTIVITY_PROFILES } from '../common/policies';
import { DRIFT_KINDS, HEAL_OUTCOME, PIPELINE_NAME, SPEC_VERSION } from '../common/search-attributes';
import type { DriftReport, EpisodeResult, PipelineRunInput, PipelineRunResult } from '../common/types';
import { healingEpisode } from './healing-episode';

const quick = proxyActivities<Pick<Activities, 'getPipeline'>>(ACTIVITY_PROFILES.quick);
const etl = proxyActivities<Pick<Activities, 'loadSource'>>(ACTIVITY_PROFILES.etl);

/** Failure type of a pipeline run that ended `failed`; its first detail is the {@link PipelineRunResult}. */
export const PIPELINE_FAILED = 'PipelineFailed';

function failureOf(err: unknown): { type: string; message: string; details: unknown[] } {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    return { type: cause.type ?? 'Error', message: cause.message, details: [...(cause.details ?? [])] };
  }
  return { type: 'Error', message: err instanceof Error ? err.message : String(err), details: [] };
}

export async function pipelineRun(input: PipelineRunInput): Promise<PipelineRunResult> {
  const { workflowId } = workflowInfo();
  upsertSearchAttributes([
    { key: PIPELINE_NAME, value: input.pipeline },
    { key: HEAL_OUTCOME, value: 'running' },
  ]);
  const base: PipelineRunResult = {
    outcome: 'failed',
    workflowId,
    pipeline: input.pipeline,
    table: null,
    warehouse: null,
    rowsLoaded: 0,
    rowsQuarantined: 0,
    specVersion: null,
    attempts: 0,
    driftReport: null,
    error: null,
  };

  let info: PipelineInfo;
  try {
    info = await quick.getPipeline({ pipeline: input.pipeline });
  } catch (err) {
    const f = failureOf(err);
    return fail({ ...base, error: { type: f.type, message: f.message } });
  }
  upsertSearchAttributes([{ key: SPEC_VERSION, value: info.specVersion }]);
  const known = { ...base, table: info.table, warehouse: info.warehouse, specVersion: info.specVersion };

  try {
    const load = await etl.loadSource({
      pipeline: input.pipeline,
      specVersion: info.specVersion,
      runId: workflowId,
      ...(input.source ? { source: input.source } : {}),
    });
    upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'succeeded' }]);
    return {
      ...known,
      outcome: 'succeeded',
      rowsLoaded: load.rowsLoaded,
      rowsQuarantined: load.rowsQuarantined,
      ...(load.skipped ? { skipped: true } : {}),
    };
  } catch (err) {
    const f = failureOf(err);
    const report = f.type === 'SchemaDrift' ? ((f.details[0] as DriftReport | undefined) ?? null) : null;
    if (!report) return fail({ ...known, error: { type: f.type, message: f.message } });
    upsertSearchAttributes([{ key: DRIFT_KINDS, value: report.kinds }]);
    const episode = await heal(info, report, input.source ?? info.source);
    const attempts = episode.attempts.length;
    const common = { ...known, driftReport: report, attempts, episodeId: episode.episodeId, doctor: episode.doctor, mttrMs: episode.mttrMs };
    if (episode.outcome !== 'healed') {
      return fail({ ...common, error: { type: 'HealingFailed', message: `${report.summary}; not healed: ${episode.error ?? 'failed'}` } });
    }
    upsertSearchAttributes([
      { key: HEAL_OUTCOME, value: 'healed' },
      { key: SPEC_VERSION, value: episode.specVersion },
    ]);
    return {
      ...common,
      outcome: 'healed',
      specVersion: episode.specVersion,
      rowsLoaded: episode.rowsLoaded,
      rowsQuarantined: episode.rowsQuarantined,
      patch: episode.patch,
    };
  }
}

/** Run the healing episode as a child workflow; a failed episode's result comes back from its failure. */
async function heal(info: PipelineInfo, drift: DriftReport, source: string): Promise<EpisodeResult> {
  upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'healing' }]);
  try {
    return await executeChild(healingEpisode, {
      workflowId: `${workflowInfo().workflowId}-heal`,
      taskQueue: workflowInfo().taskQueue,
      args: [{ pipeline: info.pipeline, specVersion: info.specVersion, drift, source, maxAttempts: info.maxAttempts }],
    });
  } catch (err) {
    const c = err instanceof ChildWorkflowFailure ? err.cause : undefined;
    const r = c instanceof ApplicationFailure ? (c.details?.[0] as EpisodeResult | undefined) : undefined;
    if (r && typeof r === 'object' && 'outcome' in r) return r;
    return {
      outcome: 'failed',
      episodeId: `${workflowInfo().workflowId}-heal`,
      pipeline: info.pipeline,
      attempts: [],
      specVersion: info.specVersion,
      doctor: null,
      patch: null,
      rowsLoaded: 0,
      rowsQuarantined: 0,
      mttrMs: null,
      error: c?.message ?? (err instanceof Error ? err.message : String(err)),
    };
  }
}

/** End the run as failed: visible as Failed in the Web UI, with the result as the failure's details. */
function fail(result: PipelineRunResult): never {
  upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'failed' }]);
  throw ApplicationFailure.create({
    type: PIPELINE_FAILED,
    message: result.error ? `${result.pipeline}: ${result.error.message}` : `${result.pipeline}: failed`,
    nonRetryable: true,
    details: [result],
  });
}
