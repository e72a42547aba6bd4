/**
 * The DuckDB-backed source probe on real files: bounded summaries (samples, patterns, masking),
 * reader variants staged once each, read errors as `{ error }`, and parse measurements that match
 * what a load with the same mapping entry produces (the profile equals the loaded table's).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  createSourceProbe,
  PROBE_PATTERN_COUNT,
  PROBE_SAMPLE_COUNT,
  PROBE_SAMPLE_LENGTH,
  PROBE_STAGE_ROWS,
} from '../../core/doctor/probe';
import type { SourceSummary } from '../../core/doctor/types';
import { runLoad } from '../../core/etl/load';
import { profileRelation } from '../../core/etl/profile';
import { inferSpec } from '../../core/spec/infer';
import type { PipelineSpec } from '../../common/spec';
import { ident, queryRows, withDuckDB } from '../../lib/duckdb';

const VEGA = path.resolve(__dirname, '../../node_modules/vega-datasets/data');
const CASES = path.resolve(__dirname, '../fixtures/drift-cases');
const currency = (f: 'clean.csv' | 'drifted.csv') => path.join(CASES, 'gapminder-currency', f);

let tmp: string;
let gapminder: PipelineSpec;
beforeAll(async () => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'heal-probe-')));
  gapminder = await inferSpec({ name: 'gm', source: currency('clean.csv'), allowedRoots: [CASES] });
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function write(name: string, content: string | Buffer): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, content);
  return p;
}

const scratch = <T>(fn: (conn: DuckDBConnection) => Promise<T>) => withDuckDB(':memory:', {}, fn);

function ok(s: SourceSummary | { error: string }): SourceSummary {
  if ('error' in s) throw new Error(`expected a summary, got error: ${s.error}`);
  return s;
}

const col = (spec: PipelineSpec, name: string) => {
  const c = spec.contract.columns.find((x) => x.name === name);
  if (!c) throw new Error(name);
  return c;
};

describe('summarize', () => {
  it('summarizes every column, bounded: ≤ 8 samples of ≤ 60 characters, ≤ 5 patterns', async () => {
    // la-riots has many shapes; make its most common "type" longer than the bound.
    const text = fs
      .readFileSync(path.join(VEGA, 'la-riots.csv'), 'utf8')
      .replace(/Not riot-related/g, `Not riot-related ${'x'.repeat(100)}`);
    const file = write('la.csv', text);
    const spec = await inferSpec({ name: 'la', source: file, allowedRoots: [tmp] });
    const s = ok(await scratch(async (conn) => (await createSourceProbe(conn, spec, [file])).summarize()));
    expect(s.files).toEqual([file]);
    expect(s.rows).toBe(63);
    expect(s.columns.map((c) => c.name)).toEqual(spec.source.columns);
    expect(s.columns.map((c) => c.position)).toEqual(spec.source.columns.map((_, i) => i));
    expect(s.reader).toMatchObject({ delimiter: ',', header: true, encoding: 'utf-8' });
    for (const c of s.columns) {
      expect(c.samples.length).toBeLessThanOrEqual(PROBE_SAMPLE_COUNT);
      for (const v of c.samples) expect(v.length).toBeLessThanOrEqual(PROBE_SAMPLE_LENGTH);
      expect(c.patterns.length).toBeLessThanOrEqual(PROBE_PATTERN_COUNT);
      expect(c.patterns.reduce((a, p) => a + p.share, 0)).toBeLessThanOrEqual(1.000001);
      expect(c.nonEmpty + c.nulls).toBe(63);
    }
    const type = s.columns.find((c) => c.name === 'type');
    expect(type?.samples.some((v) => v.length === PROBE_SAMPLE_LENGTH && v.endsWith('…'))).toBe(true);
    expect(type?.length?.max).toBeGreaterThan(100);
    const gender = s.columns.find((c) => c.name === 'gender');
    expect(gender?.distinct).toBe(2);
    expect([...(gender?.samples ?? [])].sort()).toEqual(['Female', 'Male']);
    expect(gender?.patterns).toEqual([{ pattern: 'a', share: 1 }]);
  });

  it('masks the samples of masked columns', async () => {
    const s = ok(
      await scratch(async (conn) =>
        (
          await createSourceProbe(conn, gapminder, [currency('drifted.csv')], { mask: (c) => c === 'country' })
        ).summarize(),
      ),
    );
    expect(s.columns.find((c) => c.name === 'country')?.samples).toEqual(['***']);
    expect(s.columns.find((c) => c.name === 'income')?.samples.every((v) => v.startsWith('$'))).toBe(true);
    expect(s.columns.find((c) => c.name === 'income')?.patterns[0]?.pattern).toMatch(/^\$9/);
  });

  it('reads with reader overrides, one staged table per variant (cached), and reports read errors', async () => {
    const text = fs.readFileSync(path.join(VEGA, 'seattle-weather.csv'), 'utf8');
    const clean = write('sw.csv', text);
    const semi = write('sw-semi.csv', text.replace(/,/g, ';'));
    const spec = await inferSpec({ name: 'sw', source: clean, allowedRoots: [tmp] });
    await scratch(async (conn) => {
      const probe = await createSourceProbe(conn, spec, [semi]);
      const asIs = ok(await probe.summarize());
      expect(asIs.columns).toHaveLength(1);
      const fixed = ok(await probe.summarize({ delimiter: ';' }));
      expect(fixed.columns.map((c) => c.name)).toEqual(spec.source.columns);
      expect(fixed.rows).toBe(1461);
      expect(fixed.reader?.delimiter).toBe(';');
      expect(await probe.summarize({ delimiter: ';' })).toBe(fixed);
      const noHeader = ok(await probe.summarize({ delimiter: ';', header: false }));
      expect(noHeader.columns.map((c) => c.name)).toEqual([
        'column0',
        'column1',
        'column2',
        'column3',
        'column4',
        'column5',
      ]);
      expect(noHeader.rows).toBe(1462);
      const tables = await queryRows<{ name: string }>(
        conn,
        `SELECT table_name AS name FROM duckdb_tables() WHERE temporary AND regexp_full_match(table_name, '__heal_probe_.*_[0-9]+')`,
      );
      expect(tables).toHaveLength(3);
    });

    const latin = write('latin.csv', Buffer.from('name,n\nCôte,1\nZürich,2\n', 'latin1'));
    const lspec = await inferSpec({
      name: 'latin',
      source: write('utf8.csv', 'name,n\nCote,1\nZurich,2\n'),
      allowedRoots: [tmp],
    });
    await scratch(async (conn) => {
      const probe = await createSourceProbe(conn, lspec, [latin]);
      const bad = await probe.summarize();
      expect('error' in bad && bad.error).toMatch(/unicode|utf-8/i);
      const good = ok(await probe.summarize({ encoding: 'latin-1' }));
      expect(good.columns.find((c) => c.name === 'name')?.samples).toEqual(['Côte', 'Zürich']);
      // A probe answer never throws on an unreadable variant: nothing parses.
      expect(await probe.tryColumn(col(lspec, 'n'), { from: 'n' })).toEqual({
        nonEmpty: 0,
        parsed: 0,
        rate: 0,
        profile: null,
      });
    });
  });

  it('counts malformed lines out instead of failing the summary', async () => {
    const lines = fs.readFileSync(path.join(VEGA, 'iowa-electricity.csv'), 'utf8').trimEnd().split('\n');
    lines.splice(5, 0, '2003-01-01,Fossil Fuels,1,2,3');
    const file = write('iowa-ragged.csv', `${lines.join('\n')}\n`);
    const spec = await inferSpec({
      name: 'iowa',
      source: path.join(VEGA, 'iowa-electricity.csv'),
      allowedRoots: [VEGA],
    });
    const s = ok(await scratch(async (conn) => (await createSourceProbe(conn, spec, [file])).summarize()));
    expect(s.rows).toBe(51);
    expect(s.columns.map((c) => c.name)).toEqual(['year', 'source', 'net_generation']);
  });
});

describe('tryColumn', () => {
  it('measures parsing as the load would, and profiles exactly as the loaded table', async () => {
    const income = col(gapminder, 'income');
    const baseline = await scratch(async (conn) => {
      await runLoad(conn, {
        spec: gapminder,
        specVersion: 1,
        runId: 'clean',
        source: currency('clean.csv'),
        allowedRoots: [CASES],
        commit: true,
      });
      return profileRelation(conn, gapminder, ident(gapminder.target.table));
    });
    await scratch(async (conn) => {
      const probe = await createSourceProbe(conn, gapminder, [currency('drifted.csv')]);
      const asIs = await probe.tryColumn(income, { from: 'income' });
      expect(asIs.nonEmpty).toBe(187);
      expect(asIs.parsed).toBeLessThan(187);
      expect(asIs.rate).toBeLessThan(0.5);
      const cleaned = await probe.tryColumn(income, { from: 'income', strip: ['$', ','] });
      expect(cleaned).toMatchObject({ nonEmpty: 187, parsed: 187, rate: 1 });
      expect(cleaned.profile).toEqual(baseline.columns.find((c) => c.name === 'income'));
      // Other columns, read as they are, profile as the baseline too.
      for (const name of ['country', 'health', 'population', 'region']) {
        const r = await probe.tryColumn(col(gapminder, name), { from: name });
        expect(r.rate).toBe(1);
        expect(r.profile).toEqual(baseline.columns.find((c) => c.name === name));
      }
      // The wrong source column parses too, but its profile says it is not income.
      const wrong = await probe.tryColumn(income, { from: 'population' });
      expect(wrong.rate).toBe(1);
      expect(wrong.profile?.median).not.toEqual(baseline.columns.find((c) => c.name === 'income')?.median);
    });
  });

  it('dates, booleans and reader overrides', async () => {
    const lines = fs.readFileSync(path.join(VEGA, 'seattle-weather.csv'), 'utf8').trimEnd().split('\n');
    const us = lines.slice(1).map((l) => {
      const [d = '', ...rest] = l.split(',');
      return [`${d.slice(5, 7)}/${d.slice(8, 10)}/${d.slice(0, 4)}`, ...rest, rest[4] === 'rain' ? 'Y' : 'N'].join(';');
    });
    const file = write('sw-us.csv', `${us.join('\n')}\n`);
    const spec = await inferSpec({ name: 'sw', source: path.join(VEGA, 'seattle-weather.csv'), allowedRoots: [VEGA] });
    const date = col(spec, 'date');
    await scratch(async (conn) => {
      const probe = await createSourceProbe(conn, spec, [file]);
      const reader = { delimiter: ';', header: false };
      const iso = await probe.tryColumn(date, { from: 'column0' }, reader);
      expect(iso).toMatchObject({ nonEmpty: 1461, parsed: 0, rate: 0 });
      const usDates = await probe.tryColumn(date, { from: 'column0', format: '%m/%d/%Y' }, reader);
      expect(usDates).toMatchObject({ parsed: 1461, rate: 1 });
      expect(usDates.profile).toMatchObject({ min: '2012-01-01', max: '2015-12-31', nullRate: 0 });
      const euDates = await probe.tryColumn(date, { from: 'column0', format: '%d/%m/%Y' }, reader);
      expect(euDates.rate).toBeLessThan(0.5);
      const flag = { name: 'rain', type: 'boolean' as const, required: true, pii: false };
      const yn = await probe.tryColumn(flag, { from: 'column6', trueValues: ['y'], falseValues: ['n'] }, reader);
      expect(yn.rate).toBe(1);
      expect(yn.profile?.topValues?.map((v) => v.value).sort()).toEqual(['false', 'true']);
      const defaults = await probe.tryColumn(flag, { from: 'column6' }, reader);
      expect(defaults.rate).toBe(0);
    });
  });

  it('never runs an expression; unknown columns and unusable formats parse nothing', async () => {
    await scratch(async (conn) => {
      const probe = await createSourceProbe(conn, gapminder, [currency('drifted.csv')]);
      const none = { nonEmpty: 0, parsed: 0, rate: 0, profile: null };
      expect(await probe.tryColumn(col(gapminder, 'income'), { expr: "error('must not run')" })).toEqual(none);
      expect(await probe.tryColumn(col(gapminder, 'income'), { from: 'no_such_column' })).toEqual(none);
      const dateCol = { name: 'd', type: 'date' as const, required: true, pii: false };
      expect((await probe.tryColumn(dateCol, { from: 'country', format: '%Q%Q' })).rate).toBe(0);
      // An all-empty column has nothing to parse: rate 1, all null.
      const empty = write('empty-col.csv', 'country,income,health,population,region\nA,,1,2,x\nB,,3,4,y\n');
      const p2 = await createSourceProbe(conn, gapminder, [empty]);
      const r = await p2.tryColumn(col(gapminder, 'income'), { from: 'income' });
      expect(r).toMatchObject({ nonEmpty: 0, parsed: 0, rate: 1 });
      expect(r.profile?.nullRate).toBe(1);
    });
  });

  it('reads JSON sources as text too', async () => {
    const file = path.join(VEGA, 'cars.json');
    const spec = await inferSpec({ name: 'cars', source: file, allowedRoots: [VEGA] });
    await scratch(async (conn) => {
      const probe = await createSourceProbe(conn, spec, [file]);
      const s = ok(await probe.summarize());
      expect(s.reader).toBeUndefined();
      expect(s.columns.map((c) => c.name)).toEqual(spec.source.columns);
      const hp = spec.contract.columns.find((c) => c.name === 'Horsepower');
      if (!hp) throw new Error('Horsepower');
      const r = await probe.tryColumn(hp, { from: 'Horsepower' });
      expect(r.rate).toBe(1);
      expect(r.profile?.nullRate).toBeGreaterThan(0);
    });
  });
});

describe('sampled probe (the first N rows)', () => {
  // 300 rows; the first 100 write dates as 2020-01-31, the last 200 as 31/01/2020.
  const N = 100;
  const iso = (i: number) => new Date(Date.UTC(2020, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);
  const eu = (i: number) => {
    const [y, m, d] = iso(i).split('-');
    return `${d}/${m}/${y}`;
  };
  let spec: PipelineSpec;
  let mixed: string;
  beforeAll(async () => {
    const rows = (f: (i: number) => string) =>
      Array.from({ length: 300 }, (_, i) => `${i + 1},${f(i)},${(i % 7) + 0.5}`);
    const clean = write('dates-clean.csv', `id,day,amount\n${rows(iso).join('\n')}\n`);
    mixed = write('dates-mixed.csv', `id,day,amount\n${rows((i) => (i < N ? iso(i) : eu(i))).join('\n')}\n`);
    spec = await inferSpec({ name: 'dates', source: clean, allowedRoots: [tmp] });
    expect(col(spec, 'day').type).toBe('date');
  });

  it('reads only the first N rows and says so; the whole source reads as before', async () => {
    await scratch(async (conn) => {
      const sampled = await createSourceProbe(conn, spec, [mixed], { sampleRows: N });
      const whole = await createSourceProbe(conn, spec, [mixed], { sampleRows: Infinity });
      expect(sampled.partial).toBe(false); // nothing staged yet
      const s = ok(await sampled.summarize());
      const w = ok(await whole.summarize());
      expect(sampled.partial).toBe(true);
      expect(whole.partial).toBe(false);
      expect(s).toMatchObject({ rows: N, complete: false });
      expect(w).toMatchObject({ rows: 300, complete: true });
      const day = (x: SourceSummary) => x.columns.find((c) => c.name === 'day');
      const id = (x: SourceSummary) => x.columns.find((c) => c.name === 'id');
      expect(id(s)).toMatchObject({ nonEmpty: N, nulls: 0, length: { min: 1, max: 3 } });
      expect(id(w)).toMatchObject({ nonEmpty: 300, nulls: 0 });
      expect(day(s)?.patterns).toEqual([{ pattern: '9999-99-99', share: 1 }]);
      expect(day(w)?.patterns).toEqual([
        { pattern: '99/99/9999', share: 0.666667 },
        { pattern: '9999-99-99', share: 0.333333 },
      ]);
      // The first rows, in file order: ids 1..N.
      expect(id(s)?.samples.every((v) => Number(v) >= 1 && Number(v) <= N)).toBe(true);

      // Parse rates and profiles come from the same rows.
      const asIs = await sampled.tryColumn(col(spec, 'day'), { from: 'day' });
      expect(asIs).toMatchObject({ nonEmpty: N, parsed: N, rate: 1 });
      expect(asIs.profile).toMatchObject({ min: iso(0), max: iso(N - 1), nullRate: 0 });
      expect(await whole.tryColumn(col(spec, 'day'), { from: 'day' })).toMatchObject({
        nonEmpty: 300,
        parsed: N,
        rate: N / 300,
      });
      expect(await sampled.tryColumn(col(spec, 'day'), { from: 'day', format: '%d/%m/%Y' })).toMatchObject({
        nonEmpty: N,
        parsed: 0,
        rate: 0,
      });
      const euWhole = await whole.tryColumn(col(spec, 'day'), { from: 'day', format: '%d/%m/%Y' });
      expect(euWhole).toMatchObject({ nonEmpty: 300, parsed: 200, rate: 200 / 300 });
      expect(euWhole.profile).toMatchObject({ min: iso(N), max: iso(299) });

      // Every reader variant is sampled the same way (without a header the first line is a row).
      const noHeader = ok(await sampled.summarize({ header: false }));
      expect(noHeader).toMatchObject({ rows: N, complete: false });
      expect(noHeader.columns.find((c) => c.name === 'column0')?.patterns).toContainEqual({
        pattern: 'a',
        share: 1 / N,
      }); // the header line, "id"
    });
  });

  it('the default is PROBE_STAGE_ROWS; a source within the sample is complete (also at exactly N rows)', async () => {
    expect(PROBE_STAGE_ROWS).toBe(100_000);
    await scratch(async (conn) => {
      const probe = await createSourceProbe(conn, spec, [mixed]);
      expect(ok(await probe.summarize())).toMatchObject({ rows: 300, complete: true });
      expect(probe.partial).toBe(false);
      const exact = await createSourceProbe(conn, spec, [mixed], { sampleRows: 300 });
      expect(ok(await exact.summarize())).toMatchObject({ rows: 300, complete: true });
      expect((await exact.tryColumn(col(spec, 'day'), { from: 'day' })).nonEmpty).toBe(300);
      const less = await createSourceProbe(conn, spec, [mixed], { sampleRows: 299 });
      expect(ok(await less.summarize())).toMatchObject({ rows: 299, complete: false });
      expect((await less.tryColumn(col(spec, 'day'), { from: 'day' })).nonEmpty).toBe(299);
      for (const bad of [0, -1, 1.5, Number.NaN]) {
        await expect(createSourceProbe(conn, spec, [mixed], { sampleRows: bad })).rejects.toThrow(RangeError);
      }
    });
  });

  it('several files: the first N rows in the order the files are given', async () => {
    const a = write(
      'part-a.csv',
      `id,day,amount\n${Array.from({ length: 30 }, (_, i) => `${i + 1},${iso(i)},1`).join('\n')}\n`,
    );
    const b = write(
      'part-b.csv',
      `id,day,amount\n${Array.from({ length: 30 }, (_, i) => `${i + 31},${eu(i + 30)},1`).join('\n')}\n`,
    );
    await scratch(async (conn) => {
      const probe = await createSourceProbe(conn, spec, [a, b], { sampleRows: 40 });
      const r = await probe.tryColumn(col(spec, 'day'), { from: 'day' });
      expect(r).toMatchObject({ nonEmpty: 40, parsed: 30 });
      expect(ok(await probe.summarize())).toMatchObject({ rows: 40, complete: false });
    });
  });

  it('malformed lines: the whole source is read with rejects (none skipped unseen), then cut to the first N good rows', async () => {
    const lines = Array.from({ length: 300 }, (_, i) => `${i + 1},${iso(i)},1`);
    lines.splice(10, 0, '999,2020-01-01,1,extra'); // within the sample
    lines.splice(250, 0, '998,2020-01-01,1,extra'); // past it
    const ragged = write('ragged.csv', `id,day,amount\n${lines.join('\n')}\n`);
    await scratch(async (conn) => {
      const probe = await createSourceProbe(conn, spec, [ragged], { sampleRows: N });
      const s = ok(await probe.summarize());
      expect(s).toMatchObject({ rows: N, complete: false });
      const id = s.columns.find((c) => c.name === 'id');
      expect(id).toMatchObject({ nonEmpty: N, length: { min: 1, max: 3 } });
      // The first N well-formed rows: ids 1..N (the malformed line 999 is not among them).
      expect(await probe.tryColumn(col(spec, 'id'), { from: 'id' })).toMatchObject({
        nonEmpty: N,
        rate: 1,
        profile: { min: 1, max: N },
      });
      // Only malformed lines: none splits into columns, said as before.
      const junk = write('junk.csv', `id,day,amount\n${Array.from({ length: 300 }, () => '1,2').join('\n')}\n`);
      const j = await (await createSourceProbe(conn, spec, [junk], { sampleRows: N })).summarize();
      expect('error' in j && j.error).toMatch(/no line of the source splits into columns/);
    });
  });

  it('undecodable lines past the sample are still seen: a few are skipped (the load quarantines them), more are an error', async () => {
    const head = Array.from({ length: 300 }, (_, i) => `${i + 1},${iso(i)},1`).join('\n');
    const latinLines = (n: number) =>
      Buffer.from(Array.from({ length: n }, (_, i) => `${301 + i},2020-01-01,Zürich\n`).join(''), 'latin1');
    const one = write('late-latin.csv', Buffer.concat([Buffer.from(`id,day,amount\n${head}\n`), latinLines(1)]));
    const many = write('late-latin-many.csv', Buffer.concat([Buffer.from(`id,day,amount\n${head}\n`), latinLines(20)]));
    await scratch(async (conn) => {
      // One corrupt line of 301 is within the quarantine budget: a UTF-8 file with a bad line.
      expect(ok(await (await createSourceProbe(conn, spec, [one], { sampleRows: N })).summarize())).toMatchObject({
        rows: N,
        complete: false,
      });
      const probe = await createSourceProbe(conn, spec, [many], { sampleRows: N });
      const bad = await probe.summarize();
      expect('error' in bad && bad.error).toMatch(/not valid utf-8|unicode/i);
      expect(ok(await probe.summarize({ encoding: 'latin-1' }))).toMatchObject({ rows: N, complete: false });
    });
  });

  it('JSON sources are sampled too', async () => {
    const file = path.join(VEGA, 'cars.json');
    const cars = await inferSpec({ name: 'cars', source: file, allowedRoots: [VEGA] });
    await scratch(async (conn) => {
      const probe = await createSourceProbe(conn, cars, [file], { sampleRows: 10 });
      expect(ok(await probe.summarize())).toMatchObject({ rows: 10, complete: false });
      const hp = cars.contract.columns.find((c) => c.name === 'Horsepower');
      if (!hp) throw new Error('Horsepower');
      expect((await probe.tryColumn(hp, { from: 'Horsepower' })).nonEmpty).toBeLessThanOrEqual(10);
      const whole = ok(await (await createSourceProbe(conn, cars, [file], { sampleRows: Infinity })).summarize());
      expect(whole.complete).toBe(true);
      expect(whole.rows).toBeGreaterThan(400);
    });
  });
});
