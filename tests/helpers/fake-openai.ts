/**
 * A real local HTTP server speaking the chat-completions protocol, for testing the LLM doctor
 * without any model: `POST /v1/chat/completions` answers from a scripted queue and records every
 * request. Listens on 127.0.0.1, port 0 (the OS picks a free one).
 *
 * ```ts
 * const fake = await startFakeOpenAI();
 * fake.enqueue({ content: '{"noAnswer":"…"}' }, { status: 429, headers: { 'retry-after': '2' } });
 * const client = new OpenAI({ baseURL: fake.url, apiKey: 'k', maxRetries: 0 });
 * …
 * await fake.close();
 * ```
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted reply. */
export type FakeReply =
  /** A proper `chat.completion` whose first choice's message has this content. */
  | {
      content: string;
      /** @default "stop" */
      finishReason?: 'stop' | 'length' | 'content_filter';
      /** @default { prompt_tokens: 100, completion_tokens: 20 } */
      usage?: { prompt_tokens: number; completion_tokens: number };
      /** @default the request's model */
      model?: string;
    }
  /** An HTTP error (e.g. 429 with Retry-After, 500). The body defaults to an OpenAI-style error object. */
  | { status: number; headers?: Record<string, string>; body?: unknown }
  /** Never answer (until the client gives up or the server closes). */
  | { hang: true }
  /** A raw response body, e.g. truncated or invalid JSON, sent with status 200. */
  | { raw: string; contentType?: string };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body (or the raw text when it is not JSON). */
  body: unknown;
  /** The body as received. */
  text: string;
}

export interface FakeOpenAI {
  /** Base URL to give the client, ending in `/v1`. */
  url: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Queue replies, answered in order, one per chat-completions request. */
  enqueue(...replies: FakeReply[]): void;
  /** Replies not yet used. */
  pending(): number;
  /** Resolves when `n` requests have been received (in total). */
  waitForRequests(n: number): Promise<void>;
  /** Stop listening and drop every connection, hanging ones included. */
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function errorBody(status: number, message: string): unknown {
  const type = status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, param: null, code: type } };
}

/** Start a fake chat-completions server. */
export async function startFakeOpenAI(initial: FakeReply[] = []): Promise<FakeOpenAI> {
  const queue: FakeReply[] = [...initial];
  const requests: RecordedRequest[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let seq = 0;

  const notify = () => {
    for (const w of [...waiters]) {
      if (requests.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text ? (JSON.parse(text) as unknown) : null;
      } catch {
        body = text;
      }
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      requests.push({ method: req.method ?? '', path, headers: req.headers, body, text });
      notify();

      if (req.method !== 'POST' || path !== '/v1/chat/completions') {
        send(res, 404, errorBody(404, `fake-openai: no route ${req.method} ${path}`));
        return;
      }
      const reply = queue.shift();
      if (!reply) {
        send(res, 500, errorBody(500, 'fake-openai: no scripted reply left'));
        return;
      }
      if ('hang' in reply) return; // keep the socket open; close() destroys it
      if ('raw' in reply) {
        res.writeHead(200, { 'content-type': reply.contentType ?? 'application/json' });
        res.end(reply.raw);
        return;
      }
      if ('status' in reply) {
        send(
          res,
          reply.status,
          reply.body ?? errorBody(reply.status, `fake-openai: scripted HTTP ${reply.status}`),
          reply.headers,
        );
        return;
      }
      const model =
        reply.model ??
        (body && typeof body === 'object' && 'model' in body
          ? String((body as { model: unknown }).model)
          : 'fake-model');
      const usage = reply.usage ?? { prompt_tokens: 100, completion_tokens: 20 };
      seq++;
      send(res, 200, {
        id: `chatcmpl-fake-${seq}`,
        object: 'chat.completion',
        created: 1_700_000_000 + seq,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: reply.content, refusal: null },
            logprobs: null,
            finish_reason: reply.finishReason ?? 'stop',
          },
        ],
        usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...replies) => {
      queue.push(...replies);
    },
    pending: () => queue.length,
    waitForRequests: (n) =>
      requests.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Alias: `start()` as the LLM doctor's tests call it. */
export const start = startFakeOpenAI;
