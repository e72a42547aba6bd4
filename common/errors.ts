/**
 * Domain errors of heal: one module, one `as const` list of failure types.
 *
 * Activities throw these classes; at the activity boundary {@link toApplicationFailure} turns them
 * into an `ApplicationFailure` whose `type` is one of {@link ERROR_TYPES}. Retry policies name the
 * non-retryable ones (see `common/policies.ts`), so a retry never repeats what cannot succeed.
 *
 * This module is deterministic (no Node APIs): workflows import it too.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { DriftReport } from './types';

export const ERROR_TYPES = [
  /** The source no longer fits the contract; details carry the classified {@link DriftReport}. */
  'SchemaDrift',
  /** A spec file or patched spec failed validation. */
  'SpecInvalid',
  /** No pipeline of that name. */
  'PipelineNotFound',
  /** Source file missing, unreadable, a directory, or not a supported format. */
  'SourceUnreadable',
  /** A path resolves outside the allowed roots. */
  'PathNotAllowed',
  /** More rows would go to quarantine than the pipeline's budget allows. */
  'QuarantineBudgetExceeded',
  /** The warehouse file is locked by another process (retryable). */
  'WarehouseBusy',
  /** The state directory cannot be written (read-only, disk full). */
  'StateUnwritable',
  /** A candidate patch did not hold on the real data; details carry `{ patch, report }`. Fails one attempt. */
  'VerificationFailed',
  /** The doctor's answer could not be used (malformed, invalid patch, forbidden expression). Fails one attempt. */
  'DoctorAnswerInvalid',
  /** No doctor can fix this drift (nothing to map, a required column gone, an empty file). Ends the episode. */
  'NoDiagnosis',
  /** An expression in a patch is not allowed (not parseable, or a node outside the allow-list). */
  'ExpressionRejected',
  /** Applying a verified version and reloading failed; the previous version was restored. */
  'ApplyFailed',
  /** The model endpoint refused the request for good (bad key, unknown model): thrown by the LLM doctor. */
  'LlmRequestRejected',
  /** A Slack (or other alert) delivery failed: retryable; the workflow records a final failure and goes on. */
  'NotificationFailed',
  /** GitHub answered 5xx, 429 or timed out (retryable, honouring Retry-After). */
  'GitHubUnavailable',
  /** GitHub refused the request for good (401/403 without rate limit, 404, 422): not retried. */
  'GitHubRequestRejected',
  /** A local `git` command failed (state directory repository). */
  'GitCommandFailed',
  /** A decision on an episode arrived when none is possible (not awaiting, already decided, unknown episode). */
  'DecisionRejected',
] as const;

export type ErrorType = (typeof ERROR_TYPES)[number];

/** Failure types that no retry can fix. Retry policies list them in `nonRetryableErrorTypes`. */
export const NON_RETRYABLE_ERROR_TYPES: ErrorType[] = [
  'SchemaDrift',
  'SpecInvalid',
  'PipelineNotFound',
  'SourceUnreadable',
  'PathNotAllowed',
  'QuarantineBudgetExceeded',
  'StateUnwritable',
  'NoDiagnosis',
  'ApplyFailed',
  'LlmRequestRejected',
  'GitHubRequestRejected',
  'DecisionRejected',
  // Same input, same answer: an activity never retries these; a new healing attempt may.
  'VerificationFailed',
  'DoctorAnswerInvalid',
  'ExpressionRejected',
];

/** Failure types that end a healing episode at once: no further attempt can fix them. */
export const EPISODE_FATAL_ERROR_TYPES: ErrorType[] = [
  'NoDiagnosis',
  'SpecInvalid',
  'PipelineNotFound',
  'SourceUnreadable',
  'PathNotAllowed',
  'StateUnwritable',
  'LlmRequestRejected',
];

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
    return NON_RETRYABLE_ERROR_TYPES.includes(this.type);
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

export class DecisionRejectedError extends HealError {
  readonly type = 'DecisionRejected' as const;
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
