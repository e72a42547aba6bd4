/**
 * `heal quarantine replay` at the activity level, on the DuckDB file and on a real PostgreSQL
 * server: quarantined rows that parse with a newer spec load once and leave quarantine, a second
 * replay (or a retried attempt) changes nothing, rows that still fail stay with the new reason and
 * version, malformed CSV lines are parsed again with the current reader options, `replace` replays
 * only the current load's rows (the rest are superseded, left alone), `merge` upserts on the key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { ReplayQuarantineResult } from '../../common/contracts';
import type { PipelineSpec } from '../../common/spec';
import { replayQuarantined } from '../../core/etl/replay';
import { inferSpec } from '../../core/spec/infer';
import type { HealConfig } from '../../lib/config';
import { queryRows, withDuckDB } from '../../lib/duckdb';
import { openStore } from '../../store';
import { openWarehouse } from '../../warehouse';
import { pgQuery, usePostgres } from '../helpers/postgres';
import { tempDir, testConfig } from '../helpers/fixtures';

const mockEnv = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

describe.each(['duckdb', 'postgres'] as const)('quarantine replay on %s', (kind) => {
  const pg = kind === 'postgres' ? usePostgres() : undefined;
  let home: string;
  let config: HealConfig;
  let url = '';

  beforeEach(async () => {
    home = fs.realpathSync(tempDir('heal-replay-'));
    url = pg ? await pg.fresh('replay') : '';
    config = testConfig(home, pg ? { HEAL_WAREHOUSE: url, HEAL_STORE: 'files' } : {});
  });

  const store = () => openStore({ home, gitCommits: false }).specs;
  const acts = () => createActivities({ config });

  /** Rows of a query on the warehouse (numbers as numbers on both). */
  async function rows(sql: string): Promise<Record<string, unknown>[]> {
    if (pg) return pgQuery(url, sql);
    return withDuckDB(config.warehouse, {}, (conn) => queryRows(conn, sql));
  }

  function write(name: string, lines: string[]): string {
    const p = path.join(home, name);
    fs.writeFileSync(p, `${lines.join('\n')}\n`);
    return p;
  }

  async function createPipeline(name: string, sample: string, edit: (s: PipelineSpec) => void): Promise<void> {
    const spec = await inferSpec({ name, source: sample, allowedRoots: [home] });
    edit(spec);
    await store().create(spec);
  }

  /** A `merge` pipeline of `id,price` rows, on the key `id`. */
  const createMergePipeline = (name: string, sample: string, quarantineBudget?: number) =>
    createPipeline(name, sample, (s) => {
      s.target.mode = 'merge';
      s.target.key = ['id'];
      s.contract.columns.forEach((c) => (c.type = c.name === 'id' ? 'integer' : 'number'));
      if (quarantineBudget !== undefined) s.quality.quarantineBudget = quarantineBudget;
    });

  /** A new current version of the pipeline's spec (what an applied fix or a hand edit makes). */
  async function newVersion(name: string, edit: (s: PipelineSpec) => void): Promise<number> {
    const spec = structuredClone((await store().current(name)).spec);
    edit(spec);
    const v = await store().addVersion(name, spec, { reason: 'manual' });
    await store().setCurrent(name, v.version, 'test: the fix');
    return v.version;
  }

  const load = (pipeline: string, runId: string, source: string, specVersion = 1) =>
    mockEnv().run(acts().loadSource, { pipeline, specVersion, runId, source });

  const replay = async (pipeline: string, replayId: string, extra: { runId?: string; reason?: string } = {}) =>
    mockEnv().run(acts().replayQuarantine, {
      pipeline,
      specVersion: await store().currentVersion(pipeline),
      replayId,
      ...extra,
    }) as Promise<ReplayQuarantineResult>;

  const quarantined = (table: string) =>
    openWarehouse(config)
      .quarantine.list(table, { limit: 100 })
      .then((r) => r.rows.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));

  test('append: rows that now parse load once and leave quarantine; the rest stay with the new reason', async () => {
    const src = write('prices.csv', [
      'id,price',
      '1,1.5',
      '2,$12.50',
      '3,3',
      '4,abc',
      '5,5',
      '6,$7.25',
      '7,7,extra',
      '8,8',
      '9,9',
      '10,10',
    ]);
    // Inferred from a clean sample (a ragged line would mislead the sniffer); the run reads the real file.
    await createPipeline('prices', write('sample.csv', ['id,price', '1,1.5', '2,2']), (s) => {
      s.target.mode = 'append';
      s.contract.columns.forEach((c) => {
        c.type = c.name === 'id' ? 'integer' : 'number';
        c.required = true;
      });
      s.quality.quarantineBudget = 0.45;
    });
    const first = await load('prices', 'run-1', src);
    expect(first).toMatchObject({ rowsLoaded: 6, rowsQuarantined: 4 });

    // The fix: "$" stripped, and the source now has a third column (ignored), so the long line reads.
    const v2 = await newVersion('prices', (s) => {
      s.mapping['price'] = { ...s.mapping['price'], strip: ['$'] };
      s.source.columns = ['id', 'price', 'note'];
      s.source.ignore = ['note'];
    });
    const res = await replay('prices', 'replay-1');
    expect(res).toMatchObject({
      table: 'prices',
      quarantineTable: 'prices__quarantine',
      specVersion: v2,
      mode: 'append',
      selected: 4,
      replayed: 3,
      stillQuarantined: 1,
      superseded: 0,
      alreadyCommitted: false,
      byReason: [{ reason: "price: '…' is not a valid number", rows: 1 }],
      runs: [{ runId: 'run-1', replayed: 3, stillQuarantined: 1, superseded: 0 }],
    });
    const table = async () =>
      (await rows('SELECT CAST(id AS INTEGER) AS id, price FROM prices ORDER BY id')).map((r) => [r['id'], r['price']]);
    const expected = [
      [1, 1.5],
      [2, 12.5],
      [3, 3],
      [5, 5],
      [6, 7.25],
      [7, 7],
      [8, 8],
      [9, 9],
      [10, 10],
    ];
    expect(await table()).toEqual(expected);
    const left = await quarantined('prices');
    expect(left).toEqual([
      expect.objectContaining({
        runId: 'run-1',
        line: 5,
        specVersion: v2,
        column: 'price',
        reason: expect.stringContaining("'abc'"),
      }),
    ]);

    // A second replay, and a retried attempt of the first: nothing more loads.
    expect(await replay('prices', 'replay-2')).toMatchObject({ selected: 1, replayed: 0, stillQuarantined: 1 });
    expect(await replay('prices', 'replay-1')).toMatchObject({ replayed: 3, alreadyCommitted: true });
    expect(await table()).toEqual(expected);
    expect(await quarantined('prices')).toEqual(left);
    // The replay is a load record of its own, never a file's content key.
    expect(
      (
        await rows(
          `SELECT run_id, load_key, CAST(rows_loaded AS INTEGER) AS n FROM __heal_loads WHERE table_name = 'prices' ORDER BY loaded_at`,
        )
      ).map((r) => [r['run_id'], r['load_key'], r['n']]),
    ).toEqual([
      ['run-1', expect.any(String), 6],
      ['replay-1', 'quarantine-replay', 3],
    ]);
  });

  test('a filter by reason replays only those rows; an empty quarantine replays nothing', async () => {
    const src = write('f.csv', ['id,price', '1,$1', '2,2', '3,x', '4,4', '5,5', '6,6', '7,7', '8,8']);
    await createPipeline('f', src, (s) => {
      s.target.mode = 'append';
      s.contract.columns.forEach((c) => (c.type = c.name === 'id' ? 'integer' : 'number'));
    });
    await load('f', 'run-f', src);
    await newVersion('f', (s) => (s.mapping['price'] = { ...s.mapping['price'], strip: ['$'] }));
    expect(await replay('f', 'rf-1', { reason: "'x'" })).toMatchObject({
      selected: 1,
      replayed: 0,
      stillQuarantined: 1,
    });
    expect(await replay('f', 'rf-2', { runId: 'other' })).toMatchObject({ selected: 0, replayed: 0 });
    expect(await replay('f', 'rf-3', { runId: 'run-f' })).toMatchObject({ selected: 2, replayed: 1 });
    expect(await replay('nothing-here', 'rf-4').catch((e: Error) => e.message)).toMatch(/no pipeline named/);
  });

  test('a contract changed since the table was written: ReplayRefused, the table and quarantine untouched', async () => {
    const src = write('c.csv', ['id,price', '1,$1', '2,2', '3,x', '4,4', '5,5', '6,6', '7,7', '8,8']);
    await createPipeline('c', src, (s) => {
      s.target.mode = 'append';
      s.contract.columns.forEach((c) => (c.type = c.name === 'id' ? 'integer' : 'number'));
    });
    await load('c', 'run-c', src);
    const before = await quarantined('c');
    await newVersion('c', (s) => {
      s.mapping['price'] = { ...s.mapping['price'], strip: ['$'] };
      s.contract.columns.push({ ...(s.contract.columns[1] as (typeof s.contract.columns)[number]), name: 'note' });
      s.mapping['note'] = { default: 1 };
    });
    const err = await replay('c', 'rc-1').catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'ReplayRefused', nonRetryable: true });
    expect((err as Error).message).toMatch(/run the pipeline with the current spec first/);
    expect(await rows('SELECT count(*) AS n FROM c')).toEqual([{ n: pg ? '6' : 6 }]);
    expect(await quarantined('c')).toEqual(before);
  });

  test('two replays racing: each row loads once (the commit loads only rows it takes out of quarantine)', async () => {
    const src = write('race.csv', ['id,price', '1,$1', '2,2', '3,$3', '4,4', '5,5', '6,6', '7,7', '8,8']);
    await createPipeline('race', src, (s) => {
      s.target.mode = 'append';
      s.contract.columns.forEach((c) => (c.type = c.name === 'id' ? 'integer' : 'number'));
    });
    await load('race', 'run-race', src);
    const version = await newVersion('race', (s) => (s.mapping['price'] = { ...s.mapping['price'], strip: ['$'] }));
    const { spec } = await store().current('race');
    let other: ReplayQuarantineResult | undefined;
    // This replay reads its rows, then another one commits them before it does.
    const mine = await openWarehouse(config).quarantine.replay((conn, target) =>
      replayQuarantined(conn, {
        spec,
        specVersion: version,
        replayId: 'race-1',
        filter: {},
        target: {
          ...target,
          commitReplay: async (c, batch) => {
            other = await replay('race', 'race-2');
            return target.commitReplay(c, batch);
          },
        },
      }),
    );
    expect(other).toMatchObject({ replayed: 2 });
    expect(mine).toMatchObject({ selected: 2, replayed: 0 });
    expect((await rows('SELECT CAST(id AS INTEGER) AS id FROM race ORDER BY id')).map((r) => r['id'])).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8,
    ]);
    expect(await quarantined('race')).toEqual([]);
  });

  test('replace: only the current load’s rows replay; older runs’ rows are superseded and left as they were', async () => {
    const a = write('a.csv', ['id,price', '1,1', '2,$2', '3,3', '4,$4', '5,5', '6,6', '7,7']);
    const b = write('b.csv', ['id,price', '11,11', '12,$12', '13,13', '14,14', '15,15']);
    await createPipeline('rep', a, (s) => {
      s.contract.columns.forEach((c) => (c.type = c.name === 'id' ? 'integer' : 'number'));
    });
    await load('rep', 'run-a', a);
    await load('rep', 'run-b', b);
    await newVersion('rep', (s) => (s.mapping['price'] = { ...s.mapping['price'], strip: ['$'] }));
    const res = await replay('rep', 'replay-r');
    expect(res).toMatchObject({
      mode: 'replace',
      currentRun: 'run-b',
      selected: 3,
      replayed: 1,
      stillQuarantined: 0,
      superseded: 2,
      runs: [
        { runId: 'run-a', replayed: 0, stillQuarantined: 0, superseded: 2 },
        { runId: 'run-b', replayed: 1, stillQuarantined: 0, superseded: 0 },
      ],
    });
    expect((await rows('SELECT CAST(id AS INTEGER) AS id FROM rep ORDER BY id')).map((r) => r['id'])).toEqual([
      11, 12, 13, 14, 15,
    ]);
    // run-a's rows: untouched (their reason and version as the load wrote them).
    expect(await quarantined('rep')).toEqual([
      expect.objectContaining({ runId: 'run-a', line: 3, specVersion: 1, reason: expect.stringContaining("'$2'") }),
      expect.objectContaining({ runId: 'run-a', line: 5, specVersion: 1, reason: expect.stringContaining("'$4'") }),
    ]);
    // The replay's own record does not make it the table's current load.
    expect(await replay('rep', 'replay-r2')).toMatchObject({ currentRun: 'run-b', replayed: 0, superseded: 2 });
  });

  test('merge: replayed rows upsert on the key; of two with the same key the newest loads', async () => {
    const m1 = write('m1.csv', ['id,price', '1,1', '2,2', '3,3', '4,$40', '5,5', '6,6', '7,7']);
    const m2 = write('m2.csv', ['id,price', '3,$33', '4,$44', '8,8', '9,9', '10,10', '11,11', '12,12']);
    await createMergePipeline('m', m1);
    await load('m', 'run-m1', m1);
    await load('m', 'run-m2', m2);
    await newVersion('m', (s) => (s.mapping['price'] = { ...s.mapping['price'], strip: ['$'] }));
    const res = await replay('m', 'replay-m');
    expect(res).toMatchObject({ selected: 3, replayed: 2, stillQuarantined: 1 });
    expect(
      (await rows('SELECT CAST(id AS INTEGER) AS id, price FROM m ORDER BY id')).map((r) => [r['id'], r['price']]),
    ).toEqual([
      [1, 1],
      [2, 2],
      [3, 33],
      [4, 44],
      [5, 5],
      [6, 6],
      [7, 7],
      [8, 8],
      [9, 9],
      [10, 10],
      [11, 11],
      [12, 12],
    ]);
    expect(await quarantined('m')).toEqual([
      expect.objectContaining({ runId: 'run-m1', line: 5, reason: expect.stringContaining('duplicate key') }),
    ]);
  });

  test('merge: a quarantined row never replaces the row a later load wrote for its key', async () => {
    const n1 = write('n1.csv', ['id,price', '1,1', '2,$2', '3,3']);
    const n2 = write('n2.csv', ['id,price', '2,20', '4,4']);
    await createMergePipeline('n', n1, 0.5);
    await load('n', 'run-n1', n1);
    await load('n', 'run-n2', n2);
    await newVersion('n', (s) => (s.mapping['price'] = { ...s.mapping['price'], strip: ['$'] }));
    // id 2 parses now, but run-n2 (later) wrote id 2: its 20 is newer than the quarantined "$2".
    expect(await replay('n', 'replay-n')).toMatchObject({
      selected: 1,
      replayed: 0,
      stillQuarantined: 0,
      superseded: 1,
    });
    expect(
      (await rows('SELECT CAST(id AS INTEGER) AS id, price FROM n ORDER BY id')).map((r) => [r['id'], r['price']]),
    ).toEqual([
      [1, 1],
      [2, 20],
      [3, 3],
      [4, 4],
    ]);
    expect(await quarantined('n')).toEqual([
      expect.objectContaining({ runId: 'run-n1', line: 3, specVersion: 1, reason: expect.stringContaining("'$2'") }),
    ]);
  });

  test('merge: a row quarantined as a duplicate key never loads over the later row of its file', async () => {
    const d1 = write('d1.csv', ['id,price', '1,10', '2,2', '1,11']);
    await createMergePipeline('d', d1, 0.5);
    await load('d', 'run-d1', d1);
    expect(await quarantined('d')).toEqual([
      expect.objectContaining({ runId: 'run-d1', line: 2, reason: expect.stringContaining('duplicate key') }),
    ]);
    expect(await replay('d', 'replay-d')).toMatchObject({ selected: 1, replayed: 0, superseded: 1 });
    expect(
      (await rows('SELECT CAST(id AS INTEGER) AS id, price FROM d ORDER BY id')).map((r) => [r['id'], r['price']]),
    ).toEqual([
      [1, 11],
      [2, 2],
    ]);
  });
});
