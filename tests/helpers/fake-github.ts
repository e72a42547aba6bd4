/**
 * A real local HTTP server speaking the few GitHub REST endpoints heal uses, for testing
 * `publishFix` / `awaitPullRequestDecision` without GitHub. Listens on 127.0.0.1, port 0. It keeps
 * one repository's state (default branch, refs, files per branch, pull requests), records every
 * request (with the time it arrived), checks the token, and can be scripted to fail:
 *
 * ```ts
 * const gh = await startFakeGitHub({ owner: 'acme', repo: 'data', token: 't0k' });
 * gh.fail({ method: 'POST', path: /\/pulls$/, status: 500, times: 2 });
 * gh.fail({ path: /\/git\/refs$/, status: 429, headers: { 'retry-after': '1' } });
 * // config: { token: 't0k', repository: 'acme/data', apiUrl: gh.url }
 * gh.merge(1, 'alice');
 * await gh.close();
 * ```
 *
 * Endpoints: GET /repos/:o/:r, GET /repos/:o/:r/git/ref/heads/:branch, POST /repos/:o/:r/git/refs,
 * GET|PUT /repos/:o/:r/contents/:path, GET|POST /repos/:o/:r/pulls, GET /repos/:o/:r/pulls/:n,
 * GET /repos/:o/:r/issues/:n.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FakeGitHubOptions {
  /** @default "acme" */
  owner?: string;
  /** @default "data" */
  repo?: string;
  /** The only token accepted (`Authorization: token <t>` or `Bearer <t>`). @default "test-token" */
  token?: string;
  /** @default "main" */
  defaultBranch?: string;
}

export interface GitHubRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  /** `performance.now()` when the request arrived. */
  at: number;
  /** The status answered. */
  status?: number;
}

/** A scripted fault: the next `times` requests matching method + path answer this instead. */
export interface Fault {
  method?: string;
  path: RegExp;
  /** @default 1 */
  times?: number;
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Wait this long before answering (ms). */
  delayMs?: number;
}

export interface FakePull {
  number: number;
  title: string;
  body: string;
  head: string;
  base: string;
  state: 'open' | 'closed';
  merged: boolean;
  mergedBy: string | null;
  closedBy: string | null;
}

export interface FakeGitHub {
  /** Base URL (use as `apiUrl`). */
  url: string;
  owner: string;
  repo: string;
  requests: GitHubRequest[];
  /** Branch name → head commit sha. */
  refs: Map<string, string>;
  /** `${branch}:${path}` → file content (utf8). */
  files: Map<string, string>;
  pulls: FakePull[];
  /** Commits made through the contents API: branch, path, message. */
  commits: { branch: string; path: string; message: string; author: unknown }[];
  fail(fault: Fault): void;
  merge(number: number, by: string): void;
  closePull(number: number, by: string): void;
  /** Requests matching method and path. */
  calls(method: string, path: RegExp): GitHubRequest[];
  /** Resolves once `n` requests matching method and path have been answered. */
  waitFor(method: string, path: RegExp, n: number): Promise<void>;
  close(): Promise<void>;
}

const sha = (s: string) => createHash('sha1').update(s).digest('hex');

export async function startFakeGitHub(opts: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const owner = opts.owner ?? 'acme';
  const repo = opts.repo ?? 'data';
  const token = opts.token ?? 'test-token';
  const defaultBranch = opts.defaultBranch ?? 'main';
  const refs = new Map<string, string>([[defaultBranch, sha('root')]]);
  const files = new Map<string, string>();
  const pulls: FakePull[] = [];
  const commits: FakeGitHub['commits'] = [];
  const faults: (Fault & { left: number })[] = [];
  const requests: GitHubRequest[] = [];
  const waiters: { method: string; path: RegExp; n: number; resolve: () => void }[] = [];
  const answered = (method: string, p: RegExp) =>
    requests.filter((r) => r.method === method && p.test(r.path) && r.status !== undefined).length;
  const wake = () => {
    for (const w of [...waiters]) {
      if (answered(w.method, w.path) >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  let url = '';
  const htmlBase = () => `${url}/html/${owner}/${repo}`;

  const pullJson = (p: FakePull) => ({
    number: p.number,
    title: p.title,
    body: p.body,
    state: p.state,
    merged: p.merged,
    merged_at: p.merged ? '2026-01-01T00:00:00Z' : null,
    merged_by: p.mergedBy ? { login: p.mergedBy } : null,
    html_url: `${htmlBase()}/pull/${p.number}`,
    head: { ref: p.head, label: `${owner}:${p.head}`, sha: refs.get(p.head) ?? null },
    base: { ref: p.base },
  });

  function route(req: GitHubRequest): { status: number; body?: unknown; headers?: Record<string, string> } {
    const prefix = `/repos/${owner}/${repo}`;
    if (!req.path.startsWith(prefix)) return { status: 404, body: { message: 'Not Found' } };
    // Octokit encodes path parameters (`heads%2Fheal%2F…`, `heal%2Fspecs%2F…`), as GitHub accepts.
    const rest = decodeURIComponent(req.path.slice(prefix.length));
    const body = (req.body ?? {}) as Record<string, unknown>;
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && rest === '') {
      return {
        status: 200,
        body: { full_name: `${owner}/${repo}`, default_branch: defaultBranch, html_url: htmlBase() },
      };
    }
    if (req.method === 'GET' && (m = /^\/git\/ref\/heads\/(.+)$/.exec(rest))) {
      const branch = m[1] ?? '';
      const s = refs.get(branch);
      return s
        ? { status: 200, body: { ref: `refs/heads/${branch}`, object: { sha: s, type: 'commit' } } }
        : { status: 404, body: { message: 'Not Found' } };
    }
    if (req.method === 'POST' && rest === '/git/refs') {
      const ref = String(body.ref ?? '');
      const branch = ref.replace(/^refs\/heads\//, '');
      if (!ref.startsWith('refs/heads/') || typeof body.sha !== 'string')
        return { status: 422, body: { message: 'Invalid request' } };
      if (refs.has(branch)) return { status: 422, body: { message: 'Reference already exists' } };
      refs.set(branch, body.sha);
      return { status: 201, body: { ref, object: { sha: body.sha } } };
    }
    if ((m = /^\/contents\/(.+)$/.exec(rest))) {
      const file = m[1] ?? '';
      if (req.method === 'GET') {
        const branch = req.query.get('ref') ?? defaultBranch;
        const content = files.get(`${branch}:${file}`);
        if (content === undefined) return { status: 404, body: { message: 'Not Found' } };
        return {
          status: 200,
          body: {
            type: 'file',
            path: file,
            sha: sha(content),
            encoding: 'base64',
            content: Buffer.from(content).toString('base64'),
          },
        };
      }
      if (req.method === 'PUT') {
        const branch = String(body.branch ?? defaultBranch);
        if (!refs.has(branch)) return { status: 404, body: { message: 'Branch not found' } };
        const key = `${branch}:${file}`;
        const prior = files.get(key);
        if (prior !== undefined && body.sha !== sha(prior))
          return { status: 409, body: { message: 'sha does not match' } };
        if (prior === undefined && body.sha !== undefined)
          return { status: 422, body: { message: 'sha given for a new file' } };
        const content = Buffer.from(String(body.content ?? ''), 'base64').toString('utf8');
        files.set(key, content);
        const commit = sha(`${branch}:${file}:${content}:${commits.length}`);
        refs.set(branch, commit);
        commits.push({ branch, path: file, message: String(body.message ?? ''), author: body.author });
        return {
          status: prior === undefined ? 201 : 200,
          body: { content: { path: file, sha: sha(content) }, commit: { sha: commit } },
        };
      }
    }
    if (req.method === 'GET' && rest === '/pulls') {
      const head = req.query.get('head');
      const state = req.query.get('state') ?? 'open';
      const list = pulls.filter(
        (p) => (!head || `${owner}:${p.head}` === head) && (state === 'all' || p.state === state),
      );
      return { status: 200, body: list.map(pullJson) };
    }
    if (req.method === 'POST' && rest === '/pulls') {
      const head = String(body.head ?? '');
      if (!refs.has(head))
        return { status: 422, body: { message: 'Validation Failed', errors: [{ field: 'head', code: 'invalid' }] } };
      if (pulls.some((p) => p.head === head && p.state === 'open')) {
        return {
          status: 422,
          body: {
            message: 'Validation Failed',
            errors: [{ message: `A pull request already exists for ${owner}:${head}.` }],
          },
        };
      }
      const p: FakePull = {
        number: pulls.length + 1,
        title: String(body.title ?? ''),
        body: String(body.body ?? ''),
        head,
        base: String(body.base ?? ''),
        state: 'open',
        merged: false,
        mergedBy: null,
        closedBy: null,
      };
      pulls.push(p);
      return { status: 201, body: pullJson(p) };
    }
    if (req.method === 'GET' && (m = /^\/pulls\/(\d+)$/.exec(rest))) {
      const p = pulls.find((x) => x.number === Number(m?.[1]));
      return p ? { status: 200, body: pullJson(p) } : { status: 404, body: { message: 'Not Found' } };
    }
    if (req.method === 'GET' && (m = /^\/issues\/(\d+)$/.exec(rest))) {
      const p = pulls.find((x) => x.number === Number(m?.[1]));
      return p
        ? {
            status: 200,
            body: { number: p.number, state: p.state, closed_by: p.closedBy ? { login: p.closedBy } : null },
          }
        : { status: 404, body: { message: 'Not Found' } };
    }
    return { status: 404, body: { message: `Not Found (fake: ${req.method} ${rest})` } };
  }

  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // keep the text
      }
      const rec: GitHubRequest = {
        method: req.method ?? 'GET',
        path: u.pathname,
        query: u.searchParams,
        headers: req.headers,
        body,
        at: performance.now(),
      };
      requests.push(rec);
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        rec.status = status;
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(payload === undefined ? '' : JSON.stringify(payload), wake);
      };
      const auth = req.headers.authorization ?? '';
      if (auth !== `token ${token}` && auth !== `Bearer ${token}`) return send(401, { message: 'Bad credentials' });
      const fault = faults.find((f) => f.left > 0 && (!f.method || f.method === rec.method) && f.path.test(rec.path));
      if (fault) {
        fault.left--;
        const answer = () =>
          fault.status
            ? send(fault.status, fault.body ?? { message: `fake fault ${fault.status}` }, fault.headers)
            : (() => {
                const r = route(rec);
                send(r.status, r.body, r.headers);
              })();
        if (fault.delayMs) setTimeout(answer, fault.delayMs).unref();
        else answer();
        return;
      }
      const r = route(rec);
      send(r.status, r.body, r.headers);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const pull = (n: number) => {
    const p = pulls.find((x) => x.number === n);
    if (!p) throw new Error(`fake GitHub: no pull request #${n}`);
    return p;
  };
  return {
    url,
    owner,
    repo,
    requests,
    refs,
    files,
    pulls,
    commits,
    fail: (f) => faults.push({ ...f, left: f.times ?? 1 }),
    merge(n, by) {
      const p = pull(n);
      Object.assign(p, { state: 'closed', merged: true, mergedBy: by, closedBy: by });
    },
    closePull(n, by) {
      Object.assign(pull(n), { state: 'closed', merged: false, closedBy: by });
    },
    calls: (method, p) => requests.filter((r) => r.method === method && p.test(r.path)),
    waitFor: (method, p, n) =>
      new Promise<void>((resolve) => {
        waiters.push({ method, path: p, n, resolve });
        wake();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
