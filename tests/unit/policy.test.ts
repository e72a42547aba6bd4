/**
 * `healing.policy`: defaults, per-column overrides, the classification of a patch's ops, the
 * `add` and `widen` ops, and the evolution plan an append or merge table follows.
 */
import { applyPatch } from '../../common/patch';
import { DEFAULT_POLICY, policyDecisions, policyFor } from '../../common/policy';
import { parseSpec, type PipelineSpec } from '../../common/spec';
import type { DriftReport } from '../../common/types';
import { SpecInvalidError } from '../../common/errors';
import { planEvolution } from '../../core/etl/target';
import { DUCKDB_TYPES } from '../../core/etl/sql';
import { columnsSpec } from '../helpers/fixtures';

const base = (): PipelineSpec => {
  const s = columnsSpec([
    { name: 'id', type: 'integer' },
    { name: 'day', type: 'date' },
    { name: 'note', type: 'string' },
  ]);
  s.contract.columns[2]!.required = false;
  return s;
};
const drift = (kinds: DriftReport['differences'] = []): DriftReport => ({
  pipeline: 'p',
  specVersion: 1,
  sources: ['/x.csv'],
  summary: '',
  kinds: [...new Set(kinds.map((d) => d.kind))],
  differences: kinds,
  expected: { format: 'csv', columns: [] },
  found: { format: 'csv', columns: [] },
});

test('every class has its documented default; a column override wins', () => {
  const s = base();
  expect(s.healing.policy).toMatchObject(DEFAULT_POLICY);
  expect(DEFAULT_POLICY).toEqual({
    newColumns: 'ignore',
    renames: 'auto',
    typeChanges: 'widen',
    droppedColumns: 'default',
    distributionShifts: 'refuse',
  });
  const withOverride = parseSpec({
    ...JSON.parse(JSON.stringify(s)),
    healing: { policy: { newColumns: 'evolve', columns: { secret: { newColumns: 'refuse' } } } },
  });
  if (!withOverride.ok) throw new Error(withOverride.issues.join('; '));
  expect(policyFor(withOverride.spec.healing.policy, 'newColumns', 'secret')).toBe('refuse');
  expect(policyFor(withOverride.spec.healing.policy, 'newColumns', 'wind')).toBe('evolve');
  const bad = parseSpec({ ...JSON.parse(JSON.stringify(s)), healing: { policy: { typeChanges: 'text' } } });
  expect(bad.ok ? [] : bad.issues).toEqual([expect.stringContaining('healing.policy.typeChanges')]);
});

test('ops are classified by the policy that governs them; an op against the policy is refused', () => {
  const s = base();
  s.healing.policy.renames = 'review';
  const d = policyDecisions(s, drift(), [
    { op: 'map', column: 'id', from: 'ident' },
    { op: 'ignore', sourceColumn: 'wind' },
    { op: 'format', column: 'day', format: '%d/%m/%Y' },
    { op: 'widen', column: 'id', type: 'number' },
    { op: 'default', column: 'note', value: null },
  ]);
  expect(d.map(({ drift: k, policy, outcome }) => [k, policy, outcome])).toEqual([
    ['renames', 'review', 'review'],
    ['newColumns', 'ignore', 'applied'],
    ['typeChanges', 'widen', 'applied'],
    ['droppedColumns', 'default', 'applied'],
  ]);
  s.healing.policy.newColumns = 'evolve';
  const [ignored] = policyDecisions(s, drift(), [{ op: 'ignore', sourceColumn: 'wind' }]);
  expect(ignored).toMatchObject({ outcome: 'refused', detail: expect.stringContaining('newColumns: evolve') });
  const shifted = drift([{ kind: 'distribution-shift', column: 'id', unitFactor: 100, detail: 'x100' }]);
  expect(policyDecisions(s, shifted, [{ op: 'derive', column: 'id', expr: 'TRY_CAST("id" AS DOUBLE) / 100' }])).toEqual(
    [expect.objectContaining({ drift: 'distributionShifts', policy: 'refuse', outcome: 'refused' })],
  );
});

test('add joins the contract as optional and leaves ignore; widen only along the lossless lattice', () => {
  const s = base();
  s.source.columns.push('wind');
  s.source.ignore.push('wind');
  const added = applyPatch(s, [{ op: 'add', column: 'wind', from: 'wind', type: 'number' }]);
  if (!added.ok) throw new Error(added.issues.join('; '));
  expect(added.spec.contract.columns.at(-1)).toEqual({ name: 'wind', type: 'number', required: false, pii: false });
  expect(added.spec.source.ignore).toEqual([]);
  expect(applyPatch(s, [{ op: 'add', column: 'ID', from: 'wind', type: 'number' }])).toMatchObject({ ok: false });

  s.contract.columns[1]!.format = '%Y-%m-%d';
  const wide = applyPatch(s, [
    { op: 'widen', column: 'id', type: 'number' },
    { op: 'widen', column: 'day', type: 'timestamp' },
  ]);
  if (!wide.ok) throw new Error(wide.issues.join('; '));
  expect(wide.spec.contract.columns.map((c) => [c.type, c.format])).toEqual([
    ['number', undefined],
    ['timestamp', undefined],
    ['string', undefined],
  ]);
  const narrow = applyPatch(s, [{ op: 'widen', column: 'id', type: 'string' }]);
  expect(narrow.ok ? [] : narrow.issues).toEqual([expect.stringContaining('not a lossless widening')]);
});

test('an append table evolves by adding optional columns last and widening types; anything else is refused', () => {
  const s = base();
  const have = [
    { name: 'id', type: 'BIGINT' },
    { name: 'day', type: 'DATE' },
  ];
  expect(planEvolution(s, have, DUCKDB_TYPES)).toEqual({ add: [s.contract.columns[2]], widen: [] });
  s.contract.columns[0]!.type = 'number';
  s.contract.columns[1]!.type = 'timestamp';
  const plan = planEvolution(s, have, DUCKDB_TYPES);
  expect(plan).toMatchObject({ widen: [{ name: 'id' }, { name: 'day' }] });
  // A narrowing, a reorder, a required new column: the mismatch error.
  s.contract.columns[0]!.type = 'string';
  expect(planEvolution(s, have, DUCKDB_TYPES)).toBeInstanceOf(SpecInvalidError);
  const t = base();
  expect(planEvolution(t, [have[1]!, have[0]!], DUCKDB_TYPES)).toBeInstanceOf(SpecInvalidError);
  t.contract.columns[2]!.required = true;
  expect(planEvolution(t, have, DUCKDB_TYPES)).toBeInstanceOf(SpecInvalidError);
});
