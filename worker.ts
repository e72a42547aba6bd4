/**
 * The heal worker: workflows and activities on one task queue.
 *
 *   npm run worker                    # against TEMPORAL_ADDRESS (default localhost:7233)
 *   npm run dev                       # dev server + worker (see client/dev.ts)
 */
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities';
import { withLocalModel, type LocalModelProcess } from './integrations/local-llm/process';
import { getConfig, type HealConfig } from './lib/config';
import { workflowBundlePath } from './lib/workflow-bundle';
import { stateLayout } from './store/layout';

/** Options of {@link createWorker}. */
export interface CreateWorkerOptions {
  connection: NativeConnection;
  config: HealConfig;
  /** @default config.taskQueue */
  taskQueue?: string;
  /** A prebuilt workflow bundle; by default the cached bundle under `<home>/cache`. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Concurrent activity executions. @default config.workerSlots (sized to the machine, lib/sizing.ts) */
  maxConcurrentActivityTaskExecutions?: number;
}

/** What a worker takes on, for its start-up line: slots and the DuckDB budget of each. */
export function workerCapacity(config: Pick<HealConfig, 'workerSlots' | 'duckdbMemoryLimit'>): string {
  return `${config.workerSlots} activity slots, DuckDB memory_limit ${config.duckdbMemoryLimit ?? "DuckDB's default"} each`;
}

export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  const { config } = opts;
  const workflowBundle = opts.workflowBundle ?? { codePath: await workflowBundlePath(stateLayout(config.home).cache) };
  return Worker.create({
    connection: opts.connection,
    namespace: config.namespace,
    taskQueue: opts.taskQueue ?? config.taskQueue,
    workflowBundle,
    activities: createActivities({ config }),
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? config.workerSlots,
  });
}

/** The doctors a worker asks, for its start-up line: "memory, then rules, then llm (gpt-4o-mini)". */
export function workerDoctors(config: Pick<HealConfig, 'llm'>, local?: LocalModelProcess): string {
  const { llm } = config;
  const endpoint = llm.baseUrl || llm.apiKey;
  return llm.doctors
    .flatMap((d) => {
      if (d !== 'llm') return [d];
      if (!endpoint) return [];
      const where = local ? `local ${local.name}, ${local.contextSize}-token context` : (llm.model ?? 'gpt-4o-mini');
      return [`llm (${where})`];
    })
    .join(', then ');
}

async function main(): Promise<void> {
  await withLocalModel(getConfig(), async (config, local) => {
    const address = config.temporalAddress ?? `localhost:${config.devPort}`;
    const connection = await NativeConnection.connect({ address });
    const worker = await createWorker({ connection, config });
    console.error(
      `heal worker: task queue "${config.taskQueue}" on ${address} (namespace ${config.namespace}); ${workerCapacity(config)}; doctors: ${workerDoctors(config, local) || 'none'}`,
    );
    await worker.run();
    await connection.close();
  });
}

if (require.main === module) {
  // Everything heal writes (the warehouse, git's files, logs) is owner-only, whoever creates it.
  process.umask(0o077);
  main().catch((err: unknown) => {
    console.error(`heal worker: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
