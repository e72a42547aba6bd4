/**
 * Metrics as pure functions of what the state directory recorded: finished runs (with their
 * healing episodes, `metrics/runs.jsonl`) and alert attempts (`alerts/log.jsonl`). No I/O here:
 * `heal metrics`, the dashboard and the Prometheus endpoint all compute from the same records with
 * {@link computeMetrics}, so the numbers they show are the same numbers.
 *
 * Definitions (also in docs/observability.md):
 * - **runs**: finished `pipelineRun` runs, one per run key (a retried record counts once).
 * - **drifts**: runs whose source had drifted (a drift report, or a healing episode).
 * - **episodes**: healing episodes by outcome: healed, failed, rolled-back, rejected; and
 *   **awaiting** (an `awaiting-approval` alert and no finished run for that episode yet).
 * - **success rate**: healed ÷ finished episodes (healed + failed + rolled-back + rejected).
 * - **MTTR**: drift detected → healed table committed (`episode.mttrMs`), healed episodes only;
 *   p50/p95 are nearest-rank percentiles (always a value that was observed).
 * - **attempts per episode**: healing attempts of finished episodes (mean, max, histogram).
 * - **doctor used**: the doctor whose fix the episode applied (rules, memory, llm; none).
 * - **LLM tokens and cost**: the `usage` of every attempt, priced with {@link DEFAULT_PRICES}
 *   (USD per 1,000 tokens; override with `<home>/metrics/prices.json` or `heal metrics --prices`).
 * - **rows**: rows loaded and quarantined by every run.
 */
import { describeOp, type Patch } from '../common/patch';
import type { AttemptRecord, EpisodeNoticeOutcome, NotificationRecord, RunRecord } from '../common/types';

/** USD per 1,000 tokens of one model. */
export interface ModelPrice {
  input: number;
  output: number;
}

/** Prices by model name (or name prefix; `*` is the fallback for any other model). */
export type PriceTable = Record<string, ModelPrice>;

/**
 * List prices in USD per 1,000 tokens (OpenAI's published prices when this was written). A model
 * matches its exact name or the longest key it starts with followed by `-` (dated snapshots:
 * `gpt-4o-mini-2024-07-18` is priced as `gpt-4o-mini`). Models not listed are reported as
 * unpriced (their tokens are counted, their cost is not) unless the table has a `*` entry.
 */
export const DEFAULT_PRICES: Readonly<PriceTable> = Object.freeze({
  'gpt-5': { input: 0.00125, output: 0.01 },
  'gpt-5-mini': { input: 0.00025, output: 0.002 },
  'gpt-5-nano': { input: 0.00005, output: 0.0004 },
  'gpt-4.1': { input: 0.002, output: 0.008 },
  'gpt-4.1-mini': { input: 0.0004, output: 0.0016 },
  'gpt-4.1-nano': { input: 0.0001, output: 0.0004 },
  'gpt-4o': { input: 0.0025, output: 0.01 },
  'gpt-4o-mini': { input: 0.00015, output: 0.0006 },
  o3: { input: 0.002, output: 0.008 },
  'o4-mini': { input: 0.0011, output: 0.0044 },
});

/** One alert attempt as `notifyEpisode` records it in `<home>/alerts/log.jsonl`. */
export interface AlertLogEntry {
  /** When the attempt ended (ISO, wall clock). */
  at: string;
  pipeline: string;
  episodeId: string;
  runId: string;
  outcome: EpisodeNoticeOutcome;
  kinds: string[];
  /** sent; grouped (not sent: a same alert went out within the window); disabled (no webhook); rate-limited (waiting to retry); failed. */
  status: 'sent' | 'grouped' | 'disabled' | 'rate-limited' | 'failed';
  /** The activity attempt (1 for the first). */
  attempt: number;
  httpStatus?: number;
  /** Why it failed (never the webhook URL). */
  error?: string;
  detail?: string;
  durationMs?: number;
}

export type EpisodeView = {
  episodeId: string;
  /** The run that started the episode: its key (else its workflow id). */
  runId: string;
  /** The run's workflow id and Temporal run id (for links to that exact run). */
  runWorkflowId: string;
  temporalRunId: string | null;
  pipeline: string;
  outcome: 'healed' | 'failed' | 'rolled-back' | 'rejected' | 'awaiting-approval';
  /** When the run finished (or the approval was asked for). */
  at: string;
  attempts: number;
  doctor: string | null;
  mttrMs: number | null;
  specVersion: number | null;
  driftSummary: string | null;
  driftKinds: string[];
  fix: string[];
  error: string | null;
  prUrl: string | null;
  /** Alerts of this episode: from the episode result, else from the alert log. */
  notifications: { outcome: string; status: string; error?: string }[];
};

export interface PipelineInfoRow {
  pipeline: string;
  specVersion: number | null;
  table: string | null;
  mode: string | null;
  source: string | null;
  /** The schedule, e.g. "every 1h", when known; null when not known here. */
  schedule: string | null;
  /** Why the row could not be read (an invalid spec), else null. */
  error?: string | null;
}

export interface PipelineMetricsRow extends PipelineInfoRow {
  runs: number;
  lastRunAt: string | null;
  lastOutcome: string | null;
}

export interface DailyPoint {
  /** UTC day, YYYY-MM-DD. */
  date: string;
  runs: number;
  succeeded: number;
  healed: number;
  failed: number;
  'rolled-back': number;
  rejected: number;
  /** Median MTTR of the day's healed episodes (nearest rank), null without any. */
  mttrP50Ms: number | null;
}

export interface HealMetrics {
  /** When these figures were computed (ISO). */
  generatedAt: string;
  runs: {
    total: number;
    succeeded: number;
    healed: number;
    partial: number;
    failed: number;
    successRate: number | null;
  };
  drifts: { total: number; byKind: Record<string, number> };
  episodes: {
    total: number;
    healed: number;
    failed: number;
    'rolled-back': number;
    rejected: number;
    awaiting: number;
    /** healed ÷ (healed + failed + rolled-back + rejected), 0..1 (4 decimals); null without any. */
    successRate: number | null;
  };
  mttr: { count: number; p50Ms: number | null; p95Ms: number | null; meanMs: number | null; maxMs: number | null };
  attempts: { episodes: number; total: number; mean: number | null; max: number; histogram: Record<string, number> };
  doctors: Record<string, number>;
  llm: {
    promptTokens: number;
    completionTokens: number;
    totalTokens: number;
    /** Sum over priced models, USD (6 decimals). */
    estimatedCostUsd: number;
    byModel: Record<string, { promptTokens: number; completionTokens: number; costUsd: number | null }>;
    unpricedModels: string[];
  };
  rows: { loaded: number; quarantined: number };
  notifications: { sent: number; grouped: number; disabled: number; failed: number };
  daily: DailyPoint[];
  mttrSeries: { at: string; pipeline: string; episodeId: string; mttrMs: number }[];
  recentEpisodes: EpisodeView[];
  /** Alerts that did not go out (their last attempt failed), newest first, with the failed attempts counted. */
  alertFailures: (AlertLogEntry & { attempts: number })[];
  pipelines: PipelineMetricsRow[];
}

export interface ComputeOptions {
  runs: RunRecord[];
  alerts?: AlertLogEntry[];
  pipelines?: PipelineInfoRow[];
  /** @default DEFAULT_PRICES */
  prices?: PriceTable;
  /** @default new Date() */
  now?: Date;
  /** Episodes in `recentEpisodes`. @default 25 */
  recent?: number;
  /** Days in `daily` at most (the latest ones). @default 60 */
  days?: number;
}

const DAY_MS = 86_400_000;

/** Nearest-rank percentile (`p` in 0..100) of a list of numbers; null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? null;
}

const round = (n: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

/** The price of a model in a table: exact name, the longest `key-` prefix, else `*`. */
export function priceOf(model: string, prices: PriceTable): ModelPrice | null {
  const exact = prices[model];
  if (exact) return exact;
  let best: string | null = null;
  for (const key of Object.keys(prices)) {
    if (key !== '*' && model.startsWith(`${key}-`) && (best === null || key.length > best.length)) best = key;
  }
  return (best ? prices[best] : prices['*']) ?? null;
}

/**
 * What identifies one run: its run key (`pipeline-<name>-<time>`), else its Temporal run id, else
 * its workflow id (every run of a pipeline shares the workflow id, so that comes last).
 */
export function runIdentity(r: RunRecord): string {
  return r.run.runKey ?? r.run.runId ?? r.run.workflowId;
}

/** Keep the last record of each run (a retried `recordRun` never double-counts). */
export function dedupeRuns(runs: readonly RunRecord[]): RunRecord[] {
  const byId = new Map<string, RunRecord>();
  for (const r of runs) {
    const id = runIdentity(r);
    byId.delete(id);
    byId.set(id, r);
  }
  return [...byId.values()];
}

function timeOf(r: RunRecord): string {
  return r.finishedAt || r.startedAt;
}

type Category = 'succeeded' | 'healed' | 'failed' | 'rolled-back' | 'rejected';

function categoryOf(r: RunRecord): Category {
  // A partial run (files set aside) is not a success, whatever its episode did.
  if (r.run.outcome === 'partial') return 'failed';
  if (r.episode) return r.episode.outcome;
  return r.run.outcome;
}

function fixLines(patch: Patch | null | undefined): string[] {
  return (patch ?? []).filter((op) => op.op !== 'shape').map((op) => describeOp(op));
}

function episodeOf(r: RunRecord, alerts: Map<string, AlertLogEntry[]>): EpisodeView | null {
  const e = r.episode;
  const episodeId = e?.episodeId ?? r.run.episodeId;
  if (!episodeId) return null;
  const outcome: EpisodeView['outcome'] = e ? e.outcome : r.run.outcome === 'healed' ? 'healed' : 'failed';
  const fromEpisode: NotificationRecord[] = e?.notifications ?? [];
  const notifications = fromEpisode.length
    ? fromEpisode.map((n) => ({ outcome: n.outcome, status: n.status, ...(n.error ? { error: n.error } : {}) }))
    : lastPerOutcome(alerts.get(episodeId) ?? []).map((a) => ({
        outcome: a.outcome,
        status: a.status,
        ...(a.error ? { error: a.error } : {}),
      }));
  return {
    episodeId,
    runId: r.run.runKey ?? r.run.workflowId,
    runWorkflowId: r.run.workflowId,
    temporalRunId: r.run.runId ?? null,
    pipeline: r.run.pipeline,
    outcome,
    at: timeOf(r),
    attempts: e ? e.attempts.length : r.run.attempts,
    doctor: (e ? e.doctor : r.run.doctor) ?? null,
    mttrMs: outcome === 'healed' ? ((e ? e.mttrMs : r.run.mttrMs) ?? null) : null,
    specVersion: e?.specVersion ?? r.run.specVersion,
    driftSummary: r.run.driftReport?.summary ?? null,
    driftKinds: r.run.driftReport?.kinds ?? [],
    fix: fixLines(e?.patch ?? r.run.patch),
    error: e ? e.error : (r.run.error?.message ?? null),
    prUrl: e?.pullRequest?.prUrl ?? r.run.prUrl ?? null,
    notifications,
  };
}

function lastPerOutcome(entries: AlertLogEntry[]): AlertLogEntry[] {
  const m = new Map<string, AlertLogEntry>();
  for (const a of entries) m.set(a.outcome, a);
  return [...m.values()];
}

function utcDay(iso: string): string | null {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? new Date(t).toISOString().slice(0, 10) : null;
}

/** Alerts by episode, in log order: the last entry of an episode (or of one of its outcomes) is how it stands. */
function alertsByEpisodeOf(alerts: readonly AlertLogEntry[]): Map<string, AlertLogEntry[]> {
  const byEpisode = new Map<string, AlertLogEntry[]>();
  for (const a of alerts) {
    const list = byEpisode.get(a.episodeId) ?? [];
    list.push(a);
    byEpisode.set(a.episodeId, list);
  }
  return byEpisode;
}

/** What one pass over the finished runs adds up. */
interface RunTally {
  runCounts: { total: number; succeeded: number; healed: number; partial: number; failed: number };
  drifts: number;
  byKind: Record<string, number>;
  episodes: EpisodeView[];
  finishedEpisodeIds: Set<string>;
  attemptRecords: AttemptRecord[];
  rowsLoaded: number;
  rowsQuarantined: number;
}

/** A run counts as a drift with a drift report or with an episode (an episode implies a drift, report or not). */
function tallyRuns(runs: readonly RunRecord[], alertsByEpisode: Map<string, AlertLogEntry[]>): RunTally {
  const t: RunTally = {
    runCounts: { total: runs.length, succeeded: 0, healed: 0, partial: 0, failed: 0 },
    drifts: 0,
    byKind: {},
    episodes: [],
    finishedEpisodeIds: new Set<string>(),
    attemptRecords: [],
    rowsLoaded: 0,
    rowsQuarantined: 0,
  };
  for (const r of runs) {
    t.runCounts[r.run.outcome] += 1;
    t.rowsLoaded += r.run.rowsLoaded;
    t.rowsQuarantined += r.run.rowsQuarantined;
    if (r.run.driftReport || r.episode) {
      t.drifts += 1;
      for (const k of r.run.driftReport?.kinds ?? []) t.byKind[k] = (t.byKind[k] ?? 0) + 1;
    }
    const ep = episodeOf(r, alertsByEpisode);
    if (ep) {
      t.episodes.push(ep);
      t.finishedEpisodeIds.add(ep.episodeId);
    }
    if (r.episode) t.attemptRecords.push(...r.episode.attempts);
  }
  return t;
}

/** An episode awaits a decision when its latest alert asks for approval and no run has finished it. */
function awaitingEpisodes(alertsByEpisode: Map<string, AlertLogEntry[]>, finished: Set<string>): EpisodeView[] {
  const awaiting: EpisodeView[] = [];
  for (const [episodeId, list] of alertsByEpisode) {
    const last = list[list.length - 1];
    if (!last || last.outcome !== 'awaiting-approval' || finished.has(episodeId)) continue;
    awaiting.push({
      episodeId,
      runId: last.runId,
      runWorkflowId: last.runId,
      temporalRunId: null,
      pipeline: last.pipeline,
      outcome: 'awaiting-approval',
      at: list.find((a) => a.outcome === 'awaiting-approval')?.at ?? last.at,
      attempts: 0,
      doctor: null,
      mttrMs: null,
      specVersion: null,
      driftSummary: null,
      driftKinds: last.kinds,
      fix: [],
      error: null,
      prUrl: null,
      notifications: [{ outcome: last.outcome, status: last.status, ...(last.error ? { error: last.error } : {}) }],
    });
  }
  return awaiting;
}

/** Tokens count for every model; cost only for priced ones, so an unknown model is listed rather than guessed. */
function llmUsage(attemptRecords: readonly AttemptRecord[], prices: PriceTable): HealMetrics['llm'] {
  const byModel: HealMetrics['llm']['byModel'] = {};
  for (const a of attemptRecords) {
    if (!a.usage) continue;
    const m = (byModel[a.usage.model] ??= { promptTokens: 0, completionTokens: 0, costUsd: null });
    m.promptTokens += a.usage.promptTokens;
    m.completionTokens += a.usage.completionTokens;
  }
  let cost = 0;
  const unpriced: string[] = [];
  for (const [model, m] of Object.entries(byModel)) {
    const p = priceOf(model, prices);
    if (!p) {
      unpriced.push(model);
      continue;
    }
    m.costUsd = round((m.promptTokens / 1000) * p.input + (m.completionTokens / 1000) * p.output, 6);
    cost += m.costUsd;
  }
  const promptTokens = Object.values(byModel).reduce((s, m) => s + m.promptTokens, 0);
  const completionTokens = Object.values(byModel).reduce((s, m) => s + m.completionTokens, 0);
  return {
    promptTokens,
    completionTokens,
    totalTokens: promptTokens + completionTokens,
    estimatedCostUsd: round(cost, 6),
    byModel,
    unpricedModels: unpriced.sort(),
  };
}

/** Each (episode, outcome) alert ends as its last attempt did; one still rate-limited never went out, so failed. */
function notificationCounts(alertsByEpisode: Map<string, AlertLogEntry[]>): HealMetrics['notifications'] {
  const notifications = { sent: 0, grouped: 0, disabled: 0, failed: 0 };
  for (const list of alertsByEpisode.values()) {
    for (const a of lastPerOutcome(list)) {
      if (a.status === 'rate-limited' || a.status === 'failed') notifications.failed += 1;
      else notifications[a.status] += 1;
    }
  }
  return notifications;
}

/** Alerts whose last attempt failed, newest first (ten at most: a dashboard list, not a log). */
function alertFailuresOf(alertsByEpisode: Map<string, AlertLogEntry[]>): HealMetrics['alertFailures'] {
  const failed = (a: AlertLogEntry) => a.status === 'failed' || a.status === 'rate-limited';
  return [...alertsByEpisode.values()]
    .flatMap((list) =>
      lastPerOutcome(list)
        .filter(failed)
        .map((a) => ({ ...a, attempts: list.filter((x) => x.outcome === a.outcome && failed(x)).length })),
    )
    .sort((x, y) => y.at.localeCompare(x.at))
    .slice(0, 10);
}

/** A fresh zero per day: the tallies are mutated in place. */
const noCategories = (): Record<Category, number> => ({
  succeeded: 0,
  healed: 0,
  failed: 0,
  'rolled-back': 0,
  rejected: 0,
});

/** Days are UTC and gap-filled (a day without runs is a zero, not a missing point), the latest `days` of the range. */
function dailySeries(runs: readonly RunRecord[], days: number): DailyPoint[] {
  const dayMap = new Map<string, { cats: Record<Category, number>; mttr: number[] }>();
  for (const r of runs) {
    const d = utcDay(timeOf(r));
    if (!d) continue;
    const slot = dayMap.get(d) ?? { cats: noCategories(), mttr: [] };
    slot.cats[categoryOf(r)] += 1;
    const mttr = r.episode?.outcome === 'healed' ? r.episode.mttrMs : r.run.outcome === 'healed' ? r.run.mttrMs : null;
    if (mttr != null) slot.mttr.push(mttr);
    dayMap.set(d, slot);
  }
  const daily: DailyPoint[] = [];
  const dayKeys = [...dayMap.keys()].sort();
  if (!dayKeys.length) return daily;
  const last = Date.parse(`${dayKeys[dayKeys.length - 1]}T00:00:00Z`);
  const first = Math.max(Date.parse(`${dayKeys[0]}T00:00:00Z`), last - (days - 1) * DAY_MS);
  for (let t = first; t <= last; t += DAY_MS) {
    const date = new Date(t).toISOString().slice(0, 10);
    const slot = dayMap.get(date);
    const c = slot?.cats ?? noCategories();
    daily.push({
      date,
      runs: c.succeeded + c.healed + c.failed + c['rolled-back'] + c.rejected,
      succeeded: c.succeeded,
      healed: c.healed,
      failed: c.failed,
      'rolled-back': c['rolled-back'],
      rejected: c.rejected,
      mttrP50Ms: percentile(slot?.mttr ?? [], 50),
    });
  }
  return daily;
}

/** MTTR counts healed episodes only: a failed episode never restored the table, so it has no time to repair. */
function mttrOf(episodes: readonly EpisodeView[]): HealMetrics['mttr'] {
  const mttrs = episodes.filter((e) => e.outcome === 'healed' && e.mttrMs != null).map((e) => e.mttrMs as number);
  return {
    count: mttrs.length,
    p50Ms: percentile(mttrs, 50),
    p95Ms: percentile(mttrs, 95),
    meanMs: mttrs.length ? Math.round(mttrs.reduce((s, n) => s + n, 0) / mttrs.length) : null,
    maxMs: mttrs.length ? Math.max(...mttrs) : null,
  };
}

/** Finished episodes only: an awaiting one is known from its alert alone, which does not carry its attempts. */
function attemptsOf(episodes: readonly EpisodeView[]): HealMetrics['attempts'] {
  const attemptsList = episodes.map((e) => e.attempts);
  const histogram: Record<string, number> = {};
  for (const n of attemptsList) histogram[String(n)] = (histogram[String(n)] ?? 0) + 1;
  const total = attemptsList.reduce((s, n) => s + n, 0);
  return {
    episodes: attemptsList.length,
    total,
    mean: attemptsList.length ? round(total / attemptsList.length, 2) : null,
    max: attemptsList.length ? Math.max(...attemptsList) : 0,
    histogram,
  };
}

/** The doctors show at zero too, so one that never fixed anything is still listed; no fix applied counts as `none`. */
function doctorCounts(episodes: readonly EpisodeView[]): Record<string, number> {
  const doctors: Record<string, number> = { rules: 0, memory: 0, llm: 0, none: 0 };
  for (const e of episodes) {
    const d = e.doctor ?? 'none';
    doctors[d] = (doctors[d] ?? 0) + 1;
  }
  return doctors;
}

/** The last outcome is the latest run's category (runs are in time order), so a partial run shows as failed. */
function pipelineRows(pipelines: readonly PipelineInfoRow[], runs: readonly RunRecord[]): PipelineMetricsRow[] {
  return pipelines.map((p) => {
    const mine = runs.filter((r) => r.run.pipeline === p.pipeline);
    const last = mine[mine.length - 1];
    return {
      ...p,
      runs: mine.length,
      lastRunAt: last ? timeOf(last) : null,
      lastOutcome: last ? categoryOf(last) : null,
    };
  });
}

/** Compute every figure from the records. Pure: same records, same numbers. */
export function computeMetrics(opts: ComputeOptions): HealMetrics {
  const runs = dedupeRuns(opts.runs).sort((a, b) => timeOf(a).localeCompare(timeOf(b)));
  const alertsByEpisode = alertsByEpisodeOf(opts.alerts ?? []);
  const t = tallyRuns(runs, alertsByEpisode);
  const { runCounts, episodes } = t;
  const awaiting = awaitingEpisodes(alertsByEpisode, t.finishedEpisodeIds);
  const count = (o: EpisodeView['outcome']) => episodes.filter((e) => e.outcome === o).length;
  const healed = count('healed');
  const finished = episodes.length;

  return {
    generatedAt: (opts.now ?? new Date()).toISOString(),
    runs: {
      ...runCounts,
      successRate: runs.length ? round((runCounts.succeeded + runCounts.healed) / runs.length, 4) : null,
    },
    drifts: { total: t.drifts, byKind: t.byKind },
    episodes: {
      total: finished + awaiting.length,
      healed,
      failed: count('failed'),
      'rolled-back': count('rolled-back'),
      rejected: count('rejected'),
      awaiting: awaiting.length,
      successRate: finished ? round(healed / finished, 4) : null,
    },
    mttr: mttrOf(episodes),
    attempts: attemptsOf(episodes),
    doctors: doctorCounts(episodes),
    llm: llmUsage(t.attemptRecords, opts.prices ?? DEFAULT_PRICES),
    rows: { loaded: t.rowsLoaded, quarantined: t.rowsQuarantined },
    notifications: notificationCounts(alertsByEpisode),
    daily: dailySeries(runs, opts.days ?? 60),
    // The last 200 healed episodes: enough for a scatter chart without shipping the whole history.
    mttrSeries: episodes
      .filter((e) => e.outcome === 'healed' && e.mttrMs != null)
      .map((e) => ({ at: e.at, pipeline: e.pipeline, episodeId: e.episodeId, mttrMs: e.mttrMs as number }))
      .slice(-200),
    recentEpisodes: [...episodes, ...awaiting].sort((a, b) => b.at.localeCompare(a.at)).slice(0, opts.recent ?? 25),
    alertFailures: alertFailuresOf(alertsByEpisode),
    pipelines: pipelineRows(opts.pipelines ?? [], runs),
  };
}

/** Escape a Prometheus label value. */
function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The metrics in the Prometheus text exposition format (version 0.0.4). */
export function renderPrometheus(m: HealMetrics): string {
  const out: string[] = [];
  const metric = (
    name: string,
    type: 'counter' | 'gauge' | 'summary',
    help: string,
    samples: [Record<string, string> | null, number | null, string?][],
  ) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value, suffix] of samples) {
      if (value === null) continue;
      const l =
        labels && Object.keys(labels).length
          ? `{${Object.entries(labels)
              .map(([k, v]) => `${k}="${label(v)}"`)
              .join(',')}}`
          : '';
      out.push(`${name}${suffix ?? ''}${l} ${Number.isFinite(value) ? value : 0}`);
    }
  };
  metric(
    'heal_runs_total',
    'counter',
    'Finished pipeline runs by outcome.',
    (['succeeded', 'healed', 'partial', 'failed'] as const).map((o) => [{ outcome: o }, m.runs[o]]),
  );
  metric('heal_drifts_total', 'counter', 'Runs whose source had drifted.', [[null, m.drifts.total]]);
  metric(
    'heal_drift_kinds_total',
    'counter',
    'Drifts by kind of difference.',
    Object.entries(m.drifts.byKind).map(([k, n]) => [{ kind: k }, n]),
  );
  metric(
    'heal_episodes_total',
    'counter',
    'Finished healing episodes by outcome.',
    (['healed', 'failed', 'rolled-back', 'rejected'] as const).map((o) => [{ outcome: o }, m.episodes[o]]),
  );
  metric('heal_episodes_awaiting_approval', 'gauge', 'Episodes waiting for a decision.', [[null, m.episodes.awaiting]]);
  metric('heal_healing_success_ratio', 'gauge', 'Healed / finished episodes.', [[null, m.episodes.successRate]]);
  const sec = (ms: number | null) => (ms === null ? null : ms / 1000);
  metric('heal_mttr_seconds', 'summary', 'Drift detected to healed table committed (nearest-rank quantiles).', [
    [{ quantile: '0.5' }, sec(m.mttr.p50Ms)],
    [{ quantile: '0.95' }, sec(m.mttr.p95Ms)],
    [null, m.mttr.meanMs === null ? 0 : (m.mttr.meanMs * m.mttr.count) / 1000, '_sum'],
    [null, m.mttr.count, '_count'],
  ]);
  metric('heal_healing_attempts_total', 'counter', 'Healing attempts of finished episodes.', [
    [null, m.attempts.total],
  ]);
  metric(
    'heal_episodes_by_doctor_total',
    'counter',
    'Episodes by the doctor whose fix was applied.',
    Object.entries(m.doctors).map(([d, n]) => [{ doctor: d }, n]),
  );
  metric(
    'heal_llm_tokens_total',
    'counter',
    'Model tokens used by diagnoses.',
    Object.entries(m.llm.byModel).flatMap(([model, u]) => [
      [{ model, type: 'prompt' }, u.promptTokens],
      [{ model, type: 'completion' }, u.completionTokens],
    ]) as [Record<string, string>, number][],
  );
  metric('heal_llm_estimated_cost_usd_total', 'counter', 'Estimated model cost (priced models only).', [
    [null, m.llm.estimatedCostUsd],
  ]);
  metric('heal_rows_loaded_total', 'counter', 'Rows loaded into tables.', [[null, m.rows.loaded]]);
  metric('heal_rows_quarantined_total', 'counter', 'Rows sent to quarantine.', [[null, m.rows.quarantined]]);
  metric(
    'heal_notifications_total',
    'counter',
    'Episode alerts by how they ended.',
    (['sent', 'grouped', 'disabled', 'failed'] as const).map((s) => [{ status: s }, m.notifications[s]]),
  );
  metric(
    'heal_pipeline_spec_version',
    'gauge',
    'Current spec version of each pipeline.',
    m.pipelines.map((p) => [{ pipeline: p.pipeline }, p.specVersion]),
  );
  return `${out.join('\n')}\n`;
}
