/**
 * `heal inspect`, `heal replay` and `heal histories export` end to end through the real CLI, on
 * histories this file makes: one dev server, a worker in this process, one pipeline (iowa, a real
 * public data set) with a healed episode (a renamed column) and a failed one (a required column
 * dropped), and a second pipeline whose episode waits for approval (running), then is terminated.
 * Asserts structure, never timings.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { PipelineRunResult } from '../../common/types';
import type { Timeline } from '../../client/history/timeline';
import type { HealConfig } from '../../lib/config';
import { decideUpdate, progressQuery } from '../../workflows/messages';
import { cliEnv, ROOT, runCli } from '../helpers/cli';
import { DRIFT_CASES, driftCase, initPipeline, tempDir, testConfig } from '../helpers/fixtures';
import { createDevEnv, testWorkflowBundle, uniqueTaskQueue } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let home: string;
let config: HealConfig;
let vars: NodeJS.ProcessEnv;
let healed: PipelineRunResult;
let failed: PipelineRunResult;
const taskQueue = uniqueTaskQueue('e2e-inspect');

function onlyJson<T>(stdout: string): T {
  const lines = stdout.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] ?? '') as T;
}

beforeAll(async () => {
  home = tempDir();
  config = testConfig(home, { HEAL_TASK_QUEUE: taskQueue });
  const [e, bundle] = await Promise.all([createDevEnv(), testWorkflowBundle()]);
  env = e;
  // The CLI's replay reuses the bundle this test built (same content hash) instead of re-bundling.
  fs.mkdirSync(path.join(home, 'cache'), { recursive: true });
  fs.copyFileSync(bundle.codePath, path.join(home, 'cache', path.basename(bundle.codePath)));
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: createActivities({ config }),
  });
  running = worker.run();
  vars = cliEnv({
    HEAL_HOME: home,
    HEAL_ALLOWED_ROOTS: [home, DRIFT_CASES].join(path.delimiter),
    TEMPORAL_ADDRESS: env.address,
    HEAL_TASK_QUEUE: taskQueue,
  });

  await initPipeline(config, 'iowa', driftCase('iowa-camel-rename', 'clean.csv'));
  const ok = await runCli(['run', 'iowa', '--json', '--source', driftCase('iowa-camel-rename', 'drifted.csv')], vars);
  healed = onlyJson<PipelineRunResult>(ok.stdout);
  expect(healed).toMatchObject({ outcome: 'healed', specVersion: 2 });
  // A required column dropped: the rules doctor has no fix → failed, v2 stays current.
  const dropped = path.join(home, 'iowa-dropped.csv');
  const lines = fs.readFileSync(driftCase('iowa-camel-rename', 'drifted.csv'), 'utf8').trimEnd().split('\n');
  fs.writeFileSync(dropped, lines.map((l) => l.split(',').slice(0, 2).join(',')).join('\n') + '\n');
  const ko = await runCli(['run', 'iowa', '--json', '--source', dropped], vars);
  failed = onlyJson<PipelineRunResult>(ko.stdout);
  expect(failed).toMatchObject({ outcome: 'failed', specVersion: 2 });
}, 240_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

describe('heal inspect', () => {
  test('--json on a healed run: one object with the run, its episode, drift, attempts with checks, versions, events', async () => {
    const r = await runCli(['inspect', 'pipeline-iowa', '--run-id', healed.runId ?? '', '--json'], vars);
    expect(r.code).toBe(0);
    const t = onlyJson<Timeline>(r.stdout);
    expect(Object.keys(t)).toEqual(
      expect.arrayContaining([
        'workflowId',
        'runId',
        'type',
        'status',
        'pipeline',
        'drift',
        'attempts',
        'decision',
        'outcome',
        'specVersion',
        'durations',
        'events',
      ]),
    );
    expect(t).toMatchObject({
      workflowId: 'pipeline-iowa',
      runId: healed.runId,
      type: 'pipelineRun',
      status: 'completed',
      pipeline: 'iowa',
      outcome: 'healed',
      decision: null,
      episode: { workflowId: healed.episodeId, status: 'completed' },
      specVersion: { before: 1, after: 2, candidate: 2, rolledBack: false },
      rows: { loaded: 51, quarantined: 0 },
    });
    expect(t.drift?.kinds).toEqual(['renamed']);
    expect(t.drift?.differences[0]).toMatchObject({ kind: 'renamed', column: 'net_generation' });
    expect(t.attempts).toHaveLength(1);
    const [a] = t.attempts;
    expect(a).toMatchObject({ attempt: 1, doctor: 'rules', status: 'completed', error: null, candidateVersion: 2 });
    expect(a?.patchText.join('\n')).toContain('netGeneration');
    expect(a?.checks.length).toBeGreaterThan(2);
    for (const c of a?.checks ?? [])
      expect(c).toEqual(
        expect.objectContaining({ name: expect.any(String), passed: true, figure: expect.any(String) }),
      );
    expect(typeof a?.durationMs).toBe('number');
    expect(a?.activities.map((x) => x.name)).toEqual(['diagnose', 'proposePatch', 'verifyPatch']);
    // Durations per activity come from scheduled → closed event times.
    const names = t.durations.activities.map((x) => `${x.in}:${x.name}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'run:getPipeline',
        'run:loadSource',
        'episode:applyVersion',
        'episode:loadSource',
        'attempt 1:verifyPatch',
      ]),
    );
    for (const x of t.durations.activities)
      if (x.status === 'completed' || x.status === 'failed') expect(x.durationMs).toEqual(expect.any(Number));
    expect(t.durations.totalMs).toBeGreaterThan(0);
    // Events of the run, the episode and the attempt, merged in time order.
    expect(new Set(t.events.map((e) => e.in))).toEqual(new Set(['run', 'episode', 'attempt 1']));
    const offsets = t.events.map((e) => e.offsetMs);
    expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
    expect(t.events.some((e) => e.type === 'ActivityTaskFailed' && /SchemaDrift/.test(e.text))).toBe(true);
  });

  test('--json on the pipeline id shows the latest run: the failed one, version unchanged', async () => {
    const r = await runCli(['inspect', 'pipeline-iowa', '--json'], vars);
    expect(r.code).toBe(0);
    const t = onlyJson<Timeline>(r.stdout);
    expect(t).toMatchObject({
      runId: failed.runId,
      status: 'failed',
      outcome: 'failed',
      specVersion: { before: 2, after: 2, rolledBack: false },
    });
    expect(t.drift?.kinds).toContain('missing-column');
    expect(t.attempts).toHaveLength(1);
    expect(t.attempts[0]?.error).toEqual(expect.any(String));
    expect(t.error).toEqual(expect.any(String));
  });

  test('human output of a healed episode: drift, attempts, checks with figures and thresholds, outcome, durations', async () => {
    const r = await runCli(['inspect', healed.episodeId ?? ''], vars);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain(`healing episode ${healed.episodeId}`);
    expect(out).toMatch(/Drift \(spec v1; renamed\)/);
    expect(out).toContain('net_generation');
    expect(out).toMatch(/Attempt 1\/\d — rules doctor/);
    expect(out).toMatch(/✔ rows-accounted: .*\d.* \(threshold /);
    expect(out).toMatch(/Outcome\n\s+healed/);
    expect(out).toContain('spec v1 → v2 applied');
    expect(out).toMatch(/Durations: total \d/);
    expect(out).toContain('Events');
  });

  test('human output of a failed run: why it failed and the unchanged version', async () => {
    const r = await runCli(['inspect', 'pipeline-iowa', '--brief'], vars);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('missing-column');
    expect(r.stdout).toMatch(/Attempt 1\/\d/);
    expect(r.stdout).toContain('why it failed:');
    expect(r.stdout).toMatch(/Outcome\n\s+failed/);
    expect(r.stdout).toContain('spec version unchanged: v2');
    expect(r.stdout).not.toContain('Events');
  });

  test('an unknown id: one clear line, exit 2', async () => {
    const r = await runCli(['inspect', 'pipeline-nope'], vars);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['heal: no workflow execution pipeline-nope in namespace default']);
  });

  test('a review-mode episode: awaiting approval while it runs, then terminated; another approved through the decide Update', async () => {
    await initPipeline(config, 'gap', driftCase('gapminder-currency', 'clean.csv'));
    const startReview = async () => {
      const h = await env.client.workflow.start('pipelineRun', {
        taskQueue,
        workflowId: 'pipeline-gap',
        args: [{ pipeline: 'gap', source: driftCase('gapminder-currency', 'drifted.csv'), review: true }],
      });
      // Wait (polling the run's search attribute) until the episode waits for a decision.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const d = await h.describe();
        if (d.searchAttributes['HealOutcome']?.[0] === 'awaiting-approval') return h;
        if (d.status.name !== 'RUNNING' || Date.now() > deadline)
          throw new Error(`the episode never waited for approval (${d.status.name})`);
        await new Promise((res) => setTimeout(res, 250));
      }
    };
    const h = await startReview();
    const waiting = onlyJson<Timeline>((await runCli(['inspect', 'pipeline-gap', '--json'], vars)).stdout);
    expect(waiting).toMatchObject({
      status: 'running',
      outcome: 'awaiting-approval',
      decision: { mode: 'review', status: 'awaiting', decision: null },
    });
    expect(waiting.decision?.timeoutMs).toBe(72 * 3_600_000);
    expect(waiting.attempts[0]).toMatchObject({ attempt: 1, error: null });
    const episodeId = waiting.episode?.workflowId ?? '';
    const human = await runCli(['inspect', episodeId, '--brief'], vars);
    expect(human.stdout).toContain(`heal approve ${episodeId}`);

    await env.client.workflow.getHandle(episodeId).terminate('inspect test: stop waiting');
    await h.result().catch(() => undefined);
    const ended = onlyJson<Timeline>((await runCli(['inspect', episodeId, '--json'], vars)).stdout);
    expect(ended).toMatchObject({
      type: 'healingEpisode',
      status: 'terminated',
      outcome: 'terminated',
      specVersion: { before: 1, after: 1 },
    });
    expect(ended.error).toContain('stop waiting');
    expect(ended.events.at(-1)?.type).toBe('WorkflowExecutionTerminated');

    const h2 = await startReview();
    const p = await h2.query(progressQuery);
    await env.client.workflow
      .getHandle(p.childId ?? '')
      .executeUpdate(decideUpdate, { args: [{ decision: 'approve', by: 'alice', reason: 'figures look right' }] });
    await h2.result();
    const approved = onlyJson<Timeline>((await runCli(['inspect', 'pipeline-gap', '--json'], vars)).stdout);
    expect(approved).toMatchObject({
      outcome: 'healed',
      decision: {
        mode: 'review',
        status: 'approved',
        decision: { decision: 'approve', by: 'alice', via: 'cli', reason: 'figures look right' },
      },
      // v2 was the terminated episode's candidate (recorded, never applied).
      specVersion: { before: 1, candidate: 3, after: 3, rolledBack: false },
    });
    expect(approved.decision?.updates).toEqual([
      expect.objectContaining({
        accepted: true,
        input: { decision: 'approve', by: 'alice', reason: 'figures look right' },
        error: null,
      }),
    ]);
    expect(approved.decision?.waitedMs).toEqual(expect.any(Number));
  }, 180_000);
});

describe('heal replay and heal histories export', () => {
  test('replay of a healed run with its episode and attempts: deterministic, exit 0', async () => {
    const r = await runCli(
      ['replay', 'pipeline-iowa', '--run-id', healed.runId ?? '', '--with-children', '--json'],
      vars,
    );
    expect(r.code).toBe(0);
    const out = onlyJson<{ deterministic: boolean; results: { type: string; deterministic: boolean }[] }>(r.stdout);
    expect(out.deterministic).toBe(true);
    expect(out.results.map((x) => x.type)).toEqual(['pipelineRun', 'healingEpisode', 'healAttempt']);
    const human = await runCli(['replay', healed.episodeId ?? ''], vars);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^✔ deterministic: /);
  }, 120_000);

  test('a deliberately non-deterministic workflows file: the divergence is shown, exit 1', async () => {
    const workflowsPath = path.join(ROOT, 'tests/fixtures/nondeterministic/workflows.ts');
    const r = await runCli(['replay', healed.episodeId ?? '', '--workflows-path', workflowsPath], vars);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('✖ divergence');
    expect(r.stdout).toMatch(/DeterminismViolationError: .*[Nn]ondeterminism/);
  }, 180_000);

  test('histories export --query "PipelineName=\'iowa\'" writes files that replay --file accepts', async () => {
    const out = path.join(home, 'corpus');
    const r = await runCli(['histories', 'export', '--query', "PipelineName='iowa'", '--out', out, '--json'], vars);
    expect(r.code).toBe(0);
    const res = onlyJson<{ exported: number; files: string[] }>(r.stdout);
    // Two runs and two episodes of iowa carry PipelineName.
    expect(res.exported).toBe(4);
    const names = fs.readdirSync(out).sort();
    expect(names).toContain(`pipeline-iowa__${healed.runId}.json`);
    const doc = JSON.parse(fs.readFileSync(path.join(out, `pipeline-iowa__${healed.runId}.json`), 'utf8')) as {
      workflowId: string;
      history: { events: unknown[] };
    };
    expect(doc.workflowId).toBe('pipeline-iowa');
    expect(doc.history.events.length).toBeGreaterThan(5);

    // The whole directory: every history replays.
    const all = await runCli(['replay', '--file', out], vars);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain(`✔ deterministic: pipeline-iowa (run ${healed.runId}) pipelineRun`);
    expect(all.stdout).toContain('all 4 histories are deterministic');
    // A bare history (as `temporal workflow show --output json` writes it): its workflow id is read back from its children.
    const bare = path.join(home, 'bare.json');
    fs.writeFileSync(bare, JSON.stringify(doc.history));
    const b = await runCli(['replay', '--file', bare, '--json'], vars);
    expect(b.code).toBe(0);
    expect(onlyJson<{ deterministic: boolean; results: { workflowId: string }[] }>(b.stdout)).toMatchObject({
      deterministic: true,
      results: [{ workflowId: 'pipeline-iowa' }],
    });
  }, 180_000);

  test('bad input: an unknown id, a missing file → one line, exit 2', async () => {
    const a = await runCli(['replay', 'pipeline-nope'], vars);
    expect({ code: a.code, err: a.stderr.trim() }).toEqual({
      code: 2,
      err: 'heal: no workflow execution pipeline-nope in namespace default',
    });
    const b = await runCli(['replay', '--file', path.join(home, 'missing.json')], vars);
    expect({ code: b.code, lines: b.stderr.trim().split('\n').length }).toEqual({ code: 2, lines: 1 });
  });
});
