/**
 * `publishFix` and `awaitPullRequestDecision` against a real local HTTP server speaking GitHub's
 * REST API (tests/helpers/fake-github.ts): the pull request's content, retries on 5xx and rate
 * limits (Retry-After honoured, measured from the recorded request times), idempotency per
 * episode, rejections, the disabled mode, and the review-mode wait (merge, close, cancellation).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createGitHubActivities, fixBranch, mdText, type GitHubDeps } from '../../integrations/github';
import { SpecStore } from '../../store/spec-store';
import type { Patch } from '../../common/patch';
import type { PipelineSpec } from '../../common/spec';
import type { PublishFixInput } from '../../common/types';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github';
import { tempDir } from '../helpers/fixtures';

const TOKEN = 'ghp_s3cr3t-token-never-shown';
let home: string;
let gh: FakeGitHub;

function spec(columns: string[]): PipelineSpec {
  const v: unknown = {
    apiVersion: 'heal/v1',
    name: 'weather',
    source: { path: path.join(home, 'w.csv'), format: 'csv', columns },
    contract: {
      columns: [
        { name: 'date', type: 'date' },
        { name: 'temp_max', type: 'number' },
      ],
    },
    mapping: { date: { from: 'date' }, temp_max: { from: columns[1] ?? 'temp_max' } },
    target: { table: 'weather' },
  };
  return v as PipelineSpec;
}

const patch: Patch = [{ op: 'map', column: 'temp_max', from: 'tmax' }];

function input(over: Partial<PublishFixInput> = {}): PublishFixInput {
  return {
    pipeline: 'weather',
    episodeId: 'heal-weather-run-7',
    runId: 'run-weather-7',
    baseVersion: 1,
    candidateVersion: 2,
    doctor: 'rules',
    patch,
    mode: 'review',
    drift: {
      pipeline: 'weather',
      specVersion: 1,
      sources: [path.join(home, 'w.csv')],
      summary: 'column "temp_max" is missing; new column "tmax"',
      kinds: ['renamed'],
      differences: [
        {
          kind: 'renamed',
          column: 'temp_max',
          sourceColumn: 'tmax',
          expected: 'temp_max',
          found: 'tmax',
          detail: 'temp_max looks renamed to tmax',
        },
      ],
      expected: { format: 'csv', columns: ['date', 'temp_max'] },
      found: { format: 'csv', columns: ['date', 'tmax'] },
    },
    report: {
      passed: true,
      candidateVersion: 2,
      rowsRead: 1461,
      rowsLoaded: 1461,
      rowsQuarantined: 0,
      summary: 'all 3 checks passed',
      checks: [
        { name: 'contract', passed: true, figure: '2 of 2 columns' },
        { name: 'quarantine-budget', passed: true, figure: '0.0%', threshold: '≤ 1%' },
        { name: 'profile:temp_max', passed: true, figure: 'median 16.1 vs baseline 16.1', threshold: '±25%' },
      ],
    },
    attempts: [
      { attempt: 1, doctor: 'memory', patch: null, candidateVersion: null, report: null, error: 'no remembered fix' },
      { attempt: 2, doctor: 'rules', patch, candidateVersion: 2, report: null, error: null },
    ],
    ...over,
  };
}

function withReport(i: PublishFixInput): PublishFixInput {
  return { ...i, attempts: i.attempts.map((a) => (a.attempt === 2 ? { ...a, report: i.report } : a)) };
}

function deps(over: Partial<GitHubDeps> = {}, github: Partial<GitHubDeps['config']['github']> = {}): GitHubDeps {
  return {
    config: {
      home,
      uiUrl: 'http://ui.test:8233',
      namespace: 'default',
      github: { token: TOKEN, repository: `${gh.owner}/${gh.repo}`, apiUrl: gh.url, ...github },
    },
    retryBaseMs: 20,
    ...over,
  };
}

beforeEach(async () => {
  home = tempDir('heal-github-');
  const store = new SpecStore(home, { git: false });
  store.create(spec(['date', 'temp_max']));
  store.addVersion('weather', spec(['date', 'tmax']), {
    reason: 'heal candidate',
    parent: 1,
    episodeId: 'heal-weather-run-7#2',
    patch,
    doctor: 'rules',
  });
  gh = await startFakeGitHub({ token: TOKEN });
});
afterEach(async () => {
  await gh.close();
  fs.rmSync(home, { recursive: true, force: true });
});

const POST_PULLS = /\/pulls$/;
const POST_REFS = /\/git\/refs$/;
const CONTENTS = /\/contents\//;

function gaps(reqs: { at: number }[]): number[] {
  return reqs.slice(1).map((r, i) => r.at - (reqs[i]?.at ?? 0));
}

describe('publishFix', () => {
  test('opens a pull request: branch heal/<pipeline>/<episode>, the candidate committed by heal, a body with drift, patch, checks, attempts and links', async () => {
    const res = await createGitHubActivities(deps()).publishFix(withReport(input()));
    const branch = 'heal/weather/heal-weather-run-7';
    expect(res).toEqual({ status: 'opened', prNumber: 1, prUrl: `${gh.url}/html/acme/data/pull/1`, branch });
    expect(gh.refs.get(branch)).toBeDefined();

    // The spec change: the candidate version's file, one commit by heal on the branch.
    const committed = gh.files.get(`${branch}:heal/specs/weather.yaml`) ?? '';
    expect(committed).toContain(fs.readFileSync(new SpecStore(home, { git: false }).versionFile('weather', 2), 'utf8'));
    expect(committed.split('\n')[0]).toBe('# weather v2 (heal episode heal-weather-run-7, doctor rules)');
    expect(gh.commits).toHaveLength(1);
    expect(gh.commits[0]?.author).toEqual({ name: 'heal', email: 'heal@localhost' });
    expect(gh.commits[0]?.message).toContain('Drift: column "temp_max" is missing; new column "tmax"');
    expect(gh.commits[0]?.message).toContain('Heal-Episode: heal-weather-run-7');

    const pr = gh.pulls[0];
    expect(pr).toMatchObject({
      head: branch,
      base: 'main',
      title: 'heal: fix weather (v1 → v2): column "temp_max" is missing; new column "tmax"',
    });
    const body = pr?.body ?? '';
    // Drift: summary and the differences table.
    expect(body).toContain('## Drift');
    expect(body).toContain('> column &quot;temp\\_max&quot; is missing; new column &quot;tmax&quot;');
    expect(body).toContain('| kind | column | expected | found | detail |');
    expect(body).toContain('| renamed | temp\\_max | temp\\_max | tmax | temp\\_max looks renamed to tmax |');
    // Patch as a table (describeOp).
    expect(body).toContain('| op | detail |\n| --- | --- |\n| map | map source column &quot;tmax&quot; → temp\\_max |');
    // Checks with figures.
    expect(body).toContain('## Verification: passed');
    expect(body).toContain('Rows read 1461, loaded 1461, quarantined 0.');
    expect(body).toContain('| quarantine-budget | ✅ pass | 0.0% | ≤ 1% |');
    expect(body).toContain('| profile:temp\\_max | ✅ pass | median 16.1 vs baseline 16.1 | ±25% |');
    // Attempts.
    expect(body).toContain('| 1 | memory | — | ❌ no remembered fix |');
    expect(body).toContain(
      '| 2 | rules | map source column &quot;tmax&quot; → temp\\_max | ✅ all 3 checks passed (v2) |',
    );
    // Links: the Web UI (episode, run) and the spec's history.
    expect(body).toContain('http://ui.test:8233/namespaces/default/workflows/heal-weather-run-7');
    expect(body).toContain('http://ui.test:8233/namespaces/default/workflows/run-weather-7');
    expect(body).toContain(`${gh.url}/html/acme/data/commits/main/heal/specs/weather.yaml`);
    expect(body).toContain('merging this pull request approves the fix');
    expect(body).toContain('`heal inspect heal-weather-run-7`, `heal versions weather`');

    // The token is only ever in the Authorization header.
    for (const r of gh.requests) {
      expect(r.headers.authorization).toBe(`token ${TOKEN}`);
      expect(JSON.stringify(r.body ?? '')).not.toContain(TOKEN);
      expect(r.path).not.toContain(TOKEN);
    }
  });

  test('values from data are escaped: no HTML, no mentions, no table breaks', async () => {
    const hostile = '<script>alert(1)</script> | @everyone [x](javascript:1) `code`\nnext line';
    const base = input();
    await createGitHubActivities(deps()).publishFix({
      ...base,
      drift: {
        ...base.drift,
        summary: hostile,
        differences: [
          {
            kind: 'unexpected-column',
            sourceColumn: hostile,
            detail: hostile,
            samples: ['<img src=x onerror=alert(1)>'],
          },
        ],
      },
    });
    const body = gh.pulls[0]?.body ?? '';
    expect(body).not.toMatch(/<script|<img|@everyone|(?<!\\)\]\(javascript/);
    expect(body).toContain(
      '&lt;script&gt;alert(1)&lt;/script&gt; \\| &#64;everyone \\[x\\](javascript:1) \\`code\\` next line',
    );
    expect(body).toContain(mdText('<img src=x onerror=alert(1)>', 40));
    // Every row of the drift table has its 5 cells (no `|` from data splits a row).
    const row = body.split('\n').find((l) => l.startsWith('| unexpected-column'));
    expect(row?.split(/(?<!\\)\|/).length).toBe(7);
    expect(gh.pulls[0]?.title).not.toContain('\n');
  });

  test('idempotent per episode: a second publishFix finds the branch and the pull request (status found)', async () => {
    const acts = createGitHubActivities(deps());
    const first = await acts.publishFix(input());
    const second = await acts.publishFix(input());
    expect(second).toEqual({ ...first, status: 'found' });
    expect(gh.pulls).toHaveLength(1);
    expect(gh.commits).toHaveLength(1);
    expect(gh.calls('POST', POST_PULLS)).toHaveLength(1);
    expect(gh.calls('POST', POST_REFS)).toHaveLength(1);
    // Another episode gets its own branch and pull request.
    const other = await acts.publishFix(input({ episodeId: 'heal-weather-run-8' }));
    expect(other).toMatchObject({ status: 'opened', prNumber: 2, branch: 'heal/weather/heal-weather-run-8' });
  });

  test('a retry after a failure halfway (branch and commit made, pull request not) reuses them: one commit, one pull request', async () => {
    gh.fail({ method: 'POST', path: POST_PULLS, status: 502, times: 2 });
    const acts = createGitHubActivities(deps({ maxRequestAttempts: 2 }));
    await expect(acts.publishFix(input())).rejects.toMatchObject({
      type: 'GitHubUnavailable',
      message: expect.stringContaining('502'),
    });
    expect(gh.pulls).toHaveLength(0);
    expect(gh.commits).toHaveLength(1);
    const retry = await acts.publishFix(input());
    expect(retry).toMatchObject({ status: 'opened', prNumber: 1 });
    expect(gh.commits).toHaveLength(1);
    expect(gh.calls('POST', POST_REFS)).toHaveLength(1);
    expect(gh.pulls).toHaveLength(1);
  });

  test('a pull request opened by a concurrent attempt (422 "already exists") is found, not duplicated', async () => {
    const acts = createGitHubActivities(deps());
    await acts.publishFix(input());
    // The list comes back empty once (as if the first attempt's PR was not visible yet).
    gh.fail({ method: 'GET', path: POST_PULLS, status: 200, body: [] });
    const again = await acts.publishFix(input());
    expect(again).toMatchObject({ status: 'found', prNumber: 1 });
    expect(gh.pulls).toHaveLength(1);
  });

  test('retries 5xx with exponential backoff (request times) and succeeds', async () => {
    gh.fail({ method: 'POST', path: POST_REFS, status: 500, times: 2 });
    const res = await createGitHubActivities(deps({ retryBaseMs: 100 })).publishFix(input());
    expect(res.status).toBe('opened');
    const tries = gh.calls('POST', POST_REFS);
    expect(tries.map((r) => r.status)).toEqual([500, 500, 201]);
    const [g1 = 0, g2 = 0] = gaps(tries);
    expect(g1).toBeGreaterThanOrEqual(95);
    expect(g2).toBeGreaterThanOrEqual(195);
  });

  test('429 with Retry-After: the next try waits what GitHub asked (not the backoff)', async () => {
    gh.fail({
      method: 'POST',
      path: POST_PULLS,
      status: 429,
      headers: { 'retry-after': '1' },
      body: { message: 'API rate limit exceeded' },
    });
    const res = await createGitHubActivities(deps({ retryBaseMs: 10 })).publishFix(input());
    expect(res.status).toBe('opened');
    const tries = gh.calls('POST', POST_PULLS);
    expect(tries.map((r) => r.status)).toEqual([429, 201]);
    expect(gaps(tries)[0]).toBeGreaterThanOrEqual(990);
    expect(gaps(tries)[0]).toBeLessThan(5000);
  });

  test('403 rate limit with x-ratelimit-reset: waits until the reset', async () => {
    const clock = 1_900_000_000_000;
    gh.fail({
      method: 'GET',
      path: /\/repos\/acme\/data$/,
      status: 403,
      headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(clock / 1000 + 1) },
      body: { message: 'API rate limit exceeded for user' },
    });
    const res = await createGitHubActivities(deps({ retryBaseMs: 10, now: () => clock })).publishFix(input());
    expect(res.status).toBe('opened');
    const tries = gh.calls('GET', /\/repos\/acme\/data$/);
    expect(tries.map((r) => r.status)).toEqual([403, 200]);
    expect(gaps(tries)[0]).toBeGreaterThanOrEqual(990);
  });

  test('a wait longer than the budget fails at once as GitHubUnavailable, with GitHub’s wait as the next retry delay', async () => {
    gh.fail({ method: 'POST', path: POST_REFS, status: 429, headers: { 'retry-after': '120' } });
    const started = performance.now();
    const err = (await createGitHubActivities(deps())
      .publishFix(input())
      .catch((e: unknown) => e)) as {
      type?: string;
      nonRetryable?: boolean;
      nextRetryDelay?: unknown;
      message: string;
    };
    expect(performance.now() - started).toBeLessThan(5000);
    expect(err.type).toBe('GitHubUnavailable');
    expect(err.nonRetryable).toBe(false);
    expect(err.nextRetryDelay).toBe(120_000);
    expect(gh.calls('POST', POST_REFS)).toHaveLength(1);
    expect(err.message).not.toContain(TOKEN);
  });

  test('a request that hangs past the request timeout is retried', async () => {
    gh.fail({ method: 'GET', path: /\/repos\/acme\/data$/, delayMs: 3000 });
    const res = await createGitHubActivities(deps({ requestTimeoutMs: 300 })).publishFix(input());
    expect(res.status).toBe('opened');
    const tries = gh.calls('GET', /\/repos\/acme\/data$/);
    expect(tries).toHaveLength(2);
    expect(gaps(tries)[0]).toBeGreaterThanOrEqual(300);
    expect(gaps(tries)[0]).toBeLessThan(2500);
  });

  test('5xx past the attempts: GitHubUnavailable (retryable by the github policy)', async () => {
    gh.fail({ method: 'PUT', path: CONTENTS, status: 503, times: 10 });
    const err = (await createGitHubActivities(deps({ maxRequestAttempts: 3 }))
      .publishFix(input())
      .catch((e: unknown) => e)) as { type?: string; nonRetryable?: boolean };
    expect(err).toMatchObject({ type: 'GitHubUnavailable', nonRetryable: false });
    expect(gh.calls('PUT', CONTENTS)).toHaveLength(3);
  });

  test('rejected for good: 422, 404 and 401 → GitHubRequestRejected (no retry, no token in the message)', async () => {
    gh.fail({
      method: 'PUT',
      path: CONTENTS,
      status: 422,
      body: { message: 'Validation Failed', errors: [{ message: 'path is invalid' }] },
    });
    const e422 = (await createGitHubActivities(deps())
      .publishFix(input())
      .catch((e: unknown) => e)) as { type?: string; nonRetryable?: boolean; message: string };
    expect(e422).toMatchObject({ type: 'GitHubRequestRejected', nonRetryable: true });
    expect(e422.message).toContain('path is invalid');
    expect(gh.calls('PUT', CONTENTS)).toHaveLength(1);

    const e404 = (await createGitHubActivities(deps({}, { repository: 'acme/nope' }))
      .publishFix(input())
      .catch((e: unknown) => e)) as { type?: string };
    expect(e404).toMatchObject({ type: 'GitHubRequestRejected', message: expect.stringContaining('404') });

    const e401 = (await createGitHubActivities(deps({}, { token: 'wrong-token' }))
      .publishFix(input())
      .catch((e: unknown) => e)) as { type?: string; message: string };
    expect(e401).toMatchObject({ type: 'GitHubRequestRejected', message: expect.stringContaining('401') });
    expect(e401.message).not.toContain('wrong-token');
  });

  test('disabled without GitHub settings: no request', async () => {
    const res = await createGitHubActivities(deps({}, { token: undefined })).publishFix(input());
    expect(res).toEqual({ status: 'disabled', prUrl: null, prNumber: null, branch: null });
    const res2 = await createGitHubActivities(deps({}, { repository: undefined })).publishFix(input());
    expect(res2.status).toBe('disabled');
    expect(gh.requests).toHaveLength(0);
  });

  test('branch names are valid refs whatever the episode id', () => {
    expect(fixBranch('weather', 'heal-weather-1')).toBe('heal/weather/heal-weather-1');
    expect(fixBranch('weather', '..bad id~^:?*[x].lock')).toBe('heal/weather/bad-id-x--lock');
  });
});

describe('awaitPullRequestDecision', () => {
  const quiet = new DefaultLogger('ERROR');
  const GET_PULL = /\/pulls\/1$/;

  async function opened(): Promise<void> {
    await createGitHubActivities(deps()).publishFix(input());
  }

  test('merged → approve by github:<login>, heartbeating while it waits', async () => {
    await opened();
    const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 }, { logger: quiet });
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const acts = createGitHubActivities(deps({ pollIntervalMs: 20 }));
    const decision = env.run(acts.awaitPullRequestDecision, {
      pipeline: 'weather',
      episodeId: 'heal-weather-run-7',
      prNumber: 1,
    });
    await gh.waitFor('GET', GET_PULL, 3);
    gh.merge(1, 'alice');
    await expect(decision).resolves.toEqual({
      decision: 'approve',
      by: 'github:alice',
      reason: 'pull request #1 merged',
      via: 'pull-request',
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(beats.length).toBeGreaterThanOrEqual(3);
  });

  test('closed without merging → reject by github:<who closed it>', async () => {
    await opened();
    const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 }, { logger: quiet });
    const acts = createGitHubActivities(deps({ pollIntervalMs: 20 }));
    const decision = env.run(acts.awaitPullRequestDecision, {
      pipeline: 'weather',
      episodeId: 'heal-weather-run-7',
      prNumber: 1,
    });
    await gh.waitFor('GET', GET_PULL, 2);
    gh.closePull(1, 'bob');
    await expect(decision).resolves.toMatchObject({
      decision: 'reject',
      by: 'github:bob',
      via: 'pull-request',
      reason: 'pull request #1 closed without merging',
    });
  });

  test('GitHub down while waiting: keeps polling, then decides', async () => {
    await opened();
    gh.fail({ method: 'GET', path: GET_PULL, status: 500, times: 6 });
    const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 }, { logger: quiet });
    const acts = createGitHubActivities(deps({ pollIntervalMs: 10, retryBaseMs: 5, maxRequestAttempts: 2 }));
    const decision = env.run(acts.awaitPullRequestDecision, {
      pipeline: 'weather',
      episodeId: 'heal-weather-run-7',
      prNumber: 1,
    });
    await gh.waitFor('GET', GET_PULL, 7);
    gh.merge(1, 'carol');
    await expect(decision).resolves.toMatchObject({ decision: 'approve', by: 'github:carol' });
    expect(gh.calls('GET', GET_PULL).filter((r) => r.status === 500)).toHaveLength(6);
  });

  test('cancelled (a CLI decision came first): stops polling and fails as cancelled', async () => {
    await opened();
    const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 }, { logger: quiet });
    const acts = createGitHubActivities(deps({ pollIntervalMs: 60_000 }));
    const decision = env.run(acts.awaitPullRequestDecision, {
      pipeline: 'weather',
      episodeId: 'heal-weather-run-7',
      prNumber: 1,
    });
    await gh.waitFor('GET', GET_PULL, 1);
    env.cancel();
    await expect(decision).rejects.toBeInstanceOf(CancelledFailure);
    expect(gh.calls('GET', GET_PULL)).toHaveLength(1);
  });

  test('cancelled while a request hangs: the request is aborted, no waiting for GitHub', async () => {
    await opened();
    gh.fail({ method: 'GET', path: GET_PULL, delayMs: 10_000 });
    const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 }, { logger: quiet });
    const acts = createGitHubActivities(deps({ pollIntervalMs: 20 }));
    const decision = env.run(acts.awaitPullRequestDecision, {
      pipeline: 'weather',
      episodeId: 'heal-weather-run-7',
      prNumber: 1,
    });
    // The hanging request has arrived (it is recorded before it is answered).
    while (gh.calls('GET', GET_PULL).length < 1) await new Promise((r) => setImmediate(r));
    const started = performance.now();
    env.cancel();
    await expect(decision).rejects.toBeInstanceOf(CancelledFailure);
    expect(performance.now() - started).toBeLessThan(3000);
  });

  test('an unknown pull request (404) fails for good', async () => {
    const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 }, { logger: quiet });
    const acts = createGitHubActivities(deps({ pollIntervalMs: 20 }));
    await expect(
      env.run(acts.awaitPullRequestDecision, { pipeline: 'weather', episodeId: 'x', prNumber: 99 }),
    ).rejects.toMatchObject({ type: 'GitHubRequestRejected' });
  });
});
