/**
 * Reading what a finished workflow did. A heal workflow that ends failed (a run not healed, a
 * rollback whose reload failed, a rejected episode) still says what it did: it fails with an
 * ApplicationFailure whose first detail is its result object, so the CLI reports a failed run with
 * the same fields as a successful one.
 */
import { temporalClient } from '../lib/lazy';
import { ApplicationFailure } from '@temporalio/common';

/** Why a workflow failed: the error, and the workflow's own message (not the SDK's "Workflow execution failed"). */
export interface WorkflowFailure {
  error: unknown;
  message: string;
}

/** How a workflow ended: completed, failed with its result in the failure, or failed with no result to show. */
export type WorkflowEnd<T> =
  | { result: T; failure?: undefined }
  | { result: T; failure: WorkflowFailure }
  | { result: undefined; failure: WorkflowFailure };

/**
 * Wait for a workflow and read its result, from its failure's first detail when it failed. Never
 * throws: an error that is not a workflow failure (a lost connection) is a failure with no result.
 */
export async function workflowEnd<T extends object>(handle: { result(): Promise<T> }): Promise<WorkflowEnd<T>> {
  try {
    return { result: await handle.result() };
  } catch (error) {
    const cause = error instanceof temporalClient().WorkflowFailedError ? error.cause : undefined;
    const failure = { error, message: cause ? cause.message : String(error) };
    const result = resultInFailure<T>(error);
    return result ? { result, failure } : { result: undefined, failure };
  }
}

/** The result object a failed heal workflow carries as its failure's first detail, if any. */
export function resultInFailure<T extends object>(error: unknown): T | undefined {
  const cause = error instanceof temporalClient().WorkflowFailedError ? error.cause : undefined;
  const detail: unknown = cause instanceof ApplicationFailure ? cause.details?.[0] : undefined;
  return detail !== null && typeof detail === 'object' ? (detail as T) : undefined;
}
