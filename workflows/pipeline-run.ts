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
import type { Activities } from '../activities';
import type { PipelineInfo } from '../common/contracts';
import { episodeIdOf, runKeyOf } from '../common/ids';
import { ACTIVITY_PROFILES, HEALING_PRIORITY } from '../common/policies';
import { DRIFT_KINDS, HEAL_OUTCOME, PIPELINE_NAME, SPEC_VERSION } from '../common/search-attributes';
import { runFiles, setAsideLine } from '../common/files';
import type {
  DriftReport,
  EpisodeResult,
  FileOutcome,
  LoadSummary,
  PipelineRunInput,
  PipelineRunResult,
} from '../common/types';
import type { ErrorType } from '../common/errors';
import { healingEpisode } from './healing-episode';
import { PARTITIONED_RUN_FAILED, partitionedRun, type PartitionedRunResult } from './partitioned-run';
import { failureOf, type FailureInfo } from './failures';
import { episodeStageSignal, type Progress } from './messages';
import { trackProgress } from './progress';

const quick = proxyActivities<Pick<Activities, 'getPipeline' | 'recordRun'>>(ACTIVITY_PROFILES.quick);
const etl = proxyActivities<Pick<Activities, 'loadSource'>>(ACTIVITY_PROFILES.etl);
const alerts = proxyActivities<Pick<Activities, 'notifyEpisode'>>(ACTIVITY_PROFILES.notify);

/** Failure type of a pipeline run that ended `failed`; its first detail is the {@link PipelineRunResult}. */
export const PIPELINE_FAILED = 'PipelineFailed' satisfies ErrorType;
/** Failure type of a run that ended `partial` (files set aside, the rest loaded); its first detail is the result. */
export const PARTIAL_LOAD = 'PartialLoad' satisfies ErrorType;

/** One line about a drift, for summaries: "users: renamed email → e_mail (+1 more)". */
export function driftLine(report: DriftReport): string {
  return report.summary.length > 160 ? `${report.summary.slice(0, 157)}...` : report.summary;
}

export async function pipelineRun(input: PipelineRunInput): Promise<PipelineRunResult> {
  const { workflowId, runId, startTime } = workflowInfo();
  const runKey = runKeyOf(workflowId, input.pipeline, startTime);
  const step = startProgress(input.pipeline, runKey, startTime);

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
    if (result.outcome === 'partial') await alertPartial(result, input.pipeline, runKey, workflowId, episode);
    if (result.outcome === 'failed' || result.outcome === 'partial')
      fail(
        result,
        result.outcome === 'partial' ? 'partial' : episode?.outcome === 'rolled-back' ? 'rolled-back' : 'failed',
      );
    return result;
  };

  step('loading', 'reading the pipeline spec');
  let info: PipelineInfo;
  try {
    info = await quick.getPipeline.executeWithOptions({ summary: `read the current spec of ${input.pipeline}` }, [
      { pipeline: input.pipeline },
    ]);
  } catch (err) {
    const f = failureOf(err);
    return finish({ ...base, error: { type: f.type, message: f.message } });
  }
  upsertSearchAttributes([{ key: SPEC_VERSION, value: info.specVersion }]);
  const known = { ...base, table: info.table, warehouse: info.warehouse, specVersion: info.specVersion };
  const source = input.source ?? info.source;

  if (input.partitioned)
    return finish(await fanOut(input.pipeline, source, `${runKey}-parts`, known, allowsPartial(info)));

  step('loading', `loading ${source} into ${info.table} with spec v${info.specVersion}`);
  const allowPartial = allowsPartial(info);
  const load = (exclude: string[] = []) =>
    etl.loadSource.executeWithOptions(
      {
        summary: `load ${info.table} with spec v${info.specVersion}${exclude.length ? ` without ${exclude.length} file(s) set aside` : ''}`,
      },
      [
        {
          pipeline: input.pipeline,
          specVersion: info.specVersion,
          runId: runKey,
          ...(input.source ? { source: input.source } : {}),
          ...(exclude.length ? { exclude } : {}),
          ...(allowPartial ? { allowPartial } : {}),
        },
      ],
    );
  try {
    const loaded = await load();
    const files = loaded.files && loaded.files.length > 1 ? runFiles({ loaded: loaded.files }) : undefined;
    if (!loaded.setAside?.length) upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'succeeded' }]);
    return finish(
      settle(
        {
          ...known,
          outcome: 'succeeded',
          rowsLoaded: loaded.rowsLoaded,
          rowsQuarantined: loaded.rowsQuarantined,
          ...(loaded.skipped ? { skipped: true } : {}),
        },
        files,
        loaded.partitionKeys,
      ),
    );
  } catch (err) {
    const f = failureOf(err);
    const report = f.type === 'SchemaDrift' ? ((f.details[0] as DriftReport | undefined) ?? null) : null;
    if (!report) return finish({ ...known, error: { type: f.type, message: f.message }, ...budgetFiles(f) });
    upsertSearchAttributes([{ key: DRIFT_KINDS, value: report.kinds }]);
    const episodeId = episodeIdOf(runKey);
    step('healing', `drift: ${driftLine(report)}; healing in ${episodeId}`, { childId: episodeId });
    episode = await heal(
      info,
      report,
      source,
      episodeId,
      input.review ? 'review' : info.mode,
      workflowId,
      allowPartial,
    );
    return finish(await settleEpisode({ known, report, episode, allowPartial, load, step, table: info.table }));
  }
}

/** Progress for `heal run`/`heal status`, the episode's stage signal, and the first search attributes. */
function startProgress(pipeline: string, runKey: string, startTime: Date): Step {
  const { progress, step } = trackProgress({
    workflow: 'pipelineRun',
    pipeline,
    stage: 'starting',
    detail: 'starting',
    key: runKey,
    startedAt: startTime.toISOString(),
  });
  setHandler(episodeStageSignal, ({ stage }) => {
    upsertSearchAttributes([{ key: HEAL_OUTCOME, value: stage }]);
    step(
      stage,
      stage === 'awaiting-approval'
        ? `healing: a verified fix awaits approval (${progress.childId ?? 'episode'})`
        : 'healing: applying the fix',
    );
  });
  upsertSearchAttributes([
    { key: PIPELINE_NAME, value: pipeline },
    { key: HEAL_OUTCOME, value: 'running' },
  ]);
  return step;
}

type Step = (stage: string, detail: string, extra?: Partial<Progress>) => void;

/** What {@link settleEpisode} needs of the run: its known result, the drift and the episode, how to load again. */
interface EpisodeEnd {
  known: PipelineRunResult;
  report: DriftReport;
  episode: EpisodeResult;
  allowPartial: boolean;
  load: (exclude?: string[]) => Promise<LoadSummary>;
  step: Step;
  table: string;
}

/**
 * The run's result after its healing episode: healed (every file, or partial with some set aside),
 * or not healed — then, in a many-file run that may end partial, the files that fit are loaded
 * without those that could not be healed.
 */
async function settleEpisode({
  known,
  report,
  episode,
  allowPartial,
  load,
  step,
  table,
}: EpisodeEnd): Promise<PipelineRunResult> {
  const attempts = episode.attempts.length;
  const common = {
    ...known,
    driftReport: report,
    attempts,
    episodeId: episode.episodeId,
    doctor: episode.doctor,
    mttrMs: episode.mttrMs,
    ...(episode.policies?.length ? { policies: episode.policies } : {}),
    ...(episode.decision !== undefined ? { decision: episode.decision } : {}),
    ...(episode.pullRequest?.prUrl ? { prUrl: episode.pullRequest.prUrl } : {}),
  };
  const multi = report.sources.length > 1;
  if (episode.outcome !== 'healed') {
    const type: ErrorType = episode.outcome === 'rejected' ? 'FixRejected' : 'HealingFailed';
    const error = { type, message: `${report.summary}; not healed: ${episode.error ?? 'failed'}` };
    const aside = episode.setAside ?? [];
    // Some files of a many-file source could not be healed, the others fit: set those aside and load the rest.
    if (multi && allowPartial && episode.outcome === 'failed' && aside.length && aside.length < report.sources.length) {
      step('loading', `loading ${table} without the ${aside.length} file(s) that could not be healed`);
      try {
        const rest = await load(aside.map((n) => n.file));
        const files = runFiles({ loaded: rest.files, setAside: [...aside, ...rest.setAside], drift: report });
        return settle(
          { ...common, outcome: 'succeeded', rowsLoaded: rest.rowsLoaded, rowsQuarantined: rest.rowsQuarantined },
          files,
          rest.partitionKeys,
        );
      } catch (e) {
        return {
          ...common,
          error: { type: failureOf(e).type, message: failureOf(e).message },
          partitions: runFiles({ setAside: aside, drift: report, held: true }),
        };
      }
    }
    return {
      ...common,
      error,
      ...(multi ? { partitions: runFiles({ setAside: aside, drift: report, held: true }) } : {}),
    };
  }
  upsertSearchAttributes([
    { key: HEAL_OUTCOME, value: 'healed' },
    { key: SPEC_VERSION, value: episode.specVersion },
  ]);
  const files = episode.files
    ? runFiles({ loaded: episode.files, setAside: episode.setAside ?? [], drift: report })
    : undefined;
  return settle(
    {
      ...common,
      outcome: 'healed',
      specVersion: episode.specVersion,
      rowsLoaded: episode.rowsLoaded,
      rowsQuarantined: episode.rowsQuarantined,
      patch: episode.patch,
    },
    files,
    episode.partitionKeys,
  );
}

/** Alert a partial run: the files set aside and why (a failed alert never changes the run). */
async function alertPartial(
  result: PipelineRunResult,
  pipeline: string,
  runKey: string,
  workflowId: string,
  episode: EpisodeResult | null,
): Promise<void> {
  const files = result.partitions ?? [];
  const kinds = result.driftReport?.kinds ?? [...new Set(files.flatMap((f) => f.driftKinds ?? []))];
  try {
    await alerts.notifyEpisode.executeWithOptions({ summary: `alert: ${pipeline} partial` }, [
      {
        pipeline,
        episodeId: runKey,
        runId: workflowId,
        outcome: 'partial',
        drift: { summary: result.error?.message ?? 'files set aside', kinds },
        patch: result.patch ?? null,
        doctor: result.doctor ?? null,
        report: null,
        attempts: result.attempts,
        maxAttempts: episode?.attempts.length ?? result.attempts,
        baseVersion: result.driftReport?.specVersion ?? result.specVersion ?? 0,
        candidateVersion: null,
        specVersion: result.specVersion ?? 0,
        mttrMs: result.mttrMs ?? null,
        prUrl: result.prUrl ?? null,
        error: `${result.rowsLoaded} rows loaded from ${files.filter((f) => f.outcome === 'loaded' || f.outcome === 'healed').length} of ${files.length} files; ${result.error?.message ?? ''}`,
        at: new Date().toISOString(),
        setAside: files
          .filter((f) => f.outcome === 'set-aside')
          .map((f) => ({ file: f.file, reason: f.reason ?? 'set aside' })),
      },
    ]);
  } catch {
    // An alert that did not go out is in the alert log (heal metrics, the dashboard); the run's outcome stands.
  }
}

/** May this run end partial (files set aside, the rest loaded)? Appends and merges always; a replace by its policy. */
function allowsPartial(info: PipelineInfo): boolean {
  return info.loadMode === 'append' || info.loadMode === 'merge' || info.partial === 'load-and-flag';
}

/**
 * A loaded run's final outcome: `partial` when any file was set aside (never green), with every
 * file in `partitions`; as it was otherwise.
 */
function settle(
  result: PipelineRunResult,
  files: FileOutcome[] | undefined,
  partitionKeys: string[] | undefined,
): PipelineRunResult {
  if (!files) return result;
  const withFiles = { ...result, partitions: files, ...(partitionKeys?.length ? { partitionKeys } : {}) };
  if (!files.some((f) => f.outcome === 'set-aside')) return withFiles;
  return { ...withFiles, outcome: 'partial', error: { type: PARTIAL_LOAD, message: setAsideLine(files) } };
}

/** A refused many-file load over the quarantine budget: the file that was over it, and the others held. */
function budgetFiles(f: FailureInfo): Pick<PipelineRunResult, 'partitions'> {
  if (f.type !== 'QuarantineBudgetExceeded') return {};
  const d = f.details[0] as { file?: string; files?: string[] } | undefined;
  if (!d?.file) return {};
  const none = { rowsRead: 0, rowsLoaded: 0, rowsQuarantined: 0 };
  return {
    partitions: (d.files ?? [d.file]).map((file): FileOutcome =>
      file === d.file
        ? { file, outcome: 'set-aside', ...none, reason: f.message }
        : { file, outcome: 'held', ...none, reason: 'not loaded: another file of the run was refused' },
    ),
  };
}

/** Run the healing episode as a child workflow; a failed episode's result comes back from its failure. */
async function heal(
  info: PipelineInfo,
  drift: DriftReport,
  source: string,
  episodeId: string,
  mode: 'auto' | 'review',
  runId: string,
  allowPartial: boolean,
): Promise<EpisodeResult> {
  upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'healing' }]);
  try {
    return await executeChild(healingEpisode, {
      workflowId: episodeId,
      taskQueue: workflowInfo().taskQueue,
      priority: HEALING_PRIORITY,
      staticSummary: `heal ${info.pipeline} (v${info.specVersion}, ${mode}): ${driftLine(drift)}`,
      staticDetails: driftDetails(drift),
      args: [
        {
          pipeline: info.pipeline,
          specVersion: info.specVersion,
          drift,
          source,
          maxAttempts: info.maxAttempts,
          mode,
          approvalTimeoutMs: info.approvalTimeoutMs,
          runId,
          ...(allowPartial && drift.sources.length > 1 ? { allowPartial } : {}),
        },
      ],
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
 * shape and value checks and healing, then one merge checked as a whole (see `partitionedRun`). A
 * partition that cannot be loaded or healed is set aside: the run is `partial` (or `failed`, with
 * the table untouched, when the spec refuses a partial replace).
 */
async function fanOut(
  pipeline: string,
  source: string,
  childId: string,
  known: PipelineRunResult,
  allowPartial: boolean,
): Promise<PipelineRunResult> {
  setCurrentDetails(`loading the partitions of ${source} (fan-out in ${childId})`);
  let r: PartitionedRunResult | undefined;
  let error: string | null = null;
  try {
    r = await executeChild(partitionedRun, {
      workflowId: childId,
      taskQueue: workflowInfo().taskQueue,
      staticSummary: `partitions of ${pipeline}: ${source}`,
      args: [{ pipeline, source, ...(allowPartial ? { allowPartial } : {}) }],
    });
  } catch (err) {
    const c = err instanceof ChildWorkflowFailure ? err.cause : undefined;
    r = c instanceof ApplicationFailure ? (c.details?.[0] as PartitionedRunResult | undefined) : undefined;
    error = c?.message ?? (err instanceof Error ? err.message : String(err));
  }
  const merged = r !== undefined && r.outcome !== 'failed';
  const files: FileOutcome[] = [
    ...(r?.partitions ?? []).map((p): FileOutcome => ({
      file: p.file,
      outcome:
        p.outcome === 'set-aside' ? 'set-aside' : !merged ? 'held' : p.outcome === 'healed' ? 'healed' : 'loaded',
      rowsRead: p.rowsRead,
      rowsLoaded: merged && p.outcome !== 'set-aside' ? p.rowsLoaded : 0,
      rowsQuarantined: merged && p.outcome !== 'set-aside' ? p.rowsQuarantined : 0,
      workflowId: p.workflowId,
      ...(p.error
        ? { reason: p.error }
        : !merged && p.outcome !== 'set-aside'
          ? { reason: 'not merged: the run failed' }
          : {}),
      ...(p.driftKinds.length ? { driftKinds: p.driftKinds } : {}),
      ...(p.specVersion !== known.specVersion ? { specVersion: p.specVersion } : {}),
    })),
    ...(r?.skipped ?? []).map((file): FileOutcome => ({
      file,
      outcome: 'skipped',
      rowsRead: 0,
      rowsLoaded: 0,
      rowsQuarantined: 0,
      reason: 'this content was loaded by an earlier run',
    })),
  ].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const withFiles = {
    ...known,
    partitions: files,
    fanOutId: childId,
    ...(r?.partitionKeys?.length ? { partitionKeys: r.partitionKeys } : {}),
  };
  if (!r || !merged)
    return {
      ...withFiles,
      error: { type: PARTITIONED_RUN_FAILED, message: r?.error ?? error ?? 'no partition loaded' },
    };
  const outcome = r.partitions.some((p) => p.outcome === 'healed') ? 'healed' : 'succeeded';
  const result = settle(
    {
      ...withFiles,
      outcome,
      rowsLoaded: r.rowsLoaded,
      rowsQuarantined: r.rowsQuarantined,
      ...(r.partitions.length === 0 ? { skipped: true } : {}),
    },
    files,
    r.partitionKeys,
  );
  if (result.outcome !== 'partial') upsertSearchAttributes([{ key: HEAL_OUTCOME, value: result.outcome }]);
  return result;
}

/** The drift report as Markdown for the Web UI's details panel (bounded). */
export function driftDetails(drift: DriftReport): string {
  const lines = [
    `**Drift** in \`${drift.pipeline}\` (spec v${drift.specVersion}): ${drift.kinds.join(', ')}`,
    '',
    ...drift.sources.slice(0, 5).map((s) => `- source: \`${s}\``),
    '',
  ];
  for (const d of drift.differences.slice(0, 20))
    lines.push(`- **${d.kind}**${d.column ? ` \`${d.column}\`` : ''}: ${d.detail.slice(0, 200)}`);
  if (drift.differences.length > 20) lines.push(`- … ${drift.differences.length - 20} more`);
  return lines.join('\n');
}

/**
 * End the run as failed or partial: visible as Failed in the Web UI (a partial load is not a
 * success), with the result as the failure's details.
 */
function fail(result: PipelineRunResult, outcome: 'failed' | 'rolled-back' | 'partial'): never {
  upsertSearchAttributes([{ key: HEAL_OUTCOME, value: outcome }]);
  throw ApplicationFailure.create({
    type: outcome === 'partial' ? PARTIAL_LOAD : PIPELINE_FAILED,
    message: result.error ? `${result.pipeline}: ${result.error.message}` : `${result.pipeline}: failed`,
    nonRetryable: true,
    details: [result],
  });
}
