/** Human output of CLI commands. JSON output is the result objects themselves. */
import { workflowUrl } from '../common/ids';
import { describeOp } from '../common/patch';
import { describeDecisions } from '../common/policy';
import type { FileOutcome, PipelineRunResult } from '../common/types';

const useColor = process.stdout.isTTY && !process.env['NO_COLOR'];
const paint = (code: number) => (s: string) => (useColor ? `\u001b[${code}m${s}\u001b[0m` : s);
export const green = paint(32);
export const red = paint(31);
export const yellow = paint(33);
export const dim = paint(2);
export const bold = paint(1);

/** A few lines a data engineer can act on, with Web UI links to the run and its episode. */
export function formatRunResult(
  r: PipelineRunResult,
  opts: { links: { uiUrl: string; namespace: string }; seconds: number },
): string {
  const ui = (id: string, runId?: string) => workflowUrl(opts.links.uiUrl, opts.links.namespace, id, runId);
  const lines: string[] = [];
  const where = r.table ? `${r.table} in ${r.warehouse}` : '';
  if (r.outcome === 'succeeded' || r.outcome === 'healed' || r.outcome === 'partial') {
    const mark =
      r.outcome === 'partial' ? red('◐ partial') : r.outcome === 'healed' ? yellow('✔ healed') : green('✔ succeeded');
    if (r.skipped) {
      lines.push(
        `${mark} ${bold(r.pipeline)}: this file was already appended; nothing loaded (spec v${r.specVersion})`,
      );
    } else {
      lines.push(
        `${mark} ${bold(r.pipeline)}: ${r.rowsLoaded} rows loaded, ${r.rowsQuarantined} quarantined (spec v${r.specVersion}) in ${opts.seconds.toFixed(1)}s`,
      );
    }
    if (r.outcome === 'partial')
      lines.push(
        red(
          `  not every file loaded: ${r.error?.message ?? 'files set aside'}; a later run loads them once they are fixed`,
        ),
      );
    if (r.outcome === 'partial' && r.driftReport && !r.patch) {
      lines.push(
        `  the source had drifted (${r.driftReport.kinds.join(', ')}); the files with no fix were set aside, the others loaded with spec v${r.specVersion}`,
      );
    } else if (r.driftReport && r.patch) {
      const kinds = r.driftReport.kinds.join(', ');
      lines.push(
        `  the source had drifted (${kinds}); healed by the ${r.doctor ?? '?'} doctor in ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}` +
          (r.mttrMs != null ? `, ${(r.mttrMs / 1000).toFixed(1)}s from detection to the healed table` : ''),
      );
      for (const op of r.patch ?? []) if (op.op !== 'shape') lines.push(`   + ${describeOp(op)}`);
      for (const line of describeDecisions(r.policies ?? [])) lines.push(dim(`   policy ${line}`));
      if (r.driftReport) lines.push(`  spec v${r.driftReport.specVersion} → v${r.specVersion}`);
    }
    if (where) lines.push(`  table:    ${where}`);
    if (r.rowsQuarantined > 0 && r.table)
      lines.push(`  quarantine: ${r.table}__quarantine (source file, line, column, reason)`);
  } else {
    const why = r.driftReport
      ? `the source has drifted (${r.driftReport.kinds.join(', ')})`
      : (r.error?.message ?? 'failed');
    lines.push(`${red('✖ failed')} ${bold(r.pipeline)}: ${why}`);
    if (r.driftReport) {
      lines.push(`  what changed:`);
      for (const d of r.driftReport.differences.slice(0, 12)) lines.push(`   - ${d.detail}`);
      if (r.driftReport.differences.length > 12)
        lines.push(`   … ${r.driftReport.differences.length - 12} more (use --json)`);
    }
    if (r.attempts > 0 && r.error)
      lines.push(
        `  healing: ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}, none held: ${r.error.message.split('; not healed: ')[1] ?? r.error.message}`,
      );
    if (r.table) lines.push(`  the table ${r.table} is unchanged (spec v${r.specVersion})`);
  }
  lines.push(dim(`  workflow: ${r.workflowId}  ${ui(r.workflowId, r.runId)}`));
  if (r.partitions?.length) lines.push(...formatFiles(r.partitions, r.fanOutId, r.partitionKeys));
  if (r.episodeId) {
    lines.push(dim(`  healing episode: ${r.episodeId}  ${ui(r.episodeId)}`));
    lines.push(dim(`  explain it: heal inspect ${r.episodeId}`));
  }
  return lines.join('\n');
}

const FILE_MARKS: Record<FileOutcome['outcome'], string> = {
  loaded: '✔',
  healed: '✚',
  skipped: '·',
  'set-aside': '✖',
  held: '‖',
};

/** The files of a many-file run: a count line, then the ones that need a look (set aside, held, healed) first. */
export function formatFiles(
  files: readonly FileOutcome[],
  fanOutId?: string,
  partitionKeys?: readonly string[],
): string[] {
  const n = (o: FileOutcome['outcome']) => files.filter((f) => f.outcome === o).length;
  const counts = (['loaded', 'healed', 'skipped', 'set-aside', 'held'] as const)
    .filter((o) => n(o) > 0)
    .map((o) => `${n(o)} ${o}`);
  const lines = [`  files: ${files.length} (${counts.join(', ')})${fanOutId ? `  ${dim(fanOutId)}` : ''}`];
  if (partitionKeys?.length)
    lines.push(dim(`  split by: ${partitionKeys.join(', ')} (their mix and range are not compared with the baseline)`));
  const order: FileOutcome['outcome'][] = ['set-aside', 'held', 'healed', 'loaded', 'skipped'];
  const shown = [...files].sort((a, b) => order.indexOf(a.outcome) - order.indexOf(b.outcome)).slice(0, 12);
  for (const f of shown) {
    const what =
      f.outcome === 'loaded' || f.outcome === 'healed'
        ? `${f.rowsLoaded} rows${f.rowsQuarantined ? `, ${f.rowsQuarantined} quarantined` : ''}`
        : (f.reason ?? f.outcome);
    const line = `   ${FILE_MARKS[f.outcome]} ${f.outcome.padEnd(9)} ${f.file}: ${f.driftKinds?.length ? `[${f.driftKinds.join(', ')}] ` : ''}${what}`;
    lines.push(f.outcome === 'set-aside' ? red(line) : f.outcome === 'held' ? yellow(line) : line);
  }
  if (files.length > shown.length) lines.push(dim(`   … ${files.length - shown.length} more (use --json)`));
  return lines;
}

/** A command's result: one JSON object on stdout with --json, else the human text. */
export function print(json: boolean | undefined, obj: unknown, human: () => string): void {
  if (json) process.stdout.write(`${JSON.stringify(obj)}\n`);
  else console.log(human());
}
