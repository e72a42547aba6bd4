import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { NativeConnection } from '@temporalio/worker';
import { workflowsUrl } from '../../common/ids';
import type { DevServer } from '../../lib/dev-server';
import { stateLayout } from '../../store/layout';
import { loadConfig, type HealConfig } from '../../lib/config';
import { writeFileAtomic } from '../../lib/atomic-files';
import { redactUrl } from '../../lib/pg';
import { startPostgres, type PostgresServer } from '../../lib/postgres-server';
import { findTemporalCli } from '../../lib/temporal-cli';
import { createWorker, workerCapacity, workerDoctors } from '../../worker';
import { withLocalModel, type LocalModelProcess } from '../../integrations/local-llm/process';
import { LocalModelNotFoundError } from '../../integrations/local-llm/models';
import { CliError, EXIT, type CliContext } from '../context';
import { startProjectDevServer } from '../temporal';

/**
 * `heal dev --postgres`: a real PostgreSQL server in `<home>/postgres`, kept between runs. Its URL
 * (with the password) goes to a file only the owner reads, never to the terminal.
 */
async function startDevPostgres(config: HealConfig): Promise<PostgresServer> {
  const layout = stateLayout(config.home);
  // A password of its own, made when the cluster is, kept in the URL file for the next start.
  let password = randomBytes(12).toString('hex');
  try {
    password = decodeURIComponent(new URL(fs.readFileSync(layout.postgresUrl, 'utf8').trim()).password) || password;
  } catch {
    // no cluster yet
  }
  const pg = await startPostgres({ dir: layout.postgres, port: config.devPgPort, password });
  writeFileAtomic(layout.postgresUrl, `${pg.url}\n`); // owner-only: the CLI sets umask 077
  console.error(`heal dev: PostgreSQL on ${redactUrl(pg.url)} (data: ${layout.postgres}), warehouse and state store`);
  console.error(`heal dev: for the CLI: export HEAL_WAREHOUSE="$(cat ${layout.postgresUrl})"`);
  return pg;
}

/**
 * `npm run dev`: the dev server (SQLite under HEAL_HOME, Web UI, search attributes) and a worker,
 * in the foreground. Ctrl-C / SIGTERM stops both. With TEMPORAL_ADDRESS, only the worker.
 */
export async function runDev(ctx: CliContext, opts: { postgres?: boolean; llm?: string } = {}): Promise<void> {
  let { config } = ctx;
  const postgres = opts.postgres ? await startDevPostgres(config) : undefined;
  const env = {
    ...process.env,
    ...(postgres ? { HEAL_WAREHOUSE: postgres.url } : {}),
    ...(opts.llm ? { HEAL_LOCAL_MODEL: opts.llm } : {}),
  };
  if (postgres || opts.llm) config = loadConfig(env);
  try {
    await withLocalModel(config, async (withModel, local) => {
      if (local)
        console.error(`heal dev: local model ${local.name} on ${local.url} (${local.contextSize}-token context)`);
      await runDevWorker(withModel, local);
    });
  } catch (err) {
    if (err instanceof LocalModelNotFoundError) throw new CliError(err.message, EXIT.unavailable);
    throw err;
  } finally {
    await postgres?.stop();
  }
}

/** The dev server (unless TEMPORAL_ADDRESS) and the worker, until Ctrl-C. */
async function runDevWorker(config: HealConfig, local: LocalModelProcess | undefined): Promise<void> {
  let server: DevServer | undefined;
  let address = config.temporalAddress;
  if (!address) {
    const cli = findTemporalCli(config);
    if (!cli)
      throw new CliError(
        'no Temporal CLI found: run `npm run setup` (or set TEMPORAL_CLI_PATH, or TEMPORAL_ADDRESS for an existing server)',
        EXIT.unavailable,
      );
    const layout = stateLayout(config.home);
    server = await startProjectDevServer(config, cli.path);
    address = server.address;
    console.error(`heal dev: Temporal dev server on ${address} (history: ${layout.temporalDb})`);
    console.error(`heal dev: Web UI ${workflowsUrl(config.uiUrl, config.namespace)}`);
  }
  const connection = await NativeConnection.connect({ address });
  const worker = await createWorker({ connection, config });
  console.error(
    `heal dev: worker polling task queue "${config.taskQueue}" (${workerCapacity(config)}; doctors: ${workerDoctors(config, local) || 'none'}); Ctrl-C to stop`,
  );
  const stopServer = async () => {
    await server?.stop();
  };
  // The worker stops itself on SIGINT/SIGTERM (the SDK's default shutdown signals).
  const serverDied = server?.exited.then(({ code, signal }) => {
    if (worker.getState() === 'RUNNING') {
      console.error(`heal dev: the dev server exited (${signal ?? code}); stopping the worker`);
      worker.shutdown();
    }
  });
  try {
    await worker.run();
  } finally {
    await connection.close();
    await stopServer();
    void serverDied;
    console.error('heal dev: stopped');
  }
}
