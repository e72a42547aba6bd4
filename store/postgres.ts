/**
 * The PostgreSQL backend of the state store (`HEAL_STORE=postgres://…`): the same promises as the
 * file backend (tests/store/contract.test.ts runs both), kept by the database rather than by file
 * renames, so that workers on several machines share one state. Everything is in the schema `heal`:
 *
 *   spec_versions(pipeline, version, yaml, meta, created_at)  immutable: a trigger refuses UPDATE/DELETE/TRUNCATE
 *   spec_current(pipeline, version, reason, updated_at)       the pointer (version NULL until one is current);
 *                                                             its row is also the pipeline's write lock
 *   spec_history(id, pipeline, record)                        every version and pointer move, in id order (append-only)
 *   fix_signatures(signature, shape), fix_memory(signature, pipeline, entry)
 *   runs(seq, run_id, record), alerts(id, entry)              run records once per run id; every alert attempt
 *   documents(key, doc)                                       the alerts' grouping state, the price table
 *   profiles(pipeline, run_id, doc), baselines(pipeline, …)   every committed load's profile; the last one's
 *   schedules(pipeline, doc)                                  schedule notes for the dashboard
 *
 * Documents are `json` (not `jsonb`): they read back exactly as written (key order, any character),
 * as the file backend's files do. The logic shared with the file backend (validation, YAML, memory
 * merging and ranking, run compaction, prices) is the file backend's own exported functions.
 *
 * Git (`gitCommits`, on by default as in the file backend): each version and pointer move is
 * also committed to `<home>/specs` of the machine that made it, inside the transaction that records
 * it (the pipeline's lock held, so commits are in the database's order), with the file backend's
 * messages. The database stays the source of truth: a git failure is recorded, never thrown.
 */
import type { PoolClient } from 'pg';
import { PipelineNotFoundError } from '../common/errors';
import { pipelineNameSchema } from '../common/spec';
import type { RunRecord, TableProfile } from '../common/types';
import { runIdentity, type AlertLogEntry } from '../core/metrics-model';
import { inTransaction, poolFor, redactUrl, withClient, type PoolOptions } from '../lib/pg';
import type { FixMemoryRepository, HealStore, ProfileRepository, RunLog, ScheduleNotes, SpecRepository } from './index';
import {
  checkedPipeline,
  checkedSignature,
  driftSignature,
  entryFileName,
  planHit,
  planRemember,
  recallFrom,
  validEntry,
  type DriftSignature,
  type MemoryEntry,
  type RememberInput,
} from './memory';
import { baselineProfile, loadProfileDoc } from './profiles';
import { compactRunRecord, isAlertLogEntry, isRunRecord, pricesWith, scheduleNote } from './runs';
import {
  checkedSpecYaml,
  commitSpecEvent,
  createMeta,
  currentAfter,
  parseSpecText,
  specGitRepo,
  versionsToMirror,
  type GitRecord,
  type PointerRecord,
  type SpecEvent,
  type VersionMeta,
  type VersionRecord,
} from './spec-store';
import type { GitRepo } from '../integrations/git';

/** What the backend needs to be opened. */
export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** The state directory: where the git repository of spec versions is (`<home>/specs`). */
  home: string;
  /** Commit every version and pointer move to `<home>/specs`. @default true (as the file backend) */
  gitCommits?: boolean;
  /** How long a statement waits for a lock another connection holds (HEAL_PG_LOCK_TIMEOUT), then WarehouseBusy. @default "60s" */
  lockTimeout?: string;
}

/**
 * The schema, created once per process and URL. Two processes starting at once would race on the
 * catalogue (CREATE … IF NOT EXISTS is not safe concurrently): the advisory lock queues them.
 */
const SCHEMA_SQL = `
SELECT pg_advisory_xact_lock(hashtext('heal state store: schema'));
DO $$ BEGIN
  -- Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema exists.
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'heal') THEN CREATE SCHEMA heal; END IF;
END $$;
CREATE TABLE IF NOT EXISTS heal.spec_versions (
  pipeline text NOT NULL,
  version integer NOT NULL CHECK (version > 0),
  yaml text NOT NULL,
  meta json NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (pipeline, version)
);
CREATE TABLE IF NOT EXISTS heal.spec_current (
  pipeline text PRIMARY KEY,
  version integer,
  reason text,
  updated_at timestamptz,
  FOREIGN KEY (pipeline, version) REFERENCES heal.spec_versions (pipeline, version)
);
CREATE TABLE IF NOT EXISTS heal.spec_history (
  id bigserial PRIMARY KEY,
  pipeline text NOT NULL,
  record json NOT NULL
);
CREATE INDEX IF NOT EXISTS spec_history_by_pipeline ON heal.spec_history (pipeline, id);
CREATE TABLE IF NOT EXISTS heal.fix_signatures (signature text PRIMARY KEY, shape json NOT NULL);
CREATE TABLE IF NOT EXISTS heal.fix_memory (
  signature text NOT NULL,
  pipeline text NOT NULL,
  entry json NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (signature, pipeline)
);
CREATE TABLE IF NOT EXISTS heal.runs (
  seq bigserial UNIQUE,
  run_id text PRIMARY KEY,
  record json NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS heal.alerts (id bigserial PRIMARY KEY, entry json NOT NULL);
CREATE TABLE IF NOT EXISTS heal.documents (
  key text PRIMARY KEY,
  doc json NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS heal.profiles (
  pipeline text NOT NULL,
  run_id text NOT NULL,
  doc json NOT NULL,
  PRIMARY KEY (pipeline, run_id)
);
CREATE TABLE IF NOT EXISTS heal.baselines (pipeline text PRIMARY KEY, run_id text NOT NULL, doc json NOT NULL);
CREATE TABLE IF NOT EXISTS heal.schedules (pipeline text PRIMARY KEY, doc json NOT NULL);
CREATE OR REPLACE FUNCTION heal.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'heal.% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING HINT = 'spec versions and their history are immutable: add a version or move the current pointer instead';
END $$;
DO $$ DECLARE t text; BEGIN
  FOREACH t IN ARRAY ARRAY['spec_versions', 'spec_history'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'append_only' AND tgrelid = format('heal.%I', t)::regclass) THEN
      EXECUTE format('CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON heal.%I
        FOR EACH ROW EXECUTE FUNCTION heal.refuse_change()', t);
      EXECUTE format('CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON heal.%I
        FOR EACH STATEMENT EXECUTE FUNCTION heal.refuse_change()', t);
    END IF;
  END LOOP;
END $$;
`;

const schemaReady = new Map<string, Promise<void>>();

/** Create the schema on first use by this process (a failed attempt is forgotten, so the next call tries again). */
function ensureSchema(url: string, pool: PoolOptions): Promise<void> {
  let ready = schemaReady.get(url);
  if (!ready) {
    const attempt = inTransaction(poolFor(url, pool), url, async (c) => {
      await c.query(SCHEMA_SQL);
    });
    ready = attempt;
    schemaReady.set(url, attempt);
    attempt.catch(() => {
      if (schemaReady.get(url) === attempt) schemaReady.delete(url);
    });
  }
  return ready;
}

type Sql = Pick<PoolClient, 'query'>;

async function rowsOf<T>(c: Sql, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await c.query(sql, params)).rows as T[];
}

/** One database: every call waits for the schema, then runs on a pooled connection (errors translated by lib/pg). */
class Database {
  constructor(
    readonly url: string,
    private readonly pool: PoolOptions = {},
  ) {}

  /** Where something is kept, for messages and `file` fields: the URL without its password. */
  label(what: string): string {
    return `${redactUrl(this.url)}#heal.${what}`;
  }

  async run<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    await ensureSchema(this.url, this.pool);
    return withClient(poolFor(this.url, this.pool), this.url, fn);
  }

  rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.run((c) => rowsOf<T>(c, sql, params));
  }

  async tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    await ensureSchema(this.url, this.pool);
    return inTransaction(poolFor(this.url, this.pool), this.url, fn);
  }
}

/** The state store in the PostgreSQL database at `url` (schema `heal`, created on first use). */
export function openPostgresStore(opts: PostgresStoreOptions): HealStore {
  const db = new Database(opts.url, opts.lockTimeout ? { lockTimeout: opts.lockTimeout } : {});
  const repo = specGitRepo(opts.home, { git: opts.gitCommits ?? true });
  return {
    where: `postgres ${redactUrl(opts.url)} (schema heal)`,
    specs: { ...specReads(db), ...specWrites(db, repo) },
    memory: fixMemory(db),
    runs: runLog(db),
    profiles: profiles(db),
    schedules: schedules(db),
  };
}

const isPipelineName = (name: string): boolean => pipelineNameSchema.safeParse(name).success;

/** Pipelines with a current version, sorted as the file backend sorts its folders. */
async function pipelineNames(c: Sql): Promise<string[]> {
  const rows = await rowsOf<{ pipeline: string }>(
    c,
    'SELECT pipeline FROM heal.spec_current WHERE version IS NOT NULL',
  );
  return rows.map((r) => r.pipeline).sort();
}

const listOf = async (db: Database): Promise<string[]> => db.run(pipelineNames);

/** Throw PipelineNotFound for `what`, listing the pipelines there are (as the file backend does). */
async function notFound(db: Database, what: string): Promise<never> {
  throw new PipelineNotFoundError(what, await listOf(db));
}

const VERSION_RECORDS = `SELECT record FROM heal.spec_history WHERE pipeline = $1 AND record->>'event' = 'version'`;

function specReads(db: Database): Omit<SpecRepository, 'addVersion' | 'setCurrent' | 'create'> {
  const yamlOf = async (name: string, version: number): Promise<string> => {
    if (!isPipelineName(name)) return notFound(db, name);
    const rows = Number.isInteger(version)
      ? await db.rows<{ yaml: string }>('SELECT yaml FROM heal.spec_versions WHERE pipeline = $1 AND version = $2', [
          name,
          version,
        ])
      : [];
    return rows[0]?.yaml ?? notFound(db, `${name}@v${version}`);
  };
  const currentRow = async (name: string): Promise<{ version: number; yaml: string }> => {
    if (!isPipelineName(name)) return notFound(db, name);
    // One statement: the pointer and its version's text from the same snapshot.
    const [row] = await db.rows<{ version: number; yaml: string }>(
      `SELECT c.version, v.yaml FROM heal.spec_current c JOIN heal.spec_versions v USING (pipeline, version)
       WHERE c.pipeline = $1`,
      [name],
    );
    return row ?? notFound(db, name);
  };
  const spec = (name: string, version: number, yaml: string) => {
    const file = db.label(`spec_versions/${name}/v${version}`);
    return { name, version, spec: parseSpecText(yaml, file), file };
  };
  return {
    list: () => listOf(db),
    exists: async (name) =>
      isPipelineName(name) &&
      (await db.rows('SELECT 1 FROM heal.spec_current WHERE pipeline = $1 AND version IS NOT NULL', [name])).length > 0,
    currentVersion: async (name) => (await currentRow(name)).version,
    read: async (name, version) => spec(name, version, await yamlOf(name, version)),
    text: (name, version) => yamlOf(name, version),
    current: async (name) => {
      const row = await currentRow(name);
      return spec(name, row.version, row.yaml);
    },
    history: async (name) =>
      (
        await db.rows<{ record: VersionRecord | PointerRecord }>(
          'SELECT record FROM heal.spec_history WHERE pipeline = $1 ORDER BY id',
          [name],
        )
      ).map((r) => r.record),
    versions: async (name) =>
      (await db.rows<{ record: VersionRecord }>(`${VERSION_RECORDS} ORDER BY id`, [name])).map((r) => r.record),
  };
}

/**
 * Lock the pipeline's pointer row (created, without a current version, for a new pipeline) until
 * the transaction ends: every write of a pipeline's specs holds it, so version numbers and pointer
 * moves are decided one writer at a time. Returns the current version (null: none yet).
 */
async function lockPointer(c: Sql, name: string): Promise<number | null> {
  await c.query('INSERT INTO heal.spec_current (pipeline) VALUES ($1) ON CONFLICT (pipeline) DO NOTHING', [name]);
  const [row] = await rowsOf<{ version: number | null }>(
    c,
    'SELECT version FROM heal.spec_current WHERE pipeline = $1 FOR UPDATE',
    [name],
  );
  return row?.version ?? null;
}

const appendHistory = async (c: Sql, name: string, rec: VersionRecord | PointerRecord): Promise<void> => {
  await c.query('INSERT INTO heal.spec_history (pipeline, record) VALUES ($1, $2::json)', [name, JSON.stringify(rec)]);
};

/**
 * Commit a change to the local spec repository from what the transaction sees (the file backend's
 * mirror and messages, see commitSpecEvent); null when git commits are off. Never throws for git.
 */
async function commitToGit(
  c: Sql,
  repo: GitRepo | null,
  name: string,
  ev: SpecEvent,
  pointer: number | null,
): Promise<GitRecord | null> {
  if (!repo) return null;
  const versions = (
    await rowsOf<{ version: number }>(c, 'SELECT version FROM heal.spec_versions WHERE pipeline = $1', [name])
  ).map((r) => r.version);
  // Only the texts the commit writes: the versions this machine's repository lacks, and the current one.
  const current = currentAfter(ev, () => pointer);
  const wanted = [...versionsToMirror(repo.dir, name, ev, versions), ...(current === null ? [] : [current])];
  const texts = new Map(
    (
      await rowsOf<{ version: number; yaml: string }>(
        c,
        'SELECT version, yaml FROM heal.spec_versions WHERE pipeline = $1 AND version = ANY($2::int[])',
        [name, wanted],
      )
    ).map((r) => [r.version, r.yaml]),
  );
  const [meta] =
    ev.kind === 'current'
      ? await rowsOf<{ record: VersionRecord }>(
          c,
          `${VERSION_RECORDS} AND record->>'version' = $2 ORDER BY id LIMIT 1`,
          [name, String(ev.rec.version)],
        )
      : [];
  const source = {
    versions: () => versions,
    text: (v: number) => texts.get(v) ?? missing(v),
    pointer: () => pointer,
    record: () => meta?.record,
  };
  return commitSpecEvent(repo, name, ev, source, (m) => console.warn(m));
}

const missing = (v: number): never => {
  throw new Error(`version v${v} vanished while committing it`);
};

function specWrites(db: Database, repo: GitRepo | null): Pick<SpecRepository, 'addVersion' | 'setCurrent' | 'create'> {
  /** A new version after the last one (the pointer row locked), its git commit, then its history row. */
  const insertVersion = async (
    c: Sql,
    name: string,
    yaml: string,
    meta: VersionMeta,
    pointer: number | null,
    kind: 'version' | 'create',
  ): Promise<VersionRecord> => {
    const [next] = await rowsOf<{ version: number }>(
      c,
      'SELECT COALESCE(max(version), 0) + 1 AS version FROM heal.spec_versions WHERE pipeline = $1',
      [name],
    );
    const version = next?.version ?? 1;
    const createdAt = new Date().toISOString();
    await c.query(
      'INSERT INTO heal.spec_versions (pipeline, version, yaml, meta, created_at) VALUES ($1, $2, $3, $4::json, $5)',
      [name, version, yaml, JSON.stringify(meta), createdAt],
    );
    const file = db.label(`spec_versions/${name}/v${version}`);
    const draft: VersionRecord = { event: 'version', version, file, createdAt, ...meta };
    const git = await commitToGit(c, repo, name, { kind, rec: draft }, pointer);
    const rec: VersionRecord = git ? { ...draft, git } : draft;
    await appendHistory(c, name, rec);
    return rec;
  };
  /** Move the pointer (locked by the caller) and record the move, in the caller's transaction. */
  const movePointer = async (
    c: Sql,
    name: string,
    move: { version: number; previous: number | null; reason: string; episodeId: string | null },
    git: GitRecord | null | undefined,
  ): Promise<PointerRecord> => {
    const draft: PointerRecord = { event: 'current', ...move, at: new Date().toISOString() };
    const g =
      git === undefined ? await commitToGit(c, repo, name, { kind: 'current', rec: draft }, move.previous) : git;
    await c.query('UPDATE heal.spec_current SET version = $2, reason = $3, updated_at = $4 WHERE pipeline = $1', [
      name,
      move.version,
      move.reason,
      draft.at,
    ]);
    const rec: PointerRecord = g ? { ...draft, git: g } : draft;
    await appendHistory(c, name, rec);
    return rec;
  };
  return {
    addVersion: async (name, spec, meta) => {
      const yaml = checkedSpecYaml(name, spec);
      return db.tx(async (c) => {
        const pointer = await lockPointer(c, name);
        // Idempotent per episode: a retry (or a racing twin) finds the version its episode added.
        if (meta.episodeId) {
          const [prior] = await rowsOf<{ record: VersionRecord }>(
            c,
            `${VERSION_RECORDS} AND record->>'episodeId' = $2 ORDER BY id LIMIT 1`,
            [name, meta.episodeId],
          );
          if (prior) return prior.record;
        }
        return insertVersion(c, name, yaml, meta, pointer, 'version');
      });
    },
    setCurrent: (name, version, reason, episodeId) =>
      db.tx(async (c) => {
        const previous = await lockPointer(c, name);
        const exists = Number.isInteger(version)
          ? await rowsOf(c, 'SELECT 1 FROM heal.spec_versions WHERE pipeline = $1 AND version = $2', [name, version])
          : [];
        if (!exists.length) throw new PipelineNotFoundError(`${name}@v${version}`, await pipelineNames(c));
        if (previous === version) return null;
        return movePointer(c, name, { version, previous, reason, episodeId: episodeId ?? null }, undefined);
      }),
    create: (spec, opts = {}) =>
      db.tx(async (c) => {
        const pointer = await lockPointer(c, spec.name);
        const meta = createMeta(spec.name, pointer, opts.force);
        const rec = await insertVersion(c, spec.name, checkedSpecYaml(spec.name, spec), meta, pointer, 'create');
        // The version and the pointer are one commit (made for the version); the pointer record shares it.
        const move = { version: rec.version, previous: pointer, reason: rec.reason, episodeId: null };
        await movePointer(c, spec.name, move, rec.git ?? null);
        return rec;
      }),
  };
}

/** A signature's valid entries, in the order the file backend lists its entry files. */
async function entriesOf(c: Sql, signature: string): Promise<MemoryEntry[]> {
  try {
    checkedSignature(signature);
  } catch {
    return [];
  }
  const rows = await rowsOf<{ pipeline: string; entry: unknown }>(
    c,
    'SELECT pipeline, entry FROM heal.fix_memory WHERE signature = $1',
    [signature],
  );
  const file = (r: { pipeline: string }) => entryFileName(r.pipeline);
  return rows
    .sort((a, b) => (file(a) < file(b) ? -1 : file(a) > file(b) ? 1 : 0))
    .map((r) => validEntry(signature, r.entry))
    .filter((e): e is MemoryEntry => e !== undefined);
}

async function writeEntry(c: Sql, entry: MemoryEntry, shape: DriftSignature['doc']): Promise<void> {
  checkedPipeline(entry.pipeline);
  await c.query('INSERT INTO heal.fix_signatures (signature, shape) VALUES ($1, $2::json) ON CONFLICT DO NOTHING', [
    entry.signature,
    JSON.stringify({ signature: entry.signature, shape }),
  ]);
  await c.query(
    `INSERT INTO heal.fix_memory (signature, pipeline, entry) VALUES ($1, $2, $3::json)
     ON CONFLICT (signature, pipeline) DO UPDATE SET entry = EXCLUDED.entry, updated_at = now()`,
    [entry.signature, entry.pipeline, JSON.stringify(entry)],
  );
}

/**
 * Writes of one signature's entries are serialised (a transaction-scoped advisory lock on the
 * signature): a hit is a read-modify-write, and two episodes hitting at once must both count.
 */
async function lockSignature(c: Sql, signature: string): Promise<void> {
  await c.query("SELECT pg_advisory_xact_lock(hashtextextended('heal fix memory: ' || $1, 0))", [signature]);
}

async function rememberIn(c: Sql, sig: DriftSignature, input: RememberInput) {
  const plan = planRemember(
    input,
    sig.hash,
    (await entriesOf(c, sig.hash)).find((e) => e.pipeline === input.pipeline),
  );
  if (plan.write) await writeEntry(c, plan.entry, sig.doc);
  return { entry: plan.entry, outcome: plan.outcome };
}

function fixMemory(db: Database): FixMemoryRepository {
  const entries = (signature: string) => db.run((c) => entriesOf(c, signature));
  return {
    entries,
    entry: async (signature, pipeline) => (await entries(signature)).find((e) => e.pipeline === pipeline),
    remember: (input) => {
      const sig = driftSignature(input.drift);
      return db.tx(async (c) => {
        await lockSignature(c, sig.hash);
        return rememberIn(c, sig, input);
      });
    },
    recordHit: (input) => {
      const sig = driftSignature(input.drift);
      const at = input.at ?? new Date().toISOString();
      return db.tx(async (c) => {
        await lockSignature(c, sig.hash);
        const plan = planHit(input, await entriesOf(c, sig.hash), at);
        // The entry is gone (deleted by hand): remember the fix again, as found by memory.
        if (!plan.source) return rememberIn(c, sig, { ...input, doctor: 'memory', at });
        for (const entry of plan.writes) await writeEntry(c, entry, sig.doc);
        return { entry: plan.source, outcome: plan.outcome };
      });
    },
    recall: async (signature, spec, opts) => recallFrom(await entries(signature), spec, opts),
  };
}

const ALERT_STATE = 'alert-state';
const PRICES = 'prices';

async function documentOf(db: Database, key: string): Promise<{ found: boolean; doc: unknown }> {
  const [row] = await db.rows<{ doc: unknown }>('SELECT doc FROM heal.documents WHERE key = $1', [key]);
  return row ? { found: true, doc: row.doc } : { found: false, doc: undefined };
}

function runLog(db: Database): RunLog {
  return {
    append: async (record: RunRecord) => {
      // Once per run: a retried append (or another worker's) finds the run id taken and writes nothing.
      await db.rows('INSERT INTO heal.runs (run_id, record) VALUES ($1, $2::json) ON CONFLICT (run_id) DO NOTHING', [
        runIdentity(record),
        JSON.stringify(compactRunRecord(record)),
      ]);
    },
    runs: async () =>
      (await db.rows<{ record: RunRecord }>('SELECT record FROM heal.runs ORDER BY seq'))
        .map((r) => r.record)
        .filter(isRunRecord),
    alerts: async () =>
      (await db.rows<{ entry: AlertLogEntry }>('SELECT entry FROM heal.alerts ORDER BY id'))
        .map((r) => r.entry)
        .filter(isAlertLogEntry),
    prices: async (file) => {
      const own = await documentOf(db, PRICES);
      const doc = own.doc as Record<string, unknown>;
      return pricesWith(own.found ? { where: db.label(`documents/${PRICES}`), doc } : undefined, file);
    },
    appendAlert: async (entry) => {
      await db.rows('INSERT INTO heal.alerts (entry) VALUES ($1::json)', [JSON.stringify(entry)]);
    },
    alertState: async () => (await documentOf(db, ALERT_STATE)).doc,
    saveAlertState: async (state) => {
      await db.rows(
        `INSERT INTO heal.documents (key, doc) VALUES ($1, $2::json)
         ON CONFLICT (key) DO UPDATE SET doc = EXCLUDED.doc, updated_at = now()`,
        [ALERT_STATE, JSON.stringify(state)],
      );
    },
  };
}

function profiles(db: Database): ProfileRepository {
  return {
    save: async (pipeline, record) => {
      const doc = loadProfileDoc(record);
      // The run's profile and the baseline move together: the baseline is always a recorded load's.
      await db.tx(async (c) => {
        await c.query(
          `INSERT INTO heal.profiles (pipeline, run_id, doc) VALUES ($1, $2, $3::json)
           ON CONFLICT (pipeline, run_id) DO UPDATE SET doc = EXCLUDED.doc`,
          [pipeline, record.runId, doc],
        );
        await c.query(
          `INSERT INTO heal.baselines (pipeline, run_id, doc) VALUES ($1, $2, $3::json)
           ON CONFLICT (pipeline) DO UPDATE SET run_id = EXCLUDED.run_id, doc = EXCLUDED.doc`,
          [pipeline, record.runId, doc],
        );
      });
      return db.label(`profiles/${pipeline}/${record.runId}`);
    },
    baseline: async (pipeline) => {
      const [row] = await db.rows<{ doc: { profile?: TableProfile } }>(
        'SELECT doc FROM heal.baselines WHERE pipeline = $1',
        [pipeline],
      );
      return baselineProfile(row?.doc);
    },
  };
}

function schedules(db: Database): ScheduleNotes {
  return {
    note: async (pipeline) => {
      const [row] = await db.rows<{ doc: { schedule?: unknown; paused?: unknown } }>(
        'SELECT doc FROM heal.schedules WHERE pipeline = $1',
        [pipeline],
      );
      return scheduleNote(row?.doc);
    },
    save: async (pipeline, schedule) => {
      if (!schedule) await db.rows('DELETE FROM heal.schedules WHERE pipeline = $1', [pipeline]);
      else
        await db.rows(
          `INSERT INTO heal.schedules (pipeline, doc) VALUES ($1, $2::json)
           ON CONFLICT (pipeline) DO UPDATE SET doc = EXCLUDED.doc`,
          [pipeline, JSON.stringify(schedule)],
        );
    },
  };
}
