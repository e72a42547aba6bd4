/**
 * Replaying histories against the current workflow code (`heal replay`), loading histories from
 * files (`{workflowId, history}` as `heal histories export` writes them, or a bare history as
 * `temporal workflow show --output json` writes it), and saving them (`heal histories export`).
 * The worker package is loaded on demand: it is heavy and only these commands need it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { historyFromJSON, historyToJSON, type History } from '@temporalio/common/lib/proto-utils';
import type * as WorkerPackage from '@temporalio/worker';
import type * as BundleModule from '../../lib/workflow-bundle';
import { pipelineLockId } from '../../common/ids';
import { writeFileAtomic } from '../../lib/atomic-files';
import type { FetchedHistory } from './fetch';
import { parseHistory } from './parse';

export interface ReplayResult {
  workflowId: string;
  runId: string;
  type: string;
  events: number;
  deterministic: boolean;
  /** "DeterminismViolationError", "ReplayError", … (null when deterministic). */
  errorType: string | null;
  /** The divergence as the SDK reports it (null when deterministic). */
  error: string | null;
}

export class HistoryFileError extends Error {
  override name = 'HistoryFileError';
}

/** Histories from a file, or from every `.json` file of a directory. */
export function loadHistoryFiles(target: string, workflowId?: string): FetchedHistory[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(target);
  } catch {
    throw new HistoryFileError(`${target}: no such file or directory`);
  }
  const files = stat.isDirectory()
    ? fs
        .readdirSync(target)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => path.join(target, f))
    : [target];
  if (files.length === 0) throw new HistoryFileError(`${target}: no .json history files`);
  return files.map((f) => loadHistoryFile(f, workflowId));
}

/**
 * The workflow id of a bare history (it is not in the history itself; replay needs it, as the
 * workflows name their children after it): read back from the children's ids heal derives from
 * it (`<episode>-attempt`, `<run key>-heal` where a run under the lock id `pipeline-<name>` has
 * the key `pipeline-<name>-<UTC stamp>`). Null when it cannot be told.
 */
export function inferWorkflowId(history: History): string | null {
  const x = parseHistory(history, { workflowId: '', runId: '' });
  for (const c of x.children) {
    if (c.type === 'healAttempt' && c.workflowId.endsWith('-attempt')) return c.workflowId.slice(0, -'-attempt'.length);
    if (c.type === 'healingEpisode' && c.workflowId.endsWith('-heal')) {
      const key = c.workflowId.slice(0, -'-heal'.length);
      const pipeline =
        typeof (x.input as { pipeline?: unknown } | undefined)?.pipeline === 'string'
          ? (x.input as { pipeline: string }).pipeline
          : null;
      const m = /^(.*)-\d{8}T\d{9}Z$/.exec(key);
      return m?.[1] && pipeline && m[1] === pipelineLockId(pipeline) ? m[1] : key;
    }
  }
  return null;
}

/**
 * One history file: `{workflowId, history}` (runId optional) or a bare `{events: [...]}` history,
 * whose workflow id is `workflowIdOverride`, else inferred ({@link inferWorkflowId}), else the
 * file name up to `__`.
 */
export function loadHistoryFile(file: string, workflowIdOverride?: string): FetchedHistory {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new HistoryFileError(`${file}: not a JSON history file (${(err as Error).message.split('\n')[0]})`);
  }
  const obj = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>) : {};
  const raw = 'history' in obj ? obj['history'] : obj;
  if (typeof raw !== 'object' || raw === null || !Array.isArray((raw as { events?: unknown }).events)) {
    throw new HistoryFileError(`${file}: expected {workflowId, history: {events: [...]}} or a history {events: [...]}`);
  }
  let history: History;
  try {
    history = historyFromJSON(raw);
  } catch (err) {
    throw new HistoryFileError(`${file}: not a Temporal history (${(err as Error).message.split('\n')[0]})`);
  }
  const fallbackId = path.basename(file, '.json').split('__')[0] ?? 'replay';
  const workflowId =
    workflowIdOverride ??
    (typeof obj['workflowId'] === 'string' ? obj['workflowId'] : (inferWorkflowId(history) ?? fallbackId));
  const runId =
    typeof obj['runId'] === 'string' ? obj['runId'] : (parseHistory(history, { workflowId, runId: '' }).runId ?? '');
  return { workflowId, runId, history };
}

let runtimeInstalled = false;
function quietRuntime(w: typeof WorkerPackage): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    w.Runtime.install({ logger: new w.DefaultLogger('ERROR'), shutdownSignals: [] });
  } catch {
    // Installed already (tests, or another command in this process).
  }
}

export interface ReplayOptions {
  /** Where the workflow bundle is cached (HEAL_HOME/cache). */
  cacheDir: string;
  /**
   * Replay against this workflows file instead of heal's workflows (bundled on the fly). Hidden
   * CLI option `--workflows-path`, for tests that prove a divergence is caught.
   * @default heal's workflows/index.ts (cached bundle)
   */
  workflowsPath?: string;
}

/** Replay each history against the workflow code; one result per history, in order. */
export async function replayHistories(histories: FetchedHistory[], opts: ReplayOptions): Promise<ReplayResult[]> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy load of a heavy module
  const w = require('@temporalio/worker') as typeof WorkerPackage;
  quietRuntime(w);
  let code: { workflowBundle: { codePath: string } } | { workflowsPath: string };
  if (opts.workflowsPath) code = { workflowsPath: path.resolve(opts.workflowsPath) };
  else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy load (pulls in the bundler)
    const { workflowBundlePath } = require('../../lib/workflow-bundle') as typeof BundleModule;
    code = { workflowBundle: { codePath: await workflowBundlePath(opts.cacheDir) } };
  }
  // One replay worker for all histories; it replays them one at a time, in order.
  const out: ReplayResult[] = [];
  const results = w.Worker.runReplayHistories(
    { ...code, replayName: 'heal-replay' },
    histories.map((h) => ({ workflowId: h.workflowId, history: h.history })),
  );
  let i = 0;
  for await (const r of results) {
    const h = histories[i++];
    if (!h) break;
    const parsed = parseHistory(h.history, h);
    const base = {
      workflowId: h.workflowId,
      runId: h.runId || r.runId || parsed.runId,
      type: parsed.type,
      events: h.history.events?.length ?? 0,
    };
    if (!r.error) out.push({ ...base, deterministic: true, errorType: null, error: null });
    else
      out.push({
        ...base,
        deterministic: false,
        errorType: r.error.name || r.error.constructor.name,
        error: r.error.message,
      });
  }
  return out;
}

/** File name of an exported history: `<workflowId>__<runId>.json` (path separators replaced). */
export function exportFileName(workflowId: string, runId: string): string {
  const safe = (s: string) => s.replace(/[/\\:\0]/g, '_');
  return `${safe(workflowId)}__${safe(runId)}.json`;
}

/** Write one history as `{workflowId, runId, history}` JSON (SDK `historyToJSON`). */
export function writeHistoryFile(dir: string, h: FetchedHistory): string {
  const file = path.join(dir, exportFileName(h.workflowId, h.runId));
  const doc = { workflowId: h.workflowId, runId: h.runId, history: JSON.parse(historyToJSON(h.history)) as unknown };
  writeFileAtomic(file, `${JSON.stringify(doc, null, 1)}\n`);
  return file;
}
