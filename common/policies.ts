/**
 * Timeouts, retry policies and task priorities, as named profiles in one place. Workflows pick a
 * profile by name; nothing else sets a timeout, a retry policy or a priority.
 */
import type { ActivityOptions, Priority, RetryPolicy } from '@temporalio/common';
import { NON_RETRYABLE_ERROR_TYPES } from './errors';

/** Retry for activities doing I/O on files and the warehouse: transient failures back off. */
export const IO_RETRY: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: 5,
  nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
};

export const ACTIVITY_PROFILES = {
  /** Reading a spec, moving a pointer: small and fast. */
  quick: {
    startToCloseTimeout: '1 minute',
    retry: IO_RETRY,
  },
  /**
   * The doctor: rules are fast on a sample; a model may take a minute, and 429/5xx/timeouts back off
   * and retry. A later attempt reads the whole source (minutes on a big file): it heartbeats, so a
   * lost worker is noticed within the heartbeat timeout, not the start-to-close one.
   */
  doctor: {
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '1 minute',
    retry: { ...IO_RETRY, initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 6 },
  },
  /** A whole load of a source: stage, cast, write, profile. Heartbeats while DuckDB works. */
  etl: {
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '1 minute',
    retry: IO_RETRY,
  },
  /**
   * Alerts (Slack): short, a few quick retries; a notification that still fails is recorded by the
   * workflow and never fails the episode.
   */
  notify: {
    startToCloseTimeout: '30 seconds',
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '10 seconds',
      maximumAttempts: 4,
      nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
    },
  },
  /** GitHub (branch, commit, pull request): backs off on 5xx and rate limits; idempotent per episode. */
  github: {
    startToCloseTimeout: '2 minutes',
    retry: {
      initialInterval: '2 seconds',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 6,
      nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
    },
  },
  /** Watching a pull request for merge/close while an episode waits for approval: long, heartbeating. */
  watch: {
    startToCloseTimeout: '30 days',
    heartbeatTimeout: '2 minutes',
    retry: { ...IO_RETRY, maximumAttempts: Number.POSITIVE_INFINITY },
  },
} as const satisfies Record<string, ActivityOptions>;

/** How often long activities heartbeat (well inside the `etl` heartbeat timeout). */
export const HEARTBEAT_INTERVAL_MS = 10_000;

/**
 * Task priority of healing (an episode, a partition's attempt, and through them their attempts and
 * activities, which inherit it): with many pipelines drifting at once on busy workers, a drift
 * already found is diagnosed, proven and applied before more sources are read, so each episode's
 * time to heal is its own work, not the whole backlog's. Temporal's keys run from 1 (first) to 5;
 * everything else runs at the default, 3.
 */
export const HEALING_PRIORITY: Priority = { priorityKey: 2 };

/**
 * Retry of the `healAttempt` child workflow: each retry is the next healing attempt. The episode
 * sets `maximumAttempts` (the pipeline's healing.maxAttempts) and the fatal error types.
 */
export const ATTEMPT_RETRY: RetryPolicy = {
  initialInterval: '200 milliseconds',
  backoffCoefficient: 1,
  maximumInterval: '1 second',
};
