/**
 * Drill: the state directory cannot be written (tests run as root, where permissions do not stop
 * writes: a file stands where heal expects a directory, so every write under it fails). The run
 * fails with one clear `StateUnwritable` error naming the path; the versions stay as they were.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SpecStore } from '../../store/spec-store';
import { appendLine, ensureDir, writeFileAtomic } from '../../lib/atomic-files';
import { StateUnwritableError } from '../../common/errors';
import { initPipeline, tableRows, tempDir, testConfig } from '../helpers/fixtures';
import { useDevEnv } from '../helpers/temporal';
import { runPipeline } from './helpers/drill';

const suite = useDevEnv();

const csv = (n: number, amount = 'amount') =>
  `id,name,${amount}\n${Array.from({ length: n }, (_, i) => `${i + 1},n${i % 17},${(i % 50) / 2}`).join('\n')}\n`;

test('state writes fail with StateUnwritable naming the path and the cause (ENOTDIR, ENOSPC)', () => {
  const home = tempDir('heal-drill-state-');
  fs.writeFileSync(path.join(home, 'blocker'), 'a file where a directory is expected');
  expect(() => ensureDir(path.join(home, 'blocker', 'sub'))).toThrow(StateUnwritableError);
  expect(() => writeFileAtomic(path.join(home, 'blocker', 'x.json'), '{}')).toThrow(
    /blocker.*cannot write the state directory/,
  );
  // A full disk: /dev/full answers every write with ENOSPC.
  expect(() => appendLine('/dev/full', 'x')).toThrow(/\/dev\/full: cannot write the state directory \(disk full\)/);
});

test('a drifted run whose candidate version cannot be written: StateUnwritable, no version added, table intact', async () => {
  const home = tempDir('heal-drill-state-');
  const config = testConfig(home);
  const clean = path.join(home, 'orders.csv');
  fs.writeFileSync(clean, csv(500));
  await initPipeline(config, 'orders', clean);
  expect((await runPipeline(suite.env, suite.bundle, config, 'orders')).outcome).toBe('succeeded');
  const before = await tableRows(config.warehouse, 'orders');
  const store = new SpecStore(home);
  const history = store.history('orders');

  // A directory stands where the next version's file goes: the candidate cannot be written.
  const v2 = path.join(home, 'pipelines', 'orders', 'versions', 'v2.yaml');
  fs.mkdirSync(v2);
  const drifted = path.join(home, 'orders-renamed.csv');
  fs.writeFileSync(drifted, csv(500, 'amount_usd'));
  const r = await runPipeline(suite.env, suite.bundle, config, 'orders', { source: drifted });
  fs.rmdirSync(v2);

  expect(r.outcome).toBe('failed');
  expect(r.error?.message).toMatch(/cannot write the state directory/);
  expect(new SpecStore(home).history('orders')).toEqual(history);
  expect(new SpecStore(home).currentVersion('orders')).toBe(1);
  expect(await tableRows(config.warehouse, 'orders')).toEqual(before);
}, 120_000);
