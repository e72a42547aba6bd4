/**
 * Fetching the histories behind a run or an episode from Temporal: the execution asked for, the
 * run's healing episode (its child), and the episode's attempt runs (one workflow id, one run per
 * attempt: followed from the first run through each failed run's `newExecutionRunId`, with a
 * visibility query as a fallback).
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { History } from '@temporalio/common/lib/proto-utils';
import { attemptIdOf } from '../../common/ids';
import { parseHistory, type ParsedExecution } from './parse';
import type { TimelineSources } from './timeline';

/** One execution's history with its ids (what a histories file holds, plus the run id). */
export interface FetchedHistory {
  workflowId: string;
  runId: string;
  history: History;
}

export class UnknownWorkflowError extends Error {
  override name = 'UnknownWorkflowError';
}

const isNotFound = (err: unknown): boolean =>
  err instanceof WorkflowNotFoundError ||
  (err instanceof Error && (err.name === 'WorkflowNotFoundError' || /not found/i.test(err.message)));

/** The history of one execution (the latest run when `runId` is not given). */
export async function fetchExecution(client: Client, workflowId: string, runId?: string): Promise<FetchedHistory> {
  const handle = client.workflow.getHandle(workflowId, runId);
  try {
    const id = runId ?? (await handle.describe()).runId;
    const history = await client.workflow.getHandle(workflowId, id).fetchHistory();
    return { workflowId, runId: id, history };
  } catch (err) {
    if (isNotFound(err)) {
      throw new UnknownWorkflowError(
        `no workflow execution ${workflowId}${runId ? ` (run ${runId})` : ''} in namespace ${client.options.namespace}`,
      );
    }
    throw err;
  }
}

/** Every run of an attempts workflow id, from its first run, following retries. */
async function attemptRuns(
  client: Client,
  attemptsId: string,
  firstRunId: string | null,
  seen: Map<string, FetchedHistory>,
): Promise<FetchedHistory[]> {
  const out: FetchedHistory[] = [];
  let next: string | null = firstRunId;
  while (next && !seen.has(next) && out.length < 100) {
    const h = await fetchExecution(client, attemptsId, next);
    seen.set(next, h);
    out.push(h);
    next = parseHistory(h.history, h).nextRunId;
  }
  if (out.length === 0) {
    // No start event to follow (e.g. asked about an attempt directly): list the runs by visibility.
    for await (const w of client.workflow.list({ query: `WorkflowId = '${attemptsId.replace(/'/g, "\\'")}'` })) {
      if (seen.has(w.runId)) continue;
      const h = await fetchExecution(client, attemptsId, w.runId);
      seen.set(w.runId, h);
      out.push(h);
    }
  }
  return out;
}

/** All histories behind a run / episode / attempt, parsed, plus the raw histories (for replay). */
export async function fetchSources(
  client: Client,
  workflowId: string,
  runId?: string,
): Promise<{ sources: TimelineSources; histories: FetchedHistory[] }> {
  const histories: FetchedHistory[] = [];
  const get = async (id: string, run?: string): Promise<ParsedExecution> => {
    const h = await fetchExecution(client, id, run);
    histories.push(h);
    return parseHistory(h.history, h);
  };
  const root = await get(workflowId, runId);
  // A scheduled run: follow its pipelineRun child.
  let run: ParsedExecution | null = null;
  if (root.type === 'scheduledRun') {
    const c = root.children.find((x) => x.type === 'pipelineRun' && x.runId);
    if (c?.runId) run = await get(c.workflowId, c.runId);
  } else if (root.type === 'pipelineRun') {
    run = root;
  }
  let episode: ParsedExecution | null = null;
  if (root.type === 'healingEpisode') episode = root;
  else if (root.type === 'healAttempt' && root.parent) {
    episode = await get(root.parent.workflowId, root.parent.runId || undefined).catch(() => null);
  } else if (run) {
    const c = run.children.find((x) => x.type === 'healingEpisode' && x.runId);
    if (c?.runId) episode = await get(c.workflowId, c.runId);
  }
  const attempts: ParsedExecution[] = [];
  if (episode) {
    const child = episode.children.find((x) => x.type === 'healAttempt');
    const attemptsId = child?.workflowId ?? attemptIdOf(episode.workflowId);
    const seen = new Map<string, FetchedHistory>();
    const firstRun = child?.runId ?? (root.type === 'healAttempt' ? root.firstExecutionRunId : null);
    if (child || root.type === 'healAttempt') {
      for (const h of await attemptRuns(client, attemptsId, firstRun, seen)) {
        if (!histories.some((x) => x.workflowId === h.workflowId && x.runId === h.runId)) histories.push(h);
        attempts.push(h.workflowId === root.workflowId && h.runId === root.runId ? root : parseHistory(h.history, h));
      }
    }
    if (root.type === 'healAttempt' && !attempts.includes(root)) attempts.push(root);
  }
  return { sources: { root, run, episode, attempts }, histories };
}

/** Group parsed executions from a set of histories (e.g. files) into timeline sources around a root. */
export function sourcesFromHistories(all: FetchedHistory[], rootIndex = 0): TimelineSources {
  const parsed = all.map((h) => parseHistory(h.history, h));
  const root = parsed[rootIndex] ?? parsed[0];
  if (!root) throw new Error('no history');
  const run = parsed.find((x) => x.type === 'pipelineRun') ?? null;
  const episode = parsed.find((x) => x.type === 'healingEpisode') ?? null;
  const attempts = parsed.filter((x) => x.type === 'healAttempt');
  return { root, run, episode, attempts };
}
