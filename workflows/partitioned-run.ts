/**
 * `partitionedRun`: a source of many files (a glob, or a directory of partitions) loaded by a
 * fan-out of `partitionRun` child workflows, one per file, at most `maxParallel` at once. Each
 * child checks its file's shape and values (never its distribution: a partition is a slice, not a
 * sample of the whole): a drifted partition is healed on its own (`healAttempt`: diagnose →
 * propose → verify on that file, judged against the other partitions) and loaded with the verified
 * candidate version, or, when it cannot be healed, `set-aside`; the others never wait for it.
 * Every partition loads into its own DuckDB file; one `mergePartitions` activity then checks the
 * union's distribution against the baseline and copies the loaded ones into the warehouse in a
 * single transaction (see activities/partitions.ts).
 *
 * A partition set aside makes the run `partial` (not green). In `replace` mode the table is then
 * left as it was unless the spec says `target.partial: load-and-flag`; `append` and `merge` merge
 * what loaded, and a later run of the same files loads only the ones not loaded yet (`skipped`).
 *
 * Children are ordinary workflow tasks on the task queue, so any number of worker processes
 * (`npm run worker`, on any machine pointing at the same TEMPORAL_ADDRESS) share the partitions.
 *
 * A partition's fix does not move the pipeline's current version (the other partitions still fit
 * it); it is remembered (fix memory), so the same drift in another partition is answered from
 * memory. Deterministic: activities are imported as types only.
 */
import { ApplicationFailure, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { EPISODE_FATAL_ERROR_TYPES, type ErrorType } from '../common/errors';
import { ACTIVITY_PROFILES, ATTEMPT_RETRY, HEALING_PRIORITY } from '../common/policies';
import type { DriftReport } from '../common/types';
import { failureOf } from './failures';
import { healAttempt } from './heal-attempt';

const quick = proxyActivities<Pick<Activities, 'getPipeline' | 'listPartitions' | 'rememberFix' | 'discardPartitions'>>(
  ACTIVITY_PROFILES.quick,
);
const etl = proxyActivities<Pick<Activities, 'loadPartition' | 'mergePartitions'>>(ACTIVITY_PROFILES.etl);

/** Most other partitions a partition's fix is judged against. */
const MAX_PEERS = 8;

/** Default number of partitions loading at once. */
export const DEFAULT_MAX_PARALLEL = 4;

export interface PartitionedRunInput {
  pipeline: string;
  /** A glob or a directory of partition files. @default the spec's source path */
  source?: string;
  /** Partitions loading at once (child workflows in flight). @default 4 */
  maxParallel?: number;
  /** Merge what loaded when some partitions are set aside (see `target.partial`). @default false */
  allowPartial?: boolean;
}

export interface PartitionRunInput {
  pipeline: string;
  /** The pipeline's version at the start of the run. */
  specVersion: number;
  file: string;
  index: number;
  /** Workflow id of the partitioned run. */
  runId: string;
  maxAttempts: number;
  /** Other partitions of the run: a fix of this one is judged against them, not the whole's baseline. */
  peers?: string[];
}

export type PartitionOutcome = 'succeeded' | 'healed' | 'set-aside';

export interface PartitionResult {
  index: number;
  file: string;
  /** The child workflow that loaded it. */
  workflowId: string;
  outcome: PartitionOutcome;
  /** Version the partition was loaded with (a healed partition: the verified candidate). */
  specVersion: number;
  rowsLoaded: number;
  rowsQuarantined: number;
  /** Kinds of drift found in this partition (empty when none). */
  driftKinds: string[];
  doctor: string | null;
  /** Why a partition was set aside. */
  error: string | null;
  /** Internal: where the loaded rows wait for the merge. */
  db: string | null;
  rowsRead: number;
  /** Content key of the file (what makes an append or a merge load it once). */
  key?: string;
}

export interface PartitionedRunResult {
  /** `partial`: some partitions set aside, the others merged; `failed`: nothing merged. */
  outcome: 'succeeded' | 'healed' | 'partial' | 'failed';
  workflowId: string;
  pipeline: string;
  table: string | null;
  warehouse: string | null;
  specVersion: number | null;
  partitions: PartitionResult[];
  /** Files loaded by an earlier run (append, merge): not loaded again. */
  skipped: string[];
  rowsLoaded: number;
  rowsQuarantined: number;
  /** Partitions set aside (not merged). */
  setAside: number;
  /** Columns the partitions are split by (declared, or found disjoint across them). */
  partitionKeys: string[];
  committedAt: string | null;
  error: string | null;
}

/** Failure type of a partitioned run with nothing merged; its first detail is the result. */
export const PARTITIONED_RUN_FAILED = 'PartitionedRunFailed' satisfies ErrorType;

/** Run `fn` over `items` with at most `limit` in flight; results in item order. Deterministic. */
export async function boundedMap<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return out;
}

export async function partitionedRun(input: PartitionedRunInput): Promise<PartitionedRunResult> {
  const { workflowId, taskQueue } = workflowInfo();
  const base: PartitionedRunResult = {
    outcome: 'failed',
    workflowId,
    pipeline: input.pipeline,
    table: null,
    warehouse: null,
    specVersion: null,
    partitions: [],
    skipped: [],
    rowsLoaded: 0,
    rowsQuarantined: 0,
    setAside: 0,
    partitionKeys: [],
    committedAt: null,
    error: null,
  };
  let info;
  let listed;
  try {
    info = await quick.getPipeline({ pipeline: input.pipeline });
    listed = await quick.listPartitions({ pipeline: input.pipeline, source: input.source ?? info.source });
  } catch (err) {
    return fail({ ...base, error: failureOf(err).message });
  }
  const { files, skipped = [], keys = {} } = listed;
  const known = { ...base, table: info.table, warehouse: info.warehouse, specVersion: info.specVersion, skipped };
  if (files.length === 0) return { ...known, outcome: 'succeeded' };
  const limit = Math.max(1, Math.floor(input.maxParallel ?? DEFAULT_MAX_PARALLEL));
  const partitions = await boundedMap(files, limit, (file, index) => {
    const childId = `${workflowId}-p${String(index).padStart(5, '0')}`;
    const peers = files.filter((f) => f !== file).slice(0, MAX_PEERS);
    return executeChild(partitionRun, {
      workflowId: childId,
      taskQueue,
      args: [
        {
          pipeline: input.pipeline,
          specVersion: info.specVersion,
          file,
          index,
          runId: workflowId,
          maxAttempts: info.maxAttempts,
          peers,
        },
      ],
    }).then(
      (p): PartitionResult => ({ ...p, ...(keys[file] ? { key: keys[file] } : {}) }),
      (err: unknown): PartitionResult => ({
        index,
        file,
        workflowId: childId,
        outcome: 'set-aside',
        specVersion: info.specVersion,
        rowsLoaded: 0,
        rowsQuarantined: 0,
        rowsRead: 0,
        driftKinds: [],
        doctor: null,
        error: failureOf(err).message,
        db: null,
      }),
    );
  });
  const loaded = partitions.filter((p) => p.outcome !== 'set-aside' && p.db !== null);
  const setAside = partitions.length - loaded.length;
  const withResults = { ...known, partitions, setAside };
  if (loaded.length === 0 || (setAside > 0 && !input.allowPartial)) {
    await quick.discardPartitions({ pipeline: input.pipeline, runId: workflowId }).catch(() => undefined);
    const why =
      loaded.length === 0
        ? 'no partition could be loaded'
        : 'the table is left as it was (replace mode: target.partial is "refuse")';
    return fail({ ...withResults, error: `${setAside} of ${partitions.length} partition(s) set aside; ${why}` });
  }
  let merged;
  try {
    merged = await etl.mergePartitions({
      pipeline: input.pipeline,
      specVersion: info.specVersion,
      runId: workflowId,
      partitions: loaded.map((p) => ({
        index: p.index,
        file: p.file,
        db: p.db as string,
        specVersion: p.specVersion,
        rowsRead: p.rowsRead,
        rowsLoaded: p.rowsLoaded,
        rowsQuarantined: p.rowsQuarantined,
        ...(p.key ? { key: p.key } : {}),
      })),
    });
  } catch (err) {
    await quick.discardPartitions({ pipeline: input.pipeline, runId: workflowId }).catch(() => undefined);
    return fail({ ...withResults, error: `merge failed: ${failureOf(err).message}` });
  }
  return {
    ...withResults,
    outcome: setAside > 0 ? 'partial' : partitions.some((p) => p.outcome === 'healed') ? 'healed' : 'succeeded',
    rowsLoaded: merged.rowsLoaded,
    rowsQuarantined: merged.rowsQuarantined,
    partitionKeys: merged.partitionKeys ?? [],
    committedAt: merged.committedAt,
  };
}

/** One partition: load it into its own file; on drift, heal it on its own or set it aside. */
export async function partitionRun(input: PartitionRunInput): Promise<PartitionResult> {
  const { workflowId, taskQueue } = workflowInfo();
  const base: PartitionResult = {
    index: input.index,
    file: input.file,
    workflowId,
    outcome: 'set-aside',
    specVersion: input.specVersion,
    rowsLoaded: 0,
    rowsQuarantined: 0,
    rowsRead: 0,
    driftKinds: [],
    doctor: null,
    error: null,
    db: null,
  };
  const load = (specVersion: number, loadId: string) =>
    etl.loadPartition({
      pipeline: input.pipeline,
      specVersion,
      file: input.file,
      index: input.index,
      runId: input.runId,
      loadId,
    });
  let drift: DriftReport;
  try {
    const p = await load(input.specVersion, workflowId);
    return {
      ...base,
      outcome: 'succeeded',
      db: p.db,
      rowsRead: p.rowsRead,
      rowsLoaded: p.rowsLoaded,
      rowsQuarantined: p.rowsQuarantined,
    };
  } catch (err) {
    const f = failureOf(err);
    const report = f.type === 'SchemaDrift' ? (f.details[0] as DriftReport | undefined) : undefined;
    if (!report) return { ...base, error: `${f.type}: ${f.message}` };
    drift = report;
  }
  const withDrift = { ...base, driftKinds: [...drift.kinds] };
  let attempt;
  try {
    attempt = await executeChild(healAttempt, {
      workflowId: `${workflowId}-heal-attempt`,
      taskQueue,
      priority: HEALING_PRIORITY,
      args: [
        {
          pipeline: input.pipeline,
          specVersion: input.specVersion,
          drift,
          source: input.file,
          maxAttempts: input.maxAttempts,
          ...(input.peers?.length ? { peers: { version: input.specVersion, files: input.peers } } : {}),
        },
      ],
      retry: {
        ...ATTEMPT_RETRY,
        maximumAttempts: input.maxAttempts,
        nonRetryableErrorTypes: [...EPISODE_FATAL_ERROR_TYPES],
      },
    });
  } catch (err) {
    return { ...withDrift, error: `not healed: ${failureOf(err).message}` };
  }
  let p;
  try {
    p = await load(attempt.candidateVersion, `${workflowId}/healed`);
  } catch (err) {
    return {
      ...withDrift,
      doctor: attempt.doctor,
      error: `healed v${attempt.candidateVersion} did not load: ${failureOf(err).message}`,
    };
  }
  try {
    await quick.rememberFix({
      pipeline: input.pipeline,
      drift,
      baseVersion: input.specVersion,
      patch: attempt.patch,
      doctor: attempt.doctor,
      episodeId: workflowId,
    });
  } catch {
    // Fix memory only saves a later diagnosis: the partition is healed either way.
  }
  return {
    ...withDrift,
    outcome: 'healed',
    specVersion: attempt.candidateVersion,
    doctor: attempt.doctor,
    db: p.db,
    rowsRead: p.rowsRead,
    rowsLoaded: p.rowsLoaded,
    rowsQuarantined: p.rowsQuarantined,
  };
}

function fail(result: PartitionedRunResult): never {
  throw ApplicationFailure.create({
    type: PARTITIONED_RUN_FAILED,
    message: `${result.pipeline}: ${result.error ?? 'failed'}`,
    nonRetryable: true,
    details: [result],
  });
}
