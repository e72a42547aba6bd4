/**
 * The silent drift check in the `loadSource` activity (MockActivityEnvironment, a real warehouse
 * file in a temp state directory, Seattle weather from vega-datasets split by year): a clean load
 * sets the baseline; a file with a column ×100 fails with SchemaDrift 'distribution-shift' and
 * leaves the table, the quarantine, the load records and the baseline as they were; next year's
 * file loads; the rules doctor refuses the shift; the spec can tune the check.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { LoadSourceInput } from '../../common/contracts';
import { createRulesDoctor } from '../../core/doctor/rules';
import { inferSpec } from '../../core/spec/infer';
import { SpecStore } from '../../store/spec-store';
import type { PipelineSpec } from '../../common/spec';
import type { DriftReport, LoadSummary } from '../../common/types';
import { queryRows, withDuckDB } from '../../lib/duckdb';

const SEATTLE = path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data', 'seattle-weather.csv');
const [HEADER, ...LINES] = fs.readFileSync(SEATTLE, 'utf8').trim().split(/\r?\n/);

let tmp: string;
let warehouse: string;
let store: SpecStore;
let activities: ReturnType<typeof createActivities>;

beforeEach(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'heal-silent-')));
  warehouse = path.join(tmp, 'warehouse.duckdb');
  store = new SpecStore(tmp);
  activities = createActivities({
    config: { home: tmp, warehouse, allowedRoots: [tmp], duckdbMemoryLimit: undefined, duckdbThreads: 0 },
    // The rules doctor only: the test must not depend on a model endpoint in the environment.
    doctors: [createRulesDoctor()],
  });
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// helpers

/** The Seattle rows of `year` as a CSV file, with `column` multiplied by `factor` when given. */
function yearFile(year: number, opts: { column?: string; factor?: number; name?: string } = {}): string {
  const header = (HEADER ?? '').split(',');
  const i = opts.column ? header.indexOf(opts.column) : -1;
  const rows = LINES.filter((l) => l.startsWith(`${year}-`)).map((l) => {
    if (i < 0) return l;
    const cells = l.split(',');
    cells[i] = String(Math.round(Number(cells[i]) * (opts.factor ?? 1) * 1e6) / 1e6);
    return cells.join(',');
  });
  const file = path.join(
    tmp,
    opts.name ?? `seattle-${year}${opts.column ? `-${opts.column}-x${opts.factor}` : ''}.csv`,
  );
  fs.writeFileSync(file, `${[HEADER, ...rows].join('\n')}\n`);
  return file;
}

async function createPipeline(name: string, sample: string, edit?: (s: PipelineSpec) => void): Promise<PipelineSpec> {
  const spec = await inferSpec({ name, source: sample, allowedRoots: [tmp] });
  edit?.(spec);
  store.create(spec);
  return store.current(name).spec;
}

const mockEnv = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

async function load(pipeline: string, runId: string, source: string): Promise<LoadSummary> {
  const input: LoadSourceInput = { pipeline, specVersion: store.currentVersion(pipeline), runId, source };
  return mockEnv().run(activities.loadSource, input);
}

async function loadFailure(pipeline: string, runId: string, source: string): Promise<ApplicationFailure> {
  const input: LoadSourceInput = { pipeline, specVersion: store.currentVersion(pipeline), runId, source };
  try {
    await mockEnv().run(activities.loadSource, input);
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected the load to fail');
}

function query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  return withDuckDB(warehouse, {}, (conn) => queryRows<T>(conn, sql));
}

/** The table, the quarantine, the load records and the baseline: everything a refused load must leave alone. */
async function state(pipeline: string) {
  const baseline = path.join(tmp, 'pipelines', pipeline, 'profiles', 'baseline.json');
  return {
    table: await query(
      `SELECT CAST(date AS VARCHAR) AS date, precipitation, temp_max, temp_min, wind, weather FROM "${pipeline}" ORDER BY rowid`,
    ),
    quarantine: await query(`SELECT count(*)::INTEGER AS n FROM "${pipeline}__quarantine"`),
    loads: await query('SELECT run_id FROM __heal_loads ORDER BY loaded_at'),
    baseline: fs.readFileSync(baseline, 'utf8'),
  };
}

// ---------------------------------------------------------------------------------------------

describe('replace mode', () => {
  it('a clean load, then temp_max ×100: SchemaDrift distribution-shift (nonRetryable), the table, quarantine, load records and baseline unchanged', async () => {
    await createPipeline('sw', yearFile(2012));
    expect(await load('sw', 'run-1', yearFile(2012))).toMatchObject({ rowsLoaded: 366, rowsQuarantined: 0 });
    const before = await state('sw');
    expect(before.table).toHaveLength(366);

    const err = await loadFailure('sw', 'run-2', yearFile(2012, { column: 'temp_max', factor: 100 }));
    expect(err.type).toBe('SchemaDrift');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(
      /^silent drift in sw: "temp_max": .*looks like a unit change \(×100\); the load was stopped, the table is unchanged$/,
    );
    const report = err.details?.[0] as DriftReport;
    expect(report.kinds).toEqual(['distribution-shift']);
    expect(report.differences).toEqual([
      {
        kind: 'distribution-shift',
        column: 'temp_max',
        expected: expect.stringMatching(/^median [\d.]+, mean 15\.28, sd 7\.08$/),
        found: expect.stringMatching(/^median [\d.]+, mean 1528, sd 708$/),
        unitFactor: 100,
        detail:
          '"temp_max": stddev ×100, median ×100, mean ×100 against the baseline (mean 1528 vs 15.28, sd 708 vs 7.08): looks like a unit change (×100)',
      },
    ]);
    expect(report.found.rows).toBe(366);
    expect(await state('sw')).toEqual(before);
  });

  it("next year's file loads (and becomes the baseline); next year ×100 does not", async () => {
    await createPipeline('sw', yearFile(2012));
    await load('sw', 'run-1', yearFile(2012));
    const next = await load('sw', 'run-2', yearFile(2013));
    expect(next).toMatchObject({ rowsRead: 365, rowsLoaded: 365, rowsQuarantined: 0 });
    const baseline = JSON.parse(
      fs.readFileSync(path.join(tmp, 'pipelines', 'sw', 'profiles', 'baseline.json'), 'utf8'),
    );
    expect(baseline).toMatchObject({ runId: 'run-2', profile: { rows: 365 } });

    const before = await state('sw');
    const err = await loadFailure('sw', 'run-3', yearFile(2014, { column: 'wind', factor: 100 }));
    expect(err.type).toBe('SchemaDrift');
    expect((err.details?.[0] as DriftReport).differences.map((d) => [d.column, d.detail])).toEqual([
      ['wind', expect.stringMatching(/unit change \(×100\)$/)],
    ]);
    expect(await state('sw')).toEqual(before);
    expect((await load('sw', 'run-4', yearFile(2014))).rowsLoaded).toBe(365);
  });

  it('the rules doctor refuses the shift: NoDiagnosis, fatal, naming the column', async () => {
    await createPipeline('sw', yearFile(2012));
    await load('sw', 'run-1', yearFile(2012));
    const drifted = yearFile(2012, { column: 'temp_max', factor: 100 });
    const err = await loadFailure('sw', 'run-2', drifted);
    const drift = err.details?.[0] as DriftReport;
    try {
      await mockEnv().run(activities.diagnose, {
        pipeline: 'sw',
        specVersion: store.currentVersion('sw'),
        drift,
        source: drifted,
        previous: [],
      });
      throw new Error('expected no diagnosis');
    } catch (e) {
      expect(e).toBeInstanceOf(ApplicationFailure);
      const f = e as ApplicationFailure;
      expect(f.type).toBe('NoDiagnosis');
      expect(f.nonRetryable).toBe(true);
      expect(f.message).toMatch(
        /distribution-shift: a column's values changed meaning \(e\.g\. a unit change\); refusing rather than loading it as if nothing happened \(healing\.policy\.distributionShifts: refuse\) — "temp_max": /,
      );
    }
  });

  it('the spec tunes the check: temp_max turned off in a new version, the ×100 file loads', async () => {
    const spec = await createPipeline('sw', yearFile(2012));
    await load('sw', 'run-1', yearFile(2012));
    const drifted = yearFile(2012, { column: 'temp_max', factor: 100 });
    expect((await loadFailure('sw', 'run-2', drifted)).type).toBe('SchemaDrift');
    const v2 = store.addVersion(
      'sw',
      {
        ...spec,
        quality: { ...spec.quality, profile: { ...profileDefaults(), columns: { temp_max: { enabled: false } } } },
      },
      { reason: 'manual', parent: 1 },
    );
    store.setCurrent('sw', v2.version, 'manual');
    expect(store.current('sw').spec.quality.profile?.columns).toEqual({ temp_max: { enabled: false } });
    expect((await load('sw', 'run-3', drifted)).rowsLoaded).toBe(366);
  });
});

describe('append mode: the baseline is the previous load', () => {
  it('2012, 2013, 2014 append; 2015 with wind ×100 is refused and appends nothing; the clean 2015 appends', async () => {
    await createPipeline('swa', yearFile(2012), (s) => (s.target.mode = 'append'));
    for (const [i, y] of [2012, 2013, 2014].entries()) {
      expect(await load('swa', `run-${i}`, yearFile(y))).toMatchObject({
        mode: 'append',
        skipped: false,
        rowsQuarantined: 0,
      });
    }
    expect(await query('SELECT count(*)::INTEGER AS n FROM swa')).toEqual([{ n: 1096 }]);
    const before = await state('swa');
    const err = await loadFailure('swa', 'run-x', yearFile(2015, { column: 'wind', factor: 100 }));
    expect((err.details?.[0] as DriftReport).kinds).toEqual(['distribution-shift']);
    expect(await state('swa')).toEqual(before);
    expect((await load('swa', 'run-3', yearFile(2015))).rowsLoaded).toBe(365);
    expect(await query('SELECT count(*)::INTEGER AS n FROM swa')).toEqual([{ n: 1461 }]);
  });
});

it('no baseline yet (the first load): nothing to compare, even ×100', async () => {
  await createPipeline('first', yearFile(2012));
  expect((await load('first', 'run-1', yearFile(2012, { column: 'temp_max', factor: 100 }))).rowsLoaded).toBe(366);
});

function profileDefaults() {
  return {
    enabled: true,
    maxCenterShiftSd: 3,
    maxCenterShiftRelative: 0.5,
    maxNullRateRise: 0.2,
    maxPsi: 0.25,
    maxLengthRatio: 2,
    minPatternOverlap: 0.5,
    unitFactors: [10, 100, 1000, 1_000_000, 60, 3600, 86_400, 1024],
    unitTolerance: 1.6,
    minRows: 30,
  };
}
