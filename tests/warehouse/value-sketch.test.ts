/**
 * The table's value sketch on a real PostgreSQL server (core/etl/sketch.ts, warehouse/postgres.ts):
 * the same file loaded into PostgreSQL and into a DuckDB warehouse sketches to the same hashes as the
 * drifted source's probe, for every contract type (doubles print differently on the two engines; the
 * normal forms make them agree). Then the `diagnose` activity on the PostgreSQL warehouse heals a
 * rename only the table's values decide.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { DiagnoseResult } from '../../common/contracts';
import type { DriftReport } from '../../common/types';
import { createSourceProbe } from '../../core/doctor/probe';
import { inferSpec } from '../../core/spec/infer';
import { withDuckDB } from '../../lib/duckdb';
import { openStore } from '../../store';
import { openWarehouse } from '../../warehouse';
import { pgQuery, usePostgres } from '../helpers/postgres';
import { tempDir, testConfig } from '../helpers/fixtures';

const pg = usePostgres();
const CO2 = path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data', 'co2-concentration.csv');

let home: string;
let url: string;
beforeEach(async () => {
  home = fs.realpathSync(tempDir('heal-pgs-'));
  url = await pg.fresh('s');
});

const mockEnv = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

function write(name: string, text: string): string {
  const p = path.join(home, name);
  fs.writeFileSync(p, text);
  return p;
}

/** 1,500 rows of every contract type, the awkward doubles first (5 vs 5.0, 0.1 + 0.2, 1e20, -0). */
function typedCsv(): string {
  const lines = ['id,name,price,active,day,at'];
  const doubles = ['5', '0.1', '0.30000000000000004', '1e20', '-0', '315.71', '123456.789', '8999999999999.99', '1e-7'];
  for (let i = 0; i < 1500; i++) {
    const day = new Date(Date.UTC(1950, 0, 1) + i * 13 * 86_400_000).toISOString().slice(0, 10);
    const price = doubles[i] ?? (i * 0.37 - 100).toFixed(2);
    const at = `${day} ${String(i % 24).padStart(2, '0')}:11:${String(i % 60).padStart(2, '0')}.${String(i * 7).padStart(6, '0')}`;
    lines.push(`${i * 7919 - 5_000_000},"n${i % 700} café 東京 ""q"", x",${price},${i % 3 === 0},${day},${at}`);
  }
  return `${lines.join('\n')}\n`;
}

test('PostgreSQL, DuckDB and the source probe sketch the same values to the same hashes, every type', async () => {
  const src = write('typed.csv', typedCsv());
  const spec = await inferSpec({ name: 'typed', source: src, allowedRoots: [home] });
  expect(spec.contract.columns.map((c) => c.type)).toEqual([
    'integer',
    'string',
    'number',
    'boolean',
    'date',
    'timestamp',
  ]);
  await openStore({ home, gitCommits: false }).specs.create(spec);
  // One load into PostgreSQL, one into a DuckDB warehouse file (another configuration, same home).
  const onPg = testConfig(home, { HEAL_WAREHOUSE: url, HEAL_STORE: 'files' });
  const onDuck = testConfig(home, { HEAL_STORE: 'files' });
  for (const config of [onPg, onDuck]) {
    const res = await mockEnv().run(createActivities({ config }).loadSource, {
      pipeline: 'typed',
      specVersion: 1,
      runId: `clean-${config.warehouseUrl ? 'pg' : 'duck'}`,
    });
    expect(res).toMatchObject({ rowsLoaded: 1500, rowsQuarantined: 0 });
  }
  // The PostgreSQL server's own text forms differ from DuckDB's (5 vs 5.0): the sketch must not use them.
  const five = await pgQuery<{ t: string }>(url, `SELECT price::text AS t FROM typed WHERE id = -5000000`);
  expect(five).toEqual([{ t: '5' }]);

  const pgWh = openWarehouse(onPg);
  const duckWh = openWarehouse(onDuck);
  expect([pgWh.kind, duckWh.kind]).toEqual(['postgres', 'duckdb']);
  await withDuckDB(':memory:', {}, async (conn) => {
    const probe = await createSourceProbe(conn, spec, [src]);
    for (const col of spec.contract.columns) {
      const onServer = await pgWh.valueSketch('typed', col.name, col.type);
      const inDuck = await duckWh.valueSketch('typed', col.name, col.type);
      const fromSource = await probe.valueSketch(col, spec.mapping[col.name] ?? {});
      expect({ col: col.name, sketch: onServer }).toEqual({ col: col.name, sketch: inDuck });
      expect({ col: col.name, sketch: onServer }).toEqual({ col: col.name, sketch: fromSource });
      expect(onServer?.hashes.length).toBeGreaterThan(1);
    }
  });
  expect(await pgWh.valueSketch('typed', 'id', 'integer')).toMatchObject({ complete: false });
  expect((await pgWh.valueSketch('typed', 'active', 'boolean'))?.complete).toBe(true);
  expect(await pgWh.valueSketch('typed', 'nope', 'integer')).toBeUndefined();
  expect(await pgWh.valueSketch('nope', 'id', 'integer')).toBeUndefined();
}, 120_000);

test('the diagnose activity on the PostgreSQL warehouse pairs two look-alike measures by the values the table holds', async () => {
  const clean = write('co2.csv', fs.readFileSync(CO2, 'utf8'));
  const spec = await inferSpec({ name: 'co2', source: clean, allowedRoots: [home] });
  await openStore({ home, gitCommits: false }).specs.create(spec);
  const activities = createActivities({ config: testConfig(home, { HEAL_WAREHOUSE: url, HEAL_STORE: 'files' }) });
  await mockEnv().run(activities.loadSource, { pipeline: 'co2', specVersion: 1, runId: 'clean' });

  // adjusted CO2 first as x, CO2 second as y: names say nothing and the profiles are near-identical.
  const [, ...rows] = fs.readFileSync(CO2, 'utf8').trimEnd().split('\n');
  const drifted = write(
    'co2-xy.csv',
    `Date,x,y\n${rows
      .map((r) => r.split(','))
      .map(([d, c, a]) => `${d},${a},${c}`)
      .join('\n')}\n`,
  );
  let drift: DriftReport | undefined;
  try {
    await mockEnv().run(activities.loadSource, { pipeline: 'co2', specVersion: 1, runId: 'drifted', source: drifted });
  } catch (err) {
    expect((err as ApplicationFailure).type).toBe('SchemaDrift');
    drift = (err as ApplicationFailure).details?.[0] as DriftReport;
  }
  if (!drift) throw new Error('expected the load to drift');
  const d: DiagnoseResult = await mockEnv().run(activities.diagnose, {
    pipeline: 'co2',
    specVersion: 1,
    drift,
    source: drifted,
    previous: [],
  });
  expect(d.patch.filter((op) => op.op === 'map')).toEqual([
    { op: 'map', column: 'CO2', from: 'y' },
    { op: 'map', column: 'adjusted_co2', from: 'x' },
  ]);
  expect(d.rationale.join('\n')).toMatch(/CO2 ← y \(.*\), was "CO2"; decided by the table's values/);
}, 120_000);
