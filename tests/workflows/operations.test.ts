/**
 * Operations on a real dev server: search attributes found with a visibility query, summaries and
 * current details, review mode (approve, reject, a second decision, the timeout), one active run
 * per pipeline (a second start refused, a scheduled run skipped), and a manual rollback.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { Doctor } from '../../core/doctor/types';
import { SpecStore } from '../../store/spec-store';
import { episodeIdOf, pipelineLockId } from '../../common/ids';
import { HEAL_OUTCOME } from '../../common/search-attributes';
import type { PipelineRunResult, RollbackResult } from '../../common/types';
import type { HealConfig } from '../../lib/config';
import { manualRollback, pipelineRun, scheduledRun } from '../../workflows';
import { decideUpdate, progressQuery, type Progress } from '../../workflows/messages';
import { startFakeGitHub } from '../helpers/fake-github';
import { driftCase, initPipeline, tableRows, tempDir, testConfig } from '../helpers/fixtures';
import { recordHistory, uniqueTaskQueue, useDevEnv } from '../helpers/temporal';

const suite = useDevEnv();

const DRIFTED = driftCase('iowa-camel-rename', 'drifted.csv');
let seq = 0;

/** A pipeline loaded once from its clean file, with a worker for it. */
async function setup(extra: Partial<HealConfig> = {}, doctors?: Doctor[], github?: { pollIntervalMs: number }) {
  seq += 1;
  const name = `iowa_ops_${process.pid}_${Date.now()}_${seq}`;
  const config = { ...testConfig(tempDir()), ...extra };
  await initPipeline(config, name, driftCase('iowa-camel-rename', 'clean.csv'));
  const taskQueue = uniqueTaskQueue('ops');
  const worker = await Worker.create({
    connection: suite.env.nativeConnection,
    taskQueue,
    workflowBundle: suite.bundle,
    activities: createActivities({ config, ...(doctors ? { doctors } : {}), ...(github ? { github } : {}) }),
  });
  return { name, config, taskQueue, worker };
}

async function outcome(p: Promise<PipelineRunResult>): Promise<PipelineRunResult> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure)
      return err.cause.details?.[0] as PipelineRunResult;
    throw err;
  }
}

/** Poll until `check` returns a value (the server's state moves on its own; no fixed sleeps). */
async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const awaitingApproval = (episodeId: string) =>
  eventually(async () => {
    const p: Progress = await suite.env.client.workflow.getHandle(episodeId).query(progressQuery);
    return p.stage === 'awaiting-approval' ? p : undefined;
  }, `${episodeId} awaiting approval`);

async function ids(query: string): Promise<string[]> {
  const out: string[] = [];
  for await (const wf of suite.env.client.workflow.list({ query })) out.push(wf.workflowId);
  return out.sort();
}

const noAnswer: Doctor = {
  name: 'llm',
  diagnose: async () => ({ kind: 'no-answer', doctor: 'llm', reason: 'scripted: no idea', fatal: true }),
};

test('search attributes: healed and failed runs are found by PipelineName and HealOutcome; summaries and details are set', async () => {
  const ok = await setup();
  const bad = await setup({}, [noAnswer]);
  const runOk = `${ok.name}-run`;
  const runBad = `${bad.name}-run`;
  // Queries need a worker: the rest of the test runs while the first one polls.
  await ok.worker.runUntil(async () => {
    const healed = await outcome(
      suite.env.client.workflow.execute(pipelineRun, {
        taskQueue: ok.taskQueue,
        workflowId: runOk,
        args: [{ pipeline: ok.name, source: DRIFTED }],
      }),
    );
    const failed = await bad.worker.runUntil(
      outcome(
        suite.env.client.workflow.execute(pipelineRun, {
          taskQueue: bad.taskQueue,
          workflowId: runBad,
          args: [{ pipeline: bad.name, source: DRIFTED }],
        }),
      ),
    );
    expect(healed.outcome).toBe('healed');
    expect(failed.outcome).toBe('failed');

    const healedIds = await eventually(async () => {
      const found = await ids(`PipelineName = '${ok.name}' AND HealOutcome = 'healed'`);
      return found.length === 2 ? found : undefined;
    }, 'healed run and episode in visibility');
    expect(healedIds).toEqual([runOk, episodeIdOf(runOk)].sort());
    const failedIds = await eventually(async () => {
      const found = await ids(`PipelineName = '${bad.name}' AND HealOutcome = 'failed'`);
      return found.length === 2 ? found : undefined;
    }, 'failed run and episode in visibility');
    expect(failedIds).toEqual([runBad, episodeIdOf(runBad)].sort());
    expect(await ids(`PipelineName = '${bad.name}' AND DriftKinds = 'renamed'`)).toEqual(
      expect.arrayContaining([runBad]),
    );

    // The episode has a static summary (pipeline, drift) and details; every activity has a summary.
    const episode = suite.env.client.workflow.getHandle(episodeIdOf(runOk));
    const desc = await episode.describe();
    expect(await desc.staticSummary()).toMatch(new RegExp(`heal ${ok.name} \\(v1, auto\\): .*renamed`));
    expect(await desc.staticDetails()).toMatch(/\*\*renamed\*\*/);
    const history = await episode.fetchHistory();
    const summaries = (history.events ?? [])
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => {
        const p = e.userMetadata?.summary;
        return p ? defaultPayloadConverter.fromPayload<string>(p) : undefined;
      });
    expect(summaries.length).toBeGreaterThanOrEqual(3);
    expect(summaries.every((s) => typeof s === 'string' && s.length > 0)).toBe(true);
    expect(summaries).toEqual(
      expect.arrayContaining([expect.stringMatching(/^make v2 current$/), expect.stringMatching(/^reload with v2$/)]),
    );
    // Current details end with the outcome.
    const p = await episode.query(progressQuery);
    expect(p).toMatchObject({ stage: 'done', workflow: 'healingEpisode' });
    expect(p.detail).toMatch(/^healed: v2 applied/);
  });
}, 120_000);

test('review mode: the episode waits; approve applies the fix; a second decision is refused with a clear error', async () => {
  const s = await setup();
  const runId = `${s.name}-run`;
  await s.worker.runUntil(async () => {
    const run = suite.env.client.workflow.execute(pipelineRun, {
      taskQueue: s.taskQueue,
      workflowId: runId,
      args: [{ pipeline: s.name, source: DRIFTED, review: true }],
    });
    const episodeId = episodeIdOf(runId);
    const waiting = await awaitingApproval(episodeId);
    expect(waiting).toMatchObject({ candidateVersion: 2 });
    expect(Date.parse(waiting.deadline ?? '') - Date.parse(waiting.awaitingSince ?? '')).toBe(72 * 3_600_000);
    // Nothing applied while it waits; the run and the episode say so in the Web UI.
    expect(new SpecStore(s.config.home).currentVersion(s.name)).toBe(1);
    await eventually(
      async () =>
        (await ids(`PipelineName = '${s.name}' AND HealOutcome = 'awaiting-approval'`)).length === 2 ? true : undefined,
      'awaiting-approval in visibility',
    );

    const handle = suite.env.client.workflow.getHandle(episodeId);
    const d = await handle.executeUpdate(decideUpdate, {
      args: [{ decision: 'approve', by: 'alice', reason: 'looks right' }],
    });
    expect(d).toMatchObject({ decision: 'approve', by: 'alice', reason: 'looks right', via: 'cli' });
    const second = handle.executeUpdate(decideUpdate, { args: [{ decision: 'reject', by: 'bob' }] });
    await expect(second).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    await expect(second).rejects.toHaveProperty('cause.message', expect.stringMatching(/already approved by alice/));

    const r = await outcome(run);
    expect(r).toMatchObject({ outcome: 'healed', specVersion: 2, decision: { decision: 'approve', by: 'alice' } });
    await recordHistory(suite.env, episodeId, 'episode-approved');
    await recordHistory(suite.env, runId, 'run-approved');
  });
  expect(new SpecStore(s.config.home).currentVersion(s.name)).toBe(2);
}, 120_000);

test('review mode with GitHub: the fix becomes a pull request; merging it is the approval, closing one the rejection', async () => {
  const gh = await startFakeGitHub({ owner: 'acme', repo: 'data', token: 'test-token' });
  try {
    const s = await setup({ github: { token: 'test-token', repository: 'acme/data', apiUrl: gh.url } }, undefined, {
      pollIntervalMs: 100,
    });
    await s.worker.runUntil(async () => {
      const runA = `${s.name}-merged`;
      const a = outcome(
        suite.env.client.workflow.execute(pipelineRun, {
          taskQueue: s.taskQueue,
          workflowId: runA,
          args: [{ pipeline: s.name, source: DRIFTED, review: true }],
        }),
      );
      await awaitingApproval(episodeIdOf(runA));
      const pr = gh.pulls.find((p) => p.head.includes(episodeIdOf(runA)));
      expect(pr?.body).toMatch(/netGeneration/);
      gh.merge(pr?.number ?? 0, 'erin');
      const ra = await a;
      expect(ra).toMatchObject({
        outcome: 'healed',
        specVersion: 2,
        decision: { decision: 'approve', by: 'github:erin', via: 'pull-request' },
      });
      expect(ra.prUrl).toMatch(/\/pull\/\d+$/);

      const runB = `${s.name}-closed`;
      const b = outcome(
        suite.env.client.workflow.execute(pipelineRun, {
          taskQueue: s.taskQueue,
          workflowId: runB,
          args: [{ pipeline: s.name, source: driftCase('iowa-camel-rename', 'clean.csv'), review: true }],
        }),
      );
      // v2 expects the camelCase header: the clean file is a drift for it too, healed by a PR again.
      await awaitingApproval(episodeIdOf(runB));
      const prB = gh.pulls.find((p) => p.head.includes(episodeIdOf(runB)));
      gh.closePull(prB?.number ?? 0, 'frank');
      expect(await b).toMatchObject({
        outcome: 'failed',
        error: { type: 'FixRejected' },
        decision: { decision: 'reject', by: 'github:frank', via: 'pull-request' },
      });
    });
    expect(new SpecStore(s.config.home).currentVersion(s.name)).toBe(2);
  } finally {
    await gh.close();
  }
}, 120_000);

test('review mode: reject (and a decision timeout) leave the table and the version unchanged', async () => {
  const s = await setup({ approvalTimeoutMs: 1500 });
  let before: Record<string, unknown>[] = [];
  await s.worker.runUntil(async () => {
    const clean = await outcome(
      suite.env.client.workflow.execute(pipelineRun, {
        taskQueue: s.taskQueue,
        workflowId: `${s.name}-clean`,
        args: [{ pipeline: s.name }],
      }),
    );
    expect(clean.outcome).toBe('succeeded');
    before = await tableRows(s.config.warehouse, s.name);
    // Rejected by a person.
    const runA = `${s.name}-a`;
    const a = suite.env.client.workflow.execute(pipelineRun, {
      taskQueue: s.taskQueue,
      workflowId: runA,
      args: [{ pipeline: s.name, source: DRIFTED, review: true }],
    });
    // The decision must arrive inside the 1.5 s window: send it as soon as the episode waits.
    await awaitingApproval(episodeIdOf(runA));
    await suite.env.client.workflow
      .getHandle(episodeIdOf(runA))
      .executeUpdate(decideUpdate, { args: [{ decision: 'reject', by: 'carol', reason: 'wrong column' }] });
    const ra = await outcome(a);
    expect(ra).toMatchObject({
      outcome: 'failed',
      specVersion: 1,
      error: { type: 'FixRejected' },
      decision: { decision: 'reject', by: 'carol', via: 'cli' },
    });
    expect(ra.error?.message).toMatch(/rejected by carol/);

    // Nobody answers: the timeout rejects.
    const runB = `${s.name}-b`;
    const rb = await outcome(
      suite.env.client.workflow.execute(pipelineRun, {
        taskQueue: s.taskQueue,
        workflowId: runB,
        args: [{ pipeline: s.name, source: DRIFTED, review: true }],
      }),
    );
    expect(rb).toMatchObject({
      outcome: 'failed',
      error: { type: 'FixRejected' },
      decision: { decision: 'reject', by: 'timeout', via: 'timeout' },
    });
    await recordHistory(suite.env, episodeIdOf(runB), 'episode-approval-timeout');
    const desc = await suite.env.client.workflow.getHandle(episodeIdOf(runB)).describe();
    expect(desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('rejected');
  });
  expect(new SpecStore(s.config.home).currentVersion(s.name)).toBe(1);
  expect(await tableRows(s.config.warehouse, s.name)).toEqual(before);
}, 120_000);

test('one active run per pipeline: a second start is refused, a scheduled run is skipped', async () => {
  const s = await setup();
  const lock = pipelineLockId(s.name);
  await s.worker.runUntil(async () => {
    // A review-mode run holds the pipeline while its fix waits for approval.
    const first = await suite.env.client.workflow.start(pipelineRun, {
      taskQueue: s.taskQueue,
      workflowId: lock,
      args: [{ pipeline: s.name, source: DRIFTED, review: true }],
    });
    const runProgress = await eventually(async () => {
      const p = await first.query(progressQuery);
      return p.stage === 'awaiting-approval' ? p : undefined;
    }, 'the run to await approval');
    expect(runProgress.childId).toMatch(new RegExp(`^${lock}-\\d{8}T\\d{9}Z-heal$`));

    await expect(
      suite.env.client.workflow.start(pipelineRun, {
        taskQueue: s.taskQueue,
        workflowId: lock,
        args: [{ pipeline: s.name }],
      }),
    ).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
    const skipped = await suite.env.client.workflow.execute(scheduledRun, {
      taskQueue: s.taskQueue,
      workflowId: `${lock}-scheduled-test`,
      args: [{ pipeline: s.name }],
    });
    expect(skipped).toMatchObject({ outcome: 'skipped', run: null });
    expect(skipped.reason).toMatch(/in progress/);

    await suite.env.client.workflow
      .getHandle(runProgress.childId ?? '')
      .executeUpdate(decideUpdate, { args: [{ decision: 'approve' }] });
    const r = await outcome(first.result());
    expect(r).toMatchObject({ outcome: 'healed', workflowId: lock });
    expect(r.runKey).toMatch(new RegExp(`^${lock}-\\d{8}T\\d{9}Z$`));

    // With nothing running, the scheduled run runs the pipeline under the lock id.
    const ran = await suite.env.client.workflow.execute(scheduledRun, {
      taskQueue: s.taskQueue,
      workflowId: `${lock}-scheduled-test2`,
      args: [{ pipeline: s.name, source: undefined } as { pipeline: string }],
    });
    expect(ran.outcome).toBe('ran');
    expect(ran.run?.workflowId).toBe(lock);
  });
}, 120_000);

test('manual rollback restores a version and reloads; a rollback the source cannot load is undone', async () => {
  const s = await setup();
  await s.worker.runUntil(async () => {
    const healed = await outcome(
      suite.env.client.workflow.execute(pipelineRun, {
        taskQueue: s.taskQueue,
        workflowId: `${s.name}-heal-run`,
        args: [{ pipeline: s.name, source: DRIFTED }],
      }),
    );
    expect(healed).toMatchObject({ outcome: 'healed', specVersion: 2 });
    // Back to v1: the spec's own (clean) source loads with it.
    const back: RollbackResult = await suite.env.client.workflow.execute(manualRollback, {
      taskQueue: s.taskQueue,
      workflowId: pipelineLockId(s.name),
      args: [{ pipeline: s.name, toVersion: 1, by: 'dave', reason: 'audit' }],
    });
    expect(back).toMatchObject({ fromVersion: 2, toVersion: 1, reloaded: true, rowsLoaded: 51 });
    const store = new SpecStore(s.config.home);
    expect(store.currentVersion(s.name)).toBe(1);
    const last = store
      .history(s.name)
      .filter((h) => h.event === 'current')
      .at(-1);
    expect(last?.reason).toMatch(/manual rollback from v2 by dave: audit/);

    // Forward to v2 with the clean source: v2 expects the camelCase header, so the reload fails and v1 stays.
    const bad = suite.env.client.workflow.execute(manualRollback, {
      taskQueue: s.taskQueue,
      workflowId: pipelineLockId(s.name),
      args: [{ pipeline: s.name, toVersion: 2 }],
    });
    await expect(bad).rejects.toBeInstanceOf(WorkflowFailedError);
    await expect(bad).rejects.toHaveProperty(
      'cause.message',
      expect.stringMatching(/does not load with v2.*v1 is current again/),
    );
    expect(store.currentVersion(s.name)).toBe(1);
  });
}, 120_000);
