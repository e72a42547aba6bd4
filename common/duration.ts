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

/** A short human form of milliseconds: "850ms", "12.3s", "4m 05s", "72h", "3d 4h". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) {
    const m = Math.floor(ms / 60_000);
    const s = Math.floor((ms % 60_000) / 1000);
    return `${m}m ${String(s).padStart(2, '0')}s`;
  }
  if (ms < 86_400_000 * 3) {
    const h = Math.floor(ms / 3_600_000);
    const m = Math.floor((ms % 3_600_000) / 60_000);
    return m ? `${h}h ${String(m).padStart(2, '0')}m` : `${h}h`;
  }
  const d = Math.floor(ms / 86_400_000);
  const h = Math.floor((ms % 86_400_000) / 3_600_000);
  return h ? `${d}d ${h}h` : `${d}d`;
}
