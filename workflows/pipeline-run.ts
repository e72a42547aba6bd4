/**
 * `pipelineRun`: one run of a pipeline. Loads the source with the current spec; when the source
 * has drifted, it starts a `healingEpisode` child workflow (`<run key>-heal`), which finds,
 * verifies and applies a fix and reloads; if healing fails, the run fails with the drift report
 * and the table untouched.
 *
 * Visible in the Web UI: search attributes `PipelineName`, `HealOutcome` (running → succeeded /
 * healing → awaiting-approval → healed / failed / rolled-back), `DriftKinds`, `SpecVersion`,
 * upserted as the run progresses; current details at each step; a summary on every activity.
 * The `progress` query answers the same for `heal run` and `heal status`.
 *
 * Deterministic: activities are imported as types only; no clock, randomness or I/O.
 */
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  executeChild,
  proxyActivities,
  setHandler,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, PipelineInfo } from '../activities';
import { episodeIdOf, runKeyOf } from '../common/ids';
import { ACTIVITY_PROFILES } from '../common/policies';
import { DRIFT_KINDS, HEAL_OUTCOME, PIPELINE_NAME, SPEC_VERSION } from '../common/search-attributes';
import type { DriftReport, EpisodeResult, PipelineRunInput, PipelineRunResult } from '../common/types';
import { healingEpisode } from './healing-episode';
import { partitionedRun, type PartitionedRunResult } from './partitioned-run';
import { failureOf } from './failures';
import { episodeStageSignal } from './messages';
import { trackProgress } from './progress';

const quick = proxyActivities<Pick<Activities, 'getPipeline' | 'recordRun'>>(ACTIVITY_PROFILES.quick);
const etl = proxyActivities<Pick<Activities, 'loadSource'>>(ACTIVITY_PROFILES.etl);

/** Failure type of a pipeline run that ended `failed`; its first detail is the {@link PipelineRunResult}. */
export const PIPELINE_FAILED = 'PipelineFailed';

/** One line about a drift, for summaries: "users: renamed email → e_mail (+1 more)". */
export function driftLine(report: DriftReport): string {
  return report.summary.length > 160 ? `${report.summary.slice(0, 157)}...` : report.summary;
}

export async function pipelineRun(input: PipelineRunInput): Promise<PipelineRunResult> {
  const { workflowId, runId, startTime } = workflowInfo();
  const runKey = runKeyOf(workflowId, input.pipeline, startTime);
  const { progress, step } = trackProgress({ workflow: 'pipelineRun', pipeline: input.pipeline, stage: 'starting', detail: 'starting', key: runKey, startedAt: startTime.toISOString() });
  setHandler(episodeStageSignal, ({ stage }) => {
    upsertSearchAttributes([{ key: HEAL_OUTCOME, value: stage }]);
    step(stage, stage === 'awaiting-approval' ? `healing: a verified fix awaits approval (${progress.childId ?? 'episode'})` : 'healing: applying the fix');
  });
  upsertSearchAttributes([
    { key: PIPELINE_NAME, value: input.pipeline },
    { key: HEAL_OUTCOME, value: 'running' },
  ]);

  let episode: EpisodeResult | null = null;
  const base: PipelineRunResult = {
    outcome: 'failed',
    workflowId,
    runId,
    runKey,
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

  /** Record the run for metrics (best effort), then end: return, or fail visibly as Failed. */
  const finish = async (result: PipelineRunResult): Promise<PipelineRunResult> => {
    step('done', `${result.outcome}${result.error ? `: ${result.error.message.slice(0, 120)}` : ''}`);
    try {
      await quick.recordRun.executeWithOptions({ summary: `record ${result.outcome} run for metrics` }, [
        { run: result, startedAt: startTime.toISOString(), finishedAt: new Date().toISOString(), episode },
      ]);
    } catch {
      // Metrics never change a run's outcome.
    }
    if (result.outcome === 'failed') fail(result, episode?.outcome === 'rolled-back' ? 'rolled-back' : 'failed');
    return result;
  };

  step('loading', 'reading the pipeline spec');
  let info: PipelineInfo;
  try {
    info = await quick.getPipeline.executeWithOptions({ summary: `read the current spec of ${input.pipeline}` }, [{ pipeline: input.pipeline }]);
  } catch (err) {
    const f = failureOf(err);
    return finish({ ...base, error: { type: f.type, message: f.message } });
  }
  upsertSearchAttributes([{ key: SPEC_VERSION, value: info.specVersion }]);
  const known = { ...base, table: info.table, warehouse: info.warehouse, specVersion: info.specVersion };
  const source = input.source ?? info.source;

  if (input.partitioned) return finish(await fanOut(input.pipeline, source, `${runKey}-parts`, known));

  step('loading', `loading ${source} into ${info.table} with spec v${info.specVersion}`);
  try {
    const load = await etl.loadSource.executeWithOptions({ summary: `load ${info.table} with spec v${info.specVersion}` }, [
      { pipeline: input.pipeline, specVersion: info.specVersion, runId: runKey, ...(input.source ? { source: input.source } : {}) },
    ]);
    upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'succeeded' }]);
    return finish({
      ...known,
      outcome: 'succeeded',
      rowsLoaded: load.rowsLoaded,
      rowsQuarantined: load.rowsQuarantined,
      ...(load.skipped ? { skipped: true } : {}),
    });
  } catch (err) {
    const f = failureOf(err);
    const report = f.type === 'SchemaDrift' ? ((f.details[0] as DriftReport | undefined) ?? null) : null;
    if (!report) return finish({ ...known, error: { type: f.type, message: f.message } });
    upsertSearchAttributes([{ key: DRIFT_KINDS, value: report.kinds }]);
    const episodeId = episodeIdOf(runKey);
    step('healing', `drift: ${driftLine(report)}; healing in ${episodeId}`, { childId: episodeId });
    episode = await heal(info, report, source, episodeId, input.review ? 'review' : info.mode, workflowId);
    const attempts = episode.attempts.length;
    const common = {
      ...known,
      driftReport: report,
      attempts,
      episodeId: episode.episodeId,
      doctor: episode.doctor,
      mttrMs: episode.mttrMs,
      ...(episode.decision !== undefined ? { decision: episode.decision } : {}),
      ...(episode.pullRequest?.prUrl ? { prUrl: episode.pullRequest.prUrl } : {}),
    };
    if (episode.outcome !== 'healed') {
      const type = episode.outcome === 'rejected' ? 'FixRejected' : 'HealingFailed';
      return finish({ ...common, error: { type, message: `${report.summary}; not healed: ${episode.error ?? 'failed'}` } });
    }
    upsertSearchAttributes([
      { key: HEAL_OUTCOME, value: 'healed' },
      { key: SPEC_VERSION, value: episode.specVersion },
    ]);
    return finish({
      ...common,
      outcome: 'healed',
      specVersion: episode.specVersion,
      rowsLoaded: episode.rowsLoaded,
      rowsQuarantined: episode.rowsQuarantined,
      patch: episode.patch,
    });
  }
}

/** Run the healing episode as a child workflow; a failed episode's result comes back from its failure. */
async function heal(info: PipelineInfo, drift: DriftReport, source: string, episodeId: string, mode: 'auto' | 'review', runId: string): Promise<EpisodeResult> {
  upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'healing' }]);
  try {
    return await executeChild(healingEpisode, {
      workflowId: episodeId,
      taskQueue: workflowInfo().taskQueue,
      staticSummary: `heal ${info.pipeline} (v${info.specVersion}, ${mode}): ${driftLine(drift)}`,
      staticDetails: driftDetails(drift),
      args: [{ pipeline: info.pipeline, specVersion: info.specVersion, drift, source, maxAttempts: info.maxAttempts, mode, approvalTimeoutMs: info.approvalTimeoutMs, runId }],
    });
  } catch (err) {
    const c = err instanceof ChildWorkflowFailure ? err.cause : undefined;
    const r = c instanceof ApplicationFailure ? (c.details?.[0] as EpisodeResult | undefined) : undefined;
    if (r && typeof r === 'object' && 'outcome' in r) return r;
    return {
      outcome: 'failed',
      episodeId,
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

/**
 * A partitioned source (a glob or a directory): one child workflow per partition, each with its own
 * drift check and healing, then one merge (see `partitionedRun`). A partition that cannot be healed
 * is quarantined and reported; the others load.
 */
async function fanOut(pipeline: string, source: string, childId: string, known: PipelineRunResult): Promise<PipelineRunResult> {
  setCurrentDetails(`loading the partitions of ${source} (fan-out in ${childId})`);
  let r: PartitionedRunResult | undefined;
  let error: string | null = null;
  try {
    r = await executeChild(partitionedRun, { workflowId: childId, taskQueue: workflowInfo().taskQueue, staticSummary: `partitions of ${pipeline}: ${source}`, args: [{ pipeline, source }] });
  } catch (err) {
    const c = err instanceof ChildWorkflowFailure ? err.cause : undefined;
    r = c instanceof ApplicationFailure ? (c.details?.[0] as PartitionedRunResult | undefined) : undefined;
    error = c?.message ?? (err instanceof Error ? err.message : String(err));
  }
  const parts = r?.partitions ?? [];
  const summary = {
    total: parts.length,
    healed: parts.filter((p) => p.outcome === 'healed').length,
    quarantined: parts.filter((p) => p.outcome === 'quarantined').length,
    workflowId: childId,
    quarantinedFiles: parts.filter((p) => p.outcome === 'quarantined').map((p) => ({ file: p.file, error: p.error })),
  };
  if (!r || r.outcome === 'failed') {
    return { ...known, partitions: summary, error: { type: 'PartitionedRunFailed', message: r?.error ?? error ?? 'no partition loaded' } };
  }
  const outcome = summary.healed > 0 ? 'healed' : 'succeeded';
  upsertSearchAttributes([{ key: HEAL_OUTCOME, value: r.outcome === 'partial' ? 'partial' : outcome }]);
  return { ...known, outcome, rowsLoaded: r.rowsLoaded, rowsQuarantined: r.rowsQuarantined, partitions: summary };
}

/** The drift report as Markdown for the Web UI's details panel (bounded). */
export function driftDetails(drift: DriftReport): string {
  const lines = [`**Drift** in \`${drift.pipeline}\` (spec v${drift.specVersion}): ${drift.kinds.join(', ')}`, '', ...drift.sources.slice(0, 5).map((s) => `- source: \`${s}\``), ''];
  for (const d of drift.differences.slice(0, 20)) lines.push(`- **${d.kind}**${d.column ? ` \`${d.column}\`` : ''}: ${d.detail.slice(0, 200)}`);
  if (drift.differences.length > 20) lines.push(`- … ${drift.differences.length - 20} more`);
  return lines.join('\n');
}

/** End the run as failed: visible as Failed in the Web UI, with the result as the failure's details. */
function fail(result: PipelineRunResult, outcome: 'failed' | 'rolled-back'): never {
  upsertSearchAttributes([{ key: HEAL_OUTCOME, value: outcome }]);
  throw ApplicationFailure.create({
    type: PIPELINE_FAILED,
    message: result.error ? `${result.pipeline}: ${result.error.message}` : `${result.pipeline}: failed`,
    nonRetryable: true,
    details: [result],
  });
}
