/**
 * Activities: the side of heal that does I/O. Built by a factory that receives its dependencies,
 * so tests inject their own state directory and settings without module mocking.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Context } from '@temporalio/activity';
import { parseDuration } from '../common/duration';
import { DEFAULT_APPROVAL_TIMEOUT_MS } from '../common/defaults';
import { asActivityFailure } from '../common/errors';
import { HEARTBEAT_INTERVAL_MS } from '../common/policies';
import type { LoadSummary } from '../common/types';
import {
  DEFAULT_ALERT_WINDOW_MS,
  DEFAULT_GITHUB_API_URL,
  DEFAULT_NAMESPACE,
  DEFAULT_UI_URL,
  type HealConfig,
} from '../lib/config';
import { readJson } from '../lib/atomic-files';
import { createAlertActivities } from '../integrations/alerts';
import { sourceFingerprint } from '../core/etl/files';
import { commitVerified, runLoad } from '../core/etl/load';
import { resolveSourceFiles } from '../core/etl/source';
import { createGitHubActivities, type GitHubDeps } from '../integrations/github';
import { createMetricsActivities } from './metrics';
import type { Doctor } from '../core/doctor/types';
import {
  createHealingActivities,
  removeScratch,
  removeStaleScratch,
  verifiedScratch,
  type VerifiedScratchMeta,
} from './healing';
import { createPartitionActivities } from './partitions';
import { createQuarantineActivities } from './quarantine';
import { openStore } from '../store';
import { openWarehouse } from '../warehouse';
import type { GetPipelineInput, PipelineInfo, LoadSourceInput } from '../common/contracts';

/** What activities need from the outside world. */
export interface ActivityDeps {
  config: Pick<HealConfig, 'home' | 'warehouse' | 'allowedRoots' | 'duckdbMemoryLimit' | 'duckdbThreads'> &
    Partial<
      Pick<
        HealConfig,
        | 'warehouseUrl'
        | 'warehouseSchema'
        | 'storeUrl'
        | 'pgLockTimeout'
        | 'llm'
        | 'maxAttempts'
        | 'maskSamples'
        | 'probeRows'
        | 'approvalTimeoutMs'
        | 'slackWebhookUrl'
        | 'alertWindowMs'
        | 'github'
        | 'gitCommits'
        | 'uiUrl'
        | 'namespace'
      >
    >;
  /** GitHub client knobs (poll interval, retry timings), for tests. @default the client's own */
  github?: Omit<GitHubDeps, 'config'>;
  /** Doctors tried in order. @default rules, then the LLM when OPENAI_BASE_URL or OPENAI_API_KEY is set */
  doctors?: Doctor[];
}

/** Run `fn` in an activity, heartbeating while it works; outside an activity just run it. */
async function heartbeating<T>(fn: () => Promise<T>): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    ctx = undefined;
  }
  if (!ctx) return fn();
  const c = ctx;
  c.heartbeat(); // at once: the worker knows it started, and a test can see it
  const timer = setInterval(() => c.heartbeat(), HEARTBEAT_INTERVAL_MS);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** Wrap activity implementations so domain errors cross the boundary as typed ApplicationFailures. */
function atBoundary<T extends Record<string, (input: never) => Promise<unknown>>>(impls: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(impls)) {
    out[name] = async (input: never) => {
      try {
        return await fn(input);
      } catch (err) {
        throw asActivityFailure(err);
      }
    };
  }
  return out as T;
}

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/** Are the files a verification kept rows for unchanged (path, size, mtime)? */
function sameFiles(kept: VerifiedScratchMeta): boolean {
  try {
    return sourceFingerprint(kept.files) === kept.fingerprint;
  } catch {
    return false; // a file is gone: load from the source
  }
}

export function createActivities(deps: ActivityDeps) {
  const { config } = deps;
  const store = openStore(config);
  const warehouse = openWarehouse(config);

  const links = { uiUrl: config.uiUrl ?? DEFAULT_UI_URL, namespace: config.namespace ?? DEFAULT_NAMESPACE };
  const healing = createHealingActivities({
    config,
    store,
    warehouse,
    ...(deps.doctors ? { doctors: deps.doctors } : {}),
  });
  const partitions = createPartitionActivities({ config, store, warehouse });
  const quarantine = createQuarantineActivities({ store, warehouse });
  return atBoundary({
    ...healing,
    // Whole-file DuckDB work: heartbeat while it runs (the `doctor` and `etl` profiles time out a silent activity).
    diagnose: (input: Parameters<typeof healing.diagnose>[0]) => heartbeating(() => healing.diagnose(input)),
    verifyPatch: (input: Parameters<typeof healing.verifyPatch>[0]) => heartbeating(() => healing.verifyPatch(input)),
    // Quick, but on the `doctor` profile: every activity whose profile has a heartbeat timeout heartbeats.
    proposePatch: (input: Parameters<typeof healing.proposePatch>[0]) =>
      heartbeating(() => healing.proposePatch(input)),
    ...createAlertActivities({
      runs: store.runs,
      config: {
        home: config.home,
        slackWebhookUrl: config.slackWebhookUrl,
        alertWindowMs: config.alertWindowMs ?? DEFAULT_ALERT_WINDOW_MS,
        ...links,
      },
    }),
    ...createMetricsActivities({ store }),
    ...partitions,
    loadPartition: (input: Parameters<typeof partitions.loadPartition>[0]) =>
      heartbeating(() => partitions.loadPartition(input)),
    mergePartitions: (input: Parameters<typeof partitions.mergePartitions>[0]) =>
      heartbeating(() => partitions.mergePartitions(input)),
    // A replay casts and commits like a load: on the `etl` profile, heartbeating.
    replayQuarantine: (input: Parameters<typeof quarantine.replayQuarantine>[0]) =>
      heartbeating(() => quarantine.replayQuarantine(input)),
    ...createGitHubActivities({
      specs: store.specs,
      config: {
        home: config.home,
        github: config.github ?? { token: undefined, repository: undefined, apiUrl: DEFAULT_GITHUB_API_URL },
        ...links,
      },
      ...deps.github,
    }),

    /** Read the pipeline's current spec: table, warehouse, version, healing settings. */
    async getPipeline({ pipeline }: GetPipelineInput): Promise<PipelineInfo> {
      const cur = await store.specs.current(pipeline);
      return {
        pipeline,
        table: cur.spec.target.table,
        warehouse: warehouse.where,
        specVersion: cur.version,
        maxAttempts: config.maxAttempts ?? cur.spec.healing.maxAttempts,
        mode: cur.spec.healing.mode,
        approvalTimeoutMs:
          config.approvalTimeoutMs ?? parseDuration(cur.spec.healing.approvalTimeout) ?? DEFAULT_APPROVAL_TIMEOUT_MS,
        source: cur.spec.source.path,
        loadMode: cur.spec.target.mode,
        partial: cur.spec.target.partial,
      };
    },

    /**
     * Extract → check the contract → transform → profile, compared with the pipeline's baseline
     * (silent drift) → load (one transaction). Throws SchemaDrift (table untouched) when the source
     * no longer fits or its values shifted ('distribution-shift').
     */
    async loadSource(input: LoadSourceInput): Promise<LoadSummary> {
      const started = Date.now();
      const { spec } = await store.specs.read(input.pipeline, input.specVersion);
      const source = input.source ? path.resolve(input.source) : spec.source.path;
      const ctx = {
        spec,
        specVersion: input.specVersion,
        runId: input.runId,
        source,
        allowedRoots: config.allowedRoots,
        commit: true,
        baseline: await store.profiles.baseline(input.pipeline),
        ...(input.exclude?.length ? { exclude: input.exclude } : {}),
        setAsideOverBudget: input.allowPartial ?? false,
      };
      // A verification of this very version on this very source kept its typed rows: commit them
      // (the apply load of a healing episode) instead of reading the source again.
      const scratch = verifiedScratch(config.home, input.pipeline, input.specVersion);
      // Rows kept for other versions are for applies that never came: this run owns the pipeline.
      removeStaleScratch(config.home, input.pipeline, input.specVersion);
      const kept = readJson<VerifiedScratchMeta>(scratch.meta);
      const reusable =
        kept &&
        kept.source === source &&
        kept.specVersion === input.specVersion &&
        fs.existsSync(scratch.db) &&
        sameFiles(kept);
      const res = await heartbeating(() =>
        warehouse.withLoad(async (conn, target) => {
          // The kept rows are of the files verified: the source must still be exactly those files.
          const excluded = new Set(input.exclude ?? []);
          const listed = reusable
            ? (await resolveSourceFiles(conn, source, config.allowedRoots)).filter((f) => !excluded.has(f))
            : [];
          if (reusable && sameList(listed, kept.files)) {
            try {
              const r = await commitVerified(
                conn,
                { ...ctx, target },
                {
                  db: scratch.db,
                  table: kept.table,
                  files: kept.files,
                  rowsRead: kept.rowsRead,
                },
              );
              return { ...r, profile: r.alreadyCommitted ? null : kept.profile };
            } catch {
              // An unreadable scratch only loses the shortcut (the commit is one transaction): load the source.
            }
          }
          return runLoad(conn, { ...ctx, target });
        }),
      );
      if (kept) removeScratch(scratch);
      const profilePath = res.profile
        ? await store.profiles.save(input.pipeline, {
            runId: input.runId,
            specVersion: input.specVersion,
            sources: res.sources,
            profile: res.profile,
          })
        : null;
      return {
        pipeline: input.pipeline,
        table: spec.target.table,
        warehouse: warehouse.where,
        specVersion: input.specVersion,
        mode: spec.target.mode,
        sources: res.sources,
        rowsRead: res.rowsRead,
        rowsLoaded: res.rowsLoaded,
        rowsQuarantined: res.rowsQuarantined,
        skipped: res.skipped,
        files: res.files,
        setAside: res.setAside,
        partitionKeys: res.partitionKeys,
        profilePath,
        durationMs: Date.now() - started,
        committedAt: res.committedAt ?? new Date().toISOString(),
      };
    },
  });
}

export type Activities = ReturnType<typeof createActivities>;
