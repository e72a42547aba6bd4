/**
 * Stubbed activities for fast workflow tests (tests/workflows/stubbed-*.test.ts): canned results
 * and typed failures instead of DuckDB, doctors and the spec store, so a test exercises only a
 * workflow's orchestration (which activity and child it runs, with what, and what it makes of the
 * answers) on a real Temporal server. Every call is recorded with the workflow that made it.
 */
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle, type WorkflowStartOptions } from '@temporalio/client';
import {
  ApplicationFailure,
  defaultPayloadConverter,
  type Workflow,
  type WorkflowResultType,
} from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../activities';
import { ERRORS, type ErrorType } from '../../common/errors';
import type { DriftReport, FileOutcome, VerificationReport } from '../../common/types';
import { type DevSuite, uniqueTaskQueue, useDevEnv } from './temporal';

/** Stub implementations of some of the activities (only those a branch calls). */
export type StubActivities = Partial<Activities>;
export type ActivityName = keyof Activities;
/** What an activity answers (taken from `Activities`, wherever its contract type lives). */
type ResultOf<K extends ActivityName> = Awaited<ReturnType<Activities[K]>>;
export type PipelineInfo = ResultOf<'getPipeline'>;
export type LoadSummary = ResultOf<'loadSource'>;
export type DiagnoseResult = ResultOf<'diagnose'>;

/** One call of a stub: which activity, from which workflow, with what. */
export interface ActivityCall {
  name: ActivityName;
  workflowId: string;
  workflowType: string;
  /** The activity's own attempt (a retried activity is called again). */
  attempt: number;
  input: unknown;
}

/** The failure an activity throws at its boundary: retryable as the ERRORS table says. */
export function failure(type: ErrorType, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: !ERRORS[type].retryable,
    details: details === undefined ? [] : [details],
  });
}

/** Wrap the stubs so every call is recorded (in call order) before the stub answers. */
export function recording(stubs: StubActivities): { activities: StubActivities; calls: ActivityCall[] } {
  const calls: ActivityCall[] = [];
  const activities: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(stubs) as [ActivityName, (input: unknown) => Promise<unknown>][]) {
    activities[name] = async (input: unknown) => {
      const { info } = Context.current();
      calls.push({
        name,
        workflowId: info.workflowExecution?.workflowId ?? '',
        workflowType: info.workflowType ?? '',
        attempt: info.attempt,
        input,
      });
      return fn(input);
    };
  }
  return { activities: activities as StubActivities, calls };
}

/** Inputs of the recorded calls of one activity, in call order. */
export function inputsOf<T = Record<string, unknown>>(calls: readonly ActivityCall[], name: ActivityName): T[] {
  return calls.filter((c) => c.name === name).map((c) => c.input as T);
}

// ---------------------------------------------------------------------------------------------
// Canned answers.

export const PIPELINE = 'orders';
export const SOURCE = '/stub/orders.csv';

export function pipelineInfo(overrides: Partial<PipelineInfo> = {}): PipelineInfo {
  return {
    pipeline: PIPELINE,
    table: 'orders',
    warehouse: '/stub/warehouse.duckdb',
    specVersion: 1,
    maxAttempts: 3,
    mode: 'auto',
    approvalTimeoutMs: 72 * 3_600_000,
    source: SOURCE,
    loadMode: 'replace',
    partial: 'refuse',
    ...overrides,
  };
}

/** A classified drift: `email` renamed to `e_mail` in the source files given. */
export function driftReport(sources: string[] = [SOURCE], specVersion = 1): DriftReport {
  return {
    pipeline: PIPELINE,
    specVersion,
    sources,
    summary: 'orders: renamed email → e_mail',
    kinds: ['renamed'],
    differences: sources.map((file) => ({
      kind: 'renamed' as const,
      column: 'email',
      sourceColumn: 'e_mail',
      expected: 'email',
      found: 'e_mail',
      detail: 'column email is now e_mail',
      ...(sources.length > 1 ? { file } : {}),
    })),
    expected: { format: 'csv', columns: ['id', 'email'] },
    found: { format: 'csv', columns: ['id', 'e_mail'] },
    detectedAt: '2026-01-01T00:00:00.000Z',
  };
}

/** The SchemaDrift failure of a load, carrying its report as the real activities do. */
export function schemaDrift(report: DriftReport = driftReport()): ApplicationFailure {
  return failure('SchemaDrift', report.summary, report);
}

export function fileOutcome(file: string, overrides: Partial<FileOutcome> = {}): FileOutcome {
  return { file, outcome: 'loaded', rowsRead: 10, rowsLoaded: 10, rowsQuarantined: 0, ...overrides };
}

export function loadSummary(overrides: Partial<LoadSummary> = {}): LoadSummary {
  return {
    pipeline: PIPELINE,
    table: 'orders',
    warehouse: '/stub/warehouse.duckdb',
    specVersion: 1,
    mode: 'replace',
    sources: [SOURCE],
    rowsRead: 10,
    rowsLoaded: 10,
    rowsQuarantined: 0,
    skipped: false,
    files: [fileOutcome(SOURCE)],
    setAside: [],
    partitionKeys: [],
    profilePath: null,
    durationMs: 1,
    committedAt: '2026-01-01T00:00:05.000Z',
    ...overrides,
  };
}

/** A rules-doctor answer: map `email` from `e_mail`. */
export function diagnosis(overrides: Partial<DiagnoseResult> = {}): DiagnoseResult {
  return {
    kind: 'patch',
    doctor: 'rules',
    patch: [{ op: 'map', column: 'email', from: 'e_mail' }],
    confidence: 0.95,
    rationale: ['email is now e_mail'],
    ...overrides,
  };
}

export function verification(candidateVersion: number, passed: boolean): VerificationReport {
  return {
    passed,
    candidateVersion,
    rowsRead: 10,
    rowsLoaded: passed ? 10 : 4,
    rowsQuarantined: passed ? 0 : 6,
    checks: [{ name: 'quarantine-budget', passed, figure: passed ? '0%' : '60%', threshold: '≤ 1%' }],
    summary: passed ? 'all 1 checks passed' : 'quarantine-budget: 60% > 1%',
  };
}

/** Activities every run needs and no test looks into: metrics, alerts, GitHub, fix memory. */
export function quietActivities(): StubActivities {
  return {
    recordRun: async () => undefined,
    notifyEpisode: async () => ({ status: 'disabled' }),
    publishFix: async () => ({ status: 'disabled', prUrl: null, prNumber: null, branch: null }),
    rememberFix: async () => ({ signature: 'stub', outcome: 'remembered' }),
  };
}

// ---------------------------------------------------------------------------------------------
// Running a workflow on a worker with the stubs.

/**
 * {@link useDevEnv}, plus one worker started and stopped before the tests: the first worker of a
 * process pays a one-time start-up (about a second), which would otherwise land in the first test.
 */
export function useStubbedDevEnv(): DevSuite {
  const suite = useDevEnv();
  beforeAll(async () => {
    const worker = await Worker.create({
      connection: suite.env.nativeConnection,
      taskQueue: uniqueTaskQueue('warm-up'),
      workflowBundle: suite.bundle,
      activities: {},
    });
    await worker.runUntil(async () => undefined);
  }, 60_000);
  return suite;
}

export interface StubbedRun<R> {
  /** The workflow's result, or the first detail of the ApplicationFailure it failed with. */
  result: R;
  /** The failure type when the workflow failed, null when it completed. */
  failureType: string | null;
  desc: Awaited<ReturnType<WorkflowHandle['describe']>>;
  history: temporal.api.history.v1.IHistory;
  handle: WorkflowHandle;
}

/**
 * Run `workflow` to its end on a new task queue whose worker has the stubbed activities only;
 * `during`, when given, runs alongside (to signal or update the workflow while it waits).
 */
export async function runStubbed<W extends Workflow>(
  suite: DevSuite,
  activities: StubActivities,
  workflow: W,
  options: Omit<WorkflowStartOptions<W>, 'taskQueue'>,
  during?: (handle: WorkflowHandle<W>) => Promise<void>,
): Promise<StubbedRun<WorkflowResultType<W>>> {
  const taskQueue = uniqueTaskQueue('stubbed');
  const worker = await Worker.create({
    connection: suite.env.nativeConnection,
    taskQueue,
    workflowBundle: suite.bundle,
    activities,
  });
  return worker.runUntil(async () => {
    const handle = await suite.env.client.workflow.start(workflow, {
      ...options,
      taskQueue,
    } as WorkflowStartOptions<W>);
    const [outcome] = await Promise.all([
      handle.result().then(
        (result) => ({ result, failureType: null }),
        (err: unknown) => {
          if (!(err instanceof WorkflowFailedError) || !(err.cause instanceof ApplicationFailure)) throw err;
          return { result: err.cause.details?.[0] as WorkflowResultType<W>, failureType: err.cause.type ?? null };
        },
      ),
      during?.(handle),
    ]);
    return {
      ...outcome,
      desc: await handle.describe(),
      history: await handle.fetchHistory(),
      handle: handle as WorkflowHandle,
    };
  });
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

function eventsOf(history: temporal.api.history.v1.IHistory): HistoryEvent[] {
  return history.events ?? [];
}

/** Activity types a workflow scheduled, in order (from its history). */
export function scheduledActivities(history: temporal.api.history.v1.IHistory): string[] {
  return eventsOf(history).flatMap((e) => {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    return name ? [name] : [];
  });
}

/** Child workflows a workflow started, in order: type and id (from its history). */
export function startedChildren(
  history: temporal.api.history.v1.IHistory,
): { type: string; workflowId: string; priorityKey?: number }[] {
  return eventsOf(history).flatMap((e) => {
    const a = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (!a) return [];
    const key = a.priority?.priorityKey;
    return [{ type: a.workflowType?.name ?? '', workflowId: a.workflowId ?? '', ...(key ? { priorityKey: key } : {}) }];
  });
}

/** Signals a workflow received, in order: name and first argument (from its history). */
export function signalsReceived(history: temporal.api.history.v1.IHistory): { name: string; arg: unknown }[] {
  return eventsOf(history).flatMap((e) => {
    const a = e.workflowExecutionSignaledEventAttributes;
    if (!a) return [];
    const payload = a.input?.payloads?.[0];
    return [{ name: a.signalName ?? '', arg: payload ? defaultPayloadConverter.fromPayload(payload) : undefined }];
  });
}

/** A promise and its resolver: a stub resolves it when the workflow reaches it (no timers). */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
