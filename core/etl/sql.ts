/**
 * Pure SQL builders for the ETL. Every identifier and literal goes through `ident`/`lit`: column
 * names and values are data, never SQL. Nothing here runs a query.
 */
import type { ContractColumn, MappingEntry, PipelineSpec } from '../../common/spec';
import { ident, lit, litList } from '../../lib/duckdb';

/** Timestamp formats tried when a timestamp column has no format. */
export const DEFAULT_TIMESTAMP_FORMATS = [
  '%Y-%m-%d %H:%M:%S',
  '%Y-%m-%d %H:%M:%S.%f',
  '%Y-%m-%d %H:%M',
  '%Y-%m-%dT%H:%M:%S',
  '%Y-%m-%dT%H:%M:%S.%f',
];
export const DEFAULT_DATE_FORMAT = '%Y-%m-%d';

/**
 * How exports spell a missing value (R, pandas, Excel, SQL dumps, hand-made sheets). None of them
 * is a number, date or boolean, so in such a column a value that is one of these is a missing
 * value written out; in a text column it may be data ("NA" is Namibia), which heal never guesses.
 */
export const NULL_TOKENS: readonly string[] = [
  'NA',
  'N/A',
  'n/a',
  'na',
  'null',
  'NULL',
  'Null',
  'None',
  'none',
  'nil',
  'NaN',
  'nan',
  '#N/A',
  '-',
  '--',
  '.',
];

/** Is `value` (trimmed) a missing value spelled out ({@link NULL_TOKENS})? */
export const isNullToken = (value: string): boolean => NULL_TOKENS.includes(value.trim());
export const DEFAULT_TRUE_VALUES = ['true', 't', '1'];
export const DEFAULT_FALSE_VALUES = ['false', 'f', '0'];

/** DuckDB type of each contract type in the warehouse. */
export const DUCKDB_TYPES = {
  string: 'VARCHAR',
  integer: 'BIGINT',
  number: 'DOUBLE',
  boolean: 'BOOLEAN',
  date: 'DATE',
  timestamp: 'TIMESTAMP',
} as const;

export interface ReaderOptions {
  /** Extra read_csv options, e.g. store_rejects. */
  rejectsTable?: string;
  rejectsScan?: string;
  /** Add a column naming each row's file: `filename`, or the name given. */
  filename?: boolean | string;
  /**
   * CSV: read exactly these columns, in order, as text, with no sniffing (for text heal wrote
   * itself, e.g. quarantined lines replayed: one line per file, no header).
   */
  columns?: readonly string[];
  /** Skip lines that do not parse (CSV), e.g. to read the header of a file with a ragged row. */
  ignoreErrors?: boolean;
}

/** The table-function call that reads the spec's source, every column as text. */
export function readerCall(spec: PipelineSpec, files: readonly string[], opts: ReaderOptions = {}): string {
  const fileArg = files.length === 1 ? lit(files[0] ?? '') : litList(files);
  switch (spec.source.format) {
    case 'csv': {
      const c = spec.source.csv;
      const args = [
        fileArg,
        `delim=${lit(c.delimiter)}`,
        `header=${c.header}`,
        `quote=${lit(c.quote)}`,
        `escape=${lit(c.escape)}`,
        `skip=${c.skipRows}`,
        `encoding=${lit(c.encoding)}`,
        `nullstr=${litList(c.nullStrings)}`,
        ...(opts.columns
          ? [`columns={${opts.columns.map((n) => `${lit(n)}: 'VARCHAR'`).join(', ')}}`, 'auto_detect=false']
          : ['all_varchar=true', 'normalize_names=false', 'sample_size=-1']),
      ];
      if (opts.rejectsTable && opts.rejectsScan) {
        args.push(
          'store_rejects=true',
          `rejects_table=${lit(opts.rejectsTable)}`,
          `rejects_scan=${lit(opts.rejectsScan)}`,
        );
      }
      if (opts.ignoreErrors) args.push('ignore_errors=true');
      if (opts.filename) args.push(fileNameArg(opts.filename));
      return `read_csv(${args.join(', ')})`;
    }
    case 'json':
      return `read_json(${fileArg}, format='auto'${opts.filename ? `, ${fileNameArg(opts.filename)}` : ''})`;
    case 'parquet':
      return `read_parquet(${fileArg}${opts.filename ? `, ${fileNameArg(opts.filename)}` : ''})`;
  }
}

const fileNameArg = (f: true | string): string => (f === true ? 'filename=true' : `filename=${lit(f)}`);

function cleaned(raw: string, entry: MappingEntry, trim: boolean): string {
  let x = raw;
  for (const s of entry.strip ?? []) x = `replace(${x}, ${lit(s)}, '')`;
  for (const r of entry.replace ?? []) x = `replace(${x}, ${lit(r.from)}, ${lit(r.to)})`;
  if (trim) x = `trim(${x})`;
  // Null tokens are matched on the value as written (trimmed), before strip/replace can turn "-"
  // or "." into something else.
  const nulls = entry.nullValues ?? [];
  if (nulls.length)
    return `CASE WHEN trim(${raw}) IN (${nulls.map(lit).join(', ')}) THEN NULL ELSE nullif(${x}, '') END`;
  return `nullif(${x}, '')`;
}

function formatArg(formats: string | readonly string[]): string {
  return typeof formats === 'string' ? lit(formats) : litList(formats);
}

/** A strptime format that reads a UTC offset (`%z`: +02:00, +0200) or a zone name (`%Z`: UTC). */
export const hasZone = (format: string): boolean => /%[zZ]/.test(format.replace(/%%/g, ''));

/**
 * Parse `text` with `format`. A format with a zone gives DuckDB a TIMESTAMPTZ: it is brought to
 * UTC explicitly with `timezone('UTC', …)`, which returns the plain TIMESTAMP of the UTC instant;
 * a bare CAST would use the session's TimeZone setting (the machine's zone by default).
 */
function parseTime(text: string, format: string | readonly string[]): string {
  const parsed = `try_strptime(${text}, ${formatArg(format)})`;
  return typeof format === 'string' && hasZone(format) ? `timezone('UTC', ${parsed})` : parsed;
}

/** SQL that casts a cleaned text expression to the contract type; NULL when it does not parse. */
export function castExpression(column: ContractColumn, entry: MappingEntry, text: string): string {
  const format = entry.format ?? column.format;
  switch (column.type) {
    case 'string':
      return text;
    case 'integer':
      return `CASE WHEN regexp_full_match(${text}, '[+-]?[0-9]+(\\.0*)?') THEN TRY_CAST(${text} AS BIGINT) END`;
    case 'number':
      return `CASE WHEN regexp_full_match(${text}, '[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?') THEN TRY_CAST(${text} AS DOUBLE) END`;
    case 'boolean': {
      const t = (entry.trueValues ?? DEFAULT_TRUE_VALUES).map((v) => v.toLowerCase());
      const f = (entry.falseValues ?? DEFAULT_FALSE_VALUES).map((v) => v.toLowerCase());
      return `CASE WHEN lower(${text}) IN (${t.map(lit).join(', ') || 'NULL'}) THEN true WHEN lower(${text}) IN (${f.map(lit).join(', ') || 'NULL'}) THEN false END`;
    }
    case 'date': {
      const f = format ?? DEFAULT_DATE_FORMAT;
      const parsed = parseTime(text, f);
      // A date read through a format with a time of day keeps midnights only: any other time would
      // be cut off without a trace, whichever doctor (or memory) chose the format. Such values fail
      // to parse, so they are drift (a widening to timestamp keeps them) or quarantined, never lost.
      if (!(typeof f === 'string' ? [f] : f).some((x) => /%[HIklMSfgnpTXRrcsz]/.test(x)))
        return `CAST(${parsed} AS DATE)`;
      return `CASE WHEN CAST(${parsed} AS TIME) = TIME '00:00:00' THEN CAST(${parsed} AS DATE) END`;
    }
    case 'timestamp':
      return `CAST(${parseTime(text, format ?? DEFAULT_TIMESTAMP_FORMATS)} AS TIMESTAMP)`;
  }
}

function defaultLiteral(column: ContractColumn, value: MappingEntry['default']): string {
  if (value === null || value === undefined) return `CAST(NULL AS ${DUCKDB_TYPES[column.type]})`;
  return `CAST(${lit(String(value))} AS ${DUCKDB_TYPES[column.type]})`;
}

/** The per-column SQL pieces: its typed value, and the conditions that send its row to quarantine. */
export interface ColumnSql {
  column: ContractColumn;
  /** Typed value (NULL when missing or unparseable). */
  value: string;
  /** The text before the cast, for messages (NULL when empty). */
  text: string;
  /** True when there is text but it does not parse. */
  fail: string;
  /** True when a required value is missing. */
  missing: string;
}

/** Compiled `derive` expressions, by contract column: SQL rendered from a validated tree (see doctor/expression.ts). */
export type CompiledExpressions = Readonly<Record<string, string>>;

/** Build the SQL for one contract column, reading from `rel` (a relation alias of the raw stage). */
export function columnSql(
  spec: PipelineSpec,
  column: ContractColumn,
  rel: string,
  exprs: CompiledExpressions = {},
): ColumnSql {
  const entry = spec.mapping[column.name] ?? {};
  if (entry.expr !== undefined) {
    const compiled = exprs[column.name];
    if (compiled === undefined) throw new Error(`internal: the expression of ${column.name} was not compiled`);
    return columnFromRaw(spec, column, entry, `CAST((${compiled}) AS VARCHAR)`);
  }
  if (entry.from === undefined) {
    const value = defaultLiteral(column, entry.default);
    return {
      column,
      value,
      text: 'NULL',
      fail: 'false',
      missing: column.required && entry.default == null ? 'true' : 'false',
    };
  }
  return columnFromRaw(spec, column, entry, `${rel}.${ident(entry.from)}`);
}

function columnFromRaw(_spec: PipelineSpec, column: ContractColumn, entry: MappingEntry, raw: string): ColumnSql {
  const text = cleaned(raw, entry, column.type !== 'string');
  const cast = castExpression(column, entry, text);
  const hasDefault = entry.default !== undefined && entry.default !== null;
  const value = hasDefault
    ? `coalesce(${cast}, CASE WHEN ${text} IS NULL THEN ${defaultLiteral(column, entry.default)} END)`
    : cast;
  return {
    column,
    value,
    text,
    // Text never fails to be text: no per-row check for string columns.
    fail: column.type === 'string' ? 'false' : `(${text} IS NOT NULL AND (${cast}) IS NULL)`,
    missing: column.required && !hasDefault ? `(${text} IS NULL)` : 'false',
  };
}

/**
 * The contract columns whose cast rows keep a per-row "text not empty" flag (`__heal_n<i>`): those
 * with a default, in the pipeline's mapping or in any file's override (their value is set even
 * where their text is empty). Decided on the pipeline's spec, so every read group of a load (each
 * with its own overrides) writes the same columns. For the others a good row's value is NULL
 * exactly when its text was empty, and a flagged row keeps its flags in one text of '0'/'1' per
 * column (`__heal_nmask`): a flag column per contract column would hold ~4 bytes a row for the few
 * rows that need it.
 */
export function textFlagColumns(spec: PipelineSpec): ReadonlySet<string> {
  const hasDefault = (e: MappingEntry | undefined) => e?.default !== undefined && e.default !== null;
  return new Set(
    spec.contract.columns
      .filter(
        (c) =>
          hasDefault(spec.mapping[c.name]) ||
          spec.source.files.some((o) => hasDefault(o.mapping?.[c.name] as MappingEntry | undefined)),
      )
      .map((c) => c.name),
  );
}

/**
 * What a total, subtotal or footer label looks like (RE2, case-insensitive, the whole value but
 * surrounding spaces): "Total", "Grand total", "Subtotal:", "North total", "(c) 2026 Acme",
 * "Rows: 120", "Generated on 2026-01-01". Used by drift detection to notice such a row even when
 * every field of it parses; a spec declares the labels it treats as such (`summaryLabels`).
 * Never "Total Gym" (a label starting with "total" followed by more words is a name), nor
 * "Generated on demand" or "(c) option" (a footer has its date or year).
 */
export const SUMMARY_LABEL_PATTERN =
  '((grand|sub)[ -]?)?totals?:?|.{1,40}[ -](sub)?totals?:?|(©|\\(c\\)|copyright)\\s.*(19|20)[0-9]{2}.*|(rows|records|row count)\\s*:\\s*[0-9][0-9,.]*|(report )?generated (on|at):? [0-9].*|end of (report|file|data)';

/**
 * SQL: does the text `x` read as a total or footer label ({@link SUMMARY_LABEL_PATTERN})? One
 * case-insensitive match of the value as it is (no lower()/trim() copies: twice as fast over
 * millions of rows).
 */
export function summaryLabelSql(x: string): string {
  return `regexp_full_match(${x}, ${lit(`(?i)\\s*(?:${SUMMARY_LABEL_PATTERN})\\s*`)})`;
}

/**
 * SQL text to append to a quarantine reason for the value `text`: says the value looks like a total
 * or footer label (a "Total" row in a date column fails its cast and is quarantined anyway; the
 * reason then tells why it is there). Only evaluated for rows already going to quarantine.
 */
export function totalHint(text: string): string {
  return `CASE WHEN ${summaryLabelSql(text)} THEN ' (a total or footer label: a summary row, not data)' ELSE '' END`;
}

/**
 * The rows a spec declares totals or footers (`summaryLabels` of a mapping entry), as a condition
 * on `rel`, and a reason naming the column and its value; undefined when it declares none.
 */
export function summarySql(
  spec: PipelineSpec,
  rel: string,
): { when: string; reason: string; columns: string[] } | undefined {
  const parts = spec.contract.columns.flatMap((c) => {
    const e = spec.mapping[c.name];
    if (!e?.summaryLabels?.length || e.from === undefined) return [];
    const x = `${rel}.${ident(e.from)}`;
    // Never NULL (an empty label cell): a NULL flag would neither load the row nor quarantine it.
    const when = `coalesce(lower(trim(${x})) IN (${e.summaryLabels.map((l) => lit(l.trim().toLowerCase())).join(', ')}), false)`;
    return [
      {
        when,
        reason: `CASE WHEN ${when} THEN ${lit(`${c.name}: '`)} || trim(${x}) || '''' END`,
        column: `CASE WHEN ${when} THEN ${lit(c.name)} END`,
      },
    ];
  });
  if (!parts.length) return undefined;
  return {
    when: `(${parts.map((p) => p.when).join(' OR ')})`,
    reason: `'summary row (a total, subtotal or footer, not data): ' || concat_ws(', ', ${parts.map((p) => p.reason).join(', ')})`,
    columns: parts.map((p) => p.column),
  };
}

/** `CREATE TABLE` column list for the contract. */
export function tableColumnsDdl(spec: PipelineSpec): string {
  return spec.contract.columns
    .map((c) => `${ident(c.name)} ${DUCKDB_TYPES[c.type]}${c.required ? ' NOT NULL' : ''}`)
    .join(', ');
}
