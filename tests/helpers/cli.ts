/** Run the real `heal` CLI (bin/heal.js) as a child process, asynchronously. */
import { execFile } from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const HEAL_BIN = path.join(ROOT, 'bin', 'heal.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment for a CLI child: the parent's PATH and HOME only, plus the given settings. */
export function cliEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', ...extra };
}

export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { cwd?: string; command?: string[] } = {},
): Promise<CliRun> {
  const [cmd, ...pre] = opts.command ?? [process.execPath, HEAL_BIN];
  return new Promise((resolve) => {
    execFile(
      cmd ?? process.execPath,
      [...pre, ...args],
      { env, cwd: opts.cwd ?? ROOT, maxBuffer: 64 << 20, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
