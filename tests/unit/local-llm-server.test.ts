/**
 * heal's local model server (integrations/local-llm/server.ts) over HTTP, with an in-process model
 * stand-in (the real model is in tests/llm/local-model.test.ts): the OpenAI-compatible routes, the
 * errors real servers send (shape and status), the grammar schema, and a hang-up aborting generation.
 */
import { ContextOverflowError, type CompletionRequest, type LocalModel } from '../../integrations/local-llm/runtime';
import {
  GRAMMAR_BOUNDS,
  grammarSchema,
  startLocalLlmServer,
  type LocalLlmServer,
} from '../../integrations/local-llm/server';

function model(answer: (req: CompletionRequest) => Promise<string>): LocalModel & { requests: CompletionRequest[] } {
  const requests: CompletionRequest[] = [];
  return {
    name: 'stand-in',
    contextSize: 512,
    requests,
    tokenize: (text) => [...text].map((c) => c.charCodeAt(0)),
    async complete(req) {
      requests.push(req);
      const text = await answer(req);
      return { text, finishReason: 'stop', promptTokens: 7, completionTokens: 3 };
    },
    close: () => Promise.resolve(),
  };
}

let server: LocalLlmServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server?.url.replace(/\/v1$/, '')}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const chat = { model: 'any', messages: [{ role: 'user', content: 'hi' }] };

describe('the routes', () => {
  it('answers a chat completion in OpenAI’s shape, with usage, and passes the schema on as a grammar schema', async () => {
    const m = model(() => Promise.resolve('{"a":1}'));
    server = await startLocalLlmServer(m);
    const schema = { type: 'object', properties: { a: { anyOf: [{ type: 'number' }, { type: 'null' }] } } };
    const { status, json } = await post('/v1/chat/completions', {
      ...chat,
      messages: [
        { role: 'developer', content: 'be brief' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'h' },
            { type: 'text', text: 'i' },
          ],
        },
      ],
      max_tokens: 50,
      response_format: { type: 'json_schema', json_schema: { name: 'x', strict: true, schema } },
    });
    expect(status).toBe(200);
    expect(json).toMatchObject({
      object: 'chat.completion',
      model: 'stand-in',
      choices: [{ index: 0, message: { role: 'assistant', content: '{"a":1}' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
    });
    expect(m.requests[0]).toMatchObject({
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi' },
      ],
      maxTokens: 50,
      jsonSchema: { type: 'object', properties: { a: { oneOf: [{ type: 'number' }, { type: 'null' }] } } },
    });
  });

  it('lists its model, counts tokens like llama.cpp’s /tokenize, and says it is healthy', async () => {
    server = await startLocalLlmServer(model(() => Promise.resolve('')));
    const models = await (await fetch(`${server.url}/models`)).json();
    expect(models).toMatchObject({ object: 'list', data: [{ id: 'stand-in', object: 'model' }] });
    expect((await post('/tokenize', { content: 'abc' })).json).toEqual({ tokens: [97, 98, 99], context_size: 512 });
    expect(await (await fetch(`${server.url.replace(/\/v1$/, '')}/health`)).json()).toEqual({ status: 'ok' });
  });
});

describe('errors as OpenAI-compatible servers send them', () => {
  const error = (code: string | null) => ({ error: expect.objectContaining({ type: expect.any(String), code }) });

  it('refuses a bad request with 400: not JSON, no messages, streaming', async () => {
    server = await startLocalLlmServer(model(() => Promise.resolve('')));
    expect(await post('/v1/chat/completions', '{not json')).toMatchObject({ status: 400, json: error('invalid_json') });
    expect(await post('/v1/chat/completions', { messages: [] })).toMatchObject({ status: 400, json: error(null) });
    const streamed = await post('/v1/chat/completions', { ...chat, stream: true });
    expect(streamed).toMatchObject({ status: 400 });
    expect(JSON.stringify(streamed.json)).toMatch(/streaming is not supported/);
  });

  it('a prompt over the context is a 400 context_length_exceeded, never a silently shortened prompt', async () => {
    server = await startLocalLlmServer(model(() => Promise.reject(new ContextOverflowError(900, 512))));
    const res = await post('/v1/chat/completions', chat);
    expect(res).toMatchObject({ status: 400, json: error('context_length_exceeded') });
    expect(JSON.stringify(res.json)).toMatch(/900 prompt tokens.*512 tokens/);
  });

  it('unknown route 404, wrong method 405, a failing model 500', async () => {
    server = await startLocalLlmServer(model(() => Promise.reject(new Error('out of memory'))));
    expect((await fetch(`${server.url}/embeddings`)).status).toBe(404);
    expect((await fetch(`${server.url}/chat/completions`)).status).toBe(405);
    const res = await post('/v1/chat/completions', chat);
    expect(res).toMatchObject({ status: 500, json: { error: { type: 'server_error' } } });
    expect(JSON.stringify(res.json)).toMatch(/out of memory/);
  });

  it('a client that hangs up aborts its generation', async () => {
    let aborted!: () => void;
    let generating!: () => void;
    const abortedSeen = new Promise<void>((resolve) => (aborted = resolve));
    const started = new Promise<void>((resolve) => (generating = resolve));
    const m = model(
      (req) =>
        new Promise<string>((_, reject) => {
          req.signal?.addEventListener('abort', () => {
            aborted();
            reject(new Error('aborted'));
          });
          generating();
        }),
    );
    server = await startLocalLlmServer(m);
    const client = new AbortController();
    const sent = fetch(`${server.url}/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chat),
      signal: client.signal,
    }).catch(() => 'hung up');
    await started;
    client.abort();
    await abortedSeen;
    expect(await sent).toBe('hung up');
  });
});

describe('grammarSchema', () => {
  it('turns anyOf into oneOf, drops the type beside const and enum, and bounds strings and arrays', () => {
    const out = grammarSchema({
      type: 'object',
      properties: {
        op: { type: 'string', const: 'map' },
        kind: { type: 'string', enum: ['a', 'b'] },
        list: { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'null' }] } },
        short: { type: ['string', 'null'], maxLength: 5 },
      },
    });
    expect(out).toEqual({
      type: 'object',
      properties: {
        op: { const: 'map' },
        kind: { enum: ['a', 'b'] },
        list: {
          type: 'array',
          maxItems: GRAMMAR_BOUNDS.maxItems,
          items: { oneOf: [{ type: 'string', maxLength: GRAMMAR_BOUNDS.maxLength }, { type: 'null' }] },
        },
        short: { type: ['string', 'null'], maxLength: 5 },
      },
    });
  });
});
