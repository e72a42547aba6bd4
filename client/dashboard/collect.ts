/**
 * Gather what the store recorded and compute the metrics: runs and the alert log, pipelines and
 * their current versions (read-only), schedule notes. Needs no Temporal server.
 */
import { computeMetrics, type HealMetrics, type PipelineInfoRow } from '../../core/metrics-model';
import { openStore, type HealStore } from '../../store';

export interface CollectOptions {
  /** Where the runs and pipelines are read: the configuration's store (files or PostgreSQL). */
  config: Parameters<typeof openStore>[0];
  /** A price table file (USD per 1k tokens by model) overriding the defaults. */
  prices?: string;
  /** @default new Date() */
  now?: Date;
}

/** Each pipeline with its current version and schedule note; a pipeline whose spec cannot be read says why. */
export async function readPipelines(store: HealStore): Promise<PipelineInfoRow[]> {
  const rows: PipelineInfoRow[] = [];
  for (const name of await store.specs.list()) {
    const schedule = await store.schedules.note(name).catch(() => null);
    try {
      const cur = await store.specs.current(name);
      rows.push({
        pipeline: name,
        specVersion: cur.version,
        table: cur.spec.target.table,
        mode: cur.spec.healing.mode,
        source: cur.spec.source.path,
        schedule,
      });
    } catch (err) {
      rows.push({
        pipeline: name,
        specVersion: null,
        table: null,
        mode: null,
        source: null,
        schedule,
        error: (err as Error).message,
      });
    }
  }
  return rows;
}

export async function collectMetrics(opts: CollectOptions): Promise<HealMetrics> {
  const store = openStore({ ...opts.config, gitCommits: false });
  return computeMetrics({
    runs: await store.runs.runs(),
    alerts: await store.runs.alerts(),
    pipelines: await readPipelines(store),
    prices: await store.runs.prices(opts.prices),
    ...(opts.now ? { now: opts.now } : {}),
  });
}
