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
  /** Add a `filename` column. */
  filename?: boolean;
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
        'all_varchar=true',
        'normalize_names=false',
        'sample_size=-1',
      ];
      if (opts.rejectsTable && opts.rejectsScan) {
        args.push(
          'store_rejects=true',
          `rejects_table=${lit(opts.rejectsTable)}`,
          `rejects_scan=${lit(opts.rejectsScan)}`,
        );
      }
      if (opts.ignoreErrors) args.push('ignore_errors=true');
      if (opts.filename) args.push('filename=true');
      return `read_csv(${args.join(', ')})`;
    }
    case 'json':
      return `read_json(${fileArg}, format='auto'${opts.filename ? ', filename=true' : ''})`;
    case 'parquet':
      return `read_parquet(${fileArg}${opts.filename ? ', filename=true' : ''})`;
  }
}

function cleaned(raw: string, entry: MappingEntry, trim: boolean): string {
  let x = raw;
  for (const s of entry.strip ?? []) x = `replace(${x}, ${lit(s)}, '')`;
  for (const r of entry.replace ?? []) x = `replace(${x}, ${lit(r.from)}, ${lit(r.to)})`;
  if (trim) x = `trim(${x})`;
  return `nullif(${x}, '')`;
}

function formatArg(formats: string | readonly string[]): string {
  return typeof formats === 'string' ? lit(formats) : litList(formats);
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
    case 'date':
      return `CAST(try_strptime(${text}, ${formatArg(format ?? DEFAULT_DATE_FORMAT)}) AS DATE)`;
    case 'timestamp':
      return `CAST(try_strptime(${text}, ${formatArg(format ?? DEFAULT_TIMESTAMP_FORMATS)}) AS TIMESTAMP)`;
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

/** `CREATE TABLE` column list for the contract. */
export function tableColumnsDdl(spec: PipelineSpec): string {
  return spec.contract.columns
    .map((c) => `${ident(c.name)} ${DUCKDB_TYPES[c.type]}${c.required ? ' NOT NULL' : ''}`)
    .join(', ');
}
