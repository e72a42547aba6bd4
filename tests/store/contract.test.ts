/**
 * The store contract: what every backend of store/ (openStore) promises its callers. Every case
 * runs against each backend: the file backend in a fresh state directory, the PostgreSQL backend in
 * a fresh database of a real server started for this file.
 */
import type { Patch } from '../../common/patch';
import type { AlertLogEntry } from '../../core/metrics-model';
import type { TableProfile } from '../../common/types';
import { openStore, type HealStore } from '../../store';
import { columnsSpec, tempDir } from '../helpers/fixtures';
import { usePostgres } from '../helpers/postgres';
import { record } from '../helpers/metrics-seed';
import { driftReport } from '../helpers/stub-activities';

const pg = usePostgres();

const BACKENDS: [string, () => Promise<HealStore>][] = [
  ['files', async () => openStore({ home: tempDir(), gitCommits: false })],
  [
    'postgres',
    async () => {
      const storeUrl = await pg.fresh('contract');
      return openStore({ home: tempDir(), gitCommits: false, storeUrl });
    },
  ],
];

const spec = (name: string) => ({
  ...columnsSpec([
    { name: 'id', type: 'integer' },
    { name: 'email', type: 'string' },
  ]),
  name,
});
const FIX: Patch = [{ op: 'map', column: 'email', from: 'e_mail' }];
const profile = (rows: number): TableProfile => ({ rows, columns: [] });

describe.each(BACKENDS)('store contract: %s', (_name, open) => {
  let store: HealStore;
  beforeEach(async () => {
    store = await open();
  });

  test('a new pipeline is version 1, current; an added version is not current until the pointer moves', async () => {
    expect(await store.specs.exists('orders')).toBe(false);
    await store.specs.create(spec('orders'));
    expect(await store.specs.list()).toEqual(['orders']);
    expect(await store.specs.currentVersion('orders')).toBe(1);
    const renamed = spec('orders');
    renamed.source = { ...renamed.source, columns: ['id', 'e_mail'] };
    renamed.mapping = { id: { from: 'id' }, email: { from: 'e_mail' } };
    const v2 = await store.specs.addVersion('orders', renamed, { reason: 'heal', parent: 1, episodeId: 'ep-1' });
    expect(v2.version).toBe(2);
    expect(await store.specs.currentVersion('orders')).toBe(1);
    expect(await store.specs.setCurrent('orders', 2, 'healed', 'ep-1')).toMatchObject({ version: 2 });
    expect((await store.specs.current('orders')).spec.mapping['email']).toEqual({ from: 'e_mail' });
    // Versions are immutable: version 1 still reads as it was.
    expect((await store.specs.read('orders', 1)).spec.mapping['email']).toEqual({ from: 'email' });
    expect((await store.specs.versions('orders')).map((v) => v.version)).toEqual([1, 2]);
    // The stored text of a version is what a pull request commits: it reads back as that version.
    expect(await store.specs.text('orders', 2)).toMatch(/from: e_mail/);
  });

  test('every version and pointer move is in the history, oldest first; moving to where it points is no move', async () => {
    await store.specs.create(spec('users'));
    await store.specs.addVersion(
      'users',
      { ...spec('users'), quality: { quarantineBudget: 0.05, quarantineBudgetRows: 3 } },
      { reason: 'manual' },
    );
    await store.specs.setCurrent('users', 2, 'manual');
    expect(await store.specs.setCurrent('users', 2, 'again')).toBeNull();
    await store.specs.setCurrent('users', 1, 'rollback');
    const history = await store.specs.history('users');
    expect(history.map((h) => ('reason' in h ? h.reason : ''))).toEqual(expect.arrayContaining(['manual', 'rollback']));
    expect(await store.specs.currentVersion('users')).toBe(1);
  });

  test('fix memory: remembered by signature and pipeline; a hit counts once per episode and keeps the fix', async () => {
    const drift = driftReport();
    const s = spec('orders');
    const first = await store.memory.remember({
      drift,
      spec: s,
      pipeline: 'orders',
      patch: FIX,
      doctor: 'rules',
      episodeId: 'ep-1',
    });
    expect(first.outcome).toBe('remembered');
    const sig = first.entry.signature;
    expect((await store.memory.entries(sig)).map((e) => e.pipeline)).toEqual(['orders']);
    for (const _ of [1, 2])
      await store.memory.recordHit({ drift, spec: s, pipeline: 'orders', patch: FIX, episodeId: 'ep-2' });
    const entry = await store.memory.entry(sig, 'orders');
    expect(entry).toMatchObject({ hits: 1, patch: FIX, doctor: 'rules' });
  });

  test('a run record is appended once per run; the alert log starts empty', async () => {
    const r = record({
      id: 'r1',
      pipeline: 'orders',
      at: '2026-11-20T10:00:00.000Z',
      outcome: 'succeeded',
      rows: 10,
      quarantined: 0,
    });
    await store.runs.append(r);
    await store.runs.append(r); // a retried append
    expect((await store.runs.runs()).map((x) => x.run.runKey)).toEqual(['r1']);
    expect(await store.runs.alerts()).toEqual([]);
  });

  test('alerts: the log keeps every attempt, the grouping state reads back as saved', async () => {
    const entry: AlertLogEntry = {
      at: '2026-11-20T10:00:00.000Z',
      pipeline: 'orders',
      episodeId: 'e1',
      runId: 'r1',
      outcome: 'healed',
      kinds: ['renamed'],
      status: 'sent',
      attempt: 1,
    };
    await store.runs.appendAlert(entry);
    expect(await store.runs.alerts()).toEqual([entry]);
    expect(await store.runs.alertState()).toBeUndefined();
    await store.runs.saveAlertState({ groups: { k: { lastSentAt: 1 } } });
    expect(await store.runs.alertState()).toEqual({ groups: { k: { lastSentAt: 1 } } });
  });

  test('schedule notes: saved, shown paused, forgotten', async () => {
    expect(await store.schedules.note('orders')).toBeNull();
    await store.schedules.save('orders', { schedule: 'every 1h', paused: true, scheduleId: 'heal-orders' });
    expect(await store.schedules.note('orders')).toBe('every 1h (paused)');
    await store.schedules.save('orders', null);
    expect(await store.schedules.note('orders')).toBeNull();
  });

  test('the baseline is the profile of the last good load', async () => {
    expect(await store.profiles.baseline('orders')).toBeNull();
    await store.profiles.save('orders', { runId: 'run-1', specVersion: 1, sources: ['/a.csv'], profile: profile(10) });
    await store.profiles.save('orders', { runId: 'run-2', specVersion: 1, sources: ['/b.csv'], profile: profile(20) });
    expect((await store.profiles.baseline('orders'))?.rows).toBe(20);
  });
});
