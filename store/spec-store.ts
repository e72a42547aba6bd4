/**
 * The versioned spec store. Every version is an immutable YAML file; `current.json` is a pointer;
 * `history.jsonl` records every version and every pointer move (who, why, when).
 *
 *   <home>/pipelines/<name>/versions/v<N>.yaml
 *   <home>/pipelines/<name>/current.json
 *   <home>/pipelines/<name>/history.jsonl
 *
 * Git (on by default; `HEAL_GIT=0` / `config.gitCommits` turns it off): every change is also a
 * commit in a plain git repository at `<home>/specs`, so the history is auditable with `git log`:
 *
 *   <home>/specs/<name>/v<N>.yaml      a copy of every version (immutable)
 *   <home>/specs/<name>/current.yaml   the current version's content (`git log -p` shows each change)
 *
 * What is a commit: one per new version (`<name> v<N>: <reason>`), and one per move of the
 * current pointer (`<name>: current v<A> → v<B>`: an applied fix, a rollback); `heal init` makes
 * v1 and points at it in a single commit. A repeated write (a retried activity adding the same
 * version, or moving the pointer where it already is) makes no second commit. Messages carry
 * trailers (`Heal-Pipeline`, `Heal-Version`, `Heal-Event`, `Heal-Episode`, `Heal-Doctor`, …) and
 * the drift and patch in the body. The store's files stay the source of truth: when git is missing
 * or fails, the write still succeeds, the failure is logged once per process and recorded in the
 * history record (`git: { commit: null, error }`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { PipelineNotFoundError, SpecInvalidError } from '../common/errors';
import { parseSpec, pipelineNameSchema, type PipelineSpec } from '../common/spec';
import { describeOp, type Patch } from '../common/patch';
import type { HealConfig } from '../lib/config';
import { GitRepo, GitNotFoundError } from '../integrations/git';
import { stateLayout, type StateLayout } from './layout';
import { appendLine, ensureDir, readJson, writeFileAtomic } from '../lib/atomic-files';

/** How the store records its changes in git. */
export interface SpecStoreOptions {
  /** Commit every version and pointer move to the git repository at `<home>/specs` (`config.gitCommits`, HEAL_GIT). @default true */
  git?: boolean;
  /** The git executable. @default "git" */
  gitBinary?: string;
  /** PATH that git is looked up on. @default process.env.PATH */
  gitSearchPath?: string;
  /** Where a git failure is reported (once per process and kind of failure). @default console.warn */
  warn?: (message: string) => void;
}

/** The git commit that recorded a change (`commit: null` with `error` when git was unavailable). */
export interface GitRecord {
  commit: string | null;
  error?: string;
}

/** The spec store of a configuration: its state directory, git commits as `config.gitCommits` says (HEAL_GIT). */
export function specStoreFor(
  config: Pick<HealConfig, 'home'> & Partial<Pick<HealConfig, 'gitCommits'>>,
  opts: Omit<SpecStoreOptions, 'git'> = {},
): SpecStore {
  return new SpecStore(config.home, { ...opts, git: config.gitCommits ?? true });
}

/** Where the spec repository lives in a state directory. */
export function specRepoDir(home: string): string {
  return stateLayout(home).specRepo;
}

/** The git repository a store commits its changes to (`<home>/specs`), or null when git commits are off. */
export function specGitRepo(home: string, opts: SpecStoreOptions = {}): GitRepo | null {
  return opts.git === false
    ? null
    : new GitRepo(specRepoDir(home), {
        ...(opts.gitBinary ? { binary: opts.gitBinary } : {}),
        ...(opts.gitSearchPath !== undefined ? { searchPath: opts.gitSearchPath } : {}),
      });
}

const warned = new Set<string>();

/** Metadata recorded with a version. */
export interface VersionMeta {
  /** Why this version exists: "init", "heal", "manual", "rollback". */
  reason: string;
  parent?: number | null;
  episodeId?: string | null;
  patch?: unknown;
  doctor?: string | null;
  verification?: unknown;
  /** One line: the drift this version answers (heal versions). */
  drift?: string | null;
  /** Why the doctor proposed the patch. */
  rationale?: string[];
}

export interface VersionRecord extends VersionMeta {
  event: 'version';
  version: number;
  file: string;
  createdAt: string;
  /** The git commit of this version (absent when git commits are off). */
  git?: GitRecord;
}

export interface PointerRecord {
  event: 'current';
  version: number;
  previous: number | null;
  reason: string;
  episodeId?: string | null;
  at: string;
  /** The git commit of this move (absent when git commits are off). */
  git?: GitRecord;
}

export type HistoryRecord = VersionRecord | PointerRecord;

export interface CurrentSpec {
  name: string;
  version: number;
  spec: PipelineSpec;
  file: string;
}

export class SpecStore {
  readonly layout: StateLayout;
  /** The spec repository, or null when git commits are off. */
  readonly git: GitRepo | null;
  private readonly warn: (message: string) => void;

  constructor(home: string, opts: SpecStoreOptions = {}) {
    this.layout = stateLayout(home);
    this.git = specGitRepo(home, opts);
    this.warn = opts.warn ?? ((m) => console.warn(m));
  }

  private historyFile(name: string): string {
    return this.layout.specHistory(name);
  }

  private currentFile(name: string): string {
    return this.layout.currentPointer(name);
  }

  versionFile(name: string, version: number): string {
    return path.join(this.layout.versions(name), `v${version}.yaml`);
  }

  /** Names of all pipelines, sorted. */
  list(): string[] {
    try {
      return fs
        .readdirSync(this.layout.pipelines, { withFileTypes: true })
        .filter((d) => d.isDirectory() && fs.existsSync(this.currentFile(d.name)))
        .map((d) => d.name)
        .sort();
    } catch {
      return [];
    }
  }

  exists(name: string): boolean {
    return pipelineNameSchema.safeParse(name).success && fs.existsSync(this.currentFile(name));
  }

  currentVersion(name: string): number {
    if (!pipelineNameSchema.safeParse(name).success) throw new PipelineNotFoundError(name, this.list());
    const cur = readJson<{ version: number }>(this.currentFile(name));
    if (!cur) throw new PipelineNotFoundError(name, this.list());
    return cur.version;
  }

  /** Read and validate one version. */
  read(name: string, version: number): CurrentSpec {
    if (!pipelineNameSchema.safeParse(name).success) throw new PipelineNotFoundError(name, this.list());
    const file = this.versionFile(name, version);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      throw new PipelineNotFoundError(`${name}@v${version}`, this.list());
    }
    return { name, version, spec: parseSpecText(text, file), file };
  }

  current(name: string): CurrentSpec {
    return this.read(name, this.currentVersion(name));
  }

  history(name: string): HistoryRecord[] {
    try {
      return fs
        .readFileSync(this.historyFile(name), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as HistoryRecord);
    } catch {
      return [];
    }
  }

  versions(name: string): VersionRecord[] {
    return this.history(name).filter((r): r is VersionRecord => r.event === 'version');
  }

  /**
   * Write a new immutable version. Idempotent per episode: when a version with the same
   * `episodeId` exists, it is returned instead of writing a second one.
   */
  addVersion(name: string, spec: PipelineSpec, meta: VersionMeta): VersionRecord {
    return this.writeVersion(name, spec, meta, 'version');
  }

  private writeVersion(
    name: string,
    spec: PipelineSpec,
    meta: VersionMeta,
    event: 'version' | 'create',
  ): VersionRecord {
    const yaml = checkedSpecYaml(name, spec);
    const versions = this.versions(name);
    if (meta.episodeId) {
      const prior = versions.find((v) => v.episodeId === meta.episodeId);
      if (prior) return prior;
    }
    ensureDir(this.layout.versions(name));
    const version = versions.reduce((m, v) => Math.max(m, v.version), 0) + 1;
    const file = this.versionFile(name, version);
    writeFileAtomic(file, yaml);
    const createdAt = new Date().toISOString();
    const draft: VersionRecord = { event: 'version', version, file, createdAt, ...meta };
    // Commit before the history line: a crash in between leaves a commit that a retry finds again.
    const git =
      event === 'create'
        ? this.commit(name, { kind: 'create', rec: draft })
        : this.commit(name, { kind: 'version', rec: draft });
    const rec: VersionRecord = git ? { ...draft, git } : draft;
    appendLine(this.historyFile(name), JSON.stringify(rec));
    return rec;
  }

  /** Move the current pointer (idempotent: moving to the current version records nothing). */
  setCurrent(name: string, version: number, reason: string, episodeId?: string | null): PointerRecord | null {
    return this.movePointer(name, version, reason, episodeId ?? null, undefined);
  }

  private movePointer(
    name: string,
    version: number,
    reason: string,
    episodeId: string | null,
    git: GitRecord | null | undefined,
  ): PointerRecord | null {
    if (!fs.existsSync(this.versionFile(name, version)))
      throw new PipelineNotFoundError(`${name}@v${version}`, this.list());
    const prev = readJson<{ version: number }>(this.currentFile(name))?.version ?? null;
    if (prev === version) return null;
    const at = new Date().toISOString();
    const draft: PointerRecord = { event: 'current', version, previous: prev, reason, episodeId, at };
    // Commit first (the mirror's current.yaml is written from `version`), then move the pointer.
    const g = git === undefined ? this.commit(name, { kind: 'current', rec: draft }) : git;
    writeFileAtomic(this.currentFile(name), JSON.stringify({ version, updatedAt: at, reason }, null, 2) + '\n');
    const rec: PointerRecord = g ? { ...draft, git: g } : draft;
    appendLine(this.historyFile(name), JSON.stringify(rec));
    return rec;
  }

  /** Commit the change to the spec repository from the version files (see {@link commitSpecEvent}); null when git commits are off. */
  private commit(name: string, ev: SpecEvent): GitRecord | null {
    if (!this.git) return null;
    return commitSpecEvent(
      this.git,
      name,
      ev,
      {
        versions: () =>
          fs
            .readdirSync(this.layout.versions(name))
            .map((f) => /^v(\d+)\.yaml$/.exec(f)?.[1])
            .filter((v): v is string => v !== undefined)
            .map(Number),
        text: (version) => fs.readFileSync(this.versionFile(name, version), 'utf8'),
        pointer: () => readJson<{ version: number }>(this.currentFile(name))?.version ?? null,
        record: (version) => this.versions(name).find((v) => v.version === version),
      },
      this.warn,
    );
  }

  /** Create a pipeline with version 1 as current. */
  create(spec: PipelineSpec, opts: { force?: boolean } = {}): VersionRecord {
    const meta = createMeta(spec.name, this.exists(spec.name) ? this.currentVersion(spec.name) : null, opts.force);
    const rec = this.writeVersion(spec.name, spec, meta, 'create');
    // The version and the pointer are one commit (made by writeVersion); the pointer record shares it.
    this.movePointer(spec.name, rec.version, rec.reason, null, rec.git ?? null);
    return rec;
  }
}

/** A change of a pipeline's specs, as committed: a new version, a new pipeline (version + pointer), a pointer move. */
export type SpecEvent = { kind: 'version' | 'create'; rec: VersionRecord } | { kind: 'current'; rec: PointerRecord };

/** What a commit mirrors of a pipeline, read from wherever the backend keeps it (files, a database). */
export interface SpecMirrorSource {
  /** Every stored version of the pipeline (this event's included). */
  versions(): number[];
  /** The stored YAML of a version: asked for those {@link versionsToMirror} names and the current one. */
  text(version: number): string;
  /** The current version as stored before this event (null: none yet). */
  pointer(): number | null;
  /** A version's record (for the message of a pointer move). */
  record(version: number): VersionRecord | undefined;
}

/**
 * The versions a commit writes into the repository's copy of the pipeline. Versions are
 * immutable: the ones missing are copied; this event's own version always (a number reused after a
 * crash before its history line must show its final content).
 */
export function versionsToMirror(repoDir: string, name: string, ev: SpecEvent, versions: readonly number[]): number[] {
  const dir = path.join(repoDir, name);
  return versions.filter(
    (v) => !fs.existsSync(path.join(dir, `v${v}.yaml`)) || (ev.kind !== 'current' && v === ev.rec.version),
  );
}

/** The current version once `ev` is recorded: a new version leaves the pointer where it was. */
export function currentAfter(ev: SpecEvent, pointer: () => number | null): number | null {
  return ev.kind === 'version' ? pointer() : ev.rec.version;
}

/**
 * Mirror the pipeline's versions (and its current version) into the spec repository and commit.
 * Never throws: a git failure is logged once per process and kind of failure (`warn`) and returned
 * as `{ commit: null, error }`.
 */
export function commitSpecEvent(
  repo: GitRepo,
  name: string,
  ev: SpecEvent,
  source: SpecMirrorSource,
  warn: (message: string) => void,
): GitRecord {
  try {
    repo.init();
    const dir = path.join(repo.dir, name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const v of versionsToMirror(repo.dir, name, ev, source.versions()))
      fs.writeFileSync(path.join(dir, `v${v}.yaml`), source.text(v), { mode: 0o600 });
    const current = currentAfter(ev, () => source.pointer());
    if (current !== null) {
      const text = `# ${name}: current version v${current} (a copy of v${current}.yaml)\n` + source.text(current);
      const target = path.join(dir, 'current.yaml');
      if (!fs.existsSync(target) || fs.readFileSync(target, 'utf8') !== text)
        fs.writeFileSync(target, text, { mode: 0o600 });
    }
    const own = ev.kind === 'current' ? null : ev.rec.version;
    const res = repo.commit([name], (staged) => {
      const extra = staged
        .map((f) => /\/v(\d+)\.yaml$/.exec(f)?.[1])
        .filter((v): v is string => v !== undefined)
        .map(Number)
        .filter((v) => v !== own)
        .sort((a, b) => a - b);
      return commitMessage(name, ev, (v) => source.record(v), extra);
    });
    return { commit: res.commit };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    const key = err instanceof GitNotFoundError ? `missing:${repo.dir}` : `failed:${repo.dir}:${error}`;
    if (!warned.has(key)) {
      warned.add(key);
      warn(`heal: spec versions are not committed to git (${error}); the spec store is unaffected`);
    }
    return { commit: null, error };
  }
}

/** Parse YAML or JSON spec text and validate it; errors name the file and the field. */
export function parseSpecText(text: string, where: string): PipelineSpec {
  let value: unknown;
  try {
    value = YAML.parse(text);
  } catch (err) {
    throw new SpecInvalidError(where, [`not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
  const res = parseSpec(value);
  if (!res.ok) throw new SpecInvalidError(where, res.issues);
  return res.spec;
}

/** A new version's YAML: `spec` validated (SpecInvalidError naming the pipeline) and serialised as stored. */
export function checkedSpecYaml(name: string, spec: PipelineSpec): string {
  const checked = parseSpec(toPlain(spec));
  if (!checked.ok) throw new SpecInvalidError(`${name} (new version)`, checked.issues);
  return specToYaml(checked.spec);
}

/**
 * The metadata of `create`'s version, given the pipeline's current version (null: a new
 * pipeline). An existing pipeline is refused unless forced: then the new version's parent is the current one.
 */
export function createMeta(name: string, current: number | null, force: boolean | undefined): VersionMeta {
  if (current !== null && !force) {
    throw new SpecInvalidError(name, [
      `pipeline "${name}" already exists (use --force to add a new version from this source)`,
    ]);
  }
  return { reason: current !== null ? 'init --force' : 'init', parent: current };
}

/** Drop undefined fields, and the many-file settings when unused, so the YAML is minimal and stable. */
function toPlain(spec: PipelineSpec): unknown {
  const { files, partitionKeys, ...source } = spec.source;
  const plain = {
    ...spec,
    source: { ...source, ...(partitionKeys?.length ? { partitionKeys } : {}), ...(files?.length ? { files } : {}) },
  };
  return JSON.parse(JSON.stringify(plain)) as unknown;
}

export function specToYaml(spec: PipelineSpec): string {
  const header = `# heal pipeline spec: ${spec.name}. Versions are immutable; change it with \`heal\`, not by hand.\n`;
  return header + YAML.stringify(toPlain(spec), { lineWidth: 0 });
}

/** One line, no control characters, bounded: safe in a commit message or trailer. */
function oneLine(value: unknown, max = 300): string {
  const s = String(value ?? '')
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function commitMessage(
  name: string,
  ev: SpecEvent,
  record: (version: number) => VersionRecord | undefined,
  extra: number[],
): string {
  const body: string[] = [];
  const trailers: [string, string | number | null | undefined][] = [['Heal-Pipeline', name]];
  let subject: string;
  let meta: VersionRecord | undefined;
  if (ev.kind === 'current') {
    const { rec } = ev;
    meta = record(rec.version);
    subject = `${name}: current ${rec.previous === null ? '' : `v${rec.previous} → `}v${rec.version} (${oneLine(rec.reason, 80)}${rec.episodeId ? `, episode ${oneLine(rec.episodeId, 120)}` : ''})`;
    trailers.push(
      ['Heal-Event', 'current'],
      ['Heal-Version', rec.version],
      ['Heal-Previous', rec.previous],
      ['Heal-Reason', rec.reason],
      ['Heal-Episode', rec.episodeId],
    );
    if (meta?.doctor) trailers.push(['Heal-Doctor', meta.doctor]);
  } else {
    const { rec } = ev;
    meta = rec;
    const tail = [
      rec.episodeId ? `episode ${oneLine(rec.episodeId, 120)}` : '',
      rec.doctor ? `doctor ${oneLine(rec.doctor, 40)}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    subject = `${name} v${rec.version}: ${oneLine(rec.reason, 80)}${tail ? ` (${tail})` : ''}`;
    trailers.push(
      ['Heal-Event', ev.kind === 'create' ? 'version+current' : 'version'],
      ['Heal-Version', rec.version],
      ['Heal-Parent', rec.parent],
      ['Heal-Reason', rec.reason],
      ['Heal-Episode', rec.episodeId],
      ['Heal-Doctor', rec.doctor],
    );
  }
  if (meta?.drift) body.push(`Drift: ${oneLine(meta.drift, 500)}`);
  if (ev.kind === 'current' && meta)
    body.push(
      `Version v${meta.version}: ${oneLine(meta.reason, 80)}${meta.episodeId ? `, episode ${oneLine(meta.episodeId, 120)}` : ''}`,
    );
  if (Array.isArray(meta?.patch) && meta.patch.length) {
    body.push(
      ['Patch:', ...(meta.patch as Patch).slice(0, 50).map((op) => `- ${oneLine(safeDescribe(op), 200)}`)].join('\n'),
    );
  }
  if (meta?.rationale?.length)
    body.push(['Rationale:', ...meta.rationale.slice(0, 10).map((r) => `- ${oneLine(r, 200)}`)].join('\n'));
  if (extra.length) body.push(`Also adds ${extra.map((v) => `v${v}`).join(', ')} (not committed when written).`);
  const trailerBlock = trailers
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}: ${oneLine(v, 200)}`)
    .join('\n');
  return [subject, ...body, trailerBlock].join('\n\n') + '\n';
}

function safeDescribe(op: Patch[number]): string {
  try {
    return describeOp(op);
  } catch {
    return JSON.stringify(op);
  }
}
