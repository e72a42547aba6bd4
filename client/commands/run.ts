import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import * as path from 'node:path';
import { openStore } from '../../store';
import { formatDuration } from '../../common/duration';
import { pipelineLockId } from '../../common/ids';
import type { PipelineRunResult } from '../../common/types';
import { temporalClient } from '../../lib/lazy';
import { checkSourceFile, isGlob } from '../../lib/paths';
import type { pipelineRun } from '../../workflows';
import { progressQuery, type Progress } from '../../workflows/messages';
import { CliError, EXIT, type CliContext } from '../context';
import { dim, formatRunResult } from '../output';
import { workflowEnd } from '../results';
import { openSession, type TemporalSession } from '../temporal';

/**
 * The workflow id of a pipeline's runs: one per pipeline, so Temporal refuses a second run of the
 * same pipeline while one is active (see common/ids.ts). Kept for callers that name runs.
 */
export function runWorkflowId(name: string): string {
  return pipelineLockId(name);
}

export interface RunOptions {
  source?: string;
  json?: boolean;
  /** Wait for approve/reject before applying a fix (review mode for this run). */
  review?: boolean;
  /** Fan out over the files of a glob or directory source, one child workflow each. */
  partitioned?: boolean;
}

export async function runRun(ctx: CliContext, name: string, o: RunOptions): Promise<number> {
  // Bad input is caught here, before Temporal is involved: one line, exit 2.
  const current = await openStore(ctx.config).specs.current(name);
  const source = o.source ? path.resolve(o.source) : undefined;
  if (source && !isGlob(source) && !o.partitioned) checkSourceFile(source, ctx.config.allowedRoots);

  const started = Date.now();
  const session = await openSession(ctx.config, ctx.log);
  try {
    const live = o.json ? undefined : liveProgress(session, name);
    let result: PipelineRunResult;
    try {
      result = await executeRun(session, ctx, name, source, {
        review: o.review,
        partitioned: o.partitioned,
        summary: `run ${name} (spec v${current.version}${o.review || current.spec.healing.mode === 'review' ? ', review' : ''}) from ${source ?? current.spec.source.path}`,
        onStarted: (h) => live?.start(h),
      });
    } finally {
      live?.stop();
    }
    if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else console.log(formatRunResult(result, { links: ctx.config, seconds: (Date.now() - started) / 1000 }));
    return result.outcome === 'succeeded' || result.outcome === 'healed' ? EXIT.ok : EXIT.failed;
  } finally {
    await session.close();
  }
}

export interface ExecuteRunOptions {
  review?: boolean;
  partitioned?: boolean;
  /** The Web UI's summary of the run. */
  summary?: string;
  /** Called once the workflow has started. */
  onStarted?: (handle: WorkflowHandle<typeof pipelineRun>) => void;
}

/**
 * Start a `pipelineRun` under the pipeline's lock id, make sure a worker runs it, and wait for its
 * result (failed runs included). A run of the same pipeline already in progress → `RunInProgress`.
 */
export async function executeRun(
  session: TemporalSession,
  ctx: Pick<CliContext, 'config' | 'log'>,
  name: string,
  source?: string,
  opts: ExecuteRunOptions = {},
): Promise<PipelineRunResult> {
  const workflowId = pipelineLockId(name);
  let handle: WorkflowHandleWithFirstExecutionRunId<typeof pipelineRun>;
  try {
    handle = await session.client.workflow.start<typeof pipelineRun>('pipelineRun', {
      taskQueue: ctx.config.taskQueue,
      workflowId,
      args: [
        {
          pipeline: name,
          ...(source ? { source } : {}),
          ...(opts.review ? { review: true } : {}),
          ...(opts.partitioned ? { partitioned: true } : {}),
        },
      ],
      staticSummary: opts.summary ?? `run ${name}`,
      staticDetails: `Pipeline \`${name}\`, started by \`heal run\` at ${new Date().toISOString()}${source ? `, source \`${source}\`` : ''}.`,
    });
  } catch (err) {
    if (err instanceof temporalClient().WorkflowExecutionAlreadyStartedError) throw await runInProgress(session, name);
    throw err;
  }
  ctx.log(`started ${workflowId} (run ${handle.firstExecutionRunId})`);
  opts.onStarted?.(handle);
  await session.ensureWorker(workflowId);
  const { result, failure } = await workflowEnd(handle);
  // A failed run still reports what it did; only a failure that carries no result is an error here.
  if (result) return result;
  throw failure.error;
}

/** The clear refusal of a second concurrent run, saying what the active one is doing. */
async function runInProgress(session: TemporalSession, name: string): Promise<CliError> {
  const id = pipelineLockId(name);
  let what = '';
  try {
    const p = await session.client.workflow.getHandle(id).query(progressQuery);
    what = ` (${p.workflow}, ${p.stage}: ${p.detail}; started ${p.startedAt})`;
  } catch {
    what = '';
  }
  return new CliError(
    `pipeline "${name}" already has a run in progress: ${id}${what}. One run per pipeline at a time: wait for it (heal status ${name}), or approve/reject a waiting fix (heal pending).`,
    EXIT.failed,
    'RunInProgress',
  );
}

/**
 * Live progress on stderr while a run works: stage, attempt, elapsed, by querying the run (and its
 * episode and attempt). On a terminal one line is rewritten; otherwise a line per change.
 */
function liveProgress(
  session: TemporalSession,
  name: string,
): { start: (h: WorkflowHandle) => void; stop: () => void } {
  const tty = Boolean(process.stderr.isTTY);
  let timer: NodeJS.Timeout | undefined;
  let last = '';
  let busy = false;
  const t0 = Date.now();
  const show = ({ what, line }: { what: string; line: string }) => {
    if (tty) process.stderr.write(`\r\u001b[2K${dim(line)}`);
    else if (what !== last) process.stderr.write(`heal: ${line}\n`);
    last = what;
  };
  const describe = async (h: WorkflowHandle): Promise<{ what: string; line: string }> => {
    let p: Progress = await h.query(progressQuery);
    // Follow the work down: the run → its episode → the current attempt.
    const follow = (q: Progress) =>
      Boolean(q.childId) &&
      ((q.workflow === 'pipelineRun' && ['healing', 'awaiting-approval'].includes(q.stage)) ||
        (q.workflow === 'healingEpisode' && q.stage === 'attempting'));
    for (let depth = 0; depth < 2 && follow(p); depth++) {
      try {
        p = await session.client.workflow.getHandle(p.childId ?? '').query(progressQuery);
      } catch {
        break;
      }
    }
    const what = `${p.stage}: ${p.detail}`;
    return { what, line: `${name} [${formatDuration(Date.now() - t0)}] ${what}` };
  };
  return {
    start(h) {
      timer = setInterval(() => {
        if (busy) return;
        busy = true;
        describe(h)
          .then(show, () => undefined)
          .finally(() => {
            busy = false;
          });
      }, 1000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      if (tty && last) process.stderr.write('\r\u001b[2K');
    },
  };
}
