/** Small figures helpers for the bench: percentiles, process memory, history timings. */
import * as fs from 'node:fs';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

/** Nearest-rank percentile of `xs` (p in 0..100); NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(rank, s.length) - 1] as number;
}

/** The median of `xs` (nearest rank); NaN when empty. */
export const median = (xs: readonly number[]): number => percentile(xs, 50);

/** Peak (VmHWM) and current (VmRSS) resident set of a process, in MiB; undefined when /proc is not there. */
export function processMemory(pid: number): { peakMb: number; rssMb: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
    return { peakMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024 };
  } catch {
    return undefined;
  }
}

/** CPU time (user + system, every thread) a process has used so far, in ms; NaN without /proc. */
export function processCpuMs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line (11 and 12 after the command name), in clock ticks (100/s on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** Reset a process's peak RSS (Linux: writing 5 to clear_refs). False when not allowed. */
export function resetPeakMemory(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : NaN;

/** Time of each activity of a workflow (scheduled → completed/failed), by activity type; summed when one runs twice. */
export async function activityTimings(client: Client, workflowId: string): Promise<Record<string, number>> {
  const E = temporal.api.enums.v1.EventType;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<string, { type: string; at: number }>();
  const out: Record<string, number> = {};
  for (const e of history.events ?? []) {
    const at = ms(e.eventTime as { seconds?: unknown; nanos?: number | null } | null);
    if (e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
      scheduled.set(String(e.eventId), { type: e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?', at });
    } else if (
      e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED ||
      e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_FAILED
    ) {
      const attrs = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
      const s = scheduled.get(String(attrs?.scheduledEventId));
      if (s) out[s.type] = (out[s.type] ?? 0) + (at - s.at);
    }
  }
  return out;
}

/** Round to a figure for tables. */
export function r(x: number | undefined, digits = 2): number | null {
  if (x === undefined || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
