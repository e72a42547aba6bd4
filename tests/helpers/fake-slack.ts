/**
 * A real local HTTP server standing in for a Slack incoming webhook: records every request and
 * answers from a scripted queue (then `ok`). Listens on 127.0.0.1, port 0.
 *
 * ```ts
 * const slack = await startFakeSlack();
 * slack.enqueue({ status: 500 }, { status: 429, retryAfter: '1' }, { delayMs: 3000 });
 * const config = { ..., slackWebhookUrl: slack.webhookUrl };
 * …
 * await slack.close();
 * ```
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type SlackReply =
  /** Answer with this status (Slack answers `ok` with 200, `invalid_payload` with 400, …). */
  | { status: number; body?: string; retryAfter?: string }
  /** Answer 200 `ok` after this delay (a slow Slack). */
  | { delayMs: number; status?: number }
  /** Never answer. */
  | { hang: true };

export interface SlackRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body. */
  body: { text?: string; blocks?: unknown[] } & Record<string, unknown>;
  text: string;
  /** When it arrived (ms since epoch). */
  at: number;
}

export interface FakeSlack {
  /** The webhook URL to configure (with a secret-looking path, as Slack's are). */
  webhookUrl: string;
  /** The secret part of the URL (must never leak into messages, logs or errors). */
  secret: string;
  requests: SlackRequest[];
  enqueue(...replies: SlackReply[]): void;
  pending(): number;
  waitForRequests(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeSlack(initial: SlackReply[] = []): Promise<FakeSlack> {
  const queue: SlackReply[] = [...initial];
  const requests: SlackRequest[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const secret = 'T000FAKE/B000FAKE/xoxSecretHookToken42';
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: SlackRequest['body'] = {};
      try {
        body = JSON.parse(text) as SlackRequest['body'];
      } catch {
        body = { raw: text };
      }
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '/',
        headers: req.headers,
        body,
        text,
        at: Date.now(),
      });
      for (const w of [...waiters]) {
        if (requests.length >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
      if (req.method !== 'POST' || req.url !== `/services/${secret}`) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no_service');
        return;
      }
      const reply = queue.shift() ?? { status: 200 };
      if ('hang' in reply) return;
      if ('delayMs' in reply) {
        const t = setTimeout(() => {
          timers.delete(t);
          if (!res.destroyed) res.writeHead(reply.status ?? 200, { 'content-type': 'text/plain' }).end('ok');
        }, reply.delayMs);
        timers.add(t);
        return;
      }
      const headers: Record<string, string> = { 'content-type': 'text/plain' };
      if (reply.retryAfter !== undefined) headers['retry-after'] = reply.retryAfter;
      res
        .writeHead(reply.status, headers)
        .end(reply.body ?? (reply.status === 200 ? 'ok' : reply.status === 429 ? 'rate_limited' : 'internal_error'));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    webhookUrl: `http://127.0.0.1:${port}/services/${secret}`,
    secret,
    requests,
    enqueue: (...r) => {
      queue.push(...r);
    },
    pending: () => queue.length,
    waitForRequests: (n) =>
      requests.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
