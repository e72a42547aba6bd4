import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import * as path from 'node:path';
import { SpecStore } from '../../activities/spec-store';
import type { PipelineRunResult } from '../../common/types';
import { checkSourceFile, isGlob } from '../../lib/paths';
import type { pipelineRun } from '../../workflows';
import { EXIT, type CliContext } from '../context';
import { formatRunResult, workflowUrl } from '../output';
import { openSession, type TemporalSession } from '../temporal';

/** A readable, sortable, unique-enough workflow id: pipeline-<name>-<UTC time>. */
export function runWorkflowId(name: string, now = new Date()): string {
  return `pipeline-${name}-${now.toISOString().replace(/[-:]/g, '').replace('.', '')}`;
}

/** The run's result from a completed or failed workflow. */
export function resultOf(err: unknown): PipelineRunResult | undefined {
  if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
    const d = err.cause.details?.[0] as PipelineRunResult | undefined;
    if (d && typeof d === 'object' && 'outcome' in d) return d;
  }
  return undefined;
}

export async function runRun(ctx: CliContext, name: string, o: { source?: string; json?: boolean }): Promise<number> {
  // Bad input is caught here, before Temporal is involved: one line, exit 2.
  const store = new SpecStore(ctx.config.home);
  store.current(name);
  const source = o.source ? path.resolve(o.source) : undefined;
  if (source && !isGlob(source)) checkSourceFile(source, ctx.config.allowedRoots);

  const started = Date.now();
  const session = await openSession(ctx.config, ctx.log);
  try {
    const result = await executeRun(session, ctx, name, source);
    if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      const url = workflowUrl(ctx.config.uiUrl, ctx.config.namespace, result.workflowId);
      console.log(formatRunResult(result, { url, seconds: (Date.now() - started) / 1000 }));
    }
    return result.outcome === 'failed' ? EXIT.failed : EXIT.ok;
  } finally {
    await session.close();
  }
}

/** Start a `pipelineRun`, make sure a worker runs it, and wait for its result (failed runs included). */
export async function executeRun(
  session: TemporalSession,
  ctx: Pick<CliContext, 'config' | 'log'>,
  name: string,
  source?: string,
): Promise<PipelineRunResult> {
  const workflowId = runWorkflowId(name);
  const handle = await session.client.workflow.start<typeof pipelineRun>('pipelineRun', {
    taskQueue: ctx.config.taskQueue,
    workflowId,
    args: [{ pipeline: name, ...(source ? { source } : {}) }],
  });
  ctx.log(`started ${workflowId}`);
  await session.ensureWorker(workflowId);
  try {
    return await handle.result();
  } catch (err) {
    const r = resultOf(err);
    if (r) return r;
    throw err;
  }
}
