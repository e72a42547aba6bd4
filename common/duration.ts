/**
 * Durations as people write them in specs and environment variables: "72h", "30m", "1.5h", "2d",
 * "500ms", "45s", or a bare number of milliseconds. Deterministic (safe in workflow code).
 */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds of a duration string, or `undefined` when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/i.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = UNITS[(m[2] ?? 'ms').toLowerCase()];
  if (unit === undefined || !Number.isFinite(n)) return undefined;
  const ms = Math.round(n * unit);
  return ms > 0 ? ms : undefined;
}

/**
 * How {@link formatDuration} writes what is over a minute. `spaced` reads best in sentences (alerts,
 * the dashboard, workflow messages): "4m 05s", "50h", "3d 4h". `compact` keeps columns narrow and
 * every unit pair the same shape (`heal inspect` timelines): "2m05s", "1h02m", "3d04h".
 */
export type DurationStyle = 'spaced' | 'compact';

/**
 * A short human form of milliseconds: "850ms", "12.3s", then per {@link DurationStyle}. The compact
 * form prints "?" for what is not a duration (a timeline may subtract times it never saw).
 */
export function formatDuration(ms: number, style: DurationStyle = 'spaced'): string {
  if (style === 'compact' && !(Number.isFinite(ms) && ms >= 0)) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return style === 'compact' ? compactOverAMinute(ms) : spacedOverAMinute(ms);
}

/** The minor unit in two digits, as on a clock, so figures of one shape line up in a column. */
const two = (n: number): string => String(n).padStart(2, '0');

/** Truncates to the unit shown and drops a zero minor unit, so round figures ("50h", "3d") read as written. */
function spacedOverAMinute(ms: number): string {
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m ${two(Math.floor((ms % 60_000) / 1000))}s`;
  if (ms < 86_400_000 * 3) {
    const h = Math.floor(ms / 3_600_000);
    const m = Math.floor((ms % 3_600_000) / 60_000);
    return m ? `${h}h ${two(m)}m` : `${h}h`;
  }
  const d = Math.floor(ms / 86_400_000);
  const h = Math.floor((ms % 86_400_000) / 3_600_000);
  return h ? `${d}d ${h}h` : `${d}d`;
}

/** Rounds to whole seconds first and always prints both units, so figures line up in a column. */
function compactOverAMinute(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor((s % 86_400) / 3600))}h`;
}
