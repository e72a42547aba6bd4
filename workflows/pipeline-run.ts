/**
 * `pipelineRun`: one run of a pipeline. Loads the source with the current spec; when the source
 * has drifted, the run fails with the classified drift report and the table untouched.
 * (Healing episodes start here once they land.)
 *
 * Deterministic: activities are imported as types only; no clock, randomness or I/O.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities, PipelineInfo } from '../activities';
import { ACTIVITY_PROFILES } from '../common/policies';
import { DRIFT_KINDS, HEAL_OUTCOME, PIPELINE_NAME, SPEC_VERSION } from '../common/search-attributes';
import type { DriftReport, PipelineRunInput, PipelineRunResult } from '../common/types';

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
    if (report) upsertSearchAttributes([{ key: DRIFT_KINDS, value: report.kinds }]);
    return fail({ ...known, driftReport: report, error: { type: f.type, message: f.message } });
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
