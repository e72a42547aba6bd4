/**
 * Getting a Temporal server and a worker for a CLI command:
 *  - `TEMPORAL_ADDRESS` set: use that server (a real cluster, or `npm run dev` elsewhere);
 *  - else a dev server already answering on localhost:<HEAL_DEV_PORT> (`npm run dev`);
 *  - else start one for the command (the real Temporal CLI, SQLite under HEAL_HOME, so history
 *    survives), and stop it after.
 * A worker runs in-process when this command started the server, or when no worker takes the
 * workflow's first task within a short grace period.
 */
import type { Client, Connection } from '@temporalio/client';
import { temporalClient, temporalProto } from '../lib/lazy';
import type * as TestingModule from '@temporalio/testing';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type * as WorkerPackage from '@temporalio/worker';
import type * as WorkerModule from '../worker';
import { SEARCH_ATTRIBUTE_KEYS } from '../common/search-attributes';
import type { HealConfig } from '../lib/config';
import { isServerReachable, PortInUseError, startDevServer, type DevServer } from '../lib/dev-server';
import { stateLayout } from '../store/layout';
import { devServerExecutable, findTemporalCli } from '../lib/temporal-cli';

/** How long an external worker gets to pick up a workflow before the CLI runs one itself. */
const WORKER_GRACE_MS = 3000;

export interface TemporalSession {
  client: Client;
  address: string;
  /** True when this command started the server (it stops with the session). */
  ownsServer: boolean;
  /** Make sure some worker executes `workflowId` (in-process if none takes it). */
  ensureWorker(workflowId: string): Promise<void>;
  /**
   * Make sure some worker polls the task queue (for Updates and queries to running workflows);
   * starts one in this process when none does. Resolves true when it started one.
   */
  ensurePoller(): Promise<boolean>;
  close(): Promise<void>;
}

export class TemporalUnavailableError extends Error {
  override name = 'TemporalUnavailableError';
}

/** The project's dev server: the given CLI, SQLite under HEAL_HOME, the configured ports, logs in HEAL_HOME/logs. */
export function startProjectDevServer(config: HealConfig, cliPath: string): Promise<DevServer> {
  const layout = stateLayout(config.home);
  return startDevServer({
    cliPath,
    dbFile: layout.temporalDb,
    port: config.devPort,
    uiPort: config.uiPort,
    namespace: config.namespace,
    logFile: `${layout.logs}/temporal-dev.log`,
  });
}

async function startLocal(
  config: HealConfig,
  log: (m: string) => void,
): Promise<{ address: string; stop: () => Promise<void> }> {
  const layout = stateLayout(config.home);
  const cli = findTemporalCli(config);
  if (cli) {
    log(`starting a Temporal dev server (${cli.path}) on 127.0.0.1:${config.devPort}, history in ${layout.temporalDb}`);
    let server: DevServer;
    try {
      server = await startProjectDevServer(config, cli.path);
    } catch (err) {
      // Another command may have started one at the same moment: use it.
      if (err instanceof PortInUseError && err.temporal) {
        return { address: `127.0.0.1:${config.devPort}`, stop: async () => undefined };
      }
      throw err;
    }
    return { address: server.address, stop: () => server.stop() };
  }
  log('no Temporal CLI found (run `npm run setup`); using the SDK download of the dev server');
  // Loaded on demand: the worker and testing packages take most of a command's start-up time.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy load of a heavy module
  const { TestWorkflowEnvironment } = require('@temporalio/testing') as typeof TestingModule;
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: devServerExecutable(config),
      ip: '127.0.0.1',
      port: config.devPort,
      ui: true,
      uiPort: config.uiPort,
      dbFilename: layout.temporalDb,
      namespace: config.namespace,
      searchAttributes: [...SEARCH_ATTRIBUTE_KEYS],
    },
  });
  return { address: env.address, stop: () => env.teardown() };
}

async function pollerCount(client: Client, config: HealConfig): Promise<number> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: config.namespace,
    taskQueue: {
      name: config.taskQueue,
      kind: temporalProto().temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL,
    },
    taskQueueType: temporalProto().temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return res.pollers?.length ?? 0;
}

/** Has any worker started a workflow task of this workflow? */
async function taskStarted(client: Client, workflowId: string): Promise<boolean> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const started = temporalProto().temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED;
  return (history.events ?? []).some((e) => e.eventType === started);
}

let runtimeInstalled = false;
/** The SDK logs worker state changes at INFO; a CLI command shows errors only (all with --verbose). */
function installQuietRuntime(verbose: boolean): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy load of a heavy module
  const { DefaultLogger, Runtime } = require('@temporalio/worker') as typeof WorkerPackage;
  try {
    Runtime.install({ logger: new DefaultLogger(verbose ? 'INFO' : 'ERROR'), shutdownSignals: [] });
  } catch {
    // Already installed by the embedding process (e.g. tests): keep theirs.
  }
}

/** Connect to (or start) a Temporal server for one CLI command. */
export async function openSession(
  config: HealConfig,
  log: (m: string) => void = () => undefined,
): Promise<TemporalSession> {
  let address = config.temporalAddress ?? `127.0.0.1:${config.devPort}`;
  let stopServer: (() => Promise<void>) | undefined;
  if (!config.temporalAddress && !(await isServerReachable(address, config.namespace))) {
    const local = await startLocal(config, log);
    address = local.address;
    stopServer = local.stop;
  }
  let connection: Connection;
  try {
    connection = await temporalClient().Connection.connect({ address, connectTimeout: '5 seconds' });
  } catch (err) {
    await stopServer?.();
    throw new TemporalUnavailableError(`cannot reach Temporal at ${address}: ${(err as Error).message}`);
  }
  const client = new (temporalClient().Client)({ connection, namespace: config.namespace });

  let local: { worker: Worker; native: NativeConnection; running: Promise<void> } | undefined;
  const startWorker = async (why: string) => {
    if (local) return;
    log(`${why}: running a worker in this process`);
    installQuietRuntime(config.verbose);
    // Loaded on demand (require, not import(): tsx and the bundle both resolve it synchronously).
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy load of a heavy module
    const { NativeConnection } = require('@temporalio/worker') as typeof WorkerPackage;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy load of a heavy module
    const { createWorker } = require('../worker') as typeof WorkerModule;
    const native = await NativeConnection.connect({ address });
    const worker = await createWorker({ connection: native, config });
    local = { worker, native, running: worker.run() };
  };

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (local) {
      local.worker.shutdown();
      await local.running.catch(() => undefined);
      await local.native.close();
    }
    await connection.close();
    await stopServer?.();
  };
  // Ctrl-C / SIGTERM: stop our worker and any server we started, then exit.
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping`);
    void close().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  return {
    client,
    address,
    ownsServer: stopServer !== undefined,
    async ensureWorker(workflowId: string) {
      if (local) return;
      if (stopServer) return startWorker('this command started the server');
      if ((await pollerCount(client, config)) === 0)
        return startWorker(`no worker polls task queue "${config.taskQueue}"`);
      const deadline = Date.now() + WORKER_GRACE_MS;
      while (Date.now() < deadline) {
        if (await taskStarted(client, workflowId)) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      return startWorker(`no worker picked up ${workflowId} within ${WORKER_GRACE_MS / 1000}s`);
    },
    async ensurePoller() {
      if (local) return true;
      if (stopServer || (await pollerCount(client, config)) === 0) {
        await startWorker(`no worker polls task queue "${config.taskQueue}"`);
        return true;
      }
      return false;
    },
    close,
  };
}
