/**
 * Partitioned loads (the `partitionedRun` fan-out): a source given as a glob or a directory of
 * many files is loaded one file per child workflow, each staged on its own by the warehouse
 * (warehouse/: a DuckDB file per partition, or a PostgreSQL staging table), and a final
 * `mergePartitions` activity checks their union and commits every loaded partition in one
 * transaction.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SourceUnreadableError } from '../common/errors';
import type { PipelineSpec } from '../common/spec';
import type { HealConfig } from '../lib/config';
import { ident, lit, queryRows, withDuckDB } from '../lib/duckdb';
import { checkSourceFile, isGlob } from '../lib/paths';
import { findPartitionKeys, sourceKey } from '../core/etl/files';
import { assertNoSilentDrift, runLoad } from '../core/etl/load';
import { profileRelation, type TableProfile } from '../core/etl/profile';
import { removeStaleScratch } from './healing';
import type { HealStore } from '../store';
import type { StagedRelations, Warehouse } from '../warehouse';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { LoadTarget } from '../core/etl/target';
import type {
  ListPartitionsInput,
  ListPartitionsResult,
  LoadPartitionInput,
  PartitionLoad,
  MergePartitionsInput,
  MergePartitionsResult,
} from '../common/contracts';

export interface PartitionDeps {
  config: Pick<HealConfig, 'home' | 'allowedRoots' | 'duckdbMemoryLimit' | 'duckdbThreads'>;
  store: HealStore;
  warehouse: Warehouse;
}

const EXTENSIONS: Record<PipelineSpec['source']['format'], string> = { csv: 'csv', json: 'json', parquet: 'parquet' };

export function createPartitionActivities(deps: PartitionDeps) {
  const { config, store, warehouse } = deps;
  const duck = { memoryLimit: config.duckdbMemoryLimit, threads: config.duckdbThreads };

  return {
    /** The files of a partitioned source (a glob, or a directory), checked against the allowed roots. */
    async listPartitions(input: ListPartitionsInput): Promise<ListPartitionsResult> {
      const spec = (await store.specs.current(input.pipeline)).spec;
      let pattern = path.resolve(input.source ?? spec.source.path);
      if (!isGlob(pattern)) {
        let st: fs.Stats;
        try {
          st = fs.statSync(pattern);
        } catch {
          throw new SourceUnreadableError(`${pattern}: no such file or directory`);
        }
        if (!st.isDirectory()) return { files: [checkSourceFile(pattern, config.allowedRoots)] };
        pattern = path.join(pattern, `*.${EXTENSIONS[spec.source.format]}`);
      }
      const found = await withDuckDB(':memory:', duck, (conn) =>
        queryRows<{ file: string }>(conn, `SELECT file FROM glob(${lit(pattern)}) ORDER BY file`),
      );
      if (found.length === 0) throw new SourceUnreadableError(`${pattern}: no files match`);
      const files = found.map((f) => checkSourceFile(f.file, config.allowedRoots));
      if (spec.target.mode === 'replace') return { files };
      // Appends and merges load a file's content once: the files an earlier run loaded are skipped.
      const keys = Object.fromEntries(files.map((f) => [f, sourceKey([f])]));
      const done = await warehouse.committedKeys(spec.target.table, Object.values(keys));
      return {
        files: files.filter((f) => !done.has(keys[f] ?? '')),
        skipped: files.filter((f) => done.has(keys[f] ?? '')),
        keys,
      };
    },

    /** Remove a partitioned run's staging files (nothing was merged, or the merge is done). */
    async discardPartitions(input: { pipeline: string; runId: string }): Promise<void> {
      await warehouse.discardPartitions(input.pipeline, input.runId);
      removeStaleScratch(config.home, input.pipeline);
    },

    /**
     * Load one partition into its own staging (a DuckDB file, a PostgreSQL staging table): the same
     * load as `loadSource` (shape and value checks, cast, quarantine), never the target table. No silent drift check here: a partition is a
     * slice of the whole, judged with the others at the merge. Throws SchemaDrift (nothing written)
     * when the partition no longer fits.
     */
    async loadPartition(input: LoadPartitionInput): Promise<PartitionLoad> {
      const { spec } = await store.specs.read(input.pipeline, input.specVersion);
      const ref = { pipeline: input.pipeline, runId: input.runId, index: input.index, table: spec.target.table };
      const { result: res, stage: db } = await warehouse.withPartition(ref, (conn, target, table) =>
        runLoad(conn, {
          // Each staging holds this partition only: whatever the pipeline's mode, replace.
          spec: { ...spec, target: { ...spec.target, table, mode: 'replace' } },
          specVersion: input.specVersion,
          runId: input.loadId,
          source: input.file,
          allowedRoots: config.allowedRoots,
          commit: true,
          target,
        }),
      );
      return {
        index: input.index,
        file: input.file,
        db,
        specVersion: input.specVersion,
        rowsRead: res.rowsRead,
        rowsLoaded: res.rowsLoaded,
        rowsQuarantined: res.rowsQuarantined,
      };
    },

    /**
     * Check the union of the loaded partitions against the baseline (silent drift: what becomes
     * the table, or joins it, as one; the columns the partitions are split by aside), then copy
     * every loaded partition into the warehouse in one transaction (replace: the table is the
     * union of the partitions; append: added; merge: upserted on the key), with their quarantine
     * rows, then record the load, each file, and the new baseline profile. Idempotent per run.
     * Throws SchemaDrift (nothing written) when the union shifted.
     */
    async mergePartitions(input: MergePartitionsInput): Promise<MergePartitionsResult> {
      const { spec } = await store.specs.read(input.pipeline, input.specVersion);
      const t = spec.target.table;
      const baseline = await store.profiles.baseline(input.pipeline);
      const parts = [...input.partitions].sort((a, b) => a.index - b.index);
      // Merged already (a retried activity): its staged partitions may be gone; nothing to redo.
      const done = await warehouse.committedLoad(t, input.runId);
      const res = done
        ? {
            rowsLoaded: done.rowsLoaded,
            rowsQuarantined: done.rowsQuarantined,
            committedAt: new Date().toISOString(),
            alreadyMerged: true,
            profile: null,
            partitionKeys: [],
          }
        : await warehouse.withStaged(spec, parts, (conn, target, staged) =>
            mergeInto(conn, target, spec, { ...input, partitions: parts }, staged, baseline),
          );
      if (res.profile) {
        await store.profiles.save(input.pipeline, {
          runId: input.runId,
          specVersion: input.specVersion,
          sources: input.partitions.map((p) => p.file),
          profile: res.profile,
        });
      }
      await warehouse.discardPartitions(input.pipeline, input.runId);
      // Partitions healed here were verified in scratch files no load reuses: every partition is done.
      removeStaleScratch(config.home, input.pipeline);
      return {
        table: t,
        warehouse: warehouse.where,
        rowsLoaded: res.rowsLoaded,
        rowsQuarantined: res.rowsQuarantined,
        partitions: input.partitions.length,
        committedAt: res.committedAt,
        alreadyMerged: res.alreadyMerged,
        partitionKeys: res.partitionKeys,
      };
    },
  };
}

type MergeOutcome = {
  rowsLoaded: number;
  rowsQuarantined: number;
  committedAt: string;
  alreadyMerged: boolean;
  profile: TableProfile | null;
  partitionKeys: string[];
};

/** The partitions' rows as one relation, each row with its file (`__file`) and `__bad` false, for the union's checks. */
const UNION = '__heal_union';

/**
 * The merge on the warehouse's connection, its partitions staged as relations: done once per run
 * (a retried merge finds its load record), the union checked against the baseline, then one commit.
 */
async function mergeInto(
  conn: DuckDBConnection,
  target: LoadTarget,
  spec: PipelineSpec,
  input: MergePartitionsInput,
  staged: readonly StagedRelations[],
  baseline: TableProfile | null,
): Promise<MergeOutcome> {
  const cols = spec.contract.columns.map((c) => ident(c.name)).join(', ');
  const base = { committedAt: new Date().toISOString() };
  const parts = input.partitions;
  try {
    // The union is what becomes the table (replace) or joins it (a batch): its distribution is
    // judged against the baseline here, never a partition's alone.
    await conn.run(
      `CREATE OR REPLACE TEMP VIEW ${UNION} AS ${parts.map((p, i) => `SELECT ${lit(p.file)} AS __file, ${i} AS __p, false AS __bad, ${cols} FROM ${staged[i]?.rows}`).join(' UNION ALL ')}`,
    );
    const files = parts.map((p) => p.file);
    const found = await findPartitionKeys(conn, spec, UNION, files);
    const partitionKeys = [...new Set([...spec.source.partitionKeys, ...(baseline?.partitionKeys ?? []), ...found])];
    const profile = {
      ...(await profileRelation(conn, spec, UNION)),
      ...(partitionKeys.length ? { partitionKeys } : {}),
    };
    if (baseline) assertNoSilentDrift(spec, input.specVersion, files, baseline, profile, partitionKeys);
    const key = spec.target.key ?? [];
    // Merge on key: of rows with the same key in several partitions, the last partition's wins.
    const rows =
      spec.target.mode === 'merge' && key.length
        ? `(SELECT * FROM ${UNION} QUALIFY row_number() OVER (PARTITION BY ${key.map(ident).join(', ')} ORDER BY __p DESC) = 1)`
        : UNION;
    const quarantines = staged.flatMap((s) => (s.quarantine ? [`SELECT * FROM ${s.quarantine}`] : []));
    const sum = (k: 'rowsRead' | 'rowsLoaded' | 'rowsQuarantined') => parts.reduce((a, p) => a + p[k], 0);
    await target.commit(conn, {
      spec,
      specVersion: input.specVersion,
      runId: input.runId,
      rows,
      quarantine: quarantines.length ? quarantines.join(' UNION ALL ') : null,
      loadKey: `partitions:${parts.length}`,
      files: parts.map((p) => ({
        file: p.file,
        key: p.key ?? '',
        rowsRead: p.rowsRead,
        rowsLoaded: p.rowsLoaded,
        rowsQuarantined: p.rowsQuarantined,
      })),
    });
    return {
      ...base,
      rowsLoaded: sum('rowsLoaded'),
      rowsQuarantined: sum('rowsQuarantined'),
      alreadyMerged: false,
      profile: parts.length ? profile : null,
      partitionKeys,
    };
  } finally {
    await conn.run(`DROP VIEW IF EXISTS ${UNION}`).catch(() => undefined);
  }
}
