/**
 * Reading and trimming quarantine tables (`<table>__quarantine`), in SQL both warehouses speak:
 * the same statements run on DuckDB and on PostgreSQL, with their own placeholders.
 */
import type { QuarantinedRow, QuarantineFilter } from './index';

/** A statement and its parameters, `$1`-style (DuckDB's prepared statements and pg both take them). */
export interface Statement {
  sql: string;
  params: (string | number)[];
}

const COLUMNS = `run_id, spec_version, source_file, line, column_name, reason, raw_row, CAST(quarantined_at AS VARCHAR) AS quarantined_at`;

function where(filter: QuarantineFilter): Statement {
  const parts: string[] = [];
  const params: (string | number)[] = [];
  if (filter.runId !== undefined) {
    params.push(filter.runId);
    parts.push(`run_id = $${params.length}`);
  }
  if (filter.reason !== undefined) {
    params.push(`%${filter.reason.toLowerCase()}%`);
    parts.push(`lower(reason) LIKE $${params.length}`);
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** The rows a filter selects, newest first, and their count (`q` is the quoted table name). */
export function listStatements(q: string, filter: QuarantineFilter): { rows: Statement; total: Statement } {
  const w = where(filter);
  return {
    rows: {
      sql: `SELECT ${COLUMNS} FROM ${q} ${w.sql} ORDER BY quarantined_at DESC, run_id, source_file, line LIMIT ${Math.max(0, Math.floor(filter.limit))}`,
      params: w.params,
    },
    total: { sql: `SELECT count(*) AS n FROM ${q} ${w.sql}`, params: w.params },
  };
}

/** Delete the rows quarantined before a time. */
export function purgeStatement(q: string, before: Date): Statement {
  return {
    sql: `DELETE FROM ${q} WHERE quarantined_at < CAST($1 AS TIMESTAMP)`,
    params: [before.toISOString().replace('T', ' ').replace('Z', '')],
  };
}

/** A result row as the CLI shows it. */
export function quarantinedRow(r: Record<string, unknown>): QuarantinedRow {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    runId: String(r['run_id']),
    specVersion: Number(r['spec_version']),
    sourceFile: (r['source_file'] as string | null) ?? null,
    line: num(r['line']),
    column: (r['column_name'] as string | null) ?? null,
    reason: String(r['reason'] ?? ''),
    rawRow: (r['raw_row'] as string | null) ?? null,
    quarantinedAt: String(r['quarantined_at']),
  };
}
