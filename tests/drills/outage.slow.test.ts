/**
 * Drill: Slack and GitHub down for a whole episode (every request answered 503, after the notify
 * and github retry policies run out). Healing still completes; each failure is recorded in the
 * episode's result; nothing sent to them carries the model's API key.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { EpisodeResult } from '../../common/types';
import { initPipeline, tableRows, tempDir, testConfig } from '../helpers/fixtures';
import { createDevEnv, testWorkflowBundle } from '../helpers/temporal';
import { leakedSecrets, runPipeline } from './helpers/drill';

let env: TestWorkflowEnvironment;
let bundle: { codePath: string };
let down: http.Server;
let url: string;
const received: string[] = [];

beforeAll(async () => {
  [env, bundle] = await Promise.all([createDevEnv(), testWorkflowBundle()]);
  down = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(`${req.method} ${req.url} ${body}`);
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"message":"service unavailable"}');
    });
  });
  await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(down.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  down?.closeAllConnections();
  await new Promise<void>((resolve) => (down ? down.close(() => resolve()) : resolve()));
  await env?.teardown();
});

test('Slack and GitHub answer 503 all along: healed anyway, the failures recorded', async () => {
  const home = tempDir('heal-drill-outage-');
  const key = 'sk-test-SECRET-outage-91af';
  const config = testConfig(home, {
    SLACK_WEBHOOK_URL: `${url}/services/T/B/hook`,
    GITHUB_TOKEN: 'ghp_SECREToutage',
    GITHUB_REPOSITORY: 'acme/pipelines',
    GITHUB_API_URL: url,
    OPENAI_API_KEY: key,
    OPENAI_BASE_URL: `${url}/v1`,
  });
  const file = path.join(home, 'orders.csv');
  const rows = Array.from({ length: 500 }, (_, i) => `${i},n${i % 13},${(i % 40) / 4}`);
  fs.writeFileSync(file, `id,name,amount\n${rows.join('\n')}\n`);
  await initPipeline(config, 'orders', file);
  expect((await runPipeline(env, bundle, config, 'orders')).outcome).toBe('succeeded');
  const before = await tableRows(config.warehouse, 'orders');
  const drifted = path.join(home, 'orders-renamed.csv');
  fs.writeFileSync(drifted, `id,name,amount_usd\n${rows.join('\n')}\n`);

  const workflowId = `outage-${Date.now()}`;
  const r = await runPipeline(env, bundle, config, 'orders', { source: drifted, workflowId });
  expect(r).toMatchObject({ outcome: 'healed', specVersion: 2, rowsLoaded: 500 });
  expect(await tableRows(config.warehouse, 'orders')).toEqual(before);

  const episode = (await env.client.workflow.getHandle(`${workflowId}-heal`).result()) as EpisodeResult;
  const failedChannels = (episode.notifications ?? []).filter((n) => n.status === 'failed').map((n) => n.channel);
  expect(failedChannels).toEqual(expect.arrayContaining(['slack', 'github']));
  expect(received.length).toBeGreaterThan(0);
  expect(leakedSecrets(received.join('\n'), [key])).toEqual([]);
}, 600_000);
