/**
 * Shared by the drills: run a pipeline through a real dev server with an in-test worker, list the
 * warehouse's tables, snapshot a directory tree, read a result out of a failed run, scan text for
 * secrets, and measure a child process's peak memory.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../../activities';
import { resultInFailure } from '../../../client/results';
import type { Doctor } from '../../../core/doctor/types';
import type { PipelineRunResult } from '../../../common/types';
import type { HealConfig } from '../../../lib/config';
import { queryRows, withDuckDB } from '../../../lib/duckdb';
import { pipelineRun } from '../../../workflows';
import { HEAL_BIN, ROOT } from '../../helpers/cli';
import { uniqueTaskQueue } from '../../helpers/temporal';

export interface RunOptions {
  source?: string;
  doctors?: Doctor[];
  workflowId?: string;
}

let seq = 0;

/** Run `pipelineRun` on a fresh task queue with a worker in this process; failed runs return their result too. */
export async function runPipeline(
  env: TestWorkflowEnvironment,
  bundle: { codePath: string },
  config: HealConfig,
  pipeline: string,
  opts: RunOptions = {},
): Promise<PipelineRunResult> {
  seq += 1;
  const taskQueue = uniqueTaskQueue('drill');
  const workflowId = opts.workflowId ?? `drill-${pipeline}-${process.pid}-${Date.now()}-${seq}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: createActivities({ config, ...(opts.doctors ? { doctors: opts.doctors } : {}) }),
  });
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(pipelineRun, {
      taskQueue,
      workflowId,
      args: [{ pipeline, ...(opts.source ? { source: opts.source } : {}) }],
    });
    try {
      return await handle.result();
    } catch (err) {
      const r = resultOfFailure(err);
      if (r) return r;
      throw err;
    }
  });
}

/** The run result a failed pipelineRun carries (see client/results.ts). */
export function resultOfFailure(err: unknown): PipelineRunResult | undefined {
  const d = resultInFailure<PipelineRunResult>(err);
  return d && 'outcome' in d ? d : undefined;
}

/** Every table and view of a DuckDB file, as "schema.name", sorted (attached databases included). */
export async function warehouseObjects(file: string): Promise<string[]> {
  return withDuckDB(file, {}, async (conn) => {
    const rows = await queryRows<{ n: string }>(
      conn,
      `SELECT database_name || '.' || schema_name || '.' || table_name AS n FROM duckdb_tables() WHERE NOT temporary
       UNION ALL SELECT database_name || '.' || schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary
       ORDER BY 1`,
    );
    return rows.map((r) => r.n);
  });
}

/** Relative paths of every file and directory under `dir`, sorted. */
export function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const abs = path.join(d, e.name);
      out.push(path.relative(dir, abs) + (e.isDirectory() ? '/' : ''));
      if (e.isDirectory()) walk(abs);
    }
  };
  walk(dir);
  return out.sort();
}

/** Every file under `dir` (recursively), as absolute paths. */
export function filesUnder(dir: string): string[] {
  return tree(dir)
    .filter((p) => !p.endsWith('/'))
    .map((p) => path.join(dir, p));
}

/** The secrets among `secrets` that occur in `text` (also base64- or URL-encoded). */
export function leakedSecrets(text: string, secrets: readonly string[]): string[] {
  return secrets.filter((s) => {
    const forms = [s, encodeURIComponent(s), Buffer.from(s).toString('base64').replace(/=+$/, '')];
    // The distinctive tail of a secret, so a partial copy is caught too.
    const tail = s.slice(-12);
    return forms.some((f) => text.includes(f)) || text.includes(tail);
  });
}

/** Peak resident memory (VmHWM, kB) of a process, polled from /proc until it exits. */
export function watchPeakRss(pid: number, everyMs = 20): { peak: () => number; stop: () => number } {
  let peak = 0;
  const read = () => {
    try {
      const m = /VmHWM:\s+(\d+)\s*kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch {
      // exited
    }
  };
  read();
  const t = setInterval(read, everyMs);
  t.unref();
  return {
    peak: () => {
      read();
      return peak;
    },
    stop: () => {
      read();
      clearInterval(t);
      return peak;
    },
  };
}

export interface WatchedRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the CLI process, in kB. */
  peakRssKb: number;
}

/** Run the real CLI (bin/heal.js) and watch its peak memory. */
export function runCliWatched(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<WatchedRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HEAL_BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const rss = watchPeakRss(child.pid ?? 0);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, peakRssKb: rss.stop() });
    });
  });
}
