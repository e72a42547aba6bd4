/**
 * checkDistribution, the silent drift check run on every load: profiles computed for real (DuckDB
 * profileRelation) over real data from vega-datasets. Next year's weather, a trending series and a
 * new batch of ids pass; a unit change, a centre far off, a null-rate jump and a new category mix
 * do not. Figures measured on these files are asserted where they set a default.
 */
import * as path from 'node:path';
import { profileRelation, type ColumnProfile, type TableProfile } from '../../core/etl/profile';
import {
  DEFAULT_DISTRIBUTION_THRESHOLDS,
  centerShift,
  checkDistribution,
  detectUnitChange,
  distributionThresholds,
  populationStability,
} from '../../core/etl/silent-drift';
import { parseSpec, type PipelineSpec, type SpecInput } from '../../common/spec';
import { withDuckDB } from '../../lib/duckdb';

const DATA = path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data');
const SEATTLE = path.join(DATA, 'seattle-weather.csv');
const CO2 = path.join(DATA, 'co2-concentration.csv');

type ColType = 'number' | 'integer' | 'date' | 'string' | 'boolean';
const SEATTLE_COLUMNS: [string, ColType][] = [
  ['date', 'date'],
  ['precipitation', 'number'],
  ['temp_max', 'number'],
  ['temp_min', 'number'],
  ['wind', 'number'],
  ['weather', 'string'],
];
const SEATTLE_NUMBERS = ['precipitation', 'temp_max', 'temp_min', 'wind'];

function specOf(columns: [string, ColType][], extra: Partial<SpecInput> = {}): PipelineSpec {
  const res = parseSpec({
    apiVersion: 'heal/v1',
    name: 'p',
    source: { path: '/x.csv', format: 'csv', columns: columns.map(([n]) => n) },
    contract: { columns: columns.map(([name, type]) => ({ name, type })) },
    mapping: Object.fromEntries(columns.map(([n]) => [n, n])),
    target: { table: 't' },
    ...extra,
  });
  if (!res.ok) throw new Error(res.issues.join('; '));
  return res.spec;
}

/**
 * Profile of the Seattle rows matching `where`, with some columns replaced by SQL expressions (over
 * the file's columns) — e.g. `{ temp_max: 'temp_max * 100' }`.
 */
async function seattle(where: string, replace: Record<string, string> = {}, limit?: number): Promise<TableProfile> {
  const select = SEATTLE_COLUMNS.map(
    ([n, t]) => `${replace[n] ?? n}::${t === 'number' ? 'DOUBLE' : t === 'date' ? 'DATE' : 'VARCHAR'} AS "${n}"`,
  );
  return withDuckDB(':memory:', {}, async (conn) => {
    await conn.run(
      `CREATE TEMP TABLE w AS SELECT ${select.join(', ')} FROM read_csv('${SEATTLE}') WHERE ${where} ORDER BY date ${limit ? `LIMIT ${limit}` : ''}`,
    );
    return profileRelation(conn, specOf(SEATTLE_COLUMNS), 'w');
  });
}

const year = (y: number) => `year(date) = ${y}`;
const col = (p: TableProfile, name: string): ColumnProfile => {
  const c = p.columns.find((x) => x.name === name);
  if (!c) throw new Error(`no column ${name}`);
  return c;
};

const years: Record<number, TableProfile> = {};
beforeAll(async () => {
  for (const y of [2012, 2013, 2014, 2015]) years[y] = await seattle(year(y));
});
const y = (n: number): TableProfile => {
  const p = years[n];
  if (!p) throw new Error(`no profile for ${n}`);
  return p;
};

// ---------------------------------------------------------------------------------------------

describe('data that legitimately changes between loads passes', () => {
  it.each([
    [2012, 2013],
    [2013, 2012],
    [2013, 2014],
    [2014, 2015],
  ])('Seattle weather %i → %i: no difference', (a, b) => {
    expect(checkDistribution(y(a), y(b))).toEqual([]);
  });

  it('the figures behind the defaults: numbers move ≤ 0.3 sd, the weather mix has a PSI of 0.23 (limit 0.25 + 0.07 for sampling)', () => {
    for (const [a, b] of [
      [2012, 2013],
      [2013, 2014],
      [2014, 2015],
    ] as const) {
      for (const name of SEATTLE_NUMBERS) {
        const s = centerShift(col(y(a), name), col(y(b), name));
        expect(s?.sd).toBeLessThan(0.35);
        expect(
          detectUnitChange(col(y(a), name), col(y(b), name), DEFAULT_DISTRIBUTION_THRESHOLDS.unitFactors, 1.6),
        ).toBeNull();
      }
    }
    const psi = populationStability(col(y(2012), 'weather'), col(y(2013), 'weather'));
    expect(psi?.psi).toBeCloseTo(0.226, 2);
    expect(psi?.noise).toBeCloseTo(0.068, 2);
    expect(psi?.categories).toBe(5);
    expect(populationStability(col(y(2013), 'weather'), col(y(2014), 'weather'))?.psi).toBeCloseTo(0.163, 2);
  });

  it('dates move on with time and are not judged by their centre (a year later is 3.5 of their sd)', () => {
    const s = centerShift(col(y(2012), 'date'), col(y(2013), 'date'));
    expect(s?.sd).toBeGreaterThan(3);
    expect(checkDistribution(y(2012), y(2013)).filter((d) => d.column === 'date')).toEqual([]);
  });

  it('a trending series (CO2 by decade: +3.7 sd, +5%) passes by the relative floor; without it, it would not', async () => {
    const spec = specOf([
      ['Date', 'date'],
      ['CO2', 'number'],
    ]);
    const decade = (d: number) =>
      withDuckDB(':memory:', {}, async (conn) => {
        await conn.run(
          `CREATE TEMP TABLE c AS SELECT "Date"::DATE AS "Date", "CO2"::DOUBLE AS "CO2" FROM read_csv('${CO2}') WHERE year("Date") // 10 = ${d}`,
        );
        return profileRelation(conn, spec, 'c');
      });
    const [nineties, noughties] = [await decade(199), await decade(200)];
    const s = centerShift(col(nineties, 'CO2'), col(noughties, 'CO2'));
    expect(s?.sd).toBeGreaterThan(3);
    expect(s?.relative).toBeLessThan(0.1);
    expect(checkDistribution(nineties, noughties)).toEqual([]);
    const strict = checkDistribution(nineties, noughties, { maxCenterShiftRelative: 0 });
    expect(strict).toEqual([
      expect.objectContaining({
        kind: 'distribution-shift',
        column: 'CO2',
        detail: expect.stringMatching(/median .* a move of 3\.\d sd \(limit 3\)/),
      }),
    ]);
  });

  it('a new batch of ids (1–365, then 366–730) is not a centre shift: identifiers are not judged by their centre', () => {
    const ids = (from: number): ColumnProfile => ({
      name: 'id',
      type: 'integer',
      count: 365,
      nullRate: 0,
      distinct: 365,
      distinctRatio: 1,
      min: from,
      max: from + 364,
      mean: from + 182,
      median: from + 182,
      stddev: 105.5,
      length: null,
      patterns: [{ pattern: '999', share: 1 }],
      topValues: null,
    });
    expect(checkDistribution({ rows: 365, columns: [ids(1)] }, { rows: 365, columns: [ids(366)] })).toEqual([]);
  });
});

describe('a unit change', () => {
  it.each(SEATTLE_NUMBERS)(
    '×100 on %s (the same rows, as the chaos monkey does it): refused as a unit change (×100)',
    async (name) => {
      const cents = await seattle(year(2012), { [name]: `${name} * 100` });
      const d = checkDistribution(y(2012), cents);
      expect(d).toEqual([
        {
          kind: 'distribution-shift',
          column: name,
          expected: expect.stringMatching(/^median .*, mean .*, sd /),
          found: expect.stringMatching(/^median .*, mean .*, sd /),
          unitFactor: 100,
          detail: expect.stringMatching(new RegExp(`^"${name}": stddev ×100.*looks like a unit change \\(×100\\)$`)),
        },
      ]);
    },
  );

  // Medians are exact here (reservoir_quantile keeps every value below 8,192 rows).
  it("×100 on next year's data: still ×100 (temp_max: sd ×106.8, median ×100, mean ×105.1)", async () => {
    const d = checkDistribution(y(2012), await seattle(year(2013), { temp_max: 'temp_max * 100' }));
    expect(d).toHaveLength(1);
    expect(d[0]?.detail).toBe(
      '"temp_max": stddev ×106.8, median ×100, mean ×105.1 against the baseline (mean 1606 vs 15.28, sd 756.1 vs 7.08): looks like a unit change (×100)',
    );
  });

  it('÷1000 and ×60 are recognised too; ×1000 and ×1024 cannot be told apart and both are named', async () => {
    const kilo = checkDistribution(y(2013), await seattle(year(2013), { wind: 'wind / 1000' }));
    expect(kilo.map((d) => d.detail)).toEqual([expect.stringMatching(/looks like a unit change \(÷1000 or ÷1024\)$/)]);
    const minutes = checkDistribution(y(2013), await seattle(year(2013), { wind: 'wind * 60' }));
    expect(minutes.map((d) => d.detail)).toEqual([expect.stringMatching(/looks like a unit change \(×60\)$/)]);
    // Next year's wind ×60 moved ×58–70: ×100 is within tolerance too, and named second.
    const nextYear = checkDistribution(y(2013), await seattle(year(2014), { wind: 'wind * 60' }));
    expect(nextYear.map((d) => d.detail)).toEqual([expect.stringMatching(/looks like a unit change \(×60 or ×100\)$/)]);
  });

  it('a zero-inflated column (precipitation: median 0) is judged by its mean and spread', async () => {
    const d = checkDistribution(y(2014), await seattle(year(2015), { precipitation: 'precipitation * 100' }));
    expect(d.map((x) => x.detail)).toEqual([
      expect.stringMatching(/^"precipitation": stddev ×113\.3, mean ×92\.41 .*\(×100\)$/),
    ]);
  });

  it('°C → °F is no unit factor but a centre shift (temp_min: 5.9 sd, +545%)', async () => {
    const d = checkDistribution(y(2012), await seattle(year(2013), { temp_min: 'temp_min * 1.8 + 32' }));
    expect(d).toEqual([
      expect.objectContaining({
        kind: 'distribution-shift',
        column: 'temp_min',
        expected: 'median 7.2 (sd 4.697)',
        detail: expect.stringMatching(
          /^"temp_min": median 46\.94 vs 7\.2 in the baseline, a move of 5\.9 sd \(limit 3\) and 545\.\d% of the baseline's centre$/,
        ),
      }),
    ]);
  });

  it('a small move (+2 °C) is no shift', async () => {
    expect(checkDistribution(y(2012), await seattle(year(2013), { temp_max: 'temp_max + 2' }))).toEqual([]);
  });
});

describe('null rate', () => {
  it('30% of temp_max gone: refused, with the rate', async () => {
    const d = checkDistribution(
      y(2012),
      await seattle(year(2013), { temp_max: 'CASE WHEN dayofyear(date) % 10 < 3 THEN NULL ELSE temp_max END' }),
    );
    expect(d).toEqual([
      {
        kind: 'distribution-shift',
        column: 'temp_max',
        expected: 'null rate 0.0%',
        found: 'null rate 30.1%',
        failureRate: expect.closeTo(0.301, 3),
        detail: '"temp_max": null rate 30.1% vs 0.0% in the baseline (+30.1%, limit +20.0%)',
      },
    ]);
  });

  it('10% gone is within the default rise of 0.2', async () => {
    expect(
      checkDistribution(
        y(2012),
        await seattle(year(2013), { temp_max: 'CASE WHEN dayofyear(date) % 10 = 0 THEN NULL ELSE temp_max END' }),
      ),
    ).toEqual([]);
  });
});

describe('a categorical column (population stability index)', () => {
  const relabelled = () =>
    seattle(year(2013), {
      weather:
        "CASE WHEN weather = 'rain' THEN (CASE WHEN precipitation > 5 THEN 'heavy rain' ELSE 'light rain' END) ELSE weather END",
    });

  it('a new category mix ("rain" split into "light rain" and "heavy rain"): refused with the PSI and the share that moved', async () => {
    const d = checkDistribution(y(2012), await relabelled());
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({
      kind: 'distribution-shift',
      column: 'weather',
      expected: 'rain 52.2%, sun 32.2%, drizzle 8.5%',
      failureRate: expect.any(Number),
      detail: expect.stringMatching(
        /^"weather": the category mix moved, population stability index \d+\.\d\d over 7 categories \(limit 0\.25 \+ 0\.\d\d for sampling\)/,
      ),
    });
    expect(d[0]?.failureRate).toBeGreaterThan(0.4);
  });

  it('a categorical column that became free text is refused', async () => {
    const d = checkDistribution(
      y(2012),
      await seattle(year(2013), { weather: "weather || ' ' || strftime(date, '%j')" }),
    );
    expect(d.map((x) => x.detail)).toEqual([
      expect.stringMatching(
        /^"weather": \d+ distinct values vs 5 in the baseline: a categorical column became free text$/,
      ),
    ]);
  });
});

describe('free text (no top values): length and shape classes', () => {
  const text = (patterns: string[], meanLength: number): TableProfile => ({
    rows: 100,
    columns: [
      {
        name: 'name',
        type: 'string',
        count: 100,
        nullRate: 0,
        distinct: 100,
        distinctRatio: 1,
        min: null,
        max: null,
        mean: null,
        median: null,
        stddev: null,
        length: { min: 3, max: 30, mean: meanLength },
        patterns: patterns.map((pattern) => ({ pattern, share: 1 / patterns.length })),
        topValues: null,
      },
    ],
  });
  const names = text(['a a', 'a', 'a a a'], 12);

  it('the same shapes and lengths pass', () => {
    expect(checkDistribution(names, text(['a a', 'a a a', 'a'], 13))).toEqual([]);
  });

  it('values of another shape (names became e-mail addresses) are refused, with the share of unknown shapes', () => {
    const d = checkDistribution(names, text(['a.a@a.a', 'a@a.a', 'a9@a.a'], 14));
    expect(d).toEqual([
      expect.objectContaining({
        column: 'name',
        failureRate: 1,
        detail:
          '"name": only 0.0% of values have a shape the baseline had (limit 50.0%); now "a.a@a.a", "a@a.a", "a9@a.a"',
      }),
    ]);
  });

  it('a mean length ×2.5 is refused', () => {
    expect(checkDistribution(names, text(['a a', 'a', 'a a a'], 30)).map((d) => d.detail)).toEqual([
      '"name": mean length 30 vs 12 in the baseline (×2.5, limit ×/÷2)',
    ]);
  });
});

describe('tiny loads', () => {
  it('fewer rows than minRows (30): not judged, even ×100', async () => {
    const tiny = await seattle(year(2013), { temp_max: 'temp_max * 100' }, 20);
    expect(tiny.rows).toBe(20);
    expect(checkDistribution(y(2012), tiny)).toEqual([]);
    expect(checkDistribution(tiny, y(2012))).toEqual([]); // a tiny baseline neither
    expect(checkDistribution(y(2012), tiny, { minRows: 10 }).map((d) => d.column)).toEqual(['temp_max']);
  });
});

describe('thresholds from the spec (quality.profile)', () => {
  const withProfile = (profile: unknown) =>
    specOf(SEATTLE_COLUMNS, { quality: { quarantineBudget: 0.01, profile } as SpecInput['quality'] });

  it('absent: every default, and the parsed spec carries nothing extra', () => {
    const spec = specOf(SEATTLE_COLUMNS);
    expect(spec.quality).toEqual({ quarantineBudget: 0.01, quarantineBudgetRows: 3 });
    expect(distributionThresholds(spec)).toMatchObject({
      enabled: true,
      maxCenterShiftSd: 3,
      maxCenterShiftRelative: 0.5,
      maxNullRateRise: 0.2,
      maxPsi: 0.25,
      unitFactors: [10, 100, 1000, 1_000_000, 60, 3600, 86_400, 1024],
      minRows: 30,
      columns: {},
    });
  });

  it('given: defaults fill what is not set; bad values are path-qualified issues', () => {
    expect(withProfile({ maxPsi: 0.5 }).quality.profile).toMatchObject({
      maxPsi: 0.5,
      maxNullRateRise: 0.2,
      minRows: 30,
    });
    const bad = parseSpec({
      apiVersion: 'heal/v1',
      name: 'p',
      source: { path: '/x.csv', format: 'csv', columns: ['a'] },
      contract: { columns: [{ name: 'a', type: 'number' }] },
      mapping: { a: 'a' },
      target: { table: 't' },
      quality: { profile: { maxPsi: -1, unitFactors: [0.5], columns: { a: { enabeld: false } } } },
    });
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.issues).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^quality\.profile\.maxPsi: /),
          expect.stringMatching(/^quality\.profile\.unitFactors\[0\]: /),
          expect.stringMatching(/^quality\.profile\.columns\.a: .*enabeld/),
        ]),
      );
    }
  });

  it('maxNullRateRise and maxPsi are honoured', async () => {
    const nulls = await seattle(year(2013), {
      temp_max: 'CASE WHEN dayofyear(date) % 10 < 3 THEN NULL ELSE temp_max END',
    });
    expect(checkDistribution(y(2012), nulls, distributionThresholds(withProfile({ maxNullRateRise: 0.5 })))).toEqual(
      [],
    );
    expect(
      checkDistribution(
        y(2012),
        nulls,
        distributionThresholds(withProfile({ columns: { temp_max: { maxNullRateRise: 0.5 } } })),
      ),
    ).toEqual([]);
    expect(
      checkDistribution(
        y(2012),
        nulls,
        distributionThresholds(withProfile({ columns: { wind: { maxNullRateRise: 0.5 } } })),
      ),
    ).toHaveLength(1);
    const relabelled = await seattle(year(2013), {
      weather:
        "CASE WHEN weather = 'rain' THEN (CASE WHEN precipitation > 5 THEN 'heavy rain' ELSE 'light rain' END) ELSE weather END",
    });
    expect(checkDistribution(y(2012), relabelled, distributionThresholds(withProfile({ maxPsi: 10 })))).toEqual([]);
  });

  it('enabled: false turns the check off; a column can be turned off alone', async () => {
    const both = await seattle(year(2013), { temp_max: 'temp_max * 100', wind: 'wind * 100' });
    expect(checkDistribution(y(2012), both).map((d) => d.column)).toEqual(['temp_max', 'wind']);
    expect(checkDistribution(y(2012), both, distributionThresholds(withProfile({ enabled: false })))).toEqual([]);
    expect(
      checkDistribution(
        y(2012),
        both,
        distributionThresholds(withProfile({ columns: { temp_max: { enabled: false } } })),
      ).map((d) => d.column),
    ).toEqual(['wind']);
    expect(
      checkDistribution(
        y(2012),
        both,
        distributionThresholds(withProfile({ enabled: false, columns: { wind: { enabled: true } } })),
      ).map((d) => d.column),
    ).toEqual(['wind']);
  });

  it('unitFactors: a factor not listed is no unit change (×100 is then a centre shift, as with unitChange: false); one listed is', async () => {
    const cents = await seattle(year(2013), { temp_max: 'temp_max * 100' });
    const d = checkDistribution(y(2012), cents, distributionThresholds(withProfile({ unitFactors: [7] })));
    expect(d.map((x) => x.detail)).toEqual([
      expect.stringMatching(/^"temp_max": mean 1606 vs 15\.28 in the baseline, a move of \d+\.\d sd/),
    ]);
    const noUnits = checkDistribution(
      y(2012),
      cents,
      distributionThresholds(withProfile({ columns: { temp_max: { unitChange: false } } })),
    );
    expect(noUnits.map((x) => x.detail)).toEqual([
      expect.stringMatching(/^"temp_max": mean 1606 vs 15\.28 in the baseline, a move of \d+\.\d sd/),
    ]);
    const sevens = await seattle(year(2013), { temp_max: 'temp_max * 7' });
    expect(
      checkDistribution(y(2012), sevens, distributionThresholds(withProfile({ unitFactors: [7] }))).map(
        (x) => x.detail,
      ),
    ).toEqual([expect.stringMatching(/unit change \(×7\)$/)]);
  });

  it('a column read from a default only is not checked (an optional column the source dropped); merge keys are identifiers', () => {
    const spec = specOf(SEATTLE_COLUMNS, {
      contract: { columns: SEATTLE_COLUMNS.map(([name, type]) => ({ name, type, required: name !== 'wind' })) },
      mapping: { ...Object.fromEntries(SEATTLE_COLUMNS.map(([n]) => [n, n])), wind: { default: null } },
      target: { table: 't', mode: 'merge', key: ['date'] },
    });
    const t = distributionThresholds(spec);
    expect(t.columns['wind']).toEqual({ enabled: false });
    expect(t.keys).toEqual(['date']);
    const noWind: TableProfile = {
      ...y(2013),
      columns: y(2013).columns.map((c) =>
        c.name === 'wind' ? { ...c, count: 0, nullRate: 1, mean: null, median: null, stddev: null } : c,
      ),
    };
    expect(checkDistribution(y(2012), noWind).map((d) => d.column)).toEqual(['wind']);
    expect(checkDistribution(y(2012), noWind, t)).toEqual([]);
  });
});

it('a column whose type changed since the baseline (a new contract) is not compared', () => {
  const asText: TableProfile = {
    ...y(2013),
    columns: y(2013).columns.map((c) =>
      c.name === 'temp_max' ? { ...c, type: 'string' as const, mean: 1e6, median: 1e6, stddev: 1 } : c,
    ),
  };
  expect(checkDistribution(y(2012), asText)).toEqual([]);
});
