/**
 * `healAttempt`: one attempt of a healing episode — diagnose → proposePatch → verifyPatch.
 * The episode starts it as a child workflow with a retry policy, so every attempt is its own run
 * (its own history in the Web UI). A failed verification fails the run with the patch and the
 * report in the failure's details; the next run reads them from `workflowInfo().lastFailure` and
 * gives them to the doctor.
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ERRORS, isErrorType } from '../common/errors';
import { ACTIVITY_PROFILES } from '../common/policies';
import type { Patch } from '../common/patch';
import type { AttemptRecord, AttemptResult, FileNote, HealingInput, PreviousAttempt } from '../common/types';
import { failureOf } from './failures';
import type { Progress } from './messages';
import { trackProgress } from './progress';

const heal = proxyActivities<Pick<Activities, 'diagnose' | 'proposePatch'>>(ACTIVITY_PROFILES.doctor);
const verify = proxyActivities<Pick<Activities, 'verifyPatch'>>(ACTIVITY_PROFILES.etl);

/** Failure details of a failed attempt: every attempt so far (this one last). */
export interface AttemptFailureDetails {
  attempts: AttemptRecord[];
}

/** The attempts recorded by earlier runs of this child workflow (carried in the last failure). */
export function earlierAttempts(): AttemptRecord[] {
  const last = workflowInfo().lastFailure;
  if (!(last instanceof ApplicationFailure)) return [];
  const d = last.details?.[0] as Partial<AttemptFailureDetails> | undefined;
  return Array.isArray(d?.attempts) ? d.attempts : [];
}

/** Does a failure of this type end the episode (no other attempt can fix it)? From the error table. */
function endsEpisode(type: string): boolean {
  return isErrorType(type) && ERRORS[type].endsEpisode;
}

/** The attempt's progress; every detail of an attempt starts with "attempt n/N: ". */
function attemptProgress(input: HealingInput, episodeId: string, attempt: number, startTime: Date) {
  const of = `attempt ${attempt}/${input.maxAttempts}`;
  const tracked = trackProgress({
    workflow: 'healAttempt',
    pipeline: input.pipeline,
    stage: 'diagnosing',
    detail: `${of}: diagnosing`,
    key: episodeId,
    attempt,
    maxAttempts: input.maxAttempts,
    startedAt: startTime.toISOString(),
  });
  return (stage: string, detail: string, extra: Partial<Progress> = {}) =>
    tracked.step(stage, `${of}: ${detail}`, extra);
}

/**
 * Which files a many-file verification reads: those the drift was found in (a glob may match more
 * by now), without those set aside, judged against the run's other files when there are peers.
 */
function verifyScope(input: HealingInput, patch: Patch, asideFiles: string[]) {
  return {
    ...(input.drift.sources.length > 1 ? { files: input.drift.sources, patch } : {}),
    ...(asideFiles.length ? { exclude: asideFiles } : {}),
    ...(input.allowPartial ? { allowPartial: true } : {}),
    ...(input.peers ? { peers: input.peers, patch } : {}),
  };
}

export async function healAttempt(input: HealingInput): Promise<AttemptResult> {
  const { attempt, parent, startTime } = workflowInfo();
  const episodeId = parent?.workflowId ?? workflowInfo().workflowId;
  const of = `attempt ${attempt}/${input.maxAttempts}`;
  const step = attemptProgress(input, episodeId, attempt, startTime);
  const earlier = earlierAttempts();
  const previous: PreviousAttempt[] = earlier.map((a) => ({
    attempt: a.attempt,
    doctor: a.doctor,
    patch: a.patch,
    report: a.report,
    error: a.error ?? '',
  }));
  const failAttempt = (rec: AttemptRecord, type: string, nonRetryable: boolean): never => {
    throw ApplicationFailure.create({
      type,
      message: `attempt ${attempt}: ${rec.error ?? 'failed'}`,
      nonRetryable,
      details: [{ attempts: [...earlier, rec] } satisfies AttemptFailureDetails],
    });
  };
  /** Fail this attempt with an activity's failure: its type (a fatal one ends the episode) and what was known. */
  const failWith = (err: unknown, known: Partial<AttemptRecord>, nonRetryable?: boolean): never => {
    const c = failureOf(err);
    const {
      files,
      doctor = 'none',
      usage,
    } = (c.details[0] ?? {}) as Pick<AttemptRecord, 'usage'> & {
      files?: FileNote[];
      doctor?: string;
    };
    const rec: AttemptRecord = {
      ...{ attempt, doctor, patch: null, candidateVersion: null, report: null, error: c.message },
      ...(files?.length ? { setAside: files } : {}),
      ...(usage ? { usage } : {}),
      ...known,
    };
    return failAttempt(rec, c.type, nonRetryable ?? endsEpisode(c.type));
  };

  let diagnosis;
  step('diagnosing', previous.length ? `diagnosing (${previous.length} earlier attempt(s) fed back)` : 'diagnosing');
  try {
    diagnosis = await heal.diagnose.executeWithOptions({ summary: `${of}: diagnose ${input.drift.kinds.join(', ')}` }, [
      {
        pipeline: input.pipeline,
        specVersion: input.specVersion,
        drift: input.drift,
        source: input.source,
        previous,
        ...(input.allowPartial ? { allowPartial: true } : {}),
      },
    ]);
  } catch (err) {
    return failWith(err, {});
  }
  const setAside = diagnosis.setAside ?? [];
  const asideFiles = setAside.map((n) => n.file);

  const usage = diagnosis.usage ? { usage: diagnosis.usage } : {};
  let candidateVersion: number;
  step('proposing', `${diagnosis.doctor} proposed ${diagnosis.patch.length} op(s); validating`);
  try {
    ({ candidateVersion } = await heal.proposePatch.executeWithOptions(
      { summary: `${of}: validate the ${diagnosis.doctor} patch as a candidate version` },
      [
        {
          pipeline: input.pipeline,
          baseVersion: input.specVersion,
          patch: diagnosis.patch,
          doctor: diagnosis.doctor,
          rationale: diagnosis.rationale,
          episodeId,
          attempt,
        },
      ],
    ));
  } catch (err) {
    return failWith(err, { doctor: diagnosis.doctor, patch: diagnosis.patch, ...usage }, false);
  }

  step('verifying', `verifying candidate v${candidateVersion}`, { candidateVersion });
  let report;
  try {
    report = await verify.verifyPatch.executeWithOptions(
      { summary: `${of}: verify candidate v${candidateVersion} on the whole source` },
      [
        {
          pipeline: input.pipeline,
          candidateVersion,
          source: input.source,
          episodeId,
          attempt,
          ...verifyScope(input, diagnosis.patch, asideFiles),
        },
      ],
    );
  } catch (err) {
    // A verification that could not run (the source went away, the state is unwritable) fails the
    // attempt with its own type, so a fatal one ends the episode and the next attempt hears why.
    return failWith(err, { doctor: diagnosis.doctor, patch: diagnosis.patch, candidateVersion, ...usage });
  }
  const rec: AttemptRecord = {
    attempt,
    doctor: diagnosis.doctor,
    patch: diagnosis.patch,
    candidateVersion,
    report,
    error: report.passed ? null : `verification failed: ${report.summary}`,
    ...usage,
    ...(setAside.length ? { setAside } : {}),
  };
  step(
    report.passed ? 'verified' : 'failed',
    report.passed
      ? `candidate v${candidateVersion} verified`
      : `candidate v${candidateVersion} failed: ${report.summary}`,
  );
  if (!report.passed) return failAttempt(rec, 'VerificationFailed', false);
  return {
    attempt,
    candidateVersion,
    doctor: diagnosis.doctor,
    patch: diagnosis.patch,
    rationale: diagnosis.rationale,
    report,
    attempts: [...earlier, rec],
    ...(setAside.length ? { setAside } : {}),
    ...(diagnosis.policies?.length ? { policies: diagnosis.policies } : {}),
  };
}
