/**
 * Drill: bad input files (the slow ones: wide, big, ambiguous), through the real CLI and a real
 * worker process. Same contract as bad-input.test.ts: one clear error, non-zero exit when nothing
 * loads, the table and version intact, bounded memory.
 */
import * as fs from 'node:fs';
import { badInputSuite, HEADER, rows } from './helpers/bad-input-suite';

const suite = badInputSuite();

test('5,000 columns: refused before DuckDB reads it (a clear "more than 2000" error), exit 1', async () => {
  const extra = Array.from({ length: 4996 }, (_, i) => `extra_${i}`);
  const lines = rows(1000).map((l, i) => [l, ...extra.map(() => String(i % 10))].join(','));
  const { r, json } = await suite.runOn(
    suite.write('wide.csv', `${[HEADER, ...extra].join(',')}\n${lines.join('\n')}\n`),
    '5000 columns',
  );
  expect(r.code).toBe(1);
  expect(json?.outcome).toBe('failed');
  expect(json?.error?.message).toContain('has 5000 columns on its header line, more than the 2000 heal reads');
}, 120_000);

test('duplicate column names: the second copy is read as name_1 and ignored; healed, the table as before', async () => {
  const before = (await suite.runOn(suite.write('again.csv', `${HEADER}\n${rows(1000).join('\n')}\n`), 'clean again'))
    .json;
  expect(before?.outcome).toBe('succeeded');
  const file = suite.write(
    'duplicate.csv',
    `id,name,amount,day,name\n${rows(1000)
      .map((l) => `${l},again`)
      .join('\n')}\n`,
  );
  const { r, json } = await suite.runOn(file, 'duplicate names');
  expect(r.code).toBe(0);
  expect(json).toMatchObject({ outcome: 'healed', rowsLoaded: 1000, driftReport: { kinds: ['unexpected-column'] } });
  expect(json?.patch).toEqual(expect.arrayContaining([{ op: 'ignore', sourceColumn: 'name_1' }]));
});

test('many ragged rows (10%): over the quarantine budget, refused, table intact', async () => {
  const lines = rows(1000).map((l, i) => (i % 10 === 0 ? `${l},surplus` : l));
  const { r, json } = await suite.runOn(
    suite.write('ragged-many.csv', `${HEADER}\n${lines.join('\n')}\n`),
    'ragged (10%)',
  );
  expect(r.code).toBe(1);
  expect(json).toMatchObject({ outcome: 'failed', driftReport: { kinds: ['malformed-rows'] } });
  expect(json?.error?.message).toContain('10.0% of lines do not split into the expected columns');
});

test('a 50 MB single line: refused with one error, memory bounded', async () => {
  const fd = fs.openSync(suite.write('one-line.csv', ''), 'w');
  const chunk = Buffer.alloc(1 << 20, 'x');
  for (let i = 0; i < 50; i++) fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  const { r, json } = await suite.runOn(`${suite.home()}/one-line.csv`, '50 MB line');
  expect(r.code).toBe(1);
  expect(json?.outcome).toBe('failed');
  expect(json?.error?.message.length).toBeLessThan(2000);
}, 120_000);
