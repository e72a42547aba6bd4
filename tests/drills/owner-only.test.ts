/**
 * Drill: after a full healing episode through the CLI and a real worker process, every file of the
 * state directory is owner-only — heal's own writes (store/layout.ts) and what DuckDB, git and the dev
 * server create (the CLI and the worker set `umask 077` at start).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { cliEnv } from '../helpers/cli';
import { tempDir } from '../helpers/fixtures';
import { createDevEnv, uniqueTaskQueue } from '../helpers/temporal';
import { runCliWatched, tree } from './helpers/drill';
import { seedBundle } from './helpers/worker-process';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await createDevEnv();
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

test('everything heal writes in the state directory is owner-only (no group/other bits)', async () => {
  const home = tempDir('heal-drill-perms-');
  await seedBundle(home);
  const vars = cliEnv({
    HEAL_HOME: home,
    HEAL_ALLOWED_ROOTS: home,
    TEMPORAL_ADDRESS: env.address,
    HEAL_TASK_QUEUE: uniqueTaskQueue('drill-perms'),
  });
  const clean = path.join(home, 'orders.csv');
  fs.writeFileSync(clean, `id,amount\n${Array.from({ length: 200 }, (_, i) => `${i},${i / 4}`).join('\n')}\n`, {
    mode: 0o600,
  });
  expect((await runCliWatched(['init', 'orders', '--source', clean], vars)).code).toBe(0);
  expect((await runCliWatched(['run', 'orders'], vars)).code).toBe(0);
  const drifted = path.join(home, 'orders-renamed.csv');
  fs.writeFileSync(drifted, `id,amount_usd\n${Array.from({ length: 200 }, (_, i) => `${i},${i / 4}`).join('\n')}\n`, {
    mode: 0o600,
  });
  expect((await runCliWatched(['run', 'orders', '--source', drifted], vars)).code).toBe(0);
  const open = tree(home)
    .map((p) => ({ p, mode: fs.statSync(path.join(home, p)).mode & 0o777 }))
    .filter(({ mode }) => (mode & 0o077) !== 0)
    .map(({ p, mode }) => `${p} ${mode.toString(8)}`);
  expect(open).toEqual([]);
}, 120_000);
