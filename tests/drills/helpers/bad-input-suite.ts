/**
 * The bad-input drills' fixture: a dev server, a real worker process and the real CLI on one
 * pipeline (`orders`, 1,000 clean rows). `runOn(file)` runs the pipeline on a file, checks that
 * the CLI and the worker stayed within their memory ceilings, printed no stack trace, and — when
 * the run exits non-zero — that the table and the current version are as before.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { SpecStore } from '../../../store/spec-store';
import type { PipelineRunResult } from '../../../common/types';
import { cliEnv } from '../../helpers/cli';
import { tableRows, tempDir } from '../../helpers/fixtures';
import { createDevEnv, uniqueTaskQueue } from '../../helpers/temporal';
import { runCliWatched, type WatchedRun } from './drill';
import { seedBundle, startWorkerProcess, type WorkerProcess } from './worker-process';

/** Memory ceilings (kB): a CLI command, and the worker that reads every file. */
export const CLI_RSS_LIMIT_KB = 300 * 1024;
export const WORKER_RSS_LIMIT_KB = 600 * 1024;

export const HEADER = 'id,name,amount,day';
export const row = (i: number): string =>
  `${i},name ${i},${(i * 1.25).toFixed(2)},2024-01-${String((i % 28) + 1).padStart(2, '0')}`;
export const rows = (n: number): string[] => Array.from({ length: n }, (_, i) => row(i + 1));

export interface Outcome {
  r: WatchedRun;
  /** The run's JSON result (the last line of stdout), when there is one. */
  json: PipelineRunResult | undefined;
}

export interface BadInputSuite {
  /** The state directory (files written there are inside the allowed roots). */
  home(): string;
  /** A directory outside the allowed roots, holding secret.csv. */
  outside(): string;
  write(name: string, content: string | Buffer): string;
  runOn(source: string, label: string): Promise<Outcome>;
}

/** Declare the fixture's beforeAll/afterAll in the calling test file. */
export function badInputSuite(): BadInputSuite {
  let env: TestWorkflowEnvironment;
  let worker: WorkerProcess;
  let home: string;
  let outside: string;
  let vars: NodeJS.ProcessEnv;
  const peaks: Record<string, number> = {};

  beforeAll(async () => {
    home = tempDir('heal-drill-input-');
    outside = tempDir('heal-drill-outside-');
    fs.writeFileSync(path.join(outside, 'secret.csv'), `${HEADER}\n${rows(3).join('\n')}\n`);
    const taskQueue = uniqueTaskQueue('drill-input');
    const [e] = await Promise.all([createDevEnv(), seedBundle(home)]);
    env = e;
    vars = cliEnv({
      HEAL_HOME: home,
      HEAL_ALLOWED_ROOTS: home,
      TEMPORAL_ADDRESS: env.address,
      HEAL_TASK_QUEUE: taskQueue,
      HEAL_GIT: '0',
    });
    worker = await startWorkerProcess(vars);
    const file = path.join(home, 'orders.csv');
    fs.writeFileSync(file, `${HEADER}\n${rows(1000).join('\n')}\n`);
    expect((await cli(['init', 'orders', '--source', file], 'init')).code).toBe(0);
    const first = await cli(['run', 'orders', '--json'], 'clean run');
    expect(first.code).toBe(0);
    expect(await tableRows(path.join(home, 'warehouse.duckdb'), 'orders')).toHaveLength(1000);
  }, 180_000);

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await env?.teardown();
    // The figures for the report (jest prints console output of the file).
    console.log(
      `bad-input drill peak RSS (MB): ${JSON.stringify(Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, Math.round(v / 1024)])))}, worker ${Math.round((worker?.peakRssKb() ?? 0) / 1024)}`,
    );
  });

  async function cli(args: string[], label: string): Promise<WatchedRun> {
    const r = await runCliWatched(args, vars);
    peaks[label] = r.peakRssKb;
    return r;
  }

  function write(name: string, content: string | Buffer): string {
    const file = path.join(home, name);
    fs.writeFileSync(file, content);
    return file;
  }

  /** Run the pipeline on `source`; check that the table and the current version are as before. */
  async function runOn(source: string, label: string): Promise<Outcome> {
    const version = new SpecStore(home).currentVersion('orders');
    const before = await tableRows(path.join(home, 'warehouse.duckdb'), 'orders');
    const r = await cli(['run', 'orders', '--json', '--source', source], label);
    let json: PipelineRunResult | undefined;
    const lines = r.stdout.split('\n').filter(Boolean);
    if (lines.length) json = JSON.parse(lines[lines.length - 1] ?? '') as PipelineRunResult;
    expect(r.peakRssKb).toBeGreaterThan(0);
    expect(r.peakRssKb).toBeLessThan(CLI_RSS_LIMIT_KB);
    expect(worker.peakRssKb()).toBeLessThan(WORKER_RSS_LIMIT_KB);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    if (process.env['HEAL_DRILL_VERBOSE'])
      console.log(label, r.code, JSON.stringify(json?.error ?? null), json?.driftReport?.kinds, r.stderr.trim());
    if (r.code !== 0) {
      expect(new SpecStore(home).currentVersion('orders')).toBe(version);
      expect(await tableRows(path.join(home, 'warehouse.duckdb'), 'orders')).toEqual(before);
    }
    return { r, json };
  }

  return { home: () => home, outside: () => outside, write, runOn };
}
