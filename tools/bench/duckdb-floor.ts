/**
 * The floor: a bare DuckDB script that reads the bench CSV with the types known up front and
 * writes the same table into a fresh database file. No contract check, no quarantine, no profile,
 * no Temporal. `npm run bench` runs it in a child process (tools/bench/peers.ts) and reports the time it
 * measures around the SQL (start-up of node excluded, as for the pipeline's own figures).
 *
 *   node -r tsx/cjs tools/bench/duckdb-floor.ts <csv> <db file> [threads] [memory_limit]
 */
import * as fs from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

export const FLOOR_COLUMNS =
  "{'id': 'BIGINT', 'name': 'VARCHAR', 'email': 'VARCHAR', 'country': 'VARCHAR', 'signup_date': 'DATE', 'last_login': 'TIMESTAMP', 'amount': 'DOUBLE', 'category': 'VARCHAR', 'active': 'BOOLEAN'}";

export async function floorLoad(
  csv: string,
  db: string,
  opts: { threads?: number; memoryLimit?: string } = {},
): Promise<{ ms: number; cpuMs: number; rows: number; peakRssMb: number }> {
  for (const f of [db, `${db}.wal`]) fs.rmSync(f, { force: true });
  const o: Record<string, string> = {};
  if (opts.threads) o['threads'] = String(opts.threads);
  if (opts.memoryLimit) o['memory_limit'] = opts.memoryLimit;
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const instance = await DuckDBInstance.create(db, o);
  const conn = await instance.connect();
  try {
    const lit = `'${csv.replace(/'/g, "''")}'`;
    await conn.run(
      `CREATE TABLE bench AS SELECT * FROM read_csv(${lit}, header=true, columns=${FLOOR_COLUMNS}, timestampformat='%Y-%m-%d %H:%M:%S', dateformat='%Y-%m-%d')`,
    );
    const r = await conn.runAndReadAll('SELECT count(*) AS n FROM bench');
    const rows = Number(r.getRows()[0]?.[0] ?? 0);
    await conn.run('CHECKPOINT');
    const cpu = process.cpuUsage(cpu0);
    const ms = performance.now() - started;
    // maxRSS is in KiB: the process's high-water mark, node and DuckDB together.
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, rows, peakRssMb: process.resourceUsage().maxRSS / 1024 };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

if (require.main === module) {
  const [csv, db, threads, memoryLimit] = process.argv.slice(2);
  if (!csv || !db) {
    console.error('usage: duckdb-floor.ts <csv> <db> [threads] [memory_limit]');
    process.exit(2);
  }
  floorLoad(csv, db, { ...(threads ? { threads: Number(threads) } : {}), ...(memoryLimit ? { memoryLimit } : {}) })
    .then((r) => process.stdout.write(`${JSON.stringify(r)}\n`))
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    });
}
