import type { Patch } from './patch';
import type { PolicyDecision } from './policy';
import type { ColumnType } from './spec';

/**
 * Small, serialisable shapes that cross the workflow/activity boundary. Nothing here carries rows:
 * only paths, names, versions, counts and short summaries (see DESIGN.md, "Rules of the road").
 */

/** The kinds of difference a drift report can classify. */
export const DRIFT_KINDS = [
  'missing-column',
  'unexpected-column',
  'renamed',
  'reordered',
  'type-change',
  'format-change',
  'null-values',
  'delimiter-change',
  'header-missing',
  'header-changed',
  'encoding-change',
  'empty-file',
  'no-rows',
  'truncated',
  'malformed-rows',
  /** A column's values moved beyond the silent drift check's bounds (a unit change, a centre shift, nulls, a category mix). */
  'distribution-shift',
  /** Rows that would load but are totals, subtotals or footers ("Total", "Grand total", "(c) 2026 …"), not data. */
  'summary-rows',
] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

/** One classified difference between the source and the spec's contract. */
export interface DriftDifference {
  kind: DriftKind;
  /** Contract column concerned, when there is one. */
  column?: string;
  /** Source column concerned, when there is one. */
  sourceColumn?: string;
  /** What the spec expects (a column name, a type, a format, a delimiter). */
  expected?: string;
  /** What the source has. */
  found?: string;
  /** Share of non-empty values that failed, for value-level differences (0..1). */
  failureRate?: number;
  /** A few offending values (bounded in count and length). */
  samples?: string[];
  /** The file it was seen in, for a source of many files (each file is checked on its own). */
  file?: string;
  /** A unit change's factor (now ÷ baseline; < 1: divided), when one known factor alone fits the move. */
  unitFactor?: number;
  /** One sentence a data engineer can act on. */
  detail: string;
}

/** What became of one file of a many-file run (a glob, a directory, the partitions of a fan-out). */
export type FileOutcomeKind =
  /** Loaded (its bad rows, within the budget, in quarantine). */
  | 'loaded'
  /** Drifted, healed on its own, loaded. */
  | 'healed'
  /** `append`/`merge`: this exact content was loaded by an earlier run; nothing done. */
  | 'skipped'
  /** Could not be loaded or healed: not in the table; a later run can load it once it is fixed. */
  | 'set-aside'
  /** Loadable, but not loaded: the run refused to replace the table without the files set aside. */
  | 'held';

export interface FileOutcome {
  file: string;
  outcome: FileOutcomeKind;
  rowsRead: number;
  rowsLoaded: number;
  rowsQuarantined: number;
  /** Why it was set aside, held or skipped. */
  reason?: string;
  /** Kinds of drift seen in this file (empty when none). */
  driftKinds?: string[];
  /** A fan-out's child workflow that loaded it. */
  workflowId?: string;
  /** The spec version it was read with, when not the run's. */
  specVersion?: number;
}

/** A file and why it was set aside. */
export interface FileNote {
  file: string;
  reason: string;
}

/** The shape of a source file as read: dialect and header. */
export interface SourceShape {
  format: 'csv' | 'json' | 'parquet';
  delimiter?: string;
  header?: boolean;
  encoding?: string;
  columns: string[];
  rows?: number;
}

/** A classified account of how a source no longer fits its pipeline's contract. */
export interface DriftReport {
  pipeline: string;
  specVersion: number;
  /** Source files checked (absolute paths). */
  sources: string[];
  /** One line: what changed and where. */
  summary: string;
  /** Distinct kinds present, in order of first appearance. */
  kinds: DriftKind[];
  differences: DriftDifference[];
  expected: SourceShape;
  found: SourceShape;
  /** When the drift was detected (ISO time, set by the activity that found it). */
  detectedAt?: string;
  /** A source of many files: the columns of each file as read (differences name their `file`). */
  files?: { file: string; columns: string[] }[];
}

/** Input of the `pipelineRun` workflow. */
export interface PipelineRunInput {
  pipeline: string;
  /** Overrides the spec's source path (file or glob) for this run only. */
  source?: string;
  /** Wait for a human decision before applying a fix, whatever the spec says (`heal run --review`). */
  review?: boolean;
  /** The source is a glob or directory of partitions: fan out one child workflow per file (`heal run --partitioned`). */
  partitioned?: boolean;
}

/** Input of the `manualRollback` workflow (`heal rollback`). */
export interface RollbackInput {
  pipeline: string;
  /** Version to restore. @default the version before the current one */
  toVersion?: number;
  /** Who asked, and why (recorded in the version history). */
  by?: string;
  reason?: string;
}

/** What a manual rollback did. */
export interface RollbackResult {
  pipeline: string;
  fromVersion: number;
  toVersion: number;
  rowsLoaded: number;
  rowsQuarantined: number;
  /** False when the reload failed (the version is restored; the table kept its previous contents). */
  reloaded: boolean;
  error: string | null;
}

/** What one load did (returned by the `loadSource` activity). */
/** What a load did with its files: shared by the ETL's result and the loadSource activity's. */
export interface LoadOutcome {
  /** The files loaded (not the ones skipped or set aside). */
  sources: string[];
  rowsRead: number;
  rowsLoaded: number;
  rowsQuarantined: number;
  /** Nothing was loaded: every file was loaded before (append, merge). */
  skipped: boolean;
  /** Each file of the source and what became of it (one entry for a one-file source). */
  files: FileOutcome[];
  /** Files not loaded because they could not be (only when the run allows a partial load). */
  setAside: FileNote[];
  /** Columns whose mix or range was not compared with the baseline: declared, or disjoint across the files. */
  partitionKeys: string[];
}

export interface LoadSummary extends LoadOutcome {
  pipeline: string;
  table: string;
  /** Absolute path of the warehouse DuckDB file. */
  warehouse: string;
  specVersion: number;
  mode: 'replace' | 'append' | 'merge';
  /** Where the profile of this load was written. */
  profilePath: string | null;
  durationMs: number;
  /** When the load's transaction committed (ISO time). */
  committedAt: string;
}

/** `partial`: a many-file run where some files were set aside (never green: exit 1, the workflow fails). */
export type RunOutcome = 'succeeded' | 'healed' | 'partial' | 'failed';

/** The result of a `pipelineRun`: exactly what `heal run --json` prints (plus nothing big). */
export interface PipelineRunResult {
  outcome: RunOutcome;
  workflowId: string;
  pipeline: string;
  table: string | null;
  warehouse: string | null;
  rowsLoaded: number;
  rowsQuarantined: number;
  specVersion: number | null;
  attempts: number;
  driftReport: DriftReport | null;
  /** Set when the outcome is `failed`. */
  error: { type: string; message: string } | null;
  skipped?: boolean;
  /** The healing episode's workflow id, when one ran. */
  episodeId?: string;
  /** Which doctor found the fix: rules, memory or llm. */
  doctor?: string | null;
  /** Drift detected → healed table committed, in milliseconds. */
  mttrMs?: number | null;
  /** The fix that was applied. */
  patch?: Patch | null;
  /** What `healing.policy` decided about the fix, op by op. */
  policies?: PolicyDecision[];
  /** Temporal run id of this run (the workflow id is shared by every run of the pipeline). */
  runId?: string;
  /** The run's key: loads and the episode are named after it. */
  runKey?: string;
  /** In review mode: the decision on the fix. */
  decision?: ApprovalDecision | null;
  /** The fix's pull request, when GitHub is configured. */
  prUrl?: string | null;
  /** A many-file run (a glob, a directory, `--partitioned`): every file and what became of it. */
  partitions?: FileOutcome[];
  /** Columns the files are split by (declared, or found disjoint across the files): not compared with the baseline. */
  partitionKeys?: string[];
  /** `--partitioned`: the fan-out's workflow id. */
  fanOutId?: string;
}

/** One check of a verification, with the figure it measured. */
export interface VerificationCheck {
  /** e.g. "contract", "rows-accounted", "quarantine-budget", "profile:income", "not-all-null:id". */
  name: string;
  passed: boolean;
  /** What was measured, e.g. "0.4%" or "median 1925 vs baseline 1925". */
  figure: string;
  /** The bound it was held to, e.g. "≤ 1%". */
  threshold?: string;
  detail?: string;
}

/** The result of proving a candidate spec on the whole drifted source in a scratch database. */
export interface VerificationReport {
  passed: boolean;
  candidateVersion: number;
  rowsRead: number;
  rowsLoaded: number;
  rowsQuarantined: number;
  checks: VerificationCheck[];
  /** One line: the first failed check, or "all N checks passed". */
  summary: string;
}

/** One healing attempt as the episode records it (small: the patch, the verdict, the figures). */
export interface AttemptRecord {
  attempt: number;
  doctor: string;
  patch: Patch | null;
  candidateVersion: number | null;
  report: VerificationReport | null;
  /** Why it failed (null when it succeeded). */
  error: string | null;
  /** Model tokens this attempt's diagnosis used (LLM doctor only). */
  usage?: { promptTokens: number; completionTokens: number; model: string };
  /** Drifted files of a many-file source this attempt found no fix for. */
  setAside?: FileNote[];
}

/** Input of `healingEpisode` and `healAttempt`. */
export interface HealingInput {
  pipeline: string;
  /** The version that no longer fits. */
  specVersion: number;
  drift: DriftReport;
  /** The drifted source (path or glob). */
  source: string;
  /** Attempts per episode (the child workflow's retry policy). */
  maxAttempts: number;
  /** `review`: wait for approve/reject before applying a verified fix. @default "auto" */
  mode?: 'auto' | 'review';
  /** In `review` mode, how long to wait for a decision before it counts as rejected (ms). @default 72h */
  approvalTimeoutMs?: number;
  /** Workflow id of the run that started the episode (for links and alerts). */
  runId?: string;
  /**
   * A many-file run that may end partial: a drifted file with no fix, or a file over its quarantine
   * budget, is set aside and the others are healed and loaded. @default false (one such file fails the episode)
   */
  allowPartial?: boolean;
  /** A partition's episode: the other files of the source, compared with instead of the whole's baseline. */
  peers?: { version: number; files: string[] };
}

/** What a successful attempt hands back to its episode. */
export interface AttemptResult {
  attempt: number;
  candidateVersion: number;
  doctor: string;
  patch: Patch;
  rationale: string[];
  report: VerificationReport;
  /** Every attempt of the episode so far, this one last. */
  attempts: AttemptRecord[];
  /** Drifted files with no fix, set aside (the run may end partial): the fix was verified without them. */
  setAside?: FileNote[];
  /** What `healing.policy` made of the fix's ops; one `review` makes the episode wait for approval. */
  policies?: PolicyDecision[];
}

export type EpisodeOutcome = 'healed' | 'failed' | 'rolled-back' | 'rejected';

/** The result of a healing episode. */
export interface EpisodeResult {
  outcome: EpisodeOutcome;
  episodeId: string;
  pipeline: string;
  attempts: AttemptRecord[];
  /** The version now current (the healed one, or the unchanged one). */
  specVersion: number;
  doctor: string | null;
  patch: Patch | null;
  rowsLoaded: number;
  rowsQuarantined: number;
  /** Drift detected → healed table committed, in milliseconds (null unless healed). */
  mttrMs: number | null;
  /** Why it failed, one line (null when healed). */
  error: string | null;
  /** The verified candidate version (null when no attempt passed verification). */
  candidateVersion?: number | null;
  /** In `review` mode: who decided, how, and when. */
  decision?: ApprovalDecision | null;
  /** The pull request of the fix, when GitHub is configured. */
  pullRequest?: PublishFixResult | null;
  /** Alerts sent for this episode (a failed notification is recorded here, never fatal). */
  notifications?: NotificationRecord[];
  /** Files of a many-file source set aside: no fix found, or over the quarantine budget. */
  setAside?: FileNote[];
  /** The reload's files and what became of each. */
  files?: FileOutcome[];
  /** The reload's columns the files are split by. */
  partitionKeys?: string[];
  /** What `healing.policy` decided about the fix (which policy allowed, held for review, or refused each op). */
  policies?: PolicyDecision[];
}

/** A human (or the pull request, or the timeout) deciding on a verified fix in `review` mode. */
export interface ApprovalDecision {
  decision: 'approve' | 'reject';
  /** Who decided ("alice", "github:alice", "timeout"). */
  by: string;
  reason: string | null;
  via: 'cli' | 'pull-request' | 'timeout';
  /** ISO time (workflow time). */
  at: string;
}

/** Outcomes an alert is sent for: an episode's, and a run's that ended `partial` (files set aside). */
export type EpisodeNoticeOutcome = 'healed' | 'failed' | 'awaiting-approval' | 'rolled-back' | 'rejected' | 'partial';

/** Input of the `notifyEpisode` activity: one alert about an episode (small: no rows). */
export interface EpisodeNotice {
  pipeline: string;
  episodeId: string;
  /** Workflow id of the pipeline run that started the episode. */
  runId: string;
  outcome: EpisodeNoticeOutcome;
  drift: { summary: string; kinds: string[] };
  /** The fix (render each op with `describeOp` from common/patch). */
  patch: Patch | null;
  doctor: string | null;
  /** What `healing.policy` decided about the fix (render with `describeDecisions` from common/policy). */
  policies?: PolicyDecision[];
  /** The last verification report. */
  report: VerificationReport | null;
  attempts: number;
  maxAttempts: number;
  /** The version that no longer fit. */
  baseVersion: number;
  candidateVersion: number | null;
  /** The version current after this outcome. */
  specVersion: number;
  mttrMs: number | null;
  prUrl: string | null;
  error: string | null;
  /** ISO time of the outcome (workflow time). */
  at: string;
  /** Files of a many-file source set aside (not loaded), and why. */
  setAside?: FileNote[];
}

/** What `notifyEpisode` did. */
export interface NotifyResult {
  /** sent; grouped (a same pipeline+drift alert went out within the window); disabled (no webhook). */
  status: 'sent' | 'grouped' | 'disabled';
  detail?: string;
}

/** One alert as the episode records it. */
export interface NotificationRecord {
  channel: 'slack' | 'github';
  outcome: EpisodeNoticeOutcome;
  status: 'sent' | 'grouped' | 'disabled' | 'failed';
  error?: string;
}

/** Input of the `publishFix` activity: the verified fix of an episode, for review on GitHub. */
export interface PublishFixInput {
  pipeline: string;
  episodeId: string;
  runId: string;
  baseVersion: number;
  candidateVersion: number;
  drift: DriftReport;
  attempts: AttemptRecord[];
  doctor: string;
  patch: Patch;
  report: VerificationReport;
  mode: 'auto' | 'review';
}

/** What `publishFix` did: the pull request (found again on a retry), or nothing when GitHub is not configured. */
export interface PublishFixResult {
  status: 'opened' | 'found' | 'disabled';
  prUrl: string | null;
  prNumber: number | null;
  branch: string | null;
}

/** Input of the `awaitPullRequestDecision` activity (review mode with GitHub). */
export interface AwaitPullRequestInput {
  pipeline: string;
  episodeId: string;
  prNumber: number;
}

/** Input of the `recordRun` activity: one finished pipeline run, for metrics. */
export interface RunRecord {
  run: PipelineRunResult;
  /** ISO times (workflow time). */
  startedAt: string;
  finishedAt: string;
  /** The healing episode, when one ran. */
  episode: EpisodeResult | null;
}

/** Per-column profile of loaded data (see core/etl/profile.ts). */
export interface ColumnProfile {
  name: string;
  type: ColumnType;
  count: number;
  nullRate: number;
  distinct: number;
  distinctRatio: number;
  min: number | string | null;
  max: number | string | null;
  /** Numbers as they are; dates and timestamps as days since 1970-01-01. */
  mean: number | null;
  median: number | null;
  stddev: number | null;
  length: { min: number; max: number; mean: number } | null;
  /** Distinct months and days of month (dates and timestamps). */
  dateParts?: { months: number; days: number } | null;
  /** Shape classes of values (letters -> a, digits -> 9, runs collapsed), most common first. */
  patterns: { pattern: string; share: number }[];
  /** Most common values with their share, for low-cardinality columns (≤ 50 distinct). */
  topValues: { value: string; share: number }[] | null;
}

export interface TableProfile {
  rows: number;
  columns: ColumnProfile[];
  /**
   * Columns the load's files were split by (declared, or found disjoint across them): a later load
   * — one file of such a source, a batch — is not judged on their mix or range either.
   */
  partitionKeys?: string[];
}

/** A previous attempt of this episode, fed back to the doctor ("your fix, and why it failed"). */
export interface PreviousAttempt {
  attempt: number;
  doctor: string;
  patch: Patch | null;
  /** The verification report when the patch was verified and failed. */
  report: VerificationReport | null;
  /** Why the attempt failed, one line (a failed check, a parse error of a model's answer, …). */
  error: string;
}
