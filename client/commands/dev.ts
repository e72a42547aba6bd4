import { NativeConnection } from '@temporalio/worker';
import { workflowsUrl } from '../../common/ids';
import type { DevServer } from '../../lib/dev-server';
import { stateLayout } from '../../store/layout';
import { findTemporalCli } from '../../lib/temporal-cli';
import { createWorker } from '../../worker';
import { CliError, EXIT, type CliContext } from '../context';
import { startProjectDevServer } from '../temporal';

/**
 * `npm run dev`: the dev server (SQLite under HEAL_HOME, Web UI, search attributes) and a worker,
 * in the foreground. Ctrl-C / SIGTERM stops both. With TEMPORAL_ADDRESS, only the worker.
 */
export async function runDev(ctx: CliContext): Promise<void> {
  const { config } = ctx;
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
  console.error(`heal dev: worker polling task queue "${config.taskQueue}"; Ctrl-C to stop`);
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
