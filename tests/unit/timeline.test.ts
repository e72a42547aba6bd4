/**
 * The timeline builder (`heal inspect`) on histories this test writes event by event, in the shape
 * heal's workflows record them (payloads through the default converter, activity summaries as user
 * metadata, a retried attempt child, the `decide` Update, the approval timer). No server: the
 * histories are made here, so the figures (durations included) are exact. The same histories go
 * through `historyToJSON` → `historyFromJSON` to prove files and live fetches read alike.
 */
import * as path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyFromJSON, historyToJSON, type History } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { parseHistory, type ParsedExecution } from '../../client/history/parse';
import { sourcesFromHistories } from '../../client/history/fetch';
import { inferWorkflowId, loadHistoryFile } from '../../client/history/replay';
import { buildTimeline, formatTimeline } from '../../client/history/timeline';
import type { AttemptRecord, DriftReport, EpisodeResult, HealingInput, VerificationReport } from '../../common/types';

const ET = temporal.api.enums.v1.EventType;
const T0 = Date.parse('2026-11-25T10:00:00.000Z');

/** Writes one execution's history; `at` is ms after T0. */
class HistoryWriter {
  private events: temporal.api.history.v1.IHistoryEvent[] = [];
  add(at: number, type: keyof typeof ET, attrs: Record<string, unknown> = {}, summary?: string): number {
    const eventId = this.events.length + 1;
    const ms = T0 + at;
    const key =
      type
        .replace(/^EVENT_TYPE_/, '')
        .toLowerCase()
        .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) + 'EventAttributes';
    this.events.push({
      eventId,
      eventTime: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 },
      eventType: ET[type],
      [key]: attrs,
      ...(summary ? { userMetadata: { summary: P(summary) } } : {}),
    } as unknown as temporal.api.history.v1.IHistoryEvent);
    return eventId;
  }
  activity(
    at: number,
    name: string,
    input: unknown,
    closeAt: number,
    outcome: { result: unknown } | { failure: temporal.api.failure.v1.IFailure },
    summary?: string,
  ): void {
    const id = this.add(
      at,
      'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
      { activityId: String(this.events.length + 1), activityType: { name }, input: Ps(input) },
      summary,
    );
    this.add(at + 1, 'EVENT_TYPE_ACTIVITY_TASK_STARTED', { scheduledEventId: id, attempt: 1 });
    if ('result' in outcome)
      this.add(closeAt, 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED', { scheduledEventId: id, result: Ps(outcome.result) });
    else this.add(closeAt, 'EVENT_TYPE_ACTIVITY_TASK_FAILED', { scheduledEventId: id, failure: outcome.failure });
  }
  get history(): History {
    return { events: this.events };
  }
}

const P = (v: unknown) => defaultPayloadConverter.toPayload(v) as temporal.api.common.v1.IPayload;
const Ps = (v: unknown) => ({ payloads: [P(v)] });
const appFailure = (type: string, message: string, details?: unknown): temporal.api.failure.v1.IFailure => ({
  message,
  applicationFailureInfo: { type, nonRetryable: true, ...(details !== undefined ? { details: Ps(details) } : {}) },
});

const drift: DriftReport = {
  pipeline: 'users',
  specVersion: 1,
  sources: ['/data/users.csv'],
  summary: 'schema drift in users: column "email" is gone and "e_mail" is new: looks renamed',
  kinds: ['renamed'],
  differences: [
    {
      kind: 'renamed',
      column: 'email',
      sourceColumn: 'e_mail',
      expected: 'email',
      found: 'e_mail',
      detail: 'column "email" is gone and "e_mail" is new: looks renamed',
    },
  ],
  expected: { format: 'csv', columns: ['id', 'email'] },
  found: { format: 'csv', columns: ['id', 'e_mail'] },
  detectedAt: new Date(T0 - 500).toISOString(),
};
const report = (candidateVersion: number, passed: boolean): VerificationReport => ({
  passed,
  candidateVersion,
  rowsRead: 100,
  rowsLoaded: passed ? 100 : 80,
  rowsQuarantined: passed ? 0 : 20,
  checks: [
    {
      name: 'rows-accounted',
      passed: true,
      figure: '100 in = 100 loaded + 0 quarantined',
      threshold: 'rows in = loaded + quarantined',
    },
    {
      name: 'quarantine-budget',
      passed,
      figure: passed ? '0.0% quarantined' : '20.0% quarantined (20 rows)',
      threshold: '≤ 1.0%',
    },
  ],
  summary: passed ? 'all 2 checks passed' : 'quarantine-budget: 20.0% quarantined (20 rows)',
});
const rec1: AttemptRecord = {
  attempt: 1,
  doctor: 'rules',
  patch: [{ op: 'map', column: 'email', from: 'id' }],
  candidateVersion: 2,
  report: report(2, false),
  error: 'verification failed: quarantine-budget: 20.0% quarantined (20 rows)',
};
const rec2: AttemptRecord = {
  attempt: 2,
  doctor: 'llm',
  patch: [{ op: 'map', column: 'email', from: 'e_mail' }],
  candidateVersion: 3,
  report: report(3, true),
  error: null,
};

function input(mode: 'auto' | 'review'): HealingInput {
  return {
    pipeline: 'users',
    specVersion: 1,
    drift,
    source: '/data/users.csv',
    maxAttempts: 3,
    mode,
    approvalTimeoutMs: 72 * 3_600_000,
    runId: 'pipeline-users',
  };
}

/** Two attempt runs: the first fails verification (retried), the second passes. */
function attemptRuns(): ParsedExecution[] {
  const a1 = new HistoryWriter();
  a1.add(0, 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED', {
    workflowType: { name: 'healAttempt' },
    attempt: 1,
    firstExecutionRunId: 'a1',
    input: Ps(input('review')),
    parentWorkflowExecution: { workflowId: EP, runId: 'e1' },
  });
  a1.activity(
    10,
    'diagnose',
    {},
    110,
    {
      result: {
        doctor: 'rules',
        patch: rec1.patch,
        confidence: 0.82,
        rationale: ['"id" pairs with email: name similarity 0.20, value overlap 0.91'],
      },
    },
    'attempt 1/3: diagnose renamed',
  );
  a1.activity(120, 'proposePatch', {}, 170, { result: { candidateVersion: 2 } });
  a1.activity(180, 'verifyPatch', {}, 680, { result: rec1.report });
  a1.add(700, 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED', {
    failure: appFailure('VerificationFailed', `attempt 1: ${rec1.error}`, { attempts: [rec1] }),
    newExecutionRunId: 'a2',
  });
  const a2 = new HistoryWriter();
  a2.add(1000, 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED', {
    workflowType: { name: 'healAttempt' },
    attempt: 2,
    firstExecutionRunId: 'a1',
    input: Ps(input('review')),
  });
  a2.activity(1010, 'diagnose', {}, 1610, {
    result: {
      doctor: 'llm',
      patch: rec2.patch,
      rationale: [],
      usage: { promptTokens: 900, completionTokens: 80, model: 'm' },
    },
  });
  a2.activity(1620, 'proposePatch', {}, 1650, { result: { candidateVersion: 3 } });
  a2.activity(1660, 'verifyPatch', {}, 2060, { result: rec2.report });
  a2.add(2100, 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED', {
    result: Ps({
      attempt: 2,
      candidateVersion: 3,
      doctor: 'llm',
      patch: rec2.patch,
      rationale: [],
      report: rec2.report,
      attempts: [rec1, rec2],
    }),
  });
  return [
    parseHistory(a1.history, { workflowId: `${EP}-attempt`, runId: 'a1' }),
    parseHistory(a2.history, { workflowId: `${EP}-attempt`, runId: 'a2' }),
  ];
}

const EP = 'pipeline-users-20261125T100000000Z-heal';

/** An episode: attempts child → (review: approval timer + decide Update) → apply → reload (ok or rolled back). */
function episode(opts: {
  mode: 'auto' | 'review';
  decide?: 'approve' | 'timeout' | 'none';
  reload?: 'ok' | 'fail';
  end?: 'close' | 'running' | 'terminate';
}): History {
  const w = new HistoryWriter();
  w.add(-100, 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED', {
    workflowType: { name: 'healingEpisode' },
    input: Ps(input(opts.mode)),
    parentWorkflowExecution: { workflowId: 'pipeline-users', runId: 'r1' },
  });
  w.add(-50, 'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES', {
    searchAttributes: { indexedFields: { HealOutcome: P('healing') } },
  });
  const init = w.add(-10, 'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED', {
    workflowId: `${EP}-attempt`,
    workflowType: { name: 'healAttempt' },
    input: Ps(input(opts.mode)),
  });
  w.add(-5, 'EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED', {
    initiatedEventId: init,
    workflowExecution: { workflowId: `${EP}-attempt`, runId: 'a1' },
  });
  w.add(2200, 'EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED', {
    initiatedEventId: init,
    result: Ps({
      attempt: 2,
      candidateVersion: 3,
      doctor: 'llm',
      patch: rec2.patch,
      report: rec2.report,
      attempts: [rec1, rec2],
    }),
  });
  let t = 2300;
  let decision: EpisodeResult['decision'] = undefined;
  if (opts.mode === 'review') {
    const timer = w.add(
      t,
      'EVENT_TYPE_TIMER_STARTED',
      { timerId: '1', startToFireTimeout: { seconds: 72 * 3600 } },
      'approval of v3 (timeout 72h)',
    );
    if (opts.decide === 'approve') {
      decision = {
        decision: 'approve',
        by: 'alice',
        reason: 'looks right',
        via: 'cli',
        at: new Date(T0 + 60_000).toISOString(),
      };
      const acc = w.add(60_000, 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED', {
        protocolInstanceId: 'u1',
        acceptedRequest: {
          meta: { updateId: 'u1' },
          input: { name: 'decide', args: Ps({ decision: 'approve', by: 'alice', reason: 'looks right' }) },
        },
      });
      w.add(60_001, 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED', {
        acceptedEventId: acc,
        meta: { updateId: 'u1' },
        outcome: { success: Ps(decision) },
      });
      w.add(60_002, 'EVENT_TYPE_TIMER_CANCELED', { startedEventId: timer });
      t = 60_100;
    } else if (opts.decide === 'timeout') {
      decision = {
        decision: 'reject',
        by: 'timeout',
        reason: 'no decision within 72h',
        via: 'timeout',
        at: new Date(T0 + 2300 + 72 * 3_600_000).toISOString(),
      };
      w.add(2300 + 72 * 3_600_000, 'EVENT_TYPE_TIMER_FIRED', { startedEventId: timer });
      const result: EpisodeResult = {
        outcome: 'rejected',
        episodeId: EP,
        pipeline: 'users',
        attempts: [rec1, rec2],
        specVersion: 1,
        doctor: 'llm',
        patch: rec2.patch,
        rowsLoaded: 0,
        rowsQuarantined: 0,
        mttrMs: null,
        error: 'fix v3 rejected by timeout (timeout): no decision within 72h; table and version unchanged',
        candidateVersion: 3,
        decision,
      };
      w.add(2400 + 72 * 3_600_000, 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED', {
        failure: appFailure('HealingFailed', result.error ?? '', result),
      });
      return w.history;
    }
    if (opts.end === 'running') return w.history;
    if (opts.end === 'terminate') {
      w.add(t + 5000, 'EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED', { reason: 'operator stopped it', identity: 'ops' });
      return w.history;
    }
  }
  w.activity(t, 'applyVersion', { pipeline: 'users', version: 3 }, t + 40, { result: null }, 'make v3 current');
  if (opts.reload === 'fail') {
    w.activity(
      t + 50,
      'loadSource',
      {},
      t + 350,
      { failure: appFailure('SchemaDrift', 'schema drift in users: still drifted') },
      'reload with v3',
    );
    w.activity(t + 360, 'rollbackVersion', { pipeline: 'users', version: 1 }, t + 390, { result: null }, 'restore v1');
    const result: EpisodeResult = {
      outcome: 'rolled-back',
      episodeId: EP,
      pipeline: 'users',
      attempts: [rec1, rec2],
      specVersion: 1,
      doctor: 'llm',
      patch: rec2.patch,
      rowsLoaded: 0,
      rowsQuarantined: 0,
      mttrMs: null,
      error: 'applied v3, but the load failed (schema drift in users: still drifted); rolled back to v1',
      candidateVersion: 3,
    };
    w.add(t + 400, 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED', {
      failure: appFailure('HealingFailed', result.error ?? '', result),
    });
    return w.history;
  }
  w.activity(t + 50, 'loadSource', {}, t + 650, { result: { rowsLoaded: 100, rowsQuarantined: 0 } }, 'reload with v3');
  const result: EpisodeResult = {
    outcome: 'healed',
    episodeId: EP,
    pipeline: 'users',
    attempts: [rec1, rec2],
    specVersion: 3,
    doctor: 'llm',
    patch: rec2.patch,
    rowsLoaded: 100,
    rowsQuarantined: 0,
    mttrMs: t + 650 + 500,
    error: null,
    candidateVersion: 3,
    ...(decision ? { decision } : {}),
  };
  w.add(t + 700, 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED', { result: Ps(result) });
  return w.history;
}

const build = (h: History, attempts = attemptRuns(), now?: number) => {
  const ep = parseHistory(h, { workflowId: EP, runId: 'e1' });
  return buildTimeline({ root: ep, run: null, episode: ep, attempts }, now);
};

test('a healed auto episode: drift, both attempts with patch, checks and why the first failed, versions, exact durations', () => {
  const t = build(episode({ mode: 'auto', reload: 'ok' }));
  expect(t).toMatchObject({
    workflowId: EP,
    runId: 'e1',
    type: 'healingEpisode',
    status: 'completed',
    pipeline: 'users',
    outcome: 'healed',
    error: null,
    decision: null,
    maxAttempts: 3,
    specVersion: { before: 1, candidate: 3, after: 3, rolledBack: false },
    rows: { loaded: 100, quarantined: 0 },
    run: { workflowId: 'pipeline-users', runId: 'r1', runKey: 'pipeline-users-20261125T100000000Z' },
  });
  expect(t.drift?.summary).toBe(drift.summary);
  expect(t.attempts.map((a) => [a.attempt, a.runId, a.doctor, a.status, a.candidateVersion, a.durationMs])).toEqual([
    [1, 'a1', 'rules', 'failed', 2, 700],
    [2, 'a2', 'llm', 'completed', 3, 1100],
  ]);
  const [a1, a2] = t.attempts;
  expect(a1?.patchText).toEqual(['map source column "id" → email']);
  expect(a1).toMatchObject({
    confidence: 0.82,
    rationale: ['"id" pairs with email: name similarity 0.20, value overlap 0.91'],
  });
  expect(a2).toMatchObject({ confidence: null, rationale: [] });
  expect(a1?.error).toBe(rec1.error);
  expect(a1?.checks).toEqual([
    {
      name: 'rows-accounted',
      passed: true,
      figure: '100 in = 100 loaded + 0 quarantined',
      threshold: 'rows in = loaded + quarantined',
      detail: null,
    },
    {
      name: 'quarantine-budget',
      passed: false,
      figure: '20.0% quarantined (20 rows)',
      threshold: '≤ 1.0%',
      detail: null,
    },
  ]);
  expect(a1?.activities.map((a) => [a.name, a.durationMs, a.summary])).toEqual([
    ['diagnose', 100, 'attempt 1/3: diagnose renamed'],
    ['proposePatch', 50, null],
    ['verifyPatch', 500, null],
  ]);
  expect(a2).toMatchObject({
    error: null,
    verification: 'all 2 checks passed',
    usage: { promptTokens: 900, completionTokens: 80, model: 'm' },
  });
  expect(t.durations).toMatchObject({
    totalMs: 2300 + 700 + 100,
    mttrMs: 3450,
    attemptsMs: [700, 1100],
    approvalWaitMs: null,
  });
  expect(t.durations.activities.filter((a) => a.in === 'episode').map((a) => [a.name, a.durationMs, a.status])).toEqual(
    [
      ['applyVersion', 40, 'completed'],
      ['loadSource', 600, 'completed'],
    ],
  );
  const offsets = t.events.map((e) => e.offsetMs);
  expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
  expect(t.events[0]).toMatchObject({ in: 'episode', type: 'WorkflowExecutionStarted', offsetMs: 0 });
  expect(t.events.filter((e) => e.type === 'WorkflowExecutionStarted').map((e) => e.in)).toEqual([
    'episode',
    'attempt 1',
    'attempt 2',
  ]);
});

test('the human rendering names the drift, each attempt, each check with figure and threshold, the outcome and durations', () => {
  const out = formatTimeline(build(episode({ mode: 'auto', reload: 'ok' })));
  expect(out).toContain(`healing episode ${EP} (run e1) — completed`);
  expect(out).toContain('Drift (spec v1; renamed)');
  expect(out).toContain(' - renamed email: column "email" is gone and "e_mail" is new: looks renamed');
  expect(out).toMatch(/Attempt 1\/3 — rules doctor, 700ms {2}✖ failed/);
  expect(out).toContain('✖ quarantine-budget: 20.0% quarantined (20 rows) (threshold ≤ 1.0%)');
  expect(out).toContain('why it failed: verification failed: quarantine-budget');
  expect(out).toMatch(
    /why \(confidence 0\.82\):\n {3}· "id" pairs with email: name similarity 0\.20, value overlap 0\.91/,
  );
  expect(out).toMatch(/Attempt 2\/3 — llm doctor, 1\.1s {2}✔ verified/);
  expect(out).toContain('model m: 900 prompt + 80 completion tokens');
  expect(out).toContain('+ map source column "e_mail" → email');
  expect(out).toMatch(/Outcome\n {2}healed\n {2}spec v1 → v3 applied\n {2}100 rows loaded, 0 quarantined/);
  expect(out).toContain('Durations: total 3.1s; drift → healed table 3.5s; attempts 700ms, 1.1s');
  expect(formatTimeline(build(episode({ mode: 'auto', reload: 'ok' })), { events: false })).not.toContain('Events');
});

test('review mode, approved through the decide Update: who, how, when, and how long it waited', () => {
  const t = build(episode({ mode: 'review', decide: 'approve', reload: 'ok' }));
  expect(t.outcome).toBe('healed');
  expect(t.decision).toMatchObject({
    mode: 'review',
    status: 'approved',
    decision: { decision: 'approve', by: 'alice', via: 'cli', reason: 'looks right' },
    timeoutMs: 72 * 3_600_000,
    waitedMs: 60_002 - 2300,
    updates: [
      {
        updateId: 'u1',
        input: { decision: 'approve', by: 'alice', reason: 'looks right' },
        accepted: true,
        error: null,
      },
    ],
  });
  expect(t.durations.approvalWaitMs).toBe(60_002 - 2300);
  expect(formatTimeline(t)).toMatch(/Approval \(review mode\)\n {2}approved by alice via cli at .*: looks right/);
});

test('review mode, still waiting: running, awaiting-approval, the command to decide', () => {
  const t = build(episode({ mode: 'review', decide: 'none', end: 'running' }), undefined, T0 + 10_000);
  expect(t).toMatchObject({
    status: 'running',
    outcome: 'awaiting-approval',
    error: null,
    decision: { status: 'awaiting', decision: null },
  });
  expect(t.durations.totalMs).toBe(10_100);
  expect(t.specVersion).toEqual({ before: 1, candidate: 3, after: 1, rolledBack: false });
  const out = formatTimeline(t);
  expect(out).toContain(`heal approve ${EP}`);
  expect(out).toContain('times out after 3d00h');
});

test('review mode, the approval timer fired: rejected by the timeout, version unchanged', () => {
  const t = build(episode({ mode: 'review', decide: 'timeout' }));
  expect(t).toMatchObject({
    status: 'failed',
    outcome: 'rejected',
    decision: { status: 'timed-out', decision: { by: 'timeout', via: 'timeout' } },
  });
  expect(t.specVersion).toEqual({ before: 1, candidate: 3, after: 1, rolledBack: false });
  expect(t.decision?.waitedMs).toBe(72 * 3_600_000);
  expect(formatTimeline(t)).toContain('timed out → rejected by timeout via timeout');
});

test('terminated while waiting: outcome terminated with the reason', () => {
  const t = build(episode({ mode: 'review', decide: 'none', end: 'terminate' }));
  expect(t).toMatchObject({
    status: 'terminated',
    outcome: 'terminated',
    error: 'episode terminated: operator stopped it',
  });
  expect(t.events.at(-1)).toMatchObject({
    type: 'WorkflowExecutionTerminated',
    text: 'terminated by ops: operator stopped it',
  });
});

test('a reload that fails after apply: rolled back, the previous version current again', () => {
  const t = build(episode({ mode: 'auto', reload: 'fail' }));
  expect(t).toMatchObject({
    outcome: 'rolled-back',
    specVersion: { before: 1, candidate: 3, after: 1, rolledBack: true },
  });
  expect(t.durations.activities.filter((a) => a.in === 'episode').map((a) => [a.name, a.status, a.error])).toEqual([
    ['applyVersion', 'completed', null],
    ['loadSource', 'failed', 'SchemaDrift: schema drift in users: still drifted'],
    ['rollbackVersion', 'completed', null],
  ]);
  expect(formatTimeline(t)).toContain('candidate v3 was applied, then rolled back: v1 is current');
});

test('attempt histories missing: attempts come from the records the episode carries', () => {
  const t = build(episode({ mode: 'auto', reload: 'ok' }), []);
  expect(t.attempts.map((a) => [a.attempt, a.status, a.doctor, a.error === null, a.checks.length])).toEqual([
    [1, 'recorded', 'rules', false, 2],
    [2, 'recorded', 'llm', true, 2],
  ]);
});

test('a history written to JSON and read back (a file) gives the same timeline', () => {
  const h = episode({ mode: 'review', decide: 'approve', reload: 'ok' });
  const again = historyFromJSON(JSON.parse(historyToJSON(h)));
  expect(build(again)).toEqual(build(h));
});

test('the workflow id of a bare history is read back from its children', () => {
  expect(inferWorkflowId(episode({ mode: 'auto', reload: 'ok' }))).toBe(EP);
  const run = new HistoryWriter();
  run.add(0, 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED', {
    workflowType: { name: 'pipelineRun' },
    input: Ps({ pipeline: 'users' }),
  });
  run.add(10, 'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED', {
    workflowId: EP,
    workflowType: { name: 'healingEpisode' },
  });
  expect(inferWorkflowId(run.history)).toBe('pipeline-users');
  expect(parseHistory(run.history, { workflowId: 'x', runId: 'y' }).status).toBe('running');
});

describe('the committed replay corpus (recorded by tests/workflows/healing) reads as timelines', () => {
  const corpus = (name: string) => {
    const t = buildTimeline(
      sourcesFromHistories([loadHistoryFile(path.resolve(__dirname, '../fixtures/histories', `${name}.json`))]),
    );
    expect(() => formatTimeline(t)).not.toThrow();
    return t;
  };
  const withFigures = (t: ReturnType<typeof corpus>) =>
    t.attempts.flatMap((a) => a.checks).every((c) => c.figure.length > 0);

  test('healed episode', () => {
    const t = corpus('episode-healed');
    expect(t).toMatchObject({ type: 'healingEpisode', status: 'completed', outcome: 'healed', decision: null });
    expect(t.specVersion.after).toBe(t.specVersion.candidate);
    expect(t.attempts.at(-1)).toMatchObject({ error: null });
    expect(t.attempts.at(-1)?.checks.length).toBeGreaterThan(0);
    expect(withFigures(t)).toBe(true);
  });

  test('failed episode: every attempt says why, the version unchanged', () => {
    const t = corpus('episode-failed');
    expect(t).toMatchObject({ status: 'failed', outcome: 'failed' });
    expect(t.attempts.length).toBeGreaterThan(0);
    for (const a of t.attempts) expect(a.error).toEqual(expect.any(String));
    expect(t.specVersion.after).toBe(t.specVersion.before);
  });

  test('approved and timed-out review episodes', () => {
    expect(corpus('episode-approved').decision).toMatchObject({
      mode: 'review',
      status: 'approved',
      updates: [{ accepted: true }],
    });
    const timedOut = corpus('episode-approval-timeout');
    expect(timedOut).toMatchObject({
      outcome: 'rejected',
      decision: { status: 'timed-out', decision: { via: 'timeout' } },
    });
    expect(timedOut.specVersion.after).toBe(timedOut.specVersion.before);
  });

  test('an attempt run alone: earlier attempts from its records, the drift from its input', () => {
    const t = corpus('attempt-healed-at-3');
    expect(t).toMatchObject({ type: 'healAttempt', outcome: 'verified' });
    expect(t.attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(t.drift?.kinds.length).toBeGreaterThan(0);
  });
});
