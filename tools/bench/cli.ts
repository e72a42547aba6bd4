/**
 * The CLI as a user meets it: `heal --help`, and `heal run` of a small file with a dev server and a
 * worker already running (`npm run dev`), each the median wall of `runs` fresh processes of the
 * prebuilt entry (bin/heal.js → dist/heal.cjs; `npm run bench` builds it first).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { median } from './stats';

const ROOT = path.resolve(__dirname, '..', '..');
const HEAL = path.join(ROOT, 'bin', 'heal.js');

/** Wall of each of `runs` runs of `heal <args>` (after one unmeasured warm-up); throws when one fails. */
function timeCli(args: string[], env: NodeJS.ProcessEnv, runs: number): number[] {
  const out: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const started = performance.now();
    const res = spawnSync(process.execPath, [HEAL, ...args], { cwd: ROOT, env, encoding: 'utf8' });
    const ms = performance.now() - started;
    if (res.status !== 0) throw new Error(`heal ${args.join(' ')} exited ${res.status}: ${res.stderr.slice(-400)}`);
    if (i > 0) out.push(ms);
  }
  return out;
}

export interface CliFigures {
  helpMs: number;
  helpRunsMs: number[];
  /** `heal run <pipeline>` of `rows` rows. */
  runMs: number;
  runRunsMs: number[];
  rows: number;
}

export function cliFigures(env: NodeJS.ProcessEnv, pipeline: string, rows: number, runs = 5): CliFigures {
  const help = timeCli(['--help'], env, runs);
  const run = timeCli(['run', pipeline], env, runs);
  return {
    helpMs: median(help),
    helpRunsMs: help,
    runMs: median(run),
    runRunsMs: run,
    rows,
  };
}
