/**
 * Fix memory: a drift that was healed and verified once is healed again without diagnosing.
 *
 * A drift is keyed by its **signature**: the pipeline's source shape before → after, independent of
 * the pipeline's name (see {@link driftSignature}). The store keeps, per signature and pipeline, the
 * patch that healed it, who found it and in which episode:
 *
 *   <home>/memory/<sha256>/shape.json        the canonical signature document (for people)
 *   <home>/memory/<sha256>/<pipeline>.json   { signature, pipeline, contractColumns, patch, doctor, episodeId, verifiedAt, hits, … }
 *
 * One file per (signature, pipeline): two pipelines healing the same drift at once never write the
 * same file. (The PostgreSQL backend, store/postgres.ts, keeps the same entries in rows, through the
 * pure functions below: {@link planRemember}, {@link planHit}, {@link recallFrom}.) Files are owner-only and written atomically (store/layout.ts). Nothing in a memory file
 * is a data value: column names, drift kinds and the *pattern classes* of failing samples only.
 *
 * A remembered patch is never trusted: it is still validated by proposePatch and proven on the whole
 * drifted source by verifyPatch like any doctor's answer.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyPatch, patchSchema, type Patch } from '../common/patch';
import { pipelineNameSchema, type PipelineSpec } from '../common/spec';
import type { DriftReport } from '../common/types';
import { readJson, writeFileAtomic } from '../lib/atomic-files';
import { stateLayout } from './layout';
import type { RememberOutcome } from '../common/contracts';
// The contracts are common/'s (one owner); re-exported for the callers that import them from here.
export type { RememberOutcome };

/** Bumped when the signature definition changes (old entries then simply stop matching). */
export const SIGNATURE_VERSION = 1;

/** Episodes remembered per entry for idempotent hit counting (the newest ones). */
const HIT_EPISODES_KEPT = 50;

/**
 * The shape class of a value: runs of letters → `a`, runs of digits → `9`, runs of whitespace → one
 * space; everything else (currency symbols, separators, `T`/`Z` are letters) kept.
 * `"$10,620"` → `"$9,9"`, `"01/02/2001"` → `"9/9/9"`, `"2001-01-01T00:00:00Z"` → `"9-9-9a9:9:9a"`.
 * Runs are collapsed so that the class does not depend on the magnitude of a number.
 */
export function patternClass(value: string): string {
  return value
    .replace(/\p{L}+/gu, 'a')
    .replace(/\p{N}+/gu, '9')
    .replace(/\s+/g, ' ');
}

/** One difference of a drift report, reduced to its shape. */
export interface SignatureDifference {
  kind: string;
  column?: string;
  sourceColumn?: string;
  expected?: string;
  found?: string;
  /** Sorted distinct pattern classes of the failing samples (value-level differences). */
  patterns?: string[];
}

/** The canonical document hashed into a drift signature. */
export interface SignatureDoc {
  v: number;
  format: string;
  /** The reader dialect the spec expects (csv): delimiter, header, encoding. */
  reader: { delimiter?: string; header?: boolean; encoding?: string };
  /** The spec's expected source columns, sorted (code-unit order). */
  expected: string[];
  /** The columns found in the source, in file order (pattern classes when the header is missing). */
  found: string[];
  /** Drift kinds, sorted. */
  kinds: string[];
  /** Differences reduced to their shape, distinct and sorted. */
  differences: SignatureDifference[];
}

export interface DriftSignature {
  /** sha256 (hex) of the canonical JSON of {@link SignatureDoc}. */
  hash: string;
  doc: SignatureDoc;
}

/** JSON with object keys sorted, so equal documents have equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Differences whose `found` is a data value (not a column name or a dialect). */
const VALUE_FOUND = new Set(['header-missing']);

/**
 * The drift signature: the source shape before → after, without the pipeline's name, version,
 * file paths, row counts, failure rates or any raw value.
 *
 * - the spec's expected source columns, sorted, and its reader dialect (format, delimiter, header, encoding);
 * - the columns found, in order (when the header is missing these are values: pattern-classed);
 * - the drift kinds, sorted;
 * - per difference: kind, contract column, source column, expected, found (what was renamed to
 *   what, the sniffed delimiter, the expected type/format and the format hint) and, for value-level
 *   differences, the distinct pattern classes of the failing samples.
 */
export function driftSignature(drift: DriftReport): DriftSignature {
  const headerMissing = drift.kinds.includes('header-missing');
  const diffs = new Map<string, SignatureDifference>();
  for (const d of drift.differences) {
    const s: SignatureDifference = { kind: d.kind };
    if (d.column !== undefined) s.column = d.column;
    if (d.sourceColumn !== undefined) s.sourceColumn = d.sourceColumn;
    if (d.expected !== undefined) s.expected = d.expected;
    if (d.found !== undefined)
      s.found = VALUE_FOUND.has(d.kind) ? d.found.split(',').map(patternClass).join(',') : d.found;
    if (d.samples?.length) s.patterns = [...new Set(d.samples.map(patternClass))].sort(byCodeUnit);
    diffs.set(canonicalJson(s), s);
  }
  const doc: SignatureDoc = {
    v: SIGNATURE_VERSION,
    format: drift.expected.format,
    reader: {
      ...(drift.expected.delimiter !== undefined ? { delimiter: drift.expected.delimiter } : {}),
      ...(drift.expected.header !== undefined ? { header: drift.expected.header } : {}),
      ...(drift.expected.encoding !== undefined ? { encoding: drift.expected.encoding } : {}),
    },
    expected: [...drift.expected.columns].sort(byCodeUnit),
    found: headerMissing ? drift.found.columns.map(patternClass) : [...drift.found.columns],
    kinds: [...new Set<string>(drift.kinds)].sort(byCodeUnit),
    differences: [...diffs.entries()].sort(([a], [b]) => byCodeUnit(a, b)).map(([, s]) => s),
  };
  return { hash: createHash('sha256').update(canonicalJson(doc)).digest('hex'), doc };
}

/** The contract's columns as `name:type`, sorted: what a cross-pipeline match must share. */
export function contractColumns(spec: PipelineSpec): string[] {
  return spec.contract.columns.map((c) => `${c.name}:${c.type}`).sort(byCodeUnit);
}

/** One remembered fix: the patch that healed a drift signature on one pipeline. */
export interface MemoryEntry {
  signature: string;
  pipeline: string;
  contractColumns: string[];
  patch: Patch;
  /** Who found the fix first (rules, llm, …; never "memory"). */
  doctor: string;
  /** The episode that verified and applied it on this pipeline. */
  episodeId: string;
  verifiedAt: string;
  /** Times this entry healed a drift again (counted once per episode). */
  hits: number;
  /** The newest episodes that hit this entry (idempotent hit counting). */
  hitEpisodes: string[];
  lastHitAt?: string;
  /** Set when this pipeline learnt the fix from another pipeline's entry. */
  learnedFrom?: string;
}

/** What {@link FixMemory.recall} found. */
export interface Recalled {
  patch: Patch;
  entry: MemoryEntry;
  /** True when the entry is another pipeline's. */
  crossPipeline: boolean;
}

export interface RememberInput {
  drift: DriftReport;
  /** The spec the patch applies to (the version that drifted). */
  spec: PipelineSpec;
  pipeline: string;
  patch: Patch;
  doctor: string;
  episodeId: string;
  /** @default now */
  at?: string;
}

export interface RecordHitInput {
  drift: DriftReport;
  spec: PipelineSpec;
  pipeline: string;
  /** The patch that healed (the remembered one). */
  patch: Patch;
  episodeId: string;
  at?: string;
}

const samePatch = (a: Patch, b: Patch): boolean => canonicalJson(a) === canonicalJson(b);

/** A drift signature, checked: it names a folder of the file backend and a key of the database's. */
export function checkedSignature(signature: string): string {
  if (!/^[0-9a-f]{64}$/.test(signature)) throw new Error(`not a drift signature: ${signature}`);
  return signature;
}

/** A pipeline name, checked before an entry is written under it. */
export function checkedPipeline(pipeline: string): string {
  if (!pipelineNameSchema.safeParse(pipeline).success) throw new Error(`not a pipeline name: ${pipeline}`);
  return pipeline;
}

/** The name of a pipeline's entry file; entries are listed in the order of these names, in every backend. */
export function entryFileName(pipeline: string): string {
  return `${pipeline}.json`;
}

/** A stored entry as read back, or undefined when it is not a valid entry of `signature` (damaged or foreign). */
export function validEntry(signature: string, stored: unknown): MemoryEntry | undefined {
  const e = stored as MemoryEntry | undefined;
  if (!e || e.signature !== signature || !patchSchema.safeParse(e.patch).success) return undefined;
  return { ...e, hits: e.hits ?? 0, hitEpisodes: e.hitEpisodes ?? [], contractColumns: e.contractColumns ?? [] };
}

/**
 * What `remember` writes: a newer verified fix of the drift replaces the pipeline's older one (its
 * hits kept when the patch is the same); the episode that wrote `prior` writes nothing again.
 */
export function planRemember(
  input: RememberInput,
  signature: string,
  prior: MemoryEntry | undefined,
): { entry: MemoryEntry; outcome: RememberOutcome; write: boolean } {
  if (prior && prior.episodeId === input.episodeId) return { entry: prior, outcome: 'unchanged', write: false };
  const same = prior !== undefined && samePatch(prior.patch, input.patch);
  const entry: MemoryEntry = {
    signature,
    pipeline: input.pipeline,
    contractColumns: contractColumns(input.spec),
    patch: input.patch,
    doctor: input.doctor,
    episodeId: input.episodeId,
    verifiedAt: input.at ?? new Date().toISOString(),
    hits: same ? prior.hits : 0,
    hitEpisodes: same ? prior.hitEpisodes : [],
    ...(same && prior.lastHitAt ? { lastHitAt: prior.lastHitAt } : {}),
  };
  return { entry, outcome: prior ? 'updated' : 'remembered', write: true };
}

/** What `recordHit` writes; `source: undefined` when no entry holds the patch (remember it again instead). */
export type HitPlan = { source: undefined } | { source: MemoryEntry; writes: MemoryEntry[]; outcome: RememberOutcome };

/**
 * The writes of a hit, from the signature's entries: the entry that supplied the patch (this
 * pipeline's first) counts the episode once; another pipeline's entry also teaches this pipeline
 * (an own entry, learnedFrom). `source` is the supplying entry as it is after the writes.
 */
export function planHit(input: RecordHitInput, entries: readonly MemoryEntry[], at: string): HitPlan {
  const all = entries.filter((e) => samePatch(e.patch, input.patch));
  const source = all.find((e) => e.pipeline === input.pipeline) ?? all[0];
  if (!source) return { source: undefined };
  const writes: MemoryEntry[] = [];
  let outcome: RememberOutcome = 'unchanged';
  let after = source;
  if (!source.hitEpisodes.includes(input.episodeId)) {
    after = {
      ...source,
      hits: source.hits + 1,
      hitEpisodes: [...source.hitEpisodes, input.episodeId].slice(-HIT_EPISODES_KEPT),
      lastHitAt: at,
    };
    writes.push(after);
    outcome = 'hit';
  }
  if (source.pipeline !== input.pipeline) {
    const own = entries.find((e) => e.pipeline === input.pipeline);
    if (!own || !samePatch(own.patch, input.patch)) {
      writes.push({
        signature: source.signature,
        pipeline: input.pipeline,
        contractColumns: contractColumns(input.spec),
        patch: input.patch,
        doctor: source.doctor,
        episodeId: input.episodeId,
        verifiedAt: at,
        hits: 0,
        hitEpisodes: [],
        learnedFrom: source.pipeline,
      });
    }
  }
  return { source: after, writes, outcome };
}

/**
 * A remembered patch among a signature's entries that applies to `spec`: this pipeline's entry
 * first, then other pipelines' entries with the same contract columns (the signature already pins
 * the source columns), most hits first, then newest. Patches in `exclude` (failed earlier) are skipped.
 */
export function recallFrom(
  entries: readonly MemoryEntry[],
  spec: PipelineSpec,
  opts: { pipeline?: string; exclude?: readonly Patch[] } = {},
): Recalled | undefined {
  const pipeline = opts.pipeline ?? spec.name;
  const contract = contractColumns(spec).join('\u0000');
  const excluded = new Set((opts.exclude ?? []).map((p) => canonicalJson(p)));
  const all = entries.filter((e) => !excluded.has(canonicalJson(e.patch)));
  const own = all.filter((e) => e.pipeline === pipeline);
  const others = all
    .filter((e) => e.pipeline !== pipeline && e.contractColumns.join('\u0000') === contract)
    .sort((a, b) => b.hits - a.hits || byCodeUnit(b.verifiedAt, a.verifiedAt) || byCodeUnit(a.pipeline, b.pipeline));
  for (const entry of [...own, ...others]) {
    if (applyPatch(spec, entry.patch).ok)
      return { patch: entry.patch, entry, crossPipeline: entry.pipeline !== pipeline };
  }
  return undefined;
}

/** The fix memory under `<home>/memory`. */
export class FixMemory {
  readonly dir: string;

  constructor(home: string) {
    this.dir = stateLayout(home).memory;
  }

  private sigDir(signature: string): string {
    return path.join(this.dir, checkedSignature(signature));
  }

  private entryFile(signature: string, pipeline: string): string {
    return path.join(this.sigDir(signature), entryFileName(checkedPipeline(pipeline)));
  }

  /** Every readable entry for a signature (unreadable or invalid files are skipped). */
  entries(signature: string): MemoryEntry[] {
    let files: string[];
    try {
      files = fs.readdirSync(this.sigDir(signature)).filter((f) => f.endsWith('.json') && f !== 'shape.json');
    } catch {
      return [];
    }
    const out: MemoryEntry[] = [];
    for (const f of files.sort()) {
      try {
        const e = validEntry(signature, readJson<MemoryEntry>(path.join(this.sigDir(signature), f)));
        if (e) out.push(e);
      } catch {
        // A damaged memory file is ignored: memory only ever saves a diagnosis.
      }
    }
    return out;
  }

  /** The entry of one pipeline for a signature. */
  entry(signature: string, pipeline: string): MemoryEntry | undefined {
    return this.entries(signature).find((e) => e.pipeline === pipeline);
  }

  private write(entry: MemoryEntry, shape: SignatureDoc): void {
    const shapeFile = path.join(this.sigDir(entry.signature), 'shape.json');
    if (!fs.existsSync(shapeFile))
      writeFileAtomic(shapeFile, `${JSON.stringify({ signature: entry.signature, shape }, null, 2)}\n`);
    writeFileAtomic(this.entryFile(entry.signature, entry.pipeline), `${JSON.stringify(entry, null, 2)}\n`);
  }

  /**
   * Remember the verified fix of a drift on a pipeline. Idempotent per episode; a newer verified
   * fix of the same drift on the same pipeline replaces the older one (its hits kept when the
   * patch is the same).
   */
  remember(input: RememberInput): { entry: MemoryEntry; outcome: RememberOutcome } {
    const sig = driftSignature(input.drift);
    const plan = planRemember(input, sig.hash, this.entry(sig.hash, input.pipeline));
    if (plan.write) this.write(plan.entry, sig.doc);
    return { entry: plan.entry, outcome: plan.outcome };
  }

  /**
   * Count a hit: the remembered patch healed this drift again (verified and loaded). Counted once
   * per episode on the entry that supplied the patch; when that entry is another pipeline's, this
   * pipeline also gets its own entry (learnedFrom), so the next time is an exact-pipeline hit.
   */
  recordHit(input: RecordHitInput): { entry: MemoryEntry | undefined; outcome: RememberOutcome } {
    const sig = driftSignature(input.drift);
    const at = input.at ?? new Date().toISOString();
    const plan = planHit(input, this.entries(sig.hash), at);
    // The entry is gone (deleted by hand): remember the fix again, as found by memory.
    if (!plan.source) return this.remember({ ...input, doctor: 'memory', at });
    for (const entry of plan.writes) this.write(entry, sig.doc);
    return { entry: this.entry(sig.hash, plan.source.pipeline), outcome: plan.outcome };
  }

  /** A remembered patch for this signature that applies to `spec` (see {@link recallFrom}). */
  recall(
    signature: string,
    spec: PipelineSpec,
    opts: { pipeline?: string; exclude?: readonly Patch[] } = {},
  ): Recalled | undefined {
    return recallFrom(this.entries(signature), spec, opts);
  }
}
