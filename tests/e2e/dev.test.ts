/**
 * `heal dev` (npm run dev): a real dev server (SQLite under HEAL_HOME, search attributes) and a
 * worker in the foreground; SIGTERM stops both cleanly. With --postgres, a real PostgreSQL too.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { isServerReachable } from '../../lib/dev-server';
import { stateLayout } from '../../store/layout';
import { cliEnv, HEAL_BIN, ROOT, runCli } from '../helpers/cli';
import { pgQuery } from '../helpers/postgres';
import { tempDir } from '../helpers/fixtures';
import { freePort } from '../helpers/ports';

/** Wait for a condition, checking every 200 ms, up to a deadline. */
async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('heal dev runs a dev server and a worker; SIGTERM stops both', async () => {
  const home = tempDir();
  const [port, uiPort] = [await freePort(), await freePort()];
  const taskQueue = `dev-${process.pid}`;
  const child = spawn(process.execPath, [HEAL_BIN, 'dev'], {
    cwd: ROOT,
    env: cliEnv({
      HEAL_HOME: home,
      HEAL_DEV_PORT: String(port),
      HEAL_UI_PORT: String(uiPort),
      HEAL_TASK_QUEUE: taskQueue,
    }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const address = `127.0.0.1:${port}`;
  try {
    await until('the dev server', () => isServerReachable(address, 'default'));
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    await until('a worker polling the task queue', async () => {
      const res = await client.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name: taskQueue },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      });
      return (res.pollers?.length ?? 0) > 0;
    });
    const attrs = await client.connection.operatorService.listSearchAttributes({ namespace: 'default' });
    expect(Object.keys(attrs.customAttributes ?? {})).toEqual(
      expect.arrayContaining(['PipelineName', 'HealOutcome', 'DriftKinds', 'SpecVersion']),
    );
    await connection.close();
    expect(fs.existsSync(stateLayout(home).temporalDb)).toBe(true);
    expect(stderr).toContain(`Web UI http://localhost:${uiPort}`);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  expect(stderr).toContain('heal dev: stopped');
  expect(await isServerReachable(address, 'default')).toBe(false);
}, 90_000);

test('heal dev --postgres also runs a real PostgreSQL as warehouse and store; the CLI loads into it; SIGTERM stops it', async () => {
  const home = tempDir();
  const [port, uiPort, pgPort] = [await freePort(), await freePort(), await freePort()];
  const taskQueue = `devpg-${process.pid}`;
  const env = cliEnv({
    HEAL_HOME: home,
    HEAL_DEV_PORT: String(port),
    HEAL_UI_PORT: String(uiPort),
    HEAL_DEV_PG_PORT: String(pgPort),
    HEAL_TASK_QUEUE: taskQueue,
  });
  const child = spawn(process.execPath, [HEAL_BIN, 'dev', '--postgres'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const layout = stateLayout(home);
  try {
    await until('the worker', async () => stderr.includes('worker polling'), 60_000);
    const url = fs.readFileSync(layout.postgresUrl, 'utf8').trim();
    expect(fs.statSync(layout.postgresUrl).mode & 0o077).toBe(0);
    expect(stderr).not.toContain(new URL(url).password);
    const source = `${home}/cities.csv`;
    fs.writeFileSync(source, 'id,city\n1,Lyon\n2,Graz\n');
    const withPg = { ...env, HEAL_WAREHOUSE: url, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, HEAL_ALLOWED_ROOTS: home };
    expect((await runCli(['init', 'cities', '--source', source], withPg)).code).toBe(0);
    const run = await runCli(['run', 'cities', '--json'], withPg);
    expect(JSON.parse(run.stdout)).toMatchObject({ outcome: 'succeeded', rowsLoaded: 2 });
    expect(await pgQuery(url, 'SELECT city FROM cities ORDER BY id')).toEqual([{ city: 'Lyon' }, { city: 'Graz' }]);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  expect(fs.existsSync(`${layout.postgres}/data/postmaster.pid`)).toBe(false);
}, 120_000);
