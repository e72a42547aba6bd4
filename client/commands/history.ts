/**
 * `heal inspect`, `heal replay`, `heal histories export`: everything read from Temporal's history
 * (never a side database).
 *
 *  - `heal inspect <workflowId> [--run-id ID] [--json]`: a run (latest run of `pipeline-<name>` by
 *    default) with its healing episode and attempts, or an episode, as a timeline.
 *  - `heal replay <workflowId> [--run-id ID] [--with-children] | --file <history.json|dir>`:
 *    replay against the current workflow code → "deterministic" (exit 0) or the divergence (exit 1).
 *    Hidden `--workflows-path <file>`: replay against another workflows file (tests).
 *  - `heal histories export --query '<visibility query>' --out <dir> [--limit N]`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { stateLayout } from '../../store/layout';
import { ensureDir } from '../../lib/atomic-files';
import { CliError, EXIT, type CliContext } from '../context';
import type * as FetchModule from '../history/fetch';
import type { FetchedHistory } from '../history/fetch';
import type * as ReplayModule from '../history/replay';
import type { ReplayResult } from '../history/replay';
import type * as TimelineModule from '../history/timeline';
import { bold, dim, green, red, yellow } from '../output';
import { openSession, type TemporalSession } from '../temporal';

type Ctx = (json?: boolean) => CliContext;

/** The history modules, loaded when a command of this file runs (CLI start-up time). */
function lib(): typeof FetchModule & typeof ReplayModule & typeof TimelineModule {
  /* eslint-disable @typescript-eslint/no-require-imports -- lazy load */
  return {
    ...(require('../history/fetch') as typeof FetchModule),
    ...(require('../history/replay') as typeof ReplayModule),
    ...(require('../history/timeline') as typeof TimelineModule),
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
}

function unknown(err: unknown): never {
  const name = err instanceof Error ? err.name : '';
  if (name === 'UnknownWorkflowError') throw new CliError((err as Error).message, EXIT.badInput, 'UnknownWorkflow');
  if (name === 'HistoryFileError') throw new CliError((err as Error).message, EXIT.badInput, 'BadHistoryFile');
  throw err;
}

async function withSession<T>(ctx: CliContext, fn: (s: TemporalSession) => Promise<T>): Promise<T> {
  const session = await openSession(ctx.config, ctx.log);
  try {
    return await fn(session);
  } catch (err) {
    return unknown(err);
  } finally {
    await session.close();
  }
}

export interface InspectOptions {
  /** A given run of the workflow id. @default the latest run */
  runId?: string;
  json?: boolean;
  /** Leave the event list out of the human output. @default false */
  brief?: boolean;
}

export async function runInspect(ctx: CliContext, workflowId: string, o: InspectOptions): Promise<number> {
  const { buildTimeline, fetchSources, formatTimeline } = lib();
  const timeline = await withSession(ctx, async (s) =>
    buildTimeline((await fetchSources(s.client, workflowId, o.runId)).sources),
  );
  if (o.json) process.stdout.write(`${JSON.stringify(timeline)}\n`);
  else console.log(formatTimeline(timeline, { paint: { green, red, yellow, dim, bold }, events: !o.brief }));
  return EXIT.ok;
}

export interface ReplayCliOptions {
  runId?: string;
  /** History file (`{workflowId, history}` or a bare history), or a directory of them. */
  file?: string;
  /** Also replay the episode and attempt histories of a run. @default false */
  withChildren?: boolean;
  /** Workflow id of a bare history file (not in the history itself). @default inferred from the history's child ids, else the file name */
  workflowId?: string;
  /** Replay against this workflows file instead of heal's (hidden; for tests). */
  workflowsPath?: string;
  json?: boolean;
}

export async function runReplay(ctx: CliContext, workflowId: string | undefined, o: ReplayCliOptions): Promise<number> {
  if (!workflowId && !o.file)
    throw new CliError('give a workflow id or --file <history.json>', EXIT.badInput, 'BadInput');
  if (o.workflowId && !o.file) throw new CliError('--workflow-id goes with --file', EXIT.badInput, 'BadInput');
  if (workflowId && o.file)
    throw new CliError('give either a workflow id or --file, not both', EXIT.badInput, 'BadInput');
  if (o.workflowsPath && !fs.existsSync(o.workflowsPath))
    throw new CliError(`${o.workflowsPath}: no such workflows file`, EXIT.badInput, 'BadInput');
  const { fetchExecution, fetchSources, loadHistoryFiles, replayHistories } = lib();
  let histories: FetchedHistory[];
  if (o.file) {
    try {
      histories = loadHistoryFiles(o.file, o.workflowId);
    } catch (err) {
      return unknown(err);
    }
  } else {
    const id = workflowId ?? '';
    histories = await withSession(ctx, async (s) =>
      o.withChildren
        ? (await fetchSources(s.client, id, o.runId)).histories
        : [await fetchExecution(s.client, id, o.runId)],
    );
  }
  ctx.log(
    `replaying ${histories.length} histor${histories.length === 1 ? 'y' : 'ies'} against ${o.workflowsPath ?? 'the current workflow code'}`,
  );
  const results = await replayHistories(histories, {
    cacheDir: stateLayout(ctx.config.home).cache,
    ...(o.workflowsPath ? { workflowsPath: o.workflowsPath } : {}),
  });
  const deterministic = results.every((r) => r.deterministic);
  if (o.json) process.stdout.write(`${JSON.stringify({ deterministic, results })}\n`);
  else console.log(formatReplay(results));
  return deterministic ? EXIT.ok : EXIT.failed;
}

/** "deterministic" per history, or the divergence. */
export function formatReplay(results: ReplayResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const what = `${r.workflowId}${r.runId ? ` (run ${r.runId})` : ''} ${r.type}, ${r.events} events`;
    if (r.deterministic) lines.push(`${green('✔ deterministic')}: ${what}`);
    else
      lines.push(
        `${red('✖ divergence')}: ${what}`,
        `  ${r.errorType ?? 'Error'}: ${r.error ?? ''}`.replace(/\n/g, '\n  '),
      );
  }
  if (results.length > 1) {
    const bad = results.filter((r) => !r.deterministic).length;
    lines.push(
      bad
        ? red(`${bad} of ${results.length} histories diverge from the current workflow code`)
        : green(`all ${results.length} histories are deterministic`),
    );
  }
  return lines.join('\n');
}

export interface ExportOptions {
  query: string;
  out: string;
  /** At most this many executions. @default 1000 */
  limit?: number;
  json?: boolean;
}

export async function runExport(ctx: CliContext, o: ExportOptions): Promise<number> {
  const limit = o.limit ?? 1000;
  if (!Number.isInteger(limit) || limit < 1)
    throw new CliError('--limit must be a positive integer', EXIT.badInput, 'BadInput');
  const { writeHistoryFile } = lib();
  const dir = path.resolve(o.out);
  ensureDir(dir);
  const files = await withSession(ctx, async (s) => {
    const written: string[] = [];
    try {
      for await (const w of s.client.workflow.list({ query: o.query, pageSize: Math.min(limit, 100) })) {
        if (written.length >= limit) break;
        const history = await s.client.workflow.getHandle(w.workflowId, w.runId).fetchHistory();
        written.push(writeHistoryFile(dir, { workflowId: w.workflowId, runId: w.runId, history }));
      }
    } catch (err) {
      const m = err instanceof Error ? err.message : String(err);
      if (/invalid|query|syntax|unknown|not defined/i.test(m) && written.length === 0)
        throw new CliError(
          `bad visibility query ${JSON.stringify(o.query)}: ${m.split('\n')[0]}`,
          EXIT.badInput,
          'BadQuery',
        );
      throw err;
    }
    return written;
  });
  if (o.json) process.stdout.write(`${JSON.stringify({ exported: files.length, dir, files })}\n`);
  else {
    for (const f of files) console.log(dim(`  ${path.basename(f)}`));
    console.log(`exported ${files.length} histor${files.length === 1 ? 'y' : 'ies'} to ${dir}`);
  }
  return EXIT.ok;
}

export function registerHistoryCommands(program: Command, ctx: Ctx): void {
  program
    .command('inspect')
    .description(
      'show a run or healing episode as a timeline read from its Temporal history: drift, attempts, checks, decision, outcome, durations',
    )
    .argument(
      '<workflowId>',
      'a run (pipeline-<name>, latest run by default), an episode (<run key>-heal) or an attempt id',
    )
    .option('--run-id <id>', 'a given run of that workflow id')
    .option('--brief', 'leave out the event list')
    .option('--json', 'print exactly one JSON object on stdout')
    .action(async (id: string, o: InspectOptions) => {
      process.exitCode = await runInspect(ctx(o.json), id, o);
    });

  program
    .command('replay')
    .description(
      'replay a history against the current workflow code: "deterministic" (exit 0) or the divergence (exit 1)',
    )
    .argument('[workflowId]', 'workflow id to fetch from Temporal (latest run by default)')
    .option('--run-id <id>', 'a given run of that workflow id')
    .option('--file <path>', 'a history JSON file ({workflowId, history} or a bare history), or a directory of them')
    .option(
      '--workflow-id <id>',
      'with --file: the workflow id of a bare history (default: inferred, else the file name)',
    )
    .option('--with-children', "also replay the run's episode and attempt histories")
    .addOption(new Option('--workflows-path <file>', 'replay against this workflows file instead (tests)').hideHelp())
    .option('--json', 'print exactly one JSON object on stdout')
    .action(async (id: string | undefined, o: ReplayCliOptions) => {
      process.exitCode = await runReplay(ctx(o.json), id, o);
    });

  const histories = program.command('histories').description('work with saved workflow histories');
  histories
    .command('export')
    .description(
      'save the history of every execution matching a visibility query as <dir>/<workflowId>__<runId>.json (a replay corpus)',
    )
    .requiredOption('--query <query>', `visibility query, e.g. "PipelineName='users' AND HealOutcome='healed'"`)
    .requiredOption('--out <dir>', 'directory to write into')
    .option('--limit <n>', 'at most this many executions (default 1000)', (v) => Number.parseInt(v, 10))
    .option('--json', 'print exactly one JSON object on stdout')
    .action(async (o: ExportOptions) => {
      process.exitCode = await runExport(ctx(o.json), o);
    });
}
