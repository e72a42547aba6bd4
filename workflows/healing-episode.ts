/**
 * `healingEpisode`: heal a drifted pipeline. Runs `healAttempt` as a child workflow retried by the
 * server (maximumAttempts = the pipeline's healing.maxAttempts); publishes the verified fix (a pull
 * request when GitHub is configured); in `review` mode waits — durably, up to the approval timeout
 * (default 72 h) — for `approve` or `reject` (the `decide` Update, or the pull request merged or
 * closed); then applies the verified version and reloads; if that load fails, the previous version
 * is restored (rollback) and the episode fails. If every attempt fails, or the fix is rejected,
 * nothing changes: the version and the table stay as they were.
 * After a healed load the fix is remembered (`rememberFix`, best effort). Every outcome is alerted
 * (`notifyEpisode`); a failed alert is recorded in the result, never fatal.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { formatDuration } from '../common/duration';
import { DEFAULT_APPROVAL_TIMEOUT_MS } from '../common/defaults';
import { EPISODE_FATAL_ERROR_TYPES } from '../common/errors';
import { attemptIdOf } from '../common/ids';
import { ACTIVITY_PROFILES, ATTEMPT_RETRY } from '../common/policies';
import { DRIFT_KINDS, HEAL_OUTCOME, PIPELINE_NAME, SPEC_VERSION } from '../common/search-attributes';
import type {
  ApprovalDecision,
  AttemptRecord,
  AttemptResult,
  EpisodeNoticeOutcome,
  EpisodeResult,
  HealingInput,
  NotificationRecord,
  PublishFixResult,
} from '../common/types';
import { healAttempt, type AttemptFailureDetails } from './heal-attempt';
import { messageOf } from './failures';
import { decideUpdate, episodeStageSignal, type Progress } from './messages';
import { trackProgress } from './progress';

const quick = proxyActivities<Pick<Activities, 'applyVersion' | 'rollbackVersion' | 'rememberFix'>>(
  ACTIVITY_PROFILES.quick,
);
const etl = proxyActivities<Pick<Activities, 'loadSource'>>(ACTIVITY_PROFILES.etl);
const alerts = proxyActivities<Pick<Activities, 'notifyEpisode'>>(ACTIVITY_PROFILES.notify);
const github = proxyActivities<Pick<Activities, 'publishFix'>>(ACTIVITY_PROFILES.github);
const watch = proxyActivities<Pick<Activities, 'awaitPullRequestDecision'>>(ACTIVITY_PROFILES.watch);

/** Failure type of an episode that did not heal; its first detail is the {@link EpisodeResult}. */
export const HEALING_FAILED = 'HealingFailed';

/** What the phases of one episode share: who it is, its progress, the decision, what was alerted. */
interface Episode {
  input: HealingInput;
  episodeId: string;
  taskQueue: string;
  runId: string;
  mode: 'auto' | 'review';
  progress: Progress;
  step: (stage: string, detail: string, extra?: Partial<Progress>) => void;
  /** The result before anything is known. */
  base: EpisodeResult;
  /** `base.notifications` itself: a result built from `base` lists every alert sent so far. */
  notifications: NotificationRecord[];
  pullRequest: PublishFixResult | null;
  /** The `decide` Update is accepted only while this is set (review mode, after publishing). */
  awaiting: boolean;
  decision?: ApprovalDecision;
}

/** The phases in order; an attempt failure, a rejection or a failed reload ends the episode there (`fail` throws). */
export async function healingEpisode(input: HealingInput): Promise<EpisodeResult> {
  const episode = startEpisode(input);
  acceptDecisions(episode);
  const result = await runAttempts(episode);
  // A policy that says `review` for one of the fix's ops holds it for a human, whatever `healing.mode` says.
  if (result.policies?.some((p) => p.outcome === 'review')) episode.mode = 'review';
  await publish(episode, result);
  if (episode.mode === 'review') await awaitApproval(episode, result);
  return applyAndReload(episode, result);
}

/** Progress, search attributes and the empty result of a new episode. */
function startEpisode(input: HealingInput): Episode {
  const { workflowId: episodeId, taskQueue, startTime, parent } = workflowInfo();
  const { progress, step } = trackProgress({
    workflow: 'healingEpisode',
    pipeline: input.pipeline,
    stage: 'healing',
    detail: 'starting',
    key: episodeId,
    childId: attemptIdOf(episodeId),
    maxAttempts: input.maxAttempts,
    startedAt: startTime.toISOString(),
  });
  upsertSearchAttributes([
    { key: PIPELINE_NAME, value: input.pipeline },
    { key: HEAL_OUTCOME, value: 'healing' },
    { key: DRIFT_KINDS, value: input.drift.kinds },
    { key: SPEC_VERSION, value: input.specVersion },
  ]);
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
    candidateVersion: null,
    notifications: [],
  };
  return {
    input,
    episodeId,
    taskQueue,
    runId: input.runId ?? parent?.workflowId ?? episodeId,
    mode: input.mode ?? 'auto',
    progress,
    step,
    base,
    notifications: base.notifications ?? [],
    pullRequest: null,
    awaiting: false,
  };
}

/**
 * The `decide` Update, registered from the start so that an early or repeated decision, or one in
 * auto mode, is refused with the reason instead of being lost.
 */
function acceptDecisions(episode: Episode): void {
  setHandler(
    decideUpdate,
    (d) => {
      episode.decision = {
        decision: d.decision,
        by: d.by?.trim() || 'cli',
        reason: d.reason?.trim() || null,
        via: 'cli',
        at: new Date().toISOString(),
      };
      return episode.decision;
    },
    {
      validator: (d) => {
        if (d?.decision !== 'approve' && d?.decision !== 'reject') {
          throw ApplicationFailure.create({
            type: 'DecisionRejected',
            message: 'decision must be "approve" or "reject"',
          });
        }
        const { decision, episodeId } = episode;
        if (decision) {
          throw ApplicationFailure.create({
            type: 'DecisionRejected',
            message: `episode ${episodeId} was already ${decision.decision === 'approve' ? 'approved' : 'rejected'} by ${decision.by} (${decision.via}) at ${decision.at}`,
          });
        }
        if (!episode.awaiting) {
          const why =
            episode.mode === 'review'
              ? `it is ${episode.progress.stage}, not awaiting approval yet`
              : 'its pipeline heals in auto mode (no approval needed)';
          throw ApplicationFailure.create({
            type: 'DecisionRejected',
            message: `episode ${episodeId} is not awaiting a decision: ${why}`,
          });
        }
      },
    },
  );
}

/** Alert one outcome; a failure (after the notify policy's retries) is recorded, never fatal. */
async function notify(
  episode: Episode,
  outcome: EpisodeNoticeOutcome,
  r: Partial<EpisodeResult> & { report?: AttemptResult['report'] | null },
): Promise<void> {
  const { input } = episode;
  try {
    const res = await alerts.notifyEpisode.executeWithOptions({ summary: `alert: ${input.pipeline} ${outcome}` }, [
      {
        pipeline: input.pipeline,
        episodeId: episode.episodeId,
        runId: episode.runId,
        outcome,
        drift: { summary: input.drift.summary, kinds: input.drift.kinds },
        patch: r.patch ?? null,
        doctor: r.doctor ?? null,
        ...(r.policies?.length ? { policies: r.policies } : {}),
        report: r.report ?? null,
        attempts: r.attempts?.length ?? 0,
        maxAttempts: input.maxAttempts,
        baseVersion: input.specVersion,
        candidateVersion: r.candidateVersion ?? null,
        specVersion: r.specVersion ?? input.specVersion,
        mttrMs: r.mttrMs ?? null,
        prUrl: episode.pullRequest?.prUrl ?? null,
        error: r.error ?? null,
        at: new Date().toISOString(),
        ...(r.setAside?.length ? { setAside: r.setAside } : {}),
      },
    ]);
    episode.notifications.push({ channel: 'slack', outcome, status: res.status });
  } catch (err) {
    episode.notifications.push({ channel: 'slack', outcome, status: 'failed', error: messageOf(err).slice(0, 300) });
  }
}

/** End the episode as failed (visible as Failed in the Web UI), alerted, with the result as the details. */
async function fail(
  episode: Episode,
  result: EpisodeResult,
  outcome: 'failed' | 'rolled-back' | 'rejected',
): Promise<never> {
  upsertSearchAttributes([{ key: HEAL_OUTCOME, value: outcome }]);
  episode.step('done', `${outcome}: ${(result.error ?? '').slice(0, 160)}`);
  await notify(episode, outcome, result);
  throw ApplicationFailure.create({
    type: HEALING_FAILED,
    message: result.error ?? 'healing failed',
    nonRetryable: true,
    details: [{ ...result, outcome, notifications: episode.notifications, pullRequest: episode.pullRequest }],
  });
}

/** What an episode result says of the verified fix. */
function verifiedOf(
  result: AttemptResult,
): Pick<EpisodeResult, 'attempts' | 'doctor' | 'patch' | 'candidateVersion' | 'policies'> {
  return {
    attempts: result.attempts,
    doctor: result.doctor,
    patch: result.patch,
    candidateVersion: result.candidateVersion,
    ...(result.policies ? { policies: result.policies } : {}),
  };
}

/** 1. Attempts: diagnose → patch → verify, each attempt its own run of the child workflow. */
async function runAttempts(episode: Episode): Promise<AttemptResult> {
  const { input, base } = episode;
  episode.step('attempting', `attempts (up to ${input.maxAttempts}): diagnose → patch → verify`);
  try {
    return await executeChild(healAttempt, {
      workflowId: attemptIdOf(episode.episodeId),
      taskQueue: episode.taskQueue,
      staticSummary: `attempts to heal ${input.pipeline} v${input.specVersion} (up to ${input.maxAttempts})`,
      args: [input],
      retry: {
        ...ATTEMPT_RETRY,
        maximumAttempts: input.maxAttempts,
        nonRetryableErrorTypes: [...EPISODE_FATAL_ERROR_TYPES],
      },
    });
  } catch (err) {
    const c = err instanceof ChildWorkflowFailure ? err.cause : undefined;
    const attempts: AttemptRecord[] =
      c instanceof ApplicationFailure ? ((c.details?.[0] as AttemptFailureDetails | undefined)?.attempts ?? []) : [];
    const reasons = attempts.map((a) => `attempt ${a.attempt} (${a.doctor}): ${a.error ?? 'failed'}`);
    const last = [...attempts].reverse().find((a) => a.report);
    // Files no attempt found a fix for (a many-file source): the run may set them aside.
    const setAside = attempts[attempts.length - 1]?.setAside;
    return fail(
      episode,
      {
        ...base,
        attempts,
        error: reasons.length ? reasons.join(' | ') : messageOf(err),
        ...(last?.report ? { report: last.report } : {}),
        ...(setAside ? { setAside } : {}),
      } as EpisodeResult,
      'failed',
    );
  }
}

/** 2. Publish the verified fix for review (a pull request when GitHub is configured); a failure is recorded. */
async function publish(episode: Episode, result: AttemptResult): Promise<void> {
  const { input, mode } = episode;
  episode.step(
    'publishing',
    `attempt ${result.attempt}/${input.maxAttempts}: candidate v${result.candidateVersion} verified (${result.report.summary})`,
    {
      attempt: result.attempt,
      candidateVersion: result.candidateVersion,
    },
  );
  try {
    episode.pullRequest = await github.publishFix.executeWithOptions(
      { summary: `pull request for v${result.candidateVersion}` },
      [
        {
          pipeline: input.pipeline,
          episodeId: episode.episodeId,
          runId: episode.runId,
          baseVersion: input.specVersion,
          candidateVersion: result.candidateVersion,
          drift: input.drift,
          attempts: result.attempts,
          doctor: result.doctor,
          patch: result.patch,
          report: result.report,
          mode,
        },
      ],
    );
  } catch (err) {
    episode.notifications.push({
      channel: 'github',
      outcome: mode === 'review' ? 'awaiting-approval' : 'healed',
      status: 'failed',
      error: messageOf(err).slice(0, 300),
    });
  }
}

/** "; held by healing.policy (newColumns: review for note)" when a policy, not the mode, asked for review. */
function heldBy(result: AttemptResult): string {
  const held = (result.policies ?? []).filter((p) => p.outcome === 'review');
  return held.length
    ? `; held by healing.policy (${held.map((p) => `${p.drift}: review for ${p.column}`).join(', ')})`
    : '';
}

/**
 * 3. Review mode: wait for a human (the `decide` Update) or the pull request, durably, up to the
 * timeout; no decision in time is a rejection. Returns once approved; a rejection ends the episode.
 */
async function awaitApproval(episode: Episode, result: AttemptResult): Promise<void> {
  const { input, episodeId } = episode;
  const timeoutMs = input.approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
  const since = new Date();
  episode.awaiting = true;
  episode.step(
    'awaiting-approval',
    `candidate v${result.candidateVersion} verified; awaiting approval (heal approve|reject ${episodeId}) for ${formatDuration(timeoutMs)}${heldBy(result)}`,
    {
      awaitingSince: since.toISOString(),
      deadline: new Date(since.getTime() + timeoutMs).toISOString(),
    },
  );
  upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'awaiting-approval' }]);
  await signalParent('awaiting-approval');
  await notify(episode, 'awaiting-approval', { ...verifiedOf(result), report: result.report });

  const watching = new CancellationScope();
  if (episode.pullRequest?.prNumber) {
    const prNumber = episode.pullRequest.prNumber;
    watching
      .run(() =>
        watch.awaitPullRequestDecision.executeWithOptions({ summary: `watch pull request #${prNumber}` }, [
          { pipeline: input.pipeline, episodeId, prNumber },
        ]),
      )
      .then(
        (d) => {
          if (!episode.decision) episode.decision = d;
        },
        (err: unknown) => {
          // Cancelled (a decision came first), or the watch failed for good: the CLI and the timeout still decide.
          if (!isCancellation(err))
            log.warn('watching the pull request failed; waiting for `heal approve|reject` or the timeout', {
              error: messageOf(err),
            });
        },
      );
  }
  const decided = await condition(() => episode.decision !== undefined, timeoutMs, {
    summary: `approval of v${result.candidateVersion} (timeout ${formatDuration(timeoutMs)})`,
  });
  watching.cancel();
  let decision = episode.decision;
  if (!decided || !decision) {
    decision = episode.decision = {
      decision: 'reject',
      by: 'timeout',
      reason: `no decision within ${formatDuration(timeoutMs)}`,
      via: 'timeout',
      at: new Date().toISOString(),
    };
  }
  episode.awaiting = false;
  episode.progress.decision = decision;
  if (decision.decision === 'reject') {
    const why = decision.reason ? `: ${decision.reason}` : '';
    return fail(
      episode,
      {
        ...episode.base,
        ...verifiedOf(result),
        decision,
        error: `fix v${result.candidateVersion} rejected by ${decision.by} (${decision.via})${why}; table and version unchanged`,
      },
      'rejected',
    );
  }
  upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'healing' }]);
  await signalParent('healing');
}

/**
 * 4. Apply the verified version and reload; if the load fails, restore the previous version and
 * end the episode rolled back. A healed load is remembered (best effort) and alerted.
 */
async function applyAndReload(episode: Episode, result: AttemptResult): Promise<EpisodeResult> {
  const { input, episodeId } = episode;
  const verified = verifiedOf(result);
  const exclude = (result.setAside ?? []).map((n) => n.file);
  episode.step('applying', `applying v${result.candidateVersion} and reloading`);
  const reason =
    `healed drift (${input.drift.kinds.join(', ')}) with ${result.doctor}` +
    (episode.decision ? `, approved by ${episode.decision.by}` : '');
  try {
    await quick.applyVersion.executeWithOptions({ summary: `make v${result.candidateVersion} current` }, [
      { pipeline: input.pipeline, version: result.candidateVersion, episodeId, reason },
    ]);
  } catch (err) {
    // Nothing was loaded and the pointer did not move: the episode fails, alerted, with the cause.
    return fail(
      episode,
      {
        ...episode.base,
        ...verified,
        outcome: 'failed',
        ...(episode.decision ? { decision: episode.decision } : {}),
        error: `verified v${result.candidateVersion}, but could not make it current: ${messageOf(err)}`,
      },
      'failed',
    );
  }
  let load;
  try {
    load = await etl.loadSource.executeWithOptions({ summary: `reload with v${result.candidateVersion}` }, [
      {
        pipeline: input.pipeline,
        specVersion: result.candidateVersion,
        runId: `${episodeId}/apply`,
        source: input.source,
        ...(exclude.length ? { exclude } : {}),
        ...(input.allowPartial ? { allowPartial: true } : {}),
      },
    ]);
  } catch (err) {
    episode.step('rolling-back', `the load with v${result.candidateVersion} failed; restoring v${input.specVersion}`);
    await quick.rollbackVersion.executeWithOptions({ summary: `restore v${input.specVersion}` }, [
      {
        pipeline: input.pipeline,
        version: input.specVersion,
        episodeId,
        reason: `rollback: the load with v${result.candidateVersion} failed: ${messageOf(err).slice(0, 200)}`,
      },
    ]);
    return fail(
      episode,
      {
        ...episode.base,
        ...verified,
        outcome: 'rolled-back',
        ...(episode.decision ? { decision: episode.decision } : {}),
        error: `applied v${result.candidateVersion}, but the load failed (${messageOf(err)}); rolled back to v${input.specVersion}`,
      },
      'rolled-back',
    );
  }
  try {
    await quick.rememberFix.executeWithOptions({ summary: 'remember the fix' }, [
      {
        pipeline: input.pipeline,
        drift: input.drift,
        baseVersion: input.specVersion,
        patch: result.patch,
        doctor: result.doctor,
        episodeId,
      },
    ]);
  } catch {
    // Fix memory only saves a later diagnosis: the table is healed either way.
  }
  const healed: EpisodeResult = {
    ...episode.base,
    ...verified,
    outcome: 'healed',
    specVersion: result.candidateVersion,
    rowsLoaded: load.rowsLoaded,
    rowsQuarantined: load.rowsQuarantined,
    mttrMs: input.drift.detectedAt
      ? Math.max(0, Date.parse(load.committedAt) - Date.parse(input.drift.detectedAt))
      : null,
    ...(episode.decision ? { decision: episode.decision } : {}),
    ...(result.setAside?.length || load.setAside?.length
      ? { setAside: [...(result.setAside ?? []), ...(load.setAside ?? [])] }
      : {}),
    ...(load.files && load.files.length > 1 ? { files: load.files, partitionKeys: load.partitionKeys } : {}),
  };
  upsertSearchAttributes([
    { key: HEAL_OUTCOME, value: 'healed' },
    { key: SPEC_VERSION, value: result.candidateVersion },
  ]);
  episode.step(
    'done',
    `healed: v${result.candidateVersion} applied, ${load.rowsLoaded} rows loaded, ${load.rowsQuarantined} quarantined`,
  );
  await notify(episode, 'healed', { ...healed, report: result.report });
  return { ...healed, notifications: episode.notifications, pullRequest: episode.pullRequest };
}

/** Tell the run that started this episode what it waits for (its HealOutcome follows). */
async function signalParent(stage: 'awaiting-approval' | 'healing'): Promise<void> {
  const parent = workflowInfo().parent;
  if (!parent) return;
  try {
    await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(episodeStageSignal, { stage });
  } catch {
    // The run's search attribute is a convenience; the episode's own is authoritative.
  }
}
