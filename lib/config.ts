/**
 * Configuration: the environment is read once, validated with zod, never mutated.
 * Every other module takes a {@link HealConfig} (or a part of it) as an argument.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { parseDuration } from '../common/duration';
import { isPostgresUrl, redactUrl } from './pg';
import { workerSizing } from './sizing';

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const intFromEnv = (def: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

/*
 * Defaults that code given a partial config (activities built by tests) falls back to as well:
 * exported so each is written once, here.
 */
/** Temporal namespace when TEMPORAL_NAMESPACE is unset. */
export const DEFAULT_NAMESPACE = 'default';
/** Dev server Web UI port when HEAL_UI_PORT is unset. */
export const DEFAULT_UI_PORT = 8233;
/** Web UI base URL when TEMPORAL_UI_URL is unset: the local dev server's. */
export const localUiUrl = (uiPort: number): string => `http://localhost:${uiPort}`;
/** {@link localUiUrl} on the default port. */
export const DEFAULT_UI_URL = localUiUrl(DEFAULT_UI_PORT);
/** Port of the PostgreSQL server `heal dev --postgres` starts, when HEAL_DEV_PG_PORT is unset. */
export const DEFAULT_DEV_PG_PORT = 54329;
/** Alert grouping window when HEAL_ALERT_WINDOW is unset: 1h. */
export const DEFAULT_ALERT_WINDOW_MS = 3_600_000;
/** GitHub REST API base URL when GITHUB_API_URL is unset (github.com, not an Enterprise server). */
export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';

/** Rows the rules doctor's source probe reads by default (the first N of the source); see `HealConfig.probeRows`. */
export const DEFAULT_PROBE_ROWS = 100_000;

/** HEAL_PROBE_ROWS: a positive integer, or `0` / `all` for the whole source (Infinity). */
const probeRowsFromEnv = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const t = v?.trim().toLowerCase();
    if (t === undefined || t === '') return DEFAULT_PROBE_ROWS;
    if (t === 'all' || t === '0') return Infinity;
    const n = Number(t.replace(/_/g, ''));
    if (!/^[0-9_]+$/.test(t) || !Number.isSafeInteger(n) || n < 1) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a positive integer, or 0 or "all" for the whole source, got "${v}"`,
      });
      return z.NEVER;
    }
    return n;
  });

const envSchema = z.object({
  HEAL_HOME: optionalString,
  HEAL_ALLOWED_ROOTS: optionalString,
  HEAL_TASK_QUEUE: optionalString,
  HEAL_MAX_ATTEMPTS: intFromEnv(0, 1, 10),
  HEAL_DEV_PORT: intFromEnv(7233, 1, 65535),
  HEAL_UI_PORT: intFromEnv(DEFAULT_UI_PORT, 1, 65535),
  HEAL_WAREHOUSE: optionalString,
  HEAL_WAREHOUSE_SCHEMA: optionalString,
  HEAL_STORE: optionalString,
  HEAL_PG_LOCK_TIMEOUT: optionalString,
  HEAL_DEV_PG_PORT: intFromEnv(DEFAULT_DEV_PG_PORT, 1, 65535),
  HEAL_DUCKDB_MEMORY_LIMIT: optionalString,
  HEAL_DUCKDB_THREADS: intFromEnv(0, 0, 256),
  HEAL_WORKER_SLOTS: intFromEnv(0, 0, 1024),
  HEAL_VERBOSE: optionalString,
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: optionalString,
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_TEST_SERVER_PATH: optionalString,
  TEMPORAL_UI_URL: optionalString,
  OPENAI_BASE_URL: optionalString,
  OPENAI_API_KEY: optionalString,
  HEAL_MODEL: optionalString,
  HEAL_LOCAL_MODEL: optionalString,
  HEAL_LLM_CONTEXT: intFromEnv(0, 0, 1_048_576),
  HEAL_LLM_TIMEOUT: optionalString,
  HEAL_DOCTORS: optionalString,
  HEAL_APPROVAL_TIMEOUT: optionalString,
  HEAL_MASK_SAMPLES: optionalString,
  HEAL_PROBE_ROWS: probeRowsFromEnv,
  SLACK_WEBHOOK_URL: optionalString,
  HEAL_ALERT_WINDOW: optionalString,
  GITHUB_TOKEN: optionalString,
  GITHUB_REPOSITORY: optionalString,
  GITHUB_API_URL: optionalString,
  HEAL_GIT: optionalString,
});

export interface HealConfig {
  /** State directory: specs, versions, warehouse, quarantine, profiles, metrics. @default "./.heal" */
  readonly home: string;
  /**
   * Where tables are loaded, as output shows it: the DuckDB file's absolute path, or the PostgreSQL
   * URL without its password (HEAL_WAREHOUSE). @default "<home>/warehouse.duckdb"
   */
  readonly warehouse: string;
  /** The PostgreSQL warehouse's URL, password included (never printed): set when HEAL_WAREHOUSE is a postgres:// URL. */
  readonly warehouseUrl: string | undefined;
  /** PostgreSQL schema of the tables, their quarantine tables and load records (HEAL_WAREHOUSE_SCHEMA). @default "public" */
  readonly warehouseSchema: string;
  /**
   * The state store's PostgreSQL URL (HEAL_STORE), password included (never printed); unset, the
   * state directory (`home`) is the store (also HEAL_STORE=files).
   * @default the warehouse's URL when it is PostgreSQL
   */
  readonly storeUrl: string | undefined;
  /** How long a PostgreSQL statement waits for a lock held by another connection (HEAL_PG_LOCK_TIMEOUT). @default "60s" */
  readonly pgLockTimeout: string;
  /** Roots source paths must resolve under (after symlinks). @default [cwd, parent of cwd, tmpdir, home dir, HEAL_HOME] */
  readonly allowedRoots: readonly string[];
  /** @default "heal" */
  readonly taskQueue: string;
  /** Healing attempts for every pipeline, overriding each spec's healing.maxAttempts. @default unset (the spec's, 3) */
  readonly maxAttempts: number | undefined;
  /** Address of an existing Temporal server; when unset, `heal` runs a local dev server. */
  readonly temporalAddress: string | undefined;
  /** @default {@link DEFAULT_NAMESPACE} */
  readonly namespace: string;
  /** Dev server gRPC port. @default 7233 */
  readonly devPort: number;
  /** Port of the PostgreSQL server of `heal dev --postgres`. @default {@link DEFAULT_DEV_PG_PORT} */
  readonly devPgPort: number;
  /** Dev server Web UI port. @default {@link DEFAULT_UI_PORT} */
  readonly uiPort: number;
  /** Base URL of the Temporal Web UI, for links, without a trailing slash. @default {@link localUiUrl}(uiPort) */
  readonly uiUrl: string;
  readonly temporalCliPath: string | undefined;
  readonly temporalTestServerPath: string | undefined;
  /**
   * DuckDB `memory_limit` of each database an activity opens, e.g. "2GB" (HEAL_DUCKDB_MEMORY_LIMIT;
   * "none": DuckDB's own, 80 % of RAM). Past it DuckDB spills to disk.
   * @default 256 MiB per database (DEFAULT_SLOT_MEMORY_MIB in lib/sizing.ts)
   */
  readonly duckdbMemoryLimit: string | undefined;
  /** DuckDB threads; 0 means DuckDB's default. @default 0 */
  readonly duckdbThreads: number;
  /** A worker's concurrent activity executions (HEAL_WORKER_SLOTS). @default sized to the machine (lib/sizing.ts) */
  readonly workerSlots: number;
  readonly verbose: boolean;
  readonly llm: {
    readonly baseUrl: string | undefined;
    readonly apiKey: string | undefined;
    readonly model: string | undefined;
    /**
     * A local model the worker serves itself and the LLM doctor uses (HEAL_LOCAL_MODEL): a `.gguf`
     * path or a model `setup.sh --llm=<name>` fetched. Overrides OPENAI_BASE_URL. @default unset
     */
    readonly localModel: string | undefined;
    /**
     * The model's context window, in tokens (HEAL_LLM_CONTEXT): the prompt is clipped to fit it with
     * room for the answer, measured with the endpoint's tokenizer when it has one (`/tokenize`).
     * @default unset (no token budget; a local model: 4096)
     */
    readonly contextTokens: number | undefined;
    /** Time allowed for one model request (HEAL_LLM_TIMEOUT). @default 60 s; 5 min for a local model */
    readonly timeoutMs: number | undefined;
    /** Doctors asked in order (HEAL_DOCTORS, e.g. "llm" for the model alone). @default memory, rules, llm */
    readonly doctors: readonly DoctorChoice[];
  };
  /**
   * In `review` mode, how long an episode waits for a decision, overriding each spec's
   * healing.approvalTimeout, in milliseconds. @default unset (the spec's, whose default is
   * DEFAULT_APPROVAL_TIMEOUT in common/defaults.ts)
   */
  readonly approvalTimeoutMs: number | undefined;
  /** Mask every sample value sent to a model (as if every column were `pii: true`). @default false */
  readonly maskSamples: boolean;
  /**
   * Data rows of a drifted source the first diagnosis of an episode reads (the first N, in file
   * order); `Infinity` reads the whole source. Later attempts, after a fix failed verification on the
   * whole file, always read the whole source. @default 100000
   */
  readonly probeRows: number;
  /** Slack incoming webhook for episode alerts. @default unset (no Slack messages) */
  readonly slackWebhookUrl: string | undefined;
  /**
   * Alerts for the same pipeline and drift within this window are grouped, in ms.
   * @default {@link DEFAULT_ALERT_WINDOW_MS}
   */
  readonly alertWindowMs: number;
  /**
   * GitHub pull requests for spec changes: token, "owner/repo", API base URL (GitHub Enterprise).
   * @default unset (spec versions are committed to the local git repository only)
   */
  readonly github: {
    readonly token: string | undefined;
    readonly repository: string | undefined;
    readonly apiUrl: string;
  };
  /** Commit every spec version to a git repository in the state directory (HEAL_GIT=0 turns it off). @default true */
  readonly gitCommits: boolean;
  /** Directory of the project checkout (for the project-local tools venv). */
  readonly projectRoot: string;
}

/** The doctors HEAL_DOCTORS may name, in their default order (fix memory, when named, is asked first). */
export const DOCTOR_CHOICES = ['memory', 'rules', 'llm'] as const;
export type DoctorChoice = (typeof DOCTOR_CHOICES)[number];

function doctorsFromEnv(v: string | undefined): readonly DoctorChoice[] {
  if (v === undefined) return Object.freeze([...DOCTOR_CHOICES]);
  const names = v.split(',').map((n) => n.trim().toLowerCase());
  const bad = names.filter((n) => !(DOCTOR_CHOICES as readonly string[]).includes(n));
  const memoryLate = names.includes('memory') && names[0] !== 'memory';
  if (bad.length || !names.length || new Set(names).size !== names.length || memoryLate)
    throw new ConfigError(
      `HEAL_DOCTORS: a comma-separated list of ${DOCTOR_CHOICES.join(', ')} without repeats, got "${v}"`,
    );
  return Object.freeze(names as DoctorChoice[]);
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Read and validate configuration from an environment (default: `process.env`). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): HealConfig {
  const res = envSchema.safeParse(env);
  if (!res.success) {
    throw new ConfigError(res.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const e = res.data;
  const home = path.resolve(cwd, e.HEAL_HOME ?? '.heal');
  const roots = e.HEAL_ALLOWED_ROOTS
    ? e.HEAL_ALLOWED_ROOTS.split(path.delimiter)
        .filter(Boolean)
        .map((r) => path.resolve(cwd, r))
    : [cwd, path.dirname(cwd), os.tmpdir(), os.homedir()];
  const uiPort = e.HEAL_UI_PORT;
  return Object.freeze({
    home,
    ...warehouseSettings(e, home, cwd),
    allowedRoots: Object.freeze([...new Set([...roots, home])]),
    taskQueue: e.HEAL_TASK_QUEUE ?? 'heal',
    maxAttempts: e.HEAL_MAX_ATTEMPTS || undefined,
    temporalAddress: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE ?? DEFAULT_NAMESPACE,
    devPort: e.HEAL_DEV_PORT,
    devPgPort: e.HEAL_DEV_PG_PORT,
    uiPort,
    uiUrl: (e.TEMPORAL_UI_URL ?? localUiUrl(uiPort)).replace(/\/$/, ''),
    temporalCliPath: e.TEMPORAL_CLI_PATH,
    temporalTestServerPath: e.TEMPORAL_TEST_SERVER_PATH,
    ...sizing(e),
    duckdbThreads: e.HEAL_DUCKDB_THREADS,
    verbose: e.HEAL_VERBOSE === '1' || e.HEAL_VERBOSE === 'true',
    llm: Object.freeze({
      baseUrl: e.OPENAI_BASE_URL,
      apiKey: e.OPENAI_API_KEY,
      model: e.HEAL_MODEL,
      localModel: e.HEAL_LOCAL_MODEL,
      contextTokens: e.HEAL_LLM_CONTEXT || undefined,
      timeoutMs: durationFromEnv('HEAL_LLM_TIMEOUT', e.HEAL_LLM_TIMEOUT),
      doctors: doctorsFromEnv(e.HEAL_DOCTORS),
    }),
    approvalTimeoutMs: durationFromEnv('HEAL_APPROVAL_TIMEOUT', e.HEAL_APPROVAL_TIMEOUT),
    maskSamples: isTrue(e.HEAL_MASK_SAMPLES),
    probeRows: e.HEAL_PROBE_ROWS,
    slackWebhookUrl: e.SLACK_WEBHOOK_URL,
    alertWindowMs: durationFromEnv('HEAL_ALERT_WINDOW', e.HEAL_ALERT_WINDOW) ?? DEFAULT_ALERT_WINDOW_MS,
    github: Object.freeze({
      token: e.GITHUB_TOKEN,
      repository: e.GITHUB_REPOSITORY,
      apiUrl: (e.GITHUB_API_URL ?? DEFAULT_GITHUB_API_URL).replace(/\/$/, ''),
    }),
    gitCommits: e.HEAL_GIT === undefined || isTrue(e.HEAL_GIT),
    projectRoot: path.resolve(__dirname, '..'),
  });
}

/** The worker's slots and DuckDB budget: the environment's, else sized to this machine. */
function sizing(e: z.infer<typeof envSchema>): { workerSlots: number; duckdbMemoryLimit: string | undefined } {
  const machine = { cores: os.availableParallelism?.() ?? os.cpus().length, memoryBytes: os.totalmem() };
  const s = workerSizing(machine, {
    slots: e.HEAL_WORKER_SLOTS,
    ...(e.HEAL_DUCKDB_MEMORY_LIMIT ? { memoryLimit: e.HEAL_DUCKDB_MEMORY_LIMIT } : {}),
  });
  return { workerSlots: s.activitySlots, duckdbMemoryLimit: s.duckdbMemoryLimit };
}

/** HEAL_WAREHOUSE (a DuckDB file or a PostgreSQL URL), HEAL_STORE and their PostgreSQL knobs. */
function warehouseSettings(
  e: z.infer<typeof envSchema>,
  home: string,
  cwd: string,
): Pick<HealConfig, 'warehouse' | 'warehouseUrl' | 'warehouseSchema' | 'storeUrl' | 'pgLockTimeout'> {
  const w = e.HEAL_WAREHOUSE;
  const warehouseUrl = isPostgresUrl(w) ? w : undefined;
  const files = e.HEAL_STORE?.toLowerCase() === 'files';
  if (e.HEAL_STORE !== undefined && !files && !isPostgresUrl(e.HEAL_STORE))
    throw new ConfigError('HEAL_STORE: must be a postgres:// URL, or "files" for the state directory (HEAL_HOME)');
  const lock = e.HEAL_PG_LOCK_TIMEOUT ?? '60s';
  const lockMs = parseDuration(lock);
  if (lockMs === undefined)
    throw new ConfigError(`HEAL_PG_LOCK_TIMEOUT: must be a duration such as "60s", got "${lock}"`);
  const schema = e.HEAL_WAREHOUSE_SCHEMA ?? 'public';
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema))
    throw new ConfigError(`HEAL_WAREHOUSE_SCHEMA: must be a plain identifier (letters, digits, _), got "${schema}"`);
  return {
    warehouse: warehouseUrl ? redactUrl(warehouseUrl) : path.resolve(cwd, w ?? path.join(home, 'warehouse.duckdb')),
    warehouseUrl,
    warehouseSchema: schema,
    storeUrl: files ? undefined : (e.HEAL_STORE ?? warehouseUrl),
    pgLockTimeout: `${lockMs}ms`,
  };
}

function isTrue(v: string | undefined): boolean {
  return v === '1' || v?.toLowerCase() === 'true' || v?.toLowerCase() === 'yes';
}

function durationFromEnv(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined) throw new ConfigError(`${name}: must be a duration such as "72h", "30m" or "90s", got "${v}"`);
  return ms;
}

let cached: HealConfig | undefined;
/** The process's configuration, read from `process.env` on first use. */
export function getConfig(): HealConfig {
  cached ??= loadConfig();
  return cached;
}
