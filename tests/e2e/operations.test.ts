/**
 * Operations through the CLI on a real dev server: review mode (`run --review`, `pending`, `approve`,
 * `reject`, a wrong id, a second decision), live progress, `status`, `versions`, `rollback`, two
 * `heal run` of one pipeline at once, and schedules (create, describe, list, trigger, pause,
 * unpause, delete).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PipelineRunResult } from '../../common/types';
import { useCliSuite } from '../helpers/cli-suite';
import { runCli, type CliRun } from '../helpers/cli';
import { driftCase } from '../helpers/fixtures';

const suite = useCliSuite('e2e-ops', { roots: [path.dirname(driftCase('iowa-camel-rename', 'clean.csv'))] });

const DRIFTED = driftCase('iowa-camel-rename', 'drifted.csv');
const json = <T>(r: CliRun): T => JSON.parse(r.stdout) as T;

async function pipeline(name: string): Promise<void> {
  const file = path.join(suite.home, `${name}.csv`);
  fs.copyFileSync(driftCase('iowa-camel-rename', 'clean.csv'), file);
  expect((await runCli(['init', name, '--source', file], suite.vars)).code).toBe(0);
  expect((await runCli(['run', name, '--json'], suite.vars)).code).toBe(0);
}

/** Poll a CLI command until `pick` finds what it waits for (the server moves on its own). */
async function until<T>(
  args: string[],
  pick: (r: CliRun) => T | undefined,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await runCli(args, suite.vars);
    const v = r.code === 0 ? pick(r) : undefined;
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${r.stdout} ${r.stderr}`);
    await new Promise((res) => setTimeout(res, 300));
  }
}

interface Pending {
  pending: { episodeId: string; pipeline: string; candidateVersion: number | null; deadline: string | null }[];
}

test('review mode: pending lists the episode; a wrong id and a second decision get clear errors; approve heals; status, versions, rollback', async () => {
  await pipeline('rev');
  const run = runCli(['run', 'rev', '--review', '--json', '--source', DRIFTED], suite.vars);
  const waiting = await until(
    ['pending', '--json'],
    (r) => json<Pending>(r).pending.find((p) => p.pipeline === 'rev'),
    'the episode to wait',
  );
  expect(waiting.episodeId).toMatch(/^pipeline-rev-\d{8}T\d{9}Z-heal$/);
  expect(waiting.candidateVersion).toBe(2);

  const wrong = await runCli(['approve', 'pipeline-nope-heal', '--json'], suite.vars);
  expect(wrong.code).toBe(2);
  expect(json<{ error: { type: string } }>(wrong).error.type).toBe('EpisodeNotFound');

  // Approve by pipeline name: the active run's episode.
  const ok = await runCli(['approve', 'rev', '--by', 'alice', '--reason', 'checked the mapping', '--json'], suite.vars);
  expect(ok.code).toBe(0);
  expect(json<{ episodeId: string; decision: string; by: string }>(ok)).toMatchObject({
    episodeId: waiting.episodeId,
    decision: 'approve',
    by: 'alice',
  });
  const again = await runCli(['reject', waiting.episodeId], suite.vars);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/already approved by alice|no longer waiting/);

  const r = json<PipelineRunResult>(await run);
  expect(r).toMatchObject({
    outcome: 'healed',
    specVersion: 2,
    workflowId: 'pipeline-rev',
    decision: { decision: 'approve', by: 'alice', reason: 'checked the mapping' },
  });

  const status = await runCli(['status', 'rev', '--json'], suite.vars);
  expect(status.code).toBe(0);
  const st = json<{
    specVersion: number;
    mode: string;
    runs: { type: string; status: string }[];
    pending: unknown[];
    active: unknown;
  }>(status);
  expect(st).toMatchObject({ specVersion: 2, mode: 'auto', pending: [], active: null });
  expect(st.runs.length).toBeGreaterThanOrEqual(1);

  const versions = json<{
    versions: { version: number; current: boolean; reason: string; diff: string[]; episodeId: string | null }[];
  }>(await runCli(['versions', 'rev', '--json'], suite.vars));
  expect(versions.versions.map((v) => [v.version, v.current])).toEqual([
    [1, false],
    [2, true],
  ]);
  expect(versions.versions[1]?.episodeId).toMatch(new RegExp(`^${waiting.episodeId}`));
  expect(versions.versions[1]?.diff.join('\n')).toMatch(/^\+ .*netGeneration/m);

  const back = await runCli(['rollback', 'rev', '--json'], suite.vars);
  expect(back.code).toBe(0);
  expect(json<{ outcome: string; fromVersion: number; toVersion: number; reloaded: boolean }>(back)).toMatchObject({
    outcome: 'rolled-back',
    fromVersion: 2,
    toVersion: 1,
    reloaded: true,
  });
  const human = await runCli(['versions', 'rev'], suite.vars);
  expect(human.stdout).toMatch(/● v1 .*current/);
  expect(human.stdout).toMatch(/made current .*manual rollback from v2/);
  const none = await runCli(['rollback', 'rev', '--to', '9'], suite.vars);
  expect(none.code).toBe(2);
  expect(none.stderr).toMatch(/no version v9/);
});

test('two `heal run` of one pipeline at once: the second is refused with a clear message; live progress and the Web UI link', async () => {
  await pipeline('twice');
  const first = runCli(['run', 'twice', '--review', '--source', DRIFTED], suite.vars);
  await until(
    ['pending', '--json', '--pipeline', 'twice'],
    (r) => json<Pending>(r).pending[0],
    'the first run to wait',
  );
  const second = await runCli(['run', 'twice', '--json'], suite.vars);
  expect(second.code).toBe(1);
  const out = json<{ outcome: string; error: { type: string; message: string } }>(second);
  expect(out.outcome).toBe('failed');
  expect(out.error.type).toBe('RunInProgress');
  expect(out.error.message).toMatch(/already has a run in progress: pipeline-twice .*awaiting-approval/);

  const rej = await runCli(['reject', 'twice', '--reason', 'not today'], suite.vars);
  expect(rej.code).toBe(0);
  const r = await first;
  expect(r.code).toBe(1);
  // Live progress went to stderr (a line per change when not a terminal), the link to stdout.
  expect(r.stderr).toMatch(/heal: twice \[[^\]]+\] awaiting-approval: candidate v2 verified/);
  expect(r.stdout).toMatch(/rejected by .*not today/);
  expect(r.stdout).toMatch(
    /http:\/\/localhost:\d+\/namespaces\/default\/workflows\/pipeline-twice\/[0-9a-f-]+\/history/,
  );
});

test('schedules: create, refuse a second, describe, list, trigger, pause, unpause, delete', async () => {
  await pipeline('sched');
  // An interval fires at multiples of itself from the epoch (every 1h: on the hour), so a short one
  // can fire during the test beside the trigger; a year's interval fires once a year.
  const created = await runCli(['schedule', 'create', 'sched', '--every', '365d', '--json'], suite.vars);
  expect(created.code).toBe(0);
  expect(json<{ scheduleId: string; overlap: string; paused: boolean; nextRuns: string[] }>(created)).toMatchObject({
    scheduleId: 'heal-sched',
    overlap: 'SKIP',
    paused: false,
  });
  const dup = await runCli(['schedule', 'create', 'sched', '--cron', '0 * * * *'], suite.vars);
  expect(dup.code).toBe(2);
  expect(dup.stderr).toMatch(/already has a schedule/);
  const bad = await runCli(['schedule', 'create', 'sched', '--every', 'soon'], suite.vars);
  expect(bad.code).toBe(2);

  const list = json<{ schedules: { pipeline: string; spec: string }[] }>(
    await runCli(['schedule', 'list', '--json'], suite.vars),
  );
  expect(list.schedules).toEqual(
    expect.arrayContaining([expect.objectContaining({ pipeline: 'sched', spec: 'every 365d' })]),
  );

  expect((await runCli(['schedule', 'trigger', 'sched'], suite.vars)).code).toBe(0);
  // The triggered action ran the pipeline under its lock id: a completed run shows in status.
  const runs = await until(
    ['status', 'sched', '--json'],
    (r) => {
      const s = json<{ runs: { status: string; startTime: string }[] }>(r);
      return s.runs.length >= 2 && s.runs.every((x) => x.status === 'COMPLETED') ? s.runs : undefined;
    },
    'the triggered run',
  );
  expect(runs.length).toBeGreaterThanOrEqual(2);
  const described = json<{ actions: number; recentRuns: { workflowId: string }[] }>(
    await runCli(['schedule', 'describe', 'sched', '--json'], suite.vars),
  );
  expect(described.actions).toBe(1);
  expect(described.recentRuns[0]?.workflowId).toMatch(/^pipeline-sched-scheduled/);

  expect(
    json<{ paused: boolean }>(
      await runCli(['schedule', 'pause', 'sched', '--note', 'maintenance', '--json'], suite.vars),
    ),
  ).toMatchObject({ paused: true, note: 'maintenance' });
  expect(JSON.parse(fs.readFileSync(path.join(suite.home, 'schedules', 'sched.json'), 'utf8'))).toMatchObject({
    paused: true,
  });
  expect(json<{ paused: boolean }>(await runCli(['schedule', 'unpause', 'sched', '--json'], suite.vars))).toMatchObject(
    {
      paused: false,
    },
  );
  expect((await runCli(['schedule', 'delete', 'sched'], suite.vars)).code).toBe(0);
  const gone = await runCli(['schedule', 'describe', 'sched'], suite.vars);
  expect(gone.code).toBe(2);
  expect(gone.stderr).toMatch(/has no schedule/);
  expect(fs.existsSync(path.join(suite.home, 'schedules', 'sched.json'))).toBe(false);
});
