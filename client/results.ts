/**
 * Reading what a finished workflow did. A heal workflow that ends failed (a run not healed, a
 * rollback whose reload failed, a rejected episode) still says what it did: it fails with an
 * ApplicationFailure whose first detail is its result object, so the CLI reports a failed run with
 * the same fields as a successful one. And starting one under its pipeline's lock ({@link startUnderLock}).
 */
import { ApplicationFailure } from '@temporalio/common';
import { pipelineLockId } from '../common/ids';
import { temporalClient } from '../lib/lazy';
import { CliError, EXIT } from './context';

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

/**
 * Start a workflow that changes a pipeline's table under the pipeline's lock id
 * (`pipeline-<name>`). Another run holding it is `RunInProgress` (exit 1); `when` says what to
 * do once that run is done ("roll back", "replay its quarantine").
 */
export async function startUnderLock<H>(
  pipeline: string,
  when: string,
  start: (workflowId: string) => Promise<H>,
): Promise<{ id: string; handle: H }> {
  const id = pipelineLockId(pipeline);
  try {
    return { id, handle: await start(id) };
  } catch (err) {
    if (err instanceof temporalClient().WorkflowExecutionAlreadyStartedError)
      throw new CliError(
        `pipeline "${pipeline}" has a run in progress (${id}); ${when} when it is done (heal status ${pipeline})`,
        EXIT.failed,
        'RunInProgress',
      );
    throw err;
  }
}
