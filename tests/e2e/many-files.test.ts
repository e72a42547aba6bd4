/**
 * Many files, one table, through the real CLI against a real dev server with two workers on the
 * task queue: US zip codes split into four files by zip range (a region per file, the usual shape
 * of exports and daily drops). Nothing drifted: every row loads. One file renamed a column: that
 * file alone is healed and every row loads. One file cut off mid-row: in replace mode the table
 * stays as it was and the run is not green; in append mode the other three load, the cut file is
 * set aside, and the next run loads only the fixed file, once. Each with and without --partitioned.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { PipelineRunResult } from '../../common/types';
import type { HealConfig } from '../../lib/config';
import { cliEnv, ROOT, runCli } from '../helpers/cli';
import { tableRows, tempDir, testConfig } from '../helpers/fixtures';
import { uniqueTaskQueue, useDevEnv } from '../helpers/temporal';
import { startWorker, waitForWorkers, type WorkerProc } from '../../tools/bench/workers';

const suite = useDevEnv();
const ZIPCODES = path.join(ROOT, 'node_modules', 'vega-datasets', 'data', 'zipcodes.csv');
const PER_FILE = 400;
const FILES = 4;

let home: string;
let config: HealConfig;
let vars: NodeJS.ProcessEnv;
let header: string;
let parts: string[][];
let worker: Worker | undefined;
let running: Promise<void> | undefined;
let other: WorkerProc | undefined;
const taskQueue = uniqueTaskQueue('files');

/** Every 10th zip code, in zip order, cut into four files of consecutive zip ranges. */
function regionParts(): { header: string; parts: string[][] } {
  const [head, ...rows] = fs.readFileSync(ZIPCODES, 'utf8').trimEnd().split('\n');
  const picked = rows.filter((_, i) => i % 10 === 0).slice(0, PER_FILE * FILES);
  return {
    header: head ?? '',
    parts: Array.from({ length: FILES }, (_, i) => picked.slice(i * PER_FILE, (i + 1) * PER_FILE)),
  };
}

/** Write the four files into a fresh folder; `change` may alter one file's text. */
function writeParts(name: string, change: (i: number, text: string) => string = (_i, t) => t): string {
  const dir = path.join(home, name);
  fs.mkdirSync(dir, { recursive: true });
  parts.forEach((rows, i) =>
    fs.writeFileSync(path.join(dir, `p${i}.csv`), change(i, `${header}\n${rows.join('\n')}\n`)),
  );
  return dir;
}

const renameCounty = (i: number, text: string) => (i === 2 ? text.replace(/^(.*?)county/, '$1county_name') : text);
/** The last file cut off in the middle of its last row. */
const truncateLast = (i: number, text: string) => (i === FILES - 1 ? text.slice(0, text.length - 25) : text);

async function run(args: string[]): Promise<{ code: number; result: PipelineRunResult }> {
  const r = await runCli(['run', ...args, '--json'], vars);
  const lines = r.stdout.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  return { code: r.code, result: JSON.parse(lines[0] ?? '{}') as PipelineRunResult };
}

async function init(name: string, source: string, ...extra: string[]): Promise<void> {
  const r = await runCli(['init', name, '--source', source, ...extra], vars);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

const outcomes = (r: PipelineRunResult) => (r.partitions ?? []).map((f) => [path.basename(f.file), f.outcome]);

beforeAll(async () => {
  home = tempDir();
  config = testConfig(home, { HEAL_TASK_QUEUE: taskQueue });
  ({ header, parts } = regionParts());
  vars = cliEnv({
    HEAL_HOME: home,
    HEAL_ALLOWED_ROOTS: home,
    TEMPORAL_ADDRESS: suite.env.address,
    HEAL_TASK_QUEUE: taskQueue,
  });
  // Two workers on the task queue: this process's, and a worker process as `npm run worker` starts it.
  worker = await Worker.create({
    connection: suite.env.nativeConnection,
    taskQueue,
    workflowBundle: suite.bundle,
    activities: createActivities({ config }),
  });
  running = worker.run();
  other = startWorker(vars, path.join(home, 'worker.log'));
  await waitForWorkers(suite.env.client, taskQueue, 'default', [other]);
}, 180_000);

afterAll(async () => {
  await other?.stop();
  worker?.shutdown();
  await running;
});

describe.each([
  ['a glob', [] as string[]],
  ['--partitioned', ['--partitioned']],
])('four files by region, read as %s', (_label, flags) => {
  const name = `zips${flags.length ? 'p' : 'g'}`;
  let clean: string;
  let cleanRows: Record<string, unknown>[];

  test('nothing drifted: every row of every file loads, the region column is seen as the split', async () => {
    clean = writeParts(`${name}-clean`);
    // The pipeline is made from one file and loaded with it first: its baseline is one region.
    await init(name, path.join(clean, 'p0.csv'));
    expect((await run([name])).result).toMatchObject({ outcome: 'succeeded', rowsLoaded: PER_FILE });
    const { code, result } = await run([name, '--source', path.join(clean, '*.csv'), ...flags]);
    expect(code).toBe(0);
    expect(result).toMatchObject({
      outcome: 'succeeded',
      rowsLoaded: FILES * PER_FILE,
      rowsQuarantined: 0,
      error: null,
    });
    expect(outcomes(result)).toEqual(parts.map((_, i) => [`p${i}.csv`, 'loaded']));
    expect(result.partitionKeys).toContain('state');
    cleanRows = await tableRows(config.warehouse, name);
    expect(cleanRows).toHaveLength(FILES * PER_FILE);
  });

  test('one file renamed a column among four: that file is healed on its own, every row loads', async () => {
    const renamed = writeParts(`${name}-renamed`, renameCounty);
    const { code, result } = await run([name, '--source', path.join(renamed, '*.csv'), ...flags]);
    expect(code).toBe(0);
    expect(result).toMatchObject({ outcome: 'healed', rowsLoaded: FILES * PER_FILE });
    expect(outcomes(result)).toEqual([
      ['p0.csv', 'loaded'],
      ['p1.csv', 'loaded'],
      ['p2.csv', 'healed'],
      ['p3.csv', 'loaded'],
    ]);
    expect(result.partitions?.[2]?.driftKinds).toContain('renamed');
    // The table is exactly the clean one: the healed file's county came from county_name.
    expect(await tableRows(config.warehouse, name)).toEqual(cleanRows);
    if (!flags.length) {
      // The fix is the spec's now, for that file only: the other files still read as before.
      const spec = await runCli(['spec', name, '--json'], vars);
      const files = (
        JSON.parse(spec.stdout) as {
          spec: { source: { files: { match: string; mapping?: Record<string, { from?: string }> }[] } };
        }
      ).spec.source.files;
      expect(files).toEqual([
        expect.objectContaining({
          match: 'p2.csv',
          mapping: { county: expect.objectContaining({ from: 'county_name' }) },
        }),
      ]);
    }
  });

  test('one file cut off among four, replace mode: the run is not green and the table is as it was', async () => {
    const before = await tableRows(config.warehouse, name);
    const cut = writeParts(`${name}-cut`, truncateLast);
    const { code, result } = await run([name, '--source', path.join(cut, '*.csv'), ...flags]);
    expect(code).toBe(1);
    expect(result.outcome).toBe('failed');
    expect(result.rowsLoaded).toBe(0);
    expect(outcomes(result)).toEqual([
      ['p0.csv', 'held'],
      ['p1.csv', 'held'],
      ['p2.csv', 'held'],
      ['p3.csv', 'set-aside'],
    ]);
    const aside = result.partitions?.find((f) => f.outcome === 'set-aside');
    expect(aside?.driftKinds).toContain('truncated');
    expect(aside?.reason).toMatch(/truncated|cut off/);
    expect(await tableRows(config.warehouse, name)).toEqual(before);
  });

  test('one file cut off among four, append mode: three load, one is set aside; the next run loads only the fixed file, once', async () => {
    const app = `${name}_app`;
    const dir = writeParts(`${app}-files`, truncateLast);
    await init(app, path.join(dir, 'p0.csv'), '--mode', 'append');
    const first = await run([app, '--source', path.join(dir, '*.csv'), ...flags]);
    expect(first.code).toBe(1);
    expect(first.result).toMatchObject({
      outcome: 'partial',
      rowsLoaded: 3 * PER_FILE,
      error: { type: 'PartialLoad' },
    });
    expect(first.result.error?.message).toMatch(/1 of 4 files set aside: p3\.csv/);
    expect(outcomes(first.result)).toEqual([
      ['p0.csv', 'loaded'],
      ['p1.csv', 'loaded'],
      ['p2.csv', 'loaded'],
      ['p3.csv', 'set-aside'],
    ]);
    expect(await tableRows(config.warehouse, app)).toHaveLength(3 * PER_FILE);

    // The cut file arrives again, whole: only it loads.
    fs.writeFileSync(path.join(dir, 'p3.csv'), `${header}\n${(parts[3] ?? []).join('\n')}\n`);
    const second = await run([app, '--source', path.join(dir, '*.csv'), ...flags]);
    expect(second.code).toBe(0);
    expect(second.result).toMatchObject({ outcome: 'succeeded', rowsLoaded: PER_FILE });
    expect(outcomes(second.result)).toEqual([
      ['p0.csv', 'skipped'],
      ['p1.csv', 'skipped'],
      ['p2.csv', 'skipped'],
      ['p3.csv', 'loaded'],
    ]);
    const rows = await tableRows(config.warehouse, app);
    expect(rows).toHaveLength(FILES * PER_FILE);
    expect(new Set(rows.map((r) => r['zip_code'])).size).toBe(FILES * PER_FILE);

    // Once more: nothing new, nothing loaded twice.
    const third = await run([app, '--source', path.join(dir, '*.csv'), ...flags]);
    expect(third.result).toMatchObject({ outcome: 'succeeded', rowsLoaded: 0, skipped: true });
    expect(await tableRows(config.warehouse, app)).toHaveLength(FILES * PER_FILE);
  });
});
