/**
 * The Slack alert activity against a real local HTTP server (tests/helpers/fake-slack.ts): the
 * Block Kit payload, escaping, grouping within the window, retries (500, 429 + Retry-After, slow,
 * unreachable, 400), and every attempt recorded in `<home>/alerts/log.jsonl` without the secret.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import {
  buildSlackMessage,
  createAlertActivities,
  escapeMrkdwn,
  parseRetryAfter,
  type AlertDeps,
} from '../../integrations/alerts';
import { readAlertLog } from '../../store/runs';
import { asActivityFailure, NotificationFailedError } from '../../common/errors';
import type { EpisodeNotice } from '../../common/types';
import { startFakeSlack, type FakeSlack } from '../helpers/fake-slack';
import { tempDir } from '../helpers/fixtures';
import { freePort } from '../helpers/ports';

const HOUR = 3_600_000;
const quiet = new DefaultLogger('ERROR');
let slack: FakeSlack;

beforeEach(async () => {
  slack = await startFakeSlack();
});
afterEach(async () => {
  await slack.close();
});

function config(home: string, webhook: string | undefined = slack.webhookUrl): AlertDeps['config'] {
  return { home, slackWebhookUrl: webhook, alertWindowMs: HOUR, uiUrl: 'http://ui.example:8233', namespace: 'default' };
}

function notice(over: Partial<EpisodeNotice> = {}): EpisodeNotice {
  return {
    pipeline: 'iowa',
    episodeId: 'pipeline-iowa-20261125T100000000Z-heal',
    runId: 'pipeline-iowa-20261125T100000000Z',
    outcome: 'healed',
    drift: { summary: 'netGeneration replaces net_generation <!channel> & <script>', kinds: ['renamed'] },
    patch: [
      { op: 'map', column: 'net_generation', from: 'netGeneration' },
      { op: 'shape', columns: ['state', 'netGeneration'] },
    ],
    doctor: 'rules',
    report: {
      passed: true,
      candidateVersion: 2,
      rowsRead: 1000,
      rowsLoaded: 998,
      rowsQuarantined: 2,
      summary: 'all 3 checks passed',
      checks: [
        { name: 'contract', passed: true, figure: '0 missing columns' },
        { name: 'rows-accounted', passed: true, figure: '1000 = 998 + 2' },
        { name: 'quarantine-budget', passed: true, figure: '0.2%', threshold: '≤ 1%' },
      ],
    },
    attempts: 2,
    maxAttempts: 3,
    baseVersion: 1,
    candidateVersion: 2,
    specVersion: 2,
    mttrMs: 1234,
    prUrl: 'https://github.example/acme/pipelines/pull/12',
    error: null,
    at: '2026-11-25T10:00:00.000Z',
    ...over,
  };
}

/** Every string in a Block Kit payload, joined. */
function allText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(allText).join('\n');
  if (v && typeof v === 'object') return Object.values(v).map(allText).join('\n');
  return '';
}

function logText(home: string): string {
  return fs.readFileSync(path.join(home, 'alerts', 'log.jsonl'), 'utf8');
}

test('a healed episode: Block Kit with pipeline, drift, fix, figures, attempts, MTTR and links; values escaped', async () => {
  const home = tempDir();
  const { notifyEpisode } = createAlertActivities({ config: config(home) });
  await expect(notifyEpisode(notice())).resolves.toEqual({ status: 'sent' });
  expect(slack.requests).toHaveLength(1);
  const req = slack.requests[0]!;
  expect(req.headers['content-type']).toMatch(/application\/json/);
  const blocks = req.body.blocks as { type: string }[];
  expect(blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: '✅ Healed: iowa', emoji: true } });
  const text = allText(blocks);
  expect(text).toContain('*Pipeline*\niowa');
  expect(text).toContain('*Attempts*\n2/3');
  expect(text).toContain('*MTTR*\n1.2s');
  expect(text).toContain('*Spec*\nv1 → v2');
  expect(text).toContain('*Doctor*\nrules');
  // Drift in one line, escaped: Slack control characters from data cannot mention or link.
  expect(text).toContain(
    '*Drift:* renamed — netGeneration replaces net_generation &lt;!channel&gt; &amp; &lt;script&gt;',
  );
  expect(text).not.toContain('<!channel>');
  // The fix in one line (describeOp), shape ops left out.
  expect(text).toContain('*Fix:* map source column "netGeneration" → net_generation');
  expect(text).not.toContain('expect source columns');
  // Verification figures.
  expect(text).toContain('✓ rows-accounted 1000 = 998 + 2');
  expect(text).toContain('✓ quarantine-budget 0.2% (≤ 1%)');
  // Links: the episode in the Web UI, the run, the PR.
  expect(text).toContain(
    '<http://ui.example:8233/namespaces/default/workflows/pipeline-iowa-20261125T100000000Z-heal|Episode in the Temporal Web UI>',
  );
  expect(text).toContain('<https://github.example/acme/pipelines/pull/12|Pull request>');
  // The plain-text fallback says the same in one line.
  expect(req.body.text).toContain(
    'heal: iowa healed · drift: renamed — netGeneration replaces net_generation &lt;!channel&gt;',
  );
  expect(req.body.text).toContain('fix: map source column "netGeneration" → net_generation');
  expect(req.body.text).toContain('MTTR 1.2s');
  // The secret is in the URL only.
  expect(req.text).not.toContain(slack.secret);
  const log = readAlertLog(home);
  expect(log).toMatchObject([
    { status: 'sent', httpStatus: 200, episodeId: notice().episodeId, outcome: 'healed', attempt: 1 },
  ]);
  expect(fs.statSync(path.join(home, 'alerts', 'log.jsonl')).mode & 0o777).toBe(0o600);
  expect(fs.statSync(path.join(home, 'alerts', 'state.json')).mode & 0o777).toBe(0o600);
});

test('failed / awaiting-approval messages say why and what to do', () => {
  const links = { uiUrl: 'http://ui', namespace: 'ns' };
  const failed = allText(
    buildSlackMessage(
      notice({
        outcome: 'failed',
        patch: null,
        error: 'no doctor found a fix: column "id" is gone',
        specVersion: 1,
        candidateVersion: null,
        mttrMs: null,
        prUrl: null,
      }),
      links,
    ).blocks,
  );
  expect(failed).toContain('❌ Not healed: iowa');
  expect(failed).toContain('*Why:* no doctor found a fix: column "id" is gone');
  expect(failed).toContain('*MTTR*\n—');
  expect(failed).toContain('The table is unchanged (spec v1)');
  expect(failed).not.toContain('Pull request');
  const waiting = allText(buildSlackMessage(notice({ outcome: 'awaiting-approval', specVersion: 1 }), links).blocks);
  expect(waiting).toContain('merge the pull request to apply it');
  expect(waiting).toContain('heal approve pipeline-iowa-20261125T100000000Z-heal');
  // Which policy held the fix for review.
  const held = buildSlackMessage(
    notice({
      outcome: 'awaiting-approval',
      specVersion: 1,
      policies: [
        {
          drift: 'newColumns',
          column: 'wind',
          policy: 'review',
          outcome: 'review',
          detail: 'add new column "wind" as wind: waits for approval (newColumns: review)',
        },
      ],
    }),
    links,
  );
  expect(allText(held.blocks)).toContain('*Policy:* newColumns: review → review (add new column');
  expect(held.text).toContain('policy: newColumns: review');
  // A PR "URL" that is not http(s) is not linked.
  expect(allText(buildSlackMessage(notice({ prUrl: 'javascript:alert(1)' }), links).blocks)).not.toContain(
    'javascript:',
  );
  expect(escapeMrkdwn('a & <b> >')).toBe('a &amp; &lt;b&gt; &gt;');
});

test('grouping: same pipeline + drift + outcome within the window is grouped; another outcome or after the window is sent', async () => {
  const home = tempDir();
  const { notifyEpisode } = createAlertActivities({ config: config(home) });
  const first = notice({ episodeId: 'e1', at: '2026-11-25T10:00:00.000Z' });
  await expect(notifyEpisode(first)).resolves.toEqual({ status: 'sent' });
  // Same pipeline, drift kinds and outcome, 30 minutes later: grouped, nothing sent.
  const second = await notifyEpisode(notice({ episodeId: 'e2', at: '2026-11-25T10:30:00.000Z' }));
  expect(second.status).toBe('grouped');
  expect(second.detail).toContain('e1');
  expect(slack.requests).toHaveLength(1);
  // A retried activity of the first episode: already sent, nothing sent again.
  await expect(notifyEpisode(first)).resolves.toMatchObject({ status: 'sent', detail: 'already sent' });
  expect(slack.requests).toHaveLength(1);
  // A different outcome of the same drift is news (awaiting approval, then healed): sent.
  await expect(
    notifyEpisode(notice({ episodeId: 'e3', outcome: 'awaiting-approval', at: '2026-11-25T10:31:00.000Z' })),
  ).resolves.toEqual({ status: 'sent' });
  // Other drift kinds, or another pipeline: sent.
  await expect(
    notifyEpisode(
      notice({
        episodeId: 'e4',
        drift: { summary: 'dates', kinds: ['format-change'] },
        at: '2026-11-25T10:32:00.000Z',
      }),
    ),
  ).resolves.toEqual({ status: 'sent' });
  await expect(
    notifyEpisode(notice({ pipeline: 'weather', episodeId: 'e5', at: '2026-11-25T10:33:00.000Z' })),
  ).resolves.toEqual({ status: 'sent' });
  expect(slack.requests).toHaveLength(4);
  // After the window: sent, saying how many were grouped.
  const later = await notifyEpisode(notice({ episodeId: 'e6', at: '2026-11-25T11:00:00.000Z' }));
  expect(later.status).toBe('sent');
  expect(slack.requests).toHaveLength(5);
  expect(allText(slack.requests[4]!.body.blocks)).toContain('1 similar alert grouped since the last message');
  expect(readAlertLog(home).map((a) => [a.episodeId, a.status])).toEqual([
    ['e1', 'sent'],
    ['e2', 'grouped'],
    ['e1', 'sent'],
    ['e3', 'sent'],
    ['e4', 'sent'],
    ['e5', 'sent'],
    ['e6', 'sent'],
  ]);
});

test('Slack answering 500: NotificationFailed (retryable), recorded without the secret; the next attempt sends', async () => {
  const home = tempDir();
  slack.enqueue({ status: 500, body: `internal_error at /services/${slack.secret}` });
  const { notifyEpisode } = createAlertActivities({ config: config(home) });
  const env1 = new MockActivityEnvironment({ attempt: 1, startToCloseTimeoutMs: 30_000 }, { logger: quiet });
  const err = await env1.run(notifyEpisode, notice()).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(NotificationFailedError);
  const failure = asActivityFailure(err) as ApplicationFailure;
  expect(failure).toBeInstanceOf(ApplicationFailure);
  expect(failure.type).toBe('NotificationFailed');
  expect(failure.nonRetryable).toBe(false);
  expect(failure.message).toContain('HTTP 500');
  expect(failure.message).not.toContain(slack.secret);
  // The server retries the activity: the reservation was released, so attempt 2 sends.
  const env2 = new MockActivityEnvironment({ attempt: 2, startToCloseTimeoutMs: 30_000 }, { logger: quiet });
  await expect(env2.run(notifyEpisode, notice())).resolves.toEqual({ status: 'sent' });
  expect(slack.requests).toHaveLength(2);
  expect(readAlertLog(home).map((a) => [a.status, a.attempt, a.httpStatus])).toEqual([
    ['failed', 1, 500],
    ['sent', 2, 200],
  ]);
  expect(logText(home)).not.toContain(slack.secret);
  expect(logText(home)).toContain('/[redacted]');
});

test('429 with Retry-After inside the budget: waits that long in the activity, then sends', async () => {
  const home = tempDir();
  slack.enqueue({ status: 429, retryAfter: '1' });
  const { notifyEpisode } = createAlertActivities({ config: config(home) });
  const env = new MockActivityEnvironment({ attempt: 1, startToCloseTimeoutMs: 30_000 }, { logger: quiet });
  await expect(env.run(notifyEpisode, notice())).resolves.toEqual({ status: 'sent' });
  expect(slack.requests).toHaveLength(2);
  expect(slack.requests[1]!.at - slack.requests[0]!.at).toBeGreaterThanOrEqual(950);
  expect(readAlertLog(home).map((a) => a.status)).toEqual(['rate-limited', 'sent']);
});

test('429 with a Retry-After beyond the budget: the server is asked to retry after it; beyond 60 s a plain retryable failure', async () => {
  const home = tempDir();
  slack.enqueue({ status: 429, retryAfter: '20' }, { status: 429, retryAfter: '3600' });
  const { notifyEpisode } = createAlertActivities({ config: config(home) });
  const env = new MockActivityEnvironment({ attempt: 1, startToCloseTimeoutMs: 5_000 }, { logger: quiet });
  const err = (await env.run(notifyEpisode, notice()).catch((e: unknown) => e)) as ApplicationFailure;
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err.type).toBe('NotificationFailed');
  expect(err.nonRetryable).toBe(false);
  expect(err.nextRetryDelay).toBe(20_000);
  const err2 = await env.run(notifyEpisode, notice()).catch((e: unknown) => e);
  expect(err2).toBeInstanceOf(NotificationFailedError);
  expect(slack.requests).toHaveLength(2);
  expect(parseRetryAfter('2', 0)).toBe(2000);
  expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
  expect(parseRetryAfter('soon', 0)).toBeNull();
});

test('a slow Slack times out, an unreachable one fails, a 400 is not retried — each recorded', async () => {
  const home = tempDir();
  slack.enqueue({ delayMs: 5_000 }, { status: 400, body: 'invalid_payload' });
  const { notifyEpisode } = createAlertActivities({ config: config(home), requestTimeoutMs: 1_000 });
  const slow = await notifyEpisode(notice()).catch((e: unknown) => e);
  expect(slow).toBeInstanceOf(NotificationFailedError);
  expect((slow as Error).message).toContain('no answer within 1000 ms');
  const bad = (await notifyEpisode(notice()).catch((e: unknown) => e)) as ApplicationFailure;
  expect(bad).toBeInstanceOf(ApplicationFailure);
  expect(bad.nonRetryable).toBe(true);
  expect(bad.message).toContain('HTTP 400 (invalid_payload)');

  const port = await freePort();
  const down = createAlertActivities({ config: config(home, `http://127.0.0.1:${port}/services/${slack.secret}`) });
  const unreachable = await down.notifyEpisode(notice()).catch((e: unknown) => e);
  expect(unreachable).toBeInstanceOf(NotificationFailedError);
  expect((unreachable as Error).message).toMatch(/unreachable: ECONNREFUSED/);
  expect((unreachable as Error).message).not.toContain(slack.secret);
  expect(readAlertLog(home).map((a) => [a.status, a.httpStatus ?? null])).toEqual([
    ['failed', null],
    ['failed', 400],
    ['failed', null],
  ]);
  expect(logText(home)).not.toContain(slack.secret);
});

test('without a webhook: disabled, and the notice is still recorded', async () => {
  const home = tempDir();
  const { notifyEpisode } = createAlertActivities({ config: { ...config(home), slackWebhookUrl: undefined } });
  await expect(notifyEpisode(notice({ outcome: 'awaiting-approval' }))).resolves.toMatchObject({ status: 'disabled' });
  expect(slack.requests).toHaveLength(0);
  expect(readAlertLog(home)).toMatchObject([{ status: 'disabled', outcome: 'awaiting-approval', pipeline: 'iowa' }]);
});

test('two alerts of one group at the same moment: one message, one grouped', async () => {
  const home = tempDir();
  slack.enqueue({ delayMs: 200 });
  const { notifyEpisode } = createAlertActivities({ config: config(home) });
  const results = await Promise.all([
    notifyEpisode(notice({ episodeId: 'a' })),
    notifyEpisode(notice({ episodeId: 'b' })),
  ]);
  expect(results.map((r) => r.status).sort()).toEqual(['grouped', 'sent']);
  expect(slack.requests).toHaveLength(1);
});
