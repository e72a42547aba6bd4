/**
 * heal's state behind one interface. `openStore` returns the backend a configuration names; every
 * backend keeps the same promises, checked by one contract suite (tests/store/contract.test.ts):
 *   - spec versions are immutable; a version becomes current only through `setCurrent`/`create`;
 *   - every version and pointer move is in the history, oldest first;
 *   - fix memory is keyed by drift signature and pipeline, and a hit never loses the fix;
 *   - a run record is appended once per run (a retried append writes nothing);
 *   - the baseline is the profile of the last good load.
 * Methods are asynchronous so that a database backend (PostgreSQL, store/postgres.ts) fits the same
 * callers; the file backend (`HEAL_HOME`, store/layout.ts) does its I/O synchronously inside them.
 */
import * as fs from 'node:fs';
import type { RunRecord, TableProfile } from '../common/types';
import type { PipelineSpec } from '../common/spec';
import type { AlertLogEntry, PriceTable } from '../core/metrics-model';
import type { HealConfig } from '../lib/config';
import type { Patch } from '../common/patch';
import {
  FixMemory,
  type MemoryEntry,
  type Recalled,
  type RecordHitInput,
  type RememberInput,
  type RememberOutcome,
} from './memory';
import { readBaseline, saveLoadProfile, type LoadProfileRecord } from './profiles';
import {
  appendRunRecord,
  readAlertLog,
  readCached,
  readPrices,
  readRunRecords,
  scheduleNote,
  type ScheduleNote,
} from './runs';
import { openPostgresStore } from './postgres';
import { isPostgresUrl } from '../lib/pg';
import { stateLayout } from './layout';
import { appendLine, readJson, writeFileAtomic } from '../lib/atomic-files';
import {
  specStoreFor,
  type CurrentSpec,
  type HistoryRecord,
  type PointerRecord,
  type VersionMeta,
  type VersionRecord,
} from './spec-store';

/** Pipelines' spec versions, their current pointer and their history. */
export interface SpecRepository {
  list(): Promise<string[]>;
  exists(name: string): Promise<boolean>;
  currentVersion(name: string): Promise<number>;
  read(name: string, version: number): Promise<CurrentSpec>;
  /** A version exactly as stored (YAML): what a pull request commits. */
  text(name: string, version: number): Promise<string>;
  current(name: string): Promise<CurrentSpec>;
  history(name: string): Promise<HistoryRecord[]>;
  versions(name: string): Promise<VersionRecord[]>;
  /** Add a version (not current); a retried add of the same spec returns the same version. */
  addVersion(name: string, spec: PipelineSpec, meta: VersionMeta): Promise<VersionRecord>;
  /** Move the current pointer; null when it already pointed there. */
  setCurrent(name: string, version: number, reason: string, episodeId?: string | null): Promise<PointerRecord | null>;
  /** A new pipeline at version 1, current. */
  create(spec: PipelineSpec, opts?: { force?: boolean }): Promise<VersionRecord>;
}

/** Fixes that healed a drift, by drift signature, for the next pipeline that drifts the same way. */
export interface FixMemoryRepository {
  entries(signature: string): Promise<MemoryEntry[]>;
  entry(signature: string, pipeline: string): Promise<MemoryEntry | undefined>;
  remember(input: RememberInput): Promise<{ entry: MemoryEntry; outcome: RememberOutcome }>;
  recordHit(input: RecordHitInput): Promise<{ entry: MemoryEntry | undefined; outcome: RememberOutcome }>;
  /** A remembered patch for this signature that applies to `spec` (this pipeline's first, then others'). */
  recall(
    signature: string,
    spec: PipelineSpec,
    opts?: { pipeline?: string; exclude?: readonly Patch[] },
  ): Promise<Recalled | undefined>;
}

/** Finished runs (for metrics and the dashboard) and the alert log. */
export interface RunLog {
  /** Append a finished run's record, once per run. */
  append(record: RunRecord): Promise<void>;
  runs(): Promise<RunRecord[]>;
  alerts(): Promise<AlertLogEntry[]>;
  /** USD per 1,000 tokens by model: the defaults, overridden by the store's table, then by `file`. */
  prices(file?: string): Promise<PriceTable>;
  /** Record an alert attempt (sent, grouped, failed) in the alert log. */
  appendAlert(entry: AlertLogEntry): Promise<void>;
  /** The alerts' grouping state (a JSON document the alerts integration owns), or undefined. */
  alertState(): Promise<unknown>;
  saveAlertState(state: unknown): Promise<void>;
}

/** A copy of each pipeline's Temporal schedule (Temporal's is the truth), so the dashboard needs no server. */
export interface ScheduleNotes {
  /** "every 1h", "every 1h (paused)", or null when the pipeline has no schedule noted. */
  note(pipeline: string): Promise<string | null>;
  /** Record the schedule, or forget it (null). */
  save(pipeline: string, schedule: ScheduleNote | null): Promise<void>;
}

/** Load profiles: each committed load's, and the baseline the silent drift check compares with. */
export interface ProfileRepository {
  /** Record a committed load's profile and make it the baseline; returns where it is kept. */
  save(pipeline: string, record: LoadProfileRecord): Promise<string>;
  baseline(pipeline: string): Promise<TableProfile | null>;
}

export interface HealStore {
  /** Which backend this is, for messages: "files <home>", "postgres <URL without password> (schema heal)". */
  readonly where: string;
  readonly specs: SpecRepository;
  readonly memory: FixMemoryRepository;
  readonly runs: RunLog;
  readonly profiles: ProfileRepository;
  readonly schedules: ScheduleNotes;
}

/**
 * The store of a configuration: the PostgreSQL database `storeUrl` names (HEAL_STORE), else the
 * state directory (`HEAL_HOME`); git commits of spec versions as HEAL_GIT says, in either.
 */
export function openStore(
  config: Pick<HealConfig, 'home'> & Partial<Pick<HealConfig, 'gitCommits' | 'pgLockTimeout'>> & { storeUrl?: string },
): HealStore {
  if (isPostgresUrl(config.storeUrl))
    return openPostgresStore({
      url: config.storeUrl,
      home: config.home,
      gitCommits: config.gitCommits ?? true,
      ...(config.pgLockTimeout ? { lockTimeout: config.pgLockTimeout } : {}),
    });
  const specs = specStoreFor(config);
  const memory = new FixMemory(config.home);
  const { home } = config;
  const layout = stateLayout(home);
  return {
    where: `files ${home}`,
    specs: {
      list: async () => specs.list(),
      exists: async (name) => specs.exists(name),
      currentVersion: async (name) => specs.currentVersion(name),
      read: async (name, version) => specs.read(name, version),
      text: async (name, version) => fs.readFileSync(specs.versionFile(name, version), 'utf8'),
      current: async (name) => specs.current(name),
      history: async (name) => specs.history(name),
      versions: async (name) => specs.versions(name),
      addVersion: async (name, spec, meta) => specs.addVersion(name, spec, meta),
      setCurrent: async (name, version, reason, episodeId) => specs.setCurrent(name, version, reason, episodeId),
      create: async (spec, opts) => specs.create(spec, opts),
    },
    memory: {
      entries: async (signature) => memory.entries(signature),
      entry: async (signature, pipeline) => memory.entry(signature, pipeline),
      remember: async (input) => memory.remember(input),
      recordHit: async (input) => memory.recordHit(input),
      recall: async (signature, spec, opts) => memory.recall(signature, spec, opts),
    },
    runs: {
      append: async (record) => appendRunRecord(home, record),
      // Cached while the file is unchanged: the live dashboard reads these every few seconds.
      runs: async () => readCached(layout.runRecords, () => readRunRecords(home)),
      alerts: async () => readCached(layout.alertLog, () => readAlertLog(home)),
      prices: async (file) => readPrices(home, file),
      appendAlert: async (entry) => appendLine(layout.alertLog, JSON.stringify(entry)),
      alertState: async () => readJson<unknown>(layout.alertState),
      saveAlertState: async (state) => writeFileAtomic(layout.alertState, JSON.stringify(state, null, 1)),
    },
    profiles: {
      save: async (pipeline, record) => saveLoadProfile(home, pipeline, record),
      baseline: async (pipeline) => readBaseline(home, pipeline),
    },
    schedules: {
      note: async (pipeline) =>
        scheduleNote(readJson<{ schedule?: unknown; paused?: unknown }>(layout.schedule(pipeline))),
      save: async (pipeline, schedule) => {
        if (!schedule) fs.rmSync(layout.schedule(pipeline), { force: true });
        else writeFileAtomic(layout.schedule(pipeline), JSON.stringify(schedule));
      },
    },
  };
}
