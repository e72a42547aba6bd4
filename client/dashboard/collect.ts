/**
 * Gather what the state directory recorded and compute the metrics: runs and alert log (JSON Lines),
 * pipelines and their current versions (the spec store, read-only), optional schedule notes.
 * Needs no Temporal server.
 */
import * as fs from 'node:fs';
import { metricsPaths, readAlertLog, readPrices, readRunRecords } from '../../store/runs';
import { computeMetrics, type HealMetrics, type PipelineInfoRow } from '../../core/metrics-model';
import { SpecStore } from '../../store/spec-store';
import { readJson } from '../../lib/atomic-files';
import { stateLayout } from '../../store/layout';

export interface CollectOptions {
  home: string;
  /** A price table file (USD per 1k tokens by model) overriding the defaults. */
  prices?: string;
  /** @default new Date() */
  now?: Date;
}

/**
 * A pipeline's schedule as noted in `<home>/schedules/<pipeline>.json` (`{"schedule": "every 1h",
 * "paused": false}`), when something wrote one; the schedules themselves live in Temporal.
 */
export function readScheduleNote(home: string, pipeline: string): string | null {
  try {
    const doc = readJson<{ schedule?: unknown; paused?: unknown }>(stateLayout(home).schedule(pipeline));
    if (!doc || typeof doc.schedule !== 'string') return null;
    return doc.paused === true ? `${doc.schedule} (paused)` : doc.schedule;
  } catch {
    return null;
  }
}

export function readPipelines(home: string): PipelineInfoRow[] {
  const store = new SpecStore(home);
  return store.list().map((name) => {
    const schedule = readScheduleNote(home, name);
    try {
      const cur = store.current(name);
      return {
        pipeline: name,
        specVersion: cur.version,
        table: cur.spec.target.table,
        mode: cur.spec.healing.mode,
        source: cur.spec.source.path,
        schedule,
      };
    } catch (err) {
      return {
        pipeline: name,
        specVersion: null,
        table: null,
        mode: null,
        source: null,
        schedule,
        error: (err as Error).message,
      };
    }
  });
}

/** Parsed files, reused while a file's size and modification time are unchanged (the live page polls). */
const cache = new Map<string, { size: number; mtimeMs: number; value: unknown }>();
function cached<T>(file: string, read: () => T): T {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    st = undefined;
  }
  const hit = cache.get(file);
  if (st && hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.value as T;
  const value = read();
  if (st) cache.set(file, { size: st.size, mtimeMs: st.mtimeMs, value });
  else cache.delete(file);
  return value;
}

export function collectMetrics(opts: CollectOptions): HealMetrics {
  const files = metricsPaths(opts.home);
  return computeMetrics({
    runs: cached(files.runs, () => readRunRecords(opts.home)),
    alerts: cached(files.alertLog, () => readAlertLog(opts.home)),
    pipelines: readPipelines(opts.home),
    prices: readPrices(opts.home, opts.prices),
    ...(opts.now ? { now: opts.now } : {}),
  });
}
