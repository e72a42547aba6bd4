/**
 * Drill: load. 50 pipelines drift at once on ONE real worker process (`worker.ts`, its default
 * concurrency: 4 activities at a time, the SDK's default for workflow tasks). 40 are renamed
 * columns (healable), 10 lost a required column (must be refused). All finish: none stuck; the
 * healed ones hold exactly their rows; the refused ones keep their table and version. Prints the
 * wall time and episodes per minute.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { SpecStore } from '../../store/spec-store';
import type { PipelineRunResult } from '../../common/types';
import { pipelineRun } from '../../workflows';
import { cliEnv } from '../helpers/cli';
import { initPipeline, tableRows, tempDir, testConfig } from '../helpers/fixtures';
import { createDevEnv, uniqueTaskQueue } from '../helpers/temporal';
import { resultOfFailure } from './helpers/drill';
import { seedBundle, startWorkerProcess, type WorkerProcess } from './helpers/worker-process';

const PIPELINES = 50;
const REFUSED = 10;
const ROWS = 2000;

let env: TestWorkflowEnvironment;
let worker: WorkerProcess | undefined;
beforeAll(async () => {
  env = await createDevEnv();
}, 120_000);
afterAll(async () => {
  await worker?.kill('SIGKILL');
  await env?.teardown();
});

const csv = (header: string[], rowOf: (i: number) => string[]) =>
  `${header.join(',')}\n${Array.from({ length: ROWS }, (_, i) => rowOf(i).join(',')).join('\n')}\n`;

test(`${PIPELINES} pipelines drifting at once on one worker: all healed or refused, none stuck`, async () => {
  const home = tempDir('heal-drill-load-');
  await seedBundle(home);
  const taskQueue = uniqueTaskQueue('drill-load');
  const config = testConfig(home, { HEAL_TASK_QUEUE: taskQueue });
  worker = await startWorkerProcess(
    cliEnv({
      HEAL_HOME: home,
      HEAL_ALLOWED_ROOTS: home,
      TEMPORAL_ADDRESS: env.address,
      HEAL_TASK_QUEUE: taskQueue,
      HEAL_GIT: '0',
    }),
  );
  const names = Array.from({ length: PIPELINES }, (_, i) => `p${String(i).padStart(2, '0')}`);
  const row = (i: number) => [String(i), `item ${i % 97}`, String((i % 500) / 4), `2024-0${(i % 9) + 1}-1${i % 10}`];
  for (const name of names) {
    const file = path.join(home, `${name}.csv`);
    fs.writeFileSync(file, csv(['id', 'item', 'amount', 'day'], row));
    await initPipeline(config, name, file);
  }
  const run = async (name: string, source?: string, tag = 'clean'): Promise<PipelineRunResult> => {
    const h = await env.client.workflow.start(pipelineRun, {
      taskQueue,
      workflowId: `load-${tag}-${name}-${Date.now()}`,
      args: [{ pipeline: name, ...(source ? { source } : {}) }],
    });
    try {
      return await h.result();
    } catch (err) {
      const r = resultOfFailure(err);
      if (r) return r;
      throw err;
    }
  };
  const clean = await Promise.all(names.map((n) => run(n)));
  expect(clean.every((r) => r.outcome === 'succeeded')).toBe(true);
  const before = new Map(await Promise.all(names.map(async (n) => [n, await tableRows(config.warehouse, n)] as const)));

  for (const [i, name] of names.entries()) {
    const refused = i < REFUSED;
    fs.writeFileSync(
      path.join(home, `${name}-next.csv`),
      refused
        ? csv(['id', 'item', 'day'], (j) => {
            const r = row(j);
            return [r[0] ?? '', r[1] ?? '', r[3] ?? ''];
          })
        : csv(['id', 'item', 'amount_eur', 'day'], row),
    );
  }
  const started = Date.now();
  const results = await Promise.all(names.map((n) => run(n, path.join(home, `${n}-next.csv`), 'drift')));
  const wallMs = Date.now() - started;

  const healed = results.filter((r) => r.outcome === 'healed');
  const failed = results.filter((r) => r.outcome === 'failed');
  expect(healed.map((r) => r.pipeline).sort()).toEqual(names.slice(REFUSED));
  expect(failed.map((r) => r.pipeline).sort()).toEqual(names.slice(0, REFUSED));
  const store = new SpecStore(home);
  for (const r of healed) expect(r).toMatchObject({ rowsLoaded: ROWS, specVersion: 2 });
  for (const name of names.slice(0, REFUSED)) expect(store.currentVersion(name)).toBe(1);
  for (const name of names) expect(await tableRows(config.warehouse, name)).toEqual(before.get(name));
  const mttr = healed.map((r) => (r as { mttrMs?: number }).mttrMs ?? 0).sort((a, b) => a - b);
  console.log(
    `load drill: ${PIPELINES} episodes (${healed.length} healed, ${failed.length} refused) in ${(wallMs / 1000).toFixed(1)} s on one worker ` +
      `(${config.workerSlots} activity slots): ${((PIPELINES / wallMs) * 60_000).toFixed(1)} episodes/min; ` +
      `MTTR p50 ${mttr[Math.floor(mttr.length / 2)] ?? 0} ms, p95 ${mttr[Math.floor(mttr.length * 0.95)] ?? 0} ms; worker peak RSS ${Math.round(worker.peakRssKb() / 1024)} MB`,
  );
}, 900_000);
