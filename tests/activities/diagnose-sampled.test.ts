/**
 * The `diagnose` activity reads a sample of a big source first, the whole source later: attempt 1's
 * doctors see the first `probeRows` rows; once a fix failed verification on the whole file, the next
 * attempt sees every row, so a drift that starts past the sample is still healed. A first attempt
 * that finds no confident fix on a sample of a longer source asks again over the whole source
 * before it gives up. Run in a MockActivityEnvironment with a small `probeRows` (50).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { DiagnoseResult } from '../../common/contracts';
import * as probeModule from '../../core/doctor/probe';
import { createSourceProbe } from '../../core/doctor/probe';
import { createRulesDoctor } from '../../core/doctor/rules';
import { inferSpec } from '../../core/spec/infer';
import { SpecStore } from '../../store/spec-store';
import type { PipelineSpec } from '../../common/spec';
import type { DriftReport, VerificationReport } from '../../common/types';
import { withDuckDB } from '../../lib/duckdb';

const PROBE_ROWS = 50;
const ROWS = 1000;

let tmp: string;
let store: SpecStore;
let activities: ReturnType<typeof createActivities>;

beforeEach(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'heal-diag-')));
  store = new SpecStore(tmp);
  // As the worker passes it: the whole config object (probeRows is read by the healing activities).
  const config = {
    home: tmp,
    warehouse: path.join(tmp, 'warehouse.duckdb'),
    allowedRoots: [tmp],
    duckdbMemoryLimit: undefined,
    duckdbThreads: 0,
    probeRows: PROBE_ROWS,
  };
  activities = createActivities({ config });
});
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Watch the probes the activity creates (they still run): `sampleRows` of each, in order. */
function watchProbes(): () => (number | undefined)[] {
  const spy = jest.spyOn(probeModule, 'createSourceProbe');
  return () => {
    const out = spy.mock.calls.map((c) => c[3]?.sampleRows);
    spy.mockClear();
    return out;
  };
}

const env = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

/** Day `n` after 2020-01-01 as year, month, day strings. */
function ymd(n: number): [string, string, string] {
  const [y = '', m = '', d = ''] = new Date(Date.UTC(2020, 0, 1) + n * 86_400_000)
    .toISOString()
    .slice(0, 10)
    .split('-');
  return [y, m, d];
}

/** A CSV of ROWS rows (id, day, amount); row i's day is `day(i)` written by `fmt`. */
function writeCsv(
  name: string,
  day: (i: number) => number,
  fmt: (i: number, ymd: [string, string, string]) => string,
): string {
  const lines = Array.from({ length: ROWS }, (_, i) => `${i + 1},${fmt(i, ymd(day(i)))},${((i * 37) % 100) + 0.25}`);
  const file = path.join(tmp, name);
  fs.writeFileSync(file, `id,day,amount\n${lines.join('\n')}\n`);
  return file;
}

const iso = (_: number, [y, m, d]: [string, string, string]) => `${y}-${m}-${d}`;
/** Days spread over three years in no order, so the first rows cover the same range as the whole file. */
const scattered = (i: number) => (i * 7919) % 1095;

async function createPipeline(clean: string, edit?: (s: PipelineSpec) => void): Promise<void> {
  const spec = await inferSpec({ name: 'events', source: clean, allowedRoots: [tmp] });
  expect(spec.contract.columns.find((c) => c.name === 'day')?.type).toBe('date');
  edit?.(spec);
  store.create(spec);
}

/** The drift report a run of the current version on `source` fails with. */
async function driftOf(source: string): Promise<DriftReport> {
  try {
    await env().run(activities.loadSource, {
      pipeline: 'events',
      specVersion: store.currentVersion('events'),
      runId: 'drifted',
      source,
    });
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('SchemaDrift');
    return (err as ApplicationFailure).details?.[0] as DriftReport;
  }
  throw new Error('expected the load to drift');
}

const formatOf = (d: DiagnoseResult) =>
  d.patch.flatMap((op) => (op.op === 'format' && op.column === 'day' ? [op.format] : []));

async function proposeAndVerify(d: DiagnoseResult, source: string, attempt: number): Promise<VerificationReport> {
  // Every activity on a profile with a heartbeat timeout heartbeats, the quick proposePatch too.
  const proposeEnv = env();
  let proposeBeats = 0;
  proposeEnv.on('heartbeat', () => proposeBeats++);
  const { candidateVersion }: { candidateVersion: number } = await proposeEnv.run(activities.proposePatch, {
    pipeline: 'events',
    baseVersion: 1,
    patch: d.patch,
    doctor: d.doctor,
    rationale: d.rationale,
    episodeId: 'ep-1',
    attempt,
  });
  expect(proposeBeats).toBeGreaterThanOrEqual(1);
  const verifyEnv = env();
  let beats = 0;
  verifyEnv.on('heartbeat', () => beats++);
  const report: VerificationReport = await verifyEnv.run(activities.verifyPatch, {
    pipeline: 'events',
    candidateVersion,
    source,
    episodeId: 'ep-1',
    attempt,
  });
  expect(beats).toBeGreaterThanOrEqual(1);
  return report;
}

test('attempt 1 diagnoses from the first rows; after its fix fails on the whole file, attempt 2 diagnoses from every row', async () => {
  // The first PROBE_ROWS rows write dates as 01/31/2020, the 950 after them as 31.01.2020; 10% may be quarantined.
  const clean = writeCsv('clean.csv', scattered, iso);
  await createPipeline(clean, (s) => {
    s.quality.quarantineBudget = 0.1;
  });
  await env().run(activities.loadSource, { pipeline: 'events', specVersion: 1, runId: 'clean' });
  const drifted = writeCsv('drifted.csv', scattered, (i, [y, m, d]) =>
    i < PROBE_ROWS ? `${m}/${d}/${y}` : `${d}.${m}.${y}`,
  );
  const drift = await driftOf(drifted);
  expect(drift.kinds).toContain('format-change');

  const probes = watchProbes();
  // diagnose and verifyPatch read whole files: they heartbeat while they work (from the start).
  const diagnoseEnv = env();
  let beats = 0;
  diagnoseEnv.on('heartbeat', () => beats++);
  const first: DiagnoseResult = await diagnoseEnv.run(activities.diagnose, {
    pipeline: 'events',
    specVersion: 1,
    drift,
    source: drifted,
    previous: [],
  });
  expect(beats).toBeGreaterThanOrEqual(1);
  expect(probes()).toEqual([PROBE_ROWS]);
  expect(first.doctor).toBe('rules');
  expect(formatOf(first)).toEqual(['%m/%d/%Y']);
  expect(first.rationale).toContain(
    `probe: parse rates and profiles below are from the first ${PROBE_ROWS} rows of the source (it has more); verification proves the patch on the whole file`,
  );
  expect(first.rationale.some((l) => /day: format %m\/%d\/%Y → 100% parse/.test(l))).toBe(true);

  // Verification reads the whole file: 95% of the rows do not parse with that format.
  const report = await proposeAndVerify(first, drifted, 1);
  expect(report.passed).toBe(false);
  expect(report.summary).toMatch(/95\.0% of "day" values do not parse as date with format %m\/%d\/%Y/);

  const second: DiagnoseResult = await env().run(activities.diagnose, {
    pipeline: 'events',
    specVersion: 1,
    drift,
    source: drifted,
    previous: [
      { attempt: 1, doctor: first.doctor, patch: first.patch, report, error: `verification failed: ${report.summary}` },
    ],
  });
  expect(probes()).toEqual([Infinity]); // the whole file from the start
  expect(formatOf(second)).toEqual(['%d.%m.%Y']);
  expect(second.rationale.some((l) => l.startsWith('probe:'))).toBe(false);
  expect(second.rationale.some((l) => /day: format %d\.%m\.%Y → 95% parse/.test(l))).toBe(true);
  // And it holds on the whole file: the 50 rows in the other format are within the 10% budget.
  const healed = await proposeAndVerify(second, drifted, 2);
  expect(healed).toMatchObject({ passed: true, rowsRead: ROWS, rowsQuarantined: PROBE_ROWS });
});

test('no confident fix on the first rows of a longer source: attempt 1 asks again over the whole source', async () => {
  // No baseline (nothing loaded yet). In the first PROBE_ROWS rows every day is ≤ 12, so 05/03/2020
  // reads as day/month and as month/day alike: ambiguous. Later rows settle it (31/01/2020).
  const clean = writeCsv('clean.csv', scattered, iso);
  await createPipeline(clean);
  const drifted = writeCsv(
    'drifted.csv',
    scattered,
    (i, [y, m, d]) => `${i < PROBE_ROWS ? String(((Number(d) - 1) % 12) + 1).padStart(2, '0') : d}/${m}/${y}`,
  );
  const drift = await driftOf(drifted);
  expect(drift.kinds).toEqual(['format-change']);

  const probes = watchProbes();
  const d: DiagnoseResult = await env().run(activities.diagnose, {
    pipeline: 'events',
    specVersion: 1,
    drift,
    source: drifted,
    previous: [],
  });
  expect(probes()).toEqual([PROBE_ROWS, Infinity]);
  expect(formatOf(d)).toEqual(['%d/%m/%Y']);
  // Decided over the whole file (the sample alone would have been ambiguous).
  expect(d.rationale.some((l) => l.startsWith('probe:'))).toBe(false);
  expect(d.rationale.some((l) => /day: format %d\/%m\/%Y → 100% parse/.test(l))).toBe(true);

  // The rules doctor over the sample alone refuses: both formats parse every one of its rows.
  const spec = store.current('events').spec;
  const refused = await withDuckDB(':memory:', {}, async (conn) => {
    const probe = await createSourceProbe(conn, spec, [drifted], { sampleRows: PROBE_ROWS });
    const source = await probe.summarize();
    return createRulesDoctor().diagnose({ spec, specVersion: 1, drift, baseline: null, source, previous: [] }, probe);
  });
  expect(refused).toMatchObject({ kind: 'no-answer', fatal: false });
  expect(refused.kind === 'no-answer' && refused.reason).toMatch(/ambiguous — format %m\/%d\/%Y and format %d\/%m\/%Y/);
});

test('a fatal refusal on a sample is final: the whole source is not read again', async () => {
  const clean = writeCsv('clean.csv', scattered, iso);
  await createPipeline(clean);
  const drifted = path.join(tmp, 'drifted.csv');
  fs.writeFileSync(drifted, fs.readFileSync(clean, 'utf8').replace(/,[^,\n]*$/gm, '')); // the required amount is gone
  const drift = await driftOf(drifted);
  const probes = watchProbes();
  const err = await env()
    .run(activities.diagnose, { pipeline: 'events', specVersion: 1, drift, source: drifted, previous: [] })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).type).toBe('NoDiagnosis');
  expect((err as ApplicationFailure).message).toMatch(/required column amount/);
  expect(probes()).toEqual([PROBE_ROWS]);
});

test('an empty file ends the diagnosis before any doctor, whichever doctors are configured (HEAL_DOCTORS=llm)', async () => {
  const clean = writeCsv('clean.csv', scattered, iso);
  await createPipeline(clean);
  const empty = path.join(tmp, 'empty.csv');
  fs.writeFileSync(empty, '');
  const drift = await driftOf(empty);
  let asked = 0;
  const modelOnly = createActivities({
    config: {
      home: tmp,
      warehouse: path.join(tmp, 'warehouse.duckdb'),
      allowedRoots: [tmp],
      duckdbMemoryLimit: undefined,
      duckdbThreads: 0,
    },
    doctors: [
      {
        name: 'llm',
        diagnose: () => {
          asked += 1;
          return Promise.resolve({ kind: 'no-answer', doctor: 'llm', fatal: false, reason: 'asked' });
        },
      },
    ],
  });
  const err = await env()
    .run(modelOnly.diagnose, { pipeline: 'events', specVersion: 1, drift, source: empty, previous: [] })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).type).toBe('NoDiagnosis');
  expect((err as ApplicationFailure).message).toMatch(/empty/);
  expect(asked).toBe(0);
});
