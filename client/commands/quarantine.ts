/**
 * `heal quarantine`: the rows a pipeline's loads set aside, read from its warehouse (DuckDB file or
 * PostgreSQL) by pipeline, run and reason, and trimmed by age.
 */
import type { Command } from 'commander';
import { parseDuration } from '../../common/duration';
import { openStore } from '../../store';
import { openWarehouse, type QuarantinedRow } from '../../warehouse';
import { CliError, EXIT, type CliContext } from '../context';
import { bold, dim, print } from '../output';

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

export function registerQuarantineCommands(program: Command, ctx: Ctx): void {
  const q = program.command('quarantine').description("a pipeline's quarantined rows: list them, purge old ones");
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
}
