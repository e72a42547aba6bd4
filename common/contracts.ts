/**
 * The activities' contracts: every activity's input and result type, in one place. Workflows import
 * them (deterministic, types only); activities implement them; nothing here does anything.
 * Domain types they carry (drift reports, results of runs and episodes) are in `types.ts`.
 */
import type { PolicyDecision } from './policy';
import type { Patch } from './patch';
import type { DriftReport, FileNote, PreviousAttempt } from './types';

export type DoctorName = 'rules' | 'llm' | 'memory';

export type Diagnosis =
  | {
      kind: 'patch';
      doctor: DoctorName;
      patch: Patch;
      /** 0..1; the rules doctor answers only at or above its confidence bar. */
      confidence: number;
      /** Why, one line per decision (shown in reports and pull requests). */
      rationale: string[];
      /** LLM usage, when a model answered. */
      usage?: { promptTokens: number; completionTokens: number; model: string };
    }
  | {
      kind: 'no-answer';
      doctor: DoctorName;
      reason: string;
      /** True when no doctor can fix this (e.g. a required column is gone with nothing to map). */
      fatal: boolean;
    };

export type RememberOutcome = 'remembered' | 'updated' | 'unchanged' | 'hit';

export interface GetPipelineInput {
  pipeline: string;
}

export interface PipelineInfo {
  pipeline: string;
  table: string;
  warehouse: string;
  specVersion: number;
  maxAttempts: number;
  mode: 'auto' | 'review';
  /** In `review` mode, how long an episode waits for a decision (ms). */
  approvalTimeoutMs: number;
  source: string;
  /** How the table is written. */
  loadMode: 'replace' | 'append' | 'merge';
  /** A many-file run with files that cannot be loaded, in `replace` mode (see `target.partial`). */
  partial: 'refuse' | 'load-and-flag';
}

export interface LoadSourceInput {
  pipeline: string;
  /** Spec version to load with (the workflow pins it, so a retry loads with the same one). */
  specVersion: number;
  /** Overrides the spec's source path for this run. */
  source?: string;
  /** Id of this load (the workflow id): quarantine rows and the load record are keyed by it. */
  runId: string;
  /** Files of a many-file source not to load (set aside by the run). @default [] */
  exclude?: string[];
  /**
   * The run may end partial: a file over its quarantine budget is set aside instead of failing the
   * load (see `target.partial`). @default false
   */
  allowPartial?: boolean;
}

export interface DiagnoseInput {
  pipeline: string;
  specVersion: number;
  drift: DriftReport;
  /** The drifted source (path or glob). */
  source: string;
  /** Earlier attempts of this episode, oldest first. */
  previous: PreviousAttempt[];
  /**
   * A many-file source may end partial: a drifted file with no confident fix is set aside (in
   * `setAside`) while the others are healed. Without it one such file ends the diagnosis. @default false
   */
  allowPartial?: boolean;
}

export type DiagnoseResult = Extract<Diagnosis, { kind: 'patch' }> & {
  /** Drifted files of a many-file source with no confident fix, set aside (only with `allowPartial`). */
  setAside?: FileNote[];
  /** What `healing.policy` made of the patch's ops (none refused: a refused op ends the diagnosis). */
  policies?: PolicyDecision[];
};

export interface ProposePatchInput {
  pipeline: string;
  /** The version the patch applies to. */
  baseVersion: number;
  patch: Patch;
  doctor: string;
  rationale: string[];
  episodeId: string;
  attempt: number;
}

export interface VerifyPatchInput {
  pipeline: string;
  candidateVersion: number;
  source: string;
  episodeId: string;
  attempt: number;
  /** The files to prove it on (those the drift was found in). @default the files `source` matches */
  files?: string[];
  /** Files set aside: not loaded. @default [] */
  exclude?: string[];
  /** A file over its quarantine budget is set aside instead of failing the candidate. @default false */
  allowPartial?: boolean;
  /** The patch that made the candidate (a fix of some files is judged against the others). */
  patch?: Patch;
  /**
   * The candidate is for one partition of a larger source: compare with these other partitions,
   * read with `version` (the version they fit), not with the baseline of the whole.
   */
  peers?: { version: number; files: string[] };
}

export interface RememberFixInput {
  pipeline: string;
  /** The drift that was healed (its signature is the memory key). */
  drift: DriftReport;
  /** The version that drifted (the patch applies to it). */
  baseVersion: number;
  /** The verified, applied patch. */
  patch: Patch;
  /** The doctor that found it; "memory" records a hit instead of a new fix. */
  doctor: string;
  episodeId: string;
}

export interface RememberFixResult {
  signature: string;
  outcome: RememberOutcome;
}

export interface ApplyVersionInput {
  pipeline: string;
  version: number;
  episodeId: string;
  reason: string;
}

export interface ListPartitionsInput {
  pipeline: string;
  /** A glob, or a directory (its files with the spec's format extension). @default the spec's source */
  source?: string;
}

export interface ListPartitionsResult {
  /** Real paths of the partition files to load, sorted. */
  files: string[];
  /** `append`/`merge`: files whose content an earlier run loaded (not loaded again). */
  skipped?: string[];
  /** `append`/`merge`: each file's content key (recorded by the merge). */
  keys?: Record<string, string>;
}

export interface LoadPartitionInput {
  pipeline: string;
  specVersion: number;
  /** The partition's file. */
  file: string;
  /** Position of the partition (names its DuckDB file). */
  index: number;
  /** Id of the partitioned run (the parent workflow id): names the staging directory. */
  runId: string;
  /** Id of this load (idempotency key inside the partition file). */
  loadId: string;
}

export interface PartitionLoad {
  index: number;
  file: string;
  /**
   * Where the partition's typed rows and quarantine are staged: a DuckDB file (embedded warehouse)
   * or a PostgreSQL staging table (`heal_staging.<name>`) every worker can reach.
   */
  db: string;
  specVersion: number;
  rowsRead: number;
  rowsLoaded: number;
  rowsQuarantined: number;
  /** Content key of the file (append, merge), recorded per file by the merge. */
  key?: string;
}

export interface MergePartitionsInput {
  pipeline: string;
  /** The pipeline's version at the start of the run: the target table's shape. */
  specVersion: number;
  runId: string;
  /** Loaded partitions to copy into the warehouse (quarantined partitions are left out). */
  partitions: PartitionLoad[];
}

export interface MergePartitionsResult {
  table: string;
  warehouse: string;
  rowsLoaded: number;
  rowsQuarantined: number;
  partitions: number;
  committedAt: string;
  /** True when this run had already merged (a retried activity): nothing was redone. */
  alreadyMerged: boolean;
  /** Columns the partitions are split by (declared, or found disjoint across them): not compared with the baseline. */
  partitionKeys: string[];
}

export interface ReplayQuarantineInput {
  pipeline: string;
  /** The version the rows are cast with (the workflow pins the current one: a retry casts the same way). */
  specVersion: number;
  /** Id of this replay: the run id of its load record (a retried activity adds to it, never a second one). */
  replayId: string;
  /** Only this run's rows (its run key, as `heal quarantine list` shows it). */
  runId?: string;
  /** Only rows whose reason contains this text (case-insensitive). */
  reason?: string;
}

/** Rows of one run a replay dealt with. */
export interface ReplayRunCount {
  runId: string;
  replayed: number;
  stillQuarantined: number;
  superseded: number;
}

/** What a replay did to the quarantine and the table (core/etl/replay.ts counts it). */
export interface ReplayOutcome {
  /** Rows the filters selected. */
  selected: number;
  /** Rows now in the table, out of quarantine (this replay's, a retried attempt's included). */
  replayed: number;
  /** Rows that still fail with this version: in quarantine with their new reason and spec version. */
  stillQuarantined: number;
  /**
   * Rows left as they were: in `replace` mode, rows of earlier runs, whose file is no longer the
   * table's content; in `merge` mode, rows whose key a later row may have written — a later row of
   * their own file (quarantined as a duplicate key), or a later load of the table that has the key.
   */
  superseded: number;
  /** `replace` mode: the run whose load is the table's content (null otherwise, or when none). */
  currentRun: string | null;
  /** Why rows stay, their values masked, most rows first (at most 20). */
  byReason: { reason: string; rows: number }[];
  /** The same counts run by run. */
  runs: ReplayRunCount[];
  /** An earlier attempt of this replay had committed (a retried activity). */
  alreadyCommitted: boolean;
}

/** What a quarantine replay did (the `replayQuarantine` activity; `heal quarantine replay --json`). */
export interface ReplayQuarantineResult extends ReplayOutcome {
  pipeline: string;
  table: string;
  /** `<table>__quarantine`. */
  quarantineTable: string;
  warehouse: string;
  specVersion: number;
  mode: 'replace' | 'append' | 'merge';
  replayId: string;
  durationMs: number;
}

/** Input of the `quarantineReplay` workflow (`heal quarantine replay`). */
export interface QuarantineReplayInput {
  pipeline: string;
  /** Only this run's rows (its run key). */
  runId?: string;
  /** Only rows whose reason contains this text (case-insensitive). */
  reason?: string;
}

/** What the `quarantineReplay` workflow returns: the activity's result and the workflow that ran it. */
export type QuarantineReplayResult = ReplayQuarantineResult & { workflowId: string };
