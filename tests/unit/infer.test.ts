/** `heal init` inference on real and hand-made sample files. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inferSpec } from '../../core/spec/infer';
import { runLoad } from '../../core/etl/load';
import { SourceUnreadableError } from '../../common/errors';
import type { PipelineSpec } from '../../common/spec';
import { lit, withDuckDB } from '../../lib/duckdb';

const CASES = path.resolve(__dirname, '../fixtures/drift-cases');

let tmp: string;
let roots: string[];

beforeEach(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'heal-infer-')));
  roots = [tmp, CASES];
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
}

const infer = (source: string, name = 'sample') => inferSpec({ name, source, allowedRoots: roots });

/** [name, type, required, format] of each contract column. */
const contract = (s: PipelineSpec) => s.contract.columns.map((c) => [c.name, c.type, c.required, c.format ?? null]);

/** The inferred spec must load its own sample with nothing quarantined. */
async function loadsItsSample(spec: PipelineSpec, source: string): Promise<number> {
  const res = await withDuckDB(':memory:', {}, (conn) =>
    runLoad(conn, { spec, specVersion: 1, runId: 'check', source, allowedRoots: roots, commit: true }),
  );
  expect(res.rowsQuarantined).toBe(0);
  return res.rowsLoaded;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('inferSpec', () => {
  it('iowa clean.csv: year is a %Y-%m-%d date, net_generation an integer, all required', async () => {
    const file = path.join(CASES, 'iowa-camel-rename', 'clean.csv');
    const spec = await infer(file, 'iowa');
    expect(spec.name).toBe('iowa');
    expect(spec.source).toMatchObject({
      path: file,
      format: 'csv',
      columns: ['year', 'source', 'net_generation'],
      ignore: [],
    });
    expect(spec.source.csv).toMatchObject({ delimiter: ',', header: true });
    expect(contract(spec)).toEqual([
      ['year', 'date', true, '%Y-%m-%d'],
      ['source', 'string', true, null],
      ['net_generation', 'integer', true, null],
    ]);
    expect(spec.mapping).toEqual({
      year: { from: 'year' },
      source: { from: 'source' },
      net_generation: { from: 'net_generation' },
    });
    expect(spec.target).toEqual({ table: 'iowa', mode: 'replace', partial: 'refuse' });
    expect(spec.description).toBe('Inferred by heal init from clean.csv (51 rows)');
    expect(await loadsItsSample(spec, file)).toBe(51);
  });

  it('gapminder clean.csv: integers and numbers', async () => {
    const file = path.join(CASES, 'gapminder-currency', 'clean.csv');
    const spec = await infer(file, 'gapminder');
    expect(contract(spec)).toEqual([
      ['country', 'string', true, null],
      ['income', 'integer', true, null],
      ['health', 'number', true, null],
      ['population', 'integer', true, null],
      ['region', 'string', true, null],
    ]);
    expect(await loadsItsSample(spec, file)).toBe(187);
  });

  it('a zip code with leading zeros stays text; a column with nulls is optional', async () => {
    const file = write('zips.csv', 'zip,city,pop,note\n00501,Holtsville,10,\n02134,Boston,20,x\n10001,NYC,30,y\n');
    const spec = await infer(file);
    expect(contract(spec)).toEqual([
      ['zip', 'string', true, null],
      ['city', 'string', true, null],
      ['pop', 'integer', true, null],
      ['note', 'string', false, null],
    ]);
    expect(await loadsItsSample(spec, file)).toBe(3);
  });

  it('a wide file is judged column by column: codes with leading zeros and nulls past the 200th column', async () => {
    // The sample's column facts come from one read per 200 columns: each column keeps its own.
    const n = 450;
    const header = Array.from({ length: n }, (_, i) => `c${i}`);
    const row = (r: number) =>
      header.map((_, i) => (i === 230 ? `0${r}7` : i === 410 && r === 1 ? '' : String(r * 10 + i)));
    const file = write('wide.csv', `${[header, row(1), row(2), row(3)].map((l) => l.join(',')).join('\n')}\n`);
    const byName = new Map((await infer(file)).contract.columns.map((c) => [c.name, [c.type, c.required]]));
    expect(byName.size).toBe(n);
    expect(byName.get('c230')).toEqual(['string', true]);
    expect(byName.get('c410')).toEqual(['integer', false]);
    expect(byName.get('c0')).toEqual(['integer', true]);
    expect(byName.get('c449')).toEqual(['integer', true]);
  });

  it('--optional makes a column optional even without nulls', async () => {
    const file = write('o.csv', 'a,b\n1,2\n3,4\n');
    const spec = await inferSpec({ name: 'o', source: file, allowedRoots: roots, optional: ['b'] });
    expect(spec.contract.columns.map((c) => c.required)).toEqual([true, false]);
  });

  it('a header with spaces becomes an identifier, mapped from the original name', async () => {
    const file = write('spaced.csv', 'Net Generation,Source Name,2019 Total\n1,a,5\n2,b,6\n');
    const spec = await infer(file);
    expect(spec.source.columns).toEqual(['Net Generation', 'Source Name', '2019 Total']);
    expect(contract(spec)).toEqual([
      ['net_generation', 'integer', true, null],
      ['source_name', 'string', true, null],
      ['c_2019_total', 'integer', true, null],
    ]);
    expect(spec.mapping).toEqual({
      net_generation: { from: 'Net Generation' },
      source_name: { from: 'Source Name' },
      c_2019_total: { from: '2019 Total' },
    });
    expect(await loadsItsSample(spec, file)).toBe(2);
  });

  it('headers that collide after snake_casing get distinct identifiers', async () => {
    const file = write('dups.csv', 'Net Generation,net_generation,NET-GENERATION\n1,2,3\n');
    const spec = await infer(file);
    expect(spec.contract.columns.map((c) => c.name)).toEqual([
      'net_generation',
      'net_generation_2',
      'net_generation_3',
    ]);
    expect(Object.values(spec.mapping).map((m) => m.from)).toEqual([
      'Net Generation',
      'net_generation',
      'NET-GENERATION',
    ]);
  });

  it('detects a semicolon delimiter', async () => {
    const file = write('semi.csv', 'a;b;c\n1;x;2001-01-01\n4;y;2001-01-02\n');
    const spec = await infer(file);
    expect(spec.source.csv.delimiter).toBe(';');
    expect(contract(spec)).toEqual([
      ['a', 'integer', true, null],
      ['b', 'string', true, null],
      ['c', 'date', true, '%Y-%m-%d'],
    ]);
    expect(await loadsItsSample(spec, file)).toBe(2);
  });

  it('a US date format is detected and checked', async () => {
    const file = write('us.csv', 'd,x\n01/02/2001,1\n12/31/2001,2\n');
    const spec = await infer(file);
    expect(contract(spec)[0]).toEqual(['d', 'date', true, '%m/%d/%Y']);
    expect(await loadsItsSample(spec, file)).toBe(2);
  });

  it('ISO 8601 timestamps, booleans and decimals load with the inferred spec', async () => {
    const file = write('iso.csv', 'id,ts,flag,amt\n1,2001-01-01T10:00:00,true,1.5\n2,2001-01-02T11:30:00,false,2.25\n');
    const spec = await infer(file);
    expect(contract(spec)).toEqual([
      ['id', 'integer', true, null],
      ['ts', 'timestamp', true, null],
      ['flag', 'boolean', true, null],
      ['amt', 'number', true, null],
    ]);
    expect(await loadsItsSample(spec, file)).toBe(2);
  });

  it('a column DuckDB types but the load would not parse stays text, so the spec loads its own sample', async () => {
    const file = write('odd.csv', 'id,ts,score\n1,2001-01-01 10:00:00+02,1.5\n2,2001-01-02 11:30:00+02,NaN\n');
    const spec = await infer(file);
    expect(contract(spec)).toEqual([
      ['id', 'integer', true, null],
      ['ts', 'string', true, null],
      ['score', 'string', true, null],
    ]);
    expect(await loadsItsSample(spec, file)).toBe(2);
  });

  describe('JSON and Parquet', () => {
    async function writeWith(sql: string): Promise<void> {
      await withDuckDB(':memory:', {}, async (conn) => {
        await conn.run(`CREATE TABLE t AS
          SELECT i AS id, 'name ' || i AS name, DATE '2001-01-01' + i::INTEGER AS day,
                 TIMESTAMP '2001-01-01 10:00:00' + INTERVAL (i) HOUR AS at, i * 1.5 AS amount,
                 i % 2 = 0 AS even, CASE WHEN i % 3 = 0 THEN NULL ELSE 'x' END AS opt
          FROM range(1, 11) r(i)`);
        await conn.run(sql);
      });
    }
    const expected = [
      ['id', 'integer', true, null],
      ['name', 'string', true, null],
      ['day', 'date', true, '%Y-%m-%d'],
      ['at', 'timestamp', true, null],
      ['amount', 'number', true, null],
      ['even', 'boolean', true, null],
      ['opt', 'string', false, null],
    ];

    it('infers a JSON (newline-delimited) file', async () => {
      const file = path.join(tmp, 't.json');
      await writeWith(`COPY t TO ${lit(file)} (FORMAT json)`);
      const spec = await infer(file);
      expect(spec.source.format).toBe('json');
      expect(contract(spec)).toEqual(expected);
      expect(await loadsItsSample(spec, file)).toBe(10);
    });

    it('infers a JSON array file', async () => {
      const file = path.join(tmp, 'a.json');
      await writeWith(`COPY t TO ${lit(file)} (FORMAT json, ARRAY true)`);
      expect(contract(await infer(file))).toEqual(expected);
    });

    it('infers a Parquet file', async () => {
      const file = path.join(tmp, 't.parquet');
      await writeWith(`COPY t TO ${lit(file)} (FORMAT parquet)`);
      const spec = await infer(file);
      expect(spec.source.format).toBe('parquet');
      expect(contract(spec)).toEqual(expected);
      expect(await loadsItsSample(spec, file)).toBe(10);
    });
  });

  describe('unusable samples', () => {
    it('an empty file', async () => {
      const file = write('empty.csv', '');
      const err = await rejection(infer(file));
      expect(err).toBeInstanceOf(SourceUnreadableError);
      expect(err.message).toBe(`${file}: the file is empty; heal init needs a sample with a header and rows`);
    });

    it('a file of blank lines is empty too', async () => {
      const file = write('blank.csv', '\n\n  \n');
      expect((await rejection(infer(file))).message).toBe(
        `${file}: the file is empty; heal init needs a sample with a header and rows`,
      );
    });

    it('a header-only file', async () => {
      const file = write('header.csv', 'a,b,c\n');
      const err = await rejection(infer(file));
      expect(err).toBeInstanceOf(SourceUnreadableError);
      expect(err.message).toBe(`${file}: the sample has no data rows; heal init needs rows to infer types`);
    });

    it('an unknown extension', async () => {
      const file = write('data.xlsx', 'PK');
      const err = await rejection(infer(file));
      expect(err).toBeInstanceOf(SourceUnreadableError);
      expect(err.message).toBe(`${file}: unknown format (use a .csv, .json or .parquet file, or --format)`);
    });

    it('a file that is not what its name says', async () => {
      const file = write('broken.parquet', 'not parquet at all\n');
      const err = await rejection(infer(file));
      expect(err).toBeInstanceOf(SourceUnreadableError);
      expect(err.message).toMatch(
        new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read as parquet: `),
      );
    });

    it('a missing file', async () => {
      const file = path.join(tmp, 'nope.csv');
      expect((await rejection(infer(file))).message).toBe(`${file}: no such file`);
    });
  });
});
