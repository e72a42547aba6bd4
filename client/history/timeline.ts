/**
 * The timeline of a pipeline run / healing episode, built from parsed histories only (no side
 * database): the drift report, each attempt (doctor, patch, verification checks with figures, why
 * it failed), the approval decision, the outcome, the spec versions, durations, and the events of
 * every execution merged in time order. `heal inspect --json` prints the {@link Timeline} object;
 * {@link formatTimeline} renders it for people.
 */
import { describeOp, type Patch } from '../../common/patch';
import { describeDecisions, type PolicyDecision } from '../../common/policy';
import type {
  ApprovalDecision,
  AttemptRecord,
  AttemptResult,
  DriftReport,
  EpisodeResult,
  HealingInput,
  PipelineRunResult,
  VerificationCheck,
  VerificationReport,
} from '../../common/types';
import { formatDuration } from '../../common/duration';
import type { ActivityExecution, ExecutionStatus, ParsedExecution } from './parse';

/** The executions behind one timeline. */
export interface TimelineSources {
  /** The execution that was asked for. */
  root: ParsedExecution;
  /** The pipeline run (when the root is a run, or known). */
  run: ParsedExecution | null;
  /** The healing episode. */
  episode: ParsedExecution | null;
  /** The attempt runs (one workflow id, one run per attempt), in any order. */
  attempts: ParsedExecution[];
}

export interface TimelineCheck {
  name: string;
  passed: boolean;
  figure: string;
  threshold: string | null;
  detail: string | null;
}

export interface TimelineAttempt {
  attempt: number;
  /** Run id of this attempt's execution (null when known only from the episode's record). */
  runId: string | null;
  status: ExecutionStatus | 'recorded';
  doctor: string | null;
  patch: Patch | null;
  /** The patch, one line per op (`describeOp`). */
  patchText: string[];
  /** What `healing.policy` made of the patch, one line per decision (`describeDecisions`). */
  policies: string[];
  /** Why the doctor proposed the patch (its evidence, one line each), from the diagnosis; [] when not in the history. */
  rationale: string[];
  /** The doctor's confidence in the patch (0–1); null when not in the history. */
  confidence: number | null;
  candidateVersion: number | null;
  /** The verification's one-line summary. */
  verification: string | null;
  checks: TimelineCheck[];
  /** Why it failed (null when it succeeded or is still running). */
  error: string | null;
  /** Model tokens (LLM doctor). */
  usage: { promptTokens: number; completionTokens: number; model: string } | null;
  /** Start → close of this attempt's run (null while running or unknown). */
  durationMs: number | null;
  activities: TimelineActivity[];
}

export interface TimelineActivity {
  /** "run", "episode", "attempt 2". */
  in: string;
  name: string;
  summary: string | null;
  status: ActivityExecution['status'];
  /** Scheduled → completed / failed (null while open). */
  durationMs: number | null;
  /** Attempt of the last start (retries). */
  tries: number;
  error: string | null;
}

export interface TimelineDecision {
  mode: 'auto' | 'review';
  /** approved / rejected / timed-out (a reject) / awaiting (no decision yet) / none (never asked). */
  status: 'approved' | 'rejected' | 'timed-out' | 'awaiting' | 'none';
  decision: ApprovalDecision | null;
  /** How long the episode would wait (the approval timer). */
  timeoutMs: number | null;
  /** When the wait started / ended (ISO). */
  waitStartedAt: string | null;
  waitEndedAt: string | null;
  waitedMs: number | null;
  /** `decide` Updates in the history (accepted ones; a rejected request is recorded only if the server kept it). */
  updates: {
    updateId: string;
    input: unknown;
    accepted: boolean;
    result: unknown;
    error: string | null;
    at: string | null;
  }[];
}

export interface TimelineEvent {
  at: string;
  /** Milliseconds since the first execution started. */
  offsetMs: number;
  /** "run", "episode", "attempt 2", or the workflow type. */
  in: string;
  workflowId: string;
  runId: string;
  eventId: number;
  type: string;
  text: string;
}

export interface Timeline {
  workflowId: string;
  runId: string;
  type: string;
  status: ExecutionStatus;
  pipeline: string | null;
  run: { workflowId: string; runId: string; status: ExecutionStatus | null; runKey: string | null } | null;
  episode: { workflowId: string; runId: string; status: ExecutionStatus } | null;
  drift: DriftReport | null;
  attempts: TimelineAttempt[];
  maxAttempts: number | null;
  decision: TimelineDecision | null;
  /** succeeded / healed / failed / rolled-back / rejected / awaiting-approval / running / terminated / canceled / timed-out (an attempt alone: verified / failed). */
  outcome: string;
  /** Why it did not heal or succeed (one line), null otherwise. */
  error: string | null;
  specVersion: { before: number | null; candidate: number | null; after: number | null; rolledBack: boolean };
  rows: { loaded: number; quarantined: number } | null;
  durations: {
    totalMs: number;
    /** Drift detected → healed table committed. */
    mttrMs: number | null;
    attemptsMs: (number | null)[];
    approvalWaitMs: number | null;
    activities: TimelineActivity[];
  };
  events: TimelineEvent[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const iso = (ms: number | null | undefined): string | null => (ms ? new Date(ms).toISOString() : null);

function activityView(a: ActivityExecution, where: string): TimelineActivity {
  return {
    in: where,
    name: a.name,
    summary: a.summary,
    status: a.status,
    durationMs: a.closedMs != null ? a.closedMs - a.scheduledMs : null,
    tries: a.attempt,
    error: a.failure ? `${a.failure.type ? `${a.failure.type}: ` : ''}${a.failure.message}` : null,
  };
}

function checksOf(report: VerificationReport | null | undefined): TimelineCheck[] {
  return (report?.checks ?? []).map((c: VerificationCheck) => ({
    name: c.name,
    passed: c.passed,
    figure: c.figure,
    threshold: c.threshold ?? null,
    detail: c.detail ?? null,
  }));
}

function patchText(patch: Patch | null | undefined): string[] {
  return (patch ?? []).map((op) => {
    try {
      return describeOp(op);
    } catch {
      return JSON.stringify(op);
    }
  });
}

/** Attempt records carried by a failure detail or a result (`{ attempts: AttemptRecord[] }`). */
function recordsIn(v: unknown): AttemptRecord[] {
  return isObj(v) && Array.isArray(v['attempts']) ? (v['attempts'] as AttemptRecord[]) : [];
}

/** The attempt records an execution carries: its failure details or its result. */
function recordsOf(x: ParsedExecution | null): AttemptRecord[] {
  if (!x) return [];
  const fromFailure = recordsIn(x.failure?.details);
  return fromFailure.length ? fromFailure : recordsIn(x.result);
}

/** The episode's result, from its completion or its failure's details. */
function episodeResultOf(ep: ParsedExecution | null): EpisodeResult | null {
  if (!ep) return null;
  const r = ep.status === 'completed' ? ep.result : ep.failure?.details;
  return isObj(r) && 'outcome' in r ? (r as unknown as EpisodeResult) : null;
}

function runResultOf(run: ParsedExecution | null): PipelineRunResult | null {
  if (!run) return null;
  const r = run.status === 'completed' ? run.result : run.failure?.details;
  return isObj(r) && 'outcome' in r && 'pipeline' in r ? (r as unknown as PipelineRunResult) : null;
}

function attemptFromRun(x: ParsedExecution, fallback: AttemptRecord | undefined): TimelineAttempt {
  const rec =
    recordsOf(x).find((r) => r.attempt === x.attempt) ??
    (isObj(x.result) && 'report' in x.result
      ? ({ ...(x.result as unknown as AttemptResult), error: null } as unknown as AttemptRecord)
      : undefined) ??
    fallback;
  const diagnose = x.activities.find((a) => a.name === 'diagnose' && a.status === 'completed');
  const propose = x.activities.find((a) => a.name === 'proposePatch' && a.status === 'completed');
  const verify = x.activities.find((a) => a.name === 'verifyPatch' && a.status === 'completed');
  const diag = isObj(diagnose?.result) ? diagnose.result : {};
  const report = rec?.report ?? (isObj(verify?.result) ? (verify.result as unknown as VerificationReport) : null);
  const patch = rec?.patch ?? (Array.isArray(diag['patch']) ? (diag['patch'] as Patch) : null);
  const failedActivity = [...x.activities].reverse().find((a) => a.status === 'failed' || a.status === 'timed-out');
  let error = rec?.error ?? null;
  if (!error && x.status === 'failed') error = failedActivity?.failure?.message ?? x.failure?.message ?? 'failed';
  if (!error && (x.status === 'terminated' || x.status === 'canceled' || x.status === 'timed-out'))
    error = `${x.status}${x.closeReason ? `: ${x.closeReason}` : ''}`;
  const usage = rec?.usage ?? (isObj(diag['usage']) ? (diag['usage'] as TimelineAttempt['usage']) : null);
  return {
    attempt: x.attempt,
    runId: x.runId || null,
    status: x.status,
    doctor: rec?.doctor ?? (typeof diag['doctor'] === 'string' ? diag['doctor'] : null),
    patch,
    patchText: patchText(patch),
    policies: Array.isArray(diag['policies']) ? describeDecisions(diag['policies'] as PolicyDecision[]) : [],
    rationale: Array.isArray(diag['rationale']) ? diag['rationale'].map(String) : [],
    confidence: typeof diag['confidence'] === 'number' ? diag['confidence'] : null,
    candidateVersion:
      rec?.candidateVersion ??
      (isObj(propose?.result) && typeof propose.result['candidateVersion'] === 'number'
        ? propose.result['candidateVersion']
        : null),
    verification: report?.summary ?? null,
    checks: checksOf(report),
    error,
    usage: usage ?? null,
    durationMs: x.endMs != null ? x.endMs - x.startMs : null,
    activities: x.activities.map((a) => activityView(a, `attempt ${x.attempt}`)),
  };
}

function attemptFromRecord(r: AttemptRecord): TimelineAttempt {
  return {
    attempt: r.attempt,
    runId: null,
    status: 'recorded',
    doctor: r.doctor,
    patch: r.patch,
    patchText: patchText(r.patch),
    policies: [],
    rationale: [],
    confidence: null,
    candidateVersion: r.candidateVersion,
    verification: r.report?.summary ?? null,
    checks: checksOf(r.report),
    error: r.error,
    usage: r.usage ?? null,
    durationMs: null,
    activities: [],
  };
}

function decisionOf(
  ep: ParsedExecution,
  input: Partial<HealingInput>,
  result: EpisodeResult | null,
): TimelineDecision | null {
  const mode = input.mode ?? 'auto';
  const decides = ep.updates.filter((u) => u.name === 'decide');
  const timer =
    ep.timers.find((t) => (t.summary ?? '').startsWith('approval')) ?? (mode === 'review' ? ep.timers[0] : undefined);
  if (mode !== 'review' && !timer && decides.length === 0) return null;
  const fromUpdate = decides.map((u) => u.result).find((r): r is ApprovalDecision => isObj(r) && 'decision' in r);
  const decision = result?.decision ?? fromUpdate ?? null;
  const ended = timer ? (timer.firedMs ?? timer.canceledMs) : null;
  let status: TimelineDecision['status'] = 'none';
  if (decision)
    status = decision.via === 'timeout' ? 'timed-out' : decision.decision === 'approve' ? 'approved' : 'rejected';
  else if (timer?.firedMs) status = 'timed-out';
  else if (timer && ep.status === 'running') status = 'awaiting';
  return {
    mode,
    status,
    decision,
    timeoutMs: timer?.timeoutMs ?? input.approvalTimeoutMs ?? null,
    waitStartedAt: iso(timer?.startedMs),
    waitEndedAt: iso(ended),
    waitedMs: timer ? (ended ?? ep.endMs ?? ep.lastEventMs) - timer.startedMs : null,
    updates: decides.map((u) => ({
      updateId: u.updateId,
      input: u.input,
      accepted: u.acceptedMs != null,
      result: u.result ?? null,
      error: u.failure?.message ?? null,
      at: iso(u.acceptedMs ?? u.rejectedMs),
    })),
  };
}

/** What the phases of {@link buildTimeline} read: the executions at hand and what they recorded. */
interface BuildContext {
  root: ParsedExecution;
  run: ParsedExecution | null;
  episode: ParsedExecution | null;
  runResult: PipelineRunResult | null;
  epResult: EpisodeResult | null;
  /** The healing input (empty when no execution carries one). */
  epInput: Partial<HealingInput>;
}

/** The drift report: the episode was given it; without the episode, the run's failed load or result still has it. */
function driftOf(c: BuildContext): DriftReport | null {
  const driftLoad = c.run?.activities.find((a) => a.name === 'loadSource' && a.failure?.type === 'SchemaDrift');
  return (
    (isObj(c.epInput.drift) ? c.epInput.drift : null) ??
    (isObj(driftLoad?.failure?.details) ? (driftLoad.failure.details as unknown as DriftReport) : null) ??
    c.runResult?.driftReport ??
    null
  );
}

/** One attempt per attempt run; attempts known only from records (their histories missing) still show. */
function attemptsOf(c: BuildContext, runs: ParsedExecution[]): TimelineAttempt[] {
  const records = new Map<number, AttemptRecord>();
  const attemptChild = c.episode?.children.find((ch) => ch.type === 'healAttempt');
  const known = [
    ...(c.epResult?.attempts ?? []),
    ...recordsIn(attemptChild?.failure?.details),
    ...recordsIn(attemptChild?.result),
    ...runs.flatMap(recordsOf),
  ];
  for (const r of known) {
    if (isObj(r) && typeof r.attempt === 'number') records.set(r.attempt, r);
  }
  const byAttempt = new Map<number, TimelineAttempt>();
  for (const x of [...runs].sort((a, b) => a.attempt - b.attempt || a.startMs - b.startMs))
    byAttempt.set(x.attempt, attemptFromRun(x, records.get(x.attempt)));
  for (const [n, r] of records) if (!byAttempt.has(n)) byAttempt.set(n, attemptFromRecord(r));
  return [...byAttempt.values()].sort((a, b) => a.attempt - b.attempt);
}

/** With only the run's history at hand, its result still records the decision (but not the wait). */
function decisionFromRunResult(runResult: PipelineRunResult | null): TimelineDecision | null {
  const d = runResult?.decision;
  if (!d) return null;
  const status = d.via === 'timeout' ? 'timed-out' : d.decision === 'approve' ? 'approved' : 'rejected';
  return {
    mode: 'review',
    status,
    decision: d,
    timeoutMs: null,
    waitStartedAt: null,
    waitEndedAt: null,
    waitedMs: null,
    updates: [],
  };
}

/** The current version trusts the episode's result, then a version applied and not rolled back, then the run's. */
function specVersionsOf(
  c: BuildContext,
  drift: DriftReport | null,
  attempts: TimelineAttempt[],
): Timeline['specVersion'] {
  const { run, episode, epInput, epResult, runResult } = c;
  const pipelineInfo = run?.activities.find((a) => a.name === 'getPipeline' && a.status === 'completed')?.result;
  const before =
    typeof epInput.specVersion === 'number'
      ? epInput.specVersion
      : isObj(pipelineInfo) && typeof pipelineInfo['specVersion'] === 'number'
        ? pipelineInfo['specVersion']
        : (drift?.specVersion ?? null);
  const applied = episode?.activities.find((a) => a.name === 'applyVersion' && a.status === 'completed');
  const rolledBack = Boolean(episode?.activities.some((a) => a.name === 'rollbackVersion' && a.status === 'completed'));
  const candidate =
    epResult?.candidateVersion ??
    attempts.find((a) => a.error === null && a.candidateVersion != null && a.checks.length > 0)?.candidateVersion ??
    null;
  let after: number | null = before;
  if (epResult) after = epResult.specVersion;
  else if (applied && !rolledBack && isObj(applied.input))
    after = typeof applied.input['version'] === 'number' ? applied.input['version'] : before;
  else if (runResult?.specVersion != null) after = runResult.specVersion;
  return { before, candidate, after, rolledBack };
}

/** Recorded results outrank statuses, the episode's outrank the run's; a bare execution speaks for itself. */
function outcomeOf(c: BuildContext, decision: TimelineDecision | null): { outcome: string; error: string | null } {
  const { episode, epResult, runResult } = c;
  if (epResult) return { outcome: epResult.outcome, error: epResult.error };
  if (episode && episode.status !== 'completed' && episode.status !== 'failed') {
    if (episode.status === 'running')
      return { outcome: decision?.status === 'awaiting' ? 'awaiting-approval' : 'running', error: null };
    return {
      outcome: episode.status,
      error: `episode ${episode.status}${episode.closeReason ? `: ${episode.closeReason}` : ''}`,
    };
  }
  if (runResult) return { outcome: runResult.outcome, error: runResult.error?.message ?? null };
  const main = episode ?? c.run ?? c.root;
  const outcome = main.status === 'completed' ? (main.type === 'healAttempt' ? 'verified' : 'succeeded') : main.status;
  let error: string | null = null;
  if (main.failure) error = main.failure.message;
  else if (main.status === 'terminated' || main.status === 'canceled')
    error = `${main.status}${main.closeReason ? `: ${main.closeReason}` : ''}`;
  return { outcome, error };
}

/** Rows of the load that counts: the episode's reload (the healed table) over the run's own load. */
function rowsOf(c: BuildContext): Timeline['rows'] {
  const { run, episode, epResult, runResult } = c;
  const loaded = (x: ParsedExecution | null) =>
    x?.activities.find((a) => a.name === 'loadSource' && a.status === 'completed')?.result;
  const reload = loaded(episode);
  const runLoad = loaded(run);
  if (epResult) return { loaded: epResult.rowsLoaded, quarantined: epResult.rowsQuarantined };
  if (isObj(reload))
    return { loaded: Number(reload['rowsLoaded'] ?? 0), quarantined: Number(reload['rowsQuarantined'] ?? 0) };
  if (runResult) return { loaded: runResult.rowsLoaded, quarantined: runResult.rowsQuarantined };
  if (isObj(runLoad))
    return { loaded: Number(runLoad['rowsLoaded'] ?? 0), quarantined: Number(runLoad['rowsQuarantined'] ?? 0) };
  return null;
}

/** The pipeline's name from whichever input names it: the healing input, the run's, else the root's. */
function pipelineOf(c: BuildContext): string | null {
  const runInput = isObj(c.run?.input) ? c.run.input : {};
  return (
    (typeof c.epInput.pipeline === 'string' ? c.epInput.pipeline : null) ??
    (typeof runInput['pipeline'] === 'string' ? runInput['pipeline'] : null) ??
    (isObj(c.root.input) && typeof c.root.input['pipeline'] === 'string' ? c.root.input['pipeline'] : null)
  );
}

/** The run: its history when at hand, else the episode's parent (whose run key is the episode id minus `-heal`). */
function runRefOf(c: BuildContext): Timeline['run'] {
  const { run, episode } = c;
  if (run)
    return {
      workflowId: run.workflowId,
      runId: run.runId,
      status: run.status,
      runKey: c.runResult?.runKey ?? (episode ? episode.workflowId.replace(/-heal$/, '') : null),
    };
  if (episode?.parent)
    return {
      workflowId: episode.parent.workflowId,
      runId: episode.parent.runId,
      status: null,
      runKey: episode.workflowId.replace(/-heal$/, ''),
    };
  return null;
}

/** The episode: its history when at hand, else the run's child (one not yet started counts as running). */
function episodeRefOf(c: BuildContext): Timeline['episode'] {
  const { run, episode } = c;
  if (episode) return { workflowId: episode.workflowId, runId: episode.runId, status: episode.status };
  const child = run?.children.find((ch) => ch.type === 'healingEpisode') ?? null;
  if (!child) return null;
  return {
    workflowId: child.workflowId,
    runId: child.runId ?? '',
    status: child.status === 'initiated' || child.status === 'start-failed' ? 'running' : child.status,
  };
}

/** Names each execution as the reader knows it (run, episode, attempt n), as events of all of them are merged. */
function executionLabel(c: BuildContext): (x: ParsedExecution) => string {
  return (x) =>
    x === c.run ? 'run' : x === c.episode ? 'episode' : x.type === 'healAttempt' ? `attempt ${x.attempt}` : x.type;
}

/** Events of every execution on one clock (offsets from `t0`), in time order; event ids break ties. */
function mergedEvents(all: ParsedExecution[], label: (x: ParsedExecution) => string, t0: number): TimelineEvent[] {
  return all
    .flatMap((x) =>
      x.events.map((e) => ({
        at: new Date(e.ms).toISOString(),
        offsetMs: e.ms - t0,
        in: label(x),
        workflowId: x.workflowId,
        runId: x.runId,
        eventId: e.eventId,
        type: e.type,
        text: e.text,
      })),
    )
    .sort((a, b) => a.offsetMs - b.offsetMs || a.eventId - b.eventId);
}

/** Build the timeline of a run or an episode from its parsed executions. */
export function buildTimeline(src: TimelineSources, now: number = Date.now()): Timeline {
  const { root, run, episode } = src;
  const epResult = episodeResultOf(episode);
  // The healing input: the episode's, else an attempt's (same input), when only attempts are at hand.
  const healingInput =
    episode?.input ?? src.attempts[0]?.input ?? (root.type === 'healAttempt' ? root.input : undefined);
  const epInput: Partial<HealingInput> = isObj(healingInput) ? (healingInput as Partial<HealingInput>) : {};
  const c: BuildContext = { root, run, episode, runResult: runResultOf(run), epResult, epInput };

  const drift = driftOf(c);
  const attempts = attemptsOf(c, src.attempts);
  const decision = episode ? decisionOf(episode, epInput, epResult) : decisionFromRunResult(c.runResult);
  const { outcome, error } = outcomeOf(c, decision);

  const label = executionLabel(c);
  const all = [...new Set([root, ...(run ? [run] : []), ...(episode ? [episode] : []), ...src.attempts])];
  const t0 = Math.min(...all.map((x) => x.startMs).filter((n) => n > 0));
  // Attempt runs' steps come from their attempts (already labelled), after everyone else's.
  const activities = all
    .filter((x) => x.type !== 'healAttempt')
    .flatMap((x) => x.activities.map((a) => activityView(a, label(x))));
  activities.push(...attempts.flatMap((a) => a.activities));
  const endOf = (x: ParsedExecution) => x.endMs ?? (x.status === 'running' ? now : x.lastEventMs);
  const end = Math.max(endOf(root), ...all.map(endOf));

  return {
    workflowId: root.workflowId,
    runId: root.runId,
    type: root.type,
    status: root.status,
    pipeline: pipelineOf(c),
    run: runRefOf(c),
    episode: episodeRefOf(c),
    drift,
    attempts,
    maxAttempts: typeof epInput.maxAttempts === 'number' ? epInput.maxAttempts : null,
    decision,
    outcome,
    error,
    specVersion: specVersionsOf(c, drift, attempts),
    rows: rowsOf(c),
    durations: {
      totalMs: Math.max(0, end - t0),
      mttrMs: epResult?.mttrMs ?? c.runResult?.mttrMs ?? null,
      attemptsMs: attempts.map((a) => a.durationMs),
      approvalWaitMs: decision?.waitedMs ?? null,
      activities,
    },
    events: mergedEvents(all, label, t0),
  };
}

// ---------------------------------------------------------------------------------------------
// Human rendering

export interface FormatOptions {
  /** Mark passed/failed with ✔ / ✖ and colours (the caller decides about TTYs). */
  paint?: {
    green: (s: string) => string;
    red: (s: string) => string;
    yellow: (s: string) => string;
    dim: (s: string) => string;
    bold: (s: string) => string;
  };
  /** Include the full event list. @default true */
  events?: boolean;
}

const plain = (s: string): string => s;

type Paint = NonNullable<FormatOptions['paint']>;

/** Names the kind of execution in words and says where it sits (its run, its episode) when it is not that itself. */
function headerLines(t: Timeline, p: Paint): string[] {
  const what =
    t.type === 'healingEpisode'
      ? 'healing episode'
      : t.type === 'pipelineRun'
        ? 'pipeline run'
        : t.type === 'healAttempt'
          ? 'healing attempt'
          : t.type;
  const L = [`${p.bold(what)} ${t.workflowId}${t.runId ? p.dim(` (run ${t.runId})`) : ''} — ${t.status}`];
  const start = t.events[0]?.at;
  L.push(
    `  pipeline: ${t.pipeline ?? '?'}${start ? `   started ${start}` : ''}   total ${formatDuration(t.durations.totalMs, 'compact')}${t.status === 'running' ? ' so far' : ''}`,
  );
  if (t.run && t.type !== 'pipelineRun')
    L.push(p.dim(`  run:      ${t.run.workflowId}${t.run.runId ? ` (run ${t.run.runId})` : ''}`));
  if (t.episode && t.type !== 'healingEpisode')
    L.push(p.dim(`  episode:  ${t.episode.workflowId} (run ${t.episode.runId}) — ${t.episode.status}`));
  return L;
}

/** Shows the first 20 differences and 3 sources (the rest is in --json); a run without drift says so. */
function driftLines(t: Timeline, p: Paint): string[] {
  if (!t.drift) return t.type === 'pipelineRun' ? ['', 'No drift: the source fit the spec.'] : [];
  const { drift } = t;
  const L = ['', p.bold(`Drift`) + ` (spec v${drift.specVersion}; ${drift.kinds.join(', ')})`, `  ${drift.summary}`];
  for (const d of drift.differences.slice(0, 20)) {
    const rate = d.failureRate != null ? ` [${(d.failureRate * 100).toFixed(1)}% of values]` : '';
    L.push(`   - ${d.kind}${d.column ? ` ${d.column}` : ''}: ${d.detail}${rate}`);
  }
  if (drift.differences.length > 20) L.push(`   … ${drift.differences.length - 20} more (use --json)`);
  if (drift.sources.length)
    L.push(
      p.dim(
        `  source: ${drift.sources.slice(0, 3).join(', ')}${drift.sources.length > 3 ? ` (+${drift.sources.length - 3})` : ''}`,
      ),
    );
  return L;
}

/** An attempt's verdict: an error means failed even with checks; passing checks mean verified. */
function attemptVerdict(a: TimelineAttempt, p: Paint): string {
  return a.status === 'running'
    ? p.yellow('… running')
    : a.error
      ? p.red('✖ failed')
      : a.checks.length
        ? p.green('✔ verified')
        : a.status === 'completed'
          ? p.green('✔')
          : a.status;
}

/** Failed checks carry their detail (the reason to read on); passed ones only their figures. */
function attemptLines(a: TimelineAttempt, maxAttempts: number | null, p: Paint): string[] {
  const of = maxAttempts ? `/${maxAttempts}` : '';
  const L = [
    '',
    `${p.bold(`Attempt ${a.attempt}${of}`)} — ${a.doctor && a.doctor !== 'none' ? `${a.doctor} doctor` : 'no doctor had a fix'}${a.durationMs != null ? `, ${formatDuration(a.durationMs, 'compact')}` : ''}  ${attemptVerdict(a, p)}`,
  ];
  if (a.usage)
    L.push(
      p.dim(`  model ${a.usage.model}: ${a.usage.promptTokens} prompt + ${a.usage.completionTokens} completion tokens`),
    );
  if (a.patchText.length) {
    L.push(`  patch${a.candidateVersion != null ? ` (candidate v${a.candidateVersion})` : ''}:`);
    for (const line of a.patchText) L.push(`   + ${line}`);
  }
  if (a.rationale.length) {
    L.push(`  why${a.confidence != null ? ` (confidence ${a.confidence.toFixed(2)})` : ''}:`);
    for (const line of a.rationale) L.push(p.dim(`   · ${line}`));
  }
  for (const line of a.policies) L.push(`  policy ${line}`);
  if (a.checks.length) {
    L.push(`  verification: ${a.verification ?? ''}`);
    for (const c of a.checks) {
      const mark = c.passed ? p.green('✔') : p.red('✖');
      L.push(
        `   ${mark} ${c.name}: ${c.figure}${c.threshold ? ` (threshold ${c.threshold})` : ''}${!c.passed && c.detail ? ` — ${c.detail}` : ''}`,
      );
    }
  }
  if (a.error) L.push(`  why it failed: ${a.error}`);
  const acts = a.activities
    .filter((x) => x.durationMs != null)
    .map((x) => `${x.name} ${formatDuration(x.durationMs ?? 0, 'compact')}${x.tries > 1 ? ` (${x.tries} tries)` : ''}`);
  if (acts.length) L.push(p.dim(`  steps: ${acts.join(', ')}`));
  return L;
}

/** A pending decision tells the reader how to make it and what silence means (a reject after the timeout). */
function decisionLines(d: TimelineDecision, episode: Timeline['episode'], p: Paint): string[] {
  const L = ['', p.bold('Approval') + ` (${d.mode} mode)`];
  if (d.decision) {
    const verb =
      d.status === 'timed-out' ? 'timed out → rejected' : d.decision.decision === 'approve' ? 'approved' : 'rejected';
    L.push(
      `  ${verb} by ${d.decision.by} via ${d.decision.via} at ${d.decision.at}${d.decision.reason ? `: ${d.decision.reason}` : ''}`,
    );
  } else if (d.status === 'awaiting') {
    L.push(
      `  awaiting a decision since ${d.waitStartedAt ?? '?'}${d.timeoutMs != null ? ` (times out after ${formatDuration(d.timeoutMs, 'compact')}, then counts as rejected)` : ''}`,
    );
    if (episode)
      L.push(
        `  decide with: heal approve ${episode.workflowId}   or   heal reject ${episode.workflowId} --reason TEXT`,
      );
  } else if (d.status === 'timed-out') {
    L.push(`  no decision within ${formatDuration(d.timeoutMs ?? 0, 'compact')}: rejected`);
  } else {
    L.push('  not asked (no verified fix reached the approval step)');
  }
  if (d.waitedMs != null && d.status !== 'awaiting')
    L.push(
      p.dim(
        `  waited ${formatDuration(d.waitedMs, 'compact')}${d.timeoutMs != null ? ` of ${formatDuration(d.timeoutMs, 'compact')}` : ''}`,
      ),
    );
  for (const u of d.updates)
    L.push(
      p.dim(
        `  update ${u.updateId}: ${JSON.stringify(u.input)} → ${u.error ? `error: ${u.error}` : u.accepted ? 'accepted' : 'rejected'}`,
      ),
    );
  return L;
}

/** Says which spec version is current now, and rows only when the table was actually (re)loaded. */
function outcomeLines(t: Timeline, p: Paint): string[] {
  const v = t.specVersion;
  const mark =
    t.outcome === 'healed' || t.outcome === 'succeeded'
      ? p.green(t.outcome)
      : t.outcome === 'running' || t.outcome === 'awaiting-approval'
        ? p.yellow(t.outcome)
        : p.red(t.outcome);
  const L = ['', p.bold('Outcome'), `  ${mark}${t.error ? `: ${t.error}` : ''}`];
  if (t.outcome === 'healed') L.push(`  spec v${v.before ?? '?'} → v${v.after ?? '?'} applied`);
  else if (v.rolledBack)
    L.push(
      `  candidate v${v.candidate ?? '?'} was applied, then rolled back: v${v.after ?? v.before ?? '?'} is current`,
    );
  else if (t.outcome !== 'running' && t.outcome !== 'awaiting-approval' && v.before != null)
    L.push(
      `  spec version unchanged: v${v.after ?? v.before}${v.candidate != null ? ` (candidate v${v.candidate} not applied)` : ''}`,
    );
  if (t.rows && (t.outcome === 'healed' || t.outcome === 'succeeded'))
    L.push(`  ${t.rows.loaded} rows loaded, ${t.rows.quarantined} quarantined`);
  return L;
}

/** Lists steps outside the attempts one per line (each attempt already listed its own). */
function durationLines(dur: Timeline['durations'], p: Paint): string[] {
  const ms = (n: number) => formatDuration(n, 'compact');
  const parts = [`total ${ms(dur.totalMs)}`];
  if (dur.mttrMs != null) parts.push(`drift → healed table ${ms(dur.mttrMs)}`);
  if (dur.attemptsMs.length) parts.push(`attempts ${dur.attemptsMs.map((x) => (x == null ? '?' : ms(x))).join(', ')}`);
  if (dur.approvalWaitMs != null) parts.push(`approval wait ${ms(dur.approvalWaitMs)}`);
  const L = ['', `${p.bold('Durations')}: ${parts.join('; ')}`];
  for (const a of dur.activities.filter((x) => !x.in.startsWith('attempt')))
    L.push(
      p.dim(
        `  ${a.in.padEnd(8)} ${a.name.padEnd(16)} ${a.durationMs != null ? ms(a.durationMs).padStart(7) : '   open'}  ${a.status}${a.tries > 1 ? ` (${a.tries} tries)` : ''}${a.summary ? `  ${a.summary}` : ''}`,
      ),
    );
  return L;
}

/** The timeline as lines a person can follow, top to bottom. */
export function formatTimeline(t: Timeline, opts: FormatOptions = {}): string {
  const p = opts.paint ?? { green: plain, red: plain, yellow: plain, dim: plain, bold: plain };
  const L = [...headerLines(t, p), ...driftLines(t, p)];
  for (const a of t.attempts) L.push(...attemptLines(a, t.maxAttempts, p));
  if (t.drift && t.attempts.length === 0 && t.episode) L.push('', 'No attempt recorded yet.');
  if (t.decision) L.push(...decisionLines(t.decision, t.episode, p));
  L.push(...outcomeLines(t, p), ...durationLines(t.durations, p));
  if (opts.events !== false && t.events.length) {
    L.push('', p.bold('Events'));
    for (const e of t.events)
      L.push(
        `  ${e.at.slice(11, 23)} ${`+${formatDuration(e.offsetMs, 'compact')}`.padStart(8)}  ${e.in.padEnd(9)} ${e.text}`,
      );
  }
  return L.join('\n');
}
