/**
 * The state directory (`HEAL_HOME`): every path heal writes under it is named here, once. The
 * file backend of store/ and the tools that clean up after themselves read paths from this module;
 * nothing else joins a path under the home directory.
 */
import * as path from 'node:path';

/** A name made safe as one path segment (pipelines and run keys may hold characters a file system refuses). */
export function safeSegment(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_');
}

export interface StateLayout {
  home: string;
  /** `pipelines/`: one folder per pipeline. */
  pipelines: string;
  pipeline(name: string): string;
  /** `pipelines/<name>/versions/`: immutable spec versions `v<N>.yaml`. */
  versions(name: string): string;
  /** `pipelines/<name>/current.json`: the current version pointer. */
  currentPointer(name: string): string;
  /** `pipelines/<name>/history.jsonl`: every version and pointer move. */
  specHistory(name: string): string;
  /** `pipelines/<name>/profiles/`: the baseline profile and one profile per run. */
  profiles(name: string): string;
  /** The profile of the last good load: what the silent drift check compares with. */
  baseline(name: string): string;
  /** The profile of one committed load. */
  runProfile(name: string, runId: string): string;
  /** `specs/`: the git repository of spec versions (HEAL_GIT). */
  specRepo: string;
  /** `memory/`: fix memory. */
  memory: string;
  /** `metrics/runs.jsonl`, `metrics/prices.json`. */
  runRecords: string;
  prices: string;
  /** `alerts/log.jsonl` (every alert sent or not), `alerts/state.json` (grouping window). */
  alertLog: string;
  alertState: string;
  /** `schedules/<pipeline>.json`: what `heal schedule create` set, for the dashboard. */
  schedule(pipeline: string): string;
  /** `scratch/<pipeline>/`: verification databases kept for the apply. */
  scratch(pipeline: string): string;
  /** `partitions/<pipeline>/<run>/`: one DuckDB file per partition of a fanned-out run. */
  partitions(pipeline: string, runId: string): string;
  /** `postgres/`: the cluster `heal dev --postgres` runs; `postgres/url`: its URL, owner-only. */
  postgres: string;
  postgresUrl: string;
  /** The dev server's SQLite database. */
  temporalDb: string;
  /** `cache/`: the workflow bundle. */
  cache: string;
  logs: string;
}

export function stateLayout(home: string): StateLayout {
  const pipelines = path.join(home, 'pipelines');
  const pipeline = (name: string) => path.join(pipelines, name);
  const profiles = (name: string) => path.join(pipeline(name), 'profiles');
  return {
    home,
    pipelines,
    pipeline,
    versions: (name) => path.join(pipeline(name), 'versions'),
    currentPointer: (name) => path.join(pipeline(name), 'current.json'),
    specHistory: (name) => path.join(pipeline(name), 'history.jsonl'),
    profiles,
    baseline: (name) => path.join(profiles(name), 'baseline.json'),
    runProfile: (name, runId) => path.join(profiles(name), `${safeSegment(runId)}.json`),
    specRepo: path.join(home, 'specs'),
    memory: path.join(home, 'memory'),
    runRecords: path.join(home, 'metrics', 'runs.jsonl'),
    prices: path.join(home, 'metrics', 'prices.json'),
    alertLog: path.join(home, 'alerts', 'log.jsonl'),
    alertState: path.join(home, 'alerts', 'state.json'),
    schedule: (p) => path.join(home, 'schedules', `${p}.json`),
    scratch: (p) => path.join(home, 'scratch', p),
    partitions: (p, run) => path.join(home, 'partitions', safeSegment(p), safeSegment(run)),
    postgres: path.join(home, 'postgres'),
    postgresUrl: path.join(home, 'postgres', 'url'),
    temporalDb: path.join(home, 'temporal', 'dev.sqlite'),
    cache: path.join(home, 'cache'),
    logs: path.join(home, 'logs'),
  };
}
