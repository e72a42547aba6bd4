/**
 * Run records, the alert log and the price table in the state directory (paths: layout.ts):
 *   runRecords  one {@link RunRecord} per finished run (owner-only, append-only)
 *   prices      optional: USD per 1,000 tokens by model, overriding the defaults
 *   alertLog    every alert attempt (written by the alerts activity)
 *
 * Appending is idempotent per run (its run key, else its Temporal run id): a retried write finds
 * its line and writes nothing. The figures are computed by the pure functions of core/metrics-model.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunRecord } from '../common/types';
import { appendLine, readJson } from '../lib/atomic-files';
import { DEFAULT_PRICES, runIdentity, type AlertLogEntry, type PriceTable } from '../core/metrics-model';
import { stateLayout } from './layout';

/** Read a JSON Lines file; a missing file is empty and a torn last line (a crash mid-append) is skipped. */
export function readJsonLines<T>(file: string): T[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // a partial line: ignored
    }
  }
  return out;
}

/** Is this a run record (not a damaged or foreign line)? */
export function isRunRecord(r: RunRecord | null | undefined): r is RunRecord {
  return !!r && typeof r === 'object' && !!r.run && typeof r.run.workflowId === 'string';
}

/** Is this an alert log entry (not a damaged or foreign line)? */
export function isAlertLogEntry(a: AlertLogEntry | null | undefined): a is AlertLogEntry {
  return !!a && typeof a.episodeId === 'string';
}

export function readRunRecords(home: string): RunRecord[] {
  return readJsonLines<RunRecord>(stateLayout(home).runRecords).filter(isRunRecord);
}

export function readAlertLog(home: string): AlertLogEntry[] {
  return readJsonLines<AlertLogEntry>(stateLayout(home).alertLog).filter(isAlertLogEntry);
}

/** The default prices, overridden (per model) by `<home>/metrics/prices.json` and then by `file`. */
export function readPrices(home: string, file?: string): PriceTable {
  const own = stateLayout(home).prices;
  const doc = readJson<Record<string, unknown>>(own);
  return pricesWith(doc === undefined ? undefined : { where: own, doc }, file);
}

/**
 * The default prices, overridden (per model) by the store's own table (`where` names it in
 * errors; undefined when the store has none) and then by the table in `file`, which must exist.
 */
export function pricesWith(
  own: { where: string; doc: Record<string, unknown> } | undefined,
  file?: string,
): PriceTable {
  const table: PriceTable = { ...DEFAULT_PRICES };
  if (own) overridePrices(table, own.where, own.doc);
  if (file) {
    const f = path.resolve(file);
    const doc = readJson<Record<string, unknown>>(f);
    if (doc === undefined) throw new Error(`${f}: no such price table`);
    overridePrices(table, f, doc);
  }
  return table;
}

function overridePrices(table: PriceTable, where: string, doc: Record<string, unknown>): void {
  for (const [model, p] of Object.entries(doc)) {
    const price = p as { input?: unknown; output?: unknown };
    if (typeof price?.input !== 'number' || typeof price.output !== 'number' || price.input < 0 || price.output < 0) {
      throw new Error(`${where}: "${model}" must be {"input": <USD per 1k tokens>, "output": <USD per 1k tokens>}`);
    }
    table[model] = { input: price.input, output: price.output };
  }
}

/** A schedule as noted for the dashboard (`heal schedule create`). */
export interface ScheduleNote {
  schedule: string;
  paused: boolean;
  scheduleId: string;
}

/** How a noted schedule reads: "every 1h", "every 1h (paused)", or null when none (or not a note). */
export function scheduleNote(doc: { schedule?: unknown; paused?: unknown } | null | undefined): string | null {
  if (!doc || typeof doc.schedule !== 'string') return null;
  return doc.paused === true ? `${doc.schedule} (paused)` : doc.schedule;
}

const clip = (t: string | null | undefined, max: number): string | null =>
  t == null ? null : t.length > max ? `${t.slice(0, max - 1)}…` : t;

/**
 * The record as stored: what metrics and the dashboard read, bounded in size whatever the source
 * (no sample values; at most 50 differences and 50 column names of a drift; verification reports
 * without their per-column checks; errors clipped). Metrics never need data values.
 */
export function compactRunRecord(r: RunRecord): RunRecord {
  const d = r.run.driftReport;
  const shape = (s: NonNullable<typeof d>['expected']) => ({ ...s, columns: s.columns.slice(0, 50) });
  const driftReport = d
    ? {
        ...d,
        sources: d.sources.slice(0, 20),
        differences: d.differences
          .slice(0, 50)
          .map(({ samples: _s, ...x }) => ({ ...x, detail: clip(x.detail, 300) ?? '' })),
        expected: shape(d.expected),
        found: shape(d.found),
      }
    : null;
  const e = r.episode;
  const episode = e
    ? {
        ...e,
        error: clip(e.error, 2000),
        attempts: e.attempts.map((a) => ({
          ...a,
          error: clip(a.error, 500),
          report: a.report ? { ...a.report, checks: [] } : null,
        })),
      }
    : null;
  const error = r.run.error ? { ...r.run.error, message: clip(r.run.error.message, 2000) ?? '' } : null;
  return { ...r, run: { ...r.run, driftReport, error }, episode };
}

/** Is a run with this identity among the last `bytes` of the file (where a retry finds its own line)? */
function recordedRecently(file: string, id: string, bytes = 8 << 20): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    fs.readSync(fd, buf, 0, buf.length, start);
    const lines = buf.toString('utf8').split('\n');
    if (start > 0) lines.shift(); // a partial first line
    return lines.some((line) => {
      if (!line.includes(id)) return false;
      try {
        return runIdentity(JSON.parse(line) as RunRecord) === id;
      } catch {
        return false;
      }
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function endsWithoutNewline(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    if (size === 0) return false;
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, size - 1);
    return b[0] !== 0x0a;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Append one finished run's record, once: a retried write finds its own line near the end and writes nothing. */
export function appendRunRecord(home: string, record: RunRecord): void {
  const file = stateLayout(home).runRecords;
  // Readers keep one record per run anyway (see dedupeRuns); this keeps the file from growing on retries.
  if (recordedRecently(file, runIdentity(record))) return;
  // A line torn by a crash must not swallow this one: start on a fresh line.
  const torn = endsWithoutNewline(file);
  appendLine(file, `${torn ? '\n' : ''}${JSON.stringify(compactRunRecord(record))}`);
}

/** Parsed files, reused while a file's size and modification time are unchanged. */
const parsed = new Map<string, { size: number; mtimeMs: number; value: unknown }>();

/** `read()` of `file`, from the cache while the file's size and modification time are unchanged. */
export function readCached<T>(file: string, read: () => T): T {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    st = undefined;
  }
  const hit = parsed.get(file);
  if (st && hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.value as T;
  const value = read();
  if (st) parsed.set(file, { size: st.size, mtimeMs: st.mtimeMs, value });
  else parsed.delete(file);
  return value;
}
