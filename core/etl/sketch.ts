/**
 * Value sketches: a bounded, consistent fingerprint of a column's distinct values, taken the same way
 * from a drifted source (DuckDB, in the doctor's probe) and from the warehouse table (DuckDB file or
 * PostgreSQL), so that the two can be compared without moving the values: "how many of this new
 * column's values does the table already hold in that column?".
 *
 * A sketch is the bottom-k of md5 over a normal text form of each distinct non-null value (k =
 * {@link SKETCH_SIZE}). md5 spreads values uniformly over the hash space, so the bottom-k of a set is
 * a uniform sample of it, and two bottom-k sketches compare on the same sample (a KMV containment
 * estimate, see {@link containment}). Pure: the SQL builders run nothing.
 */
import type { ContractColumn } from '../../common/spec';

/** Hashes a sketch keeps at most: enough for a containment share within a few percent, small to ship. */
export const SKETCH_SIZE = 512;

/**
 * Fewest hashes below the table's threshold for a containment estimate to count: with fewer, a share
 * of 0.5 is not told from 0.2 (standard error ≈ 0.5/√n). A comparison of two complete sets is exact
 * whatever their size.
 */
export const MIN_SKETCH_SAMPLE = 32;

/** The bottom-k hashes of a column's distinct values. */
export interface ValueSketch {
  /** md5 hex digests (lower case) of the normal text forms, ascending, at most {@link SKETCH_SIZE}. */
  hashes: string[];
  /** True when `hashes` holds every distinct value of the column (it had at most k of them). */
  complete: boolean;
}

/** Where a sketch's SQL runs. */
export type SketchDialect = 'duckdb' | 'postgres';

/**
 * The normal text form of `x` (an expression of the contract type) in `dialect`: the same text for
 * the same value on either engine, or NULL for a value left out. Text forms that differ between the
 * engines are avoided: doubles print differently (DuckDB `5.0`, PostgreSQL `5`), dates follow
 * PostgreSQL's DateStyle. So numbers become integers of millionths (the double is bit-identical on
 * both sides: PostgreSQL reads the shortest text DuckDB writes, and IEEE arithmetic is the same;
 * beyond ±9e12 the millionths overflow a bigint and the value is left out, as are NaN and
 * infinities), dates days since 1970, timestamps microseconds since 1970. NUL characters are dropped
 * from strings: a PostgreSQL table cannot hold them.
 */
export function sketchText(type: ContractColumn['type'], x: string, dialect: SketchDialect): string {
  const duck = dialect === 'duckdb';
  const text = (e: string) => (duck ? `CAST(${e} AS VARCHAR)` : `(${e})::text`);
  switch (type) {
    case 'string':
      return duck ? `replace(${x}, chr(0), '')` : text(x);
    case 'integer':
    case 'boolean':
      return text(x);
    case 'number': {
      const d = (e: string) => (duck ? `CAST(${e} AS DOUBLE)` : `(${e})::float8`);
      const millionths = `floor(${x} * ${d('1000000')} + ${d('0.5')})`;
      return `CASE WHEN abs(${x}) < ${d('9e12')} THEN ${text(duck ? `CAST(${millionths} AS BIGINT)` : `(${millionths})::bigint`)} END`;
    }
    case 'date':
      return `CASE WHEN isfinite(${x}) THEN ${text(`${x} - DATE '1970-01-01'`)} END`;
    case 'timestamp':
      return `CASE WHEN isfinite(${x}) THEN ${text(duck ? `epoch_us(${x})` : `round(extract(epoch FROM ${x}) * 1000000)::bigint`)} END`;
  }
}

/**
 * The query of a sketch: the k+1 smallest distinct hashes of `x` (an expression of the contract type
 * over `relation`), ascending by byte order on both engines (a PostgreSQL collation could order hex
 * digits otherwise). One row more than k tells a complete sketch from a cut one (see {@link sketchOf}).
 */
export function sketchQuery(
  dialect: SketchDialect,
  relation: string,
  x: string,
  type: ContractColumn['type'],
  k = SKETCH_SIZE,
): string {
  const order = dialect === 'duckdb' ? 'h' : 'h COLLATE "C"';
  return `SELECT h FROM (SELECT DISTINCT md5(${sketchText(type, x, dialect)}) AS h FROM ${relation}) s WHERE h IS NOT NULL ORDER BY ${order} LIMIT ${k + 1}`;
}

/** A sketch from the rows of {@link sketchQuery} (ascending, at most k+1). */
export function sketchOf(hashes: readonly string[], k = SKETCH_SIZE): ValueSketch {
  return { hashes: hashes.slice(0, k), complete: hashes.length <= k };
}

/** How much of a column's values another column holds, as estimated from their sketches. */
export interface Containment {
  /** present / sampled (0 when nothing was sampled). */
  share: number;
  /** The column's hashes compared: those not above the table sketch's largest hash. */
  sampled: number;
  /** Of these, the ones the table sketch holds. */
  present: number;
  /** True when every distinct value of the column was compared: the share is exact, not an estimate. */
  exact: boolean;
}

/**
 * The share of the distinct values of a column (sketch `values`) that another column holds (sketch
 * `table`): a KMV containment estimate. The table sketch holds every hash of its column up to its
 * largest hash τ (all of them when complete), so whether a value hash ≤ τ is in the table is known
 * exactly, and the value hashes ≤ τ are a uniform sample of the column's values. High-cardinality
 * columns whose values are new (IDs of new rows) simply come out near 0.
 */
export function containment(values: ValueSketch, table: ValueSketch): Containment {
  const tau = table.complete ? undefined : table.hashes[table.hashes.length - 1];
  const inTable = new Set(table.hashes);
  const compared = tau === undefined ? values.hashes : values.hashes.filter((h) => h <= tau);
  const present = compared.filter((h) => inTable.has(h)).length;
  const last = values.hashes[values.hashes.length - 1];
  const exact = values.complete && (tau === undefined || last === undefined || last <= tau);
  return { share: compared.length ? present / compared.length : 0, sampled: compared.length, present, exact };
}

/** A containment worth weighing: exact, or estimated from enough hashes. Nothing compared is never one. */
export function isReliable(c: Containment): boolean {
  return c.sampled > 0 && (c.exact || c.sampled >= MIN_SKETCH_SAMPLE);
}
