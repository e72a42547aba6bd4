/**
 * The tools a user could pick instead of heal, each doing the bench's job on the same file (read,
 * cast to the contract's types, set aside rows missing a required value, write a typed columnar
 * table), each in a process of its own: the bare DuckDB floor (duckdb-floor.ts), polars, dlt and
 * pandas (Python, from .tools/venv: `setup.sh --bench` installs them, pinned).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const PYTHON = path.join(ROOT, '.tools', 'venv', 'bin', 'python');

export type PeerName = 'floor' | 'polars' | 'dlt' | 'pandas';

export interface PeerFigures {
  /** Time the script measures around its own work (imports included for Python, node start-up excluded). */
  ms: number;
  /** The whole process, spawn to exit: what a user waits for. */
  processMs: number;
  /** The process's peak resident set (its own getrusage), MiB. */
  peakRssMb: number | null;
  /** CPU time of the work, when the script measures it (the floor). */
  cpuMs: number | null;
  rows: number;
}

const PYTHON_PEERS: Record<Exclude<PeerName, 'floor'>, { script: string; module: string }> = {
  polars: { script: 'polars_load.py', module: 'polars' },
  dlt: { script: 'dlt_load.py', module: 'dlt' },
  pandas: { script: 'pandas_load.py', module: 'pandas' },
};

/** Whether a peer can run here (a Python peer needs its package in the venv). */
export function peerAvailable(peer: PeerName): boolean {
  if (peer === 'floor') return true;
  if (!fs.existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ['-c', `import ${PYTHON_PEERS[peer].module}`]).status === 0;
}

/**
 * Run `peer` on `csv`, writing next to `outBase` (removed after). Null when it is not installed or
 * failed; a failure is printed, never turned into a blank figure silently.
 */
export function runPeer(peer: PeerName, csv: string, outBase: string, memoryLimit?: string): PeerFigures | null {
  if (!peerAvailable(peer)) return null;
  const [cmd, args] =
    peer === 'floor'
      ? [
          process.execPath,
          [
            '-r',
            'tsx/cjs',
            path.join(__dirname, 'duckdb-floor.ts'),
            csv,
            `${outBase}.duckdb`,
            '0',
            ...(memoryLimit ? [memoryLimit] : []),
          ],
        ]
      : [PYTHON, [path.join(__dirname, PYTHON_PEERS[peer].script), csv, outBase]];
  const started = performance.now();
  const res = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 16 << 20 });
  const processMs = performance.now() - started;
  for (const ext of ['.duckdb', '.duckdb.wal', '.parquet', '.pkl', '.dlt'])
    fs.rmSync(`${outBase}${ext}`, { recursive: true, force: true });
  try {
    const out = JSON.parse(res.stdout.trim().split('\n').pop() ?? '') as Partial<PeerFigures>;
    if (typeof out.ms !== 'number') throw new Error('no figure');
    return {
      ms: out.ms,
      processMs,
      peakRssMb: out.peakRssMb ?? null,
      cpuMs: out.cpuMs ?? null,
      rows: Number(out.rows ?? NaN),
    };
  } catch {
    console.error(`bench: ${peer} failed (exit ${res.status}): ${res.stderr.trim().slice(-500)}`);
    return null;
  }
}
