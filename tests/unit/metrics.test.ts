/**
 * Metrics from a set of recorded runs and episodes (tests/helpers/metrics-seed.ts), checked against
 * figures worked out by hand; `recordRun` idempotency; the Prometheus text.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createMetricsActivities } from '../../activities/metrics';
import { openStore } from '../../store';
import { readPrices, readRunRecords } from '../../store/runs';
import { computeMetrics, DEFAULT_PRICES, percentile, priceOf, renderPrometheus } from '../../core/metrics-model';
import { tempDir } from '../helpers/fixtures';
import { record, seedAlertLog, seedRunRecords } from '../helpers/metrics-seed';
import { parsePrometheus } from '../helpers/prometheus';

const now = new Date('2026-11-25T00:00:00.000Z');
const m = computeMetrics({ runs: seedRunRecords(), alerts: seedAlertLog(), now });

test('runs and drifts: a duplicated record counts once', () => {
  // r1..r10 (r2 recorded twice): succeeded r1 r8; healed r2 r3 r5 r10; failed r4 r6 r7 r9.
  expect(m.runs).toEqual({ total: 10, succeeded: 2, healed: 4, partial: 0, failed: 4, successRate: 0.6 });
  // Drifted: r2 r3 r4 r5 r6 r7 r10 (r9 failed on its quarantine budget, not on drift).
  expect(m.drifts).toEqual({
    total: 7,
    byKind: { renamed: 2, 'format-change': 3, 'missing-column': 1, 'type-change': 1, reordered: 1 },
  });
});

test('a partial run (files set aside) counts as partial, not a success, and as failed on its day', () => {
  const partial = record({
    id: 'p1',
    pipeline: 'zips',
    at: '2026-11-24T08:00:00.000Z',
    outcome: 'partial',
    rows: 1200,
    quarantined: 0,
    error: { type: 'PartialLoad', message: '1 of 4 files set aside: p3.csv' },
  });
  const withPartial = computeMetrics({ runs: [...seedRunRecords(), partial], alerts: seedAlertLog(), now });
  expect(withPartial.runs).toEqual({ total: 11, succeeded: 2, healed: 4, partial: 1, failed: 4, successRate: 0.5455 });
  const day = withPartial.daily.find((d) => d.date === '2026-11-24');
  expect(day).toMatchObject({ runs: 4, failed: 2 });
  expect(parsePrometheus(renderPrometheus(withPartial)).get('heal_runs_total{outcome="partial"}')).toBe(1);
});

test('episodes by outcome, awaiting from the alert log, success rate', () => {
  expect(m.episodes).toEqual({
    total: 8,
    healed: 4,
    failed: 1,
    'rolled-back': 1,
    rejected: 1,
    awaiting: 1,
    successRate: 0.5714,
  });
  const awaiting = m.recentEpisodes.find((e) => e.outcome === 'awaiting-approval');
  expect(awaiting).toMatchObject({ episodeId: 'r11-heal', pipeline: 'orders', driftKinds: ['renamed'] });
});

test('MTTR p50/p95 are nearest-rank over healed episodes', () => {
  // [800, 1200, 2000, 4800]: p50 = 2nd value, p95 = 4th; mean 2200.
  expect(m.mttr).toEqual({ count: 4, p50Ms: 1200, p95Ms: 4800, meanMs: 2200, maxMs: 4800 });
  expect(percentile([], 50)).toBeNull();
  expect(percentile([5], 95)).toBe(5);
  expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
  expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
});

test('attempts per episode and doctors', () => {
  // 1 + 2 + 3 + 1 + 1 + 1 + 1 = 10 attempts over 7 episodes.
  expect(m.attempts).toEqual({ episodes: 7, total: 10, mean: 1.43, max: 3, histogram: { '1': 5, '2': 1, '3': 1 } });
  expect(m.doctors).toEqual({ rules: 4, memory: 1, llm: 1, none: 1 });
});

test('LLM tokens and estimated cost with the price table (dated snapshots priced as their model)', () => {
  expect(m.llm.promptTokens).toBe(2900);
  expect(m.llm.completionTokens).toBe(600);
  expect(m.llm.totalTokens).toBe(3500);
  // gpt-4o-mini: 1.0k × 0.00015 + 0.2k × 0.0006 = 0.00027; the 2024-07-18 snapshot: 1.5k × 0.00015 + 0.3k × 0.0006 = 0.000405.
  expect(m.llm.byModel['gpt-4o-mini']).toEqual({ promptTokens: 1000, completionTokens: 200, costUsd: 0.00027 });
  expect(m.llm.byModel['gpt-4o-mini-2024-07-18']).toEqual({
    promptTokens: 1500,
    completionTokens: 300,
    costUsd: 0.000405,
  });
  expect(m.llm.byModel['local-llama']).toEqual({ promptTokens: 400, completionTokens: 100, costUsd: null });
  expect(m.llm.estimatedCostUsd).toBe(0.000675);
  expect(m.llm.unpricedModels).toEqual(['local-llama']);
  // Overridden: the local model is free, the fallback prices anything else.
  const free = computeMetrics({
    runs: seedRunRecords(),
    prices: { ...DEFAULT_PRICES, 'local-llama': { input: 0, output: 0 } },
  });
  expect(free.llm.unpricedModels).toEqual([]);
  expect(free.llm.byModel['local-llama']?.costUsd).toBe(0);
  expect(priceOf('gpt-4o-2024-08-06', DEFAULT_PRICES)).toEqual(DEFAULT_PRICES['gpt-4o']);
  expect(priceOf('gpt-4o-mini-x', DEFAULT_PRICES)).toEqual(DEFAULT_PRICES['gpt-4o-mini']);
  expect(priceOf('mystery', { '*': { input: 1, output: 2 } })).toEqual({ input: 1, output: 2 });
});

test('rows, notifications, and the alerts that did not go out', () => {
  expect(m.rows).toEqual({ loaded: 4800, quarantined: 8 });
  expect(m.notifications).toEqual({ sent: 2, grouped: 1, disabled: 1, failed: 1 });
  expect(m.alertFailures).toHaveLength(1);
  expect(m.alertFailures[0]).toMatchObject({
    episodeId: 'r3-heal',
    attempt: 4,
    attempts: 4,
    httpStatus: 500,
    error: 'Slack answered HTTP 500 (<b>internal_error</b>)',
  });
  const r3 = m.recentEpisodes.find((e) => e.episodeId === 'r3-heal');
  expect(r3?.notifications).toEqual([
    { outcome: 'healed', status: 'failed', error: 'Slack answered HTTP 500 (<b>internal_error</b>)' },
  ]);
  expect(r3?.prUrl).toBe('https://github.example/acme/heal/pull/7');
  expect(r3?.fix).toEqual(['map source column "netGeneration" → net_generation']);
});

test('time series: outcomes per day (gaps filled) and MTTR over time', () => {
  expect(m.daily).toEqual([
    { date: '2026-11-20', runs: 2, succeeded: 1, healed: 1, failed: 0, 'rolled-back': 0, rejected: 0, mttrP50Ms: 1200 },
    { date: '2026-11-21', runs: 2, succeeded: 0, healed: 1, failed: 1, 'rolled-back': 0, rejected: 0, mttrP50Ms: 4800 },
    { date: '2026-11-22', runs: 1, succeeded: 0, healed: 1, failed: 0, 'rolled-back': 0, rejected: 0, mttrP50Ms: 800 },
    { date: '2026-11-23', runs: 2, succeeded: 0, healed: 0, failed: 0, 'rolled-back': 1, rejected: 1, mttrP50Ms: null },
    { date: '2026-11-24', runs: 3, succeeded: 1, healed: 1, failed: 1, 'rolled-back': 0, rejected: 0, mttrP50Ms: 2000 },
  ]);
  expect(m.mttrSeries.map((p) => [p.episodeId, p.mttrMs])).toEqual([
    ['r2-heal', 1200],
    ['r3-heal', 4800],
    ['r5-heal', 800],
    ['r10-heal', 2000],
  ]);
  // A gap day is filled with zeros.
  const gap = computeMetrics({ runs: seedRunRecords().filter((r) => !r.finishedAt.startsWith('2026-11-22')) });
  expect(gap.daily.map((d) => [d.date, d.runs])).toEqual([
    ['2026-11-20', 2],
    ['2026-11-21', 2],
    ['2026-11-22', 0],
    ['2026-11-23', 2],
    ['2026-11-24', 3],
  ]);
});

test('recent episodes newest first; no records gives zeros and nulls', () => {
  expect(m.recentEpisodes.map((e) => e.episodeId)).toEqual([
    'r11-heal',
    'r10-heal',
    'r7-heal',
    'r6-heal',
    'r5-heal',
    'r4-heal',
    'r3-heal',
    'r2-heal',
  ]);
  const none = computeMetrics({ runs: [] });
  expect(none.runs).toEqual({ total: 0, succeeded: 0, healed: 0, partial: 0, failed: 0, successRate: null });
  expect(none.episodes.successRate).toBeNull();
  expect(none.mttr).toEqual({ count: 0, p50Ms: null, p95Ms: null, meanMs: null, maxMs: null });
  expect(none.daily).toEqual([]);
});

test('recordRun appends once per run (run key), without sample values, and survives a torn line', async () => {
  const home = tempDir();
  const { recordRun } = createMetricsActivities({ store: openStore({ home }) });
  const [r1, r2] = seedRunRecords();
  await recordRun(r1!);
  await recordRun(r2!);
  await recordRun(r2!); // a retried activity
  const file = path.join(home, 'metrics', 'runs.jsonl');
  expect(readRunRecords(home).map((r) => r.run.runKey)).toEqual(['r1', 'r2']);
  // Runs of one pipeline share a workflow id: both users runs are kept.
  expect(readRunRecords(home).map((r) => r.run.workflowId)).toEqual(['pipeline-users', 'pipeline-users']);
  expect(fs.readFileSync(file, 'utf8')).not.toContain('secret-sample');
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  // A crash mid-append left half a line: the next record still lands on its own line.
  fs.appendFileSync(file, '{"run":{"workflowId":"torn"');
  const r3 = seedRunRecords()[2]!;
  await recordRun(r3);
  expect(readRunRecords(home).map((r) => r.run.runKey ?? r.run.workflowId)).toEqual(['r1', 'r2', 'r3']);
});

test('price table overrides: <home>/metrics/prices.json, then a file; bad tables are named', () => {
  const home = tempDir();
  fs.mkdirSync(path.join(home, 'metrics'), { recursive: true });
  fs.writeFileSync(
    path.join(home, 'metrics', 'prices.json'),
    JSON.stringify({ 'local-llama': { input: 0.001, output: 0.002 } }),
  );
  expect(readPrices(home)['local-llama']).toEqual({ input: 0.001, output: 0.002 });
  expect(readPrices(home)['gpt-4o']).toEqual(DEFAULT_PRICES['gpt-4o']);
  const bad = path.join(home, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify({ x: { input: 'cheap' } }));
  expect(() => readPrices(home, bad)).toThrow(/"x" must be/);
});

test('Prometheus text: every sample line parses and carries the same figures', () => {
  const text = renderPrometheus(
    computeMetrics({
      runs: seedRunRecords(),
      alerts: seedAlertLog(),
      pipelines: [{ pipeline: 'we"ird', specVersion: 3, table: 't', mode: 'auto', source: 's', schedule: null }],
    }),
  );
  const samples = parsePrometheus(text);
  expect(samples.get('heal_runs_total{outcome="healed"}')).toBe(4);
  expect(samples.get('heal_episodes_total{outcome="rolled-back"}')).toBe(1);
  expect(samples.get('heal_mttr_seconds{quantile="0.5"}')).toBe(1.2);
  expect(samples.get('heal_mttr_seconds{quantile="0.95"}')).toBe(4.8);
  expect(samples.get('heal_mttr_seconds_count')).toBe(4);
  expect(samples.get('heal_mttr_seconds_sum')).toBe(8.8);
  expect(samples.get('heal_llm_tokens_total{model="local-llama",type="prompt"}')).toBe(400);
  expect(samples.get('heal_rows_quarantined_total')).toBe(8);
  expect(samples.get('heal_pipeline_spec_version{pipeline="we\\"ird"}')).toBe(3);
});

test('a stored record is bounded: no samples, 50 differences and 50 columns at most, no per-column checks', async () => {
  const home = tempDir();
  const { recordRun } = createMetricsActivities({ store: openStore({ home }) });
  const big = seedRunRecords()[2]!; // r3: healed by the LLM in 2 attempts
  const columns = Array.from({ length: 5000 }, (_, i) => `column_${i}`);
  big.run.driftReport = {
    ...big.run.driftReport!,
    differences: columns.map((c) => ({
      kind: 'unexpected-column',
      sourceColumn: c,
      detail: `"${c}" is new ${'x'.repeat(1000)}`,
      samples: ['secret-sample'],
    })),
    expected: { format: 'csv', columns },
    found: { format: 'csv', columns },
  };
  big.episode!.attempts[1]!.report = {
    passed: true,
    candidateVersion: 2,
    rowsRead: 1,
    rowsLoaded: 1,
    rowsQuarantined: 0,
    summary: 'all 10000 checks passed',
    checks: columns.flatMap((c) => [{ name: `profile:${c}`, passed: true, figure: 'x'.repeat(200) }]),
  };
  await recordRun(big);
  const text = fs.readFileSync(path.join(home, 'metrics', 'runs.jsonl'), 'utf8');
  expect(text.length).toBeLessThan(40_000);
  expect(text).not.toContain('secret-sample');
  const [stored] = readRunRecords(home);
  expect(stored?.run.driftReport?.differences).toHaveLength(50);
  expect(stored?.run.driftReport?.found.columns).toHaveLength(50);
  expect(stored?.episode?.attempts[1]?.report).toMatchObject({
    passed: true,
    summary: 'all 10000 checks passed',
    checks: [],
  });
  // The figures are unchanged by compaction.
  expect(computeMetrics({ runs: [stored!] }).llm.totalTokens).toBe(3000);
  expect(computeMetrics({ runs: [stored!] }).mttr.p50Ms).toBe(4800);
});
