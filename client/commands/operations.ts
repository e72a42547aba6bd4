/**
 * Operations from the terminal: approvals (`approve`, `reject`, `pending`), `status`, `versions`,
 * `rollback`, and schedules (`schedule create|list|describe|pause|unpause|trigger|backfill|delete`).
 */
import type { Client, ScheduleDescription, ScheduleSpec } from '@temporalio/client';
import { ApplicationFailure, type Duration } from '@temporalio/common';
import * as os from 'node:os';
import { temporalClient } from '../../lib/lazy';
import type { Command } from 'commander';
import { openStore, type SpecRepository } from '../../store';
import type { HistoryRecord } from '../../store/spec-store';
import { formatDuration, parseDuration } from '../../common/duration';
import { pipelineLockId, scheduleIdOf, workflowUrl } from '../../common/ids';
import { HEAL_OUTCOME, PIPELINE_NAME } from '../../common/search-attributes';
import type { ApprovalDecision, RollbackResult } from '../../common/types';
import type { manualRollback, scheduledRun } from '../../workflows';
import { decideUpdate, progressQuery, type Progress } from '../../workflows/messages';
import { CliError, EXIT, type CliContext } from '../context';
import { bold, dim, green, red, yellow, print } from '../output';
import { startUnderLock, workflowEnd } from '../results';
import { openSession, type TemporalSession } from '../temporal';

type Ctx = (json?: boolean) => CliContext;

async function withSession<T>(c: CliContext, fn: (s: TemporalSession) => Promise<T>): Promise<T> {
  const s = await openSession(c.config, c.log);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

async function requirePipeline(c: CliContext, name: string): Promise<SpecRepository> {
  const store = openStore(c.config).specs;
  await store.current(name); // PipelineNotFound → exit 2
  return store;
}

// ---------------------------------------------------------------------------------------------
// Approvals

/** A pending episode as `heal pending` shows it. */
export interface PendingApproval {
  episodeId: string;
  pipeline: string;
  candidateVersion: number | null;
  awaitingSince: string | null;
  deadline: string | null;
  detail: string;
  url: string;
}

/** Episodes waiting for a decision (visibility query + each one's progress). */
export async function listPending(client: Client, c: CliContext, pipeline?: string): Promise<PendingApproval[]> {
  const q =
    `WorkflowType = 'healingEpisode' AND ExecutionStatus = 'Running' AND HealOutcome = 'awaiting-approval'` +
    (pipeline ? ` AND PipelineName = '${pipeline.replace(/'/g, "\\'")}'` : '');
  const out: PendingApproval[] = [];
  for await (const wf of client.workflow.list({ query: q })) {
    let p: Progress | undefined;
    try {
      p = await client.workflow.getHandle(wf.workflowId, wf.runId).query(progressQuery);
    } catch {
      p = undefined;
    }
    if (p && p.stage !== 'awaiting-approval') continue; // decided since the index was written
    const name = wf.typedSearchAttributes.get(PIPELINE_NAME) ?? p?.pipeline ?? '?';
    out.push({
      episodeId: wf.workflowId,
      pipeline: name,
      candidateVersion: p?.candidateVersion ?? null,
      awaitingSince: p?.awaitingSince ?? null,
      deadline: p?.deadline ?? null,
      detail: p?.detail ?? '',
      url: workflowUrl(c.config.uiUrl, c.config.namespace, wf.workflowId),
    });
  }
  return out;
}

/**
 * The episode a decision is for: an episode id as given, or — given a pipeline name or its run id —
 * the episode its active run waits on.
 */
async function resolveEpisode(client: Client, target: string): Promise<string> {
  if (target.endsWith('-heal')) return target;
  const runId = target.startsWith('pipeline-') ? target : pipelineLockId(target);
  try {
    const p = await client.workflow.getHandle(runId).query(progressQuery);
    if (p.childId && p.stage === 'awaiting-approval') return p.childId;
    throw new CliError(
      `${runId} is not awaiting a decision (${p.stage}: ${p.detail}); see \`heal pending\``,
      EXIT.failed,
      'DecisionRejected',
    );
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(
      `no episode "${target}" is awaiting a decision (not an episode id, and no active run of a pipeline by that name); see \`heal pending\``,
      EXIT.badInput,
      'EpisodeNotFound',
    );
  }
}

async function decide(
  c: CliContext,
  target: string,
  decision: 'approve' | 'reject',
  o: { by?: string; reason?: string; json?: boolean },
): Promise<number> {
  return withSession(c, async (s) => {
    const episodeId = await resolveEpisode(s.client, target);
    const handle = s.client.workflow.getHandle(episodeId);
    try {
      const d = await handle.describe();
      if (d.type !== 'healingEpisode')
        throw new CliError(`${episodeId} is a ${d.type}, not a healing episode`, EXIT.badInput, 'EpisodeNotFound');
      if (d.status.name !== 'RUNNING') {
        throw new CliError(
          `episode ${episodeId} is no longer waiting (${d.status.name.toLowerCase()}); nothing to ${decision}`,
          EXIT.failed,
          'DecisionRejected',
        );
      }
    } catch (err) {
      if (err instanceof temporalClient().WorkflowNotFoundError)
        throw new CliError(`no episode "${episodeId}"; see \`heal pending\``, EXIT.badInput, 'EpisodeNotFound');
      throw err;
    }
    // The Update is validated by the workflow: a worker must be there to answer it.
    const ownWorker = await s.ensurePoller();
    let recorded: ApprovalDecision;
    try {
      recorded = await handle.executeUpdate(decideUpdate, {
        args: [{ decision, by: o.by ?? os.userInfo().username, ...(o.reason ? { reason: o.reason } : {}) }],
      });
    } catch (err) {
      if (err instanceof temporalClient().WorkflowUpdateFailedError) {
        const m = err.cause instanceof ApplicationFailure ? err.cause.message : err.message;
        throw new CliError(m, EXIT.failed, 'DecisionRejected');
      }
      throw err;
    }
    // When this process runs the only worker, stay until the episode has applied (or not).
    let outcome: string | undefined;
    if (ownWorker) {
      c.log('waiting for the episode to finish (this process runs the worker)');
      const end = await workflowEnd<{ outcome?: string }>(handle);
      outcome = end.result?.outcome ?? 'failed';
    }
    const verb = decision === 'approve' ? 'approved' : 'rejected';
    print(o.json, { episodeId, ...recorded, ...(outcome ? { outcome } : {}) }, () =>
      [
        `${decision === 'approve' ? green('✔') : yellow('✖')} ${verb} ${bold(episodeId)} as ${recorded.by}${recorded.reason ? ` (${recorded.reason})` : ''}`,
        decision === 'approve'
          ? dim('  the episode applies the verified version and reloads the table')
          : dim('  the table and the current version stay as they are'),
        ...(outcome ? [`  episode outcome: ${outcome}`] : []),
        dim(`  ${workflowUrl(c.config.uiUrl, c.config.namespace, episodeId)}`),
      ].join('\n'),
    );
    return EXIT.ok;
  });
}

// ---------------------------------------------------------------------------------------------
// Versions

/** A small line diff (LCS) of two texts: lines prefixed "+ ", "- " (context lines dropped). */
export function lineDiff(before: string, after: string): string[] {
  const a = before.split('\n');
  const b = after.split('\n');
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      i++;
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) out.push(`- ${a[i++]}`);
    else out.push(`+ ${b[j++]}`);
  }
  while (i < n) out.push(`- ${a[i++]}`);
  while (j < m) out.push(`+ ${b[j++]}`);
  return out;
}

export interface VersionView {
  version: number;
  current: boolean;
  reason: string;
  createdAt: string;
  episodeId: string | null;
  doctor: string | null;
  parent: number | null;
  /** Line diff from the parent version's YAML (or the previous version). */
  diff: string[];
  /** Times this version was made current, and why. */
  madeCurrent: { at: string; reason: string; previous: number | null }[];
}

export async function versionsOf(store: SpecRepository, name: string): Promise<VersionView[]> {
  const history: HistoryRecord[] = await store.history(name);
  const current = await store.currentVersion(name);
  const texts = new Map<number, string>();
  for (const v of await store.versions(name)) texts.set(v.version, await store.text(name, v.version).catch(() => ''));
  const text = (v: number) => texts.get(v) ?? '';
  return (await store.versions(name)).map((v) => {
    const parent = typeof v.parent === 'number' ? v.parent : v.version > 1 ? v.version - 1 : null;
    return {
      version: v.version,
      current: v.version === current,
      reason: v.reason,
      createdAt: v.createdAt,
      episodeId: v.episodeId ?? null,
      doctor: v.doctor ?? null,
      parent,
      diff: parent ? lineDiff(text(parent), text(v.version)).filter((l) => !/^[-+] # heal pipeline spec/.test(l)) : [],
      madeCurrent: history
        .filter((h) => h.event === 'current' && h.version === v.version)
        .map((h) => ({
          at: (h as { at: string }).at,
          reason: h.reason,
          previous: (h as { previous: number | null }).previous,
        })),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Schedules

function scheduleSpecOf(o: { every?: string; cron?: string }): ScheduleSpec {
  if (!!o.every === !!o.cron)
    throw new CliError(
      'give exactly one of --every <duration> (e.g. 1h, 15m) or --cron "<expression>"',
      EXIT.badInput,
      'BadInput',
    );
  if (o.every) {
    const ms = parseDuration(o.every);
    if (ms === undefined || ms < 1000)
      throw new CliError(`--every: not a duration: "${o.every}" (try 1h, 15m, 1d)`, EXIT.badInput, 'BadInput');
    return { intervals: [{ every: ms as Duration }] };
  }
  return { cronExpressions: [o.cron as string] };
}

function describeSchedule(d: ScheduleDescription) {
  const spec = d.spec;
  const every = spec.intervals?.map((i) => `every ${formatDuration(Number(i.every))}`) ?? [];
  const cron = spec.calendars?.length ? [`calendar ${JSON.stringify(spec.calendars)}`] : [];
  return {
    scheduleId: d.scheduleId,
    pipeline: d.scheduleId.replace(/^heal-/, ''),
    spec: [...every, ...cron].join('; ') || 'none',
    paused: d.state.paused,
    note: d.state.note ?? null,
    overlap: String(d.policies.overlap),
    nextRuns: d.info.nextActionTimes.slice(0, 5).map((t) => t.toISOString()),
    recentRuns: d.info.recentActions.slice(-5).map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      takenAt: a.takenAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
    })),
    running: d.info.runningActions.map((a) => a.workflow.workflowId),
    actions: d.info.numActionsTaken,
    skippedOverlap: d.info.numActionsSkippedOverlap,
  };
}

/**
 * A copy of a pipeline's schedule in the state directory (`schedules/<pipeline>.json`), so the
 * dashboard shows it without a Temporal server. Temporal's schedule is the truth.
 */
async function mirrorSchedule(
  c: CliContext,
  pipeline: string,
  v: ReturnType<typeof describeSchedule> | null,
): Promise<void> {
  await openStore(c.config).schedules.save(
    pipeline,
    v ? { schedule: v.spec, paused: v.paused, scheduleId: v.scheduleId } : null,
  );
}

async function scheduleHandle(s: TemporalSession, pipeline: string) {
  const h = s.client.schedule.getHandle(scheduleIdOf(pipeline));
  try {
    return { h, d: await h.describe() };
  } catch (err) {
    if (err instanceof temporalClient().ScheduleNotFoundError)
      throw new CliError(
        `pipeline "${pipeline}" has no schedule (create one: heal schedule create ${pipeline} --every 1h)`,
        EXIT.badInput,
        'ScheduleNotFound',
      );
    throw err;
  }
}

function registerSchedule(program: Command, ctx: Ctx): void {
  const schedule = program
    .command('schedule')
    .description('run pipelines on Temporal Schedules (one per pipeline; overlapping runs are skipped)');

  schedule
    .command('create')
    .description('create the schedule of a pipeline')
    .argument('<pipeline>', 'pipeline name')
    .option('--every <duration>', 'interval, e.g. 15m, 1h, 1d')
    .option('--cron <expression>', 'cron expression, e.g. "0 * * * *"')
    .option('--paused', 'create it paused')
    .option('--note <text>', 'a note shown with the schedule')
    .option('--json', 'print JSON')
    .action(
      async (
        pipeline: string,
        o: { every?: string; cron?: string; paused?: boolean; note?: string; json?: boolean },
      ) => {
        const c = ctx(o.json);
        await requirePipeline(c, pipeline);
        const spec = scheduleSpecOf(o);
        await withSession(c, async (s) => {
          try {
            await s.client.schedule.create({
              scheduleId: scheduleIdOf(pipeline),
              spec,
              action: {
                type: 'startWorkflow',
                workflowType: 'scheduledRun' satisfies keyof { scheduledRun: typeof scheduledRun },
                workflowId: `${pipelineLockId(pipeline)}-scheduled`,
                taskQueue: c.config.taskQueue,
                args: [{ pipeline }],
                typedSearchAttributes: [{ key: PIPELINE_NAME, value: pipeline }],
                staticSummary: `scheduled run of ${pipeline}`,
              },
              policies: { overlap: temporalClient().ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
              state: { paused: Boolean(o.paused), ...(o.note ? { note: o.note } : {}) },
            });
          } catch (err) {
            if (err instanceof temporalClient().ScheduleAlreadyRunning) {
              throw new CliError(
                `pipeline "${pipeline}" already has a schedule (${scheduleIdOf(pipeline)}); delete it first or pause/unpause it`,
                EXIT.badInput,
                'ScheduleExists',
              );
            }
            throw err;
          }
          const { d } = await scheduleHandle(s, pipeline);
          const v = describeSchedule(d);
          await mirrorSchedule(c, pipeline, v);
          print(
            o.json,
            v,
            () =>
              `${green('✔')} schedule ${bold(v.scheduleId)}: ${v.spec}, overlap ${v.overlap}${v.paused ? ', paused' : ''}; next ${v.nextRuns[0] ?? '—'}`,
          );
        });
      },
    );

  schedule
    .command('list')
    .description("list heal's schedules")
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const c = ctx(o.json);
      await withSession(c, async (s) => {
        const out: ReturnType<typeof describeSchedule>[] = [];
        for await (const sch of s.client.schedule.list()) {
          if (!sch.scheduleId.startsWith('heal-')) continue;
          out.push(describeSchedule(await s.client.schedule.getHandle(sch.scheduleId).describe()));
        }
        print(o.json, { schedules: out }, () =>
          out.length
            ? out
                .map(
                  (v) =>
                    `${bold(v.pipeline)}  ${v.spec}${v.paused ? yellow(' (paused)') : ''}  next ${v.nextRuns[0] ?? '—'}  runs ${v.actions}`,
                )
                .join('\n')
            : 'no schedules',
        );
      });
    });

  const simple = (
    name: string,
    description: string,
    fn: (h: Awaited<ReturnType<typeof scheduleHandle>>['h'], o: { note?: string }) => Promise<void>,
    done: string,
  ) =>
    schedule
      .command(name)
      .description(description)
      .argument('<pipeline>', 'pipeline name')
      .option('--note <text>', 'why (recorded on the schedule)')
      .option('--json', 'print JSON')
      .action(async (pipeline: string, o: { note?: string; json?: boolean }) => {
        const c = ctx(o.json);
        await withSession(c, async (s) => {
          const { h } = await scheduleHandle(s, pipeline);
          await fn(h, o);
          if (name === 'delete') await mirrorSchedule(c, pipeline, null);
          if (name === 'delete')
            return print(
              o.json,
              { scheduleId: scheduleIdOf(pipeline), deleted: true },
              () => `${green('✔')} ${done} ${scheduleIdOf(pipeline)}`,
            );
          const v = describeSchedule(await h.describe());
          await mirrorSchedule(c, pipeline, v);
          print(o.json, v, () => `${green('✔')} ${done} ${v.scheduleId}${v.paused ? ' (paused)' : ''}`);
        });
      });

  simple('pause', 'pause the schedule of a pipeline', (h, o) => h.pause(o.note ?? 'paused with heal'), 'paused');
  simple(
    'unpause',
    'unpause the schedule of a pipeline',
    (h, o) => h.unpause(o.note ?? 'unpaused with heal'),
    'unpaused',
  );
  simple(
    'trigger',
    'start a scheduled run now (skipped if a run of the pipeline is active)',
    (h) => h.trigger(),
    'triggered',
  );
  simple('delete', 'delete the schedule of a pipeline', (h) => h.delete(), 'deleted');

  schedule
    .command('describe')
    .description('show a schedule: spec, next and recent runs')
    .argument('<pipeline>', 'pipeline name')
    .option('--json', 'print JSON')
    .action(async (pipeline: string, o: { json?: boolean }) => {
      const c = ctx(o.json);
      await withSession(c, async (s) => {
        const v = describeSchedule((await scheduleHandle(s, pipeline)).d);
        print(o.json, v, () =>
          [
            `${bold(v.scheduleId)} (${v.pipeline}): ${v.spec}, overlap ${v.overlap}${v.paused ? yellow(', paused') : ''}${v.note ? ` — ${v.note}` : ''}`,
            `  next: ${v.nextRuns.join(', ') || '—'}`,
            `  runs taken: ${v.actions}, skipped for overlap: ${v.skippedOverlap}${v.running.length ? `, running: ${v.running.join(', ')}` : ''}`,
            ...v.recentRuns.map((r) => `  recent: ${r.scheduledAt} → ${r.workflowId}`),
          ].join('\n'),
        );
      });
    });

  schedule
    .command('backfill')
    .description('run the schedule for a past time range (runs one after another)')
    .argument('<pipeline>', 'pipeline name')
    .requiredOption('--from <time>', 'start (ISO time)')
    .requiredOption('--to <time>', 'end (ISO time)')
    .option('--json', 'print JSON')
    .action(async (pipeline: string, o: { from: string; to: string; json?: boolean }) => {
      const c = ctx(o.json);
      const start = new Date(o.from);
      const end = new Date(o.to);
      if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start) {
        throw new CliError('--from and --to must be ISO times with --from before --to', EXIT.badInput, 'BadInput');
      }
      await withSession(c, async (s) => {
        const { h } = await scheduleHandle(s, pipeline);
        await h.backfill([{ start, end, overlap: temporalClient().ScheduleOverlapPolicy.BUFFER_ALL }]);
        print(
          o.json,
          { scheduleId: scheduleIdOf(pipeline), backfill: { from: start.toISOString(), to: end.toISOString() } },
          () =>
            `${green('✔')} backfill of ${scheduleIdOf(pipeline)} from ${start.toISOString()} to ${end.toISOString()} requested`,
        );
      });
    });
}

// ---------------------------------------------------------------------------------------------

export function registerOperationCommands(program: Command, ctx: Ctx): void {
  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(decision)
      .description(
        `${decision} the verified fix an episode waits on (review mode); give the episode id or the pipeline name`,
      )
      .argument('<episode>', 'episode id (…-heal) or pipeline name')
      .option('--by <name>', 'who decides (default: your user name)')
      .option('--reason <text>', 'why (recorded in the history, the alert and the result)')
      .option('--json', 'print JSON')
      .action(async (target: string, o: { by?: string; reason?: string; json?: boolean }) => {
        process.exitCode = await decide(ctx(o.json), target, decision, o);
      });
  }

  program
    .command('pending')
    .description('list episodes waiting for approve/reject')
    .option('--pipeline <name>', 'only this pipeline')
    .option('--json', 'print JSON')
    .action(async (o: { pipeline?: string; json?: boolean }) => {
      const c = ctx(o.json);
      await withSession(c, async (s) => {
        const pending = await listPending(s.client, c, o.pipeline);
        print(o.json, { pending }, () =>
          pending.length
            ? pending
                .map(
                  (p) =>
                    `${yellow('⏸')} ${bold(p.pipeline)} ${p.episodeId}: candidate v${p.candidateVersion ?? '?'}, waiting since ${p.awaitingSince ?? '?'}, times out ${p.deadline ?? '?'}\n    heal approve ${p.episodeId}   |   heal reject ${p.episodeId} --reason "…"\n    ${dim(p.url)}`,
                )
                .join('\n')
            : 'nothing is waiting for a decision',
        );
      });
    });

  program
    .command('status')
    .description("a pipeline's current version, last runs, schedule and any pending approval")
    .argument('<pipeline>', 'pipeline name')
    .option('--runs <n>', 'how many recent runs', (v) => Number.parseInt(v, 10), 5)
    .option('--json', 'print JSON')
    .action(async (pipeline: string, o: { runs: number; json?: boolean }) => {
      const c = ctx(o.json);
      const store = await requirePipeline(c, pipeline);
      const cur = await store.current(pipeline);
      await withSession(c, async (s) => {
        const runs: {
          workflowId: string;
          runId: string;
          type: string;
          status: string;
          outcome: string | null;
          startTime: string;
          closeTime: string | null;
          url: string;
        }[] = [];
        const q = `PipelineName = '${pipeline.replace(/'/g, "\\'")}' AND WorkflowType IN ('pipelineRun', 'manualRollback', 'quarantineReplay')`;
        for await (const wf of s.client.workflow.list({ query: q })) {
          runs.push({
            workflowId: wf.workflowId,
            runId: wf.runId,
            type: wf.type,
            status: wf.status.name,
            outcome: wf.typedSearchAttributes.get(HEAL_OUTCOME) ?? null,
            startTime: wf.startTime.toISOString(),
            closeTime: wf.closeTime?.toISOString() ?? null,
            url: workflowUrl(c.config.uiUrl, c.config.namespace, wf.workflowId, wf.runId),
          });
          if (runs.length >= o.runs) break;
        }
        let active: Progress | null = null;
        try {
          active = await s.client.workflow.getHandle(pipelineLockId(pipeline)).query(progressQuery);
          if (active.stage === 'done') active = null;
        } catch {
          active = null;
        }
        let schedule: ReturnType<typeof describeSchedule> | null = null;
        try {
          schedule = describeSchedule(await s.client.schedule.getHandle(scheduleIdOf(pipeline)).describe());
        } catch {
          schedule = null;
        }
        const pending = await listPending(s.client, c, pipeline);
        const out = {
          pipeline,
          specVersion: cur.version,
          mode: cur.spec.healing.mode,
          table: cur.spec.target.table,
          source: cur.spec.source.path,
          active,
          runs,
          schedule,
          pending,
        };
        const mark = (r: (typeof runs)[number]) =>
          r.status === 'RUNNING' ? yellow('…') : r.status === 'COMPLETED' ? green('✔') : red('✖');
        print(o.json, out, () =>
          [
            `${bold(pipeline)}: spec v${cur.version} (${cur.spec.healing.mode} mode) → ${cur.spec.target.table}, source ${cur.spec.source.path}`,
            active ? `  active: ${active.workflow} ${active.stage}: ${active.detail}` : '  active: none',
            schedule
              ? `  schedule: ${schedule.spec}${schedule.paused ? ' (paused)' : ''}, next ${schedule.nextRuns[0] ?? '—'}`
              : '  schedule: none',
            ...(pending.length
              ? pending.map(
                  (p) =>
                    `  ${yellow('awaiting approval')}: ${p.episodeId} (candidate v${p.candidateVersion ?? '?'}, times out ${p.deadline ?? '?'})`,
                )
              : []),
            runs.length ? '  recent runs:' : '  recent runs: none',
            ...runs.map(
              (r) =>
                `    ${mark(r)} ${r.startTime} ${r.type} ${r.status.toLowerCase()}${r.outcome ? ` (${r.outcome})` : ''}  ${dim(r.url)}`,
            ),
          ].join('\n'),
        );
      });
    });

  program
    .command('versions')
    .description("a pipeline's spec versions with what changed (diffs), why and when they were current")
    .argument('<pipeline>', 'pipeline name')
    .option('--json', 'print JSON')
    .action(async (pipeline: string, o: { json?: boolean }) => {
      const c = ctx(o.json);
      const store = await requirePipeline(c, pipeline);
      const versions = await versionsOf(store, pipeline);
      print(o.json, { pipeline, versions }, () =>
        versions
          .map((v) =>
            [
              `${v.current ? green('●') : ' '} ${bold(`v${v.version}`)} ${v.createdAt} ${v.reason}${v.doctor ? ` (${v.doctor})` : ''}${v.episodeId ? dim(` ${v.episodeId}`) : ''}${v.current ? green(' current') : ''}`,
              ...v.madeCurrent.map((m) => dim(`    made current ${m.at}: ${m.reason}`)),
              ...v.diff.map((l) => `    ${l.startsWith('+') ? green(l) : red(l)}`),
            ].join('\n'),
          )
          .join('\n'),
      );
    });

  program
    .command('rollback')
    .description('restore a spec version and reload the table (a workflow; recorded like any version change)')
    .argument('<pipeline>', 'pipeline name')
    .option('--to <version>', 'version to restore (default: the one before the current)', (v) => Number.parseInt(v, 10))
    .option('--by <name>', 'who asks (default: your user name)')
    .option('--reason <text>', 'why')
    .option('--json', 'print JSON')
    .action(async (pipeline: string, o: { to?: number; by?: string; reason?: string; json?: boolean }) => {
      const c = ctx(o.json);
      const store = await requirePipeline(c, pipeline);
      const cur = await store.currentVersion(pipeline);
      const to = o.to ?? cur - 1;
      const known = await store.versions(pipeline);
      if (!Number.isInteger(to) || to < 1 || !known.some((v) => v.version === to)) {
        throw new CliError(
          `${pipeline} has no version v${to} (versions: ${known.map((v) => `v${v.version}`).join(', ')})`,
          EXIT.badInput,
          'BadInput',
        );
      }
      if (to === cur) throw new CliError(`${pipeline} is at v${cur} already`, EXIT.badInput, 'BadInput');
      process.exitCode = await withSession(c, async (s) => {
        const { id, handle } = await startUnderLock(pipeline, 'roll back', (workflowId) =>
          s.client.workflow.start<typeof manualRollback>('manualRollback', {
            taskQueue: c.config.taskQueue,
            workflowId,
            args: [
              {
                pipeline,
                toVersion: to,
                by: o.by ?? os.userInfo().username,
                ...(o.reason ? { reason: o.reason } : {}),
              },
            ],
            staticSummary: `rollback ${pipeline} v${cur} → v${to}`,
          }),
        );
        await s.ensureWorker(id);
        const { result: r, failure } = await workflowEnd<RollbackResult>(handle);
        if (failure) {
          const { message } = failure;
          print(
            o.json,
            {
              outcome: 'failed',
              ...(r ?? { pipeline, fromVersion: cur, toVersion: to }),
              error: { type: 'RollbackFailed', message },
            },
            () => `${red('✖')} rollback of ${pipeline} to v${to} failed: ${message}`,
          );
          return EXIT.failed;
        }
        print(
          o.json,
          { outcome: 'rolled-back', ...r },
          () =>
            `${green('✔')} ${bold(pipeline)} rolled back v${r.fromVersion} → v${r.toVersion}; ${r.rowsLoaded} rows loaded, ${r.rowsQuarantined} quarantined`,
        );
        return EXIT.ok;
      });
    });

  registerSchedule(program, ctx);
}
