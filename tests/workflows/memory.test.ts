/**
 * Fix memory on a real dev server: a drift healed once by the rules doctor is healed again from
 * memory (attempt 1, doctor "memory", still verified) on the same pipeline and on another pipeline
 * with the same columns; a different drift is not a hit; a remembered patch that fails verification
 * costs one attempt and the doctors heal at attempt 2. Last, MTTR with and without a hit on the same
 * drift of a generated file (printed, with the time spent in each attempt activity). The suite runs
 * 20k rows once; the figures in the report come from HEAL_MTTR_ROWS=200000 HEAL_MTTR_ROUNDS=3.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { driftSignature, FixMemory } from '../../store/memory';
import { SpecStore } from '../../store/spec-store';
import type { Patch } from '../../common/patch';
import type { DriftReport, EpisodeResult, PipelineRunResult } from '../../common/types';
import type { HealConfig } from '../../lib/config';
import { withDuckDB } from '../../lib/duckdb';
import { pipelineRun } from '../../workflows';
import { cliEnv, runCli } from '../helpers/cli';
import { DRIFT_CASES, driftCase, initPipeline, tableRows, tempDir, testConfig } from '../helpers/fixtures';
import { uniqueTaskQueue, useDevEnv } from '../helpers/temporal';

const suite = useDevEnv();

let seq = 0;
async function run(
  config: HealConfig,
  input: { pipeline: string; source?: string },
  name: string,
): Promise<PipelineRunResult & { id: string }> {
  const taskQueue = uniqueTaskQueue('memory');
  const id = `${name}-${Date.now()}-${++seq}`;
  const worker = await Worker.create({
    connection: suite.env.nativeConnection,
    taskQueue,
    workflowBundle: suite.bundle,
    activities: createActivities({ config }),
  });
  const r = await worker.runUntil(async () => {
    const handle = await suite.env.client.workflow.start(pipelineRun, { taskQueue, workflowId: id, args: [input] });
    try {
      return await handle.result();
    } catch (err) {
      if (!(err instanceof WorkflowFailedError) || !(err.cause instanceof ApplicationFailure)) throw err;
      return err.cause.details?.[0] as PipelineRunResult;
    }
  });
  return { ...r, id };
}

/** The healing episode's own result (its attempt records). */
async function episodeOf(r: PipelineRunResult): Promise<EpisodeResult> {
  const handle = suite.env.client.workflow.getHandle(r.episodeId ?? '');
  try {
    return (await handle.result()) as EpisodeResult;
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure)
      return err.cause.details?.[0] as EpisodeResult;
    throw err;
  }
}

async function cleanPipeline(config: HealConfig, name: string, clean: string) {
  await initPipeline(config, name, clean);
  const ok = await run(config, { pipeline: name }, `${name}-clean`);
  expect(ok.outcome).toBe('succeeded');
  return tableRows(config.warehouse, name);
}

/** The drift report of loading `source` with the pipeline's current version (as pipelineRun sees it). */
async function driftOf(config: HealConfig, pipeline: string, source: string): Promise<DriftReport> {
  const a = createActivities({ config });
  const specVersion = new SpecStore(config.home).currentVersion(pipeline);
  try {
    await a.loadSource({ pipeline, specVersion, runId: `probe-${Date.now()}`, source });
  } catch (err) {
    if (err instanceof ApplicationFailure && err.type === 'SchemaDrift') return err.details?.[0] as DriftReport;
    throw err;
  }
  throw new Error(`${source} loaded without drift`);
}

const IOWA_CLEAN = driftCase('iowa-camel-rename', 'clean.csv');
const IOWA_DRIFTED = driftCase('iowa-camel-rename', 'drifted.csv');

test('healed once by the rules doctor → healed again from memory on the same pipeline and on another with the same columns', async () => {
  const config = testConfig(tempDir());
  const clean = await cleanPipeline(config, 'iowa', IOWA_CLEAN);
  const store = new SpecStore(config.home);
  const memory = new FixMemory(config.home);

  // 1. First time: the rules doctor diagnoses; the verified fix is remembered.
  const first = await run(config, { pipeline: 'iowa', source: IOWA_DRIFTED }, 'iowa-first');
  expect(first).toMatchObject({ outcome: 'healed', attempts: 1, doctor: 'rules', specVersion: 2 });
  const signature = driftSignature(first.driftReport as DriftReport).hash;
  expect(memory.entry(signature, 'iowa')).toMatchObject({
    doctor: 'rules',
    episodeId: first.episodeId,
    patch: first.patch,
    hits: 0,
  });

  // 2. The same drift again on the same pipeline (current reset to v1): memory answers at attempt 1.
  store.setCurrent('iowa', 1, 'test: back to v1');
  const again = await run(config, { pipeline: 'iowa', source: IOWA_DRIFTED }, 'iowa-again');
  expect(again).toMatchObject({ outcome: 'healed', attempts: 1, doctor: 'memory', specVersion: 3, rowsQuarantined: 0 });
  expect(again.patch).toEqual(first.patch);
  expect(driftSignature(again.driftReport as DriftReport).hash).toBe(signature);
  expect(await tableRows(config.warehouse, 'iowa')).toEqual(clean);
  // Still verified: the candidate version records its doctor, and the episode's attempt has a passed report.
  expect(store.versions('iowa').find((v) => v.version === 3)).toMatchObject({ doctor: 'memory', parent: 1 });
  const ep = await episodeOf(again);
  expect(ep.attempts).toHaveLength(1);
  expect(ep.attempts[0]).toMatchObject({ doctor: 'memory', error: null, report: { passed: true } });
  // The hit is counted on the entry (once for the episode); the entry still names the rules doctor.
  expect(memory.entry(signature, 'iowa')).toMatchObject({
    doctor: 'rules',
    episodeId: first.episodeId,
    hits: 1,
    hitEpisodes: [again.episodeId],
  });

  // 3. Another pipeline with the same columns (the same clean file under another name): a cross-pipeline hit.
  const cleanB = await cleanPipeline(config, 'power', IOWA_CLEAN);
  const b = await run(config, { pipeline: 'power', source: IOWA_DRIFTED }, 'power-drift');
  expect(b).toMatchObject({ outcome: 'healed', attempts: 1, doctor: 'memory', specVersion: 2 });
  expect(await tableRows(config.warehouse, 'power')).toEqual(cleanB);
  expect(memory.entry(signature, 'iowa')?.hits).toBe(2);
  expect(memory.entry(signature, 'power')).toMatchObject({
    learnedFrom: 'iowa',
    doctor: 'rules',
    episodeId: b.episodeId,
  });

  // 4. A different drift (another new column name) is not a hit: the rules doctor diagnoses it.
  const other = path.join(config.home, 'iowa-other.csv');
  fs.writeFileSync(other, fs.readFileSync(IOWA_CLEAN, 'utf8').replace('net_generation', 'NetGeneration'));
  store.setCurrent('iowa', 1, 'test: back to v1');
  const diff = await run(config, { pipeline: 'iowa', source: other }, 'iowa-other');
  expect(diff).toMatchObject({ outcome: 'healed', attempts: 1, doctor: 'rules' });
  expect(driftSignature(diff.driftReport as DriftReport).hash).not.toBe(signature);
  expect(await tableRows(config.warehouse, 'iowa')).toEqual(clean);
});

test('a remembered patch that fails verification costs attempt 1; the doctors heal at attempt 2 and replace it', async () => {
  const config = testConfig(tempDir());
  const clean = await cleanPipeline(config, 'iowa', IOWA_CLEAN);
  const store = new SpecStore(config.home);
  const memory = new FixMemory(config.home);
  const drift = await driftOf(config, 'iowa', IOWA_DRIFTED);
  const WRONG: Patch = [
    { op: 'map', column: 'net_generation', from: 'source' },
    { op: 'shape', columns: ['year', 'source', 'netGeneration'] },
  ];
  memory.remember({
    drift,
    spec: store.read('iowa', 1).spec,
    pipeline: 'iowa',
    patch: WRONG,
    doctor: 'llm',
    episodeId: 'planted',
  });

  const r = await run(config, { pipeline: 'iowa', source: IOWA_DRIFTED }, 'iowa-wrong-memory');
  expect(r).toMatchObject({ outcome: 'healed', attempts: 2, doctor: 'rules' });
  expect(await tableRows(config.warehouse, 'iowa')).toEqual(clean);
  const ep = await episodeOf(r);
  expect(ep.attempts.map((a) => a.doctor)).toEqual(['memory', 'rules']);
  expect(ep.attempts[0]?.patch).toEqual(WRONG);
  expect(ep.attempts[0]?.error).toMatch(/verification failed/);
  // The verified fix replaces the wrong one: next time memory answers with the right patch.
  const entry = memory.entry(driftSignature(drift).hash, 'iowa');
  expect(entry).toMatchObject({ doctor: 'rules', episodeId: r.episodeId, patch: r.patch });
  expect(entry?.patch).not.toEqual(WRONG);
});

test('`heal run --json` shows doctor "memory" on a hit', async () => {
  const home = tempDir();
  const taskQueue = uniqueTaskQueue('memory-cli');
  const config = testConfig(home, { HEAL_TASK_QUEUE: taskQueue });
  const vars = cliEnv({
    HEAL_HOME: home,
    HEAL_ALLOWED_ROOTS: [home, DRIFT_CASES].join(path.delimiter),
    TEMPORAL_ADDRESS: suite.env.address,
    HEAL_TASK_QUEUE: taskQueue,
  });
  await initPipeline(config, 'iowa', IOWA_CLEAN);
  const worker = await Worker.create({
    connection: suite.env.nativeConnection,
    taskQueue,
    workflowBundle: suite.bundle,
    activities: createActivities({ config }),
  });
  const json = async (args: string[]) => {
    const r = await runCli(['run', 'iowa', '--json', ...args], vars);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as PipelineRunResult;
  };
  await worker.runUntil(async () => {
    expect(await json([])).toMatchObject({ outcome: 'succeeded' });
    expect(await json(['--source', IOWA_DRIFTED])).toMatchObject({ outcome: 'healed', doctor: 'rules', attempts: 1 });
    new SpecStore(home).setCurrent('iowa', 1, 'test: back to v1');
    expect(await json(['--source', IOWA_DRIFTED])).toMatchObject({
      outcome: 'healed',
      doctor: 'memory',
      attempts: 1,
      specVersion: 3,
    });
  });
});

// ---------------------------------------------------------------------------------------------
// MTTR with and without a memory hit, on the same drift of a generated file

const ROWS = Number(process.env['HEAL_MTTR_ROWS'] ?? 20_000);
const ROUNDS = Number(process.env['HEAL_MTTR_ROUNDS'] ?? 1);

async function generate(dir: string): Promise<{ clean: string; currency: string; renamed: string }> {
  const clean = path.join(dir, 'people-clean.csv');
  const currency = path.join(dir, 'people-currency.csv');
  const renamed = path.join(dir, 'people-renamed.csv');
  const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
  await withDuckDB(':memory:', {}, async (conn) => {
    await conn.run(`CREATE TABLE t AS SELECT i AS id, 'person_' || i AS name, 1000 + (i * 7919) % 90000 AS income,
      round(40 + (i % 400) / 10.0, 1) AS health, DATE '2000-01-01' + CAST(i % 7000 AS INTEGER) AS joined,
      ['north','south','east','west'][1 + i % 4] AS region FROM range(${ROWS}) r(i)`);
    await conn.run(`COPY t TO ${q(clean)} (HEADER, DELIMITER ',')`);
    await conn.run(
      `COPY (SELECT id, name, '$' || format('{:,}', income) AS income, health, joined, region FROM t) TO ${q(currency)} (HEADER, DELIMITER ',')`,
    );
    await conn.run(
      `COPY (SELECT id, name AS fullName, income, health, joined, region FROM t) TO ${q(renamed)} (HEADER, DELIMITER ',')`,
    );
  });
  return { clean, currency, renamed };
}

/** Milliseconds from scheduled to completed of each activity in the episode's (last) attempt run. */
async function attemptActivityMs(episodeId: string): Promise<Record<string, number>> {
  const history = await suite.env.client.workflow.getHandle(`${episodeId}-attempt`).fetchHistory();
  const scheduled = new Map<string, { name: string; at: number }>();
  const out: Record<string, number> = {};
  for (const e of history.events ?? []) {
    const at = tsToMs(e.eventTime);
    if (e.activityTaskScheduledEventAttributes) {
      scheduled.set(String(e.eventId), { name: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', at });
    }
    const done = e.activityTaskCompletedEventAttributes;
    const s = done ? scheduled.get(String(done.scheduledEventId)) : undefined;
    if (s) out[s.name] = at - s.at;
  }
  return out;
}

const median = (xs: number[]): number => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;

test(`MTTR with and without a memory hit (${ROWS} rows, ${ROUNDS} round(s))`, async () => {
  const dir = tempDir('heal-mttr-');
  const files = await generate(dir);
  const figures: string[] = [];
  for (const kind of ['currency', 'renamed'] as const) {
    const config = testConfig(tempDir());
    const clean = await cleanPipeline(config, 'people', files.clean);
    const store = new SpecStore(config.home);
    const m = { miss: [] as number[], hit: [] as number[], missDiagnose: [] as number[], hitDiagnose: [] as number[] };
    for (let i = 0; i < ROUNDS; i++) {
      // Without a hit: forget everything first.
      fs.rmSync(path.join(config.home, 'memory'), { recursive: true, force: true });
      store.setCurrent('people', 1, 'test: back to v1');
      const a = await run(config, { pipeline: 'people', source: files[kind] }, `people-${kind}-miss`);
      expect(a).toMatchObject({ outcome: 'healed', doctor: 'rules', attempts: 1 });
      m.miss.push(a.mttrMs ?? NaN);
      m.missDiagnose.push((await attemptActivityMs(a.episodeId ?? ''))['diagnose'] ?? NaN);
      // With a hit: the same drift again.
      store.setCurrent('people', 1, 'test: back to v1');
      const b = await run(config, { pipeline: 'people', source: files[kind] }, `people-${kind}-hit`);
      expect(b).toMatchObject({ outcome: 'healed', doctor: 'memory', attempts: 1 });
      m.hit.push(b.mttrMs ?? NaN);
      m.hitDiagnose.push((await attemptActivityMs(b.episodeId ?? ''))['diagnose'] ?? NaN);
    }
    expect(await tableRows(config.warehouse, 'people')).toEqual(clean);
    figures.push(
      `${kind}: MTTR without a hit ${m.miss.join('/')} ms (median ${median(m.miss)}; diagnose ${m.missDiagnose.join('/')}), ` +
        `with a hit ${m.hit.join('/')} ms (median ${median(m.hit)}; diagnose ${m.hitDiagnose.join('/')})`,
    );
  }
  process.stdout.write(`\nfix memory MTTR on ${ROWS} rows:\n  ${figures.join('\n  ')}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
}, 600_000);
