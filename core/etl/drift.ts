/**
 * Drift detection: compare a source with the spec before anything is written, and classify each
 * difference so a person (or the doctor) can act on it.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { nameSimilarity } from '../../common/names';
import { withinQuarantineBudget, type PipelineSpec } from '../../common/spec';
import type { DriftDifference, DriftKind, DriftReport, SourceShape } from '../../common/types';
import { ident, inList, lit, queryOne, queryRows } from '../../lib/duckdb';
import type { SniffResult } from './source';
import { FILE_COLUMN, RAW, REJECT_SCANS, REJECTS } from './source';
import { columnSql, type CompiledExpressions } from './sql';

/** Longest sample value kept in a report, and how many samples per difference. */
export const SAMPLE_MAX_LENGTH = 60;
export const SAMPLE_COUNT = 5;

/** Similarity at or above which a missing + unexpected pair is reported as renamed-looking. */
export const RENAME_SIMILARITY = 0.6;

export function clip(value: string, max = SAMPLE_MAX_LENGTH): string {
  // Control characters are shown escaped: a report is read in terminals and web pages.
  const safe = value.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return safe.length > max ? `${safe.slice(0, max)}…` : safe;
}

function looksLikeValue(name: string): boolean {
  const t = name.trim();
  return (
    /^[+-]?[$€£]?[0-9][0-9,]*(\.[0-9]+)?%?$/.test(t) ||
    /^\d{4}-\d{2}-\d{2}/.test(t) ||
    /^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}/.test(t) ||
    /^(true|false|yes|no)$/i.test(t) ||
    /^column\d+$/.test(t)
  );
}

/** Structural comparison of a file's columns with the spec's expected source columns. */
export function compareColumns(spec: PipelineSpec, found: readonly string[], sniff?: SniffResult): DriftDifference[] {
  const expected = spec.source.columns;
  const used = new Set(Object.values(spec.mapping).flatMap((m) => (m.from === undefined ? [] : [m.from])));
  const ignore = new Set(spec.source.ignore);
  const out: DriftDifference[] = [];
  const csv = spec.source.format === 'csv' ? spec.source.csv : undefined;

  if (csv && found.length === 1 && expected.length > 1) {
    const seen = sniff && sniff.delimiter !== csv.delimiter ? sniff.delimiter : undefined;
    out.push({
      kind: 'delimiter-change',
      expected: csv.delimiter,
      ...(seen ? { found: seen } : {}),
      detail: seen
        ? `the file is delimited by ${JSON.stringify(seen)}, the spec reads ${JSON.stringify(csv.delimiter)}`
        : `the file reads as one column with delimiter ${JSON.stringify(csv.delimiter)}`,
    });
    return out;
  }

  const overlap = found.filter((c) => expected.includes(c)).length;
  if (csv?.header && overlap === 0 && found.length === expected.length) {
    const valueLike = found.filter(looksLikeValue).length;
    if ((sniff && !sniff.hasHeader) || valueLike * 2 >= found.length) {
      out.push({
        kind: 'header-missing',
        expected: expected.join(','),
        found: found.map((c) => clip(c, 20)).join(','),
        detail: `the first line holds values, not the column names (${found
          .slice(0, 4)
          .map((c) => JSON.stringify(clip(c, 20)))
          .join(', ')}…)`,
      });
      return out;
    }
  }

  const missing = [...used].filter((c) => !found.includes(c));
  const unexpected = found.filter((c) => !expected.includes(c) && !ignore.has(c));
  const paired = new Set<string>();
  for (const m of missing) {
    let best: { name: string; score: number } | undefined;
    for (const u of unexpected) {
      if (paired.has(u)) continue;
      const score = nameSimilarity(m, u);
      if (score >= RENAME_SIMILARITY && (!best || score > best.score)) best = { name: u, score };
    }
    const contractCol = Object.entries(spec.mapping).find(([, e]) => e.from === m)?.[0];
    if (best) {
      paired.add(best.name);
      out.push({
        kind: 'renamed',
        ...(contractCol ? { column: contractCol } : {}),
        sourceColumn: best.name,
        expected: m,
        found: best.name,
        detail: `column "${m}" is gone and "${best.name}" is new: looks renamed (name similarity ${best.score.toFixed(2)})`,
      });
    } else {
      const required = spec.contract.columns.find((c) => c.name === contractCol)?.required ?? false;
      out.push({
        kind: 'missing-column',
        ...(contractCol ? { column: contractCol } : {}),
        expected: m,
        detail: `${required ? 'required' : 'optional'} column "${m}" is missing from the source`,
      });
    }
  }
  for (const u of unexpected) {
    if (paired.has(u)) continue;
    out.push({
      kind: 'unexpected-column',
      sourceColumn: u,
      found: u,
      detail: `the source has a new column "${clip(u)}"`,
    });
  }
  if (out.length === 0) {
    const foundKnown = found.filter((c) => expected.includes(c));
    const expectedPresent = expected.filter((c) => found.includes(c));
    if (foundKnown.join('\u0000') !== expectedPresent.join('\u0000')) {
      out.push({
        kind: 'reordered',
        expected: expectedPresent.join(','),
        found: foundKnown.join(','),
        detail: `the columns are in a new order: ${foundKnown.map((c) => clip(c, 24)).join(', ')}`,
      });
    }
  }
  return out;
}

/** Per-column value statistics over the staged source. */
export interface ColumnValueStats {
  column: string;
  sourceColumn: string | undefined;
  nonEmpty: number;
  failed: number;
  missing: number;
  samples: string[];
}

/** Count, per contract column, values that fail to parse and required values that are missing (from the text in `__heal_raw`). */
export async function valueStats(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  exprs: CompiledExpressions = {},
): Promise<ColumnValueStats[]> {
  const parts = spec.contract.columns.map((c) => columnSql(spec, c, 'r', exprs));
  const select = parts
    .map(
      (p, i) =>
        `count(${p.text}) AS n${i}, count(*) FILTER (WHERE ${p.fail}) AS f${i}, count(*) FILTER (WHERE ${p.missing}) AS m${i}`,
    )
    .join(', ');
  const totals = (await queryOne<Record<string, number>>(conn, `SELECT ${select} FROM ${RAW} r`)) ?? {};
  return statsFromTotals(conn, spec, parts, totals, RAW, undefined);
}

/** The files of one way of reading a many-file source, cast into `typed` (see load.ts `castFiles`). */
export interface ReadGroup {
  /** The spec these files are read with (the pipeline's, with their per-file overrides). */
  spec: PipelineSpec;
  files: string[];
  /** The view reading them as text (samples of failing values come from it). */
  view: string;
  exprs: CompiledExpressions;
}

/**
 * Per file, per contract column: values that fail to parse and required values missing, counted
 * from the cast rows in `typed` (see castStaged: `__heal_n<i>` = the text is not empty; a value is
 * NULL after the cast exactly when it failed or is missing), with a few failing values as samples.
 * `multi`: rows carry their file in `__file` (else the group's one file is every row's).
 */
export async function valueStatsByFile(
  conn: DuckDBConnection,
  typed: string,
  group: ReadGroup,
  multi: boolean,
): Promise<Map<string, ColumnValueStats[]>> {
  const { spec } = group;
  const parts = spec.contract.columns.map((c) => columnSql(spec, c, 'r', group.exprs));
  const select = parts
    .map((p, i) => {
      const n = `__heal_n${i}`;
      const f = p.fail === 'false' ? '0' : `count(*) FILTER (WHERE ${n} AND ${ident(p.column.name)} IS NULL)`;
      const m = p.missing === 'false' ? '0' : p.missing === 'true' ? 'count(*)' : `count(*) FILTER (WHERE NOT ${n})`;
      return `count(*) FILTER (WHERE ${n}) AS n${i}, ${f} AS f${i}, ${m} AS m${i}`;
    })
    .join(', ');
  const where = multi ? `WHERE __file IN (${inList(group.files)})` : '';
  const rows = await queryRows<Record<string, number> & { __f: string | null }>(
    conn,
    `SELECT __file AS __f, ${select} FROM ${typed} ${where} GROUP BY __file`,
  );
  const out = new Map<string, ColumnValueStats[]>();
  for (const file of group.files) {
    const totals = rows.find((r) => (multi ? r.__f === file : true)) ?? {};
    out.set(file, await statsFromTotals(conn, spec, parts, totals, group.view, multi ? file : undefined));
  }
  return out;
}

/** Stats from count totals (`n<i>`, `f<i>`, `m<i>`), with samples of failing values read from `view` (of `file` only, when given). */
async function statsFromTotals(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  parts: ReturnType<typeof columnSql>[],
  totals: Record<string, unknown>,
  view: string,
  file: string | undefined,
): Promise<ColumnValueStats[]> {
  const out: ColumnValueStats[] = [];
  for (const [i, p] of parts.entries()) {
    const failed = Number(totals[`f${i}`] ?? 0);
    let samples: string[] = [];
    if (failed > 0) {
      const onFile = file === undefined ? '' : ` AND r.${ident(FILE_COLUMN)} = ${lit(file)}`;
      const rows = await queryRows<{ v: string }>(
        conn,
        `SELECT DISTINCT left(${p.text}, 200) AS v FROM (SELECT * FROM ${view} r WHERE ${p.fail}${onFile} LIMIT 1000) r LIMIT ${SAMPLE_COUNT}`,
      );
      samples = rows.map((r) => clip(String(r.v)));
    }
    out.push({
      column: p.column.name,
      sourceColumn: spec.mapping[p.column.name]?.from,
      nonEmpty: Number(totals[`n${i}`] ?? 0),
      failed,
      missing: Number(totals[`m${i}`] ?? 0),
      samples,
    });
  }
  return out;
}

/** Does a failing sample look like a number in another format (currency, thousands, decimal comma, percent)? */
function numberFormatHint(samples: readonly string[]): string | undefined {
  if (samples.length === 0) return undefined;
  if (samples.every((s) => /^[+-]?[$€£¥]\s?[0-9.,]+$|^[0-9.,]+\s?[$€£¥]$/.test(s.trim()))) return 'currency symbols';
  if (samples.every((s) => /^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$/.test(s.trim()))) return 'thousands separators';
  if (
    samples.every(
      (s) => /^[+-]?[0-9]+,[0-9]+$/.test(s.trim()) || /^[+-]?[0-9]{1,3}(\.[0-9]{3})+(,[0-9]+)?$/.test(s.trim()),
    )
  )
    return 'a decimal comma';
  if (samples.every((s) => /^[+-]?[0-9.]+\s?%$/.test(s.trim()))) return 'percent signs';
  return undefined;
}

function dateFormatHint(samples: readonly string[]): string | undefined {
  if (samples.length === 0) return undefined;
  if (samples.every((s) => /^\d{1,2}\/\d{1,2}\/\d{4}$/.test(s.trim()))) return 'dd/mm/yyyy or mm/dd/yyyy';
  if (samples.every((s) => /^\d{1,2}\.\d{1,2}\.\d{4}$/.test(s.trim()))) return 'dd.mm.yyyy';
  if (samples.every((s) => /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(s.trim()))) return 'a date with a time';
  if (samples.every((s) => /^\d{9,13}$/.test(s.trim()))) return 'epoch seconds';
  if (samples.every((s) => /^\d{4}\/\d{2}\/\d{2}$/.test(s.trim()))) return 'yyyy/mm/dd';
  return undefined;
}

/**
 * Value-level differences: a column whose values no longer parse (beyond the quarantine budget) is a
 * type or format change; a required column now empty beyond the budget is `null-values`.
 */
export function classifyValues(
  spec: PipelineSpec,
  stats: readonly ColumnValueStats[],
  rows: number,
): DriftDifference[] {
  const out: DriftDifference[] = [];
  for (const s of stats) {
    const col = spec.contract.columns.find((c) => c.name === s.column);
    if (!col) continue;
    const rate = s.nonEmpty > 0 ? s.failed / s.nonEmpty : 0;
    if (s.failed > 0 && !withinQuarantineBudget(spec.quality, s.failed, s.nonEmpty)) {
      const hint =
        col.type === 'integer' || col.type === 'number'
          ? numberFormatHint(s.samples)
          : col.type === 'date' || col.type === 'timestamp'
            ? dateFormatHint(s.samples)
            : undefined;
      const kind: DriftKind =
        hint || col.type === 'date' || col.type === 'timestamp' || col.type === 'boolean'
          ? 'format-change'
          : 'type-change';
      const format = spec.mapping[col.name]?.format ?? col.format;
      out.push({
        kind,
        column: col.name,
        ...(s.sourceColumn ? { sourceColumn: s.sourceColumn } : {}),
        expected: format ? `${col.type} (${format})` : col.type,
        ...(hint ? { found: hint } : {}),
        failureRate: round(rate),
        samples: s.samples,
        detail: `${pct(rate)} of "${s.sourceColumn ?? col.name}" values do not parse as ${col.type}${format ? ` with format ${format}` : ''}${hint ? ` (they look like ${hint})` : ''}, e.g. ${s.samples
          .slice(0, 3)
          .map((v) => JSON.stringify(v))
          .join(', ')}`,
      });
    }
    const nullRate = rows > 0 ? s.missing / rows : 0;
    if (col.required && s.missing > 0 && !withinQuarantineBudget(spec.quality, s.missing, rows)) {
      out.push({
        kind: 'null-values',
        column: col.name,
        ...(s.sourceColumn ? { sourceColumn: s.sourceColumn } : {}),
        failureRate: round(nullRate),
        detail: `required column "${col.name}" is empty in ${pct(nullRate)} of rows`,
      });
    }
  }
  return out;
}

/** Malformed-line differences from the staged source (of one file of it, when given). */
export async function classifyRejects(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  rejectedLines: number,
  rows: number,
  truncated: boolean,
  file?: string,
): Promise<DriftDifference[]> {
  if (rejectedLines === 0) return [];
  const total = rows + rejectedLines;
  const rate = rejectedLines / total;
  if (truncated && rejectedLines === 1) {
    return [
      {
        kind: 'truncated',
        failureRate: round(rate),
        detail: 'the last line is cut off mid-row (the file looks truncated)',
      },
    ];
  }
  if (withinQuarantineBudget(spec.quality, rejectedLines, total)) return [];
  const onFile = file === undefined ? '' : ` WHERE s.file_path = ${lit(file)}`;
  const samples = await queryRows<{ e: string }>(
    conn,
    `SELECT DISTINCT e.error_type || ': ' || coalesce(e.error_message, '') AS e
     FROM ${REJECTS} e JOIN ${REJECT_SCANS} s USING (scan_id, file_id)${onFile} LIMIT ${SAMPLE_COUNT}`,
  );
  return [
    {
      kind: 'malformed-rows',
      failureRate: round(rate),
      samples: samples.map((s) => clip(s.e, 120)),
      detail: `${pct(rate)} of lines do not split into the expected columns`,
    },
  ];
}

export function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}

export function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.001 && x > 0 ? 3 : 1)}%`;
}

/** Assemble a report from differences. */
export function driftReport(
  spec: PipelineSpec,
  specVersion: number,
  sources: string[],
  differences: DriftDifference[],
  expected: SourceShape,
  found: SourceShape,
): DriftReport {
  const kinds = [...new Set(differences.map((d) => d.kind))];
  const first = differences.slice(0, 3).map((d) => d.detail);
  const more = differences.length > 3 ? ` (+${differences.length - 3} more)` : '';
  return {
    pipeline: spec.name,
    specVersion,
    sources,
    summary: `schema drift in ${spec.name}: ${first.join('; ')}${more}`,
    kinds,
    differences,
    expected,
    found,
    detectedAt: new Date().toISOString(),
  };
}
