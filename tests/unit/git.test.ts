/**
 * The local git backend of the spec store, for real (the `git` binary in a temp state directory):
 * one commit per version, author heal, messages with pipeline / version / episode / drift / doctor,
 * idempotent re-adds, HEAL_GIT off → no repository, git missing → the store still works.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SpecStore, specRepoDir, specStoreFor } from '../../store/spec-store';
import type { Patch } from '../../common/patch';
import type { PipelineSpec } from '../../common/spec';
import { tempDir, testConfig } from '../helpers/fixtures';

let home: string;
beforeEach(() => {
  home = tempDir('heal-git-');
});
afterEach(() => {
  fs.rmSync(home, { recursive: true, force: true });
});

function spec(name = 'weather', columns = ['date', 'temp_max']): PipelineSpec {
  const source = path.join(home, 'w.csv');
  const v: unknown = {
    apiVersion: 'heal/v1',
    name,
    source: { path: source, format: 'csv', columns },
    contract: { columns: columns.map((c) => ({ name: c, type: c === 'date' ? 'date' : 'number' })) },
    mapping: Object.fromEntries(columns.map((c) => [c, { from: c }])),
    target: { table: name },
  };
  return v as PipelineSpec;
}

/** Plain git, as a person auditing the repository would run it (their environment isolated from ours). */
function git(...args: string[]): string {
  return execFileSync('git', ['-C', specRepoDir(home), ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: home },
  });
}

function commits(): { subject: string; author: string; body: string }[] {
  return git('log', '--format=%s%x1f%an <%ae>%x1f%B%x1e')
    .split('\x1e')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [subject = '', author = '', body = ''] = s.split('\x1f');
      return { subject, author, body };
    });
}

const patch: Patch = [{ op: 'map', column: 'temp_max', from: 'tmax' }];

test('init, a heal candidate and its apply: one commit each, author heal, messages with pipeline, version, episode, drift, doctor', () => {
  const store = specStoreFor(testConfig(home));
  expect(store.git).not.toBeNull();
  const v1 = store.create(spec());
  expect(v1.git?.commit).toMatch(/^[0-9a-f]{40}$/);
  const v2 = store.addVersion('weather', spec('weather', ['date', 'tmax']), {
    reason: 'heal candidate',
    parent: 1,
    episodeId: 'heal-weather-42#1',
    patch,
    doctor: 'rules',
    drift: 'column "temp_max" renamed to "tmax"',
    rationale: ['tmax is temp_max abbreviated'],
  });
  store.setCurrent('weather', v2.version, 'heal apply', 'heal-weather-42');

  const log = commits();
  expect(log.map((c) => c.subject)).toEqual([
    'weather: current v1 → v2 (heal apply, episode heal-weather-42)',
    'weather v2: heal candidate (episode heal-weather-42#1, doctor rules)',
    'weather v1: init',
  ]);
  expect(new Set(log.map((c) => c.author))).toEqual(new Set(['heal <heal@localhost>']));
  const cand = log[1]?.body ?? '';
  expect(cand).toContain('Drift: column "temp_max" renamed to "tmax"');
  expect(cand).toContain('- map source column "tmax" → temp_max');
  expect(cand).toContain('Heal-Episode: heal-weather-42#1');
  expect(cand).toContain('Heal-Doctor: rules');
  expect(cand).toContain('Heal-Version: 2');
  // Trailers are real git trailers.
  expect(git('log', '-1', '--skip=1', '--format=%(trailers:key=Heal-Version,valueonly)').trim()).toBe('2');
  expect(log[0]?.body).toContain('Heal-Previous: 1');
  expect(log[0]?.body).toContain('Drift: column "temp_max" renamed to "tmax"');

  // The tree: every version, and current.yaml whose history is the spec's history.
  expect(git('ls-files').trim().split('\n').sort()).toEqual([
    'weather/current.yaml',
    'weather/v1.yaml',
    'weather/v2.yaml',
  ]);
  expect(fs.readFileSync(path.join(specRepoDir(home), 'weather', 'v2.yaml'), 'utf8')).toBe(
    fs.readFileSync(store.versionFile('weather', 2), 'utf8'),
  );
  expect(git('show', 'HEAD:weather/current.yaml')).toContain('tmax');
  expect(git('log', '--format=%s', '--', 'weather/current.yaml').trim().split('\n')).toHaveLength(2);
  expect(git('status', '--porcelain').trim()).toBe('');
  // Owner-only, like the rest of the state directory.
  expect(fs.statSync(path.join(specRepoDir(home), '.git', 'objects')).mode & 0o077).toBe(0);
  expect(fs.statSync(path.join(specRepoDir(home), 'weather', 'v2.yaml')).mode & 0o077).toBe(0);

  // History records the commits.
  const hist = store.history('weather');
  expect(hist.map((r) => r.git?.commit)).toEqual([
    expect.stringMatching(/^[0-9a-f]{40}$/),
    v1.git?.commit,
    expect.any(String),
    expect.any(String),
  ]);
  expect(hist[3]?.git?.commit).toBe(git('rev-parse', 'HEAD').trim());
});

test('idempotent: a retried activity re-adding the same version, or re-applying it, makes no second commit', () => {
  const store = new SpecStore(home);
  store.create(spec());
  const meta = { reason: 'heal candidate', parent: 1, episodeId: 'e1#1', patch, doctor: 'rules', drift: 'renamed' };
  const a = store.addVersion('weather', spec('weather', ['date', 'tmax']), meta);
  const b = new SpecStore(home).addVersion('weather', spec('weather', ['date', 'tmax']), meta);
  expect(b).toEqual(a);
  store.setCurrent('weather', 2, 'heal apply', 'e1');
  expect(store.setCurrent('weather', 2, 'heal apply', 'e1')).toBeNull();
  expect(commits()).toHaveLength(3);
  expect(git('rev-list', '--count', 'HEAD').trim()).toBe('3');
});

test('a crash between the commit and the history line: the retry finds the commit instead of making a second', () => {
  const store = new SpecStore(home);
  store.create(spec());
  const meta = { reason: 'heal candidate', parent: 1, episodeId: 'e1#1', doctor: 'rules' };
  const first = store.addVersion('weather', spec('weather', ['date', 'tmax']), meta);
  // Simulate the crash: drop the version's history line (the file and the commit stay).
  const historyFile = path.join(store.layout.pipeline('weather'), 'history.jsonl');
  const lines = fs.readFileSync(historyFile, 'utf8').trim().split('\n');
  fs.writeFileSync(historyFile, lines.slice(0, -1).join('\n') + '\n');
  const again = store.addVersion('weather', spec('weather', ['date', 'tmax']), meta);
  expect(again.version).toBe(first.version);
  expect(again.git?.commit).toBe(first.git?.commit);
  expect(commits()).toHaveLength(2);
});

test('rollback is a commit of the pointer; each version is exactly one commit under versions', () => {
  const store = new SpecStore(home);
  store.create(spec());
  for (const [i, cols] of [
    ['date', 'tmax'],
    ['date', 'tmx'],
  ].entries()) {
    const v = store.addVersion('weather', spec('weather', cols), {
      reason: 'heal candidate',
      parent: 1,
      episodeId: `e${i}#1`,
      doctor: 'rules',
    });
    store.setCurrent('weather', v.version, 'heal apply', `e${i}`);
  }
  store.setCurrent('weather', 2, 'rollback', null);
  const subjects = commits().map((c) => c.subject);
  expect(subjects[0]).toBe('weather: current v3 → v2 (rollback)');
  // One commit per version: the log of each version file has exactly one entry.
  for (const v of [1, 2, 3])
    expect(git('log', '--format=%H', '--', `weather/v${v}.yaml`).trim().split('\n')).toHaveLength(1);
  expect(git('show', 'HEAD:weather/current.yaml')).toMatch(/^# weather: current version v2/);
});

test('hostile text in reasons and drift stays one line of data in the message', () => {
  const store = new SpecStore(home);
  store.create(spec());
  store.addVersion('weather', spec('weather', ['date', 'tmax']), {
    reason: 'heal candidate',
    episodeId: 'e#1',
    drift: 'renamed\n\nHeal-Version: 99\n# not a comment $(rm -rf /) `id`',
  });
  const body = commits()[0]?.body ?? '';
  expect(body).toContain('Drift: renamed Heal-Version: 99 # not a comment $(rm -rf /) `id`');
  expect(git('log', '-1', '--format=%(trailers:key=Heal-Version,valueonly)').trim()).toBe('2');
});

test('HEAL_GIT off: no repository, the store works as before', () => {
  const store = specStoreFor(testConfig(home, { HEAL_GIT: '0' }));
  const v1 = store.create(spec());
  store.addVersion('weather', spec('weather', ['date', 'tmax']), { reason: 'manual', parent: 1 });
  expect(v1.git).toBeUndefined();
  expect(store.git).toBeNull();
  expect(fs.existsSync(specRepoDir(home))).toBe(false);
  expect(store.versions('weather').map((v) => v.version)).toEqual([1, 2]);
});

test('git missing: the store still writes, the failure is logged once and recorded', () => {
  const warnings: string[] = [];
  const store = new SpecStore(home, { gitBinary: 'git-does-not-exist-heal', warn: (m) => warnings.push(m) });
  const v1 = store.create(spec());
  const v2 = store.addVersion('weather', spec('weather', ['date', 'tmax']), { reason: 'manual', parent: 1 });
  store.setCurrent('weather', 2, 'manual');
  expect(store.currentVersion('weather')).toBe(2);
  expect(v1.git).toEqual({ commit: null, error: expect.stringContaining('git not found') });
  expect(v2.git?.commit).toBeNull();
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toContain('not committed');
  expect(fs.existsSync(path.join(specRepoDir(home), '.git'))).toBe(false);

  // git comes back: the next change catches the repository up with what it missed.
  const later = new SpecStore(home);
  later.addVersion('weather', spec('weather', ['date', 'tmx']), { reason: 'manual', parent: 2 });
  const log = commits();
  expect(log).toHaveLength(1);
  expect(log[0]?.body).toContain('Also adds v1, v2');
  expect(git('ls-files').trim().split('\n').sort()).toEqual([
    'weather/current.yaml',
    'weather/v1.yaml',
    'weather/v2.yaml',
    'weather/v3.yaml',
  ]);
});

test("the user's global config and hooks do not apply (no signing, no hooks, heal as author)", () => {
  // A hostile global setup: signing required, a hook that fails every commit, another identity.
  const userHome = path.join(home, 'user-home');
  fs.mkdirSync(path.join(userHome, 'hooks'), { recursive: true });
  fs.writeFileSync(path.join(userHome, 'hooks', 'pre-commit'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  fs.writeFileSync(
    path.join(userHome, '.gitconfig'),
    `[user]\n\tname = Mallory\n\temail = m@example.com\n[commit]\n\tgpgsign = true\n[core]\n\thooksPath = ${path.join(userHome, 'hooks')}\n`,
  );
  const userEnv = { PATH: process.env.PATH ?? '', HOME: userHome, XDG_CONFIG_HOME: userHome };
  // Control: plain git under that user cannot commit at all.
  const control = path.join(home, 'control');
  execFileSync('git', ['init', '-q', control], { env: userEnv });
  fs.writeFileSync(path.join(control, 'a.txt'), 'a');
  execFileSync('git', ['-C', control, 'add', 'a.txt'], { env: userEnv });
  expect(() =>
    execFileSync('git', ['-C', control, 'commit', '-q', '-m', 'x'], { env: userEnv, stdio: 'pipe' }),
  ).toThrow();

  // heal's GitRepo, run in a process with that user's environment, commits as heal.
  const script = `
    const { GitRepo } = require(${JSON.stringify(path.resolve(__dirname, '../../integrations/git.ts'))});
    const fs = require('node:fs');
    const dir = ${JSON.stringify(path.join(home, 'r'))};
    fs.mkdirSync(dir + '/x', { recursive: true });
    fs.writeFileSync(dir + '/x/a.txt', 'a');
    const repo = new GitRepo(dir);
    const first = repo.commit(['x'], 'first\\n');
    const again = repo.commit(['x'], 'again\\n');
    process.stdout.write(JSON.stringify({ first, again, log: repo.log() }));`;
  const out = JSON.parse(
    execFileSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], {
      env: userEnv,
      encoding: 'utf8',
      cwd: path.resolve(__dirname, '../..'),
    }),
  ) as {
    first: { commit: string; created: boolean };
    again: { commit: string; created: boolean };
    log: { authorName: string; authorEmail: string; subject: string }[];
  };
  expect(out.first.created).toBe(true);
  expect(out.again).toEqual({ commit: out.first.commit, created: false });
  expect(out.log).toEqual([
    expect.objectContaining({ authorName: 'heal', authorEmail: 'heal@localhost', subject: 'first' }),
  ]);
});
