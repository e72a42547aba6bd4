/**
 * The value checks of a load count from the cast rows (`valueStatsByFile`): a good row's value is
 * NULL exactly when its text was empty, a flagged row keeps its text flags in `__heal_nmask`, and
 * a column with a default keeps a flag per row. These counts must be the ones the text itself gives
 * (`valueStats` over `__heal_raw`), column by column, whatever mix of empty, failing and defaulted
 * values a file holds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseSpec, type PipelineSpec } from '../../common/spec';
import { castStaged, runLoad, TYPED } from '../../core/etl/load';
import { stageSource } from '../../core/etl/source';
import { textFlagColumns } from '../../core/etl/sql';
import { valueStats, valueStatsByFile } from '../../core/etl/drift';
import { queryRows, withDuckDB } from '../../lib/duckdb';
import { tempDir } from '../helpers/fixtures';

const tmp = tempDir('heal-value-stats-');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function spec(): PipelineSpec {
  const res = parseSpec({
    apiVersion: 'heal/v1',
    name: 'p',
    source: { path: path.join(tmp, 'x.csv'), format: 'csv', columns: ['id', 'qty', 'price', 'day', 'note'] },
    contract: {
      columns: [
        { name: 'id', type: 'integer' },
        { name: 'qty', type: 'integer', required: false },
        { name: 'price', type: 'number', required: false },
        { name: 'day', type: 'date' },
        { name: 'note', type: 'string', required: false },
      ],
    },
    mapping: { id: 'id', qty: { from: 'qty', default: 0 }, price: 'price', day: 'day', note: 'note' },
    target: { table: 't' },
  });
  if (!res.ok) throw new Error(res.issues.join('; '));
  return res.spec;
}

const LINES = [
  'id,qty,price,day,note',
  '1,3,2.5,2026-01-01,a', // good
  '2,,,2026-01-02,', // good: empty qty (default), empty price and note
  '3,x,1.0,2026-01-03,b', // qty fails
  '4,5,abc,2026-01-04,c', // price fails
  '5,,,,', // day missing, qty defaulted
  ',7,1,not a day,d', // id missing, day fails
  'x1,8,2,2026-01-07,e', // id fails
  '8,,,2026-01-08,f', // good
];

test('value checks from the cast rows count what the text counts, column by column', async () => {
  const file = path.join(tmp, 'x.csv');
  fs.writeFileSync(file, `${LINES.join('\n')}\n`);
  const s = spec();
  await withDuckDB(':memory:', {}, async (conn) => {
    const opened = await stageSource(conn, s, [file]);
    await castStaged(conn, s, opened);
    const fromCast = (
      await valueStatsByFile(
        conn,
        TYPED,
        { spec: s, files: [file], view: '__heal_raw', exprs: {}, textFlags: textFlagColumns(s) },
        false,
      )
    ).get(file);
    const fromText = await valueStats(conn, s);
    expect(fromCast).toEqual(fromText);
    // And the counts are the file's: the flagged rows' flags were kept, the defaulted ones known.
    const by = Object.fromEntries((fromText ?? []).map((c) => [c.column, [c.nonEmpty, c.failed, c.missing]]));
    expect(by).toEqual({ id: [7, 1, 1], qty: [5, 1, 0], price: [5, 1, 0], day: [7, 1, 1], note: [6, 0, 0] });
    // Only the column with a default keeps a flag per row; the others share one mask on flagged rows.
    const cols = (await queryRows<{ column_name: string }>(conn, `DESCRIBE ${TYPED}`)).map((c) => c.column_name);
    expect(cols.filter((c) => c.startsWith('__heal_n'))).toEqual(['__heal_n1', '__heal_nmask']);
  });
});

test('files read with different defaults load into one table: the text flags are decided once for the load', async () => {
  // b*.csv gives qty a default, a.csv does not: both groups append into the same cast table.
  const dir = path.join(tmp, 'groups');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'a.csv'), 'id,qty,price,day,note\n1,,1.5,2026-01-01,a\n2,5,2,2026-01-02,b\n');
  fs.writeFileSync(path.join(dir, 'b1.csv'), 'id,qty,price,day,note\n3,,3,2026-01-03,c\n4,4,4,2026-01-04,d\n');
  const base = spec();
  const s: PipelineSpec = {
    ...base,
    source: {
      ...base.source,
      path: path.join(dir, '*.csv'),
      files: [{ match: 'b*.csv', mapping: { qty: { from: 'qty', default: 9 } } }],
    },
    mapping: { ...base.mapping, qty: { from: 'qty' } },
  };
  expect([...textFlagColumns(s)]).toEqual(['qty']);
  await withDuckDB(':memory:', {}, async (conn) => {
    const res = await runLoad(conn, {
      spec: s,
      specVersion: 1,
      runId: 'groups',
      source: s.source.path,
      allowedRoots: [tmp],
      commit: true,
    });
    // a.csv's empty qty stays empty; b1.csv's empty qty takes the default.
    expect([res.rowsLoaded, res.rowsQuarantined]).toEqual([4, 0]);
    const rows = await queryRows<{ id: bigint; qty: bigint | null }>(conn, 'SELECT id, qty FROM t ORDER BY id');
    expect(rows.map((r) => [Number(r.id), r.qty === null ? null : Number(r.qty)])).toEqual([
      [1, null],
      [2, 5],
      [3, 9],
      [4, 4],
    ]);
  });
});
