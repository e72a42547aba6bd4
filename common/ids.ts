/**
 * Workflow ids heal uses, and the Web UI links to them, in one place. Deterministic (workflows import it too).
 *
 * One active run per pipeline: every workflow that loads a pipeline's table (a run, a manual
 * rollback, a scheduled run's child) uses the pipeline's lock id `pipeline-<name>`. Temporal keeps
 * workflow ids unique among running executions, so a second start is refused while one runs,
 * whatever starts it (CLI, schedule, another client).
 */

/** The id every table-changing workflow of a pipeline runs under. */
export function pipelineLockId(pipeline: string): string {
  return `pipeline-${pipeline}`;
}

/** Compact UTC stamp of a time: 20261125T224032123Z. */
export function timeStamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace('.', '');
}

/**
 * The key of one run: loads, quarantine rows and the healing episode are named after it. A run
 * under the lock id gets its start time appended (the lock id is reused by every run); any other
 * workflow id is unique already and is the key itself.
 */
export function runKeyOf(workflowId: string, pipeline: string, startTime: Date): string {
  return workflowId === pipelineLockId(pipeline) ? `${workflowId}-${timeStamp(startTime)}` : workflowId;
}

/** The healing episode of a run. */
export function episodeIdOf(runKey: string): string {
  return `${runKey}-heal`;
}

/**
 * A quarantine replay of a run key (the replay runs under the pipeline's lock id: it writes the
 * table): the run id of its load record.
 */
export function replayIdOf(runKey: string): string {
  return `${runKey}-replay`;
}

/** The attempts of an episode (one workflow id, one run per attempt). */
export function attemptIdOf(episodeId: string): string {
  return `${episodeId}-attempt`;
}

/** The Temporal Schedule of a pipeline. */
export function scheduleIdOf(pipeline: string): string {
  return `heal-${pipeline}`;
}

/** Web UI page listing the workflows of a namespace. `uiUrl` has no trailing slash (config strips it). */
export function workflowsUrl(uiUrl: string, namespace: string): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows`;
}

/** Web UI page of a workflow: its latest run, or one exact run when its Temporal run id is known. */
export function workflowUrl(uiUrl: string, namespace: string, workflowId: string, runId?: string | null): string {
  const base = `${workflowsUrl(uiUrl, namespace)}/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
}
