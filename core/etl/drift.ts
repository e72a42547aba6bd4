/**
 * Drift detection: compare a source with the spec before anything is written, and classify each
 * difference so a person (or the doctor) can act on it.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { nameSimilarity } from '../../common/names';
import { withinQuarantineBudget, type PipelineSpec } from '../../common/spec';
import type { DriftDifference, DriftKind, DriftReport, SourceShape, TableProfile } from '../../common/types';
import { ident, inList, lit, queryOne, queryRows } from '../../lib/duckdb';
import type { SniffResult } from './source';
import { FILE_COLUMN, RAW, REJECT_SCANS, REJECTS } from './source';
import { columnSql, isNullToken, summaryLabelSql, type CompiledExpressions } from './sql';

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
  /** Columns whose cast rows keep a per-row text flag: `textFlagColumns` of the pipeline's spec. */
  textFlags: ReadonlySet<string>;
}

/**
 * Per file, per contract column: values that fail to parse and required values missing, counted
 * from the cast rows in `typed` (see castSelect and textFlagColumns: whether a value's text was not
 * empty; a value is NULL after the cast exactly when it failed or is missing), with a few failing
 * values as samples.
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
  // Two passes over the cast rows: the good ones need plain counts only (a value there is NULL
  // exactly when its text was empty, and none failed), the few flagged ones their text flags.
  const good = parts
    .map((p, i) => {
      const flag = group.textFlags.has(p.column.name) ? `__heal_n${i}` : undefined;
      const n = flag ? `count(*) FILTER (WHERE ${flag})` : `count(${ident(p.column.name)})`;
      const m =
        p.missing === 'false'
          ? '0'
          : p.missing === 'true'
            ? 'count(*)'
            : flag
              ? `count(*) FILTER (WHERE NOT ${flag})`
              : `count(*) - count(${ident(p.column.name)})`;
      return `${n} AS n${i}, 0 AS f${i}, ${m} AS m${i}`;
    })
    .join(', ');
  const flagged = parts
    .map((p, i) => {
      const n = group.textFlags.has(p.column.name) ? `__heal_n${i}` : `substr(__heal_nmask, ${i + 1}, 1) = '1'`;
      const f = p.fail === 'false' ? '0' : `count(*) FILTER (WHERE ${n} AND ${ident(p.column.name)} IS NULL)`;
      const m = p.missing === 'false' ? '0' : p.missing === 'true' ? 'count(*)' : `count(*) FILTER (WHERE NOT ${n})`;
      return `count(*) FILTER (WHERE ${n}) AS n${i}, ${f} AS f${i}, ${m} AS m${i}`;
    })
    .join(', ');
  const files = multi ? ` AND __file IN (${inList(group.files)})` : '';
  const rows = [
    ...(await queryRows<Record<string, number> & { __f: string | null }>(
      conn,
      `SELECT __file AS __f, ${good} FROM ${typed} WHERE __heal_nmask IS NULL${files} GROUP BY __file`,
    )),
    ...(await queryRows<Record<string, number> & { __f: string | null }>(
      conn,
      `SELECT __file AS __f, ${flagged} FROM ${typed} WHERE __heal_nmask IS NOT NULL${files} GROUP BY __file`,
    )),
  ];
  const out = new Map<string, ColumnValueStats[]>();
  for (const file of group.files) {
    const totals: Record<string, number> = {};
    for (const r of rows.filter((x) => (multi ? x.__f === file : true)))
      for (const [k, v] of Object.entries(r)) if (k !== '__f') totals[k] = (totals[k] ?? 0) + Number(v);
    out.set(file, await statsFromTotals(conn, spec, parts, totals, group.view, multi ? file : undefined));
  }
  return out;
}

/** Text columns (the first ones of the file) where a total row's label is looked for. */
export const SUMMARY_LABEL_COLUMNS = 2;

/**
 * Rows about to load that look like totals or footers: a text column reading "Total", "Grand
 * total", "(c) 2026 …" (`SUMMARY_LABEL_PATTERN` in sql.ts), per file, from the cast rows in `typed`
 * (rows already going to quarantine aside). Such a row often parses field by field ("Total" in a
 * text column, a sum in a number column) and would load as data: it is drift, found before
 * anything is written. A label the baseline already holds for the column (a category "Total")
 * is data, not a total row.
 */
export async function summaryRowsByFile(
  conn: DuckDBConnection,
  typed: string,
  group: ReadGroup,
  multi: boolean,
  baseline?: TableProfile | null,
): Promise<Map<string, DriftDifference[]>> {
  const out = new Map<string, DriftDifference[]>(group.files.map((f) => [f, []]));
  const { spec } = group;
  // Where spreadsheets put a row's label: the first two text columns of the file (a regular
  // expression over every text column of millions of rows would cost seconds), and any column the
  // spec already names labels for.
  const at = (c: { name: string }) => spec.source.columns.indexOf(spec.mapping[c.name]?.from ?? '');
  const cols = spec.contract.columns
    .filter((c) => c.type === 'string' && at(c) >= 0)
    .sort((a, b) => at(a) - at(b))
    .filter((c, i) => i < SUMMARY_LABEL_COLUMNS || spec.mapping[c.name]?.summaryLabels?.length);
  if (!cols.length) return out;
  const match = (c: string) => summaryLabelSql(ident(c));
  const where = `NOT __bad${multi ? ` AND __file IN (${inList(group.files)})` : ''}`;
  const counts = await queryRows<Record<string, number> & { __f: string | null }>(
    conn,
    `SELECT __file AS __f, count(*) AS __t, ${cols.map((c, i) => `count(*) FILTER (WHERE ${match(c.name)}) AS s${i}`).join(', ')} FROM ${typed} WHERE ${where} GROUP BY __file`,
  );
  for (const file of group.files) {
    const totals = counts.find((r) => (multi ? r.__f === file : true));
    for (const [i, c] of cols.entries()) {
      if (!Number(totals?.[`s${i}`] ?? 0)) continue;
      const known = new Set(
        (baseline?.columns.find((b) => b.name === c.name)?.topValues ?? []).map((t) => t.value.trim().toLowerCase()),
      );
      const labels = (
        await queryRows<{ v: string; n: number }>(
          conn,
          `SELECT trim(${ident(c.name)}) AS v, count(*) AS n FROM ${typed} WHERE ${where}${multi ? ` AND __file = ${lit(file)}` : ''} AND ${match(c.name)} GROUP BY v ORDER BY n DESC, v LIMIT 20`,
        )
      ).filter((r) => !known.has(r.v.toLowerCase()));
      const n = labels.reduce((a, r) => a + Number(r.n), 0);
      // With no baseline to tell a category from a total, many rows reading "Total" are data (a
      // column of Partial/Total): only a few, within the quarantine budget, are taken for totals.
      const judged = baseline?.columns.some((b) => b.name === c.name) ?? false;
      if (!n || (!judged && !withinQuarantineBudget(spec.quality, n, Number(totals?.['__t'] ?? 0)))) continue;
      const shown = labels.slice(0, SAMPLE_COUNT).map((r) => clip(r.v));
      out.get(file)?.push({
        kind: 'summary-rows',
        column: c.name,
        ...(spec.mapping[c.name]?.from ? { sourceColumn: spec.mapping[c.name]?.from } : {}),
        // Not the labels themselves: `found` goes into fix memory's signature, which holds no value.
        found: 'total or footer labels',
        failureRate: round(n / Math.max(Number(totals?.['__t'] ?? 0), 1)),
        samples: shown,
        detail: `${n} row${n === 1 ? '' : 's'} look${n === 1 ? 's' : ''} like a total or footer, not data: "${spec.mapping[c.name]?.from ?? c.name}" is ${shown.map((v) => JSON.stringify(v)).join(', ')}; ${n === 1 ? 'it' : 'they'} would load as data`,
      });
    }
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
    // Values that fail only because a missing value is spelled out ("NA", "-"). In an optional
    // column that is drift even within the budget: declared (`nullValues`), those rows load with
    // NULL instead of going to quarantine. In a required column a missing value is one: quarantined
    // within the budget, `null-values` beyond it, never loaded.
    const tokens = col.type !== 'string' && s.failed > 0 && s.samples.length > 0 && s.samples.every(isNullToken);
    if (tokens && col.required) {
      if (!withinQuarantineBudget(spec.quality, s.failed, rows))
        out.push({
          kind: 'null-values',
          column: col.name,
          ...(s.sourceColumn ? { sourceColumn: s.sourceColumn } : {}),
          found: 'missing-value tokens',
          failureRate: round(rows > 0 ? s.failed / rows : 0),
          samples: s.samples,
          detail: `required column "${col.name}" holds missing-value tokens (${s.samples.map((v) => JSON.stringify(v)).join(', ')}) in ${pct(rows > 0 ? s.failed / rows : 0)} of rows: its values are missing`,
        });
    } else if (s.failed > 0 && (tokens || !withinQuarantineBudget(spec.quality, s.failed, s.nonEmpty))) {
      const hint = tokens
        ? 'missing-value tokens'
        : col.type === 'integer' || col.type === 'number'
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
  // Lines with bytes not in the file's encoding, in a file that otherwise reads (the file was
  // judged not latin-1 by its bytes, see load.ts readFileHeader): too many to quarantine, and no
  // other encoding reads every line. `found: mixed` tells the doctor not to switch encodings.
  const encoding = spec.source.format === 'csv' ? spec.source.csv.encoding : 'utf-8';
  const undecodable =
    (
      await queryOne<{ n: number }>(
        conn,
        `SELECT count(DISTINCT (e.file_id, e.line)) AS n FROM ${REJECTS} e JOIN ${REJECT_SCANS} s USING (scan_id, file_id)
         WHERE e.error_type = 'INVALID ENCODING'${onFile.replace(' WHERE', ' AND')}`,
      )
    )?.n ?? 0;
  if (Number(undecodable) * 2 >= rejectedLines) {
    return [
      {
        kind: 'encoding-change',
        expected: encoding,
        found: 'mixed',
        failureRate: round(rate),
        samples: samples.map((s) => clip(s.e, 120)),
        detail: `${undecodable} lines hold bytes that are not ${encoding}, the others are ${encoding}: more than the quarantine budget allows, and no one encoding reads every line`,
      },
    ];
  }
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
