/**
 * `heal run` with nothing running: the CLI starts the real dev server itself (SQLite under
 * HEAL_HOME) and a worker in-process, stops both after, and the history survives for the next one.
 */
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { PipelineRunResult } from '../../common/types';
import { isServerReachable, startDevServer } from '../../lib/dev-server';
import { stateLayout } from '../../store/layout';
import { findTemporalCli } from '../../lib/temporal-cli';
import { cliEnv, runCli } from '../helpers/cli';
import { DRIFT_CASES, driftCase, tempDir, testConfig } from '../helpers/fixtures';
import { freePort } from '../helpers/ports';

test('heal run starts and stops its own dev server; history persists in SQLite', async () => {
  const home = tempDir();
  const [port, uiPort] = [await freePort(), await freePort()];
  const vars = cliEnv({
    HEAL_HOME: home,
    HEAL_ALLOWED_ROOTS: [home, DRIFT_CASES].join(path.delimiter),
    HEAL_DEV_PORT: String(port),
    HEAL_UI_PORT: String(uiPort),
    HEAL_TASK_QUEUE: `standalone-${process.pid}`,
  });
  expect((await runCli(['init', 'gap', '--source', driftCase('gapminder-currency', 'clean.csv')], vars)).code).toBe(0);

  const first = await runCli(['run', 'gap', '--json'], vars);
  expect(first.code).toBe(0);
  const r1 = JSON.parse(first.stdout) as PipelineRunResult;
  expect(r1).toMatchObject({ outcome: 'succeeded', rowsLoaded: 187, rowsQuarantined: 0 });
  expect(await isServerReachable(`127.0.0.1:${port}`, 'default')).toBe(false);

  const second = await runCli(
    ['run', 'gap', '--json', '--source', driftCase('gapminder-currency', 'drifted.csv')],
    vars,
  );
  expect(second.code).toBe(0);
  const r2 = JSON.parse(second.stdout) as PipelineRunResult;
  expect(r2).toMatchObject({ outcome: 'healed', attempts: 1, rowsLoaded: 187 });
  expect(r2.driftReport?.kinds).toEqual(['format-change']);

  // Both runs are in the SQLite history when a server starts again on the same file.
  const cli = findTemporalCli(testConfig(home));
  const server = await startDevServer({
    cliPath: cli?.path ?? '',
    dbFile: stateLayout(home).temporalDb,
    port,
    uiPort,
    headless: true,
  });
  try {
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const ids: string[] = [];
    for await (const wf of client.workflow.list()) ids.push(`${wf.workflowId}@${wf.runId}`);
    const episode = r2.episodeId ?? '';
    expect(episode).toBe(`${r2.runKey}-heal`);
    expect(ids.map((i) => i.split('@')[0]).sort()).toEqual(
      [r1.workflowId, r2.workflowId, episode, `${episode}-attempt`].sort(),
    );
    // Both runs share the pipeline's workflow id, each its own run.
    expect(ids).toEqual(expect.arrayContaining([`${r1.workflowId}@${r1.runId}`, `${r2.workflowId}@${r2.runId}`]));
    await connection.close();
  } finally {
    await server.stop();
  }
}, 120_000);
