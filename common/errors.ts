/**
 * Domain errors of heal: one module, one table of failure types.
 *
 * Activities throw these classes; at the activity boundary {@link toApplicationFailure} turns them
 * into an `ApplicationFailure` whose `type` is a key of {@link ERRORS}, the one table that says of each
 * type whether a retry can help and whether it ends a healing episode. Retry policies derive their
 * non-retryable lists from it (see `common/policies.ts`), so a retry never repeats what cannot succeed.
 *
 * This module is deterministic (no Node APIs): workflows import it too.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { DriftReport } from './types';

/** What a failure type means to a retry and to a healing episode. */
export interface ErrorKind {
  /** Temporal may retry the activity that failed with it (the same input may succeed later). */
  retryable: boolean;
  /** A healing episode ends at once: no further attempt, with any doctor, can fix it. */
  endsEpisode: boolean;
  /** When it is thrown. */
  when: string;
}

/**
 * Every failure type that crosses an activity or workflow boundary, once. The retry policies'
 * `nonRetryableErrorTypes` and the episode's fatal list are derived from it, and a test checks that
 * every `ApplicationFailure` type the code creates is here.
 */
export const ERRORS = {
  SchemaDrift: {
    retryable: false,
    endsEpisode: false,
    when: 'the source no longer fits the contract; details carry the classified DriftReport',
  },
  SpecInvalid: { retryable: false, endsEpisode: true, when: 'a spec file or a patched spec failed validation' },
  PipelineNotFound: { retryable: false, endsEpisode: true, when: 'no pipeline of that name' },
  SourceUnreadable: {
    retryable: false,
    endsEpisode: true,
    when: 'the source is missing, unreadable, a directory, or not a supported format',
  },
  PathNotAllowed: { retryable: false, endsEpisode: true, when: 'a path resolves outside the allowed roots' },
  QuarantineBudgetExceeded: {
    retryable: false,
    endsEpisode: false,
    when: "more rows would go to quarantine than the pipeline's budget allows",
  },
  WarehouseBusy: {
    retryable: true,
    endsEpisode: false,
    when: 'the warehouse file is locked by another process, or a PostgreSQL table stayed locked past the lock timeout',
  },
  DatabaseUnreachable: {
    retryable: true,
    endsEpisode: false,
    when: 'the PostgreSQL server (warehouse or state store) refused the connection, restarted or dropped it',
  },
  DatabaseAuthFailed: {
    retryable: false,
    endsEpisode: true,
    when: 'the PostgreSQL server refused the credentials (wrong user or password, no access to the database)',
  },
  StateUnwritable: {
    retryable: false,
    endsEpisode: true,
    when: 'the state directory cannot be written (read-only, disk full)',
  },
  // Same input, same answer: an activity never retries these three; a new healing attempt may.
  VerificationFailed: {
    retryable: false,
    endsEpisode: false,
    when: 'a candidate patch did not hold on the real data; details carry { patch, report }',
  },
  DoctorAnswerInvalid: {
    retryable: false,
    endsEpisode: false,
    when: "the doctor's answer could not be used (malformed, invalid patch, forbidden expression)",
  },
  ExpressionRejected: {
    retryable: false,
    endsEpisode: false,
    when: 'an expression in a patch is not parseable or has a node outside the allow-list',
  },
  NoDiagnosis: {
    retryable: false,
    endsEpisode: true,
    when: 'no doctor can fix this drift (nothing to map, a required column gone, an empty file)',
  },
  ApplyFailed: {
    retryable: false,
    endsEpisode: false,
    when: 'applying a verified version and reloading failed; the previous version was restored',
  },
  LlmUnavailable: {
    retryable: true,
    endsEpisode: false,
    when: 'the model endpoint answered 408/409/429/5xx, timed out or could not be reached (Retry-After honoured)',
  },
  LlmRequestRejected: {
    retryable: false,
    endsEpisode: true,
    when: 'the model endpoint refused the request for good (bad key, unknown model)',
  },
  NotificationFailed: {
    retryable: true,
    endsEpisode: false,
    when: 'a Slack (or webhook) alert was not delivered; the workflow records it and goes on',
  },
  GitHubUnavailable: {
    retryable: true,
    endsEpisode: false,
    when: 'GitHub answered 5xx or 429, or timed out (Retry-After honoured)',
  },
  GitHubRequestRejected: {
    retryable: false,
    endsEpisode: false,
    when: 'GitHub refused the request for good (401/403 without rate limit, 404, 422)',
  },
  GitCommandFailed: { retryable: true, endsEpisode: false, when: 'a local git command failed (the spec repository)' },
  DecisionRejected: {
    retryable: false,
    endsEpisode: false,
    when: 'a decision arrived when none is possible (not awaiting, already decided, unknown episode)',
  },
  // Thrown by workflows: how a run, an attempt, an episode or a rollback ended.
  PipelineFailed: {
    retryable: false,
    endsEpisode: false,
    when: 'a pipeline run ended failed; the first detail is its PipelineRunResult',
  },
  PartialLoad: {
    retryable: false,
    endsEpisode: false,
    when: 'a many-file run set files aside and loaded the rest; the first detail is its result',
  },
  PartitionedRunFailed: {
    retryable: false,
    endsEpisode: false,
    when: 'a fanned-out run loaded nothing, or a partial replace was refused',
  },
  HealingFailed: {
    retryable: false,
    endsEpisode: false,
    when: 'a healing episode ended without a fix; the first detail is its EpisodeResult',
  },
  FixRejected: {
    retryable: false,
    endsEpisode: false,
    when: 'in review mode, the fix was rejected (or the approval timed out)',
  },
  RollbackFailed: {
    retryable: false,
    endsEpisode: false,
    when: 'a manual rollback did not load with the version asked for; the pointer was restored',
  },
  ReplayRefused: {
    retryable: false,
    endsEpisode: false,
    when: "a quarantine replay cannot insert into the table as it is (gone, or its columns are not the current contract's)",
  },
  RunInProgress: {
    retryable: false,
    endsEpisode: false,
    when: 'another run of the pipeline is active (heal run refuses to start a second)',
  },
} as const satisfies Record<string, ErrorKind>;

export type ErrorType = keyof typeof ERRORS;

export const ERROR_TYPES = Object.keys(ERRORS) as ErrorType[];

/** Failure types that no retry can fix. Retry policies list them in `nonRetryableErrorTypes`. */
export const NON_RETRYABLE_ERROR_TYPES: ErrorType[] = ERROR_TYPES.filter((t) => !ERRORS[t].retryable);

/** Failure types that end a healing episode at once: no further attempt can fix them. */
export const EPISODE_FATAL_ERROR_TYPES: ErrorType[] = ERROR_TYPES.filter((t) => ERRORS[t].endsEpisode);

/** Base class: every domain error has a `type` from {@link ERROR_TYPES} and optional details. */
export abstract class HealError extends Error {
  abstract readonly type: ErrorType;
  /** Small, serialisable details carried into the `ApplicationFailure`. */
  readonly details: unknown;

  constructor(message: string, details?: unknown) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }

  get nonRetryable(): boolean {
    return !ERRORS[this.type].retryable;
  }
}

export class SchemaDriftError extends HealError {
  readonly type = 'SchemaDrift' as const;
  declare readonly details: DriftReport;
  constructor(report: DriftReport) {
    super(report.summary, report);
  }
}

export class SpecInvalidError extends HealError {
  readonly type = 'SpecInvalid' as const;
  declare readonly details: { issues: string[] };
  constructor(where: string, issues: string[]) {
    super(`${where}: invalid spec: ${issues.join('; ')}`, { issues });
  }
}

export class PipelineNotFoundError extends HealError {
  readonly type = 'PipelineNotFound' as const;
  constructor(name: string, known: string[] = []) {
    super(
      `no pipeline named "${name}"` +
        (known.length
          ? ` (known: ${known.join(', ')})`
          : ' (none yet: create one with `heal init <name> --source <file>`)'),
    );
  }
}

export class SourceUnreadableError extends HealError {
  readonly type = 'SourceUnreadable' as const;
}

export class PathNotAllowedError extends HealError {
  readonly type = 'PathNotAllowed' as const;
  constructor(path: string, roots: string[]) {
    super(`${path}: outside the allowed roots (${roots.join(', ')}); set HEAL_ALLOWED_ROOTS to allow it`, {
      path,
      roots,
    });
  }
}

export class QuarantineBudgetExceededError extends HealError {
  readonly type = 'QuarantineBudgetExceeded' as const;
}

export class WarehouseBusyError extends HealError {
  readonly type = 'WarehouseBusy' as const;
}

/** Thrown when a PostgreSQL connection is refused or lost; names the host, never the password. */
export class DatabaseUnreachableError extends HealError {
  readonly type = 'DatabaseUnreachable' as const;
}

/** Thrown when PostgreSQL refuses the credentials of HEAL_WAREHOUSE / HEAL_STORE. */
export class DatabaseAuthFailedError extends HealError {
  readonly type = 'DatabaseAuthFailed' as const;
}

export class StateUnwritableError extends HealError {
  readonly type = 'StateUnwritable' as const;
}

export class VerificationFailedError extends HealError {
  readonly type = 'VerificationFailed' as const;
}

export class DoctorAnswerInvalidError extends HealError {
  readonly type = 'DoctorAnswerInvalid' as const;
}

export class NoDiagnosisError extends HealError {
  readonly type = 'NoDiagnosis' as const;
}

export class ExpressionRejectedError extends HealError {
  readonly type = 'ExpressionRejected' as const;
}

export class ApplyFailedError extends HealError {
  readonly type = 'ApplyFailed' as const;
}

export class NotificationFailedError extends HealError {
  readonly type = 'NotificationFailed' as const;
}

export class GitHubUnavailableError extends HealError {
  readonly type = 'GitHubUnavailable' as const;
}

export class GitHubRequestRejectedError extends HealError {
  readonly type = 'GitHubRequestRejected' as const;
}

export class GitCommandFailedError extends HealError {
  readonly type = 'GitCommandFailed' as const;
}

/** The model endpoint refused the request for good (401, 403, 404, 400, 422): thrown by the LLM doctor. */
export class LlmRequestRejectedError extends HealError {
  readonly type = 'LlmRequestRejected' as const;
}

export class DecisionRejectedError extends HealError {
  readonly type = 'DecisionRejected' as const;
}

/** A quarantine replay would insert rows into a table that is gone or no longer has the contract's columns. */
export class ReplayRefusedError extends HealError {
  readonly type = 'ReplayRefused' as const;
}

/** Turn a domain error into the `ApplicationFailure` that crosses the activity boundary. */
export function toApplicationFailure(err: HealError): ApplicationFailure {
  return ApplicationFailure.create({
    message: err.message,
    type: err.type,
    nonRetryable: err.nonRetryable,
    details: err.details === undefined ? [] : [err.details],
  });
}

/** Wrap any thrown value at the activity boundary: domain errors become typed failures. */
export function asActivityFailure(err: unknown): unknown {
  return err instanceof HealError ? toApplicationFailure(err) : err;
}

export function isErrorType(value: string | undefined | null): value is ErrorType {
  return value != null && (ERROR_TYPES as readonly string[]).includes(value);
}
