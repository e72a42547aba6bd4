/**
 * GitHub: a branch, a commit and a pull request per verified fix (`publishFix`); watching that pull
 * request as the approval in `review` mode (`awaitPullRequestDecision`). Through `@octokit/rest`
 * (pinned to v20, its last CommonJS major: v21+ is ESM-only and jest cannot load it).
 *
 * - Idempotent per episode: the branch is `heal/<pipeline>/<episode>`; a retry finds the branch,
 *   the committed file and the pull request again (`status: 'found'`) instead of making new ones.
 * - Retries: 5xx, 429, rate limits (403 with `x-ratelimit-remaining: 0` or `Retry-After`) and
 *   network errors are retried inside the activity with exponential backoff, honouring
 *   `Retry-After` / `x-ratelimit-reset`, within a bounded budget (default 20 s, well inside the
 *   `github` policy's 2-minute start-to-close). Past the budget — or when GitHub asks for a longer
 *   wait — the activity fails as `GitHubUnavailable` (retryable), with GitHub's wait as the
 *   failure's `nextRetryDelay`, so Temporal's `github` policy takes over with a durable timer
 *   instead of holding a worker slot. Since every step finds its earlier work, a retry restarts
 *   safely from the top. 401/403/404/422 that are not rate limits → `GitHubRequestRejected`
 *   (not retried).
 * - The token is only ever in the `Authorization` header: errors are built from the status and
 *   GitHub's message, and scrubbed of the token anyway; bodies never contain it.
 * - Values taken from data (column names, samples, drift details, errors) are escaped for
 *   Markdown and HTML before they go into the pull request.
 */
import { Octokit } from '@octokit/rest';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { GitHubRequestRejectedError, GitHubUnavailableError } from '../common/errors';
import { workflowUrl } from '../common/ids';
import { describeOp, type PatchOp } from '../common/patch';
import { HEARTBEAT_INTERVAL_MS } from '../common/policies';
import type { ApprovalDecision, AwaitPullRequestInput, PublishFixInput, PublishFixResult } from '../common/types';
import type { HealConfig } from '../lib/config';
import { HEAL_GIT_IDENTITY } from './git';
import { openStore, type SpecRepository } from '../store';

export interface GitHubDeps {
  config: Pick<HealConfig, 'home' | 'github' | 'uiUrl' | 'namespace'>;
  /** Where a fix's spec text is read. @default the state directory's (`config.home`) */
  specs?: SpecRepository;
  /** Between two looks at a pull request awaiting a decision (ms). @default 30000 */
  pollIntervalMs?: number;
  /** Tries of one GitHub request inside the activity (5xx, 429, rate limit, network error). @default 4 */
  maxRequestAttempts?: number;
  /** First backoff delay when GitHub gives no Retry-After; doubles each try, capped at 10 s (ms). @default 1000 */
  retryBaseMs?: number;
  /**
   * Total time one activity attempt may wait between retries, over all its requests (ms); for
   * `awaitPullRequestDecision`, per look at the pull request. A wait that does not fit fails the
   * activity as GitHubUnavailable with that wait as Temporal's next retry delay. @default 20000
   */
  retryBudgetMs?: number;
  /** Timeout of one HTTP request (ms). @default 15000 */
  requestTimeoutMs?: number;
  /** How the activity waits (backoff, polling); rejects when `signal` aborts. @default a timer */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The clock (decision times, rate-limit resets). @default Date.now */
  now?: () => number;
}

/** Where the candidate spec is committed in the repository. */
export function specPathInRepo(pipeline: string): string {
  return `heal/specs/${pipeline}.yaml`;
}

/** The branch of an episode's fix: `heal/<pipeline>/<episode>`, made a valid git ref name. */
export function fixBranch(pipeline: string, episodeId: string): string {
  const seg = (s: string) =>
    s
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/\.{2,}/g, '.')
      .replace(/^[.-]+|[.]+$/g, '')
      .replace(/\.lock$/i, '-lock')
      .slice(0, 100) || 'x';
  return `heal/${seg(pipeline)}/${seg(episodeId)}`;
}

// ------------------------------------------------------------------------------------------------
// Markdown

/** Escape a value from data for Markdown and HTML (one line, bounded; no mentions, no links). */
export function mdText(value: unknown, max = 300): string {
  let s = String(value ?? '')
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim();
  if (s.length > max) s = `${s.slice(0, max - 1)}…`;
  return s
    .replace(/([\\`*_[\]#!|~])/g, '\\$1')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/@/g, '&#64;');
}

function table(head: string[], rows: string[][], limit = 50): string {
  const out = [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.slice(0, limit).map((r) => `| ${r.map((c) => c || ' ').join(' | ')} |`),
  ];
  if (rows.length > limit)
    out.push(
      `| … ${rows.length - limit} more | ${head
        .slice(1)
        .map(() => ' ')
        .join(' | ')} |`,
    );
  return out.join('\n');
}

function describe(op: PatchOp): string {
  try {
    return describeOp(op);
  } catch {
    return JSON.stringify(op);
  }
}

function plainLine(value: unknown, max: number): string {
  const s = String(value ?? '')
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export interface PullRequestLinks {
  /** The episode in the Temporal Web UI. */
  episode: string;
  /** The pipeline run that started it. */
  run: string;
  /** The history of the spec file on GitHub (null when unknown). */
  specHistory: string | null;
}

/** Links of an episode: the Web UI pages of the episode and its run, and the spec's history. */
export function pullRequestLinks(
  config: Pick<HealConfig, 'uiUrl' | 'namespace'>,
  input: Pick<PublishFixInput, 'episodeId' | 'runId' | 'pipeline'>,
  repoHtmlUrl: string | null,
  baseBranch: string | null,
): PullRequestLinks {
  return {
    episode: workflowUrl(config.uiUrl, config.namespace, input.episodeId),
    run: workflowUrl(config.uiUrl, config.namespace, input.runId),
    specHistory:
      repoHtmlUrl && baseBranch
        ? `${repoHtmlUrl}/commits/${encodeURIComponent(baseBranch)}/${specPathInRepo(input.pipeline)}`
        : null,
  };
}

/** The title of a fix's pull request (plain text, one line). */
export function pullRequestTitle(input: PublishFixInput): string {
  return plainLine(
    `heal: fix ${input.pipeline} (v${input.baseVersion} → v${input.candidateVersion}): ${input.drift.summary}`,
    200,
  );
}

/** The body of a fix's pull request: drift, patch, verification, attempts, links. */
export function pullRequestBody(input: PublishFixInput, links: PullRequestLinks): string {
  const { drift, report } = input;
  const parts: string[] = [];
  parts.push(
    `heal detected drift in pipeline **${mdText(input.pipeline)}** and found a fix with the **${mdText(input.doctor)}** doctor, ` +
      `verified on the whole drifted source: spec v${input.baseVersion} → v${input.candidateVersion}.`,
  );
  parts.push(
    input.mode === 'review'
      ? '**Review mode:** merging this pull request approves the fix (heal applies it and reloads the table); closing it without merging rejects it. `heal approve` / `heal reject` decide too — whichever comes first.'
      : '**Auto mode:** the fix is already applied; this pull request records the spec change for review and history.',
  );

  parts.push('## Drift', `> ${mdText(drift.summary, 500)}`);
  if (drift.differences.length) {
    parts.push(
      table(
        ['kind', 'column', 'expected', 'found', 'detail'],
        drift.differences.map((d) => [
          mdText(d.kind),
          mdText(d.column ?? d.sourceColumn ?? '', 80),
          mdText(d.expected ?? '', 80),
          mdText(d.found ?? '', 80) +
            (d.failureRate !== undefined ? ` (${(d.failureRate * 100).toFixed(1)}% of values)` : ''),
          mdText(d.detail, 200) +
            (d.samples?.length
              ? `<br>samples: ${d.samples
                  .slice(0, 3)
                  .map((s) => mdText(s, 40))
                  .join(', ')}`
              : ''),
        ]),
      ),
    );
  }

  parts.push(
    '## Patch',
    table(
      ['op', 'detail'],
      input.patch.map((op) => [mdText(op.op), mdText(describe(op), 300)]),
    ),
  );

  parts.push(
    `## Verification: ${report.passed ? 'passed' : 'failed'}`,
    `${mdText(report.summary, 300)}. Rows read ${report.rowsRead}, loaded ${report.rowsLoaded}, quarantined ${report.rowsQuarantined}.`,
    table(
      ['check', 'result', 'figure', 'threshold'],
      report.checks.map((c) => [
        mdText(c.name, 80),
        c.passed ? '✅ pass' : '❌ fail',
        mdText(c.figure, 120),
        mdText(c.threshold ?? '', 60),
      ]),
      100,
    ),
  );

  if (input.attempts.length) {
    parts.push(
      '## Attempts',
      table(
        ['#', 'doctor', 'patch', 'verdict'],
        input.attempts.map((a) => [
          String(a.attempt),
          mdText(a.doctor, 40),
          a.patch ? a.patch.map((op) => mdText(describe(op), 120)).join('<br>') : '—',
          a.error
            ? `❌ ${mdText(a.error, 200)}`
            : a.report
              ? `${a.report.passed ? '✅' : '❌'} ${mdText(a.report.summary, 160)}${a.candidateVersion !== null ? ` (v${a.candidateVersion})` : ''}`
              : '—',
        ]),
      ),
    );
  }

  const linkLines = [`- Episode in the Temporal Web UI: ${links.episode}`, `- Pipeline run: ${links.run}`];
  if (links.specHistory) linkLines.push(`- History of this spec: ${links.specHistory}`);
  const code = (v: string) => `\`${plainLine(v, 200).replace(/`/g, '')}\``;
  linkLines.push(
    `- Locally: ${code(`heal inspect ${input.episodeId}`)}, ${code(`heal versions ${input.pipeline}`)}, ${code(`git -C "$HEAL_HOME/specs" log -p ${input.pipeline}/current.yaml`)}`,
  );
  parts.push('## Links', linkLines.join('\n'));
  parts.push(`<sub>heal · episode ${mdText(input.episodeId, 200)} · run ${mdText(input.runId, 200)}</sub>`);
  parts.push(`<!-- heal:episode=${encodeURIComponent(input.episodeId)} -->`);

  const body = parts.join('\n\n');
  // GitHub refuses bodies over 65,536 characters.
  return body.length > 60_000 ? `${body.slice(0, 59_900)}\n\n… (truncated)` : body;
}

// ------------------------------------------------------------------------------------------------
// Requests with retries

type Failure =
  | { retry: true; status: number; message: string; retryAfterMs: number | null }
  | { retry: false; status: number; message: string };

function header(headers: unknown, name: string): string | undefined {
  const v = (headers as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

/** Classify a failed request: retryable (5xx, 429, rate limits, network) or rejected. */
function classify(err: unknown, now: number): Failure {
  const e = err as { status?: unknown; message?: unknown; response?: { headers?: unknown; data?: unknown } };
  const status = typeof e.status === 'number' ? e.status : 0;
  const headers = e.response?.headers;
  const data = e.response?.data as { message?: unknown; errors?: { message?: unknown }[] } | undefined;
  const detail = [
    typeof data?.message === 'string' ? data.message : typeof e.message === 'string' ? e.message : 'request failed',
    ...(data?.errors ?? []).map((x) => (typeof x.message === 'string' ? x.message : '')).filter(Boolean),
  ].join(': ');
  let retryAfterMs: number | null = null;
  const ra = header(headers, 'retry-after');
  if (ra !== undefined) {
    const secs = Number(ra);
    retryAfterMs = Number.isFinite(secs) ? Math.max(0, secs * 1000) : Math.max(0, Date.parse(ra) - now) || null;
  }
  const remaining = header(headers, 'x-ratelimit-remaining');
  const reset = Number(header(headers, 'x-ratelimit-reset'));
  const limited =
    status === 429 || (status === 403 && (remaining === '0' || ra !== undefined || /rate limit/i.test(detail)));
  if (retryAfterMs === null && limited && remaining === '0' && Number.isFinite(reset))
    retryAfterMs = Math.max(0, reset * 1000 - now);
  // 409: a concurrent write moved the file; reading it again and retrying resolves it.
  if (limited || status >= 500 || status === 0 || status === 408 || status === 409)
    return { retry: true, status, message: detail, retryAfterMs };
  return { retry: false, status, message: detail };
}

type Outcome<T> = { ok: true; data: T } | { ok: false; status: number; message: string };

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

function timerSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason instanceof Error ? signal.reason : new Error('cancelled'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function createGitHubActivities(deps: GitHubDeps) {
  const gh = deps.config.github;
  const now = deps.now ?? Date.now;
  const maxAttempts = deps.maxRequestAttempts ?? 4;
  const baseMs = deps.retryBaseMs ?? 1000;
  const budgetMs = deps.retryBudgetMs ?? 20_000;
  const timeoutMs = deps.requestTimeoutMs ?? 15_000;
  const pollMs = deps.pollIntervalMs ?? 30_000;

  const scrub = (s: string) => (gh.token ? s.split(gh.token).join('***') : s);

  /** Wait `ms`, cancellable when running as an activity. */
  async function wait(ms: number): Promise<void> {
    const ctx = currentContext();
    const p = (deps.sleep ?? timerSleep)(ms, ctx?.cancellationSignal);
    await (ctx ? Promise.race([p, ctx.cancelled]) : p);
  }

  function settings(): { owner: string; repo: string; octokit: Octokit } | null {
    if (!gh.token || !gh.repository) return null;
    const [owner, repo, ...more] = gh.repository.split('/');
    if (!owner || !repo || more.length)
      throw new GitHubRequestRejectedError(`GITHUB_REPOSITORY must be "owner/repo" (got "${scrub(gh.repository)}")`);
    const quiet = () => undefined;
    const octokit = new Octokit({
      auth: gh.token,
      baseUrl: gh.apiUrl,
      userAgent: 'heal',
      log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    });
    return { owner, repo, octokit };
  }

  /**
   * Requests with retries sharing one wait budget (one activity call, or one poll). Statuses in
   * `expected` come back as `{ ok: false }` for the caller to handle (404 "not there yet", 422
   * "already exists").
   */
  function session() {
    let waited = 0;
    async function request<T>(
      what: string,
      fn: (signal: AbortSignal) => Promise<{ data: T }>,
      expected: number[] = [],
    ): Promise<Outcome<T>> {
      for (let attempt = 1; ; attempt++) {
        let failure: Failure;
        try {
          const cancel = currentContext()?.cancellationSignal;
          const res = await fn(
            cancel ? AbortSignal.any([AbortSignal.timeout(timeoutMs), cancel]) : AbortSignal.timeout(timeoutMs),
          );
          return { ok: true, data: res.data };
        } catch (err) {
          failure = classify(err, now());
        }
        if (expected.includes(failure.status))
          return { ok: false, status: failure.status, message: scrub(failure.message) };
        const message = `GitHub ${what}: ${failure.status || 'no answer'} ${scrub(failure.message)}`;
        if (!failure.retry) throw new GitHubRequestRejectedError(message, { status: failure.status });
        const delay = failure.retryAfterMs ?? Math.min(baseMs * 2 ** (attempt - 1), 10_000);
        if (attempt >= maxAttempts || waited + delay > budgetMs) {
          const details = { status: failure.status, retryAfterMs: failure.retryAfterMs, attempts: attempt };
          if (failure.retryAfterMs !== null) {
            throw ApplicationFailure.create({
              type: 'GitHubUnavailable',
              message,
              details: [details],
              nextRetryDelay: Math.max(1000, failure.retryAfterMs),
            });
          }
          throw new GitHubUnavailableError(message, details);
        }
        currentContext()?.heartbeat({ github: what, attempt });
        await wait(delay);
        waited += delay;
      }
    }
    async function must<T>(what: string, fn: (signal: AbortSignal) => Promise<{ data: T }>): Promise<T> {
      const r = await request(what, fn);
      if (!r.ok) throw new GitHubRequestRejectedError(`GitHub ${what}: ${r.status} ${r.message}`, { status: r.status });
      return r.data;
    }
    return { request, must };
  }

  return {
    /** Open (or find again) the pull request of a verified fix; `disabled` without GitHub settings. */
    async publishFix(input: PublishFixInput): Promise<PublishFixResult> {
      const s = settings();
      if (!s) return { status: 'disabled', prUrl: null, prNumber: null, branch: null };
      const { owner, repo, octokit } = s;
      const { request, must } = session();
      const branch = fixBranch(input.pipeline, input.episodeId);
      const filePath = specPathInRepo(input.pipeline);

      // The candidate, as the store holds it (validated by reading it).
      const specs = deps.specs ?? openStore({ home: deps.config.home, gitCommits: false }).specs;
      await specs.read(input.pipeline, input.candidateVersion);
      const text = await specs.text(input.pipeline, input.candidateVersion);
      const content =
        `# ${input.pipeline} v${input.candidateVersion} (heal episode ${plainLine(input.episodeId, 200)}, doctor ${plainLine(input.doctor, 40)})\n` +
        text;

      const findPull = async () => {
        const list = await must('list pull requests', (signal) =>
          octokit.rest.pulls.list({
            owner,
            repo,
            head: `${owner}:${branch}`,
            state: 'all',
            per_page: 10,
            request: { signal },
          }),
        );
        const pr = list[0];
        return pr ? { status: 'found' as const, prUrl: pr.html_url, prNumber: pr.number, branch } : null;
      };

      const found = await findPull();
      if (found) return found;

      const repoInfo = await must('get repository', (signal) =>
        octokit.rest.repos.get({ owner, repo, request: { signal } }),
      );
      const base = repoInfo.default_branch;

      // The branch (a retry after a failure halfway finds it).
      const existing = await request(
        'get branch',
        (signal) => octokit.rest.git.getRef({ owner, repo, ref: `heads/${branch}`, request: { signal } }),
        [404],
      );
      if (!existing.ok) {
        const baseRef = await must('get default branch', (signal) =>
          octokit.rest.git.getRef({ owner, repo, ref: `heads/${base}`, request: { signal } }),
        );
        const created = await request(
          'create branch',
          (signal) =>
            octokit.rest.git.createRef({
              owner,
              repo,
              ref: `refs/heads/${branch}`,
              sha: baseRef.object.sha,
              request: { signal },
            }),
          [422],
        );
        if (!created.ok && !/already exists/i.test(created.message))
          throw new GitHubRequestRejectedError(`GitHub create branch ${branch}: 422 ${created.message}`, {
            status: 422,
          });
      }

      // The spec change: one commit on the branch (none when the file already holds it).
      const current = await request(
        'get spec file',
        (signal) => octokit.rest.repos.getContent({ owner, repo, path: filePath, ref: branch, request: { signal } }),
        [404],
      );
      let priorSha: string | undefined;
      let same = false;
      if (current.ok && !Array.isArray(current.data) && current.data.type === 'file') {
        priorSha = current.data.sha;
        const text =
          'content' in current.data && typeof current.data.content === 'string'
            ? Buffer.from(current.data.content, 'base64').toString('utf8')
            : '';
        same = text === content;
      }
      if (!same) {
        const who = { name: HEAL_GIT_IDENTITY.name, email: HEAL_GIT_IDENTITY.email };
        const message = [
          `heal: ${input.pipeline} v${input.candidateVersion} (episode ${plainLine(input.episodeId, 120)}, doctor ${plainLine(input.doctor, 40)})`,
          `Drift: ${plainLine(input.drift.summary, 500)}`,
          ['Patch:', ...input.patch.slice(0, 50).map((op) => `- ${plainLine(describe(op), 200)}`)].join('\n'),
          [
            `Heal-Pipeline: ${input.pipeline}`,
            `Heal-Version: ${input.candidateVersion}`,
            `Heal-Parent: ${input.baseVersion}`,
            `Heal-Episode: ${plainLine(input.episodeId, 200)}`,
            `Heal-Doctor: ${plainLine(input.doctor, 40)}`,
          ].join('\n'),
        ].join('\n\n');
        await must('commit the spec', (signal) =>
          octokit.rest.repos.createOrUpdateFileContents({
            owner,
            repo,
            path: filePath,
            branch,
            message,
            content: Buffer.from(content, 'utf8').toString('base64'),
            ...(priorSha ? { sha: priorSha } : {}),
            committer: who,
            author: who,
            request: { signal },
          }),
        );
      }

      // The pull request.
      const links = pullRequestLinks(deps.config, input, repoInfo.html_url, base);
      const pr = await request(
        'open pull request',
        (signal) =>
          octokit.rest.pulls.create({
            owner,
            repo,
            head: branch,
            base,
            title: pullRequestTitle(input),
            body: pullRequestBody(input, links),
            request: { signal },
          }),
        [422],
      );
      if (pr.ok) return { status: 'opened', prUrl: pr.data.html_url, prNumber: pr.data.number, branch };
      const again = await findPull();
      if (again) return again;
      throw new GitHubRequestRejectedError(`GitHub open pull request for ${branch}: 422 ${pr.message}`, {
        status: 422,
      });
    },

    /**
     * Wait (heartbeating) until the fix's pull request is merged (approve) or closed without
     * merging (reject). Cancelled by the workflow when a CLI decision comes first. Transient GitHub
     * failures do not end the wait; a rejected request (404, 401) does.
     */
    async awaitPullRequestDecision(input: AwaitPullRequestInput): Promise<ApprovalDecision> {
      const s = settings();
      if (!s)
        throw new GitHubRequestRejectedError(
          `pull request #${input.prNumber} of ${input.episodeId}: GitHub is not configured (GITHUB_TOKEN, GITHUB_REPOSITORY)`,
        );
      const { owner, repo, octokit } = s;
      const ctx = currentContext();
      for (let polls = 1; ; polls++) {
        ctx?.heartbeat({ prNumber: input.prNumber, polls });
        let pr: Awaited<ReturnType<typeof octokit.rest.pulls.get>>['data'] | null = null;
        let pause = pollMs;
        const { request } = session();
        try {
          const r = await request('get pull request', (signal) =>
            octokit.rest.pulls.get({ owner, repo, pull_number: input.prNumber, request: { signal } }),
          );
          if (r.ok) pr = r.data;
        } catch (err) {
          // Unavailable: keep waiting (the next poll tries again, after GitHub's Retry-After when it
          // gave one). Rejected: the wait cannot succeed.
          if (err instanceof GitHubRequestRejectedError) throw err;
          if (err instanceof ApplicationFailure && typeof err.nextRetryDelay === 'number')
            pause = Math.max(pollMs, err.nextRetryDelay);
        }
        const at = new Date(now()).toISOString();
        if (pr?.merged) {
          return {
            decision: 'approve',
            by: pr.merged_by?.login ? `github:${pr.merged_by.login}` : 'github',
            reason: `pull request #${input.prNumber} merged`,
            via: 'pull-request',
            at,
          };
        }
        if (pr?.state === 'closed') {
          let by = 'github';
          const issue = await request(
            'get issue',
            (signal) => octokit.rest.issues.get({ owner, repo, issue_number: input.prNumber, request: { signal } }),
            [404],
          ).catch(() => null);
          if (issue?.ok && issue.data.closed_by?.login) by = `github:${issue.data.closed_by.login}`;
          return {
            decision: 'reject',
            by,
            reason: `pull request #${input.prNumber} closed without merging`,
            via: 'pull-request',
            at,
          };
        }
        for (let left = pause; left > 0; left -= HEARTBEAT_INTERVAL_MS) {
          await wait(Math.min(left, HEARTBEAT_INTERVAL_MS));
          if (left > HEARTBEAT_INTERVAL_MS) ctx?.heartbeat({ prNumber: input.prNumber, polls });
        }
      }
    },
  };
}
