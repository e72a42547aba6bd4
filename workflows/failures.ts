/**
 * Reading failures in workflow code: an activity's or child workflow's failure, unwrapped to its
 * cause. One place for what every heal workflow needs. Deterministic.
 */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/workflow';

export interface FailureInfo {
  /** The ApplicationFailure's type ("SchemaDrift", …), or "Error". */
  type: string;
  message: string;
  details: unknown[];
}

/** The cause of an activity/child failure (or the error itself), as type, message and details. */
export function failureOf(err: unknown): FailureInfo {
  const c = err instanceof ActivityFailure || err instanceof ChildWorkflowFailure ? err.cause : err;
  if (c instanceof ApplicationFailure)
    return { type: c.type ?? 'Error', message: c.message, details: [...(c.details ?? [])] };
  return { type: 'Error', message: c instanceof Error ? c.message : String(c ?? err), details: [] };
}

/** Just the cause's message. */
export function messageOf(err: unknown): string {
  return failureOf(err).message;
}
