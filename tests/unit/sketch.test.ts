/**
 * Value sketches (core/etl/sketch.ts): the bottom-k bookkeeping and the KMV containment estimate on
 * synthetic hash sets with known overlaps, then the one property everything rests on: the drifted
 * source (the probe) and the warehouse table (DuckDB) hash the same values to the same sketch, for
 * every contract type. PostgreSQL's side is tested against a real server in
 * tests/warehouse/value-sketch.test.ts.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSourceProbe } from '../../core/doctor/probe';
import { runLoad } from '../../core/etl/load';
import {
  containment,
  isReliable,
  MIN_SKETCH_SAMPLE,
  SKETCH_SIZE,
  sketchOf,
  sketchQuery,
  sketchText,
  type ValueSketch,
} from '../../core/etl/sketch';
import { inferSpec } from '../../core/spec/infer';
import { queryRows, withDuckDB } from '../../lib/duckdb';
import { duckdbWarehouse } from '../../warehouse/duckdb';

const md5 = (v: string) => crypto.createHash('md5').update(v).digest('hex');

/** The sketch of a set of values, computed here as the SQL computes it: the k smallest md5s. */
function sketch(values: Iterable<string>, k = SKETCH_SIZE): ValueSketch {
  const hashes = [...new Set([...values].map(md5))].sort();
  return sketchOf(hashes.slice(0, k + 1), k);
}
const range = (from: number, to: number, prefix = 'v') =>
  Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

describe('sketchOf and containment', () => {
  it('a sketch is complete when the column has at most k distinct values', () => {
    expect(sketchOf(['a', 'b'], 2)).toEqual({ hashes: ['a', 'b'], complete: true });
    expect(sketchOf(['a', 'b', 'c'], 2)).toEqual({ hashes: ['a', 'b'], complete: false });
  });

  it('two complete sketches compare exactly', () => {
    const c = containment(sketch(range(0, 100)), sketch(range(40, 300)));
    expect(c).toEqual({ share: 0.6, sampled: 100, present: 60, exact: true });
    expect(isReliable(c)).toBe(true);
  });

  it('estimates the share of a large column held by a larger one within a few percent (KMV)', () => {
    // 5,000 values, 3,000 of them among the table's 40,000: the true share is 0.6.
    const values = sketch([...range(0, 3000), ...range(0, 2000, 'new')]);
    const table = sketch(range(0, 40_000));
    const c = containment(values, table);
    expect(c.exact).toBe(false);
    // Only the value hashes up to the table sketch's largest are compared: about 5000 × 512 / 40000.
    expect(c.sampled).toBeGreaterThan(MIN_SKETCH_SAMPLE);
    expect(c.sampled).toBeLessThan(SKETCH_SIZE);
    expect(Math.abs(c.share - 0.6)).toBeLessThan(0.12);
    expect(isReliable(c)).toBe(true);
  });

  it('a column much larger than the table is compared on its full sketch', () => {
    const c = containment(sketch(range(0, 20_000)), sketch(range(0, 300)));
    expect(c.sampled).toBe(SKETCH_SIZE);
    expect(c.share).toBeLessThan(0.05); // 300 of 20,000 held: 1.5%
  });

  it('new IDs are simply "no overlap", and a handful compared is not reliable', () => {
    const ids = containment(sketch(range(100_000, 110_000, 'id')), sketch(range(0, 100_000, 'id')));
    expect(ids.share).toBe(0);
    expect(isReliable(ids)).toBe(true);
    // A few values against a big table: almost none fall under the table's threshold.
    const few = containment(sketch(range(0, 20)), sketch(range(0, 50_000)));
    expect(few.exact).toBe(false);
    expect(few.sampled).toBeLessThan(MIN_SKETCH_SAMPLE);
    expect(isReliable(few)).toBe(false);
    const none = containment({ hashes: [], complete: true }, sketch(range(0, 10)));
    expect(none).toEqual({ share: 0, sampled: 0, present: 0, exact: true });
    expect(isReliable(none)).toBe(false);
  });

  it('the same md5 as DuckDB, ordered the same way (byte order of lower-case hex)', async () => {
    const values = range(0, 2000);
    const rows = await withDuckDB(':memory:', {}, async (conn) => {
      await conn.run(`CREATE TABLE t AS SELECT 'v' || i AS v FROM range(2000) r(i)`);
      return queryRows<{ h: string }>(conn, sketchQuery('duckdb', 't', 'v', 'string'));
    });
    expect(sketchOf(rows.map((r) => r.h))).toEqual(sketch(values));
  });
});

describe('normal text forms', () => {
  it('numbers are millionths, so 5 and 5.0 agree; values beyond ±9e12, NaN and infinities are left out', async () => {
    const out = await withDuckDB(':memory:', {}, (conn) =>
      queryRows<{ v: string | null }>(
        conn,
        `SELECT ${sketchText('number', 'x', 'duckdb')} AS v FROM (VALUES (5.0::DOUBLE), (315.71), (-0.25), (0.1 + 0.2), (1e20), ('nan'::DOUBLE), ('-inf'::DOUBLE), (-0.0::DOUBLE)) t(x)`,
      ),
    );
    expect(out.map((r) => r.v)).toEqual(['5000000', '315710000', '-250000', '300000', null, null, null, '0']);
  });

  it('dates are days and timestamps microseconds since 1970', async () => {
    const out = await withDuckDB(':memory:', {}, (conn) =>
      queryRows<{ d: string; t: string }>(
        conn,
        `SELECT ${sketchText('date', "DATE '1969-12-31'", 'duckdb')} AS d, ${sketchText('timestamp', "TIMESTAMP '1970-01-01 00:00:01.5'", 'duckdb')} AS t`,
      ),
    );
    expect(out).toEqual([{ d: '-1', t: '1500000' }]);
  });
});

describe('the source and the table sketch the same values alike (DuckDB)', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'heal-sketch-')));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('every contract type: the probe of the file and the loaded table give the same sketch', async () => {
    const lines = ['id,name,price,active,day,at'];
    for (let i = 0; i < 1500; i++) {
      const price = ['5', '0.1', '0.30000000000000004', '1e20', '-0', '315.71', '123456.789'][i % 7] ?? '';
      const day = new Date(Date.UTC(1950, 0, 1) + i * 13 * 86_400_000).toISOString().slice(0, 10);
      lines.push(
        `${i * 7919 - 5_000_000},"n${i % 700} café ""q""",${i < 7 ? price : (i * 0.37 - 100).toFixed(2)},${i % 3 === 0},${day},${day} 10:11:${String(i % 60).padStart(2, '0')}.${String(i).padStart(6, '0')}`,
      );
    }
    const file = path.join(tmp, 'typed.csv');
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    const spec = await inferSpec({ name: 'typed', source: file, allowedRoots: [tmp] });
    expect(spec.contract.columns.map((c) => c.type)).toEqual([
      'integer',
      'string',
      'number',
      'boolean',
      'date',
      'timestamp',
    ]);
    const warehouse = path.join(tmp, 'wh.duckdb');
    await withDuckDB(warehouse, {}, (conn) =>
      runLoad(conn, { spec, specVersion: 1, runId: 'r', source: file, allowedRoots: [tmp], commit: true }),
    );
    const wh = duckdbWarehouse({ home: tmp, warehouse, duckdbMemoryLimit: undefined, duckdbThreads: 0 });
    await withDuckDB(':memory:', {}, async (conn) => {
      const probe = await createSourceProbe(conn, spec, [file]);
      for (const col of spec.contract.columns) {
        const source = await probe.valueSketch(col, spec.mapping[col.name] ?? {});
        const table = await wh.valueSketch(spec.target.table, col.name, col.type);
        expect({ col: col.name, sketch: source }).toEqual({ col: col.name, sketch: table });
        expect(containment(source as ValueSketch, table as ValueSketch).share).toBe(1);
      }
    });
    // Complete for the small columns, cut at k for the large ones.
    expect((await wh.valueSketch('typed', 'active', 'boolean'))?.hashes).toHaveLength(2);
    expect(await wh.valueSketch('typed', 'id', 'integer')).toMatchObject({ complete: false });
    expect(await wh.valueSketch('typed', 'nope', 'integer')).toBeUndefined();
    expect(await wh.valueSketch('nope', 'id', 'integer')).toBeUndefined();
  });
});
