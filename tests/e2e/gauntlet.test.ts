/**
 * A fast subset of the gauntlet (`npm run gauntlet` runs all of it): a few chaos kinds on one real
 * dataset, and the drift-case folders (tests/fixtures/drift-cases), through the real CLI, judged against the right table.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { writeChaos, type ChaosKind } from '../../tools/chaos';
import { formatMatrix, runCases, driftCaseFolders, type GauntletCase } from '../../tools/gauntlet/cases';
import { HEAL_BIN } from '../helpers/cli';
import { DRIFT_CASES, tempDir, testConfig } from '../helpers/fixtures';
import { createDevEnv, testWorkflowBundle, uniqueTaskQueue } from '../helpers/temporal';

const VEGA = path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data');
const KINDS: ChaosKind[] = [
  'rename-several',
  'delimiter-semicolon',
  'currency',
  'bad-values',
  'drop-required',
  'truncated',
  'date-gains-time',
];

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
const work = tempDir('heal-gauntlet-');
const taskQueue = uniqueTaskQueue('gauntlet');
const config = testConfig(path.join(work, 'state'), { HEAL_TASK_QUEUE: taskQueue });

beforeAll(async () => {
  const [e, bundle] = await Promise.all([createDevEnv(), testWorkflowBundle()]);
  env = e;
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: createActivities({ config }),
  });
  running = worker.run();
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

test('chaos kinds on real data and the drift-case folders: no WRONG, every case correct', async () => {
  const clean = path.join(work, 'seattle.csv');
  fs.copyFileSync(path.join(VEGA, 'seattle-weather.csv'), clean);
  const cases: GauntletCase[] = [];
  for (const kind of KINDS) {
    const out = path.join(work, `${kind}.csv`);
    const r = await writeChaos(kind, clean, out, 7);
    cases.push({
      dataset: 'seattle',
      kind,
      clean,
      drifted: r.applicable ? out : undefined,
      expect: r.expect,
      change: r.note,
      ...(r.applicable && r.details.widened ? { widened: r.details.widened } : {}),
    });
  }
  cases.push(...driftCaseFolders(DRIFT_CASES));
  const g = {
    env: {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      HEAL_HOME: config.home,
      HEAL_ALLOWED_ROOTS: config.allowedRoots.join(path.delimiter),
      TEMPORAL_ADDRESS: env.address,
      HEAL_TASK_QUEUE: taskQueue,
    },
    warehouse: config.warehouse,
    bin: HEAL_BIN,
  };
  const results = await runCases(g, cases, 3);
  const m = formatMatrix(results);
  expect(results.filter((r) => r.verdict !== 'n/a')).toHaveLength(KINDS.length + 3);
  expect(
    results.map((r) => `${r.dataset}/${r.kind}: ${r.verdict} ${r.verdict.endsWith('correct') ? '' : r.detail}`.trim()),
  ).toEqual(results.map((r) => `${r.dataset}/${r.kind}: ${r.expect === 'succeeded' ? 'succeeded' : r.expect}-correct`));
  expect(m.wrong).toBe(0);
}, 300_000);
