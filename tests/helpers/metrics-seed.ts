/**
 * A fixed set of recorded runs, episodes and alert attempts whose figures are known by hand (see
 * tests/unit/metrics.test.ts for the arithmetic), and a writer that seeds a state directory with them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AlertLogEntry } from '../../core/metrics-model';
import type { Patch } from '../../common/patch';
import type {
  AttemptRecord,
  DriftKind,
  DriftReport,
  EpisodeResult,
  PipelineRunResult,
  RunRecord,
} from '../../common/types';

/** An error text that must show as text on the dashboard, never run. */
export const HOSTILE_ERROR = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> no fix held';

function drift(pipeline: string, kinds: DriftKind[]): DriftReport {
  return {
    pipeline,
    specVersion: 1,
    sources: [`/data/${pipeline}.csv`],
    summary: `${kinds.join(', ')} in ${pipeline}.csv`,
    kinds,
    differences: kinds.map((kind) => ({ kind, detail: `${kind} detected`, samples: ['secret-sample'] })),
    expected: { format: 'csv', columns: ['a'] },
    found: { format: 'csv', columns: ['a'] },
  };
}

function attempt(n: number, doctor: string, ok: boolean, usage?: AttemptRecord['usage']): AttemptRecord {
  return {
    attempt: n,
    doctor,
    patch: null,
    candidateVersion: ok ? 2 : null,
    report: null,
    error: ok ? null : 'verification failed',
    ...(usage ? { usage } : {}),
  };
}

const MAP: Patch = [{ op: 'map', column: 'net_generation', from: 'netGeneration' }];

export interface Spec {
  id: string;
  pipeline: string;
  at: string;
  outcome: PipelineRunResult['outcome'];
  rows: number;
  quarantined: number;
  kinds?: DriftKind[];
  episode?: {
    outcome: EpisodeResult['outcome'];
    doctor: string | null;
    attempts: AttemptRecord[];
    mttrMs: number | null;
    error?: string | null;
    prUrl?: string;
  };
  error?: { type: string; message: string };
}

export function record(s: Spec): RunRecord {
  const episodeId = s.episode ? `${s.id}-heal` : undefined;
  const run: PipelineRunResult = {
    outcome: s.outcome,
    // Every run of a pipeline shares its workflow id; the run key and the Temporal run id tell runs apart.
    workflowId: `pipeline-${s.pipeline}`,
    runKey: s.id,
    runId: `0000-${s.id}`,
    pipeline: s.pipeline,
    table: s.pipeline,
    warehouse: '/tmp/w.duckdb',
    rowsLoaded: s.rows,
    rowsQuarantined: s.quarantined,
    specVersion: 2,
    attempts: s.episode?.attempts.length ?? 0,
    driftReport: s.kinds ? drift(s.pipeline, s.kinds) : null,
    error: s.error ?? null,
    ...(episodeId ? { episodeId, doctor: s.episode?.doctor ?? null, mttrMs: s.episode?.mttrMs ?? null } : {}),
  };
  const episode: EpisodeResult | null = s.episode
    ? {
        outcome: s.episode.outcome,
        episodeId: episodeId as string,
        pipeline: s.pipeline,
        attempts: s.episode.attempts,
        specVersion: 2,
        doctor: s.episode.doctor,
        patch: s.episode.outcome === 'failed' ? null : MAP,
        rowsLoaded: s.rows,
        rowsQuarantined: s.quarantined,
        mttrMs: s.episode.mttrMs,
        error: s.episode.error ?? null,
        ...(s.episode.prUrl
          ? {
              pullRequest: {
                status: 'opened' as const,
                prUrl: s.episode.prUrl,
                prNumber: 7,
                branch: `heal/${s.pipeline}/${episodeId}`,
              },
            }
          : {}),
      }
    : null;
  const finished = Date.parse(s.at);
  return { run, startedAt: new Date(finished - 5_000).toISOString(), finishedAt: s.at, episode };
}

/** Ten runs over five days (and one duplicate of r2, as a retried recordRun would write). */
export function seedRunRecords(): RunRecord[] {
  const specs: Spec[] = [
    { id: 'r1', pipeline: 'users', at: '2026-11-20T10:00:00.000Z', outcome: 'succeeded', rows: 1000, quarantined: 2 },
    {
      id: 'r2',
      pipeline: 'users',
      at: '2026-11-20T12:00:00.000Z',
      outcome: 'healed',
      rows: 1000,
      quarantined: 0,
      kinds: ['renamed'],
      episode: { outcome: 'healed', doctor: 'rules', attempts: [attempt(1, 'rules', true)], mttrMs: 1200 },
    },
    {
      id: 'r3',
      pipeline: 'weather',
      at: '2026-11-21T09:00:00.000Z',
      outcome: 'healed',
      rows: 500,
      quarantined: 5,
      kinds: ['format-change'],
      episode: {
        outcome: 'healed',
        doctor: 'llm',
        attempts: [
          attempt(1, 'llm', false, { promptTokens: 1000, completionTokens: 200, model: 'gpt-4o-mini' }),
          attempt(2, 'llm', true, { promptTokens: 1500, completionTokens: 300, model: 'gpt-4o-mini-2024-07-18' }),
        ],
        mttrMs: 4800,
        prUrl: 'https://github.example/acme/heal/pull/7',
      },
    },
    {
      id: 'r4',
      pipeline: 'weather',
      at: '2026-11-21T15:00:00.000Z',
      outcome: 'failed',
      rows: 0,
      quarantined: 0,
      kinds: ['missing-column'],
      episode: {
        outcome: 'failed',
        doctor: null,
        attempts: [
          attempt(1, 'llm', false, { promptTokens: 400, completionTokens: 100, model: 'local-llama' }),
          attempt(2, 'rules', false),
          attempt(3, 'rules', false),
        ],
        mttrMs: null,
        error: HOSTILE_ERROR,
      },
      error: { type: 'SchemaDrift', message: HOSTILE_ERROR },
    },
    {
      id: 'r5',
      pipeline: 'users',
      at: '2026-11-22T08:00:00.000Z',
      outcome: 'healed',
      rows: 1000,
      quarantined: 1,
      kinds: ['renamed'],
      episode: { outcome: 'healed', doctor: 'memory', attempts: [attempt(1, 'memory', true)], mttrMs: 800 },
    },
    {
      id: 'r6',
      pipeline: 'orders',
      at: '2026-11-23T11:00:00.000Z',
      outcome: 'failed',
      rows: 0,
      quarantined: 0,
      kinds: ['type-change'],
      episode: {
        outcome: 'rolled-back',
        doctor: 'rules',
        attempts: [attempt(1, 'rules', true)],
        mttrMs: null,
        error: 'reload failed; v1 restored',
      },
    },
    {
      id: 'r7',
      pipeline: 'orders',
      at: '2026-11-23T12:00:00.000Z',
      outcome: 'failed',
      rows: 0,
      quarantined: 0,
      kinds: ['format-change'],
      episode: {
        outcome: 'rejected',
        doctor: 'rules',
        attempts: [attempt(1, 'rules', true)],
        mttrMs: null,
        error: 'rejected by alice',
      },
    },
    { id: 'r8', pipeline: 'users', at: '2026-11-24T10:00:00.000Z', outcome: 'succeeded', rows: 1000, quarantined: 0 },
    {
      id: 'r9',
      pipeline: 'orders',
      at: '2026-11-24T11:00:00.000Z',
      outcome: 'failed',
      rows: 0,
      quarantined: 0,
      error: { type: 'QuarantineBudgetExceeded', message: '12% of rows would be quarantined' },
    },
    {
      id: 'r10',
      pipeline: 'weather',
      at: '2026-11-24T12:00:00.000Z',
      outcome: 'healed',
      rows: 300,
      quarantined: 0,
      kinds: ['format-change', 'reordered'],
      episode: { outcome: 'healed', doctor: 'rules', attempts: [attempt(1, 'rules', true)], mttrMs: 2000 },
    },
  ];
  const records = specs.map(record);
  const r2 = records[1] as RunRecord;
  return [...records, JSON.parse(JSON.stringify(r2)) as RunRecord];
}

function alert(
  a: Partial<AlertLogEntry> & Pick<AlertLogEntry, 'episodeId' | 'pipeline' | 'outcome' | 'status' | 'at'>,
): AlertLogEntry {
  return { runId: `pipeline-${a.pipeline}`, kinds: [], attempt: 1, ...a };
}

/** Alert attempts: r2 sent, r3 failed four times (HTTP 500), r5 grouped, r6 disabled, one episode awaiting approval. */
export function seedAlertLog(): AlertLogEntry[] {
  return [
    alert({
      at: '2026-11-20T12:00:01.000Z',
      episodeId: 'r2-heal',
      pipeline: 'users',
      outcome: 'healed',
      status: 'sent',
      httpStatus: 200,
    }),
    ...[1, 2, 3, 4].map((n) =>
      alert({
        at: `2026-11-21T09:00:0${n}.000Z`,
        episodeId: 'r3-heal',
        pipeline: 'weather',
        outcome: 'healed',
        status: 'failed',
        attempt: n,
        httpStatus: 500,
        error: 'Slack answered HTTP 500 (<b>internal_error</b>)',
      }),
    ),
    alert({
      at: '2026-11-22T08:00:01.000Z',
      episodeId: 'r5-heal',
      pipeline: 'users',
      outcome: 'healed',
      status: 'grouped',
      detail: 'same as r2-heal',
    }),
    alert({
      at: '2026-11-23T11:00:01.000Z',
      episodeId: 'r6-heal',
      pipeline: 'orders',
      outcome: 'rolled-back',
      status: 'disabled',
    }),
    alert({
      at: '2026-11-24T13:00:00.000Z',
      episodeId: 'r11-heal',
      pipeline: 'orders',
      outcome: 'awaiting-approval',
      status: 'sent',
      kinds: ['renamed'],
    }),
  ];
}

/** Write the records and the alert log into a state directory (as the activities would). */
export function seedHome(
  home: string,
  runs: RunRecord[] = seedRunRecords(),
  alerts: AlertLogEntry[] = seedAlertLog(),
): void {
  fs.mkdirSync(path.join(home, 'metrics'), { recursive: true });
  fs.mkdirSync(path.join(home, 'alerts'), { recursive: true });
  fs.writeFileSync(path.join(home, 'metrics', 'runs.jsonl'), runs.map((r) => JSON.stringify(r)).join('\n') + '\n');
  fs.writeFileSync(path.join(home, 'alerts', 'log.jsonl'), alerts.map((a) => JSON.stringify(a)).join('\n') + '\n');
}
