/**
 * `partitionedRun`: a source of many files (a glob, or a directory of partitions) loaded by a
 * fan-out of `partitionRun` child workflows, one per file, at most `maxParallel` at once. Each
 * child has its own drift check: a drifted partition is healed on its own (`healAttempt`:
 * diagnose → propose → verify on that file) and loaded with the verified candidate version, or,
 * when it cannot be healed, set aside as `quarantined`; the other partitions never wait for it.
 * Every partition loads into its own DuckDB file; one `mergePartitions` activity then copies the
 * loaded ones into the warehouse in a single transaction (see activities/partitions.ts).
 *
 * Children are ordinary workflow tasks on the task queue, so any number of worker processes
 * (`npm run worker`, on any machine pointing at the same TEMPORAL_ADDRESS) share the partitions.
 *
 * A partition's fix does not move the pipeline's current version (the other partitions still fit
 * it); it is remembered (fix memory), so the same drift in another partition is answered from
 * memory. Deterministic: activities are imported as types only.
 */
import {
  ApplicationFailure,
  executeChild,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { EPISODE_FATAL_ERROR_TYPES } from '../common/errors';
import { ACTIVITY_PROFILES, ATTEMPT_RETRY } from '../common/policies';
import type { DriftReport } from '../common/types';
import { failureOf } from './failures';
import { healAttempt } from './heal-attempt';

const quick = proxyActivities<Pick<Activities, 'getPipeline' | 'listPartitions' | 'rememberFix'>>(ACTIVITY_PROFILES.quick);
const etl = proxyActivities<Pick<Activities, 'loadPartition' | 'mergePartitions'>>(ACTIVITY_PROFILES.etl);

/** Default number of partitions loading at once. */
export const DEFAULT_MAX_PARALLEL = 4;

export interface PartitionedRunInput {
  pipeline: string;
  /** A glob or a directory of partition files. @default the spec's source path */
  source?: string;
  /** Partitions loading at once (child workflows in flight). @default 4 */
  maxParallel?: number;
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
}

export type PartitionOutcome = 'succeeded' | 'healed' | 'quarantined';

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
  /** Why a partition was quarantined. */
  error: string | null;
  /** Internal: where the loaded rows wait for the merge. */
  db: string | null;
  rowsRead: number;
}

export interface PartitionedRunResult {
  /** `partial`: some partitions quarantined, the others merged; `failed`: nothing merged. */
  outcome: 'succeeded' | 'healed' | 'partial' | 'failed';
  workflowId: string;
  pipeline: string;
  table: string | null;
  warehouse: string | null;
  specVersion: number | null;
  partitions: PartitionResult[];
  rowsLoaded: number;
  rowsQuarantined: number;
  quarantinedPartitions: number;
  committedAt: string | null;
  error: string | null;
}

/** Failure type of a partitioned run with nothing merged; its first detail is the result. */
export const PARTITIONED_RUN_FAILED = 'PartitionedRunFailed';

/** Run `fn` over `items` with at most `limit` in flight; results in item order. Deterministic. */
export async function boundedMap<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
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
    rowsLoaded: 0,
    rowsQuarantined: 0,
    quarantinedPartitions: 0,
    committedAt: null,
    error: null,
  };
  let info;
  let files: string[];
  try {
    info = await quick.getPipeline({ pipeline: input.pipeline });
    ({ files } = await quick.listPartitions({ pipeline: input.pipeline, source: input.source ?? info.source }));
  } catch (err) {
    return fail({ ...base, error: failureOf(err).message });
  }
  const known = { ...base, table: info.table, warehouse: info.warehouse, specVersion: info.specVersion };
  const limit = Math.max(1, Math.floor(input.maxParallel ?? DEFAULT_MAX_PARALLEL));
  const partitions = await boundedMap(files, limit, (file, index) => {
    const childId = `${workflowId}-p${String(index).padStart(5, '0')}`;
    return executeChild(partitionRun, {
      workflowId: childId,
      taskQueue,
      args: [{ pipeline: input.pipeline, specVersion: info.specVersion, file, index, runId: workflowId, maxAttempts: info.maxAttempts }],
    }).catch(
      (err: unknown): PartitionResult => ({
        index,
        file,
        workflowId: childId,
        outcome: 'quarantined',
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
  const loaded = partitions.filter((p) => p.outcome !== 'quarantined' && p.db !== null);
  const quarantinedPartitions = partitions.length - loaded.length;
  const withResults = { ...known, partitions, quarantinedPartitions };
  if (loaded.length === 0) return fail({ ...withResults, error: `no partition could be loaded (${quarantinedPartitions} quarantined)` });
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
      })),
    });
  } catch (err) {
    return fail({ ...withResults, error: `merge failed: ${failureOf(err).message}` });
  }
  return {
    ...withResults,
    outcome: quarantinedPartitions > 0 ? 'partial' : partitions.some((p) => p.outcome === 'healed') ? 'healed' : 'succeeded',
    rowsLoaded: merged.rowsLoaded,
    rowsQuarantined: merged.rowsQuarantined,
    committedAt: merged.committedAt,
  };
}

/** One partition: load it into its own file; on drift, heal it on its own or quarantine it. */
export async function partitionRun(input: PartitionRunInput): Promise<PartitionResult> {
  const { workflowId, taskQueue } = workflowInfo();
  const base: PartitionResult = {
    index: input.index,
    file: input.file,
    workflowId,
    outcome: 'quarantined',
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
    etl.loadPartition({ pipeline: input.pipeline, specVersion, file: input.file, index: input.index, runId: input.runId, loadId });
  let drift: DriftReport;
  try {
    const p = await load(input.specVersion, workflowId);
    return { ...base, outcome: 'succeeded', db: p.db, rowsRead: p.rowsRead, rowsLoaded: p.rowsLoaded, rowsQuarantined: p.rowsQuarantined };
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
      args: [{ pipeline: input.pipeline, specVersion: input.specVersion, drift, source: input.file, maxAttempts: input.maxAttempts }],
      retry: { ...ATTEMPT_RETRY, maximumAttempts: input.maxAttempts, nonRetryableErrorTypes: [...EPISODE_FATAL_ERROR_TYPES] },
    });
  } catch (err) {
    return { ...withDrift, error: `not healed: ${failureOf(err).message}` };
  }
  let p;
  try {
    p = await load(attempt.candidateVersion, `${workflowId}/healed`);
  } catch (err) {
    return { ...withDrift, doctor: attempt.doctor, error: `healed v${attempt.candidateVersion} did not load: ${failureOf(err).message}` };
  }
  try {
    await quick.rememberFix({ pipeline: input.pipeline, drift, baseVersion: input.specVersion, patch: attempt.patch, doctor: attempt.doctor, episodeId: workflowId });
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
  throw ApplicationFailure.create({ type: PARTITIONED_RUN_FAILED, message: `${result.pipeline}: ${result.error ?? 'failed'}`, nonRetryable: true, details: [result] });
}
