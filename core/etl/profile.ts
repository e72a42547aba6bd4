/** Per-column profiles of loaded data: the baseline later loads and healing are checked against. */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ColumnType, ContractColumn, PipelineSpec } from '../../common/spec';
import { ident, queryOne, queryRows } from '../../lib/duckdb';

// The profile types are data contracts (stored as baselines, passed between activities): common/ owns them.
export type { ColumnProfile, TableProfile } from '../../common/types';
import type { ColumnProfile, TableProfile } from '../../common/types';

const NUMERIC: ReadonlySet<ColumnType> = new Set(['integer', 'number']);
const ORDERED: ReadonlySet<ColumnType> = new Set(['integer', 'number', 'date', 'timestamp']);
const TOP_VALUES_MAX_DISTINCT = 50;
/** Rows sampled (the first ones) for shape classes: ±0.7 % on a share, at a fifth of the regex work of 100k. */
const PATTERN_SAMPLE_ROWS = 20_000;
/** Integer columns whose approximate distinct ratio reaches this are counted exactly (likely identifiers). */
const EXACT_DISTINCT_FROM = 0.5;

function num(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? Math.round(n * 1e6) / 1e6 : null;
}

/**
 * SQL for the shape class of a text value: runs of letters → `a`, each digit → `9`, runs of
 * whitespace → one space. Digits go through `translate` (a character map), not a regular
 * expression: the same result at a third of the cost on date and timestamp text.
 */
export function patternSql(text: string): string {
  return `regexp_replace(translate(regexp_replace(${text}, '[A-Za-z]+', 'a', 'g'), '0123456789', '9999999999'), '\\s+', ' ', 'g')`;
}

/** Order of `ORDER BY n DESC, text`: the larger count first, then the text in code-unit order. */
function byCountThenText(an: unknown, at: unknown, bn: unknown, bt: unknown): number {
  const a = String(at);
  const b = String(bt);
  return Number(bn) - Number(an) || (a < b ? -1 : a > b ? 1 : 0);
}

/** A contract column and its position. */
interface IndexedColumn {
  c: ContractColumn;
  i: number;
}

/** Branches per UNION ALL query: one round trip for many columns, without a plan as wide as the table. */
const UNION_BATCH = 50;

/** Run `branch(item)` for every item as `(…) UNION ALL (…)` queries of at most UNION_BATCH branches. */
async function unionAll<R>(
  conn: DuckDBConnection,
  items: readonly IndexedColumn[],
  branch: (item: IndexedColumn) => string,
): Promise<R[]> {
  const out: R[] = [];
  for (let from = 0; from < items.length; from += UNION_BATCH) {
    const sql = items
      .slice(from, from + UNION_BATCH)
      .map((it) => `(${branch(it)})`)
      .join(' UNION ALL ');
    out.push(...(await queryRows<R>(conn, sql)));
  }
  return out;
}

/** Profile the contract columns of `relation` (a table name or parenthesised query). */
/**
 * Distinct months and days of month of each date or timestamp column (day/month read the wrong
 * way round changes them), exact: counted as bits of a mask over the column's distinct dates, not
 * over every row (month() and day() of millions of rows cost more than the rest of the profile).
 */
async function datePartsOf(
  conn: DuckDBConnection,
  relation: string,
  indexed: readonly IndexedColumn[],
): Promise<Map<number, { months: number; days: number }>> {
  const dated = indexed.filter(({ c }) => c.type === 'date' || c.type === 'timestamp');
  const rows = await unionAll<{ i: number; dm: number; dd: number }>(conn, dated, ({ c, i }) => {
    const x = ident(c.name);
    return `SELECT ${i} AS i, coalesce(bit_count(bit_or(1::UBIGINT << month(d))), 0) AS dm,
      coalesce(bit_count(bit_or(1::UBIGINT << day(d))), 0) AS dd
      FROM (SELECT DISTINCT CAST(${x} AS DATE) AS d FROM ${relation} WHERE ${x} IS NOT NULL)`;
  });
  return new Map(rows.map((r) => [Number(r.i), { months: Number(r.dm), days: Number(r.dd) }]));
}

export async function profileRelation(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  relation: string,
): Promise<TableProfile> {
  const cols = spec.contract.columns;
  const aggs = cols.map((c, i) => {
    const x = ident(c.name);
    const parts = [`count(${x}) AS c${i}`, `approx_count_distinct(${x}) AS d${i}`];
    if (ORDERED.has(c.type)) parts.push(`CAST(min(${x}) AS VARCHAR) AS mn${i}`, `CAST(max(${x}) AS VARCHAR) AS mx${i}`);
    // Medians from a reservoir sample (8,192 values, exact below that): a seventh of the cost of
    // approx_quantile's t-digest, and ±0.02 sd is far inside what the drift checks look at.
    if (NUMERIC.has(c.type))
      parts.push(`avg(${x}) AS av${i}`, `reservoir_quantile(${x}, 0.5) AS md${i}`, `stddev_samp(${x}) AS sd${i}`);
    if (c.type === 'date' || c.type === 'timestamp') {
      // Dates as days since the epoch, so their centre and spread compare like numbers.
      const days = `(epoch(${x}) / 86400.0)`;
      parts.push(
        `avg(${days}) AS av${i}`,
        `reservoir_quantile(${days}, 0.5) AS md${i}`,
        `stddev_samp(${days}) AS sd${i}`,
      );
    }
    if (c.type === 'string')
      parts.push(`min(length(${x})) AS lmn${i}`, `max(length(${x})) AS lmx${i}`, `avg(length(${x})) AS lav${i}`);
    return parts.join(', ');
  });
  const row =
    (await queryOne<Record<string, unknown>>(conn, `SELECT count(*) AS n, ${aggs.join(', ')} FROM ${relation}`)) ?? {};
  const rows = Number(row['n'] ?? 0);
  const counts = cols.map((_c, i) => Number(row[`c${i}`] ?? 0));
  const distincts = cols.map((_c, i) => Math.min(Number(row[`d${i}`] ?? 0), counts[i] ?? 0));
  for (const [i, c] of cols.entries()) {
    const count = counts[i] ?? 0;
    if (c.type === 'integer' && count > 0 && (distincts[i] ?? 0) >= count * EXACT_DISTINCT_FROM) {
      // Probably an identifier: HyperLogLog is a poor judge of it (1..10000 comes out 86 % distinct,
      // 1..1M 95 %), and the silent drift check and verification need to know. Count exactly.
      distincts[i] = Number(
        (await queryOne<{ d: number }>(conn, `SELECT count(DISTINCT ${ident(c.name)}) AS d FROM ${relation}`))?.d ??
          distincts[i],
      );
    }
  }
  // Shape classes of every column in one query (each branch reads the first rows only), and the
  // top values of the low-cardinality columns in another: one round trip each, not one per column.
  const indexed: IndexedColumn[] = cols.map((c, i) => ({ c, i }));
  const patternRows = await unionAll<{ i: number; p: string; n: number }>(conn, indexed, ({ c, i }) => {
    const x = ident(c.name);
    // Each distinct value's shape once (a date column repeats its days, a category its few values).
    return `SELECT ${i} AS i, ${patternSql('v')} AS p, sum(n)::BIGINT AS n FROM (SELECT CAST(${x} AS VARCHAR) AS v, count(*) AS n
      FROM (SELECT ${x} FROM ${relation} WHERE ${x} IS NOT NULL LIMIT ${PATTERN_SAMPLE_ROWS}) GROUP BY 1) GROUP BY 2 ORDER BY 3 DESC, 2 LIMIT 5`;
  });
  const parts = await datePartsOf(conn, relation, indexed);
  const low = indexed.filter(({ i }) => (distincts[i] ?? 0) > 0 && (distincts[i] ?? 0) <= TOP_VALUES_MAX_DISTINCT);
  // Positions, not aliases, in GROUP BY / ORDER BY: a source column may be named v, p or n.
  const topRows = await unionAll<{ i: number; v: string; n: number }>(conn, low, ({ c, i }) => {
    const x = ident(c.name);
    return `SELECT ${i} AS i, CAST(${x} AS VARCHAR) AS v, count(*) AS n FROM ${relation} WHERE ${x} IS NOT NULL GROUP BY 2 ORDER BY 3 DESC, 2 LIMIT ${TOP_VALUES_MAX_DISTINCT}`;
  });
  const columns: ColumnProfile[] = [];
  for (const [i, c] of cols.entries()) {
    const count = counts[i] ?? 0;
    const distinct = distincts[i] ?? 0;
    // A UNION ALL does not keep each branch's order: sort again (most common first, then by text).
    const patterns = patternRows.filter((p) => Number(p.i) === i).sort((a, b) => byCountThenText(a.n, a.p, b.n, b.p));
    const sampled = patterns.reduce((a, p) => a + Number(p.n), 0) || 1;
    let topValues: ColumnProfile['topValues'] = null;
    if (low.some((l) => l.i === i)) {
      topValues = topRows
        .filter((t) => Number(t.i) === i)
        .sort((a, b) => byCountThenText(a.n, a.v, b.n, b.v))
        .map((t) => ({ value: String(t.v), share: num(Number(t.n) / (count || 1)) ?? 0 }));
    }
    const ordered = ORDERED.has(c.type);
    const numeric = NUMERIC.has(c.type);
    const minV = row[`mn${i}`];
    const maxV = row[`mx${i}`];
    columns.push({
      name: c.name,
      type: c.type,
      count,
      nullRate: rows ? (num(1 - count / rows) ?? 0) : 0,
      distinct,
      distinctRatio: count ? (num(distinct / count) ?? 0) : 0,
      min: ordered && minV != null ? (numeric ? num(minV) : String(minV)) : null,
      max: ordered && maxV != null ? (numeric ? num(maxV) : String(maxV)) : null,
      mean: numeric || ordered ? num(row[`av${i}`]) : null,
      median: numeric || ordered ? num(row[`md${i}`]) : null,
      stddev: numeric || ordered ? num(row[`sd${i}`]) : null,
      length:
        c.type === 'string' && row[`lmn${i}`] != null
          ? { min: Number(row[`lmn${i}`]), max: Number(row[`lmx${i}`]), mean: num(row[`lav${i}`]) ?? 0 }
          : null,
      ...(c.type === 'date' || c.type === 'timestamp' ? { dateParts: parts.get(i) ?? { months: 0, days: 0 } } : {}),
      patterns: patterns.map((p) => ({ pattern: String(p.p).slice(0, 40), share: num(Number(p.n) / sampled) ?? 0 })),
      topValues,
    });
  }
  return { rows, columns };
}
