/**
 * compareProfiles: the check that a healed column is "the same column as before". Profiles are
 * computed for real (DuckDB) from real data: Seattle weather from vega-datasets.
 */
import * as path from 'node:path';
import { profileRelation, type ColumnProfile } from '../../core/etl/profile';
import { compareProfiles } from '../../core/spec/verify';
import { withDuckDB } from '../../lib/duckdb';
import { columnsSpec } from '../helpers/fixtures';

const SEATTLE = path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data', 'seattle-weather.csv');

/** Profiles of one column computed over `select` (an SQL expression over the Seattle file). */
async function profiles(
  select: Record<string, string>,
  types: Record<string, 'number' | 'date' | 'string'>,
): Promise<Record<string, ColumnProfile>> {
  return withDuckDB(':memory:', {}, async (conn) => {
    const cols = Object.entries(select).map(([k, v]) => `${v} AS "${k}"`);
    await conn.run(`CREATE TEMP TABLE w AS SELECT ${cols.join(', ')} FROM read_csv('${SEATTLE}')`);
    const s = columnsSpec(Object.keys(select).map((name) => ({ name, type: types[name] ?? 'number' })));
    const p = await profileRelation(conn, s, 'w');
    return Object.fromEntries(p.columns.map((c) => [c.name, c]));
  });
}

let base: Record<string, ColumnProfile>;
beforeAll(async () => {
  base = await profiles(
    { temp_max: 'temp_max', temp_min: 'temp_min', precipitation: 'precipitation', date: 'date', weather: 'weather' },
    { date: 'date', weather: 'string' },
  );
});

test('the same data passes, with its figures', async () => {
  const c = compareProfiles(base['temp_max']!, base['temp_max']!);
  expect(c).toMatchObject({ name: 'profile:temp_max', passed: true });
  expect(c.figure).toMatch(/median .* vs /);
});

test('swapped columns fail (temp_min read as temp_max)', () => {
  const swapped = { ...base['temp_min']!, name: 'temp_max' };
  const c = compareProfiles(base['temp_max']!, swapped);
  expect(c.passed).toBe(false);
  expect(c.figure).toMatch(/median|mean/);
});

test('a unit change (×100, e.g. a price now in cents) fails', async () => {
  const cents = (await profiles({ precipitation: 'precipitation * 100' }, {}))['precipitation']!;
  const c = compareProfiles(base['precipitation']!, cents);
  expect(c.passed).toBe(false);
  expect(c.figure).toMatch(/moved/);
});

test('day and month read the wrong way round fail when it moves the dates', async () => {
  // Dates read as day/month: every date with day ≤ 12 moves to another month; the rest would not parse.
  const wrong = (
    await profiles(
      { date: `CASE WHEN day(date) <= 12 THEN make_date(year(date), day(date), month(date)) END` },
      { date: 'date' },
    )
  )['date']!;
  const c = compareProfiles(base['date']!, wrong);
  expect(c.passed).toBe(false);
});

test('a categorical column replaced by another fails on category overlap', async () => {
  const other = (
    await profiles({ weather: `CASE WHEN precipitation > 0 THEN 'wet' ELSE 'dry' END` }, { weather: 'string' })
  )['weather']!;
  const c = compareProfiles(base['weather']!, other);
  expect(c.passed).toBe(false);
  expect(c.figure).toMatch(/categories/);
});

test('a required column gone empty fails on the null rate', () => {
  const empty = { ...base['temp_max']!, nullRate: 0.9, count: 146 };
  expect(compareProfiles(base['temp_max']!, empty).passed).toBe(false);
});

test('monthly dates read day-first instead of month-first fail even though every value parses', async () => {
  // Dates on the 1st of each month: "02/01/2006" read as %d/%m/%Y is 2 January, not 1 February.
  const monthly = await withDuckDB(':memory:', {}, async (conn) => {
    await conn.run(
      `CREATE TEMP TABLE m AS SELECT d AS "month" FROM range(DATE '2006-01-01', DATE '2016-01-01', INTERVAL 1 MONTH) t(d)`,
    );
    await conn.run(`CREATE TEMP TABLE w AS SELECT make_date(year("month"), 1, month("month")) AS "month" FROM m`);
    const s = columnsSpec([{ name: 'month', type: 'date' }]);
    return [(await profileRelation(conn, s, 'm')).columns[0]!, (await profileRelation(conn, s, 'w')).columns[0]!];
  });
  const [right, wrong] = monthly;
  expect(compareProfiles(right!, right!).passed).toBe(true);
  const c = compareProfiles(right!, wrong!);
  expect(c.passed).toBe(false);
  expect(c.figure).toMatch(/distinct (months|days)/);
});
