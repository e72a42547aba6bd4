/**
 * The per-file side of a load of many files (a glob, a directory): each file is checked on its own
 * (its rows, its malformed lines, its quarantine share), identified by its content (so an append
 * or a merge loads a file once), and the columns the files are split by are found (so a slice is
 * never judged against the whole).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { PipelineSpec } from '../../common/spec';
import { ident, queryRows } from '../../lib/duckdb';
import { REJECT_SCANS, REJECTS } from './source';

/**
 * Share of a column's rows that sit in the file holding most of their value, from which the column
 * counts as one the files are split by (a region per file): random samples of one whole give about
 * 1/files, files by region 0.98 or more.
 */
const PARTITION_CONCENTRATION = 0.9;
/** …provided values repeat (rows per distinct value): a near-unique column is in one file by chance. */
const PARTITION_MIN_ROWS_PER_VALUE = 5;
/** Ranges of the files may overlap by this share of the whole range and still count as disjoint (files by date). */
const PARTITION_RANGE_OVERLAP = 0.02;

/** Content hash of source files (path and bytes): an append's idempotency key. */
export function sourceKey(files: readonly string[]): string {
  const h = crypto.createHash('sha256');
  for (const f of [...files].sort()) {
    h.update(f);
    h.update('\0');
    const fd = fs.openSync(f, 'r');
    try {
      const buf = Buffer.alloc(1 << 20);
      let n: number;
      while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  }
  return h.digest('hex');
}

/** Identity of source files for matching kept rows to a later load: path, size, mtime. */
export function sourceFingerprint(files: readonly string[]): string {
  return files
    .map((f) => {
      const st = fs.statSync(f);
      return `${f}:${st.size}:${st.mtimeMs}`;
    })
    .join('|');
}

/** Rows and malformed lines of each file of a load. */
export interface FileCounts {
  /** Well-formed rows read. */
  rows: number;
  /** Rows flagged for quarantine (a value that does not parse, a required value missing). */
  bad: number;
  /** Malformed lines (CSV): rows DuckDB could not split into the expected columns. */
  rejected: number;
  /** Line number of the last malformed line (to tell a cut-off last line). */
  lastRejected: number | null;
}

/** Per-file counts from the cast rows (`__file`; NULL for a one-file source) and the malformed lines recorded. */
export async function countByFile(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  typed: string,
  files: readonly string[],
): Promise<Map<string, FileCounts>> {
  const out = new Map<string, FileCounts>(files.map((f) => [f, { rows: 0, bad: 0, rejected: 0, lastRejected: null }]));
  const only = files.length === 1 ? (files[0] as string) : undefined;
  const rows = await queryRows<{ f: string | null; n: number; bad: number }>(
    conn,
    `SELECT __file AS f, count(*) AS n, count(*) FILTER (WHERE __bad) AS bad FROM ${typed} GROUP BY __file`,
  );
  for (const r of rows) {
    const c = out.get(r.f ?? only ?? '');
    if (c) Object.assign(c, { rows: Number(r.n), bad: Number(r.bad) });
  }
  if (spec.source.format === 'csv') {
    const rej = await queryRows<{ f: string; n: number; last: number | null }>(
      conn,
      `SELECT s.file_path AS f, count(DISTINCT e.line) AS n, max(e.line) AS last FROM ${REJECTS} e JOIN ${REJECT_SCANS} s USING (scan_id, file_id) GROUP BY s.file_path`,
    );
    for (const r of rej) {
      const c = out.get(r.f);
      if (c) Object.assign(c, { rejected: Number(r.n), lastRejected: r.last == null ? null : Number(r.last) });
    }
  }
  return out;
}

/**
 * Contract columns the files of this load are split by: a category whose every value sits (almost)
 * in one file — a region per file — or a number or date whose ranges do not overlap from file to
 * file — a day per file. Their mix or range moves between a file and the whole, or a batch and the
 * baseline, by construction. Needs two files or more.
 */
export async function findPartitionKeys(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  typed: string,
  files: readonly string[],
): Promise<string[]> {
  if (files.length < 2) return [];
  const keys: string[] = [];
  for (const c of spec.contract.columns) {
    const x = ident(c.name);
    const good = `(SELECT __file, ${x} AS v FROM ${typed} WHERE NOT __bad AND ${x} IS NOT NULL)`;
    if (c.type === 'string' || c.type === 'boolean') {
      const [r] = await queryRows<{ rows: number; values: number; top: number }>(
        conn,
        `SELECT sum(n) AS rows, count(*) AS values, sum(top) AS top FROM (
           SELECT v, sum(n) AS n, max(n) AS top FROM (SELECT v, __file, count(*) AS n FROM ${good} GROUP BY ALL) GROUP BY v)`,
      );
      const rows = Number(r?.rows ?? 0);
      const values = Number(r?.values ?? 0);
      if (
        rows > 0 &&
        rows / values >= PARTITION_MIN_ROWS_PER_VALUE &&
        Number(r?.top ?? 0) / rows >= PARTITION_CONCENTRATION
      )
        keys.push(c.name);
    } else {
      const ranges = await queryRows<{ lo: number; hi: number }>(
        conn,
        `SELECT min(${c.type === 'date' || c.type === 'timestamp' ? `epoch(v)` : 'v'})::DOUBLE AS lo, max(${c.type === 'date' || c.type === 'timestamp' ? `epoch(v)` : 'v'})::DOUBLE AS hi FROM ${good} GROUP BY __file ORDER BY lo`,
      );
      if (ranges.length < 2) continue;
      const whole = Math.max(...ranges.map((r) => Number(r.hi))) - Number(ranges[0]?.lo ?? 0);
      let overlap = 0;
      for (let i = 1; i < ranges.length; i++)
        overlap += Math.max(0, Math.min(Number(ranges[i - 1]?.hi), Number(ranges[i]?.hi)) - Number(ranges[i]?.lo));
      if (whole > 0 && overlap / whole <= PARTITION_RANGE_OVERLAP) keys.push(c.name);
    }
  }
  return keys;
}
