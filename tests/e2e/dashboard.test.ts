/**
 * `heal metrics --json` and `heal dashboard` end to end: the real CLI as a subprocess against a
 * state directory seeded with recorded runs, episodes and alerts; the live page opened in headless
 * Chromium. The numbers shown must equal `heal metrics --json`, the charts must draw the data,
 * hostile error text must show as text (no script runs), `/metrics` must parse as Prometheus text.
 * Screenshot: test-artifacts/dashboard.png.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import type { HealMetrics } from '../../core/metrics-model';
import { artifactPath, launchBrowser } from '../../tools/browser';
import { cliEnv, HEAL_BIN, ROOT, runCli } from '../helpers/cli';
import { driftCase, initPipeline, tempDir, testConfig } from '../helpers/fixtures';
import { HOSTILE_ERROR, seedHome, seedRunRecords } from '../helpers/metrics-seed';
import { parsePrometheus } from '../helpers/prometheus';

const UI = 'http://ui.example:8233';
let home: string;
let env: NodeJS.ProcessEnv;
let expected: HealMetrics;
let server: ChildProcess | undefined;
let url: string;
let browser: Browser | undefined;

/** Start `heal dashboard --serve` and resolve with the URL it prints (no fixed port, no sleep). */
function serve(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HEAL_BIN, 'dashboard', '--serve', ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`dashboard did not start: ${out}${err}`)), 60_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /dashboard: (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dashboard exited (${code}): ${out}${err}`));
    });
  });
}

beforeAll(async () => {
  home = tempDir();
  seedHome(home);
  const config = testConfig(home);
  await initPipeline(config, 'users', driftCase('iowa-camel-rename', 'clean.csv'));
  await initPipeline(config, 'weather', driftCase('iowa-camel-rename', 'clean.csv'));
  fs.mkdirSync(path.join(home, 'schedules'), { recursive: true });
  fs.writeFileSync(path.join(home, 'schedules', 'users.json'), JSON.stringify({ schedule: 'every 1h' }));
  env = cliEnv({ HEAL_HOME: home, TEMPORAL_UI_URL: UI });

  const r = await runCli(['metrics', '--json'], env);
  expect(r.code).toBe(0);
  const lines = r.stdout.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  expected = JSON.parse(lines[0] ?? '') as HealMetrics;

  const started = await serve(['--port', '0', '--refresh', '1']);
  server = started.child;
  url = started.url;
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server?.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
});

test('heal metrics --json: one object with the recorded figures; the human form says the same', async () => {
  expect(expected.runs).toEqual({ total: 10, succeeded: 2, healed: 4, partial: 0, failed: 4, successRate: 0.6 });
  expect(expected.episodes).toMatchObject({ healed: 4, awaiting: 1, successRate: 0.5714 });
  expect(expected.mttr).toMatchObject({ p50Ms: 1200, p95Ms: 4800 });
  expect(expected.pipelines.map((p) => [p.pipeline, p.specVersion, p.schedule, p.runs])).toEqual([
    ['users', 1, 'every 1h', 4],
    ['weather', 1, null, 3],
  ]);
  const human = await runCli(['metrics'], env);
  expect(human.code).toBe(0);
  expect(human.stdout).toContain('MTTR        p50 1.2s · p95 4.8s');
  expect(human.stdout).toContain('57.1% success');
  expect(human.stdout).toContain('alert not sent after 4 attempts: Slack answered HTTP 500');
});

test('/api/metrics and /metrics (Prometheus text) carry the same figures', async () => {
  const api = (await (await fetch(`${url}api/metrics`)).json()) as HealMetrics;
  expect({ ...api, generatedAt: null }).toEqual({ ...expected, generatedAt: null });
  const res = await fetch(`${url}metrics`);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  const samples = parsePrometheus(await res.text());
  expect(samples.get('heal_runs_total{outcome="succeeded"}')).toBe(expected.runs.succeeded);
  expect(samples.get('heal_episodes_total{outcome="healed"}')).toBe(expected.episodes.healed);
  expect(samples.get('heal_episodes_awaiting_approval')).toBe(expected.episodes.awaiting);
  expect(samples.get('heal_healing_success_ratio')).toBe(expected.episodes.successRate);
  expect(samples.get('heal_mttr_seconds{quantile="0.95"}')).toBe((expected.mttr.p95Ms ?? 0) / 1000);
  expect(samples.get('heal_notifications_total{status="failed"}')).toBe(1);
  expect(samples.get('heal_pipeline_spec_version{pipeline="users"}')).toBe(1);
  expect((await fetch(`${url}nope`)).status).toBe(404);
  expect((await fetch(url, { method: 'POST' })).status).toBe(405);
});

test('the live page in Chromium: numbers equal heal metrics --json, charts drawn, hostile text inert, refreshes', async () => {
  const page = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
  const external: string[] = [];
  const errors: string[] = [];
  let dialogs = 0;
  page.on('request', (req) => {
    if (!req.url().startsWith(url)) external.push(req.url());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => {
    dialogs++;
    void d.dismiss();
  });
  const res = await page.goto(url);
  expect(res?.status()).toBe(200);
  expect(res?.headers()['content-security-policy']).toContain("script-src 'nonce-");

  // Every number on the page is tagged with its path in the metrics JSON: all equal.
  const shown = await page.$$eval('[data-metric]', (els) =>
    els.map((e) => ({
      path: e.getAttribute('data-metric') ?? '',
      value: e.getAttribute('data-value') ?? '',
      text: e.textContent ?? '',
    })),
  );
  expect(shown.length).toBeGreaterThanOrEqual(25);
  const lookup = (p: string): unknown =>
    p.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], expected);
  for (const s of shown) expect([s.path, JSON.parse(s.value)]).toEqual([s.path, lookup(s.path)]);
  const text = (p: string) => shown.find((s) => s.path === p)?.text;
  expect(text('runs.total')).toBe('10');
  expect(text('episodes.successRate')).toBe('57.1%');
  expect(text('mttr.p50Ms')).toBe('1.2s');
  expect(text('mttr.p95Ms')).toBe('4.8s');
  expect(text('attempts.mean')).toBe('1.43');
  expect(text('rows.quarantined')).toBe('8');
  expect(text('llm.totalTokens')).toBe('3,500');
  expect(text('llm.estimatedCostUsd')).toBe('$0.000675');
  expect(text('notifications.failed')).toBe('1');

  // Charts: one point per healed episode at its MTTR; stacked bars adding up to the runs per day.
  const points = await page.$$eval('#chart-mttr circle.pt', (els) =>
    els.map((e) => Number(e.getAttribute('data-mttr-ms'))),
  );
  expect(points).toEqual(expected.mttrSeries.map((p) => p.mttrMs));
  expect(await page.$$eval('#chart-mttr polyline.line', (els) => els.length)).toBe(1);
  const bars = await page.$$eval('#chart-outcomes rect.bar', (els) =>
    els.map((e) => ({
      date: e.getAttribute('data-date'),
      outcome: e.getAttribute('data-outcome'),
      n: Number(e.getAttribute('data-count')),
      h: (e as unknown as { getBBox(): { height: number } }).getBBox().height,
    })),
  );
  expect(bars.reduce((s, b) => s + b.n, 0)).toBe(expected.runs.total);
  for (const b of bars) expect(b.h).toBeGreaterThan(0);
  for (const d of expected.daily)
    expect(bars.filter((b) => b.date === d.date).reduce((s, b) => s + b.n, 0)).toBe(d.runs);
  expect(bars.find((b) => b.date === '2026-11-23' && b.outcome === 'rolled-back')?.n).toBe(1);

  // The hostile error text is shown as text; nothing in it ran or became an element.
  const mainText = await page.innerText('#main');
  expect(mainText).toContain(HOSTILE_ERROR);
  expect(mainText).toContain('Slack answered HTTP 500 (<b>internal_error</b>)');
  expect(await page.$$eval('#main script, #main img', (els) => els.length)).toBe(0);
  expect(
    await page.$$eval(
      '#main *',
      (els) => els.filter((e) => e.children.length === 0 && e.textContent === 'internal_error').length,
    ),
  ).toBe(0);
  expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();

  // Tables: links to the Web UI and the PR; pipelines with their version and schedule.
  expect(await page.getAttribute('tr[data-episode="r3-heal"] a:text("episode")', 'href')).toBe(
    `${UI}/namespaces/default/workflows/r3-heal`,
  );
  expect(await page.getAttribute('tr[data-episode="r3-heal"] a:text("run")', 'href')).toBe(
    `${UI}/namespaces/default/workflows/pipeline-weather/0000-r3/history`,
  );
  expect(await page.getAttribute('tr[data-episode="r3-heal"] a:text("PR")', 'href')).toBe(
    'https://github.example/acme/heal/pull/7',
  );
  expect(await page.innerText('tr[data-pipeline="users"]')).toMatch(/users\s+v1\s+users\s+auto\s+every 1h\s+4/);
  expect(await page.innerText('tr[data-pipeline="weather"]')).toMatch(/weather\s+v1\s+weather\s+auto\s+—\s+3/);

  // Live: a new run recorded → the page shows it at the next refresh (from /api/view).
  const extra = seedRunRecords()[0]!;
  extra.run.runKey = 'r12';
  extra.run.runId = '0000-r12';
  extra.finishedAt = '2026-11-24T18:00:00.000Z';
  fs.appendFileSync(path.join(home, 'metrics', 'runs.jsonl'), `${JSON.stringify(extra)}\n`);
  await page.waitForSelector('[data-metric="runs.total"][data-value="11"]', { timeout: 30_000 });
  expect(await page.innerText('#status')).toMatch(/^live · updated /);
  expect(
    await page.$$eval('#chart-outcomes rect.bar', (els) =>
      els.reduce((s, e) => s + Number(e.getAttribute('data-count')), 0),
    ),
  ).toBe(11);

  await page.screenshot({ path: artifactPath('dashboard.png'), fullPage: true });
  expect(fs.statSync(artifactPath('dashboard.png')).size).toBeGreaterThan(20_000);
  expect(external).toEqual([]);
  expect(errors).toEqual([]);
  expect(dialogs).toBe(0);
  await page.close();
}, 90_000);

test('heal dashboard --out writes a static page: no script, nothing external, hostile text escaped', async () => {
  const out = path.join(home, 'out', 'dashboard.html');
  const r = await runCli(['dashboard', '--out', out], env);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(out);
  const html = fs.readFileSync(out, 'utf8');
  expect(html).not.toMatch(/<script/i);
  expect(html).not.toMatch(/(src|href)="https?:\/\/(?!ui\.example|github\.example)/);
  expect(html).not.toMatch(/<link /);
  expect(html).toContain('&lt;script&gt;window.__pwned = 1&lt;/script&gt;');
  expect(html).toContain('<svg id="chart-mttr"');
  const page = await browser!.newPage();
  await page.goto(`file://${out}`);
  expect(await page.$$eval('#chart-mttr circle.pt', (els) => els.length)).toBe(expected.mttrSeries.length + 0);
  expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  await page.close();
  // Neither --serve nor --out: a one-line error, exit 2.
  const none = await runCli(['dashboard'], env);
  expect(none.code).toBe(2);
  expect(none.stderr).toContain('heal: dashboard: use --serve (live page) or --out <file> (static page)\n');
  expect(none.stdout).toBe('');
}, 90_000);

test('SIGTERM stops the dashboard server cleanly', async () => {
  const child = server!;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  await expect(fetch(`${url}healthz`)).rejects.toThrow();
});
