/**
 * The CLI's start-up: loading it (what `heal --help`, `heal spec`, `heal pipelines` pay for) never
 * loads Temporal's client and protos, DuckDB or the PostgreSQL driver; they load on first use
 * (lib/lazy.ts).
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const HEAVY = /node_modules\/(@temporalio\/client|@temporalio\/proto|@duckdb\/node-api|pg)\//;

test('requiring the CLI loads no heavy package; its help still lists every command', () => {
  const script = `
    const cli = require('./client/cli.ts');
    const heavy = Object.keys(require.cache).filter((k) => ${HEAVY}.test(k));
    const help = cli.buildProgram().helpInformation();
    process.stdout.write(JSON.stringify({ heavy, help }));`;
  const out = JSON.parse(
    execFileSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], { cwd: ROOT, encoding: 'utf8' }),
  ) as { heavy: string[]; help: string };
  expect(out.heavy).toEqual([]);
  for (const command of ['init', 'run', 'quarantine', 'inspect', 'schedule', 'status', 'rollback'])
    expect(out.help).toContain(command);
});
