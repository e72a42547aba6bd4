/** Finding, inspecting and staging a pipeline's source files in DuckDB. */
import * as fs from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { SourceUnreadableError } from '../../common/errors';
import type { CsvOptions, PipelineSpec } from '../../common/spec';
import type { SourceShape } from '../../common/types';
import { ident, lit, queryOne, queryRows } from '../../lib/duckdb';
import { checkSourceFile, isGlob } from '../../lib/paths';
import { readerCall, type ReaderOptions } from './sql';

export const RAW = '__heal_raw';
export const REJECTS = '__heal_rejects';
export const REJECT_SCANS = '__heal_reject_scans';
export const FILE_COLUMN = '__heal_file';

/** Expand a path or glob into checked, real file paths (sorted). */
export async function resolveSourceFiles(
  conn: DuckDBConnection,
  pattern: string,
  roots: readonly string[],
): Promise<string[]> {
  if (!isGlob(pattern)) return [checkSourceFile(pattern, roots)];
  const rows = await queryRows<{ file: string }>(conn, `SELECT file FROM glob(${lit(pattern)}) ORDER BY file`);
  if (rows.length === 0) throw new SourceUnreadableError(`${pattern}: no files match`);
  return rows.map((r) => checkSourceFile(r.file, roots));
}

/** How a file looks before it is read: empty, or its first bytes. */
export interface FileFacts {
  file: string;
  bytes: number;
  /** No data at all (0 bytes, or only a byte-order mark / whitespace). */
  empty: boolean;
  /** The file does not end with a newline (a cut-off last line is likely). */
  endsWithoutNewline: boolean;
}

export function fileFacts(file: string): FileFacts {
  const st = fs.statSync(file);
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(st.size, 4096));
    fs.readSync(fd, head, 0, head.length, 0);
    const tail = Buffer.alloc(1);
    if (st.size > 0) fs.readSync(fd, tail, 0, 1, st.size - 1);
    const text = head.toString('utf8').replace(/^\uFEFF/, '');
    return {
      file,
      bytes: st.size,
      empty: st.size === 0 || (st.size <= 4096 && text.trim() === ''),
      endsWithoutNewline: st.size > 0 && tail[0] !== 0x0a && tail[0] !== 0x0d,
    };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Most columns a CSV source may have. Wider files are refused before DuckDB reads them: its CSV
 * reader needs ~30 s just to describe a 5,000-column file (and each of load, diagnosis and
 * verification reads it again), so such a file would hold a worker for minutes to end in a failure.
 */
export const MAX_SOURCE_COLUMNS = 2000;
/** Bytes of the header line looked at to count its fields. */
const HEADER_SCAN_BYTES = 1 << 20;

/**
 * Fields on the header line (the first line after `skipRows`), counted outside quotes, from at most
 * the first MiB of the file; `partial` when the line goes on beyond it. Undefined for encodings
 * where a byte is not a character (UTF-16).
 */
export function headerWidth(
  file: string,
  csv: Pick<CsvOptions, 'delimiter' | 'quote' | 'skipRows' | 'encoding'>,
): { fields: number; partial: boolean } | undefined {
  if (csv.encoding === 'utf-16' || csv.delimiter.length !== 1) return undefined;
  const fd = fs.openSync(file, 'r');
  let buf: Buffer;
  try {
    buf = Buffer.alloc(HEADER_SCAN_BYTES);
    buf = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0));
  } finally {
    fs.closeSync(fd);
  }
  const delim = csv.delimiter.charCodeAt(0);
  const quote = csv.quote ? csv.quote.charCodeAt(0) : -1;
  let skip = csv.skipRows;
  let inQuote = false;
  let fields = 1;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b === quote) inQuote = !inQuote;
    else if (!inQuote && (b === 0x0a || b === 0x0d)) {
      if (skip === 0) return { fields, partial: false };
      if (b === 0x0d && buf[i + 1] === 0x0a) i++;
      skip--;
      fields = 1;
    } else if (!inQuote && b === delim && skip === 0) fields++;
  }
  return { fields, partial: buf.length === HEADER_SCAN_BYTES };
}

/** One line saying a file is too wide to read, or undefined when it is not. */
export function tooWide(file: string, csv: CsvOptions): string | undefined {
  const w = headerWidth(file, csv);
  if (!w || w.fields <= MAX_SOURCE_COLUMNS) return undefined;
  return `${file} has ${w.fields}${w.partial ? ' or more' : ''} columns on its header line, more than the ${MAX_SOURCE_COLUMNS} heal reads`;
}

/** Result of reading a file's header with the spec's reader options. */
export type HeaderResult = { ok: true; columns: string[] } | { ok: false; error: string };

/** A reader error that means the file is not in the expected encoding ("Invalid unicode ... not utf-8 encoded"). */
export const ENCODING_ERROR = /invalid unicode|is not [\w-]+ encoded/i;

/** The column names DuckDB's sniffer reads at the start of `files` with the spec's reader options. */
async function describeColumns(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  files: readonly string[],
  ignoreErrors: boolean,
): Promise<string[]> {
  const rows = await queryRows<{ column_name: string }>(
    conn,
    `DESCRIBE SELECT * FROM ${readerCall(spec, files, { ignoreErrors })}`,
  );
  return rows.map((r) => r.column_name);
}

/**
 * Column names of one file as the spec's reader options see them. Malformed lines (a ragged row)
 * do not hide the header: they are staged to quarantine later. An encoding error is reported.
 */
export async function readHeader(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  file: string,
  /** Read past lines in another encoding too (a UTF-8 file with a few corrupt lines: they go to quarantine). */
  tolerateEncoding = false,
): Promise<HeaderResult> {
  if (spec.source.format === 'csv') {
    const wide = tooWide(file, spec.source.csv);
    if (wide) return { ok: false, error: wide };
  }
  const describe = (ignoreErrors: boolean) => describeColumns(conn, spec, [file], ignoreErrors);
  let error: string;
  try {
    return { ok: true, columns: await describe(false) };
  } catch (err) {
    // DuckDB's first line is often only "CSV Error on Line: N"; an encoding error is said further down.
    const lines = (err instanceof Error ? err.message : String(err)).split('\n');
    error = lines.find((l) => ENCODING_ERROR.test(l)) ?? lines[0] ?? 'unreadable';
  }
  if (spec.source.format === 'csv' && (tolerateEncoding || !ENCODING_ERROR.test(error))) {
    // UTF-16 read as UTF-8 fails the sniffer; with ignore_errors it would come back with garbled names ("renamed").
    if (spec.source.csv.encoding !== 'utf-16' && looksUtf16(file)) {
      return {
        ok: false,
        error: `${file} is not ${spec.source.csv.encoding} encoded (a UTF-16 byte-order mark or NUL bytes)`,
      };
    }
    try {
      return { ok: true, columns: await describe(true) };
    } catch {
      // Unreadable even when skipping bad lines: report the first error.
    }
  }
  return { ok: false, error };
}

/** What DuckDB's sniffer makes of a CSV file with no hints (for classifying dialect drift). */
export interface SniffResult {
  delimiter: string;
  quote: string;
  hasHeader: boolean;
  columns: { name: string; type: string }[];
  dateFormat: string | null;
  timestampFormat: string | null;
}

export async function sniffCsv(
  conn: DuckDBConnection,
  file: string,
  encoding = 'utf-8',
): Promise<SniffResult | undefined> {
  try {
    const row = await queryOne<Record<string, unknown>>(
      conn,
      `SELECT Delimiter, Quote, HasHeader, Columns, DateFormat, TimestampFormat FROM sniff_csv(${lit(file)}, encoding=${lit(encoding)}, sample_size=20480)`,
    );
    if (!row) return undefined;
    const cols = (row['Columns'] as { name: string; type: string }[] | null) ?? [];
    const text = (v: unknown) => (v == null || v === '(empty)' ? null : String(v));
    return {
      delimiter: text(row['Delimiter']) ?? ',',
      quote: text(row['Quote']) ?? '',
      hasHeader: Boolean(row['HasHeader']),
      columns: cols.map((c) => ({ name: String(c.name), type: String(c.type) })),
      dateFormat: text(row['DateFormat']),
      timestampFormat: text(row['TimestampFormat']),
    };
  } catch {
    return undefined;
  }
}

/** A source opened for a load: its files and its columns (as text). */
export interface OpenedSource {
  files: string[];
  columns: string[];
}

/**
 * The source as a relation of text columns plus `__heal_file` (the file each row came from), in
 * file order. With `rejects`, malformed CSV lines are recorded in `__heal_rejects` (and skipped);
 * without, they are skipped silently (for re-reads after the one recording scan). `columns`: a
 * CSV source's columns as {@link stageSource} found them, read as given (no sniffing).
 */
export function sourceSelect(
  spec: PipelineSpec,
  files: readonly string[],
  opts: { rejects: boolean; columns?: readonly string[] | undefined },
): string {
  const isCsv = spec.source.format === 'csv';
  const reader: ReaderOptions = isCsv
    ? {
        ...(opts.rejects ? { rejectsTable: REJECTS, rejectsScan: REJECT_SCANS } : { ignoreErrors: true }),
        ...(opts.columns ? { columns: opts.columns } : {}),
      }
    : {};
  const cols = isCsv ? '*' : 'COLUMNS(*)::VARCHAR';
  if (files.length === 1)
    return `SELECT ${cols}, ${lit(files[0] ?? '')} AS ${ident(FILE_COLUMN)} FROM ${readerCall(spec, files, reader)}`;
  const multi = readerCall(spec, files, { ...reader, filename: true }).replace(
    /filename=true/,
    `filename=${lit(FILE_COLUMN)}`,
  );
  return `SELECT ${cols} FROM ${multi}`;
}

/**
 * Open the source for one load: `view` (`__heal_raw` unless named) becomes a view reading it as
 * text (no copy is made: the load casts straight from the file, see `castStaged`), and its columns
 * are returned. A CSV source's columns are found once, here: DuckDB's sniffer reads the files'
 * start each time a query binds a sniffing reader (~30 ms), a reader given its columns binds in ~2.
 */
export async function stageSource(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  files: readonly string[],
  view = RAW,
  /** The columns of the first file, when its header was read already (with the same reader options). */
  header?: readonly string[],
): Promise<OpenedSource> {
  const csvColumns =
    spec.source.format !== 'csv' ? undefined : header ? [...header] : await describeColumns(conn, spec, files, true);
  await conn.run(
    `CREATE OR REPLACE TEMP VIEW ${view} AS ${sourceSelect(spec, files, { rejects: false, columns: csvColumns })}`,
  );
  const columns =
    csvColumns ??
    (await queryRows<{ column_name: string }>(conn, `DESCRIBE ${view}`))
      .map((c) => c.column_name)
      .filter((c) => c !== FILE_COLUMN);
  return { files: [...files], columns };
}

export function shapeOf(spec: PipelineSpec, columns: string[], rows?: number): SourceShape {
  return {
    format: spec.source.format,
    ...(spec.source.format === 'csv'
      ? { delimiter: spec.source.csv.delimiter, header: spec.source.csv.header, encoding: spec.source.csv.encoding }
      : {}),
    columns,
    ...(rows === undefined ? {} : { rows }),
  };
}

/** A UTF-16 byte-order mark, or NUL bytes in the first 512 bytes (text in UTF-16 without a BOM). */
function looksUtf16(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(512);
    const n = fs.readSync(fd, b, 0, b.length, 0);
    return (
      (n >= 2 && ((b[0] === 0xff && b[1] === 0xfe) || (b[0] === 0xfe && b[1] === 0xff))) || b.subarray(0, n).includes(0)
    );
  } finally {
    fs.closeSync(fd);
  }
}
