/**
 * profileRelation on a small table with known answers: the distinct months and days of a date
 * column (counted as bit masks), the median (exact on small data), top values and shape classes
 * (batched queries, re-sorted: most common first, then by text), and an identifier's exact
 * distinct count.
 */
import { profileRelation, type ColumnProfile } from '../../core/etl/profile';
import { withDuckDB } from '../../lib/duckdb';
import { columnsSpec } from '../helpers/fixtures';

type Type = 'integer' | 'number' | 'date' | 'string';

async function profile(
  rowsSql: string,
  columns: { name: string; type: Type }[],
): Promise<{ rows: number; byName: Record<string, ColumnProfile> }> {
  return withDuckDB(':memory:', {}, async (conn) => {
    await conn.run(`CREATE TEMP TABLE w AS ${rowsSql}`);
    const p = await profileRelation(conn, columnsSpec(columns), 'w');
    return { rows: p.rows, byName: Object.fromEntries(p.columns.map((c) => [c.name, c])) };
  });
}

test('dates: distinct months and days of month; numbers: exact median; identifiers counted exactly', async () => {
  // 10 rows: ids 1..10, dates on 3 months × days {1, 2, 3, 15, 28}, amounts 1..9 and a NULL.
  const { rows, byName } = await profile(
    `SELECT i AS id,
       (DATE '2026-01-01' + INTERVAL (i % 3) MONTH + INTERVAL ([0, 1, 2, 14, 27][1 + i % 5]) DAY)::DATE AS day,
       CASE WHEN i = 10 THEN NULL ELSE i::DOUBLE END AS amount
     FROM range(1, 11) t(i)`,
    [
      { name: 'id', type: 'integer' },
      { name: 'day', type: 'date' },
      { name: 'amount', type: 'number' },
    ],
  );
  expect(rows).toBe(10);
  expect(byName['day']?.dateParts).toEqual({ months: 3, days: 5 });
  expect(byName['amount']).toMatchObject({ count: 9, nullRate: 0.1, median: 5, min: 1, max: 9 });
  expect(byName['id']).toMatchObject({ distinct: 10, distinctRatio: 1 });
});

test('top values and shape classes: most common first, ties by text, per column', async () => {
  // color: red ×3, blue ×2, green ×2, amber ×1; code: 'AB-12' ×5, 'abc' ×2, '7' ×1.
  const { byName } = await profile(
    `SELECT * FROM (VALUES
       ('red', 'AB-12'), ('blue', 'AB-12'), ('red', 'abc'), ('green', 'AB-12'),
       ('amber', '7'), ('green', 'AB-12'), ('red', 'abc'), ('blue', 'AB-12')) v(color, code)`,
    [
      { name: 'color', type: 'string' },
      { name: 'code', type: 'string' },
    ],
  );
  expect(byName['color']?.topValues).toEqual([
    { value: 'red', share: 0.375 },
    { value: 'blue', share: 0.25 },
    { value: 'green', share: 0.25 },
    { value: 'amber', share: 0.125 },
  ]);
  expect(byName['code']?.patterns).toEqual([
    { pattern: 'a-99', share: 0.625 },
    { pattern: 'a', share: 0.25 },
    { pattern: '9', share: 0.125 },
  ]);
  expect(byName['color']?.dateParts).toBeUndefined();
});
