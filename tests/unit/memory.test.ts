/**
 * Fix memory: the drift signature (stable across pipeline names, files and row counts; different
 * for different shapes, kinds, value patterns and dialects) and the store (idempotent per episode,
 * owner-only files, cross-pipeline recall only when the contract columns match and the patch applies).
 * Signatures are taken from real drift reports of the shared drift cases, loaded under two names.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inferSpec } from '../../core/spec/infer';
import { contractColumns, driftSignature, FixMemory, patternClass } from '../../store/memory';
import { applyPatch, type Patch } from '../../common/patch';
import type { PipelineSpec } from '../../common/spec';
import type { DriftReport } from '../../common/types';
import { DRIFT_CASES, driftCase, tempDir } from '../helpers/fixtures';
import { driftOf as realDriftOf } from '../helpers/diagnose-input';

let tmp: string;
beforeAll(() => {
  tmp = fs.realpathSync(tempDir('heal-memory-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Copy a file into the temp dir under another name (so paths differ between pipelines). */
function copy(file: string, name: string): string {
  const out = path.join(tmp, name);
  fs.copyFileSync(file, out);
  return out;
}

async function specOf(name: string, clean: string): Promise<PipelineSpec> {
  return inferSpec({ name, source: clean, allowedRoots: [tmp, DRIFT_CASES] });
}

const driftOf = (spec: PipelineSpec, drifted: string) => realDriftOf(spec, drifted, [tmp, DRIFT_CASES]);

const sig = (d: DriftReport): string => driftSignature(d).hash;

describe('patternClass', () => {
  test.each([
    ['$10,620', '$9,9'],
    ['$1,925', '$9,9'],
    ['1.0', '9.9'],
    ['01/02/2001', '9/9/9'],
    ['2001-01-01T00:00:00Z', '9-9-9a9:9:9a'],
    ['Fossil  Fuels', 'a a'],
    ['Zürich', 'a'],
    ['yes', 'a'],
  ])('%s → %s', (v, p) => expect(patternClass(v)).toBe(p));
});

describe('drift signature', () => {
  let iowa: DriftReport;
  let power: DriftReport;
  let gapminder: DriftReport;
  let spec: PipelineSpec;

  beforeAll(async () => {
    spec = await specOf('iowa', driftCase('iowa-camel-rename', 'clean.csv'));
    iowa = await driftOf(spec, driftCase('iowa-camel-rename', 'drifted.csv'));
    const powerSpec = await specOf('power', copy(driftCase('iowa-camel-rename', 'clean.csv'), 'power-clean.csv'));
    power = await driftOf(powerSpec, copy(driftCase('iowa-camel-rename', 'drifted.csv'), 'power-drifted.csv'));
    const gSpec = await specOf('gapminder', driftCase('gapminder-currency', 'clean.csv'));
    gapminder = await driftOf(gSpec, driftCase('gapminder-currency', 'drifted.csv'));
  });

  test('is a sha256 and carries no pipeline name, path, time or row count', () => {
    const { hash, doc } = driftSignature(iowa);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    const text = JSON.stringify(doc);
    expect(text).not.toMatch(/iowa|drifted\.csv|\d{4}-\d\d-\d\dT/);
    expect(doc).toMatchObject({
      format: 'csv',
      reader: { delimiter: ',', header: true, encoding: 'utf-8' },
      expected: ['net_generation', 'source', 'year'],
      found: ['year', 'source', 'netGeneration'],
      kinds: ['renamed'],
    });
    expect(doc.differences).toEqual([
      {
        kind: 'renamed',
        column: 'net_generation',
        sourceColumn: 'netGeneration',
        expected: 'net_generation',
        found: 'netGeneration',
      },
    ]);
  });

  test('is the same for the same drift on another pipeline (other name, other files)', () => {
    expect(power.pipeline).toBe('power');
    expect(power.sources).not.toEqual(iowa.sources);
    expect(sig(power)).toBe(sig(iowa));
  });

  test('ignores failure rates, sample magnitudes, times, versions and details', () => {
    const g = gapminder;
    const d0 = g.differences[0];
    expect(d0?.samples?.length).toBeGreaterThan(0);
    const other: DriftReport = {
      ...g,
      pipeline: 'another',
      specVersion: 7,
      summary: 'x',
      detectedAt: '2020-01-01T00:00:00.000Z',
      sources: ['/elsewhere.csv'],
      found: { ...g.found, rows: 5 },
      differences: g.differences.map((d) => ({
        ...d,
        failureRate: 0.5,
        detail: 'other',
        ...(d.samples ? { samples: d.samples.map((s) => s.replace(/\d/g, '7') + '77') } : {}),
      })),
    };
    expect(sig(other)).toBe(sig(g));
  });

  test('value-level differences carry the failing values’ pattern classes', () => {
    const { doc } = driftSignature(gapminder);
    expect(doc.kinds).toEqual(gapminder.kinds.slice().sort());
    const income = doc.differences.find((d) => d.column === 'income');
    expect(income?.patterns).toEqual(['$9,9']);
    expect(JSON.stringify(doc)).not.toContain('1,925');
  });

  test('differs for a different shape, kind, pattern or dialect', () => {
    const base = sig(iowa);
    const variants: DriftReport[] = [
      // another drift altogether
      gapminder,
      // another column found
      {
        ...iowa,
        found: { ...iowa.found, columns: ['year', 'source', 'netGen'] },
        differences: iowa.differences.map((d) => ({ ...d, sourceColumn: 'netGen', found: 'netGen' })),
      },
      // the same columns found in another order
      { ...iowa, found: { ...iowa.found, columns: ['source', 'year', 'netGeneration'] } },
      // different expected columns
      { ...iowa, expected: { ...iowa.expected, columns: ['year', 'source', 'net_gen'] } },
      // another kind
      {
        ...iowa,
        kinds: ['renamed', 'reordered'],
        differences: [...iowa.differences, { kind: 'reordered', detail: '' }],
      },
      // another dialect
      { ...iowa, expected: { ...iowa.expected, delimiter: ';' } },
      { ...iowa, expected: { ...iowa.expected, encoding: 'latin-1' } },
    ];
    const hashes = variants.map(sig);
    for (const h of hashes) expect(h).not.toBe(base);
    expect(new Set(hashes).size).toBe(hashes.length);
    // Same kind and column, another value pattern (decimal comma instead of currency).
    const comma: DriftReport = {
      ...gapminder,
      differences: gapminder.differences.map((d) => (d.samples ? { ...d, samples: ['1925,5', '10620,25'] } : d)),
    };
    expect(sig(comma)).not.toBe(sig(gapminder));
  });

  test('a missing header is keyed by the pattern of the first line, not its values', () => {
    const a: DriftReport = {
      ...iowa,
      kinds: ['header-missing'],
      found: { ...iowa.found, columns: ['2001-01-01', 'Fossil Fuels', '35361'] },
      differences: [
        {
          kind: 'header-missing',
          expected: 'year,source,net_generation',
          found: '2001-01-01,Fossil Fuels,35361',
          detail: '',
        },
      ],
    };
    const b: DriftReport = {
      ...a,
      found: { ...a.found, columns: ['2002-01-01', 'Nuclear Energy', '1'] },
      differences: [
        {
          kind: 'header-missing',
          expected: 'year,source,net_generation',
          found: '2002-01-01,Nuclear Energy,1',
          detail: '',
        },
      ],
    };
    expect(sig(a)).toBe(sig(b));
    expect(driftSignature(a).doc.found).toEqual(['9-9-9', 'a a', '9']);
  });
});

describe('the memory store', () => {
  let spec: PipelineSpec;
  let drift: DriftReport;
  const RIGHT: Patch = [
    { op: 'map', column: 'net_generation', from: 'netGeneration' },
    { op: 'shape', columns: ['year', 'source', 'netGeneration'] },
  ];

  beforeAll(async () => {
    spec = await specOf('iowa', driftCase('iowa-camel-rename', 'clean.csv'));
    drift = await driftOf(spec, driftCase('iowa-camel-rename', 'drifted.csv'));
  });

  function fresh(): FixMemory {
    return new FixMemory(tempDir('heal-memory-home-'));
  }

  test('remember is idempotent per episode and writes owner-only files', () => {
    const mem = fresh();
    const first = mem.remember({ drift, spec, pipeline: 'iowa', patch: RIGHT, doctor: 'rules', episodeId: 'ep-1' });
    expect(first.outcome).toBe('remembered');
    const file = path.join(mem.dir, first.entry.signature, 'iowa.json');
    const text = fs.readFileSync(file, 'utf8');
    const again = mem.remember({
      drift,
      spec,
      pipeline: 'iowa',
      patch: RIGHT,
      doctor: 'rules',
      episodeId: 'ep-1',
      at: '2030-01-01T00:00:00.000Z',
    });
    expect(again.outcome).toBe('unchanged');
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
    expect(mem.entries(first.entry.signature)).toHaveLength(1);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(mem.dir, first.entry.signature, 'shape.json')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o077).toBe(0);
    expect(first.entry).toMatchObject({
      signature: driftSignature(drift).hash,
      pipeline: 'iowa',
      contractColumns: contractColumns(spec),
      patch: RIGHT,
      doctor: 'rules',
      episodeId: 'ep-1',
      hits: 0,
    });
    // No temp files left behind.
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['iowa.json', 'shape.json']);
  });

  test('recall: this pipeline first; excluded (failed) patches skipped; unknown signature → undefined', () => {
    const mem = fresh();
    const hash = driftSignature(drift).hash;
    expect(mem.recall(hash, spec)).toBeUndefined();
    mem.remember({
      drift,
      spec: { ...spec, name: 'other' },
      pipeline: 'other',
      patch: [...RIGHT, { op: 'ignore', sourceColumn: 'source' }],
      doctor: 'llm',
      episodeId: 'ep-o',
    });
    mem.remember({ drift, spec, pipeline: 'iowa', patch: RIGHT, doctor: 'rules', episodeId: 'ep-1' });
    const hit = mem.recall(hash, spec);
    expect(hit).toMatchObject({ patch: RIGHT, crossPipeline: false, entry: { pipeline: 'iowa', episodeId: 'ep-1' } });
    const next = mem.recall(hash, spec, { exclude: [RIGHT] });
    expect(next).toMatchObject({ crossPipeline: true, entry: { pipeline: 'other' } });
    expect(mem.recall(hash, spec, { exclude: [RIGHT, next?.patch ?? []] })).toBeUndefined();
    expect(mem.recall('0'.repeat(64), spec)).toBeUndefined();
  });

  test('cross-pipeline recall only when the contract columns match and the patch applies', async () => {
    const mem = fresh();
    const hash = driftSignature(drift).hash;
    mem.remember({ drift, spec, pipeline: 'iowa', patch: RIGHT, doctor: 'rules', episodeId: 'ep-1' });
    const b = { ...spec, name: 'power' };
    expect(mem.recall(hash, b)).toMatchObject({ patch: RIGHT, crossPipeline: true, entry: { pipeline: 'iowa' } });

    // Another contract (a column typed differently): no cross-pipeline hit.
    const retyped: PipelineSpec = {
      ...b,
      contract: {
        columns: b.contract.columns.map((c) => (c.name === 'net_generation' ? { ...c, type: 'string' } : c)),
      },
    };
    expect(contractColumns(retyped)).not.toEqual(contractColumns(spec));
    expect(mem.recall(hash, retyped)).toBeUndefined();

    // Same contract columns, but the remembered patch does not apply to this spec.
    const optional: PipelineSpec = {
      ...spec,
      contract: {
        columns: spec.contract.columns.map((c) => (c.name === 'net_generation' ? { ...c, required: false } : c)),
      },
    };
    const dflt: Patch = [
      { op: 'default', column: 'net_generation', value: null },
      { op: 'shape', columns: ['year', 'source', 'netGeneration'] },
    ];
    const mem2 = fresh();
    mem2.remember({ drift, spec: optional, pipeline: 'lenient', patch: dflt, doctor: 'rules', episodeId: 'ep-l' });
    expect(applyPatch(optional, dflt).ok).toBe(true);
    expect(applyPatch(b, dflt).ok).toBe(false);
    expect(contractColumns(optional)).toEqual(contractColumns(b));
    expect(mem2.recall(hash, { ...optional, name: 'lenient2' })).toMatchObject({ entry: { pipeline: 'lenient' } });
    expect(mem2.recall(hash, b)).toBeUndefined();
  });

  test('a newer verified fix replaces the pipeline’s entry; hits are counted once per episode', () => {
    const mem = fresh();
    const hash = driftSignature(drift).hash;
    mem.remember({
      drift,
      spec,
      pipeline: 'iowa',
      patch: [{ op: 'ignore', sourceColumn: 'source' }],
      doctor: 'llm',
      episodeId: 'ep-0',
    });
    expect(
      mem.remember({ drift, spec, pipeline: 'iowa', patch: RIGHT, doctor: 'rules', episodeId: 'ep-1' }).outcome,
    ).toBe('updated');
    expect(mem.entry(hash, 'iowa')).toMatchObject({ patch: RIGHT, doctor: 'rules', hits: 0 });
    expect(mem.recordHit({ drift, spec, pipeline: 'iowa', patch: RIGHT, episodeId: 'ep-2' }).outcome).toBe('hit');
    expect(mem.recordHit({ drift, spec, pipeline: 'iowa', patch: RIGHT, episodeId: 'ep-2' }).outcome).toBe('unchanged');
    expect(mem.entry(hash, 'iowa')).toMatchObject({
      hits: 1,
      hitEpisodes: ['ep-2'],
      episodeId: 'ep-1',
      doctor: 'rules',
    });
    // The same patch verified again keeps its hits.
    mem.remember({ drift, spec, pipeline: 'iowa', patch: RIGHT, doctor: 'rules', episodeId: 'ep-3' });
    expect(mem.entry(hash, 'iowa')).toMatchObject({ hits: 1, episodeId: 'ep-3' });
  });

  test('a cross-pipeline hit counts on the source entry and teaches the other pipeline', () => {
    const mem = fresh();
    const hash = driftSignature(drift).hash;
    mem.remember({ drift, spec, pipeline: 'iowa', patch: RIGHT, doctor: 'rules', episodeId: 'ep-1' });
    const b = { ...spec, name: 'power' };
    expect(mem.recordHit({ drift, spec: b, pipeline: 'power', patch: RIGHT, episodeId: 'ep-b' }).outcome).toBe('hit');
    expect(mem.entry(hash, 'iowa')).toMatchObject({ hits: 1, hitEpisodes: ['ep-b'] });
    expect(mem.entry(hash, 'power')).toMatchObject({
      patch: RIGHT,
      doctor: 'rules',
      learnedFrom: 'iowa',
      episodeId: 'ep-b',
      hits: 0,
    });
    expect(mem.recall(hash, b)).toMatchObject({ crossPipeline: false, entry: { pipeline: 'power' } });
  });

  test('damaged or foreign files are ignored, never fatal', () => {
    const mem = fresh();
    const { entry } = mem.remember({ drift, spec, pipeline: 'iowa', patch: RIGHT, doctor: 'rules', episodeId: 'ep-1' });
    fs.writeFileSync(path.join(mem.dir, entry.signature, 'broken.json'), '{ not json');
    fs.writeFileSync(
      path.join(mem.dir, entry.signature, 'evil.json'),
      JSON.stringify({ ...entry, pipeline: 'evil', patch: [{ op: 'exec', cmd: 'rm -rf /' }] }),
    );
    expect(mem.entries(entry.signature).map((e) => e.pipeline)).toEqual(['iowa']);
    // A signature is a sha256: anything else (a path) reads nothing.
    expect(mem.recall('../../etc', spec)).toBeUndefined();
    expect(mem.entries('../iowa')).toEqual([]);
  });
});
