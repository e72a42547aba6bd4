/**
 * parseSpec: defaults are filled in, the mapping shorthand is normalised, and every invalid spec
 * is reported with the exact, path-qualified message (these messages are part of the product).
 */
import { DEFAULT_POLICY } from '../../common/policy';
import {
  budgetLabel,
  DEFAULT_QUARANTINE_BUDGET_ROWS,
  parseFormat,
  parseSpec,
  quarantineAllowance,
  withinQuarantineBudget,
} from '../../common/spec';

/** A spec as plain, loosely typed data, so a test can break it in any way. */
interface LooseSpec {
  [k: string]: unknown;
  apiVersion: string;
  source: { [k: string]: unknown; path: string; format: string; columns: string[] };
  contract: { columns: { [k: string]: unknown; name: string; type: string }[] };
  mapping: Record<string, unknown>;
  target: { [k: string]: unknown; table: string };
}

/** A minimal valid spec; each test changes one thing. */
function minimal(): LooseSpec {
  return {
    apiVersion: 'heal/v1',
    name: 'energy',
    source: { path: '/data/energy.csv', format: 'csv', columns: ['year', 'Net Generation', 'note'] },
    contract: {
      columns: [
        { name: 'year', type: 'date', format: '%Y-%m-%d' },
        { name: 'net_generation', type: 'integer' },
        { name: 'note', type: 'string', required: false },
      ],
    },
    mapping: { year: 'year', net_generation: { from: 'Net Generation' }, note: 'note' },
    target: { table: 'energy' },
  };
}

/** Apply `change` to a fresh minimal spec and return the issues (fails the test if it parses). */
function issuesOf(change: (s: LooseSpec) => void): string[] {
  const s = minimal();
  change(s);
  const res = parseSpec(s);
  if (res.ok) throw new Error('expected the spec to be invalid');
  return res.issues;
}

/** Column `i` of the contract (present in the minimal spec). */
const col = (s: LooseSpec, i: number) => s.contract.columns[i]!;

describe('parseSpec: a valid spec', () => {
  it('fills in the defaults and normalises the mapping shorthand', () => {
    const res = parseSpec(minimal());
    if (!res.ok) throw new Error(res.issues.join('\n'));
    const { spec } = res;
    expect(spec.source.csv).toEqual({
      delimiter: ',',
      header: true,
      quote: '"',
      escape: '"',
      encoding: 'utf-8',
      skipRows: 0,
      nullStrings: [''],
    });
    expect(spec.source.ignore).toEqual([]);
    expect(spec.quality).toEqual({ quarantineBudget: 0.01, quarantineBudgetRows: 3 });
    expect(spec.healing).toEqual({
      maxAttempts: 3,
      mode: 'auto',
      approvalTimeout: '72h',
      policy: { ...DEFAULT_POLICY, columns: {} },
    });
    expect(spec.target).toEqual({ table: 'energy', mode: 'replace', partial: 'refuse' });
    expect(spec.mapping).toEqual({
      year: { from: 'year' },
      net_generation: { from: 'Net Generation' },
      note: { from: 'note' },
    });
    expect(spec.contract.columns.map((c) => [c.name, c.required, c.pii])).toEqual([
      ['year', true, false],
      ['net_generation', true, false],
      ['note', false, false],
    ]);
  });

  it('keeps explicit CSV options and fills only the missing ones', () => {
    const s = minimal();
    s.source['csv'] = { delimiter: ';', nullStrings: ['NA', ''] };
    const res = parseSpec(s);
    if (!res.ok) throw new Error(res.issues.join('\n'));
    expect(res.spec.source.csv).toEqual({
      delimiter: ';',
      header: true,
      quote: '"',
      escape: '"',
      encoding: 'utf-8',
      skipRows: 0,
      nullStrings: ['NA', ''],
    });
  });

  it('accepts an optional column read from a default instead of a source column', () => {
    const s = minimal();
    s.contract.columns.push({ name: 'region', type: 'string', required: false });
    s.mapping['region'] = { default: null };
    const res = parseSpec(s);
    expect(res.ok).toBe(true);
  });

  it('accepts merge with a key of contract columns', () => {
    const s = minimal();
    s.target = { table: 'energy', mode: 'merge', key: ['year'] };
    const res = parseSpec(s);
    if (!res.ok) throw new Error(res.issues.join('\n'));
    expect(res.spec.target).toEqual({ table: 'energy', mode: 'merge', key: ['year'], partial: 'refuse' });
  });

  it('parseFormat prefers the mapping format over the contract format', () => {
    const s = minimal();
    s.mapping['year'] = { from: 'year', format: '%d/%m/%Y' };
    const res = parseSpec(s);
    if (!res.ok) throw new Error(res.issues.join('\n'));
    const year = res.spec.contract.columns[0]!;
    expect(parseFormat(res.spec, year)).toBe('%d/%m/%Y');
    expect(parseFormat(res.spec, res.spec.contract.columns[1]!)).toBeUndefined();
  });
});

describe('parseSpec: exact error messages', () => {
  it('a type outside the enum names the column by index', () => {
    expect(issuesOf((s) => (col(s, 1).type = 'int'))).toEqual([
      'contract.columns[1].type: Invalid option: expected one of "string"|"integer"|"number"|"boolean"|"date"|"timestamp"',
    ]);
  });

  it('a mapping key that is not a contract column', () => {
    expect(issuesOf((s) => (s.mapping['netGeneration'] = 'Net Generation'))).toEqual([
      'mapping.netGeneration: "netGeneration" is not a contract column',
    ]);
  });

  it('a required column without a mapping', () => {
    expect(issuesOf((s) => delete s.mapping['net_generation'])).toEqual([
      'mapping.net_generation: contract column "net_generation" needs a mapping: { from: <source column> } or a default',
    ]);
  });

  it('a required column mapped to a null default', () => {
    expect(issuesOf((s) => (s.mapping['net_generation'] = { default: null }))).toEqual([
      'contract.columns[1].required: required column "net_generation" has no source column and no non-null default',
    ]);
  });

  it('mapping.from that is not in source.columns', () => {
    expect(issuesOf((s) => (s.mapping['net_generation'] = { from: 'netGeneration' }))).toEqual([
      'mapping.net_generation.from: source column "netGeneration" is not in source.columns',
    ]);
  });

  it('merge without a key', () => {
    expect(issuesOf((s) => (s.target = { table: 'energy', mode: 'merge' }))).toEqual([
      'target.key: merge mode needs target.key (one or more contract columns)',
    ]);
  });

  it('a key that is not a contract column', () => {
    expect(issuesOf((s) => (s.target = { table: 'energy', mode: 'merge', key: ['year', 'Year'] }))).toEqual([
      'target.key: key "Year" is not a contract column',
    ]);
  });

  it('a format on a column that is not a date or timestamp', () => {
    expect(issuesOf((s) => (col(s, 1)['format'] = '%d'))).toEqual([
      'contract.columns[1].format: a format applies to date and timestamp columns only, not integer',
    ]);
  });

  it('a duplicate contract column (case-insensitive)', () => {
    expect(
      issuesOf((s) => {
        s.contract.columns.push({ name: 'YEAR', type: 'string' });
        s.mapping['YEAR'] = 'year';
      }),
    ).toEqual(['contract.columns[3].name: duplicate column "YEAR"']);
  });

  it('a duplicate source column', () => {
    expect(issuesOf((s) => s.source.columns.push('note'))).toEqual(['source.columns: duplicate source columns: note']);
  });

  it('a table name that is not an identifier', () => {
    expect(issuesOf((s) => (s.target.table = 'energy-2024'))).toEqual([
      'target.table: must be a SQL identifier: letters, digits and _, not starting with a digit',
    ]);
    expect(issuesOf((s) => (s.target.table = 'x; DROP TABLE y'))).toEqual([
      'target.table: must be a SQL identifier: letters, digits and _, not starting with a digit',
    ]);
  });

  it('a contract column name that is not an identifier', () => {
    expect(issuesOf((s) => (col(s, 0).name = '1year'))[0]).toBe(
      'contract.columns[0].name: must be a SQL identifier: letters, digits and _, not starting with a digit',
    );
  });

  it('an unknown top-level field (strict)', () => {
    expect(issuesOf((s) => (s['schedule'] = 'daily'))).toEqual(['(spec): Unrecognized key: "schedule"']);
  });

  it('an unknown nested field names its object', () => {
    expect(issuesOf((s) => (s.source['sheet'] = 1))).toEqual(['source: Unrecognized key: "sheet"']);
    expect(issuesOf((s) => (s.mapping['year'] = { from: 'year', cast: 'date' }))).toEqual([
      'mapping.year: Unrecognized key: "cast"',
    ]);
  });

  it('a wrong apiVersion', () => {
    expect(issuesOf((s) => (s.apiVersion = 'heal/v2'))).toEqual(['apiVersion: Invalid input: expected "heal/v1"']);
  });

  it('a quarantine budget out of range', () => {
    expect(issuesOf((s) => (s['quality'] = { quarantineBudget: 2 }))).toEqual([
      'quality.quarantineBudget: Too big: expected number to be <=1',
    ]);
  });

  it('a value that is not an object at all', () => {
    const res = parseSpec('name: x');
    expect(res).toEqual({ ok: false, issues: ['(spec): Invalid input: expected object, received string'] });
  });

  it('reports every issue, not only the first', () => {
    const issues = issuesOf((s) => {
      s.mapping['net_generation'] = { from: 'netGeneration' };
      s.mapping['extra'] = 'note';
    });
    expect(issues).toEqual([
      'mapping.extra: "extra" is not a contract column',
      'mapping.net_generation.from: source column "netGeneration" is not in source.columns',
    ]);
  });
});

describe('parseSpec: healing.approvalTimeout', () => {
  it('takes a duration and rejects anything else with the path', () => {
    const ok = minimal() as LooseSpec & { healing?: unknown };
    ok.healing = { mode: 'review', approvalTimeout: '30m' };
    const res = parseSpec(ok);
    if (!res.ok) throw new Error(res.issues.join('\n'));
    expect(res.spec.healing).toEqual({
      maxAttempts: 3,
      mode: 'review',
      approvalTimeout: '30m',
      policy: { ...DEFAULT_POLICY, columns: {} },
    });
    expect(issuesOf((s) => Object.assign(s, { healing: { approvalTimeout: 'soon' } })).join('\n')).toMatch(
      /healing\.approvalTimeout.*duration/,
    );
  });
});

describe('quarantine budget', () => {
  const quality = (quarantineBudget: number, quarantineBudgetRows: number) => ({
    quarantineBudget,
    quarantineBudgetRows,
  });
  test('the share or the floor in rows, whichever allows more; the floor stays below half the rows', () => {
    expect(quarantineAllowance(quality(0.01, 3), 60)).toBe(3);
    expect(quarantineAllowance(quality(0.01, 3), 1000)).toBe(10);
    expect(quarantineAllowance(quality(0.01, 3), 4)).toBe(1);
    expect(quarantineAllowance(quality(0.01, 3), 2)).toBe(0.02);
    expect(quarantineAllowance(quality(0.01, 0), 60)).toBeCloseTo(0.6);
    expect(withinQuarantineBudget(quality(0.01, 3), 3, 60)).toBe(true);
    expect(withinQuarantineBudget(quality(0.01, 3), 4, 60)).toBe(false);
    expect(budgetLabel(quality(0.01, 3))).toBe('1.0% or 3 rows');
    expect(budgetLabel(quality(0.05, 0))).toBe('5.0%');
  });
  test('a spec without it gets the default floor', () => {
    const res = parseSpec(minimal());
    if (!res.ok) throw new Error(res.issues.join('\n'));
    expect(res.spec.quality.quarantineBudgetRows).toBe(DEFAULT_QUARANTINE_BUDGET_ROWS);
  });
});
