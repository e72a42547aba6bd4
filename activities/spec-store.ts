/**
 * The versioned spec store. Every version is an immutable YAML file; `current.json` is a pointer;
 * `history.jsonl` records every version and every pointer move (who, why, when).
 *
 *   <home>/pipelines/<name>/versions/v<N>.yaml
 *   <home>/pipelines/<name>/current.json
 *   <home>/pipelines/<name>/history.jsonl
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { PipelineNotFoundError, SpecInvalidError } from '../common/errors';
import { parseSpec, pipelineNameSchema, type PipelineSpec } from '../common/spec';
import { appendLine, ensureDir, readJson, stateLayout, writeFileAtomic, type StateLayout } from '../lib/state';

/** Metadata recorded with a version. */
export interface VersionMeta {
  /** Why this version exists: "init", "heal", "manual", "rollback". */
  reason: string;
  parent?: number | null;
  episodeId?: string | null;
  patch?: unknown;
  doctor?: string | null;
  verification?: unknown;
}

export interface VersionRecord extends VersionMeta {
  event: 'version';
  version: number;
  file: string;
  createdAt: string;
}

export interface PointerRecord {
  event: 'current';
  version: number;
  previous: number | null;
  reason: string;
  episodeId?: string | null;
  at: string;
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

  constructor(home: string) {
    this.layout = stateLayout(home);
  }

  private historyFile(name: string): string {
    return path.join(this.layout.pipeline(name), 'history.jsonl');
  }

  private currentFile(name: string): string {
    return path.join(this.layout.pipeline(name), 'current.json');
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
    const checked = parseSpec(toPlain(spec));
    if (!checked.ok) throw new SpecInvalidError(`${name} (new version)`, checked.issues);
    const versions = this.versions(name);
    if (meta.episodeId) {
      const prior = versions.find((v) => v.episodeId === meta.episodeId);
      if (prior) return prior;
    }
    ensureDir(this.layout.versions(name));
    const version = versions.reduce((m, v) => Math.max(m, v.version), 0) + 1;
    const file = this.versionFile(name, version);
    writeFileAtomic(file, specToYaml(checked.spec));
    const rec: VersionRecord = { event: 'version', version, file, createdAt: new Date().toISOString(), ...meta };
    appendLine(this.historyFile(name), JSON.stringify(rec));
    return rec;
  }

  /** Move the current pointer (idempotent: moving to the current version records nothing). */
  setCurrent(name: string, version: number, reason: string, episodeId?: string | null): PointerRecord | null {
    if (!fs.existsSync(this.versionFile(name, version))) throw new PipelineNotFoundError(`${name}@v${version}`, this.list());
    const prev = readJson<{ version: number }>(this.currentFile(name))?.version ?? null;
    if (prev === version) return null;
    const at = new Date().toISOString();
    writeFileAtomic(this.currentFile(name), JSON.stringify({ version, updatedAt: at, reason }, null, 2) + '\n');
    const rec: PointerRecord = { event: 'current', version, previous: prev, reason, episodeId: episodeId ?? null, at };
    appendLine(this.historyFile(name), JSON.stringify(rec));
    return rec;
  }

  /** Create a pipeline with version 1 as current. */
  create(spec: PipelineSpec, opts: { force?: boolean } = {}): VersionRecord {
    if (this.exists(spec.name) && !opts.force) {
      throw new SpecInvalidError(spec.name, [`pipeline "${spec.name}" already exists (use --force to add a new version from this source)`]);
    }
    const rec = this.addVersion(spec.name, spec, { reason: this.exists(spec.name) ? 'init --force' : 'init', parent: this.exists(spec.name) ? this.currentVersion(spec.name) : null });
    this.setCurrent(spec.name, rec.version, rec.reason);
    return rec;
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

/** Drop undefined fields so the YAML is minimal and stable. */
function toPlain(spec: PipelineSpec): unknown {
  return JSON.parse(JSON.stringify(spec)) as unknown;
}

export function specToYaml(spec: PipelineSpec): string {
  const header = `# heal pipeline spec: ${spec.name}. Versions are immutable; change it with \`heal\`, not by hand.\n`;
  return header + YAML.stringify(toPlain(spec), { lineWidth: 0 });
}
