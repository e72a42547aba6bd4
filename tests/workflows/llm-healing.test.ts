/**
 * The LLM doctor inside a real healing episode, against a local server speaking the
 * chat-completions protocol: a wrong mapping that verification rejects, then a right one on
 * attempt 2 (the second request carries the first patch and why it failed); a 429 then success
 * (retried by the activity's retry policy); and the API key never reaches workflow history.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { createLlmDoctor } from '../../core/doctor/llm';
import type { PipelineRunResult } from '../../common/types';
import type { HealConfig } from '../../lib/config';
import { pipelineRun } from '../../workflows';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai';
import { driftCase, initPipeline, tableRows, tempDir, testConfig } from '../helpers/fixtures';
import { createDevEnv, testWorkflowBundle, uniqueTaskQueue } from '../helpers/temporal';

const API_KEY = 'sk-test-3f9a1c0ffee';
let env: TestWorkflowEnvironment;
let bundle: { codePath: string };
let fake: FakeOpenAI;

beforeAll(async () => {
  [env, bundle, fake] = await Promise.all([createDevEnv(), testWorkflowBundle(), startFakeOpenAI()]);
}, 120_000);

afterAll(async () => {
  await fake?.close();
  await env?.teardown();
});

const answer = (patch: unknown[]) => ({
  content: JSON.stringify({ patch, confidence: 0.9, rationale: ['scripted answer'] }),
});
const SHAPE = { op: 'shape', columns: ['year', 'source', 'netGeneration'] };
const WRONG = [{ op: 'map', column: 'net_generation', from: 'source' }, SHAPE];
const RIGHT = [{ op: 'map', column: 'net_generation', from: 'netGeneration' }, SHAPE];

async function heal(config: HealConfig, workflowId: string): Promise<{ result: PipelineRunResult; history: string }> {
  const taskQueue = uniqueTaskQueue('llm');
  const doctors = [createLlmDoctor({ baseUrl: fake.url, apiKey: API_KEY, model: 'test-model', timeoutMs: 5000 })];
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: createActivities({ config, doctors }),
  });
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(pipelineRun, {
      taskQueue,
      workflowId,
      args: [{ pipeline: 'iowa', source: driftCase('iowa-camel-rename', 'drifted.csv') }],
    });
    let result: PipelineRunResult;
    try {
      result = await handle.result();
    } catch (err) {
      if (!(err instanceof WorkflowFailedError) || !(err.cause instanceof ApplicationFailure)) throw err;
      result = err.cause.details?.[0] as PipelineRunResult;
    }
    const histories = await Promise.all(
      [workflowId, `${workflowId}-heal`, `${workflowId}-heal-attempt`].map((id) =>
        env.client.workflow.getHandle(id).fetchHistory(),
      ),
    );
    return { result, history: JSON.stringify(histories) };
  });
}

async function pipeline(): Promise<{ config: HealConfig; clean: Record<string, unknown>[] }> {
  const config = testConfig(tempDir());
  await initPipeline(config, 'iowa', driftCase('iowa-camel-rename', 'clean.csv'));
  const taskQueue = uniqueTaskQueue('llm-clean');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: createActivities({ config }),
  });
  await worker.runUntil(
    env.client.workflow.execute(pipelineRun, {
      taskQueue,
      workflowId: `clean-${Date.now()}`,
      args: [{ pipeline: 'iowa' }],
    }),
  );
  return { config, clean: await tableRows(config.warehouse, 'iowa') };
}

test('a wrong mapping is rejected by verification; attempt 2 hears why and heals', async () => {
  const { config, clean } = await pipeline();
  const before = fake.requests.length;
  fake.enqueue(answer(WRONG), answer(RIGHT));
  const { result, history } = await heal(config, `llm-2-${Date.now()}`);
  expect(result).toMatchObject({ outcome: 'healed', attempts: 2, doctor: 'llm', specVersion: 3 });
  expect(await tableRows(config.warehouse, 'iowa')).toEqual(clean);
  const [first, second] = fake.requests.slice(before);
  const userText = (req: typeof first) =>
    JSON.stringify((req?.body as { messages: { role: string; content: string }[] }).messages);
  expect(userText(first)).toContain('\\"previousAttempts\\":[]');
  const text = userText(second);
  expect(text).not.toContain('\\"previousAttempts\\":[]');
  expect(text).toContain('\\"from\\":\\"source\\"'); // the first patch
  expect(text).toMatch(/verification failed/); // and why it failed
  expect((first?.body as { temperature: number }).temperature).toBe(0);
  expect(history).not.toContain(API_KEY);
});

test('a 429 with Retry-After is retried by the activity and the episode still heals at attempt 1', async () => {
  const { config } = await pipeline();
  const before = fake.requests.length;
  fake.enqueue(
    { status: 429, headers: { 'retry-after': '1' }, body: { error: { message: 'rate limited' } } },
    answer(RIGHT),
  );
  const { result, history } = await heal(config, `llm-429-${Date.now()}`);
  expect(result).toMatchObject({ outcome: 'healed', attempts: 1, doctor: 'llm' });
  expect(fake.requests.length - before).toBe(2);
  expect(history).toContain('429');
  expect(history).not.toContain(API_KEY);
});

test('garbage from the model fails the attempt with the parse error; the next attempt gets it', async () => {
  const { config } = await pipeline();
  const before = fake.requests.length;
  fake.enqueue({ content: '{"patch": [{"op": "map", "column": ' }, answer(RIGHT));
  const { result } = await heal(config, `llm-garbage-${Date.now()}`);
  expect(result).toMatchObject({ outcome: 'healed', attempts: 2 });
  const messages = (fake.requests[before + 1]?.body as { messages: { role: string; content: string }[] }).messages;
  const user = messages.find((m) => m.role === 'user')?.content ?? '';
  const data = JSON.parse(user.slice(user.indexOf('<heal-data>') + 11, user.indexOf('</heal-data>'))) as {
    previousAttempts: { whyItFailed: string; doctor: string }[];
  };
  expect(data.previousAttempts).toHaveLength(1);
  expect(data.previousAttempts[0]?.whyItFailed).toMatch(/not valid JSON/);
  // The unusable answer is the model's: the attempt is recorded as the llm doctor's, not "none".
  expect(data.previousAttempts[0]?.doctor).toBe('llm');
});
