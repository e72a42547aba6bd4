/**
 * A DuckDB-backed {@link SourceProbe}: lets a doctor ask questions of the real drifted source on a
 * scratch connection — "what do the columns look like when read with these reader options?" and
 * "how well does this column parse with this mapping entry?" — without touching the warehouse.
 *
 * Each distinct reader variant is staged once (every column as text) into its own temp table and
 * cached; parse questions reuse the ETL's own SQL (`columnSql` / `castExpression`) so the answer is
 * exactly what a load with that entry would do. Expressions (`entry.expr`) are never executed here.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ContractColumn, CsvOptions, MappingEntry, PipelineSpec } from '../../common/spec';
import { ident, queryOne, queryRows } from '../../lib/duckdb';
import { clip } from '../etl/drift';
import { profileRelation } from '../etl/profile';
import { columnSql, readerCall } from '../etl/sql';
import type { ProbeResult, SourceColumnSummary, SourceProbe, SourceSummary } from './types';

/** Bounds of a {@link SourceSummary}: samples per column, their length (an ellipsis included), patterns per column. */
export const PROBE_SAMPLE_COUNT = 8;
export const PROBE_SAMPLE_LENGTH = 60;
export const PROBE_PATTERN_COUNT = 5;
/** Rows scanned for samples and patterns (the first N of the source: deterministic, bounded). */
export const PROBE_SAMPLE_ROWS = 100_000;

/** Options of {@link createSourceProbe}. */
export interface SourceProbeOptions {
  /** Source columns whose values must not be shown: their samples read "***". @default none */
  mask?: (column: string) => boolean;
}

interface Staged {
  table: string;
  columns: string[];
  rows: number;
  rejected: number;
  reader: CsvOptions | undefined;
}

type StageResult = Staged | { error: string };

let probeCounter = 0;

const EMPTY: ProbeResult = { nonEmpty: 0, parsed: 0, rate: 0, profile: null };

function errorText(err: unknown): string {
  const lines = (err instanceof Error ? err.message : String(err)).split('\n').map((l) => l.trim()).filter(Boolean);
  // DuckDB's first line is often only "CSV Error on Line: N"; keep the line that says why.
  const why = lines.find((l) => /invalid unicode|encoded|expected|delimiter|column|quote/i.test(l) && !/^CSV Error on Line/i.test(l));
  return clip([lines[0], why].filter((l, i, a) => l && a.indexOf(l) === i).join(': ') || 'unreadable', 240);
}

/** Shape classes, as the profile computes them: letters → a, digits → 9, whitespace runs → one space. */
function patternSql(x: string): string {
  return `regexp_replace(regexp_replace(regexp_replace(${x}, '[A-Za-z]+', 'a', 'g'), '[0-9]', '9', 'g'), '\\s+', ' ', 'g')`;
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
): Promise<SourceProbe> {
  const id = `${process.pid}_${++probeCounter}`;
  const stages = new Map<string, Promise<StageResult>>();
  const summaries = new Map<string, Promise<SourceSummary | { error: string }>>();
  const tries = new Map<string, Promise<ProbeResult>>();
  const mask = opts.mask ?? (() => false);

  function specFor(reader: Partial<CsvOptions> | undefined): PipelineSpec {
    if (spec.source.format !== 'csv' || !reader) return spec;
    const defined = Object.fromEntries(Object.entries(reader).filter(([, v]) => v !== undefined)) as Partial<CsvOptions>;
    return { ...spec, source: { ...spec.source, csv: { ...spec.source.csv, ...defined } } };
  }

  function keyOf(s: PipelineSpec): string {
    if (s.source.format !== 'csv') return s.source.format;
    const c = s.source.csv;
    return JSON.stringify([c.delimiter, c.header, c.quote, c.escape, c.encoding, c.skipRows, c.nullStrings]);
  }

  async function stage(reader: Partial<CsvOptions> | undefined): Promise<StageResult> {
    const s = specFor(reader);
    const key = keyOf(s);
    let p = stages.get(key);
    if (!p) {
      const n = stages.size;
      p = (async (): Promise<StageResult> => {
        const table = `__heal_probe_${id}_${n}`;
        const isCsv = s.source.format === 'csv';
        try {
          const call = readerCall(s, files, isCsv ? { rejectsTable: `${table}_rej`, rejectsScan: `${table}_scan` } : {});
          await conn.run(`CREATE OR REPLACE TEMP TABLE ${ident(table)} AS SELECT ${isCsv ? '*' : 'COLUMNS(*)::VARCHAR'} FROM ${call}`);
          const cols = await queryRows<{ column_name: string }>(conn, `DESCRIBE ${ident(table)}`);
          const rows = (await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${ident(table)}`))?.n ?? 0;
          let rejected = 0;
          if (isCsv) {
            const rej = ident(`${table}_rej`);
            rejected = (await queryOne<{ n: number }>(conn, `SELECT count(DISTINCT (file_id, line)) AS n FROM ${rej}`))?.n ?? 0;
            // A line in another encoding is not "malformed": the whole variant reads the file wrongly.
            const enc = await queryOne<{ n: number; m: string | null }>(
              conn,
              `SELECT count(DISTINCT (file_id, line)) AS n, min(error_message) AS m FROM ${rej} WHERE error_type = 'INVALID ENCODING'`,
            );
            if (enc && enc.n > 0) {
              return { error: clip(`${enc.n} line(s) are not valid ${s.source.csv.encoding}: ${enc.m ?? 'invalid unicode'}`, 240) };
            }
          }
          if (rows === 0 && rejected > 0) {
            return { error: `no line of the source splits into columns with these reader options (${rejected} malformed lines)` };
          }
          const columns = cols.map((c) => c.column_name);
          // NUL bytes in names: a UTF-16 file read as a one-byte encoding (and not a name SQL can quote).
          if (columns.some((c) => c.includes('\u0000'))) {
            return { error: `the column names hold NUL bytes: the file is not ${isCsv ? s.source.csv.encoding : 'in this encoding'} (UTF-16?)` };
          }
          return { table, columns, rows, rejected, reader: isCsv ? s.source.csv : undefined };
        } catch (err) {
          return { error: errorText(err) };
        }
      })();
      stages.set(key, p);
    }
    return p;
  }

  async function summarizeStaged(st: Staged): Promise<SourceSummary> {
    const t = ident(st.table);
    const aggs = st.columns.map((c, i) => {
      const x = `nullif(trim(${ident(c)}), '')`;
      return `count(${x}) AS n${i}, approx_count_distinct(${x}) AS d${i}, min(length(${x})) AS lmn${i}, max(length(${x})) AS lmx${i}, avg(length(${x})) AS lav${i}`;
    });
    const totals = aggs.length ? ((await queryOne<Record<string, unknown>>(conn, `SELECT ${aggs.join(', ')} FROM ${t}`)) ?? {}) : {};
    const columns: SourceColumnSummary[] = [];
    for (const [i, c] of st.columns.entries()) {
      const x = ident(c);
      const nonEmpty = Number(totals[`n${i}`] ?? 0);
      const sampleFrom = `(SELECT ${x} AS v FROM ${t} WHERE rowid < ${PROBE_SAMPLE_ROWS} AND nullif(trim(${x}), '') IS NOT NULL)`;
      const samples = mask(c)
        ? nonEmpty > 0
          ? ['***']
          : []
        : (
            await queryRows<{ v: string }>(
              conn,
              `SELECT v, count(*) AS n FROM ${sampleFrom} GROUP BY v ORDER BY n DESC, v LIMIT ${PROBE_SAMPLE_COUNT}`,
            )
          ).map((r) => clip(String(r.v), PROBE_SAMPLE_LENGTH - 1));
      const pats = await queryRows<{ p: string; n: number }>(
        conn,
        `SELECT ${patternSql('v')} AS p, count(*) AS n FROM ${sampleFrom} GROUP BY p ORDER BY n DESC, p LIMIT ${PROBE_PATTERN_COUNT}`,
      );
      const sampled = (await queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM ${sampleFrom}`))?.n || 1;
      columns.push({
        name: c,
        position: i,
        nonEmpty,
        nulls: st.rows - nonEmpty,
        distinct: Math.min(Number(totals[`d${i}`] ?? 0), nonEmpty),
        samples,
        patterns: pats.map((p) => ({ pattern: clip(String(p.p), 40), share: num(Number(p.n) / sampled) })),
        length:
          totals[`lmn${i}`] == null
            ? null
            : { min: Number(totals[`lmn${i}`]), max: Number(totals[`lmx${i}`]), mean: num(totals[`lav${i}`]) },
      });
    }
    return { files: [...files], rows: st.rows, columns, ...(st.reader ? { reader: st.reader } : {}) };
  }

  async function tryStaged(st: Staged, column: ContractColumn, entry: MappingEntry): Promise<ProbeResult> {
    if (entry.from === undefined || !st.columns.includes(entry.from)) return EMPTY;
    const one: PipelineSpec = { ...spec, contract: { columns: [column] }, mapping: { [column.name]: entry } };
    const sql = columnSql(one, column, 'r');
    const raw = `nullif(trim(r.${ident(entry.from)}), '')`;
    // Cast once into a scratch table; count and profile from it (a strptime over 1M rows is the cost).
    const scratch = ident(`${st.table}_try`);
    const x = ident(column.name);
    await conn.run(`CREATE OR REPLACE TEMP TABLE ${scratch} AS SELECT ${raw} IS NOT NULL AS __non_empty, ${sql.value} AS ${x} FROM ${ident(st.table)} r`);
    const counts = await queryOne<{ n: number; p: number }>(
      conn,
      `SELECT count(*) FILTER (WHERE __non_empty) AS n, count(*) FILTER (WHERE __non_empty AND ${x} IS NOT NULL) AS p FROM ${scratch}`,
    );
    const nonEmpty = counts?.n ?? 0;
    const parsed = counts?.p ?? 0;
    const table = await profileRelation(conn, one, `(SELECT ${x} FROM ${scratch})`);
    return { nonEmpty, parsed, rate: nonEmpty ? parsed / nonEmpty : 1, profile: table.columns[0] ?? null };
  }

  return {
    async summarize(reader?: Partial<CsvOptions>): Promise<SourceSummary | { error: string }> {
      const key = keyOf(specFor(reader));
      let p = summaries.get(key);
      if (!p) {
        p = stage(reader).then(
          (st): Promise<SourceSummary | { error: string }> =>
            'error' in st ? Promise.resolve({ error: st.error }) : summarizeStaged(st).catch((err: unknown) => ({ error: errorText(err) })),
        );
        summaries.set(key, p);
      }
      return p;
    },

    async tryColumn(column: ContractColumn, entry: MappingEntry, reader?: Partial<CsvOptions>): Promise<ProbeResult> {
      // Expressions are validated (allow-list) elsewhere; a probe never runs one.
      if (entry.expr !== undefined) return EMPTY;
      const key = JSON.stringify([keyOf(specFor(reader)), column, entry]);
      let p = tries.get(key);
      if (!p) {
        // A format DuckDB cannot use (e.g. an unknown specifier) parses nothing: rate 0, not a crash.
        p = stage(reader).then((st) => ('error' in st ? EMPTY : tryStaged(st, column, entry).catch(() => EMPTY)));
        tries.set(key, p);
      }
      return p;
    },
  };
}
