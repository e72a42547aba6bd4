/**
 * Alerts: one Slack message (Block Kit, incoming webhook) per episode outcome, grouped within a
 * window per pipeline + drift kinds + outcome.
 *
 * - Grouping: an alert with the same pipeline, the same drift kinds and the same outcome as one sent
 *   less than `alertWindowMs` apart (by the outcomes' times) is not sent again (`grouped`); the
 *   next one sent after the window says how many were grouped. A different outcome (awaiting
 *   approval, then healed) is a new alert. State: `<home>/alerts/state.json` (owner-only, atomic).
 * - Idempotent per episode and outcome: a retried activity whose message went out sends nothing.
 * - Every attempt is appended to `<home>/alerts/log.jsonl` (sent, grouped, disabled, rate-limited,
 *   failed with the HTTP status and reason), so a failed notification is visible (`heal metrics`,
 *   the dashboard) even though the episode goes on.
 * - Failures: 5xx, timeouts and unreachable → `NotificationFailed` (retried by the `notify`
 *   profile); 429 → waits `Retry-After` inside the activity when it fits its start-to-close budget,
 *   else asks the server to retry after it; other 4xx (invalid payload, revoked hook) → not retried.
 * - The webhook URL is a secret: it never appears in a message, a log line or an error.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { NotificationFailedError } from '../common/errors';
import { describeOp } from '../common/patch';
import { describeDecisions } from '../common/policy';
import { formatDuration } from '../common/duration';
import { workflowUrl } from '../common/ids';
import type { EpisodeNotice, EpisodeNoticeOutcome, NotifyResult } from '../common/types';
import type { HealConfig } from '../lib/config';
import type { AlertLogEntry } from '../core/metrics-model';
import { openStore, type RunLog } from '../store';

export interface AlertDeps {
  config: Pick<HealConfig, 'home' | 'slackWebhookUrl' | 'alertWindowMs' | 'uiUrl' | 'namespace'>;
  /** The alert log and grouping state. @default the state directory's (`config.home`) */
  runs?: RunLog;
  /** HTTP client. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Wall clock in ms (log times, budgets). @default Date.now */
  now?: () => number;
  /** Wait before retrying a 429 inside the activity. @default the activity's cancellable sleep, else a timer */
  sleep?: (ms: number) => Promise<void>;
  /** Timeout of one HTTP request, in ms (never beyond the activity's budget). @default 10000 */
  requestTimeoutMs?: number;
  /** Longest `Retry-After` the server is asked to wait before the next attempt, in ms. @default 60000 */
  maxRetryAfterMs?: number;
}

/** One group of alerts in the grouping state. */
interface GroupState {
  /** Time of the outcome last sent (ms since epoch). */
  lastSentAt: number;
  episodeId: string;
  /** True while the message is being sent (a reservation; released if sending fails). */
  pending: boolean;
  /** Alerts grouped (not sent) since the last one sent. */
  grouped: number;
}

interface AlertState {
  groups: Record<string, GroupState>;
}

const OUTCOME_TITLE: Record<EpisodeNoticeOutcome, string> = {
  healed: '✅ Healed',
  failed: '❌ Not healed',
  'awaiting-approval': '⏸️ Fix awaiting approval',
  'rolled-back': '↩️ Rolled back',
  rejected: '🚫 Fix rejected',
  partial: '◐ Partial load: files set aside',
};

/** Escape a value for Slack mrkdwn (`&`, `<`, `>` are control characters). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One line, at most `max` characters. */
function clip(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** A link in mrkdwn: only http(s) URLs, with the characters that would break `<url|text>` encoded. */
function link(url: string | null | undefined, text: string): string | null {
  if (!url || !/^https?:\/\//i.test(url)) return null;
  const safe = url.replace(/[<>|\s]/g, (c) => encodeURIComponent(c));
  return `<${safe}|${escapeMrkdwn(text)}>`;
}

/** The group of an alert: pipeline + drift kinds (sorted) + outcome. */
export function groupKey(n: Pick<EpisodeNotice, 'pipeline' | 'drift' | 'outcome'>): string {
  return JSON.stringify([n.pipeline, [...new Set(n.drift.kinds)].sort(), n.outcome]);
}

function nextStep(n: EpisodeNotice): string {
  switch (n.outcome) {
    case 'healed':
      return n.prUrl
        ? 'Nothing to do: the table is loaded. Review the spec change in the pull request.'
        : 'Nothing to do: the table is loaded with the healed spec.';
    case 'awaiting-approval':
      return n.prUrl
        ? `Review the fix: merge the pull request to apply it, close it to reject (or \`heal approve ${n.episodeId}\` / \`heal reject ${n.episodeId}\`).`
        : `Review the fix, then \`heal approve ${n.episodeId}\` or \`heal reject ${n.episodeId}\`.`;
    case 'rolled-back':
      return `The previous spec v${n.specVersion} is current again. Look at the episode in the Web UI before re-running.`;
    case 'rejected':
      return `Nothing was applied; spec v${n.specVersion} stays current and the table is unchanged. Fix the source or the spec by hand.`;
    case 'failed':
      return `The table is unchanged (spec v${n.specVersion}). Fix the source or the spec by hand, then \`heal run ${n.pipeline}\`.`;
    case 'partial':
      return `The files set aside are not in the table. Fix them (or the spec), then \`heal run ${n.pipeline}\`: in append and merge modes it loads only the files not loaded yet.`;
  }
}

/** The Slack message of one episode outcome: Block Kit blocks and a plain `text` fallback. */
export function buildSlackMessage(
  n: EpisodeNotice,
  links: { uiUrl: string; namespace: string },
  opts: { groupedBefore?: number } = {},
): { text: string; blocks: unknown[] } {
  const e = escapeMrkdwn;
  const title = `${OUTCOME_TITLE[n.outcome]}: ${n.pipeline}`;
  const kinds = n.drift.kinds.length ? n.drift.kinds.join(', ') : 'drift';
  const driftLine = clip(`${kinds} — ${n.drift.summary}`, 600);
  const ops = (n.patch ?? []).filter((op) => op.op !== 'shape');
  const fixLine =
    n.patch && n.patch.length
      ? clip(ops.length ? ops.map((op) => describeOp(op)).join('; ') : 're-pin the source columns', 900)
      : null;
  const policyLine = n.policies?.length ? clip(describeDecisions(n.policies).join('; '), 900) : null;
  const mttr = n.mttrMs != null ? formatDuration(n.mttrMs) : '—';
  const versions =
    n.candidateVersion != null && n.candidateVersion !== n.baseVersion
      ? `v${n.baseVersion} → v${n.candidateVersion}`
      : `v${n.baseVersion}`;
  const checks = n.report
    ? clip(
        n.report.checks
          .slice(0, 10)
          .map((c) => `${c.passed ? '✓' : '✗'} ${c.name} ${c.figure}${c.threshold ? ` (${c.threshold})` : ''}`)
          .join(' · ') + (n.report.checks.length > 10 ? ` · … ${n.report.checks.length - 10} more` : ''),
        1500,
      )
    : null;
  const ui =
    n.outcome === 'partial'
      ? null
      : link(workflowUrl(links.uiUrl, links.namespace, n.episodeId), 'Episode in the Temporal Web UI');
  const run = link(workflowUrl(links.uiUrl, links.namespace, n.runId), 'latest pipeline run');
  const pr = link(n.prUrl, 'Pull request');

  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(title, 150), emoji: true } },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Pipeline*\n${e(n.pipeline)}` },
        { type: 'mrkdwn', text: `*Outcome*\n${e(n.outcome)}` },
        { type: 'mrkdwn', text: `*Attempts*\n${n.attempts}/${n.maxAttempts}` },
        { type: 'mrkdwn', text: `*MTTR*\n${e(mttr)}` },
        {
          type: 'mrkdwn',
          text: `*Spec*\n${e(versions)}${n.specVersion !== n.baseVersion ? ` (current v${n.specVersion})` : ''}`,
        },
        { type: 'mrkdwn', text: `*Doctor*\n${e(n.doctor ?? '—')}` },
      ],
    },
    { type: 'section', text: { type: 'mrkdwn', text: `*Drift:* ${e(driftLine)}` } },
  ];
  if (fixLine) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Fix:* ${e(fixLine)}` } });
  if (policyLine) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Policy:* ${e(policyLine)}` } });
  if (checks)
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: `*Verification:* ${e(clip(n.report?.summary ?? '', 300))}\n${e(checks)}` },
    });
  if (n.error) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Why:* ${e(clip(n.error, 900))}` } });
  if (n.setAside?.length) {
    const files = n.setAside.slice(0, 5).map((f) => `• ${e(clip(f.file, 200))}: ${e(clip(f.reason, 300))}`);
    if (n.setAside.length > 5) files.push(`• … ${n.setAside.length - 5} more`);
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*Set aside (${n.setAside.length} file${n.setAside.length === 1 ? '' : 's'}, not loaded):*\n${files.join('\n')}`,
      },
    });
  }
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Next:* ${e(nextStep(n))}` } });
  const linkLine = [ui, run, pr].filter(Boolean).join(' · ');
  if (linkLine) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: linkLine } });
  const context = [`${n.outcome === 'partial' ? 'run' : 'episode'} ${e(n.episodeId)}`, e(n.at)];
  if (opts.groupedBefore)
    context.push(
      `${opts.groupedBefore} similar alert${opts.groupedBefore === 1 ? '' : 's'} grouped since the last message`,
    );
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: context.join(' · ') }] });

  const textParts = [
    `heal: ${n.pipeline} ${n.outcome}`,
    `drift: ${driftLine}`,
    fixLine ? `fix: ${fixLine}` : null,
    policyLine ? `policy: ${policyLine}` : null,
    `attempts ${n.attempts}/${n.maxAttempts}`,
    n.mttrMs != null ? `MTTR ${mttr}` : null,
    n.error ? `why: ${clip(n.error, 300)}` : null,
    n.setAside?.length ? `set aside: ${clip(n.setAside.map((f) => f.file).join(', '), 300)}` : null,
  ].filter((s): s is string => s !== null);
  const fallback = e(textParts.join(' · ')) + (pr ? ` · ${pr}` : '') + (ui ? ` · ${ui}` : '');
  return { text: fallback, blocks };
}

/** Seconds (or an HTTP date) of a Retry-After header, in ms; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (!value) return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - now) : null;
}

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** A promise chain per state directory: grouping state is read and written by one alert at a time. */
const locks = new Map<string, Promise<unknown>>();
function withLock<T>(key: string, fn: () => T): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  locks.set(
    key,
    next.catch(() => undefined),
  );
  return next;
}

export function createAlertActivities(deps: AlertDeps) {
  const { config } = deps;
  const store = deps.runs ?? openStore({ home: config.home, gitCommits: false }).runs;
  const now = deps.now ?? Date.now;
  const doFetch = deps.fetch ?? ((...args: Parameters<typeof fetch>) => fetch(...args));
  const requestTimeoutMs = deps.requestTimeoutMs ?? 10_000;
  const maxRetryAfterMs = deps.maxRetryAfterMs ?? 60_000;
  const webhook = config.slackWebhookUrl;

  /** Remove the webhook (and anything that looks like a Slack hook path) from a text. */
  const redact = (text: string): string => {
    let t = text;
    if (webhook) {
      t = t.split(webhook).join('[webhook]');
      try {
        const u = new URL(webhook);
        if (u.pathname.length > 1) t = t.split(u.pathname).join('/[redacted]');
        if (u.search.length > 1) t = t.split(u.search).join('?[redacted]');
      } catch {
        // not a URL: nothing more to hide
      }
    }
    return t.replace(/hooks\.slack\.com\/\S+/gi, 'hooks.slack.com/[redacted]');
  };

  const log = async (
    n: EpisodeNotice,
    entry: Pick<AlertLogEntry, 'status' | 'attempt'> & Partial<AlertLogEntry>,
  ): Promise<void> => {
    const line: AlertLogEntry = {
      at: new Date(now()).toISOString(),
      pipeline: n.pipeline,
      episodeId: n.episodeId,
      runId: n.runId,
      outcome: n.outcome,
      kinds: n.drift.kinds,
      ...entry,
      ...(entry.error ? { error: redact(entry.error) } : {}),
    };
    try {
      await store.appendAlert(line);
    } catch {
      // the log is best effort: a full disk must not turn a sent alert into a failed one
    }
  };

  const readState = async (): Promise<AlertState> => {
    const s = (await store.alertState()) as AlertState | undefined;
    return s && typeof s.groups === 'object' && s.groups ? s : { groups: {} };
  };

  return {
    /** Send (or group) the alert of one episode outcome. */
    async notifyEpisode(input: EpisodeNotice): Promise<NotifyResult> {
      const ctx = currentContext();
      const attempt = ctx?.info.attempt ?? 1;
      const started = now();
      if (!webhook) {
        await log(input, { status: 'disabled', attempt, detail: 'SLACK_WEBHOOK_URL not set' });
        return { status: 'disabled', detail: 'SLACK_WEBHOOK_URL is not set' };
      }
      const key = groupKey(input);
      const at = Number.isFinite(Date.parse(input.at)) ? Date.parse(input.at) : started;

      // Decide under the lock: grouped, already sent (a retry), or reserve the group and send.
      const decision = await withLock(config.home, async () => {
        const state = await readState();
        const g = state.groups[key];
        if (g && g.episodeId === input.episodeId) {
          if (!g.pending) return { kind: 'already' as const };
          return { kind: 'send' as const, previous: undefined, groupedBefore: 0 };
        }
        if (g && Math.abs(at - g.lastSentAt) < config.alertWindowMs) {
          g.grouped += 1;
          await store.saveAlertState(state);
          return { kind: 'grouped' as const, since: g.lastSentAt, with: g.episodeId };
        }
        // Forget groups long past any window.
        for (const [k, old] of Object.entries(state.groups)) {
          if (k !== key && !old.pending && at - old.lastSentAt > Math.max(config.alertWindowMs, 86_400_000) * 7)
            delete state.groups[k];
        }
        state.groups[key] = { lastSentAt: at, episodeId: input.episodeId, pending: true, grouped: 0 };
        await store.saveAlertState(state);
        return { kind: 'send' as const, previous: g, groupedBefore: g?.grouped ?? 0 };
      });

      if (decision.kind === 'already') {
        await log(input, { status: 'sent', attempt, detail: 'already sent by an earlier attempt' });
        return { status: 'sent', detail: 'already sent' };
      }
      if (decision.kind === 'grouped') {
        const detail = `same pipeline, drift and outcome as episode ${decision.with} alerted at ${new Date(decision.since).toISOString()}`;
        await log(input, { status: 'grouped', attempt, detail });
        return { status: 'grouped', detail };
      }

      const release = () =>
        withLock(config.home, async () => {
          const state = await readState();
          const g = state.groups[key];
          if (g && g.episodeId === input.episodeId && g.pending) {
            if (decision.previous) state.groups[key] = decision.previous;
            else delete state.groups[key];
            await store.saveAlertState(state);
          }
        });

      const message = buildSlackMessage(
        input,
        { uiUrl: config.uiUrl, namespace: config.namespace },
        { groupedBefore: decision.groupedBefore },
      );
      const body = JSON.stringify(message);
      // The activity's own budget: stop waiting in time to report a failure ourselves.
      const budgetMs = ctx?.info.startToCloseTimeoutMs ?? 30_000;
      const deadline = started + budgetMs - Math.min(2_000, budgetMs / 4);
      const sleep = deps.sleep ?? ((ms: number) => (ctx ? ctx.sleep(ms) : new Promise<void>((r) => setTimeout(r, ms))));

      const fail = async (err: Error, httpStatus?: number): Promise<never> => {
        await log(input, {
          status: 'failed',
          attempt,
          error: err.message,
          ...(httpStatus ? { httpStatus } : {}),
          durationMs: now() - started,
        });
        await release();
        throw err;
      };

      for (let tries = 1; ; tries++) {
        const timeout = Math.max(1_000, Math.min(requestTimeoutMs, deadline - now()));
        let res: Response;
        try {
          res = await doFetch(webhook, {
            method: 'POST',
            headers: { 'content-type': 'application/json; charset=utf-8' },
            body,
            signal: ctx
              ? AbortSignal.any([AbortSignal.timeout(timeout), ctx.cancellationSignal])
              : AbortSignal.timeout(timeout),
          });
        } catch (err) {
          const e = err as Error & { cause?: { code?: string; message?: string } };
          const why =
            e.name === 'TimeoutError' || e.name === 'AbortError'
              ? `no answer within ${timeout} ms`
              : (e.cause?.code ?? e.cause?.message ?? e.message);
          return fail(new NotificationFailedError(`Slack webhook unreachable: ${redact(String(why))}`));
        }
        const text = clip(await res.text().catch(() => ''), 200);
        if (res.ok) {
          await withLock(config.home, async () => {
            const state = await readState();
            const g = state.groups[key];
            if (g && g.episodeId === input.episodeId) {
              g.pending = false;
              await store.saveAlertState(state);
            }
          });
          await log(input, {
            status: 'sent',
            attempt,
            httpStatus: res.status,
            durationMs: now() - started,
            ...(decision.groupedBefore ? { detail: `${decision.groupedBefore} grouped before` } : {}),
          });
          return {
            status: 'sent',
            ...(decision.groupedBefore
              ? { detail: `${decision.groupedBefore} similar alerts grouped before this one` }
              : {}),
          };
        }
        const reason = `Slack answered HTTP ${res.status}${text ? ` (${redact(text)})` : ''}`;
        if (res.status === 429) {
          const wait = parseRetryAfter(res.headers.get('retry-after'), now());
          if (wait !== null && now() + wait + 1_000 < deadline && tries < 3) {
            await log(input, {
              status: 'rate-limited',
              attempt,
              httpStatus: 429,
              detail: `retrying in ${wait} ms (Retry-After)`,
            });
            await sleep(wait);
            continue;
          }
          if (wait !== null && wait <= maxRetryAfterMs) {
            await log(input, {
              status: 'failed',
              attempt,
              httpStatus: 429,
              error: `${reason}; retry after ${wait} ms`,
              durationMs: now() - started,
            });
            await release();
            // The server waits Retry-After before the next attempt (instead of the policy's backoff).
            throw ApplicationFailure.create({
              type: 'NotificationFailed',
              message: `${reason}; retry after ${wait} ms`,
              nextRetryDelay: wait,
            });
          }
          return fail(new NotificationFailedError(reason), 429);
        }
        if (res.status >= 400 && res.status < 500 && res.status !== 408) {
          // An invalid payload or a revoked/archived hook: a retry cannot succeed.
          await log(input, {
            status: 'failed',
            attempt,
            httpStatus: res.status,
            error: reason,
            durationMs: now() - started,
          });
          await release();
          throw ApplicationFailure.create({ type: 'NotificationFailed', message: reason, nonRetryable: true });
        }
        return fail(new NotificationFailedError(reason), res.status);
      }
    },
  };
}
