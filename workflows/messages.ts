/**
 * Queries, updates and signals of heal's workflows, defined once so the workflows and the CLI share
 * them. Deterministic (no Node APIs).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalDecision } from '../common/types';

/** Where a workflow is now: shown by `heal run` (live), `heal status` and `heal pending`. */
export interface Progress {
  /** Workflow type ("pipelineRun", "healingEpisode", "healAttempt", "manualRollback", "scheduledRun", "quarantineReplay"). */
  workflow: string;
  pipeline: string;
  /**
   * "starting", "loading", "healing", "diagnosing", "proposing", "verifying", "publishing",
   * "awaiting-approval", "applying", "reloading", "rolling-back", "replaying", "done".
   */
  stage: string;
  /** One line, as in the Web UI's current details ("attempt 2/3: verifying candidate v7"). */
  detail: string;
  /** The run key (loads are named after it) or the episode id. */
  key: string;
  /** Child workflow doing the work now (the episode of a run, the attempts of an episode). */
  childId?: string;
  attempt?: number;
  maxAttempts?: number;
  candidateVersion?: number | null;
  /** In review mode while waiting: when the wait started and when it times out (ISO). */
  awaitingSince?: string;
  deadline?: string;
  decision?: ApprovalDecision | null;
  /** When the workflow started (ISO, workflow time). */
  startedAt: string;
}

export const progressQuery = defineQuery<Progress>('progress');

/** The decision on a verified fix in `review` mode. */
export interface DecisionInput {
  decision: 'approve' | 'reject';
  /** Who decides. @default "cli" user name */
  by?: string;
  reason?: string;
}

/** Approve or reject a waiting episode's fix (an Update: validated, answered with the recorded decision). */
export const decideUpdate = defineUpdate<ApprovalDecision, [DecisionInput]>('decide');

/** From an episode to its run: the episode waits for approval (or stopped waiting). */
export const episodeStageSignal = defineSignal<[{ stage: 'awaiting-approval' | 'healing' }]>('episodeStage');
