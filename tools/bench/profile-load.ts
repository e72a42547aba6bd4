/**
 * A clean load of the bench CSV in-process, every SQL statement timed: where the load's time goes.
 * Infers the spec from the file's first 100k rows (as the bench does), loads once to set the
 * baseline, then loads again and prints the second load's statements, slowest first, each with
 * the process's peak RSS while it ran (Linux), and the load's peak.
 *
 *   node -r tsx/cjs tools/bench/profile-load.ts <csv> [--memory-limit 512MB|none] [--top 15] [--once]
 *
 * The DuckDB memory limit is a worker's default (lib/sizing.ts) unless given. `--once`: no baseline
 * load first (no silent drift check), the process's first load measured.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { DuckDBConnection } from '@duckdb/node-api';
import { inferSpec } from '../../core/spec/infer';
import { runLoad } from '../../core/etl/load';
import { withDuckDB } from '../../lib/duckdb';
import type { TableProfile } from '../../core/etl/profile';
import { slotMemoryLimit } from '../../lib/sizing';
import { processMemory, resetPeakMemory } from './stats';

interface Timed {
  sql: string;
  ms: number;
  /** The process's peak RSS during the statement, in MB (Linux; undefined elsewhere). */
  peakMb: number | undefined;
}

/** `conn` with every statement it runs timed into `log`. */
function timedConnection(conn: DuckDBConnection, log: Timed[]): DuckDBConnection {
  const timed = new Set(['run', 'runAndReadAll', 'runAndReadUntil', 'stream', 'streamAndReadAll']);
  return new Proxy(conn, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof prop !== 'string' || !timed.has(prop) || typeof value !== 'function') return value;
      return async (sql: string, ...rest: unknown[]) => {
        resetPeakMemory(process.pid);
        const t0 = performance.now();
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).call(target, sql, ...rest);
        } finally {
          log.push({ sql, ms: performance.now() - t0, peakMb: processMemory(process.pid)?.peakMb });
        }
      };
    },
  });
}

/** The first `n` lines of a file, read as a stream (a big file is never read whole). */
async function firstLines(file: string, n: number): Promise<string> {
  const lines: string[] = [];
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) {
    lines.push(line);
    if (lines.length >= n) break;
  }
  rl.close();
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const csv = path.resolve(args[0] ?? '');
  if (!args[0] || !fs.existsSync(csv))
    throw new Error('usage: profile-load.ts <csv> [--memory-limit X|none] [--top N] [--once]');
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const top = Number(opt('--top') ?? 15);
  // As a worker opens it: the default budget per database, unless told ("none": DuckDB's own).
  const memoryLimit = slotMemoryLimit(opt('--memory-limit'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heal-profile-'));
  const roots = [path.dirname(csv), dir];
  const sample = path.join(dir, 'sample.csv');
  fs.writeFileSync(sample, await firstLines(csv, 100_001));
  const spec = await inferSpec({ name: 'bench', source: sample, allowedRoots: roots });
  const db = path.join(dir, 'warehouse.duckdb');
  try {
    let baseline: TableProfile | null = null;
    // --once: the one load of a fresh process (its peak RSS is the process's, as a worker's first load).
    for (const round of args.includes('--once') ? ['measured'] : ['baseline', 'measured']) {
      const log: Timed[] = [];
      const t0 = performance.now();
      const res = await withDuckDB(db, memoryLimit ? { memoryLimit } : {}, (conn) =>
        runLoad(timedConnection(conn, log), {
          spec,
          specVersion: 1,
          runId: round,
          source: csv,
          allowedRoots: roots,
          commit: true,
          baseline,
        }),
      );
      baseline = res.profile;
      const wall = performance.now() - t0;
      if (round === 'baseline') continue;
      const sum = log.reduce((a, x) => a + x.ms, 0);
      const peaks = log.flatMap((x) => (x.peakMb === undefined ? [] : [x.peakMb]));
      const peak = peaks.length ? Math.max(...peaks) : undefined;
      console.log(
        `${res.rowsLoaded} rows: load ${(wall / 1000).toFixed(2)} s, ${log.length} statements ${(sum / 1000).toFixed(2)} s, peak RSS ${peak?.toFixed(0) ?? '?'} MB`,
      );
      for (const x of [...log].sort((a, b) => b.ms - a.ms).slice(0, top))
        console.log(
          `${(x.ms / 1000).toFixed(3).padStart(7)} s ${(x.peakMb?.toFixed(0) ?? '?').padStart(5)} MB  ${x.sql.replace(/\s+/g, ' ').slice(0, 140)}`,
        );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
