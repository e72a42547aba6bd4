/**
 * A real worker process (`node -r tsx/cjs worker.ts`) for drills, with its peak memory watched and
 * its stderr kept. The workflow bundle is copied into the state directory's cache first, so the
 * worker does not bundle again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../../helpers/cli';
import { testWorkflowBundle } from '../../helpers/temporal';
import { watchPeakRss } from './drill';

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** stdout + stderr so far. */
  output(): string;
  /** Peak resident memory so far, in kB (VmHWM). */
  peakRssKb(): number;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  /** SIGKILL (no clean-up, as a crash). */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Put the cached test bundle where `createWorker` looks for it (`<home>/cache`). */
export async function seedBundle(home: string): Promise<void> {
  const { codePath } = await testWorkflowBundle();
  const cache = path.join(home, 'cache');
  fs.mkdirSync(cache, { recursive: true, mode: 0o700 });
  const dest = path.join(cache, path.basename(codePath));
  if (!fs.existsSync(dest)) fs.copyFileSync(codePath, dest);
}

/** Start `worker.ts` with the given environment; resolves once it polls (its start-up line on stderr). */
export async function startWorkerProcess(env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', path.join(ROOT, 'worker.ts')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const pid = child.pid ?? 0;
  const rss = watchPeakRss(pid, 25);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      rss.stop();
      resolve(code);
    });
  });
  await new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.includes('heal worker: task queue')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`worker exited (${code}) before it started: ${out}`)));
  });
  return {
    child,
    pid,
    output: () => out,
    peakRssKb: () => rss.peak(),
    exited,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
