/** Temp state directories, real drift cases and warehouse reads for tests. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inferSpec } from '../../core/spec/infer';
import { specStoreFor } from '../../store/spec-store';
import { parseSpec, type ColumnType, type PipelineSpec } from '../../common/spec';
import { loadConfig, type HealConfig } from '../../lib/config';
import { queryRows, withDuckDB } from '../../lib/duckdb';

/** The example drift cases kept in the repository (`tests/fixtures/drift-cases`). */
export const DRIFT_CASES = path.resolve(__dirname, '../fixtures/drift-cases');

export function driftCase(name: string, file: 'clean.csv' | 'drifted.csv'): string {
  return path.join(DRIFT_CASES, name, file);
}

export function tempDir(prefix = 'heal-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A config for a fresh state directory; sources allowed under the temp dir and the shared cases. */
export function testConfig(home: string, extra: NodeJS.ProcessEnv = {}): HealConfig {
  return loadConfig(
    { HEAL_HOME: home, HEAL_ALLOWED_ROOTS: [home, os.tmpdir(), DRIFT_CASES].join(path.delimiter), ...extra },
    home,
  );
}

/** Create a pipeline from a sample file, as `heal init` does. */
export async function initPipeline(config: HealConfig, name: string, source: string): Promise<void> {
  const spec = await inferSpec({ name, source, allowedRoots: config.allowedRoots });
  specStoreFor(config).create(spec);
}

/** All rows of a table, ordered by every column, as JSON-safe values. */
export async function tableRows(warehouse: string, table: string): Promise<Record<string, unknown>[]> {
  return withDuckDB(warehouse, {}, (conn) => queryRows(conn, `SELECT * FROM "${table}" ORDER BY ALL`)).then((rows) =>
    rows.map(
      (r) =>
        JSON.parse(JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))) as Record<
          string,
          unknown
        >,
    ),
  );
}

/** A minimal valid spec whose contract is `columns`, each read from the source column of the same name. */
export function columnsSpec(columns: readonly { name: string; type: ColumnType }[]): PipelineSpec {
  const res = parseSpec({
    apiVersion: 'heal/v1',
    name: 'p',
    source: { path: '/x.csv', format: 'csv', columns: columns.map((c) => c.name) },
    contract: { columns },
    mapping: Object.fromEntries(columns.map((c) => [c.name, c.name])),
    target: { table: 't' },
  });
  if (!res.ok) throw new Error(res.issues.join('; '));
  return res.spec;
}
