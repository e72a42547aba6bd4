/**
 * Drill: with HEAL_MASK_SAMPLES=1 no raw sample value of any column reaches the model (not only
 * `pii: true` columns): the LLM doctor masks values and the source probe masks every column.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai';
import { initPipeline, tempDir, testConfig } from '../helpers/fixtures';
import { createDevEnv, testWorkflowBundle } from '../helpers/temporal';
import { runPipeline } from './helpers/drill';

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

test('HEAL_MASK_SAMPLES=1: no raw value of any column reaches the model', async () => {
  const home = tempDir('heal-drill-mask-');
  const config = testConfig(home, {
    HEAL_MASK_SAMPLES: '1',
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: 'sk-test-mask',
  });
  expect(config.maskSamples).toBe(true);
  const cities = ['Lisbon', 'Nairobi', 'Osaka', 'Quito', 'Tromso'];
  const rows = Array.from({ length: 300 }, (_, i) => `${i},${cities[i % 5]} ${cities[(i * 3) % 5]},${i / 4}`);
  const clean = path.join(home, 'trips.csv');
  fs.writeFileSync(clean, `id,route,amount\n${rows.join('\n')}\n`);
  await initPipeline(config, 'trips', clean);
  expect((await runPipeline(env, bundle, config, 'trips')).outcome).toBe('succeeded');
  const split = path.join(home, 'trips-split.csv');
  fs.writeFileSync(split, `id,origin,destination,amount\n${rows.map((r) => r.replace(' ', ',')).join('\n')}\n`);
  const seen = fake.requests.length;
  fake.enqueue({ content: JSON.stringify({ noAnswer: 'test' }) });
  // The default doctors (rules, then the LLM from config): the rules cannot derive `route`.
  await runPipeline(env, bundle, config, 'trips', { source: split });
  expect(fake.requests.length).toBeGreaterThan(seen);
  for (const req of fake.requests.slice(seen)) for (const city of cities) expect(req.text).not.toContain(city);
}, 120_000);
