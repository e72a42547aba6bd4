/**
 * Healing activities: diagnose → proposePatch → verifyPatch, then applyVersion (or rollbackVersion).
 * Each takes one typed input object; all are idempotent per episode (an activity may run twice).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { DoctorAnswerInvalidError, HealError, NoDiagnosisError } from '../common/errors';
import { driftByFile, fileMatches, fileName, opsForFile, specForFile } from '../common/files';
import { applyPatch, describeOp, patchSchema, scopedMatches, type Patch, type PatchOp } from '../common/patch';
import type { PipelineSpec } from '../common/spec';
import type { DriftReport, FileNote, TableProfile, VerificationReport } from '../common/types';
import type { HealConfig } from '../lib/config';
import { withDuckDB } from '../lib/duckdb';
import { stateLayout } from '../store/layout';
import { writeFileAtomic } from '../lib/atomic-files';
import { compileExpression } from '../core/etl/expression';
import { createLlmDoctor, LlmUnavailableError } from '../core/doctor/llm';
import { policyDecisions } from '../common/policy';
import { createSourceProbe, PROBE_STAGE_ROWS } from '../core/doctor/probe';
import { createRulesDoctor, unhealableDrift } from '../core/doctor/rules';
import type { Doctor, DoctorName, PreviousAttempt, SourceProbe } from '../core/doctor/types';
import { resolveSourceFiles } from '../core/etl/source';
import { driftSignature, type RememberOutcome } from '../store/memory';
import type { HealStore } from '../store';
import type { Warehouse } from '../warehouse';
import type { ValueSketch } from '../core/etl/sketch';
import { verifiedLoads, verifyCandidate } from '../core/spec/verify';
import { sourceFingerprint } from '../core/etl/files';
import type {
  DiagnoseInput,
  DiagnoseResult,
  ProposePatchInput,
  VerifyPatchInput,
  RememberFixInput,
  RememberFixResult,
  ApplyVersionInput,
} from '../common/contracts';

export interface HealingDeps {
  config: Pick<HealConfig, 'home' | 'allowedRoots' | 'duckdbMemoryLimit' | 'duckdbThreads'> &
    Partial<Pick<HealConfig, 'llm' | 'maskSamples' | 'probeRows'>>;
  store: HealStore;
  /** Doctors, tried in order until one answers. @default rules, then the LLM when configured */
  doctors?: Doctor[];
  /**
   * Where the pipelines' tables are: the rules doctor compares a renamed column's new values with the
   * values the table already holds. @default none (the doctor decides without the table's values)
   */
  warehouse?: Pick<Warehouse, 'valueSketch'>;
}

/** Table of a verification scratch file holding the candidate's typed rows. */
export const VERIFIED_TABLE = '__heal_verified';

/** What a verification kept for the apply load (see `verifyPatch`). */
export interface VerifiedScratchMeta {
  pipeline: string;
  specVersion: number;
  /** The source as given to verification (path or glob). */
  source: string;
  files: string[];
  /** Path, size and mtime of the files when verified: the apply load reuses the rows only if they match. */
  fingerprint: string;
  rowsRead: number;
  profile: TableProfile | null;
  table: string;
  at: string;
}

/** Where a verification of `version` keeps its scratch database and its description. */
export function verifiedScratch(home: string, pipeline: string, version: number): { db: string; meta: string } {
  const dir = stateLayout(home).scratch(pipeline);
  return { db: path.join(dir, `v${version}.duckdb`), meta: path.join(dir, `v${version}.json`) };
}

/** Delete a verification scratch (database, its WAL, its description). */
export function removeScratch(s: { db: string; meta: string }): void {
  for (const f of [s.meta, s.db, `${s.db}.wal`]) fs.rmSync(f, { force: true });
}

/**
 * Delete a pipeline's verification scratches except the one of version `keep`: rows a verification
 * kept for an apply that never came (the fix was rejected, timed out, rolled back, or healed a
 * partition). Called where no verification of the pipeline can be running: at the start of a load
 * (one active run per pipeline) and at the end of a partitioned run's merge.
 */
export function removeStaleScratch(home: string, pipeline: string, keep?: number): void {
  const dir = path.dirname(verifiedScratch(home, pipeline, 0).db);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return; // no scratch directory: nothing kept
  }
  const kept = keep === undefined ? undefined : path.basename(verifiedScratch(home, pipeline, keep).db, '.duckdb');
  for (const name of names) {
    const m = /^(v\d+)\.(duckdb|duckdb\.wal|json)$/.exec(name);
    if (m && m[1] !== kept) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/** Drifted files grouped by the signature of their own drift (files that drifted alike heal alike). */
function groupBySignature(perFile: ReadonlyMap<string, DriftReport>): string[][] {
  const groups = new Map<string, string[]>();
  for (const [file, drift] of perFile) {
    const sig = driftSignature(drift).hash;
    groups.set(sig, [...(groups.get(sig) ?? []), file]);
  }
  return [...groups.values()];
}

/** The running activity's cancellation signal (none outside an activity: tests, the CLI). */
function activityCancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/**
 * The values `spec`'s table holds, by contract column (read as its contract type): each column's
 * sketch is asked of the warehouse once per diagnosis, however many times the doctors ask.
 */
function tableValuesOf(
  warehouse: Pick<Warehouse, 'valueSketch'>,
  spec: PipelineSpec,
): (column: string) => Promise<ValueSketch | undefined> {
  const asked = new Map<string, Promise<ValueSketch | undefined>>();
  return (column) => {
    const type = spec.contract.columns.find((c) => c.name === column)?.type;
    if (!type) return Promise.resolve(undefined);
    let p = asked.get(column);
    if (!p) {
      p = warehouse.valueSketch(spec.target.table, column, type);
      asked.set(column, p);
    }
    return p;
  };
}

/**
 * The doctors of `config.llm.doctors` in order (HEAL_DOCTORS): the rules doctor, and the LLM doctor
 * when an endpoint is configured (OPENAI_BASE_URL or OPENAI_API_KEY; HEAL_LOCAL_MODEL sets the former).
 */
function configuredDoctors(config: HealingDeps['config']): Doctor[] {
  const llm = config.llm;
  const choices = llm?.doctors ?? ['rules', 'llm'];
  return choices.flatMap((choice): Doctor[] => {
    if (choice === 'memory') return []; // asked before the doctors (diagnoseSource)
    if (choice === 'rules') return [createRulesDoctor()];
    if (!llm || !(llm.baseUrl || llm.apiKey)) return [];
    return [
      createLlmDoctor({
        baseUrl: llm.baseUrl,
        apiKey: llm.apiKey ?? 'none',
        model: llm.model ?? 'gpt-4o-mini',
        maskValues: config.maskSamples ?? false,
        contextTokens: llm.contextTokens,
        ...(llm.timeoutMs !== undefined ? { timeoutMs: llm.timeoutMs } : {}),
        signal: activityCancellation,
      }),
    ];
  });
}

export function createHealingActivities(deps: HealingDeps) {
  const { config, store } = deps;
  const memory = store.memory;
  const duck = { memoryLimit: config.duckdbMemoryLimit, threads: config.duckdbThreads };
  const doctors = deps.doctors ?? configuredDoctors(config);
  const askMemory = config.llm?.doctors.includes('memory') ?? true;

  const sourceFiles = (source: string) =>
    withDuckDB(':memory:', duck, (conn) => resolveSourceFiles(conn, source, config.allowedRoots));

  /**
   * Fix memory first, then the doctors, for one drift over `files` read with `spec`: the first
   * patch, or NoDiagnosis with every doctor's reason.
   */
  async function diagnoseSource(
    spec: PipelineSpec,
    specVersion: number,
    drift: DriftReport,
    files: string[],
    previous: PreviousAttempt[],
  ): Promise<DiagnoseResult> {
    if (askMemory && !previous.some((p) => p.doctor === 'memory')) {
      let hit;
      try {
        hit = await memory.recall(driftSignature(drift).hash, spec, {
          pipeline: spec.name,
          exclude: previous.flatMap((p) => (p.patch ? [p.patch] : [])),
        });
      } catch {
        hit = undefined; // an unreadable memory never blocks a diagnosis
      }
      // A remembered fix the policy would now refuse (say, an `ignore` once new columns evolve) is not offered.
      if (hit && !policyDecisions(spec, drift, hit.patch).some((d) => d.outcome === 'refused')) {
        return {
          kind: 'patch',
          doctor: 'memory',
          patch: hit.patch,
          confidence: 1,
          rationale: [
            `remembered fix from ${hit.entry.episodeId} (pipeline ${hit.entry.pipeline}), found by ${hit.entry.doctor}, verified ${hit.entry.verifiedAt}`,
            ...describePatch(hit.patch),
          ],
        };
      }
    }
    const baseline = await store.profiles.baseline(spec.name);
    const masked = new Set(spec.contract.columns.filter((c) => c.pii).flatMap((c) => spec.mapping[c.name]?.from ?? []));
    const mask = (c: string) => config.maskSamples === true || masked.has(c);
    const sampleRows = previous.length ? Infinity : (config.probeRows ?? PROBE_STAGE_ROWS);
    const tableValues = deps.warehouse ? tableValuesOf(deps.warehouse, spec) : undefined;
    return withDuckDB(':memory:', duck, async (conn) => {
      /** Ask the doctors in order over one probe: the first patch, else every reason to refuse. */
      const ask = async (probe: SourceProbe): Promise<DiagnoseResult | { reasons: string[]; fatal: boolean }> => {
        const unhealable = unhealableDrift(drift, spec);
        if (unhealable) return { reasons: [unhealable], fatal: true };
        const source = await probe.summarize();
        const reasons: string[] = [];
        for (const doctor of doctors) {
          const d = await doctor
            .diagnose(
              { spec, specVersion, drift, baseline, source, previous, ...(tableValues ? { tableValues } : {}) },
              probe,
            )
            .catch((err: unknown) => {
              // A rate limit's Retry-After sets the next activity retry's delay (bounded); other transient errors back off.
              if (err instanceof LlmUnavailableError && err.retryAfterMs) {
                throw ApplicationFailure.create({
                  type: 'LlmUnavailable',
                  message: err.message,
                  nextRetryDelay: Math.min(err.retryAfterMs, 60_000),
                });
              }
              // An answer that could not be used is that doctor's: the attempt's record names it.
              if (err instanceof DoctorAnswerInvalidError && err.details === undefined) {
                throw new DoctorAnswerInvalidError(err.message, { doctor: doctor.name });
              }
              throw err;
            });
          if (d.kind === 'patch') return d;
          reasons.push(`${d.doctor}: ${d.reason}`);
          if (d.fatal) return { reasons, fatal: true };
        }
        return { reasons, fatal: false };
      };
      const probe = await createSourceProbe(conn, spec, files, { mask, sampleRows });
      let answer = await ask(probe);
      // Refused on the first rows of a longer source: what settles it may lie past them, and a
      // refusal ends the episode. Ask once more over the whole source (not after a fatal refusal).
      if ('reasons' in answer && !answer.fatal && probe.partial) {
        answer = await ask(await createSourceProbe(conn, spec, files, { mask, sampleRows: Infinity }));
      }
      if ('kind' in answer) return answer;
      throw new NoDiagnosisError(`no confident fix: ${answer.reasons.join('; ')}`, { reasons: answer.reasons });
    });
  }

  /**
   * Some files of a many-file source drifted: each group of files that drifted alike is diagnosed
   * on its first file, read as that file is read, and its fix applies to those files only (`files`
   * ops). A group with no confident fix is set aside when the run may end partial; otherwise, or
   * when no file can be healed, NoDiagnosis names every file and why.
   */
  async function diagnoseFiles(
    spec: PipelineSpec,
    input: DiagnoseInput,
    perFile: ReadonlyMap<string, DriftReport>,
    groups: string[][],
  ): Promise<DiagnoseResult> {
    const patch: PatchOp[] = [];
    const setAside: FileNote[] = [];
    const rationale: string[] = [];
    const used = new Set<DoctorName>();
    let confidence = 1;
    let usage: DiagnoseResult['usage'];
    for (const files of groups) {
      const file = files[0] as string;
      const previous = input.previous.map((p) => ({ ...p, patch: p.patch ? opsForFile(p.patch, file) : null }));
      const label = `${fileName(file)}${files.length > 1 ? ` and ${files.length - 1} more like it` : ''}`;
      try {
        const d = await diagnoseSource(
          specForFile(spec, file),
          input.specVersion,
          perFile.get(file) as DriftReport,
          [file],
          previous,
        );
        const ops = d.patch.flatMap((op) => (op.op === 'files' ? op.ops : [op]));
        for (const f of files) patch.push({ op: 'files', match: fileName(f), ops });
        rationale.push(`${label} (${d.doctor}): ${d.rationale.join('; ')}`);
        used.add(d.doctor);
        confidence = Math.min(confidence, d.confidence);
        if (d.usage)
          usage = usage
            ? {
                ...usage,
                promptTokens: usage.promptTokens + d.usage.promptTokens,
                completionTokens: usage.completionTokens + d.usage.completionTokens,
              }
            : d.usage;
      } catch (err) {
        if (!(err instanceof NoDiagnosisError)) throw err;
        for (const f of files) setAside.push({ file: f, reason: err.message });
      }
    }
    if (setAside.length && (!input.allowPartial || !patch.length)) {
      const why = setAside.map((n) => `${fileName(n.file)}: ${n.reason}`);
      throw new NoDiagnosisError(
        `no confident fix for ${setAside.length} of ${input.drift.sources.length} files: ${why.join('; ')}`,
        { reasons: why, files: setAside },
      );
    }
    if (setAside.length) rationale.push(...setAside.map((n) => `set aside ${fileName(n.file)}: ${n.reason}`));
    // The doctor of record: the model if it answered for any file, else the rules, else memory alone.
    const doctor: DoctorName = used.has('llm') ? 'llm' : used.has('rules') ? 'rules' : 'memory';
    return {
      kind: 'patch',
      doctor,
      patch,
      confidence,
      rationale,
      ...(usage ? { usage } : {}),
      ...(setAside.length ? { setAside } : {}),
    };
  }

  /** The diagnosis of a drift of one file or of many (see diagnoseSource, diagnoseFiles). */
  async function diagnoseAny(spec: PipelineSpec, input: DiagnoseInput): Promise<DiagnoseResult> {
    const [only] = input.drift.sources;
    const perFile =
      driftByFile(input.drift) ??
      (input.drift.sources.length === 1 && only ? new Map([[only, input.drift]]) : undefined);
    // A file read its own way (a `source.files` entry fits it) is healed within that entry.
    const overridden = [...(perFile?.keys() ?? [])].some((f) => spec.source.files.some((o) => fileMatches(o.match, f)));
    if (perFile && (overridden || input.drift.sources.length > 1)) {
      const groups = groupBySignature(perFile);
      // Every file drifted the same way: one fix for the source. Else each way on its own.
      if (overridden || !(groups.length === 1 && perFile.size === input.drift.sources.length))
        return diagnoseFiles(spec, input, perFile, groups);
    }
    return diagnoseSource(spec, input.specVersion, input.drift, await sourceFiles(input.source), input.previous);
  }

  return {
    /**
     * Fix memory first: a patch that healed this drift signature before (on this pipeline, or on
     * one with the same columns) is answered without reading the source — at most once per episode
     * and never a patch that already failed in it. Otherwise ask the doctors, in order, for a patch.
     * No confident answer from any → NoDiagnosis (ends the episode).
     *
     * The first attempt's doctors see the first `config.probeRows` rows of the source (fast on big
     * files; verification then proves the fix on the whole file). A later attempt — an earlier fix
     * failed, perhaps on rows past that sample — sees the whole source; so does a first attempt whose
     * doctors all refused (not fatally) on a sample of a longer source, before it gives up.
     *
     * A many-file source where some files drifted is diagnosed file by file (see diagnoseFiles).
     */
    async diagnose(input: DiagnoseInput): Promise<DiagnoseResult> {
      const { spec } = await store.specs.read(input.pipeline, input.specVersion);
      return judgedByPolicy(spec, input.drift, await diagnoseAny(spec, input));
    },

    /** Validate a patch and write it as a candidate version (not current). Idempotent per episode attempt. */
    async proposePatch(input: ProposePatchInput): Promise<{ candidateVersion: number }> {
      const { spec } = await store.specs.read(input.pipeline, input.baseVersion);
      const shape = patchSchema.safeParse(input.patch);
      if (!shape.success) {
        const issues = shape.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || 'patch'}: ${i.message}`);
        throw new DoctorAnswerInvalidError(`the patch is not valid: ${issues.join('; ')}`, { issues });
      }
      const applied = applyPatch(spec, input.patch);
      if (!applied.ok)
        throw new DoctorAnswerInvalidError(`the patch does not apply: ${applied.issues.join('; ')}`, {
          issues: applied.issues,
        });
      const exprs = Object.entries(applied.spec.mapping).filter(([, e]) => e.expr !== undefined);
      if (exprs.length) {
        await withDuckDB(':memory:', duck, async (conn) => {
          for (const [column, e] of exprs) {
            try {
              await compileExpression(conn, e.expr ?? '', { sourceColumns: applied.spec.source.columns, rel: 'r' });
            } catch (err) {
              const why = err instanceof HealError ? err.message : String(err);
              throw new DoctorAnswerInvalidError(`derive ${column}: expression rejected: ${why}`);
            }
          }
        });
      }
      const rec = await store.specs.addVersion(input.pipeline, applied.spec, {
        reason: 'heal candidate',
        parent: input.baseVersion,
        episodeId: `${input.episodeId}#${input.attempt}`,
        patch: input.patch,
        doctor: input.doctor,
        verification: null,
      });
      return { candidateVersion: rec.version };
    },

    /**
     * Prove a candidate on the whole drifted source in a scratch database. Never touches the
     * warehouse. The scratch is a file: when the candidate passes with nothing quarantined its
     * typed rows stay there, and the apply load (`loadSource` with this version and source)
     * commits them instead of reading, casting and profiling the source again.
     */
    async verifyPatch(input: VerifyPatchInput): Promise<VerificationReport> {
      const { spec } = await store.specs.read(input.pipeline, input.candidateVersion);
      const baseline = await store.profiles.baseline(input.pipeline);
      const peerSpec = input.peers ? (await store.specs.read(input.pipeline, input.peers.version)).spec : undefined;
      const kept = verifiedScratch(config.home, input.pipeline, input.candidateVersion);
      removeScratch(kept);
      const report = await withDuckDB(kept.db, duck, (conn) =>
        verifyCandidate(conn, {
          spec,
          candidateVersion: input.candidateVersion,
          source: input.source,
          ...(input.files ? { files: input.files } : {}),
          ...(input.exclude ? { exclude: input.exclude } : {}),
          setAsideOverBudget: input.allowPartial ?? false,
          ...(input.patch ? { patch: input.patch } : {}),
          ...(input.peers && peerSpec ? { peers: { spec: peerSpec, files: input.peers.files } } : {}),
          allowedRoots: config.allowedRoots,
          baseline,
          runId: `${input.episodeId}#${input.attempt}/verify`,
          keepAs: VERIFIED_TABLE,
        }),
      );
      const load = verifiedLoads.get(report);
      if (load?.kept) {
        const meta: VerifiedScratchMeta = {
          pipeline: input.pipeline,
          specVersion: input.candidateVersion,
          source: path.resolve(input.source),
          files: load.sources,
          fingerprint: sourceFingerprint(load.sources),
          rowsRead: load.rowsRead,
          profile: load.profile,
          table: load.kept,
          at: new Date().toISOString(),
        };
        writeFileAtomic(kept.meta, JSON.stringify(meta));
      } else {
        removeScratch(kept);
      }
      return report;
    },

    /**
     * Remember a verified, applied fix under its drift signature (idempotent per episode). A fix
     * that came from memory counts a hit on the entry that supplied it instead.
     */
    async rememberFix(input: RememberFixInput): Promise<RememberFixResult> {
      const { spec } = await store.specs.read(input.pipeline, input.baseVersion);
      // A fix of some files of a glob is remembered as what it did to each of them, under that file's
      // own drift: the same drift in any file (of this source or another) is answered from memory.
      const perFile = scopedMatches(input.patch) ? driftByFile(input.drift) : undefined;
      const fixes = perFile
        ? [...perFile].flatMap(([file, drift]) => {
            const ops = opsForFile(input.patch, file);
            return ops.length ? [{ drift, spec: specForFile(spec, file), patch: ops }] : [];
          })
        : [{ drift: input.drift, spec, patch: input.patch }];
      let result: RememberFixResult | undefined;
      for (const fix of fixes) {
        const common = { ...fix, pipeline: input.pipeline, episodeId: input.episodeId };
        const { outcome } =
          input.doctor === 'memory'
            ? await memory.recordHit(common)
            : await memory.remember({ ...common, doctor: input.doctor });
        result ??= { signature: driftSignature(fix.drift).hash, outcome };
      }
      return result ?? { signature: driftSignature(input.drift).hash, outcome: 'unchanged' as RememberOutcome };
    },

    /** Make a version current. Idempotent: applying the current version again records nothing. */
    async applyVersion(input: ApplyVersionInput): Promise<{ previous: number; version: number }> {
      const previous = await store.specs.currentVersion(input.pipeline);
      await store.specs.setCurrent(input.pipeline, input.version, input.reason, input.episodeId);
      return { previous, version: input.version };
    },

    /** Move the current pointer back (recorded as a rollback). */
    async rollbackVersion(input: ApplyVersionInput): Promise<{ version: number }> {
      await store.specs.setCurrent(input.pipeline, input.version, input.reason, input.episodeId);
      return { version: input.version };
    },
  };
}

/** One line per op. */
export function describePatch(patch: Patch): string[] {
  return patch.map(describeOp);
}

/**
 * The spec's `healing.policy` on a diagnosis, whichever doctor made it: an op the policy refuses
 * ends the diagnosis (NoDiagnosis naming the policy); the decisions travel with the patch, so the
 * episode waits for approval when one says `review`.
 */
function judgedByPolicy(spec: PipelineSpec, drift: DriftReport, result: DiagnoseResult): DiagnoseResult {
  const policies = policyDecisions(spec, drift, result.patch);
  const refused = policies.filter((d) => d.outcome === 'refused');
  if (refused.length) {
    const reasons = refused.map((d) => `${result.doctor}: ${d.detail}`);
    throw new NoDiagnosisError(`no fix the pipeline's policy allows: ${reasons.join('; ')}`, { reasons });
  }
  return policies.length ? { ...result, policies } : result;
}
