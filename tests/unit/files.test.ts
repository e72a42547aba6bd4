/** Many-file sources: per-file overrides, the `files` patch op, per-file drift and outcomes (pure). */
import {
  driftByFile,
  fileMatches,
  globRegExp,
  groupByReading,
  opsForFile,
  runFiles,
  setAsideLine,
  specForFile,
} from '../../common/files';
import { applyPatch, describeOp, patchSchema, scopedMatches, touchedColumns } from '../../common/patch';
import { parseSpec, type PipelineSpec } from '../../common/spec';
import type { DriftReport } from '../../common/types';

function zips(extra: Record<string, unknown> = {}): PipelineSpec {
  const res = parseSpec({
    apiVersion: 'heal/v1',
    name: 'zips',
    source: { path: '/data/parts/*.csv', format: 'csv', columns: ['zip_code', 'state', 'county'], ...extra },
    contract: {
      columns: [
        { name: 'zip_code', type: 'string' },
        { name: 'state', type: 'string' },
        { name: 'county', type: 'string' },
      ],
    },
    mapping: { zip_code: 'zip_code', state: 'state', county: 'county' },
    target: { table: 'zips' },
  });
  if (!res.ok) throw new Error(res.issues.join('; '));
  return res.spec;
}

describe('file name globs', () => {
  it('match the file name, not the folder', () => {
    expect(fileMatches('p2.csv', '/data/parts/p2.csv')).toBe(true);
    expect(fileMatches('p2.csv', '/data/p2.csv/p3.csv')).toBe(false);
    expect(fileMatches('export_2024-*.csv', '/x/export_2024-01-31.csv')).toBe(true);
    expect(fileMatches('export_2024-*.csv', '/x/export_2023-12-31.csv')).toBe(false);
    expect(fileMatches('p?.csv', 'C:\\data\\p7.csv')).toBe(true);
    expect(fileMatches('p[0-2].csv', '/d/p1.csv')).toBe(true);
    expect(fileMatches('p[!0-2].csv', '/d/p1.csv')).toBe(false);
  });
  it('treat regular-expression characters literally', () => {
    expect(globRegExp('a+b(1).csv').test('a+b(1).csv')).toBe(true);
    expect(globRegExp('a.csv').test('abcsv')).toBe(false);
  });
});

describe('the files patch op', () => {
  const renameP2 = [
    {
      op: 'files' as const,
      match: 'p2.csv',
      ops: [
        { op: 'map' as const, column: 'county', from: 'county_name' },
        { op: 'shape' as const, columns: ['zip_code', 'state', 'county_name'] },
      ],
    },
  ];

  it('records a per-file override that changes only the files it matches', () => {
    const r = applyPatch(zips(), renameP2);
    if (!r.ok) throw new Error(r.issues.join('; '));
    expect(r.spec.source.files).toEqual([
      { match: 'p2.csv', columns: ['zip_code', 'state', 'county_name'], mapping: { county: { from: 'county_name' } } },
    ]);
    expect(r.spec.mapping['county']).toEqual({ from: 'county' });
    expect(specForFile(r.spec, '/data/parts/p2.csv').mapping['county']).toEqual({ from: 'county_name' });
    expect(specForFile(r.spec, '/data/parts/p2.csv').source.columns).toEqual(['zip_code', 'state', 'county_name']);
    expect(specForFile(r.spec, '/data/parts/p1.csv').mapping['county']).toEqual({ from: 'county' });
    expect(groupByReading(r.spec, ['/d/p0.csv', '/d/p2.csv', '/d/p1.csv'])).toEqual([
      ['/d/p0.csv', '/d/p1.csv'],
      ['/d/p2.csv'],
    ]);
  });

  it('updates the entry of the same match, and drops it when the file reads like the others again', () => {
    const first = applyPatch(zips(), renameP2);
    if (!first.ok) throw new Error('first');
    const again = applyPatch(first.spec, [{ op: 'files', match: 'p2.csv', ops: [{ op: 'reader', delimiter: ';' }] }]);
    if (!again.ok) throw new Error(again.issues.join('; '));
    expect(again.spec.source.files).toHaveLength(1);
    expect(again.spec.source.files[0]).toMatchObject({
      match: 'p2.csv',
      csv: { delimiter: ';' },
      mapping: { county: { from: 'county_name' } },
    });
    const back = applyPatch(first.spec, [
      {
        op: 'files',
        match: 'p2.csv',
        ops: [
          { op: 'map', column: 'county', from: 'county' },
          { op: 'shape', columns: ['zip_code', 'state', 'county'] },
        ],
      },
    ]);
    if (!back.ok) throw new Error(back.issues.join('; '));
    expect(back.spec.source.files).toEqual([]);
  });

  it('is validated like any op: an unknown column or a missing source column is refused, with the match named', () => {
    const bad = applyPatch(zips(), [{ op: 'files', match: 'p2.csv', ops: [{ op: 'map', column: 'nope', from: 'x' }] }]);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues.join(' ')).toMatch(/files matching "p2.csv".*"nope" is not a contract column/);
    const missing = applyPatch(zips(), [
      { op: 'files', match: 'p2.csv', ops: [{ op: 'map', column: 'county', from: 'county_name' }] },
    ]);
    expect(missing.ok).toBe(false);
    expect(
      patchSchema.safeParse([{ op: 'files', match: 'p2.csv', ops: [{ op: 'files', match: 'x', ops: [] }] }]).success,
    ).toBe(false);
  });

  it('says what it touches, for whom, and reads as one line', () => {
    expect(scopedMatches(renameP2)).toEqual(['p2.csv']);
    expect(scopedMatches([{ op: 'map', column: 'county', from: 'c' }])).toBeUndefined();
    expect(touchedColumns(zips(), renameP2)).toEqual(['county']);
    expect(touchedColumns(zips(), [{ op: 'files', match: 'x', ops: [{ op: 'reader', delimiter: ';' }] }])).toEqual([
      'zip_code',
      'state',
      'county',
    ]);
    expect(describeOp(renameP2[0] as never)).toBe(
      'for files named "p2.csv": map source column "county_name" → county; expect source columns zip_code, state, county_name',
    );
    expect(opsForFile(renameP2, '/d/p2.csv')).toHaveLength(2);
    expect(opsForFile(renameP2, '/d/p1.csv')).toEqual([]);
  });

  it('partition keys must be contract columns', () => {
    expect(zips({ partitionKeys: ['state'] }).source.partitionKeys).toEqual(['state']);
    expect(() => zips({ partitionKeys: ['region'] })).toThrow(
      /source.partitionKeys\[0\]: "region" is not a contract column/,
    );
  });
});

describe('per-file drift and outcomes', () => {
  const drift: DriftReport = {
    pipeline: 'zips',
    specVersion: 1,
    sources: ['/d/p0.csv', '/d/p1.csv', '/d/p2.csv', '/d/p3.csv'],
    summary: 's',
    kinds: ['renamed', 'truncated'],
    differences: [
      {
        kind: 'renamed',
        column: 'county',
        expected: 'county',
        found: 'county_name',
        file: '/d/p2.csv',
        detail: 'column "county" looks renamed (/d/p2.csv)',
      },
      { kind: 'truncated', file: '/d/p3.csv', detail: 'the last line is cut off (/d/p3.csv)' },
    ],
    expected: { format: 'csv', columns: ['zip_code', 'state', 'county'] },
    found: { format: 'csv', columns: ['zip_code', 'state', 'county'] },
    files: [
      { file: '/d/p2.csv', columns: ['zip_code', 'state', 'county_name'] },
      { file: '/d/p3.csv', columns: ['zip_code', 'state', 'county'] },
    ],
  };

  it('splits a report into one report per drifted file, with that file alone and its own columns', () => {
    const per = driftByFile(drift);
    expect([...(per?.keys() ?? [])]).toEqual(['/d/p2.csv', '/d/p3.csv']);
    const p2 = per?.get('/d/p2.csv');
    expect(p2).toMatchObject({
      sources: ['/d/p2.csv'],
      kinds: ['renamed'],
      found: { columns: ['zip_code', 'state', 'county_name'] },
    });
    expect(p2?.differences[0]).not.toHaveProperty('file');
    expect(p2?.differences[0]?.detail).toBe('column "county" looks renamed');
    expect(p2?.summary).toMatch(/^schema drift in zips \(p2.csv\): /);
    // A difference that belongs to no file (the whole source) cannot be split.
    expect(driftByFile({ ...drift, differences: [{ kind: 'distribution-shift', detail: 'x' }] })).toBeUndefined();
  });

  it('lists every file: loaded, healed where it drifted, set aside with why, the rest held when the run refused', () => {
    const loaded = ['/d/p0.csv', '/d/p1.csv', '/d/p2.csv'].map((file) => ({
      file,
      outcome: 'loaded' as const,
      rowsRead: 10,
      rowsLoaded: 10,
      rowsQuarantined: 0,
    }));
    const partial = runFiles({ loaded, setAside: [{ file: '/d/p3.csv', reason: 'truncated' }], drift });
    expect(partial.map((f) => [f.file, f.outcome])).toEqual([
      ['/d/p0.csv', 'loaded'],
      ['/d/p1.csv', 'loaded'],
      ['/d/p2.csv', 'healed'],
      ['/d/p3.csv', 'set-aside'],
    ]);
    expect(partial[3]).toMatchObject({ reason: 'truncated', driftKinds: ['truncated'], rowsLoaded: 0 });
    expect(setAsideLine(partial)).toBe('1 of 4 files set aside: p3.csv (truncated)');
    const refused = runFiles({ setAside: [{ file: '/d/p3.csv', reason: 'truncated' }], drift, held: true });
    expect(refused.map((f) => f.outcome)).toEqual(['held', 'held', 'held', 'set-aside']);
    expect(refused[2]?.driftKinds).toEqual(['renamed']);
  });
});
