/**
 * `heal init`: infer a spec from a sample file with DuckDB's sniffer and type inference.
 * A column with no nulls in the sample is required; numbers with leading zeros stay text; a column
 * whose values the load would not parse stays text, so the spec always loads its own sample.
 */
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { SourceUnreadableError } from '../../common/errors';
import { toIdentifier } from '../../common/names';
import { SPEC_API_VERSION, parseSpec, type ColumnType, type PipelineSpec, type SpecInput } from '../../common/spec';
import { ident, lit, queryOne, queryRows, withDuckDB } from '../../lib/duckdb';
import { checkSourceFile, formatFromName, isGlob } from '../../lib/paths';
import { valueStats } from '../etl/drift';
import { fileFacts, headerWidth, MAX_SOURCE_COLUMNS, resolveSourceFiles, sniffCsv, stageSource } from '../etl/source';
import { DEFAULT_DATE_FORMAT } from '../etl/sql';

/** Options of {@link inferSpec}. */
export interface InferOptions {
  name: string;
  /** Sample file (or glob; the first file is sampled). */
  source: string;
  allowedRoots: readonly string[];
  /** Target table. @default the pipeline name, as an identifier */
  table?: string;
  /** Columns to make optional even when the sample has no nulls. @default [] */
  optional?: string[];
  /** Force the format instead of guessing from the extension. */
  format?: 'csv' | 'json' | 'parquet';
}

function contractType(duckType: string): ColumnType {
  const t = duckType.toUpperCase();
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$/.test(t)) return 'integer';
  if (/^(FLOAT|DOUBLE|REAL)$/.test(t) || t.startsWith('DECIMAL')) return 'number';
  if (t === 'BOOLEAN') return 'boolean';
  if (t === 'DATE') return 'date';
  if (t.startsWith('TIMESTAMP')) return 'timestamp';
  return 'string';
}

interface ColumnGuess {
  source: string;
  type: ColumnType;
  format?: string;
  nulls: number;
}

async function readerFor(conn: DuckDBConnection, file: string, format: 'csv' | 'json' | 'parquet') {
  if (format === 'csv') {
    const sniff = await sniffCsv(conn, file);
    if (!sniff) throw new SourceUnreadableError(`${file}: DuckDB could not read it as CSV`);
    return {
      sniff,
      call: `read_csv(${lit(file)}, delim=${lit(sniff.delimiter)}, header=${sniff.hasHeader}, sample_size=-1, normalize_names=false)`,
    };
  }
  return {
    sniff: undefined,
    call: format === 'json' ? `read_json(${lit(file)}, format='auto')` : `read_parquet(${lit(file)})`,
  };
}

/** Columns per query of {@link columnStats}: one read of the sample for this many columns. */
const STATS_BATCH = 200;

/**
 * The sample's rows, and per column its NULLs and its numbers with a leading zero (a code, not a
 * number: "007"), in one read of the sample per STATS_BATCH columns (the reader sniffs the whole
 * file on every read: a query per column took 18 s on a 1M-row file, 85 s on 5M).
 */
async function columnStats(
  conn: DuckDBConnection,
  call: string,
  described: readonly { column_name: string; column_type: string }[],
): Promise<{ count: number; stats: { nulls: number; lead: number }[] }> {
  let count = 0;
  const stats: { nulls: number; lead: number }[] = [];
  // At least one read: the row count comes with the first batch.
  for (let from = 0; from < Math.max(described.length, 1); from += STATS_BATCH) {
    const batch = described.slice(from, from + STATS_BATCH);
    const aggs = batch.map((d, i) => {
      const x = ident(d.column_name);
      const numeric = ['integer', 'number'].includes(contractType(d.column_type));
      const lead = numeric ? `count(*) FILTER (WHERE regexp_matches(CAST(${x} AS VARCHAR), '^[+-]?0[0-9]'))` : '0';
      return `, count(*) FILTER (WHERE ${x} IS NULL) AS nulls${i}, ${lead} AS lead${i}`;
    });
    const row =
      (await queryOne<Record<string, number>>(conn, `SELECT count(*) AS n${aggs.join('')} FROM ${call}`)) ?? {};
    count = Number(row['n'] ?? 0);
    batch.forEach((_d, i) => stats.push({ nulls: Number(row[`nulls${i}`] ?? 0), lead: Number(row[`lead${i}`] ?? 0) }));
  }
  return { count, stats };
}

/** Infer a validated spec for `name` from a sample file. */
export async function inferSpec(opts: InferOptions): Promise<PipelineSpec> {
  return withDuckDB(':memory:', {}, async (conn) => {
    const files = isGlob(opts.source)
      ? await resolveSourceFiles(conn, opts.source, opts.allowedRoots)
      : [checkSourceFile(opts.source, opts.allowedRoots)];
    const file = files[0] ?? '';
    const format = opts.format ?? formatFromName(file);
    if (!format)
      throw new SourceUnreadableError(`${file}: unknown format (use a .csv, .json or .parquet file, or --format)`);
    if (fileFacts(file).empty)
      throw new SourceUnreadableError(`${file}: the file is empty; heal init needs a sample with a header and rows`);
    if (format === 'csv') {
      // Refused before DuckDB's sniffer reads it: that takes ~30 s on a 5,000-column file.
      const widest = Math.max(
        ...[',', ';', '\t', '|'].map(
          (d) => headerWidth(file, { delimiter: d, quote: '"', skipRows: 0, encoding: 'utf-8' })?.fields ?? 0,
        ),
      );
      if (widest > MAX_SOURCE_COLUMNS)
        throw new SourceUnreadableError(
          `${file}: ${widest} columns on the header line, more than the ${MAX_SOURCE_COLUMNS} heal reads`,
        );
    }
    const { sniff, call } = await readerFor(conn, file, format).catch((err: unknown) => {
      throw err instanceof SourceUnreadableError
        ? err
        : new SourceUnreadableError(
            `${file}: cannot read as ${format}: ${String((err as Error).message).split('\n')[0]}`,
          );
    });
    let described: { column_name: string; column_type: string }[];
    try {
      described = await queryRows(conn, `DESCRIBE SELECT * FROM ${call}`);
    } catch (err) {
      throw new SourceUnreadableError(
        `${file}: cannot read as ${format}: ${String((err as Error).message).split('\n')[0]}`,
      );
    }
    const { count, stats: sampled } = await columnStats(conn, call, described);
    if (count === 0)
      throw new SourceUnreadableError(`${file}: the sample has no data rows; heal init needs rows to infer types`);
    const guesses: ColumnGuess[] = described.map((d, i) => {
      let type = contractType(d.column_type);
      let format: string | undefined;
      if ((type === 'integer' || type === 'number') && (sampled[i]?.lead ?? 0) > 0) type = 'string';
      if (type === 'date') format = sniff?.dateFormat ?? DEFAULT_DATE_FORMAT;
      if (type === 'timestamp' && sniff?.timestampFormat) format = sniff.timestampFormat;
      return { source: d.column_name, type, ...(format ? { format } : {}), nulls: sampled[i]?.nulls ?? 0 };
    });
    const taken = new Set<string>();
    const columns = guesses.map((g) => {
      const name =
        /^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(g.source) && !taken.has(g.source.toLowerCase())
          ? g.source
          : toIdentifier(g.source, taken);
      taken.add(name.toLowerCase());
      return { g, name };
    });
    const optional = new Set(opts.optional ?? []);
    const input: SpecInput = {
      apiVersion: SPEC_API_VERSION,
      name: opts.name,
      description: `Inferred by heal init from ${path.basename(file)} (${count} rows)`,
      source: {
        path: path.resolve(opts.source),
        format,
        ...(format === 'csv' && sniff
          ? {
              csv: {
                delimiter: sniff.delimiter,
                header: sniff.hasHeader,
                quote: sniff.quote || '"',
                escape: '"',
                encoding: 'utf-8',
                skipRows: 0,
                nullStrings: [''],
              },
            }
          : {}),
        columns: guesses.map((g) => g.source),
        ignore: [],
      },
      contract: {
        columns: columns.map(({ g, name }) => ({
          name,
          type: g.type,
          required: g.nulls === 0 && !optional.has(name) && !optional.has(g.source),
          ...(g.format ? { format: g.format } : {}),
        })),
      },
      mapping: Object.fromEntries(columns.map(({ g, name }) => [name, { from: g.source }])),
      target: { table: opts.table ?? toIdentifier(opts.name), mode: 'replace' },
    };
    const first = parseSpec(input);
    if (!first.ok) throw new SourceUnreadableError(`${file}: the inferred spec is invalid: ${first.issues.join('; ')}`);
    // The spec must load its own sample: read it as the load does, and make a column whose values the
    // load's casts reject text, and one the load finds empty optional.
    await stageSource(conn, first.spec, [file]);
    const stats = await valueStats(conn, first.spec);
    const failed = new Set(stats.filter((s) => s.failed > 0).map((s) => s.column));
    const missing = new Set(stats.filter((s) => s.missing > 0).map((s) => s.column));
    if (!failed.size && !missing.size) return first.spec;
    input.contract.columns = input.contract.columns.map((c) => {
      const { format: _format, ...rest } = c;
      return {
        ...(failed.has(c.name) ? { ...rest, type: 'string' as const } : c),
        ...(missing.has(c.name) ? { required: false } : {}),
      };
    });
    const res = parseSpec(input);
    if (!res.ok) throw new SourceUnreadableError(`${file}: the inferred spec is invalid: ${res.issues.join('; ')}`);
    return res.spec;
  });
}
