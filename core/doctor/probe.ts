/**
 * A DuckDB-backed {@link SourceProbe}: lets a doctor ask questions of the real drifted source on a
 * scratch connection — "what do the columns look like when read with these reader options?" and
 * "how well does this column parse with this mapping entry?" — without touching the warehouse.
 *
 * Each distinct reader variant is staged once (every column as text) into its own temp table and
 * cached; parse questions reuse the ETL's own SQL (`columnSql` / `castExpression`) so the answer is
 * exactly what a load with that entry would do. Expressions (`entry.expr`) are never executed here.
 *
 * By default a variant stages only the first {@link PROBE_STAGE_ROWS} data rows of the source (DuckDB
 * stops reading there), so a diagnosis costs about the same on 1M rows as on 200k; summaries say when
 * they describe such a sample. Verification proves every candidate fix on the whole file afterwards.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  withinQuarantineBudget,
  type ContractColumn,
  type CsvOptions,
  type MappingEntry,
  type PipelineSpec,
} from '../../common/spec';
import { DEFAULT_PROBE_ROWS } from '../../lib/config';
import { ident, queryOne, queryRows } from '../../lib/duckdb';
import { clip } from '../etl/drift';
import { patternSql, profileRelation } from '../etl/profile';
import { sketchOf, sketchQuery, type ValueSketch } from '../etl/sketch';
import { tooWide } from '../etl/source';
import { columnSql, readerCall } from '../etl/sql';
import type { ProbeResult, SourceColumnSummary, SourceProbe, SourceSummary } from './types';

/**
 * Data rows a probe stages per reader variant by default: the first 100,000 of the source (the
 * `HEAL_PROBE_ROWS` default, one number in lib/config). Plenty for parse rates, profiles, samples
 * and patterns; a bounded cost on big files.
 */
export const PROBE_STAGE_ROWS = DEFAULT_PROBE_ROWS;

/** Bounds of a {@link SourceSummary}: samples per column, their length (an ellipsis included), patterns per column. */
export const PROBE_SAMPLE_COUNT = 8;
export const PROBE_SAMPLE_LENGTH = 60;
export const PROBE_PATTERN_COUNT = 5;
/** Rows scanned for samples and patterns: the first N staged, i.e. the first N of the source (deterministic, bounded). */
export const PROBE_SAMPLE_ROWS = 20_000;
/** Most cells (rows × columns) unpivoted at once when summarizing: bounds the memory of a wide file's summary. */
export const PROBE_BATCH_CELLS = 4_000_000;
/** Columns per aggregate query of a summary. */
const TOTALS_BATCH = 50;

/** Options of {@link createSourceProbe}. */
export interface SourceProbeOptions {
  /** Source columns whose values must not be shown: their samples read "***". @default none */
  mask?: (column: string) => boolean;
  /**
   * Most data rows staged per reader variant: the first N of the source in file order (the files in
   * the order given), so the same source always gets the same answers. Summaries and parse
   * measurements then describe those rows only, and say so (`SourceSummary.complete` is false when
   * the source has more). A positive integer, or `Infinity` for the whole source.
   * @default PROBE_STAGE_ROWS (100,000)
   */
  sampleRows?: number;
}

/** The DuckDB-backed probe: a {@link SourceProbe} that also tells whether it read only part of the source. */
export interface StagedSourceProbe extends SourceProbe {
  /** True once a reader variant staged only the first `sampleRows` rows of a source that has more. */
  readonly partial: boolean;
  /** This probe always sketches values (see {@link SourceProbe.valueSketch}). */
  valueSketch(
    column: ContractColumn,
    entry: MappingEntry,
    reader?: Partial<CsvOptions>,
  ): Promise<ValueSketch | undefined>;
}

interface Staged {
  table: string;
  columns: string[];
  /** Rows staged (at most `sampleRows`). */
  rows: number;
  /** False when the source has more rows than were staged. */
  complete: boolean;
  /** Malformed lines skipped, counted over the whole source (only when it was read to its end with a rejects table, else 0). */
  rejected: number;
  reader: CsvOptions | undefined;
}

type StageResult = Staged | { error: string };

let probeCounter = 0;

const EMPTY: ProbeResult = { nonEmpty: 0, parsed: 0, rate: 0, profile: null };

function errorText(err: unknown): string {
  const lines = (err instanceof Error ? err.message : String(err))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  // DuckDB's first line is often only "CSV Error on Line: N"; keep the line that says why.
  const why = lines.find(
    (l) => /invalid unicode|encoded|expected|delimiter|column|quote/i.test(l) && !/^CSV Error on Line/i.test(l),
  );
  return clip([lines[0], why].filter((l, i, a) => l && a.indexOf(l) === i).join(': ') || 'unreadable', 240);
}

function num(v: unknown): number {
  const n = Number(v);
  return Number.isFinite(n) ? Math.round(n * 1e6) / 1e6 : 0;
}

/**
 * A probe over `files` read as `spec` reads them, on `conn` (a scratch connection: the caller opens
 * `withDuckDB(':memory:', …)`). Staged tables are temp tables of that connection.
 */
export async function createSourceProbe(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  files: string[],
  opts: SourceProbeOptions = {},
): Promise<StagedSourceProbe> {
  const sampleRows = opts.sampleRows ?? PROBE_STAGE_ROWS;
  if (sampleRows !== Infinity && !(Number.isSafeInteger(sampleRows) && sampleRows > 0)) {
    throw new RangeError(`sampleRows must be a positive integer or Infinity, got ${sampleRows}`);
  }
  const ctx: ProbeContext = {
    conn,
    spec,
    files,
    sampleRows,
    limited: sampleRows !== Infinity,
    partial: false,
    id: `${process.pid}_${++probeCounter}`,
    stages: new Map(),
    mask: opts.mask ?? (() => false),
  };
  const summaries = new Map<string, Promise<SourceSummary | { error: string }>>();
  const tries = new Map<string, Promise<ProbeResult>>();
  const sketches = new Map<string, Promise<ValueSketch | undefined>>();

  return {
    get partial(): boolean {
      return ctx.partial;
    },

    async summarize(reader?: Partial<CsvOptions>): Promise<SourceSummary | { error: string }> {
      const key = keyOf(specFor(spec, reader));
      let p = summaries.get(key);
      if (!p) {
        p = stage(ctx, reader).then((st): Promise<SourceSummary | { error: string }> =>
          'error' in st
            ? Promise.resolve({ error: st.error })
            : summarizeStaged(ctx, st).catch((err: unknown) => ({ error: errorText(err) })),
        );
        summaries.set(key, p);
      }
      return p;
    },

    async tryColumn(column: ContractColumn, entry: MappingEntry, reader?: Partial<CsvOptions>): Promise<ProbeResult> {
      // Expressions are validated (allow-list) elsewhere; a probe never runs one.
      if (entry.expr !== undefined) return EMPTY;
      const key = JSON.stringify([keyOf(specFor(spec, reader)), column, entry]);
      let p = tries.get(key);
      if (!p) {
        // A format DuckDB cannot use (e.g. an unknown specifier) parses nothing: rate 0, not a crash.
        p = stage(ctx, reader).then((st) =>
          'error' in st ? EMPTY : tryStaged(ctx, st, column, entry).catch(() => EMPTY),
        );
        tries.set(key, p);
      }
      return p;
    },

    async valueSketch(
      column: ContractColumn,
      entry: MappingEntry,
      reader?: Partial<CsvOptions>,
    ): Promise<ValueSketch | undefined> {
      if (entry.expr !== undefined) return undefined;
      const key = JSON.stringify([keyOf(specFor(spec, reader)), column, entry]);
      let p = sketches.get(key);
      if (!p) {
        // Value evidence is optional: a variant that does not read, or a cast DuckDB refuses, gives none.
        p = stage(ctx, reader).then((st) =>
          'error' in st ? undefined : sketchStaged(ctx, st, column, entry).catch(() => undefined),
        );
        sketches.set(key, p);
      }
      return p;
    },
  };
}

/** One probe's state, shared by every reader variant it stages. */
interface ProbeContext {
  conn: DuckDBConnection;
  spec: PipelineSpec;
  files: string[];
  sampleRows: number;
  /** False when `sampleRows` is Infinity: variants then read the whole source. */
  limited: boolean;
  /** Set once a variant staged only part of a source that has more (see {@link StagedSourceProbe.partial}). */
  partial: boolean;
  /** Unique per probe: temp tables of probes sharing a connection must not collide. */
  id: string;
  /** Staged variants by reader key: each is read from disk once, whatever is asked of it. */
  stages: Map<string, Promise<StageResult>>;
  mask: (column: string) => boolean;
}

/** The spec with `reader`'s options over its own (only a CSV source has reader options). */
function specFor(spec: PipelineSpec, reader: Partial<CsvOptions> | undefined): PipelineSpec {
  if (spec.source.format !== 'csv' || !reader) return spec;
  const defined = Object.fromEntries(Object.entries(reader).filter(([, v]) => v !== undefined)) as Partial<CsvOptions>;
  return { ...spec, source: { ...spec.source, csv: { ...spec.source.csv, ...defined } } };
}

/** The reader options that change what is staged: two readers with the same key stage the same table. */
function keyOf(s: PipelineSpec): string {
  if (s.source.format !== 'csv') return s.source.format;
  const c = s.source.csv;
  return JSON.stringify([c.delimiter, c.header, c.quote, c.escape, c.encoding, c.skipRows, c.nullStrings]);
}

/** The variant for `reader`, staged on first use. */
async function stage(ctx: ProbeContext, reader: Partial<CsvOptions> | undefined): Promise<StageResult> {
  const s = specFor(ctx.spec, reader);
  const key = keyOf(s);
  let p = ctx.stages.get(key);
  if (!p) {
    p = stageVariant(ctx, s, `__heal_probe_${ctx.id}_${ctx.stages.size}`);
    ctx.stages.set(key, p);
  }
  return p;
}

async function createAs(
  conn: DuckDBConnection,
  target: string,
  from: string,
  what: string,
  limit?: number,
): Promise<void> {
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE ${ident(target)} AS SELECT ${what} FROM ${from}${limit === undefined ? '' : ` LIMIT ${limit}`}`,
  );
}

/** Every column as text: a CSV is read as text already, other formats are cast. */
function selectOf(s: PipelineSpec): string {
  return s.source.format === 'csv' ? '*' : 'COLUMNS(*)::VARCHAR';
}

/**
 * Stage one reader variant of `s` into `table`. A variant that does not read is an answer (an
 * error the doctor weighs against other variants), never an exception.
 */
async function stageVariant(ctx: ProbeContext, s: PipelineSpec, table: string): Promise<StageResult> {
  const isCsv = s.source.format === 'csv';
  try {
    if (s.source.format === 'csv') {
      for (const f of ctx.files) {
        const wide = tooWide(f, s.source.csv);
        if (wide) return { error: wide };
      }
    }
    // Sampled: one row more than the sample says whether the source has more. A LIMIT stops the
    // scan early, and DuckDB then leaves its rejects table empty or partial (it is filled when a
    // scan runs to its end): a malformed or undecodable line would be skipped unseen. So the
    // sample is read strictly, without rejects: such a line (or the sniffer finding one anywhere
    // in the file) fails the read, and the whole source is read with rejects by stageWhole.
    let staged = false;
    if (ctx.limited) {
      try {
        await createAs(ctx.conn, table, readerCall(s, ctx.files), selectOf(s), ctx.sampleRows + 1);
        staged = true;
      } catch (err) {
        if (!isCsv) throw err;
      }
    }
    let rejected = 0;
    if (!staged) {
      const whole = await stageWhole(ctx, s, table);
      if ('error' in whole) return whole;
      rejected = whole.rejected;
    }
    return await describeStaged(ctx, s, table, rejected);
  } catch (err) {
    return { error: errorText(err) };
  }
}

/**
 * Read the whole source (into a side table when sampled, cut to its first rows here): exact counts
 * of malformed lines, and an encoding error anywhere is seen. Returns the malformed lines skipped.
 */
async function stageWhole(
  ctx: ProbeContext,
  s: PipelineSpec,
  table: string,
): Promise<{ rejected: number } | { error: string }> {
  const { conn } = ctx;
  const isCsv = s.source.format === 'csv';
  const full = ctx.limited ? `${table}_full` : table;
  try {
    const call = readerCall(s, ctx.files, isCsv ? { rejectsTable: `${table}_rej`, rejectsScan: `${table}_scan` } : {});
    await createAs(conn, full, call, selectOf(s));
    let rejected = 0;
    if (isCsv) {
      const rej = ident(`${table}_rej`);
      rejected =
        (await queryOne<{ n: number }>(conn, `SELECT count(DISTINCT (file_id, line)) AS n FROM ${rej}`))?.n ?? 0;
      // Lines in another encoding: a few (within the quarantine budget) are corrupt lines of a
      // file in this encoding, which the load quarantines; more mean the variant reads it wrongly.
      const enc = await queryOne<{ n: number; m: string | null }>(
        conn,
        `SELECT count(DISTINCT (file_id, line)) AS n, min(error_message) AS m FROM ${rej} WHERE error_type = 'INVALID ENCODING'`,
      );
      const read = (await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${ident(full)}`))?.n ?? 0;
      if (enc && enc.n > 0 && !withinQuarantineBudget(s.quality, Number(enc.n), Number(read) + Number(rejected))) {
        return {
          error: clip(`${enc.n} line(s) are not valid ${s.source.csv.encoding}: ${enc.m ?? 'invalid unicode'}`, 240),
        };
      }
    }
    // A scan of a table with insertion order preserved: its first rows, in file order.
    if (full !== table) await createAs(conn, table, ident(full), '*', ctx.sampleRows + 1);
    return { rejected };
  } finally {
    if (full !== table) await conn.run(`DROP TABLE IF EXISTS ${ident(full)}`);
  }
}

/**
 * Cut a staged table to the sample and describe it, refusing variants that stage nothing usable:
 * no row splits into columns, or names that show the file was decoded wrongly.
 */
async function describeStaged(
  ctx: ProbeContext,
  s: PipelineSpec,
  table: string,
  rejected: number,
): Promise<StageResult> {
  const { conn, sampleRows } = ctx;
  const isCsv = s.source.format === 'csv';
  const cols = await queryRows<{ column_name: string }>(conn, `DESCRIBE ${ident(table)}`);
  let rows = (await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${ident(table)}`))?.n ?? 0;
  let complete = true;
  if (ctx.limited && rows > sampleRows) {
    // rowid follows insertion order: the extra row is the last one.
    await conn.run(`DELETE FROM ${ident(table)} WHERE rowid >= ${sampleRows}`);
    rows = sampleRows;
    complete = false;
  }
  if (rows === 0 && rejected > 0) {
    return {
      error: `no line of the source splits into columns with these reader options (${rejected} malformed lines)`,
    };
  }
  const columns = cols.map((c) => c.column_name);
  // NUL bytes in names: a UTF-16 file read as a one-byte encoding (and not a name SQL can quote).
  if (columns.some((c) => c.includes('\u0000'))) {
    return {
      error: `the column names hold NUL bytes: the file is not ${isCsv ? s.source.csv.encoding : 'in this encoding'} (UTF-16?)`,
    };
  }
  if (!complete) ctx.partial = true;
  return { table, columns, rows, complete, rejected, reader: isCsv ? s.source.csv : undefined };
}

/** What the summary of a staged variant says about each column (as text). */
async function summarizeStaged(ctx: ProbeContext, st: Staged): Promise<SourceSummary> {
  const totals = await columnTotals(ctx, st);
  const found = await samplesAndPatterns(ctx, st);
  const columns: SourceColumnSummary[] = [];
  for (const [i, c] of st.columns.entries()) {
    const nonEmpty = Number(totals[`n${i}`] ?? 0);
    const f = found.get(c) ?? { samples: [], patterns: [], sampled: 0 };
    const samples = ctx.mask(c) ? (nonEmpty > 0 ? ['***'] : []) : f.samples;
    const sampled = f.sampled || 1;
    columns.push({
      name: c,
      position: i,
      nonEmpty,
      nulls: st.rows - nonEmpty,
      distinct: Math.min(Number(totals[`d${i}`] ?? 0), nonEmpty),
      samples,
      patterns: f.patterns.map((p) => ({ pattern: clip(p.p, 40), share: num(p.n / sampled) })),
      length:
        totals[`lmn${i}`] == null
          ? null
          : { min: Number(totals[`lmn${i}`]), max: Number(totals[`lmx${i}`]), mean: num(totals[`lav${i}`]) },
    });
  }
  return {
    files: [...ctx.files],
    rows: st.rows,
    complete: st.complete,
    columns,
    ...(st.reader ? { reader: st.reader } : {}),
  };
}

/** Non-empty count, distinct count and length range of every column (column i's as `n${i}`, `d${i}`, …). */
async function columnTotals(ctx: ProbeContext, st: Staged): Promise<Record<string, unknown>> {
  const t = ident(st.table);
  const aggs = st.columns.map((c, i) => {
    const x = `nullif(trim(${ident(c)}), '')`;
    return `count(${x}) AS n${i}, approx_count_distinct(${x}) AS d${i}, min(length(${x})) AS lmn${i}, max(length(${x})) AS lmx${i}, avg(length(${x})) AS lav${i}`;
  });
  // At most TOTALS_BATCH columns per query: DuckDB plans one SELECT of 5,000 aggregates over a
  // 1,000-column table in 30 s, and 20 queries of 50 columns in under 2 s.
  const totals: Record<string, unknown> = {};
  for (let from = 0; from < aggs.length; from += TOTALS_BATCH) {
    Object.assign(
      totals,
      (await queryOne<Record<string, unknown>>(
        ctx.conn,
        `SELECT ${aggs.slice(from, from + TOTALS_BATCH).join(', ')} FROM ${t}`,
      )) ?? {},
    );
  }
  return totals;
}

/** Samples, patterns and the count of non-empty cells scanned, per column. */
type Found = Map<string, { samples: string[]; patterns: { p: string; n: number }[]; sampled: number }>;

/**
 * Samples and patterns of many columns per query (a query's cost grows with the table's width: one
 * query per column made a 1,000-column file take 36 s). The columns are unpivoted in batches of at
 * most PROBE_BATCH_CELLS cells, over the first PROBE_SAMPLE_ROWS rows.
 */
async function samplesAndPatterns(ctx: ProbeContext, st: Staged): Promise<Found> {
  const { conn, mask } = ctx;
  const t = ident(st.table);
  const scanned = Math.min(st.rows, PROBE_SAMPLE_ROWS);
  const batchSize = Math.max(1, Math.floor(PROBE_BATCH_CELLS / Math.max(1, scanned)));
  const found: Found = new Map();
  for (let from = 0; from < st.columns.length; from += batchSize) {
    const batch = st.columns.slice(from, from + batchSize);
    for (const c of batch) found.set(c, { samples: [], patterns: [], sampled: 0 });
    const long = ident(`${st.table}_long`);
    // Each distinct value once with its count: samples, patterns (shape classes as the profile
    // computes them, once per distinct value rather than per cell) and counts all come from it.
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE ${long} AS SELECT col, v, count(*) AS n FROM (UNPIVOT (SELECT ${batch.map(ident).join(', ')} FROM ${t} WHERE rowid < ${PROBE_SAMPLE_ROWS}) ON COLUMNS(*) INTO NAME col VALUE v) WHERE nullif(trim(v), '') IS NOT NULL GROUP BY col, v`,
    );
    try {
      const topRows = await queryRows<{ col: string; v: string }>(
        conn,
        `SELECT col, v FROM ${long} QUALIFY row_number() OVER (PARTITION BY col ORDER BY n DESC, v) <= ${PROBE_SAMPLE_COUNT} ORDER BY col, n DESC, v`,
      );
      for (const r of topRows)
        if (!mask(r.col)) found.get(r.col)?.samples.push(clip(String(r.v), PROBE_SAMPLE_LENGTH - 1));
      const patRows = await queryRows<{ col: string; p: string; n: number }>(
        conn,
        `SELECT col, ${patternSql('v')} AS p, sum(n) AS n FROM ${long} GROUP BY col, p QUALIFY row_number() OVER (PARTITION BY col ORDER BY sum(n) DESC, p) <= ${PROBE_PATTERN_COUNT} ORDER BY col, n DESC, p`,
      );
      for (const r of patRows) found.get(r.col)?.patterns.push({ p: String(r.p), n: Number(r.n) });
      const counts = await queryRows<{ col: string; n: number }>(
        conn,
        `SELECT col, sum(n) AS n FROM ${long} GROUP BY col`,
      );
      for (const r of counts) {
        const f = found.get(r.col);
        if (f) f.sampled = Number(r.n);
      }
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${long}`);
    }
  }
  return found;
}

/** Parse `entry.from` of a staged variant as `column` would load it, and profile what parses. */
async function tryStaged(
  ctx: ProbeContext,
  st: Staged,
  column: ContractColumn,
  entry: MappingEntry,
): Promise<ProbeResult> {
  const { conn } = ctx;
  if (entry.from === undefined || !st.columns.includes(entry.from)) return EMPTY;
  const one: PipelineSpec = { ...ctx.spec, contract: { columns: [column] }, mapping: { [column.name]: entry } };
  const sql = columnSql(one, column, 'r');
  // A value read as NULL (`nullValues`) is missing, not a value that fails to parse: as the load counts it.
  const raw = entry.nullValues?.length ? sql.text : `nullif(trim(r.${ident(entry.from)}), '')`;
  // Cast once into a scratch table; count and profile from it (a strptime over 1M rows is the cost).
  const scratch = ident(`${st.table}_try`);
  const x = ident(column.name);
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE ${scratch} AS SELECT ${raw} IS NOT NULL AS __non_empty, ${sql.value} AS ${x} FROM ${ident(st.table)} r`,
  );
  const counts = await queryOne<{ n: number; p: number }>(
    conn,
    `SELECT count(*) FILTER (WHERE __non_empty) AS n, count(*) FILTER (WHERE __non_empty AND ${x} IS NOT NULL) AS p FROM ${scratch}`,
  );
  const nonEmpty = counts?.n ?? 0;
  const parsed = counts?.p ?? 0;
  const table = await profileRelation(conn, one, `(SELECT ${x} FROM ${scratch})`);
  return { nonEmpty, parsed, rate: nonEmpty ? parsed / nonEmpty : 1, profile: table.columns[0] ?? null };
}

/**
 * The sketch of what `entry.from` of a staged variant loads as `column` (the load's own cast, see
 * tryStaged): the same normal form and hash the warehouse side uses, so the two compare.
 */
async function sketchStaged(
  ctx: ProbeContext,
  st: Staged,
  column: ContractColumn,
  entry: MappingEntry,
): Promise<ValueSketch | undefined> {
  if (entry.from === undefined || !st.columns.includes(entry.from)) return undefined;
  const one: PipelineSpec = { ...ctx.spec, contract: { columns: [column] }, mapping: { [column.name]: entry } };
  const value = columnSql(one, column, 'r').value;
  const rows = await queryRows<{ h: string }>(
    ctx.conn,
    sketchQuery('duckdb', `${ident(st.table)} r`, `(${value})`, column.type),
  );
  return rows.length ? sketchOf(rows.map((r) => r.h)) : undefined;
}
