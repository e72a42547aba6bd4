/** Human output of CLI commands. JSON output is the result objects themselves. */
import { describeOp } from '../common/patch';
import type { PipelineRunResult } from '../common/types';

const useColor = process.stdout.isTTY && !process.env['NO_COLOR'];
const paint = (code: number) => (s: string) => (useColor ? `\u001b[${code}m${s}\u001b[0m` : s);
export const green = paint(32);
export const red = paint(31);
export const yellow = paint(33);
export const dim = paint(2);
export const bold = paint(1);

export { workflowUrl } from '../common/ids';

/** A few lines a data engineer can act on. */
export function formatRunResult(r: PipelineRunResult, opts: { url: string; seconds: number }): string {
  const lines: string[] = [];
  const where = r.table ? `${r.table} in ${r.warehouse}` : '';
  if (r.outcome === 'succeeded' || r.outcome === 'healed') {
    const mark = r.outcome === 'healed' ? yellow('✔ healed') : green('✔ succeeded');
    if (r.skipped) {
      lines.push(`${mark} ${bold(r.pipeline)}: this file was already appended; nothing loaded (spec v${r.specVersion})`);
    } else {
      lines.push(
        `${mark} ${bold(r.pipeline)}: ${r.rowsLoaded} rows loaded, ${r.rowsQuarantined} quarantined (spec v${r.specVersion}) in ${opts.seconds.toFixed(1)}s`,
      );
    }
    if (r.outcome === 'healed') {
      const kinds = r.driftReport?.kinds.join(', ') ?? 'drift';
      lines.push(
        `  the source had drifted (${kinds}); healed by the ${r.doctor ?? '?'} doctor in ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}` +
          (r.mttrMs != null ? `, ${(r.mttrMs / 1000).toFixed(1)}s from detection to the healed table` : ''),
      );
      for (const op of r.patch ?? []) if (op.op !== 'shape') lines.push(`   + ${describeOp(op)}`);
      if (r.driftReport) lines.push(`  spec v${r.driftReport.specVersion} → v${r.specVersion}`);
    }
    if (where) lines.push(`  table:    ${where}`);
    if (r.rowsQuarantined > 0 && r.table) lines.push(`  quarantine: ${r.table}__quarantine (source file, line, column, reason)`);
  } else {
    const why = r.driftReport ? `the source has drifted (${r.driftReport.kinds.join(', ')})` : (r.error?.message ?? 'failed');
    lines.push(`${red('✖ failed')} ${bold(r.pipeline)}: ${why}`);
    if (r.driftReport) {
      lines.push(`  what changed:`);
      for (const d of r.driftReport.differences.slice(0, 12)) lines.push(`   - ${d.detail}`);
      if (r.driftReport.differences.length > 12) lines.push(`   … ${r.driftReport.differences.length - 12} more (use --json)`);
    }
    if (r.attempts > 0 && r.error) lines.push(`  healing: ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}, none held: ${r.error.message.split('; not healed: ')[1] ?? r.error.message}`);
    if (r.table) lines.push(`  the table ${r.table} is unchanged (spec v${r.specVersion})`);
  }
  lines.push(dim(`  workflow: ${r.workflowId}  ${opts.url}`));
  if (r.partitions) {
    const p = r.partitions;
    lines.push(`  partitions: ${p.total - p.quarantined}/${p.total} loaded (${p.healed} healed), ${p.quarantined} quarantined  ${dim(p.workflowId)}`);
    for (const q of p.quarantinedFiles.slice(0, 10)) lines.push(yellow(`   ✖ ${q.file}: ${q.error ?? 'not loaded'}`));
  }
  if (r.episodeId) {
    const episodeUrl = opts.url.replace(/\/workflows\/.*$/, `/workflows/${encodeURIComponent(r.episodeId)}`);
    lines.push(dim(`  healing episode: ${r.episodeId}  ${episodeUrl}`));
    lines.push(dim(`  explain it: heal inspect ${r.episodeId}`));
  }
  return lines.join('\n');
}
