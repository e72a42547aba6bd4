/**
 * `npm run bench [-- --rows N | --sizes 100k,1M,5M] [--runs 5] [--json] [--quick] [--fanout]`
 *
 * Measures, in one run, on a seeded realistic CSV (tools/bench/generate.ts, cached in
 * .tools/bench-data):
 *  - the pipeline end to end through Temporal (a clean `pipelineRun`: server round trips,
 *    activities, load, profile) vs a bare DuckDB script (the floor) and vs pandas (read-cast-write);
 *  - heal MTTR (drift detected → healed table committed) with the rules doctor and with a
 *    fix-memory hit, p50/p95 over `--runs` runs, with the time of each activity;
 *  - the worker's peak RSS (VmHWM of the worker subprocess) and the DuckDB memory limit in effect;
 *  - concurrency: `--concurrency` pipelines (default 50) drifting at once on one worker;
 *  - with `--fanout`: a partitioned source (20 files) through `partitionedRun`, 1 vs 2 workers;
 *  - the PostgreSQL warehouse (tools/bench/postgres.ts; `--no-postgres` skips it): a clean run at
 *    1M rows (or the largest size below) vs a bare `COPY` of the same typed rows, and the MTTR.
 *
 * One dev server (the project's Temporal CLI, headless, SQLite in WAL mode) and worker
 * subprocesses (`node -r tsx/cjs worker.ts`, what `npm run worker` runs) are started for the bench
 * and stopped at the end. State goes to a fresh HEAL_HOME under .tools/bench-home.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { writeChaos } from '../chaos';
import { workflowEnd } from '../../client/results';
import { inferSpec } from '../../core/spec/infer';
import { openStore, type SpecRepository } from '../../store';
import { stateLayout } from '../../store/layout';
import type { PipelineRunResult } from '../../common/types';
import { loadConfig } from '../../lib/config';
import { startDevServer, type DevServer } from '../../lib/dev-server';
import { findTemporalCli } from '../../lib/temporal-cli';
import { freePort } from '../../lib/ports';
import { workflowBundlePath } from '../../lib/workflow-bundle';
import type { PartitionedRunResult } from '../../workflows/partitioned-run';
import { cliFigures, type CliFigures } from './cli';
import { runPeer, type PeerName } from './peers';
import { formatTable, summarize, targets, type ConcurrencyFigures, type SizeFigures } from './report';
import { benchPostgres, type PostgresFigures } from './postgres';
import { benchFile, withHeader, writeBenchCsv } from './generate';
import { activityTimings, median, percentile, processCpuMs, processMemory, r, resetPeakMemory } from './stats';
import { startWorker, waitForWorkers, type WorkerProc } from './workers';

const ROOT = path.resolve(__dirname, '..', '..');
const DATA_DIR = path.join(ROOT, '.tools', 'bench-data');
const SEED = 42;
/** Every peer, the floor first (the ratios' reference). */
const PEERS: readonly PeerName[] = ['floor', 'polars', 'dlt', 'pandas'];
/** The CLI's small run: its rows and how many runs the median is of. */
const CLI_ROWS = 1000;
const CLI_RUNS = 5;

// -------------------------------------------------------------------------------------------------
// Options

interface BenchOptions {
  sizes: number[];
  runs: number;
  /** Runs at sizes above 1M rows (heal runs there take minutes on a small machine). */
  runsLarge: number | undefined;
  json: boolean;
  quick: boolean;
  fanout: boolean;
  concurrency: number;
  concurrencyRows: number;
  partitions: number;
  partitionRows: number;
  /** Largest size pandas is run at (it holds the whole file in memory). */
  pandasMaxRows: number;
  memoryLimit: string | undefined;
  keep: boolean;
  /** The PostgreSQL warehouse section (at 1M rows, or the largest size below). */
  postgres: boolean;
  /** The CLI's figures (`heal --help`, a small `heal run`). */
  cli: boolean;
}

function parseCount(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(s.trim());
  if (!m) throw new Error(`not a row count: ${s}`);
  const mult = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6 }[m[2] ?? ''] ?? 1;
  return Math.round(Number(m[1]) * mult);
}

function parseArgs(argv: string[]): BenchOptions {
  const o: BenchOptions = {
    sizes: [100_000, 1_000_000, 5_000_000],
    runs: 5,
    runsLarge: undefined,
    json: false,
    quick: false,
    fanout: false,
    concurrency: 50,
    concurrencyRows: 10_000,
    partitions: 20,
    partitionRows: 50_000,
    pandasMaxRows: 5_000_000,
    memoryLimit: undefined,
    keep: false,
    postgres: true,
    cli: true,
  };
  let sizesGiven = false;
  let runsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--rows') {
      o.sizes = [parseCount(next())];
      sizesGiven = true;
    } else if (a === '--sizes') {
      o.sizes = next().split(',').map(parseCount);
      sizesGiven = true;
    } else if (a === '--runs') {
      o.runs = Number(next());
      runsGiven = true;
    } else if (a === '--runs-large') o.runsLarge = Number(next());
    else if (a === '--json') o.json = true;
    else if (a === '--quick') o.quick = true;
    else if (a === '--fanout') o.fanout = true;
    else if (a === '--concurrency') o.concurrency = Number(next());
    else if (a === '--concurrency-rows') o.concurrencyRows = parseCount(next());
    else if (a === '--partitions') o.partitions = Number(next());
    else if (a === '--partition-rows') o.partitionRows = parseCount(next());
    else if (a === '--pandas-max') o.pandasMaxRows = parseCount(next());
    else if (a === '--memory-limit') o.memoryLimit = next();
    else if (a === '--keep') o.keep = true;
    else if (a === '--no-postgres') o.postgres = false;
    else if (a === '--no-cli') o.cli = false;
    else if (a === '--help' || a === '-h') {
      console.log(
        'npm run bench -- [--rows N | --sizes 100k,1M,5M] [--runs 5] [--runs-large N] [--json] [--quick] [--fanout]\n' +
          '  [--concurrency 50] [--concurrency-rows 10k] [--partitions 20] [--partition-rows 50k]\n' +
          '  [--pandas-max 5M] [--memory-limit 1GB] [--keep] [--no-postgres] [--no-cli]',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  if (o.quick) {
    if (!sizesGiven) o.sizes = [100_000];
    if (!runsGiven) o.runs = 3;
    o.concurrency = Math.min(o.concurrency, 10);
    o.partitions = Math.min(o.partitions, 8);
    o.partitionRows = Math.min(o.partitionRows, 10_000);
  }
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('--runs must be a positive integer');
  return o;
}

// -------------------------------------------------------------------------------------------------
// Processes

// -------------------------------------------------------------------------------------------------
// Runs

interface RunOutcome {
  result: PipelineRunResult;
  wallMs: number;
  workflowId: string;
}

let runCounter = 0;
async function runPipeline(client: Client, taskQueue: string, pipeline: string, source?: string): Promise<RunOutcome> {
  runCounter += 1;
  const workflowId = `bench-${pipeline}-${process.pid}-${Date.now()}-${runCounter}`;
  const started = performance.now();
  const handle = await client.workflow.start('pipelineRun', {
    taskQueue,
    workflowId,
    args: [{ pipeline, ...(source ? { source } : {}) }],
  });
  const { result, failure } = await workflowEnd<PipelineRunResult>(handle);
  if (!result) throw failure.error;
  return { result, wallMs: performance.now() - started, workflowId };
}

/** Activity times of a healed run: the run, its episode and its attempt(s). */
async function healPhases(client: Client, workflowId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const id of [workflowId, `${workflowId}-heal`, `${workflowId}-heal-attempt`]) {
    try {
      const t = await activityTimings(client, id);
      for (const [k, v] of Object.entries(t)) {
        // The run's own loadSource is the drift detection; the episode's is the apply load.
        const key = k === 'loadSource' ? (id === workflowId ? 'detect' : 'apply') : k;
        out[key] = (out[key] ?? 0) + v;
      }
    } catch {
      // A workflow that does not exist (no healing): nothing to add.
    }
  }
  return out;
}

function medianPhases(all: Record<string, number>[]): Record<string, number | null> {
  const keys = [...new Set(all.flatMap((p) => Object.keys(p)))];
  return Object.fromEntries(keys.map((k) => [k, r(median(all.map((p) => p[k] ?? 0)) / 1000)]));
}

/** A drifted copy of `clean`: a header rename found by `writeChaos` on a sample, applied to the whole file by streaming. */
async function renamedCopy(clean: string, work: string, seed: number): Promise<{ file: string; note: string }> {
  const sample = path.join(work, `sample-${path.basename(clean)}`);
  // The first 2000 lines are enough for chaos to pick a column (a big file is never read whole).
  const fd = fs.openSync(clean, 'r');
  const buf = Buffer.alloc(512 * 1024);
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  fs.closeSync(fd);
  const text = buf.subarray(0, n).toString('utf8');
  const lines = text.split('\n').slice(0, 2000);
  fs.writeFileSync(sample, `${lines.join('\n')}\n`);
  const drifted = path.join(work, `drifted-${seed}-${path.basename(clean)}`);
  const res = await writeChaos('rename-one', sample, `${sample}.drifted.csv`, seed);
  if (!res.applicable) throw new Error(`chaos rename-one does not apply: ${res.reason}`);
  const header = res.data.toString('utf8').split('\n')[0] ?? '';
  await withHeader(clean, drifted, header);
  return { file: drifted, note: res.note };
}

// -------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const log = (m: string) => {
    if (!opts.json) console.error(`bench: ${m}`);
    else process.stderr.write(`bench: ${m}\n`);
  };
  const config0 = loadConfig(process.env, ROOT);
  const cli = findTemporalCli(config0);
  if (!cli) throw new Error('the Temporal CLI is not installed: run `npm run setup`');

  const home = path.join(ROOT, '.tools', 'bench-home', new Date().toISOString().replace(/[-:.]/g, ''));
  const work = path.join(home, 'work');
  fs.mkdirSync(work, { recursive: true });
  const logFile = path.join(home, 'bench.log');
  const loadStart = os.loadavg();

  log(`generating data (seed ${SEED}) in ${path.relative(ROOT, DATA_DIR)}`);
  const files = new Map<number, string>();
  for (const n of opts.sizes) files.set(n, await benchFile(DATA_DIR, n, SEED));
  const sampleFile = await benchFile(DATA_DIR, Math.min(100_000, Math.min(...opts.sizes)), SEED);

  const port = await freePort();
  const uiPort = await freePort();
  log(`starting a dev server on 127.0.0.1:${port} (state in ${path.relative(ROOT, home)})`);
  const server: DevServer = await startDevServer({
    cliPath: cli.path,
    dbFile: path.join(home, 'temporal.db'),
    port,
    uiPort,
    headless: true,
    logFile: path.join(home, 'temporal.log'),
  });
  const taskQueue = `bench-${process.pid}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HEAL_HOME: home,
    HEAL_ALLOWED_ROOTS: [ROOT, home, DATA_DIR, os.tmpdir()].join(path.delimiter),
    TEMPORAL_ADDRESS: server.address,
    HEAL_TASK_QUEUE: taskQueue,
    ...(opts.memoryLimit ? { HEAL_DUCKDB_MEMORY_LIMIT: opts.memoryLimit } : {}),
  };
  const config = loadConfig(env, ROOT);
  const store = openStore(config).specs;
  const workers: WorkerProc[] = [];
  let connection: Connection | undefined;
  const out: Record<string, unknown> = {};
  try {
    log('building the workflow bundle');
    await workflowBundlePath(path.join(home, 'cache'));
    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection, namespace: config.namespace });
    workers.push(startWorker(env, logFile));
    await waitForWorkers(client, taskQueue, config.namespace, workers);
    const worker = workers[0] as WorkerProc;
    const duckdbLimit = await duckdbMemoryLimit(config.duckdbMemoryLimit);
    const slots = config.workerSlots;
    log(`worker pid ${worker.pid} polling "${taskQueue}"; ${slots} activity slots, DuckDB memory_limit ${duckdbLimit}`);

    // Warm-up: one small run so the worker's first workflow task (bundle load) is not measured.
    const warm = `warm`;
    await createPipeline(store, warm, sampleFile, sampleFile);
    await runPipeline(client, taskQueue, warm);

    const sizes: SizeFigures[] = [];
    for (const n of opts.sizes) {
      const file = files.get(n) as string;
      const f: SizeFigures = {
        rows: n,
        fileMb: r(fs.statSync(file).size / 2 ** 20, 1) ?? 0,
        peers: {},
        runs: n > 1_000_000 ? (opts.runsLarge ?? opts.runs) : opts.runs,
        e2eWorkerCpuMs: [],
        e2eMs: [],
        e2eLoadActivityMs: [],
        mttrRules: { ms: [], phases: {}, doctors: [] },
        mttrMemory: { ms: [], phases: {}, doctors: [] },
        workerPeakRssMb: null,
        workerPeakRssCleanMb: null,
      };
      sizes.push(f);
      for (const peer of PEERS) {
        if (peer === 'pandas' && n > opts.pandasMaxRows) continue;
        log(`${n} rows: ${peer === 'floor' ? 'bare DuckDB' : peer}`);
        f.peers[peer] = runPeer(peer, file, path.join(work, `${peer}-${n}`), opts.memoryLimit);
      }
      if (!f.peers.floor) throw new Error('the bare DuckDB floor failed: every ratio is measured against it');

      const name = `bench_${n}`;
      await createPipeline(store, name, sampleFile, file);
      resetPeakMemory(worker.pid);
      const e2eRuns = Math.min(f.runs, 3);
      for (let i = 0; i < e2eRuns; i++) {
        log(`${n} rows: clean run ${i + 1}/${e2eRuns} through Temporal`);
        const cpu0 = processCpuMs(worker.pid);
        const run = await runPipeline(client, taskQueue, name);
        f.e2eWorkerCpuMs.push(processCpuMs(worker.pid) - cpu0);
        if (run.result.outcome !== 'succeeded')
          throw new Error(`clean run of ${name}: ${run.result.outcome} ${JSON.stringify(run.result.error)}`);
        f.e2eMs.push(run.wallMs);
        f.e2eLoadActivityMs.push((await activityTimings(client, run.workflowId))['loadSource'] ?? NaN);
      }
      f.workerPeakRssCleanMb = r(processMemory(worker.pid)?.peakMb, 0);

      const drifted = await renamedCopy(file, work, SEED);
      log(`${n} rows: drift = ${drifted.note}`);
      const v1 = await store.currentVersion(name);
      for (const mode of ['rules', 'memory'] as const) {
        const target = mode === 'rules' ? f.mttrRules : f.mttrMemory;
        const phases: Record<string, number>[] = [];
        for (let i = 0; i < f.runs; i++) {
          if (mode === 'rules') fs.rmSync(stateLayout(home).memory, { recursive: true, force: true });
          await store.setCurrent(name, v1, 'bench: back to the version that drifts');
          log(`${n} rows: heal (${mode}) ${i + 1}/${f.runs}`);
          const run = await runPipeline(client, taskQueue, name, drifted.file);
          if (run.result.outcome !== 'healed')
            throw new Error(`heal of ${name}: ${run.result.outcome}: ${JSON.stringify(run.result.error)}`);
          target.ms.push(run.result.mttrMs ?? NaN);
          target.doctors.push(run.result.doctor ?? '?');
          phases.push(await healPhases(client, run.workflowId));
        }
        target.phases = medianPhases(phases);
      }
      await store.setCurrent(name, v1, 'bench: done');
      f.workerPeakRssMb = r(processMemory(worker.pid)?.peakMb, 0);
      fs.rmSync(drifted.file, { force: true });
    }

    // The CLI as a user meets it, with the dev server and the worker running.
    let cli: CliFigures | null = null;
    if (opts.cli) {
      log(`CLI: heal --help and heal run of ${CLI_ROWS} rows, ${CLI_RUNS} times each`);
      const small = await benchFile(DATA_DIR, CLI_ROWS, SEED);
      await createPipeline(store, 'bench_cli', small, small);
      cli = cliFigures(env, 'bench_cli', CLI_ROWS, CLI_RUNS);
    }

    // Concurrency: N pipelines drifting at once on one worker.
    let concurrency: ConcurrencyFigures | null = null;
    if (opts.concurrency > 0) {
      const n = opts.concurrency;
      log(`concurrency: ${n} pipelines × ${opts.concurrencyRows} rows`);
      const clean = await benchFile(DATA_DIR, opts.concurrencyRows, SEED);
      const names = Array.from({ length: n }, (_, i) => `conc_${String(i).padStart(3, '0')}`);
      for (const nm of names) await createPipeline(store, nm, clean, clean);
      const cleanStart = performance.now();
      const cleanRuns = await Promise.all(names.map((nm) => runPipeline(client, taskQueue, nm)));
      const cleanWall = performance.now() - cleanStart;
      if (cleanRuns.some((x) => x.result.outcome !== 'succeeded')) throw new Error('concurrency: a clean run failed');
      const drifted = await renamedCopy(clean, work, SEED + 1);
      fs.rmSync(stateLayout(home).memory, { recursive: true, force: true });
      resetPeakMemory(worker.pid);
      const started = performance.now();
      const runs = await Promise.all(names.map((nm) => runPipeline(client, taskQueue, nm, drifted.file)));
      const wall = performance.now() - started;
      const healed = runs.filter((x) => x.result.outcome === 'healed');
      const mttr = healed.map((x) => x.result.mttrMs ?? NaN);
      const doctors: Record<string, number> = {};
      for (const x of healed) doctors[x.result.doctor ?? '?'] = (doctors[x.result.doctor ?? '?'] ?? 0) + 1;
      concurrency = {
        pipelines: n,
        rows: opts.concurrencyRows,
        healed: healed.length,
        wallS: r(wall / 1000),
        episodesPerMin: r((healed.length / wall) * 60_000, 1),
        mttrP50S: r(percentile(mttr, 50) / 1000),
        mttrP95S: r(percentile(mttr, 95) / 1000),
        runP95S: r(
          percentile(
            runs.map((x) => x.wallMs),
            95,
          ) / 1000,
        ),
        doctors,
        cleanRunsWallS: r(cleanWall / 1000),
        cleanRunsPerMin: r((n / cleanWall) * 60_000, 1),
        workerPeakRssMb: r(processMemory(worker.pid)?.peakMb, 0),
        activitySlots: slots,
      };
    }

    // Fan-out: one partitioned source, 1 worker then 2 workers.
    let fanout: Record<string, unknown> | null = null;
    if (opts.fanout) {
      const dir = path.join(DATA_DIR, `parts-${opts.partitions}x${opts.partitionRows}-s${SEED}`);
      if (!fs.existsSync(path.join(dir, 'done'))) {
        log(`fan-out: writing ${opts.partitions} partitions of ${opts.partitionRows} rows`);
        for (let i = 0; i < opts.partitions; i++) {
          await writeBenchCsv(
            path.join(dir, `part-${String(i).padStart(3, '0')}.csv`),
            opts.partitionRows,
            SEED,
            i * opts.partitionRows,
          );
        }
        fs.writeFileSync(path.join(dir, 'done'), '');
      }
      const name = 'bench_parts';
      await createPipeline(store, name, path.join(dir, 'part-000.csv'), path.join(dir, '*.csv'));
      const maxParallel = 4;
      const one = await runPartitioned(client, taskQueue, name, path.join(dir, '*.csv'), maxParallel);
      log(`fan-out: 1 worker ${r(one.wallMs / 1000)} s; starting a second worker`);
      workers.push(startWorker(env, logFile));
      await waitForWorkers(client, taskQueue, config.namespace, workers);
      const two = await runPartitioned(client, taskQueue, name, path.join(dir, '*.csv'), maxParallel);
      fanout = {
        partitions: opts.partitions,
        rowsPerPartition: opts.partitionRows,
        maxParallel,
        oneWorkerS: r(one.wallMs / 1000),
        twoWorkersS: r(two.wallMs / 1000),
        speedup: r(one.wallMs / two.wallMs),
        outcome: [one.result.outcome, two.result.outcome],
        rowsLoaded: two.result.rowsLoaded,
        partitionsByWorker: two.byWorker,
      };
    }

    let postgres: PostgresFigures | null = null;
    const pgRows = Math.max(...opts.sizes.filter((n) => n <= 1_000_000), 0);
    if (opts.postgres && pgRows > 0) {
      const file = files.get(pgRows) as string;
      const drifted = await renamedCopy(file, work, SEED + 2);
      postgres = await benchPostgres({
        client: new Client({ connection, namespace: config.namespace }),
        namespace: config.namespace,
        file,
        sample: sampleFile,
        rows: pgRows,
        drifted: drifted.file,
        runs: Math.min(opts.runs, 3),
        home,
        env,
        port: await freePort(),
        log,
        run: runPipeline,
      });
      fs.rmSync(drifted.file, { force: true });
    }

    const loadEnd = os.loadavg();
    const machine = {
      nproc: os.availableParallelism?.() ?? os.cpus().length,
      memGiB: r(os.totalmem() / 2 ** 30, 1),
      cpu: os.cpus()[0]?.model ?? '?',
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      loadAvgStart: loadStart.map((x) => r(x)),
      loadAvgEnd: loadEnd.map((x) => r(x)),
      duckdbMemoryLimit: duckdbLimit,
      activitySlots: slots,
    };
    const summaries = sizes.map(summarize);
    Object.assign(out, {
      machine,
      seed: SEED,
      runs: opts.runs,
      sizes: summaries,
      cli,
      concurrency,
      fanout,
      postgres,
    });
    out['targets'] = targets(summaries, cli, concurrency);
    // With --json, stdout is the one JSON object and the table goes to stderr.
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(out)}\n`);
      process.stderr.write(`${formatTable(out)}\n`);
    } else console.log(formatTable(out));
  } finally {
    for (const w of workers) await w.stop();
    await connection?.close();
    await server.stop();
    if (!opts.keep) fs.rmSync(home, { recursive: true, force: true });
    else log(`state kept in ${home}`);
  }
}

async function createPipeline(store: SpecRepository, name: string, sample: string, source: string): Promise<void> {
  const spec = await inferSpec({ name, source: sample, allowedRoots: [ROOT, DATA_DIR, os.tmpdir()] });
  spec.source.path = source;
  await store.create(spec, { force: true });
}

async function duckdbMemoryLimit(limit: string | undefined): Promise<string> {
  // What DuckDB reports for the setting the activities use (config.duckdbMemoryLimit, else its own default).
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const inst = await DuckDBInstance.create(':memory:', limit ? { memory_limit: limit } : {});
  const conn = await inst.connect();
  try {
    const rd = await conn.runAndReadAll(`SELECT current_setting('memory_limit') AS m`);
    return `${String(rd.getRows()[0]?.[0])}${limit ? '' : ' (DuckDB default: 80% of RAM)'}`;
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

async function runPartitioned(
  client: Client,
  taskQueue: string,
  pipeline: string,
  source: string,
  maxParallel: number,
): Promise<{ wallMs: number; result: PartitionedRunResult; byWorker: Record<string, number> }> {
  runCounter += 1;
  const workflowId = `bench-parts-${process.pid}-${Date.now()}-${runCounter}`;
  const started = performance.now();
  const handle = await client.workflow.start('partitionedRun', {
    taskQueue,
    workflowId,
    args: [{ pipeline, source, maxParallel }],
  });
  const result = (await handle.result()) as PartitionedRunResult;
  const wallMs = performance.now() - started;
  // Which worker ran each partition's load (the activity's worker identity in the child's history).
  const byWorker: Record<string, number> = {};
  for (const p of result.partitions) {
    try {
      const h = await client.workflow.getHandle(p.workflowId).fetchHistory();
      const started2 = (h.events ?? []).find((e) => e.activityTaskStartedEventAttributes?.identity);
      const id = started2?.activityTaskStartedEventAttributes?.identity ?? '?';
      byWorker[id] = (byWorker[id] ?? 0) + 1;
    } catch {
      // history gone: not counted
    }
  }
  return { wallMs, result, byWorker };
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
