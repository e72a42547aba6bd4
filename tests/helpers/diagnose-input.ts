/**
 * A real DiagnoseInput for doctor tests: the spec inferred from a clean file, the baseline profile of
 * its clean load, the drift report of loading the drifted file (in-memory DuckDB), and the drifted
 * file summarised the way the source probe does (bounded samples and patterns).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runLoad } from '../../core/etl/load';
import type { TableProfile } from '../../core/etl/profile';
import type { SourceColumnSummary, SourceSummary } from '../../core/doctor/types';
import { inferSpec } from '../../core/spec/infer';
import { SchemaDriftError } from '../../common/errors';
import type { PipelineSpec } from '../../common/spec';
import type { DriftReport } from '../../common/types';
import { withDuckDB } from '../../lib/duckdb';

/** Summarise a simple CSV (no quoting) the way the source probe does: bounded samples and patterns. */
export function summarizeCsv(file: string): SourceSummary {
  const [header = '', ...lines] = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  const names = header.split(',');
  const rows = lines.map((l) => l.split(','));
  const columns: SourceColumnSummary[] = names.map((name, position) => {
    const values = rows.map((r) => r[position] ?? '');
    const nonEmpty = values.filter((v) => v !== '');
    const distinct = [...new Set(nonEmpty)];
    const patterns = new Map<string, number>();
    for (const v of nonEmpty) {
      const p = v.replace(/[A-Za-z]+/g, 'a').replace(/[0-9]/g, '9');
      patterns.set(p, (patterns.get(p) ?? 0) + 1);
    }
    const lengths = nonEmpty.map((v) => v.length);
    return {
      name,
      position,
      nonEmpty: nonEmpty.length,
      nulls: values.length - nonEmpty.length,
      distinct: distinct.length,
      samples: distinct.slice(0, 8),
      patterns: [...patterns.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([pattern, n]) => ({ pattern, share: n / nonEmpty.length })),
      length: lengths.length
        ? {
            min: Math.min(...lengths),
            max: Math.max(...lengths),
            mean: lengths.reduce((a, b) => a + b, 0) / lengths.length,
          }
        : null,
    };
  });
  return { files: [file], rows: rows.length, complete: true, columns };
}

/** The real drift report of loading `drifted` with `spec` (in-memory DuckDB); throws when it does not drift. */
export async function driftOf(spec: PipelineSpec, drifted: string, allowedRoots: string[]): Promise<DriftReport> {
  return withDuckDB(':memory:', {}, async (conn) => {
    try {
      await runLoad(conn, { spec, specVersion: 1, runId: 'drifted', source: drifted, allowedRoots, commit: false });
    } catch (err) {
      if (err instanceof SchemaDriftError) return err.details as DriftReport;
      throw err;
    }
    throw new Error(`${drifted} loaded without drift`);
  });
}

/** Spec, baseline, drift and source summary of a clean → drifted pair of CSV files. */
export async function realDiagnoseInput(
  name: string,
  clean: string,
  drifted: string,
): Promise<{ spec: PipelineSpec; baseline: TableProfile; drift: DriftReport; source: SourceSummary }> {
  const roots = [path.dirname(path.dirname(clean))];
  const spec = await inferSpec({ name, source: clean, allowedRoots: roots });
  const baseline = await withDuckDB(':memory:', {}, async (conn) => {
    const load = await runLoad(conn, {
      spec,
      specVersion: 1,
      runId: 'clean',
      source: clean,
      allowedRoots: roots,
      commit: false,
    });
    if (!load.profile) throw new Error('the clean load has no profile');
    return load.profile;
  });
  return { spec, baseline, drift: await driftOf(spec, drifted, roots), source: summarizeCsv(drifted) };
}
