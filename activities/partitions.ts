/**
 * Partitioned loads (the `partitionedRun` fan-out): a source given as a glob or a directory of
 * many files is loaded one file per child workflow, each into **its own DuckDB file**
 * (`<home>/partitions/<pipeline>/<run>/p<index>.duckdb`), and a final `mergePartitions` activity
 * copies every loaded partition into the warehouse in one transaction.
 *
 * Why a file per partition: DuckDB allows one read-write process per database file, so children
 * on several worker processes writing the warehouse at once would queue on its lock (each load
 * retried as WarehouseBusy). Partition files never contend; only the merge, a short sequential
 * copy of already typed rows, takes the warehouse. With workers on several machines, `HEAL_HOME`
 * (or at least its `partitions/` directory) must be a shared volume the merge can read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { SourceUnreadableError } from '../common/errors';
import type { PipelineSpec } from '../common/spec';
import type { HealConfig } from '../lib/config';
import { ident, lit, queryOne, queryRows, withDuckDB } from '../lib/duckdb';
import { checkSourceFile, isGlob } from '../lib/paths';
import { stateLayout } from '../store/layout';
import { committedKeys, ensureLoadFilesTable, findPartitionKeys, LOAD_FILES_TABLE, sourceKey } from '../core/etl/files';
import { assertNoSilentDrift, LOADS_TABLE, runLoad } from '../core/etl/load';
import { profileRelation, type TableProfile } from '../core/etl/profile';
import { tableColumnsDdl } from '../core/etl/sql';
import { removeStaleScratch } from './healing';
import type { HealStore } from '../store';
import type {
  ListPartitionsInput,
  ListPartitionsResult,
  LoadPartitionInput,
  PartitionLoad,
  MergePartitionsInput,
  MergePartitionsResult,
} from '../common/contracts';

export interface PartitionDeps {
  config: Pick<HealConfig, 'home' | 'warehouse' | 'allowedRoots' | 'duckdbMemoryLimit' | 'duckdbThreads'>;
  store: HealStore;
}

const EXTENSIONS: Record<PipelineSpec['source']['format'], string> = { csv: 'csv', json: 'json', parquet: 'parquet' };

/** Staging directory of one partitioned run. */
export function partitionDir(home: string, pipeline: string, runId: string): string {
  return stateLayout(home).partitions(pipeline, runId);
}

export function createPartitionActivities(deps: PartitionDeps) {
  const { config, store } = deps;
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
      const done = fs.existsSync(config.warehouse)
        ? await withDuckDB(config.warehouse, duck, (conn) =>
            committedKeys(conn, spec.target.table, Object.values(keys), LOADS_TABLE),
          )
        : new Set<string>();
      return {
        files: files.filter((f) => !done.has(keys[f] ?? '')),
        skipped: files.filter((f) => done.has(keys[f] ?? '')),
        keys,
      };
    },

    /** Remove a partitioned run's staging files (nothing was merged, or the merge is done). */
    async discardPartitions(input: { pipeline: string; runId: string }): Promise<void> {
      fs.rmSync(partitionDir(config.home, input.pipeline, input.runId), { recursive: true, force: true });
      removeStaleScratch(config.home, input.pipeline);
    },

    /**
     * Load one partition into its own DuckDB file: the same load as `loadSource` (shape and value
     * checks, cast, quarantine), never the warehouse. No silent drift check here: a partition is a
     * slice of the whole, judged with the others at the merge. Throws SchemaDrift (nothing written)
     * when the partition no longer fits.
     */
    async loadPartition(input: LoadPartitionInput): Promise<PartitionLoad> {
      const { spec } = await store.specs.read(input.pipeline, input.specVersion);
      const dir = partitionDir(config.home, input.pipeline, input.runId);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const db = path.join(dir, `p${String(input.index).padStart(5, '0')}.duckdb`);
      // Each partition file holds this partition only: whatever the pipeline's mode, replace.
      const partSpec: PipelineSpec = { ...spec, target: { ...spec.target, mode: 'replace' } };
      const res = await withDuckDB(db, duck, (conn) =>
        runLoad(conn, {
          spec: partSpec,
          specVersion: input.specVersion,
          runId: input.loadId,
          source: input.file,
          allowedRoots: config.allowedRoots,
          commit: true,
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
      const res = await withDuckDB(config.warehouse, duck, (conn) => mergeInto(conn, spec, input, baseline));
      if (res.profile) {
        await store.profiles.save(input.pipeline, {
          runId: input.runId,
          specVersion: input.specVersion,
          sources: input.partitions.map((p) => p.file),
          profile: res.profile,
        });
      }
      fs.rmSync(partitionDir(config.home, input.pipeline, input.runId), { recursive: true, force: true });
      // Partitions healed here were verified in scratch files no load reuses: every partition is done.
      removeStaleScratch(config.home, input.pipeline);
      return {
        table: t,
        warehouse: config.warehouse,
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

async function mergeInto(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  input: MergePartitionsInput,
  baseline: TableProfile | null,
): Promise<MergeOutcome> {
  const t = ident(spec.target.table);
  const cols = spec.contract.columns.map((c) => ident(c.name)).join(', ');
  await conn.run(`CREATE TABLE IF NOT EXISTS ${LOADS_TABLE} (
    run_id VARCHAR, pipeline VARCHAR, table_name VARCHAR, mode VARCHAR, load_key VARCHAR, spec_version INTEGER,
    sources VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, loaded_at TIMESTAMP)`);
  const done = await queryOne<{ rows_loaded: number; rows_quarantined: number; loaded_at: unknown }>(
    conn,
    `SELECT rows_loaded, rows_quarantined, CAST(loaded_at AS VARCHAR) AS loaded_at FROM ${LOADS_TABLE} WHERE run_id = ${lit(input.runId)} AND table_name = ${lit(spec.target.table)} LIMIT 1`,
  );
  if (done) {
    return {
      rowsLoaded: done.rows_loaded,
      rowsQuarantined: done.rows_quarantined,
      committedAt: new Date().toISOString(),
      alreadyMerged: true,
      profile: null,
      partitionKeys: [],
    };
  }
  const parts = [...input.partitions].sort((a, b) => a.index - b.index);
  const aliases = parts.map((_, i) => `__heal_p${i}`);
  for (const [i, p] of parts.entries()) await conn.run(`ATTACH ${lit(p.db)} AS ${aliases[i]} (READ_ONLY)`);
  try {
    // The union is what becomes the table (replace) or joins it (a batch): its distribution is
    // judged against the baseline here, never a partition's alone.
    await conn.run(
      `CREATE OR REPLACE TEMP VIEW ${UNION} AS ${parts.map((p, i) => `SELECT ${lit(p.file)} AS __file, false AS __bad, ${cols} FROM ${aliases[i]}.${t}`).join(' UNION ALL ')}`,
    );
    const files = parts.map((p) => p.file);
    const found = await findPartitionKeys(conn, spec, UNION, files);
    const partitionKeys = [...new Set([...spec.source.partitionKeys, ...(baseline?.partitionKeys ?? []), ...found])];
    const profile = {
      ...(await profileRelation(conn, spec, UNION)),
      ...(partitionKeys.length ? { partitionKeys } : {}),
    };
    if (baseline) assertNoSilentDrift(spec, input.specVersion, files, baseline, profile, partitionKeys);
    const counts = await copyPartitions(conn, spec, input, parts, aliases);
    return {
      ...counts,
      committedAt: new Date().toISOString(),
      alreadyMerged: false,
      profile: parts.length ? profile : null,
      partitionKeys,
    };
  } finally {
    await conn.run(`DROP VIEW IF EXISTS ${UNION}`).catch(() => undefined);
    for (const a of aliases) await conn.run(`DETACH ${a}`).catch(() => undefined);
  }
}

/** The one merge transaction: target, quarantine, the load record and one record per file. */
async function copyPartitions(
  conn: DuckDBConnection,
  spec: PipelineSpec,
  input: MergePartitionsInput,
  parts: readonly PartitionLoad[],
  aliases: readonly string[],
): Promise<{ rowsLoaded: number; rowsQuarantined: number }> {
  const t = ident(spec.target.table);
  const q = ident(`${spec.target.table}__quarantine`);
  const cols = spec.contract.columns.map((c) => ident(c.name)).join(', ');
  let rowsLoaded = 0;
  let rowsQuarantined = 0;
  await conn.run('BEGIN TRANSACTION');
  try {
    if (spec.target.mode === 'replace') await conn.run(`CREATE OR REPLACE TABLE ${t} (${tableColumnsDdl(spec)})`);
    else await conn.run(`CREATE TABLE IF NOT EXISTS ${t} (${tableColumnsDdl(spec)})`);
    await conn.run(`CREATE TABLE IF NOT EXISTS ${q} (
      run_id VARCHAR, pipeline VARCHAR, spec_version INTEGER, source_file VARCHAR, line BIGINT,
      column_name VARCHAR, reason VARCHAR, raw_row VARCHAR, quarantined_at TIMESTAMP)`);
    await ensureLoadFilesTable(conn);
    for (const [i, p] of parts.entries()) {
      const a = aliases[i] as string;
      if (spec.target.mode === 'merge' && spec.target.key?.length) {
        const on = spec.target.key.map((k) => `${t}.${ident(k)} IS NOT DISTINCT FROM s.${ident(k)}`).join(' AND ');
        await conn.run(
          `DELETE FROM ${t} USING (SELECT ${spec.target.key.map(ident).join(', ')} FROM ${a}.${t}) s WHERE ${on}`,
        );
      }
      await conn.run(`INSERT INTO ${t} (${cols}) SELECT ${cols} FROM ${a}.${t}`);
      const hasQ = await queryOne<{ n: number }>(
        conn,
        `SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = ${lit(a)} AND table_name = ${lit(`${spec.target.table}__quarantine`)}`,
      );
      if ((hasQ?.n ?? 0) > 0) await conn.run(`INSERT INTO ${q} SELECT * FROM ${a}.${q}`);
      await conn.run(`INSERT INTO ${LOAD_FILES_TABLE} VALUES (${lit(input.runId)}, ${lit(spec.target.table)}, ${lit(spec.target.mode)}, ${lit(p.file)},
        ${lit(p.key ?? '')}, ${p.rowsRead}, ${p.rowsLoaded}, ${p.rowsQuarantined}, now()::TIMESTAMP)`);
      rowsLoaded += p.rowsLoaded;
      rowsQuarantined += p.rowsQuarantined;
    }
    await conn.run(`INSERT INTO ${LOADS_TABLE} VALUES (${lit(input.runId)}, ${lit(spec.name)}, ${lit(spec.target.table)}, ${lit(spec.target.mode)},
      ${lit(`partitions:${parts.length}`)}, ${input.specVersion}, ${lit(JSON.stringify(parts.map((p) => p.file)))},
      ${parts.reduce((s, p) => s + p.rowsRead, 0)}, ${rowsLoaded}, ${rowsQuarantined}, now()::TIMESTAMP)`);
    await conn.run('COMMIT');
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
  return { rowsLoaded, rowsQuarantined };
}
