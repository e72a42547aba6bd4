/**
 * `heal quarantine`: the rows a pipeline's loads set aside, read from its warehouse (DuckDB file or
 * PostgreSQL) by pipeline, run and reason, trimmed by age, and replayed through the current spec
 * (the `quarantineReplay` workflow).
 */
import type { Command } from 'commander';
import type { QuarantineReplayResult } from '../../common/contracts';
import { parseDuration } from '../../common/duration';
import { workflowUrl } from '../../common/ids';
import { openStore } from '../../store';
import { openWarehouse, type QuarantinedRow } from '../../warehouse';
import type { quarantineReplay } from '../../workflows';
import { CliError, EXIT, type CliContext } from '../context';
import { bold, dim, green, red, yellow, print } from '../output';
import { startUnderLock, workflowEnd } from '../results';
import { openSession } from '../temporal';

type Ctx = (json?: boolean) => CliContext;

/** `--before`: an ISO date or time, or an age ("30d", "72h": that long ago). */
export function cutoff(text: string, now: Date = new Date()): Date {
  const age = parseDuration(text);
  if (age !== undefined) return new Date(now.getTime() - age);
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new CliError(`--before: an ISO date ("2026-11-01") or an age ("30d", "72h"), got "${text}"`, EXIT.badInput);
  return new Date(t);
}

function formatRows(pipeline: string, rows: QuarantinedRow[], total: number): string {
  if (!total) return `${bold(pipeline)}: nothing in quarantine`;
  const lines = [
    `${bold(pipeline)}: ${total} row${total === 1 ? '' : 's'} in quarantine${rows.length < total ? ` (newest ${rows.length} shown)` : ''}`,
  ];
  for (const r of rows) {
    const where = `${r.sourceFile ?? 'source'}${r.line === null ? '' : `:${r.line}`}`;
    lines.push(`  ${where}  ${r.reason}  ${dim(`${r.runId} v${r.specVersion} ${r.quarantinedAt}`)}`);
  }
  return lines.join('\n');
}

async function tableOf(c: CliContext, pipeline: string): Promise<string> {
  return (await openStore(c.config).specs.current(pipeline)).spec.target.table;
}

/** The human summary of a replay. */
export function formatReplay(r: QuarantineReplayResult, links: { uiUrl: string; namespace: string }): string {
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  const mark = r.stillQuarantined || r.superseded ? yellow('✔') : green('✔');
  const lines = [
    r.selected === 0
      ? `${green('✔')} ${bold(r.pipeline)}: nothing in quarantine to replay`
      : `${mark} ${bold(r.pipeline)}: ${n(r.replayed, 'quarantined row')} replayed into ${r.table} with spec v${r.specVersion}; ${r.stillQuarantined} still in quarantine${r.mode !== 'append' ? `, ${r.superseded} superseded` : ''}`,
  ];
  if (r.byReason.length) lines.push('  still failing:');
  for (const b of r.byReason) lines.push(`    ${String(b.rows).padStart(5)}  ${b.reason}`);
  if (r.superseded)
    lines.push(
      dim(
        r.mode === 'merge'
          ? `  superseded: rows whose key a later row may have written (merge mode: a later row of their file, or a later load of ${r.table} that has the key); never loaded over it, left in quarantine`
          : `  superseded: rows of runs whose file is no longer ${r.table}'s content (replace mode; the table is ${r.currentRun ?? 'no load'}'s); left in quarantine`,
      ),
    );
  lines.push(`  table:    ${r.table} in ${r.warehouse}`);
  lines.push(dim(`  ${workflowUrl(links.uiUrl, links.namespace, r.workflowId)}`));
  return lines.join('\n');
}

/**
 * `heal quarantine replay`: start the `quarantineReplay` workflow under the pipeline's lock id, make
 * sure a worker runs it, wait for its result and print it. Exit 0 when it ran (rows may stay in
 * quarantine: they are reported), 1 when it failed or another run of the pipeline is active.
 */
async function replay(c: CliContext, pipeline: string, o: { run?: string; reason?: string; json?: boolean }) {
  const current = await openStore(c.config).specs.current(pipeline); // PipelineNotFound → exit 2
  const s = await openSession(c.config, c.log);
  try {
    const { id, handle } = await startUnderLock(pipeline, 'replay its quarantine', (workflowId) =>
      s.client.workflow.start<typeof quarantineReplay>('quarantineReplay', {
        taskQueue: c.config.taskQueue,
        workflowId,
        args: [{ pipeline, ...(o.run ? { runId: o.run } : {}), ...(o.reason ? { reason: o.reason } : {}) }],
        staticSummary: `replay quarantined rows of ${pipeline} through spec v${current.version}`,
        staticDetails: `Pipeline \`${pipeline}\`, started by \`heal quarantine replay\` at ${new Date().toISOString()}${o.run ? `, run \`${o.run}\`` : ''}${o.reason ? `, reason containing \`${o.reason}\`` : ''}.`,
      }),
    );
    c.log(`started ${id} (run ${handle.firstExecutionRunId})`);
    await s.ensureWorker(id);
    const { result, failure } = await workflowEnd<QuarantineReplayResult>(handle);
    if (failure || !result) {
      const message = failure?.message ?? 'no result';
      const type = failureType(failure?.error) ?? 'Error';
      print(
        o.json,
        { pipeline, outcome: 'failed', error: { type, message } },
        () => `${red('✖')} replay of ${pipeline}'s quarantine failed: ${message}`,
      );
      return EXIT.failed;
    }
    print(o.json, { outcome: 'succeeded', ...result }, () => formatReplay(result, c.config));
    return EXIT.ok;
  } finally {
    await s.close();
  }
}

/** The failure type a workflow ended with (its ApplicationFailure cause), if any. */
function failureType(err: unknown): string | undefined {
  const cause = (err as { cause?: { type?: unknown } } | undefined)?.cause;
  return typeof cause?.type === 'string' ? cause.type : undefined;
}

export function registerQuarantineCommands(program: Command, ctx: Ctx): void {
  const q = program
    .command('quarantine')
    .description("a pipeline's quarantined rows: list them, replay them through the current spec, purge old ones");
  q.command('list <pipeline>')
    .description('quarantined rows of a pipeline, newest run first: file, line, reason, run')
    .option('--run <id>', "only this run's rows (its workflow id)")
    .option('--reason <text>', 'only rows whose reason contains this text')
    .option('--limit <n>', 'at most this many rows', '50')
    .option('--json', 'print exactly one JSON object on stdout')
    .action(async (pipeline: string, o: { run?: string; reason?: string; limit: string; json?: boolean }) => {
      const c = ctx(o.json);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 0)
        throw new CliError(`--limit: a whole number, got "${o.limit}"`, EXIT.badInput);
      const table = await tableOf(c, pipeline);
      const res = await openWarehouse(c.config).quarantine.list(table, {
        limit,
        ...(o.run ? { runId: o.run } : {}),
        ...(o.reason ? { reason: o.reason } : {}),
      });
      print(o.json, { pipeline, table: `${table}__quarantine`, ...res }, () =>
        formatRows(pipeline, res.rows, res.total),
      );
    });
  q.command('purge <pipeline>')
    .description('delete quarantined rows older than a date or an age')
    .requiredOption(
      '--before <date|age>',
      'an ISO date ("2026-11-01") or an age ("30d": quarantined more than 30 days ago)',
    )
    .option('--json', 'print exactly one JSON object on stdout')
    .action(async (pipeline: string, o: { before: string; json?: boolean }) => {
      const c = ctx(o.json);
      const before = cutoff(o.before);
      const table = await tableOf(c, pipeline);
      const purged = await openWarehouse(c.config).quarantine.purge(table, before);
      print(
        o.json,
        { pipeline, before: before.toISOString(), purged },
        () =>
          `${bold(pipeline)}: ${purged} quarantined row${purged === 1 ? '' : 's'} from before ${before.toISOString()} deleted`,
      );
    });
  q.command('replay <pipeline>')
    .description(
      'cast quarantined rows again with the current spec: those that now load go into the table (once) and leave quarantine',
    )
    .option('--run <id>', "only this run's rows (its run key, as `list` shows it)")
    .option('--reason <text>', 'only rows whose reason contains this text')
    .option('--json', 'print exactly one JSON object on stdout')
    .action(async (pipeline: string, o: { run?: string; reason?: string; json?: boolean }) => {
      process.exitCode = await replay(ctx(o.json), pipeline, o);
    });
}
