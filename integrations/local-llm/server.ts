/**
 * An OpenAI-compatible chat-completions endpoint over a local model, so the LLM doctor talks to it
 * exactly as it talks to OpenAI, Ollama or a llama.cpp server: `POST /v1/chat/completions` (with
 * `response_format` `json_schema` honoured by a grammar (strings and arrays bounded), `json_object` by a JSON grammar),
 * `GET /v1/models`, and llama.cpp's `POST /tokenize` (the doctor measures its prompt with it).
 *
 * It misbehaves the way those servers do: errors are `{ error: { message, type, code } }` with the
 * status they use (400 for a bad request or a prompt over the context size, 404, 405, 413, 500),
 * and streaming is refused with a 400. A client that hangs up aborts its generation.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { ContextOverflowError, type LocalModel } from './runtime';

/** Largest request body accepted. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

const contentSchema = z.union([
  z.string(),
  z
    .array(z.object({ type: z.literal('text'), text: z.string() }).passthrough())
    .transform((parts) => parts.map((p) => p.text).join('')),
]);

const requestSchema = z.object({
  model: z.string().optional(),
  messages: z
    .array(z.object({ role: z.enum(['system', 'developer', 'user', 'assistant']), content: contentSchema }))
    .min(1),
  temperature: z.number().min(0).max(2).optional(),
  max_tokens: z.number().int().positive().optional(),
  max_completion_tokens: z.number().int().positive().optional(),
  stream: z.boolean().optional(),
  response_format: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('text') }),
      z.object({ type: z.literal('json_object') }),
      z.object({
        type: z.literal('json_schema'),
        json_schema: z.object({
          name: z.string(),
          schema: z.record(z.string(), z.unknown()),
          strict: z.boolean().optional(),
        }),
      }),
    ])
    .optional(),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly type = 'invalid_request_error',
  ) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`, 'request_too_large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(new HttpError(400, `the body is not valid JSON (${(err as Error).message})`, 'invalid_json'));
      }
    });
    req.on('error', reject);
  });
}

/** Bounds a schema's grammar puts on strings and arrays that have none. */
export const GRAMMAR_BOUNDS = Object.freeze({ maxLength: 400, maxItems: 32 });

/**
 * A JSON schema as the runtime's grammar builder reads it: `anyOf` as `oneOf` (it knows only the
 * latter, and takes an unknown keyword for "any value"), `const` and `enum` without their `type`,
 * and every unbounded string and array bounded ({@link GRAMMAR_BOUNDS}): a small model otherwise
 * repeats one sentence until the token limit, and the answer arrives cut off.
 */
export function grammarSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(grammarSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'const' || k === 'enum') out[k] = v;
    else out[k === 'anyOf' ? 'oneOf' : k] = grammarSchema(v);
  }
  if ('const' in out || 'enum' in out) {
    delete out['type'];
    return out;
  }
  const types = ([] as unknown[]).concat(out['type'] ?? []);
  if (types.includes('string') && out['maxLength'] === undefined) out['maxLength'] = GRAMMAR_BOUNDS.maxLength;
  if (types.includes('array') && out['maxItems'] === undefined) out['maxItems'] = GRAMMAR_BOUNDS.maxItems;
  return out;
}

let sequence = 0;

async function chatCompletion(model: LocalModel, body: unknown, signal: AbortSignal): Promise<unknown> {
  const parsed = requestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HttpError(400, `invalid request: ${issue?.path.join('.') || 'body'}: ${issue?.message}`, null);
  }
  const r = parsed.data;
  if (r.stream) throw new HttpError(400, 'streaming is not supported by this server; send stream: false', null);
  const format = r.response_format;
  const jsonSchema =
    format?.type === 'json_schema'
      ? (grammarSchema(format.json_schema.schema) as Record<string, unknown>)
      : format?.type === 'json_object'
        ? { type: 'object' }
        : undefined;
  const done = await model.complete({
    messages: r.messages.map((m) => ({ role: m.role === 'developer' ? 'system' : m.role, content: m.content })),
    jsonSchema,
    maxTokens: r.max_completion_tokens ?? r.max_tokens,
    temperature: r.temperature,
    signal,
  });
  sequence += 1;
  return {
    id: `chatcmpl-local-${sequence}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: model.name,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: done.text, refusal: null },
        finish_reason: done.finishReason,
      },
    ],
    usage: {
      prompt_tokens: done.promptTokens,
      completion_tokens: done.completionTokens,
      total_tokens: done.promptTokens + done.completionTokens,
    },
  };
}

async function route(model: LocalModel, req: http.IncomingMessage, signal: AbortSignal): Promise<unknown> {
  const url = new URL(req.url ?? '/', 'http://local');
  const p = url.pathname.replace(/\/+$/, '');
  const is = (path: string, method: string) => {
    if (p !== path) return false;
    if (req.method !== method) throw new HttpError(405, `${req.method} ${path}: use ${method}`, 'method_not_allowed');
    return true;
  };
  if (is('/health', 'GET')) return { status: 'ok' };
  if (is('/v1/models', 'GET'))
    return { object: 'list', data: [{ id: model.name, object: 'model', created: 0, owned_by: 'heal-local' }] };
  if (is('/tokenize', 'POST') || is('/v1/tokenize', 'POST')) {
    const body = z.object({ content: z.string() }).safeParse(await readJson(req));
    if (!body.success) throw new HttpError(400, 'invalid request: content: a string is required', null);
    return { tokens: model.tokenize(body.data.content), context_size: model.contextSize };
  }
  if (is('/v1/chat/completions', 'POST')) return chatCompletion(model, await readJson(req), signal);
  throw new HttpError(404, `no route ${req.method} ${url.pathname}`, 'not_found');
}

export interface LocalLlmServer {
  /** Base URL of the OpenAI-compatible API (ends in /v1), e.g. for OPENAI_BASE_URL. */
  url: string;
  close(): Promise<void>;
}

/** Serve `model` on `host:port` (port 0: any free port). */
export async function startLocalLlmServer(
  model: LocalModel,
  opts: { host?: string; port?: number; log?: (entry: Record<string, unknown>) => void } = {},
): Promise<LocalLlmServer> {
  const server = http.createServer((req, res) => {
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const started = Date.now();
    route(model, req, abort.signal).then(
      (body) => {
        send(res, 200, body);
        const b = body as { usage?: unknown; choices?: { message: { content: string }; finish_reason: string }[] };
        if (opts.log && b.choices)
          opts.log({
            ms: Date.now() - started,
            usage: b.usage,
            finish: b.choices[0]?.finish_reason,
            answer: b.choices[0]?.message.content,
          });
      },
      (err: unknown) => {
        if (abort.signal.aborted) return;
        const e =
          err instanceof HttpError
            ? err
            : err instanceof ContextOverflowError
              ? new HttpError(400, err.message, 'context_length_exceeded')
              : new HttpError(
                  500,
                  `the model failed: ${err instanceof Error ? err.message : String(err)}`,
                  null,
                  'server_error',
                );
        send(res, e.status, { error: { message: e.message, type: e.type, param: null, code: e.code } });
      },
    );
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
