/** Drift classification, pure parts: header comparison and value statistics -> differences. */
import { classifyValues, clip, compareColumns, driftReport, type ColumnValueStats } from '../../core/etl/drift';
import type { SniffResult } from '../../core/etl/source';
import { parseSpec, type PipelineSpec, type SpecInput } from '../../common/spec';

function spec(over: Partial<SpecInput> = {}): PipelineSpec {
  const input: SpecInput = {
    apiVersion: 'heal/v1',
    name: 'iowa',
    source: { path: '/data/iowa.csv', format: 'csv', columns: ['year', 'source', 'net_generation', 'comment'] },
    contract: {
      columns: [
        { name: 'year', type: 'date', format: '%Y-%m-%d' },
        { name: 'source', type: 'string' },
        { name: 'net_generation', type: 'integer' },
        { name: 'comment', type: 'string', required: false },
      ],
    },
    mapping: { year: 'year', source: 'source', net_generation: 'net_generation', comment: 'comment' },
    target: { table: 'iowa' },
    ...over,
  };
  const res = parseSpec(input);
  if (!res.ok) throw new Error(res.issues.join('\n'));
  return res.spec;
}

function sniff(over: Partial<SniffResult>): SniffResult {
  return { delimiter: ',', quote: '"', hasHeader: true, columns: [], dateFormat: null, timestampFormat: null, ...over };
}

describe('compareColumns', () => {
  it('finds nothing when the header is as expected', () => {
    expect(compareColumns(spec(), ['year', 'source', 'net_generation', 'comment'])).toEqual([]);
  });

  it('reports a re-cased column as renamed, with the contract column and both names', () => {
    const diffs = compareColumns(spec(), ['year', 'source', 'netGeneration', 'comment']);
    expect(diffs).toEqual([
      {
        kind: 'renamed',
        column: 'net_generation',
        sourceColumn: 'netGeneration',
        expected: 'net_generation',
        found: 'netGeneration',
        detail: 'column "net_generation" is gone and "netGeneration" is new: looks renamed (name similarity 1.00)',
      },
    ]);
  });

  it('reports an abbreviated column as renamed', () => {
    const diffs = compareColumns(spec(), ['year', 'source', 'net_gen', 'comment']);
    expect(diffs.map((d) => [d.kind, d.expected, d.found])).toEqual([['renamed', 'net_generation', 'net_gen']]);
  });

  it('tells a missing required column from a missing optional one', () => {
    const required = compareColumns(spec(), ['year', 'source', 'comment']);
    expect(required).toEqual([
      {
        kind: 'missing-column',
        column: 'net_generation',
        expected: 'net_generation',
        detail: 'required column "net_generation" is missing from the source',
      },
    ]);
    const optional = compareColumns(spec(), ['year', 'source', 'net_generation']);
    expect(optional).toEqual([
      {
        kind: 'missing-column',
        column: 'comment',
        expected: 'comment',
        detail: 'optional column "comment" is missing from the source',
      },
    ]);
  });

  it('does not pair a missing column with an unrelated new one', () => {
    const diffs = compareColumns(spec(), ['year', 'source', 'region', 'comment']);
    expect(diffs.map((d) => d.kind)).toEqual(['missing-column', 'unexpected-column']);
    expect(diffs[1]).toEqual({
      kind: 'unexpected-column',
      sourceColumn: 'region',
      found: 'region',
      detail: 'the source has a new column "region"',
    });
  });

  it('reports an unexpected column', () => {
    expect(compareColumns(spec(), ['year', 'source', 'net_generation', 'comment', 'unit'])).toEqual([
      { kind: 'unexpected-column', sourceColumn: 'unit', found: 'unit', detail: 'the source has a new column "unit"' },
    ]);
  });

  it('respects the ignore list', () => {
    const s = spec({
      source: {
        path: '/data/iowa.csv',
        format: 'csv',
        columns: ['year', 'source', 'net_generation', 'comment'],
        ignore: ['unit'],
      },
    });
    expect(compareColumns(s, ['year', 'source', 'net_generation', 'comment', 'unit'])).toEqual([]);
  });

  it('reports a new order', () => {
    expect(compareColumns(spec(), ['source', 'year', 'net_generation', 'comment'])).toEqual([
      {
        kind: 'reordered',
        expected: 'year,source,net_generation,comment',
        found: 'source,year,net_generation,comment',
        detail: 'the columns are in a new order: source, year, net_generation, comment',
      },
    ]);
  });

  it('reports a changed delimiter when the file reads as one column, with what the sniffer found', () => {
    const found = ['year;source;net_generation;comment'];
    expect(compareColumns(spec(), found, sniff({ delimiter: ';' }))).toEqual([
      {
        kind: 'delimiter-change',
        expected: ',',
        found: ';',
        detail: 'the file is delimited by ";", the spec reads ","',
      },
    ]);
    expect(compareColumns(spec(), found)).toEqual([
      { kind: 'delimiter-change', expected: ',', detail: 'the file reads as one column with delimiter ","' },
    ]);
  });

  it('reports a missing header when the first row holds values', () => {
    const diffs = compareColumns(spec(), ['2001-01-01', 'Fossil Fuels', '35361', 'x']);
    expect(diffs).toHaveLength(1);
    expect(diffs[0]).toMatchObject({
      kind: 'header-missing',
      expected: 'year,source,net_generation,comment',
      found: '2001-01-01,Fossil Fuels,35361,x',
    });
    expect(diffs[0]!.detail).toBe(
      'the first line holds values, not the column names ("2001-01-01", "Fossil Fuels", "35361", "x"…)',
    );
  });

  it('trusts the sniffer on a header-less file even when the values look like names', () => {
    const diffs = compareColumns(spec(), ['Alpha', 'Beta', 'Gamma', 'Delta'], sniff({ hasHeader: false }));
    expect(diffs.map((d) => d.kind)).toEqual(['header-missing']);
  });

  it('does not call a renamed header "missing" when the new names do not look like values', () => {
    const diffs = compareColumns(spec(), ['Alpha', 'Beta', 'Gamma', 'Delta']);
    expect(diffs.map((d) => d.kind)).not.toContain('header-missing');
  });
});

function stats(over: Partial<ColumnValueStats> & { column: string }): ColumnValueStats {
  return { sourceColumn: over.column, nonEmpty: 100, failed: 0, missing: 0, samples: [], ...over };
}

describe('classifyValues', () => {
  const gapminder = () =>
    spec({
      name: 'gapminder',
      source: { path: '/data/g.csv', format: 'csv', columns: ['country', 'income', 'health'] },
      contract: {
        columns: [
          { name: 'country', type: 'string' },
          { name: 'income', type: 'integer' },
          { name: 'health', type: 'number', required: false },
        ],
      },
      mapping: { country: 'country', income: 'income', health: 'health' },
      target: { table: 'gapminder' },
    });

  it('currency in an integer column is a format change that names currency symbols', () => {
    const diffs = classifyValues(
      gapminder(),
      [stats({ column: 'income', nonEmpty: 187, failed: 187, samples: ['$1,925', '$10,620', '$7,319'] })],
      187,
    );
    expect(diffs).toEqual([
      {
        kind: 'format-change',
        column: 'income',
        sourceColumn: 'income',
        expected: 'integer',
        found: 'currency symbols',
        failureRate: 1,
        samples: ['$1,925', '$10,620', '$7,319'],
        detail:
          '100.0% of "income" values do not parse as integer (they look like currency symbols), e.g. "$1,925", "$10,620", "$7,319"',
      },
    ]);
  });

  it('thousands separators and a decimal comma are named too', () => {
    const [t] = classifyValues(
      gapminder(),
      [stats({ column: 'income', failed: 50, samples: ['1,925', '10,620'] })],
      100,
    );
    expect(t).toMatchObject({ kind: 'format-change', found: 'thousands separators', failureRate: 0.5 });
    const [d] = classifyValues(
      gapminder(),
      [stats({ column: 'health', failed: 100, samples: ['57,63', '76,5'] })],
      100,
    );
    expect(d).toMatchObject({ kind: 'format-change', column: 'health', found: 'a decimal comma' });
  });

  it('US dates in a %Y-%m-%d column are a format change', () => {
    const diffs = classifyValues(
      spec(),
      [stats({ column: 'year', failed: 51, nonEmpty: 51, samples: ['01/01/2001', '01/01/2002'] })],
      51,
    );
    expect(diffs).toEqual([
      expect.objectContaining({
        kind: 'format-change',
        column: 'year',
        expected: 'date (%Y-%m-%d)',
        found: 'dd/mm/yyyy or mm/dd/yyyy',
        failureRate: 1,
      }),
    ]);
    expect(diffs[0]!.detail).toBe(
      '100.0% of "year" values do not parse as date with format %Y-%m-%d (they look like dd/mm/yyyy or mm/dd/yyyy), e.g. "01/01/2001", "01/01/2002"',
    );
  });

  it('words in a number column are a type change', () => {
    const diffs = classifyValues(
      gapminder(),
      [stats({ column: 'health', failed: 30, samples: ['n/a', 'unknown'] })],
      100,
    );
    expect(diffs).toEqual([
      expect.objectContaining({
        kind: 'type-change',
        column: 'health',
        expected: 'number',
        failureRate: 0.3,
        samples: ['n/a', 'unknown'],
      }),
    ]);
    expect(diffs[0]).not.toHaveProperty('found');
  });

  it('failures within the quarantine budget are not drift', () => {
    // 1 bad value in 200 = 0.5%, under the default budget of 1%: quarantine, not drift.
    expect(
      classifyValues(gapminder(), [stats({ column: 'income', nonEmpty: 200, failed: 1, samples: ['abc'] })], 200),
    ).toEqual([]);
    // Exactly at the budget is still within it.
    expect(
      classifyValues(gapminder(), [stats({ column: 'income', nonEmpty: 100, failed: 1, samples: ['abc'] })], 100),
    ).toEqual([]);
    // Over the share but within the floor in rows (3 by default): quarantine, not drift.
    expect(
      classifyValues(gapminder(), [stats({ column: 'income', nonEmpty: 100, failed: 3, samples: ['abc'] })], 100),
    ).toEqual([]);
    expect(
      classifyValues(gapminder(), [stats({ column: 'income', nonEmpty: 100, failed: 4, samples: ['abc'] })], 100),
    ).toHaveLength(1);
    // Without the floor, the share alone decides.
    const noFloor = gapminder();
    noFloor.quality = { ...noFloor.quality, quarantineBudgetRows: 0 };
    expect(
      classifyValues(noFloor, [stats({ column: 'income', nonEmpty: 100, failed: 2, samples: ['abc'] })], 100),
    ).toHaveLength(1);
  });

  it('the floor in rows never lets half of the values or more fail', () => {
    const spec = gapminder();
    spec.quality = { ...spec.quality, quarantineBudgetRows: 10 };
    const fails = (failed: number, n: number) =>
      classifyValues(spec, [stats({ column: 'income', nonEmpty: n, failed, samples: ['abc'] })], n).length;
    expect(fails(2, 6)).toBe(0);
    expect(fails(3, 6)).toBe(1);
    expect(fails(1, 2)).toBe(1);
    expect(fails(10, 60)).toBe(0);
    expect(fails(11, 60)).toBe(1);
  });

  it('required values missing beyond the budget are null-values; optional ones are not', () => {
    const diffs = classifyValues(gapminder(), [stats({ column: 'income', nonEmpty: 60, missing: 40 })], 100);
    expect(diffs).toEqual([
      {
        kind: 'null-values',
        column: 'income',
        sourceColumn: 'income',
        failureRate: 0.4,
        detail: 'required column "income" is empty in 40.0% of rows',
      },
    ]);
    expect(classifyValues(gapminder(), [stats({ column: 'health', nonEmpty: 60, missing: 40 })], 100)).toEqual([]);
    expect(classifyValues(gapminder(), [stats({ column: 'income', nonEmpty: 99, missing: 1 })], 100)).toEqual([]);
  });

  it('uses the pipeline budget', () => {
    const s = gapminder();
    s.quality.quarantineBudget = 0.5;
    expect(classifyValues(s, [stats({ column: 'health', failed: 30, samples: ['#VALUE!'] })], 100)).toEqual([]);
  });

  it('missing-value tokens: drift in an optional column even within the budget; null-values in a required one', () => {
    const tokens = classifyValues(gapminder(), [stats({ column: 'health', failed: 1, samples: ['NA', '-'] })], 100);
    expect(tokens).toEqual([
      expect.objectContaining({ kind: 'format-change', column: 'health', found: 'missing-value tokens' }),
    ]);
    expect(classifyValues(gapminder(), [stats({ column: 'income', failed: 1, samples: ['NA'] })], 100)).toEqual([]);
    expect(classifyValues(gapminder(), [stats({ column: 'income', failed: 40, samples: ['NA'] })], 100)).toEqual([
      expect.objectContaining({ kind: 'null-values', column: 'income', found: 'missing-value tokens' }),
    ]);
  });
});

describe('clip and driftReport', () => {
  it('escapes control characters and bounds the length', () => {
    expect(clip('a\nb\u0000c')).toBe('a\\x0ab\\x00c');
    expect(clip('x'.repeat(100), 10)).toBe(`${'x'.repeat(10)}…`);
  });

  it('lists distinct kinds in order and summarises the first three differences', () => {
    const s = spec();
    const diffs = compareColumns(s, ['source', 'netGeneration', 'unit', 'other', 'more']);
    const report = driftReport(
      s,
      2,
      ['/data/x.csv'],
      diffs,
      { format: 'csv', columns: s.source.columns },
      { format: 'csv', columns: [] },
    );
    expect(report.kinds).toEqual(['missing-column', 'renamed', 'unexpected-column']);
    expect(report.specVersion).toBe(2);
    expect(report.summary).toMatch(/^schema drift in iowa: .*\(\+\d+ more\)$/);
  });
});
