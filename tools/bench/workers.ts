/**
 * Worker subprocesses, as `npm run worker` runs them, for the bench and for tests that need more than
 * one worker on a task queue (one process may register one worker per task queue).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const ROOT = path.resolve(__dirname, '..', '..');

export interface WorkerProc {
  proc: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

/** A worker subprocess, as `npm run worker` runs it (node itself, so its pid is the worker's). */
export function startWorker(env: NodeJS.ProcessEnv, logFile: string): WorkerProc {
  const log = fs.openSync(logFile, 'a');
  const proc = spawn(process.execPath, ['-r', 'tsx/cjs', path.join(ROOT, 'worker.ts')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc,
    pid: proc.pid ?? -1,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Wait until these workers poll the task queue (a new worker shows up within its first poll). */
export async function waitForWorkers(
  client: Client,
  taskQueue: string,
  namespace: string,
  workers: WorkerProc[],
): Promise<void> {
  const deadline = Date.now() + 120_000;
  const ids = new Set<string>();
  while (Date.now() < deadline) {
    for (const w of workers)
      if (w.proc.exitCode !== null) throw new Error(`worker ${w.pid} exited (${w.proc.exitCode}); see its log`);
    const res = await client.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    });
    for (const p of res.pollers ?? []) if (p.identity) ids.add(p.identity);
    if (workers.every((w) => [...ids].some((id) => id.startsWith(`${w.pid}@`)))) return;
    await new Promise((res2) => setTimeout(res2, 250));
  }
  throw new Error(`workers did not start polling "${taskQueue}" within 120 s (found ${[...ids].join(', ') || 'none'})`);
}
