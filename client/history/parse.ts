/**
 * Reading one workflow execution's history (as fetched from Temporal, or loaded from a JSON file
 * with `historyFromJSON`) into a small, typed account: its input and result or failure, each
 * activity (scheduled → closed, with its summary), child workflows, timers, Updates, signals and
 * search-attribute upserts. Payloads are decoded with the default payload converter (json/plain).
 * No I/O: the same function serves `heal inspect` (live) and tests (recorded histories).
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { History } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import { temporalProto } from '../../lib/lazy';
import { formatDuration } from '../../common/duration';

type IEvent = temporal.api.history.v1.IHistoryEvent;
type IPayload = temporal.api.common.v1.IPayload;
type IFailure = temporal.api.failure.v1.IFailure;

export type ExecutionStatus =
  'running' | 'completed' | 'failed' | 'terminated' | 'canceled' | 'timed-out' | 'continued-as-new';

/** A failure as recorded: message, type, first detail (decoded), and the cause chain's messages. */
export interface FailureInfo {
  message: string;
  type: string | null;
  /** The first detail payload of the (innermost application) failure, decoded. */
  details: unknown;
  nonRetryable: boolean;
}

export interface ActivityExecution {
  scheduledEventId: number;
  activityId: string;
  name: string;
  /** The summary the workflow gave when scheduling it (user metadata). */
  summary: string | null;
  input: unknown;
  scheduledMs: number;
  /** Start of the last attempt. */
  startedMs: number | null;
  closedMs: number | null;
  /** Attempt number of the last start (1 = no retry). */
  attempt: number;
  status: 'scheduled' | 'started' | 'completed' | 'failed' | 'timed-out' | 'canceled';
  result: unknown;
  failure: FailureInfo | null;
}

export interface ChildExecution {
  initiatedEventId: number;
  workflowId: string;
  type: string;
  /** The first run's id (null until the child started). */
  runId: string | null;
  summary: string | null;
  input: unknown;
  initiatedMs: number;
  startedMs: number | null;
  closedMs: number | null;
  status: 'initiated' | 'start-failed' | ExecutionStatus;
  result: unknown;
  failure: FailureInfo | null;
}

export interface TimerExecution {
  timerId: string;
  summary: string | null;
  timeoutMs: number;
  startedMs: number;
  firedMs: number | null;
  canceledMs: number | null;
}

export interface UpdateExecution {
  updateId: string;
  name: string;
  input: unknown;
  acceptedMs: number | null;
  rejectedMs: number | null;
  completedMs: number | null;
  result: unknown;
  failure: FailureInfo | null;
}

/** One event worth showing a person (workflow tasks and the like are left out). */
export interface ParsedEvent {
  eventId: number;
  ms: number;
  /** Short event type, e.g. "ActivityTaskScheduled". */
  type: string;
  /** One line about it. */
  text: string;
}

export interface ParsedExecution {
  workflowId: string;
  runId: string;
  type: string;
  status: ExecutionStatus;
  startMs: number;
  /** Time of the closing event (null while running). */
  endMs: number | null;
  /** Time of the last event in the history. */
  lastEventMs: number;
  /** Retry attempt of this run (1 for the first). */
  attempt: number;
  firstExecutionRunId: string | null;
  /** The next run of the same workflow id (retry or continue-as-new), when this run closed into one. */
  nextRunId: string | null;
  parent: { workflowId: string; runId: string } | null;
  summary: string | null;
  input: unknown;
  result: unknown;
  failure: FailureInfo | null;
  /** Reason given when terminated or canceled. */
  closeReason: string | null;
  activities: ActivityExecution[];
  children: ChildExecution[];
  timers: TimerExecution[];
  updates: UpdateExecution[];
  signals: { name: string; input: unknown; ms: number }[];
  /** Search attributes upserted, in order. */
  upserts: { ms: number; attributes: Record<string, unknown> }[];
  events: ParsedEvent[];
}

/** The event type enum (the proto package loads on first use: `heal --help` never needs it). */
const eventTypes = () => temporalProto().temporal.api.enums.v1.EventType;

/** "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" (or its enum number) → "ActivityTaskScheduled". */
export function eventTypeName(t: IEvent['eventType']): string {
  const raw = typeof t === 'number' ? (eventTypes()[t] ?? String(t)) : String(t ?? 'UNSPECIFIED');
  return raw
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

/** Decode one payload (json/plain, binary/null, …); undefined when it cannot be decoded. */
export function decodePayload(p: IPayload | null | undefined): unknown {
  if (!p) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(p as Parameters<typeof defaultPayloadConverter.fromPayload>[0]);
  } catch {
    return undefined;
  }
}

function first(payloads: { payloads?: IPayload[] | null } | null | undefined): unknown {
  return decodePayload(payloads?.payloads?.[0]);
}

function num(v: unknown): number {
  if (v == null) return 0;
  if (typeof v === 'number') return v;
  if (
    typeof v === 'object' &&
    v !== null &&
    'toNumber' in v &&
    typeof (v as { toNumber: unknown }).toNumber === 'function'
  )
    return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

/** Event time in ms (seconds may be a Long from the server or a number from a JSON file). */
function ms(e: IEvent): number {
  const t = e.eventTime;
  if (!t) return 0;
  return num(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

function durationMs(d: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!d) return 0;
  return num(d.seconds) * 1000 + Math.round((d.nanos ?? 0) / 1e6);
}

/** The failure's message, type and first detail; the innermost application failure wins for type/details. */
export function failureInfo(f: IFailure | null | undefined): FailureInfo | null {
  if (!f) return null;
  let app: IFailure | null = null;
  for (let c: IFailure | null | undefined = f; c; c = c.cause) {
    if (c.applicationFailureInfo) {
      app = c;
      break;
    }
  }
  const target = app ?? f;
  return {
    message: target.message ?? f.message ?? '',
    type:
      target.applicationFailureInfo?.type ??
      (f.timeoutFailureInfo
        ? 'Timeout'
        : f.terminatedFailureInfo
          ? 'Terminated'
          : f.canceledFailureInfo
            ? 'Canceled'
            : null),
    details: first(target.applicationFailureInfo?.details),
    nonRetryable: Boolean(target.applicationFailureInfo?.nonRetryable),
  };
}

function summaryOf(e: IEvent): string | null {
  const s = decodePayload(e.userMetadata?.summary);
  return typeof s === 'string' ? s : null;
}

function short(s: string, n = 160): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

/**
 * What the handlers share while walking one history. Later events name what they close by an id
 * (scheduled / initiated / timer-started event id, update id), hence one map per kind.
 */
interface ParseState {
  out: ParsedExecution;
  activities: Map<number, ActivityExecution>;
  children: Map<number, ChildExecution>;
  timers: Map<number, TimerExecution>;
  updates: Map<string, UpdateExecution>;
}

/** `at` is the event's time in ms, computed once by the loop. */
type EventHandler = (s: ParseState, e: IEvent, at: number) => void;

function newExecution(ids: { workflowId: string; runId: string }): ParsedExecution {
  return {
    workflowId: ids.workflowId,
    runId: ids.runId,
    type: 'unknown',
    status: 'running',
    startMs: 0,
    endMs: null,
    lastEventMs: 0,
    attempt: 1,
    firstExecutionRunId: null,
    nextRunId: null,
    parent: null,
    summary: null,
    input: undefined,
    result: undefined,
    failure: null,
    closeReason: null,
    activities: [],
    children: [],
    timers: [],
    updates: [],
    signals: [],
    upserts: [],
    events: [],
  };
}

/** Usually the enum number; its name is tolerated too (a history object built by hand, not decoded). */
function eventTypeOf(e: IEvent): number | undefined {
  return typeof e.eventType === 'number'
    ? e.eventType
    : (eventTypes()[e.eventType as unknown as keyof ReturnType<typeof eventTypes>] as number | undefined);
}

function record(s: ParseState, e: IEvent, text: string): void {
  s.out.events.push({ eventId: num(e.eventId), ms: ms(e), type: eventTypeName(e.eventType), text });
}

function close(s: ParseState, e: IEvent, status: ExecutionStatus): void {
  s.out.status = status;
  s.out.endMs = ms(e);
}

/** An Update's events may arrive in any combination (a rejection has no acceptance), so create on first sight. */
function updateFor(s: ParseState, id: string): UpdateExecution {
  let u = s.updates.get(id);
  if (!u) {
    u = {
      updateId: id,
      name: '',
      input: undefined,
      acceptedMs: null,
      rejectedMs: null,
      completedMs: null,
      result: undefined,
      failure: null,
    };
    s.updates.set(id, u);
  }
  return u;
}

// ── The workflow execution itself ──────────────────────────────────────────────────────────────

function onWorkflowStarted(s: ParseState, e: IEvent, at: number): void {
  const { out } = s;
  const a = e.workflowExecutionStartedEventAttributes ?? {};
  out.type = a.workflowType?.name ?? 'unknown';
  out.startMs = at;
  out.attempt = a.attempt ?? 1;
  out.firstExecutionRunId = a.firstExecutionRunId ?? null;
  out.input = first(a.input);
  out.summary = summaryOf(e);
  const p = a.parentWorkflowExecution;
  if (p?.workflowId) out.parent = { workflowId: p.workflowId, runId: p.runId ?? '' };
  // A bare history file has no run id of its own; the first run's id is the best name for it.
  if (!out.runId && a.originalExecutionRunId) out.runId = a.originalExecutionRunId;
  record(
    s,
    e,
    `started ${out.type}${out.attempt > 1 ? ` (attempt ${out.attempt})` : ''}${out.summary ? `: ${short(out.summary)}` : ''}`,
  );
}

function onWorkflowCompleted(s: ParseState, e: IEvent): void {
  const a = e.workflowExecutionCompletedEventAttributes ?? {};
  s.out.result = first(a.result);
  // Set by a cron schedule: the next run continues under the same workflow id.
  if (a.newExecutionRunId) s.out.nextRunId = a.newExecutionRunId;
  close(s, e, 'completed');
  record(s, e, 'completed');
}

function onWorkflowFailed(s: ParseState, e: IEvent): void {
  const { out } = s;
  const a = e.workflowExecutionFailedEventAttributes ?? {};
  out.failure = failureInfo(a.failure);
  if (a.newExecutionRunId) out.nextRunId = a.newExecutionRunId;
  close(s, e, 'failed');
  record(
    s,
    e,
    `failed${out.failure?.type ? ` (${out.failure.type})` : ''}: ${short(out.failure?.message ?? '')}${out.nextRunId ? ' — retried as a new run' : ''}`,
  );
}

function onWorkflowTimedOut(s: ParseState, e: IEvent): void {
  const a = e.workflowExecutionTimedOutEventAttributes ?? {};
  if (a.newExecutionRunId) s.out.nextRunId = a.newExecutionRunId;
  close(s, e, 'timed-out');
  record(s, e, 'timed out');
}

function onWorkflowTerminated(s: ParseState, e: IEvent): void {
  const a = e.workflowExecutionTerminatedEventAttributes ?? {};
  s.out.closeReason = a.reason ?? null;
  close(s, e, 'terminated');
  record(s, e, `terminated${a.identity ? ` by ${a.identity}` : ''}${a.reason ? `: ${short(a.reason)}` : ''}`);
}

function onWorkflowCanceled(s: ParseState, e: IEvent): void {
  close(s, e, 'canceled');
  record(s, e, 'canceled');
}

function onWorkflowCancelRequested(s: ParseState, e: IEvent): void {
  const a = e.workflowExecutionCancelRequestedEventAttributes ?? {};
  // Canceled carries no reason of its own, so the request's cause stands in for it.
  s.out.closeReason = a.cause ?? null;
  record(s, e, `cancellation requested${a.cause ? `: ${short(a.cause)}` : ''}`);
}

function onWorkflowContinuedAsNew(s: ParseState, e: IEvent): void {
  const a = e.workflowExecutionContinuedAsNewEventAttributes ?? {};
  s.out.nextRunId = a.newExecutionRunId ?? null;
  close(s, e, 'continued-as-new');
  record(s, e, 'continued as new');
}

// ── Activities ─────────────────────────────────────────────────────────────────────────────────

function onActivityScheduled(s: ParseState, e: IEvent, at: number): void {
  const a = e.activityTaskScheduledEventAttributes ?? {};
  const act: ActivityExecution = {
    scheduledEventId: num(e.eventId),
    activityId: a.activityId ?? '',
    name: a.activityType?.name ?? '?',
    summary: summaryOf(e),
    input: first(a.input),
    scheduledMs: at,
    startedMs: null,
    closedMs: null,
    attempt: 1,
    status: 'scheduled',
    result: undefined,
    failure: null,
  };
  s.activities.set(act.scheduledEventId, act);
  s.out.activities.push(act);
  record(s, e, `activity ${act.name} scheduled${act.summary ? `: ${short(act.summary)}` : ''}`);
}

// No line of its own: under a retry policy the server writes Started only as the activity closes, next to its line.
function onActivityStarted(s: ParseState, e: IEvent, at: number): void {
  const a = e.activityTaskStartedEventAttributes ?? {};
  const act = s.activities.get(num(a.scheduledEventId));
  if (!act) return;
  act.startedMs = at;
  act.attempt = a.attempt ?? 1;
  if (act.status === 'scheduled') act.status = 'started';
}

function onActivityCompleted(s: ParseState, e: IEvent, at: number): void {
  const a = e.activityTaskCompletedEventAttributes ?? {};
  const act = s.activities.get(num(a.scheduledEventId));
  if (!act) return;
  Object.assign(act, { status: 'completed', closedMs: at, result: first(a.result) });
  record(
    s,
    e,
    `activity ${act.name} completed in ${formatDuration(at - act.scheduledMs, 'compact')}${act.attempt > 1 ? ` (attempt ${act.attempt})` : ''}`,
  );
}

function onActivityFailed(s: ParseState, e: IEvent, at: number): void {
  const a = e.activityTaskFailedEventAttributes ?? {};
  const act = s.activities.get(num(a.scheduledEventId));
  if (!act) return;
  Object.assign(act, { status: 'failed', closedMs: at, failure: failureInfo(a.failure) });
  record(
    s,
    e,
    `activity ${act.name} failed after ${formatDuration(at - act.scheduledMs, 'compact')}${act.failure?.type ? ` (${act.failure.type})` : ''}: ${short(act.failure?.message ?? '')}`,
  );
}

function onActivityTimedOut(s: ParseState, e: IEvent, at: number): void {
  const a = e.activityTaskTimedOutEventAttributes ?? {};
  const act = s.activities.get(num(a.scheduledEventId));
  if (!act) return;
  Object.assign(act, { status: 'timed-out', closedMs: at, failure: failureInfo(a.failure) });
  record(s, e, `activity ${act.name} timed out after ${formatDuration(at - act.scheduledMs, 'compact')}`);
}

function onActivityCanceled(s: ParseState, e: IEvent, at: number): void {
  const a = e.activityTaskCanceledEventAttributes ?? {};
  const act = s.activities.get(num(a.scheduledEventId));
  if (!act) return;
  Object.assign(act, { status: 'canceled', closedMs: at });
  record(s, e, `activity ${act.name} canceled`);
}

// ── Child workflows ────────────────────────────────────────────────────────────────────────────

function onChildInitiated(s: ParseState, e: IEvent, at: number): void {
  const a = e.startChildWorkflowExecutionInitiatedEventAttributes ?? {};
  const c: ChildExecution = {
    initiatedEventId: num(e.eventId),
    workflowId: a.workflowId ?? '',
    type: a.workflowType?.name ?? '?',
    runId: null,
    summary: summaryOf(e),
    input: first(a.input),
    initiatedMs: at,
    startedMs: null,
    closedMs: null,
    status: 'initiated',
    result: undefined,
    failure: null,
  };
  s.children.set(c.initiatedEventId, c);
  s.out.children.push(c);
  record(s, e, `child ${c.type} ${c.workflowId} initiated${c.summary ? `: ${short(c.summary)}` : ''}`);
}

function onChildStartFailed(s: ParseState, e: IEvent, at: number): void {
  const a = e.startChildWorkflowExecutionFailedEventAttributes ?? {};
  const c = s.children.get(num(a.initiatedEventId));
  if (!c) return;
  Object.assign(c, { status: 'start-failed', closedMs: at });
  record(s, e, `child ${c.workflowId} could not start (already running)`);
}

function onChildStarted(s: ParseState, e: IEvent, at: number): void {
  const a = e.childWorkflowExecutionStartedEventAttributes ?? {};
  const c = s.children.get(num(a.initiatedEventId));
  if (!c) return;
  Object.assign(c, { status: 'running', startedMs: at, runId: a.workflowExecution?.runId ?? null });
  record(s, e, `child ${c.workflowId} started`);
}

/** Completed, failed, terminated, canceled or timed out: one handler, as they differ only in status and payload. */
function onChildClosed(s: ParseState, e: IEvent, at: number): void {
  const a =
    e.childWorkflowExecutionCompletedEventAttributes ??
    e.childWorkflowExecutionFailedEventAttributes ??
    e.childWorkflowExecutionTerminatedEventAttributes ??
    e.childWorkflowExecutionCanceledEventAttributes ??
    e.childWorkflowExecutionTimedOutEventAttributes ??
    {};
  const c = s.children.get(num(a.initiatedEventId));
  if (!c) return;
  c.closedMs = at;
  if (e.childWorkflowExecutionCompletedEventAttributes) {
    c.status = 'completed';
    c.result = first(e.childWorkflowExecutionCompletedEventAttributes.result);
  } else if (e.childWorkflowExecutionFailedEventAttributes) {
    c.status = 'failed';
    c.failure = failureInfo(e.childWorkflowExecutionFailedEventAttributes.failure);
  } else if (e.childWorkflowExecutionTerminatedEventAttributes) c.status = 'terminated';
  else if (e.childWorkflowExecutionCanceledEventAttributes) c.status = 'canceled';
  else c.status = 'timed-out';
  record(s, e, `child ${c.workflowId} ${c.status}${c.failure ? `: ${short(c.failure.message)}` : ''}`);
}

// ── Timers ─────────────────────────────────────────────────────────────────────────────────────

function onTimerStarted(s: ParseState, e: IEvent, at: number): void {
  const a = e.timerStartedEventAttributes ?? {};
  const tm: TimerExecution = {
    timerId: a.timerId ?? '',
    summary: summaryOf(e),
    timeoutMs: durationMs(a.startToFireTimeout),
    startedMs: at,
    firedMs: null,
    canceledMs: null,
  };
  s.timers.set(num(e.eventId), tm);
  s.out.timers.push(tm);
  record(
    s,
    e,
    `timer started for ${formatDuration(tm.timeoutMs, 'compact')}${tm.summary ? `: ${short(tm.summary)}` : ''}`,
  );
}

function onTimerFired(s: ParseState, e: IEvent, at: number): void {
  const tm = s.timers.get(num(e.timerFiredEventAttributes?.startedEventId));
  if (!tm) return;
  tm.firedMs = at;
  record(
    s,
    e,
    `timer fired (${formatDuration(tm.timeoutMs, 'compact')} elapsed)${tm.summary ? `: ${short(tm.summary)}` : ''}`,
  );
}

function onTimerCanceled(s: ParseState, e: IEvent, at: number): void {
  const tm = s.timers.get(num(e.timerCanceledEventAttributes?.startedEventId));
  if (!tm) return;
  tm.canceledMs = at;
  record(s, e, `timer canceled after ${formatDuration(at - tm.startedMs, 'compact')}`);
}

// ── Updates, signals, search attributes ────────────────────────────────────────────────────────

function onUpdateAccepted(s: ParseState, e: IEvent, at: number): void {
  const a = e.workflowExecutionUpdateAcceptedEventAttributes ?? {};
  const req = a.acceptedRequest;
  const u = updateFor(s, req?.meta?.updateId ?? a.protocolInstanceId ?? String(num(e.eventId)));
  u.name = req?.input?.name ?? u.name;
  u.input = first(req?.input?.args);
  u.acceptedMs = at;
  record(s, e, `update ${u.name} accepted: ${short(JSON.stringify(u.input) ?? '')}`);
}

function onUpdateRejected(s: ParseState, e: IEvent, at: number): void {
  const a = e.workflowExecutionUpdateRejectedEventAttributes ?? {};
  const req = a.rejectedRequest;
  const u = updateFor(s, req?.meta?.updateId ?? a.protocolInstanceId ?? String(num(e.eventId)));
  u.name = req?.input?.name ?? u.name;
  u.input = first(req?.input?.args);
  u.rejectedMs = at;
  u.failure = failureInfo(a.failure);
  record(s, e, `update ${u.name} rejected: ${short(u.failure?.message ?? '')}`);
}

function onUpdateCompleted(s: ParseState, e: IEvent, at: number): void {
  const a = e.workflowExecutionUpdateCompletedEventAttributes ?? {};
  const u = updateFor(s, a.meta?.updateId ?? String(num(a.acceptedEventId)));
  u.completedMs = at;
  if (a.outcome?.failure) u.failure = failureInfo(a.outcome.failure);
  else u.result = first(a.outcome?.success);
  // The name comes from the acceptance; without one the id is all there is to show.
  record(
    s,
    e,
    `update ${u.name || u.updateId} completed${u.failure ? ` with an error: ${short(u.failure.message)}` : ''}`,
  );
}

function onSignaled(s: ParseState, e: IEvent, at: number): void {
  const a = e.workflowExecutionSignaledEventAttributes ?? {};
  const sig = { name: a.signalName ?? '?', input: first(a.input), ms: at };
  s.out.signals.push(sig);
  record(s, e, `signal ${sig.name}: ${short(JSON.stringify(sig.input) ?? '')}`);
}

function onSignalExternalInitiated(s: ParseState, e: IEvent): void {
  const a = e.signalExternalWorkflowExecutionInitiatedEventAttributes ?? {};
  record(s, e, `signal ${a.signalName ?? '?'} sent to ${a.workflowExecution?.workflowId ?? '?'}`);
}

function onUpsertSearchAttributes(s: ParseState, e: IEvent, at: number): void {
  const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {};
  const attributes: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(fields)) attributes[k] = decodePayload(p);
  s.out.upserts.push({ ms: at, attributes });
  record(
    s,
    e,
    `search attributes: ${Object.entries(attributes)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
      .join(' ')}`,
  );
}

/** Event types without a handler (workflow tasks, markers, …) only move `lastEventMs`. Built on first use. */
let handlers: ReadonlyMap<number, EventHandler> | undefined;
const handlersByType = (): ReadonlyMap<number, EventHandler> => (handlers ??= buildHandlers());

function buildHandlers(): ReadonlyMap<number, EventHandler> {
  const ET = eventTypes();
  return new Map<number, EventHandler>([
    [ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, onWorkflowStarted],
    [ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, onWorkflowCompleted],
    [ET.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, onWorkflowFailed],
    [ET.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, onWorkflowTimedOut],
    [ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, onWorkflowTerminated],
    [ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, onWorkflowCanceled],
    [ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED, onWorkflowCancelRequested],
    [ET.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, onWorkflowContinuedAsNew],
    [ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, onActivityScheduled],
    [ET.EVENT_TYPE_ACTIVITY_TASK_STARTED, onActivityStarted],
    [ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, onActivityCompleted],
    [ET.EVENT_TYPE_ACTIVITY_TASK_FAILED, onActivityFailed],
    [ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT, onActivityTimedOut],
    [ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED, onActivityCanceled],
    [ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, onChildInitiated],
    [ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED, onChildStartFailed],
    [ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED, onChildStarted],
    [ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED, onChildClosed],
    [ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED, onChildClosed],
    [ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED, onChildClosed],
    [ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED, onChildClosed],
    [ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT, onChildClosed],
    [ET.EVENT_TYPE_TIMER_STARTED, onTimerStarted],
    [ET.EVENT_TYPE_TIMER_FIRED, onTimerFired],
    [ET.EVENT_TYPE_TIMER_CANCELED, onTimerCanceled],
    [ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, onUpdateAccepted],
    [ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED, onUpdateRejected],
    [ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED, onUpdateCompleted],
    [ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, onSignaled],
    [ET.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, onUpsertSearchAttributes],
    [ET.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, onSignalExternalInitiated],
  ]);
}

/**
 * Parse one execution's history. `workflowId` and `runId` are not in the history itself: pass
 * them (empty strings when unknown, e.g. a bare history file).
 */
export function parseHistory(history: History, ids: { workflowId: string; runId: string }): ParsedExecution {
  const s: ParseState = {
    out: newExecution(ids),
    activities: new Map(),
    children: new Map(),
    timers: new Map(),
    updates: new Map(),
  };
  for (const e of history.events ?? []) {
    const at = ms(e);
    s.out.lastEventMs = Math.max(s.out.lastEventMs, at);
    const t = eventTypeOf(e);
    if (t !== undefined) handlersByType().get(t)?.(s, e, at);
  }
  s.out.updates = [...s.updates.values()];
  return s.out;
}
