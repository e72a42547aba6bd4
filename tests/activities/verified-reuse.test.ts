/**
 * The apply load of a healing episode commits the rows its verification kept (no fourth read of
 * the source), and only when they are for the same version and the same, unchanged files.
 * Tampering with the kept rows shows which path a load took.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../activities';
import { writeChaos } from '../../tools/chaos';
import { verifiedScratch } from '../../activities/healing';
import type { DriftReport } from '../../common/types';
import { queryOne, withDuckDB } from '../../lib/duckdb';
import { writeBenchCsv } from '../../tools/bench/generate';
import { initPipeline, tempDir, testConfig } from '../helpers/fixtures';

const ROWS = 400;

async function setUp() {
  const home = tempDir('heal-reuse-');
  const config = testConfig(home, { HEAL_GIT: '0' });
  const clean = path.join(home, 'clean.csv');
  await writeBenchCsv(clean, ROWS, 9);
  await initPipeline(config, 'orders', clean);
  const a = createActivities({ config });
  await a.loadSource({ pipeline: 'orders', specVersion: 1, runId: 'clean' });
  const drifted = path.join(home, 'drifted.csv');
  const res = await writeChaos('rename-one', clean, drifted, 1);
  expect(res.applicable).toBe(true);
  let drift: DriftReport | undefined;
  await a
    .loadSource({ pipeline: 'orders', specVersion: 1, runId: 'drifted', source: drifted })
    .catch((err: unknown) => {
      drift = (err as ApplicationFailure).details?.[0] as DriftReport;
    });
  expect(drift?.kinds).toContain('renamed');
  const d = await a.diagnose({
    pipeline: 'orders',
    specVersion: 1,
    drift: drift as DriftReport,
    source: drifted,
    previous: [],
  });
  const { candidateVersion } = await a.proposePatch({
    pipeline: 'orders',
    baseVersion: 1,
    patch: d.patch,
    doctor: d.doctor,
    rationale: [],
    episodeId: 'ep',
    attempt: 1,
  });
  const report = await a.verifyPatch({
    pipeline: 'orders',
    candidateVersion,
    source: drifted,
    episodeId: 'ep',
    attempt: 1,
  });
  expect(report.passed).toBe(true);
  const scratch = verifiedScratch(home, 'orders', candidateVersion);
  expect(fs.existsSync(scratch.db) && fs.existsSync(scratch.meta)).toBe(true);
  // Mark one kept row: a load that commits the kept rows has the mark, one that reads the source does not.
  await withDuckDB(scratch.db, {}, (conn) =>
    conn.run(`UPDATE __heal_verified SET name = 'kept row' WHERE rowid = 0`).then(() => undefined),
  );
  return { config, a, drifted, candidateVersion, scratch };
}

async function marked(warehouse: string): Promise<number> {
  const r = await withDuckDB(warehouse, {}, (conn) =>
    queryOne<{ n: number }>(conn, `SELECT count(*) AS n FROM orders WHERE name = 'kept row'`),
  );
  return r?.n ?? -1;
}

describe('verify → apply reuse', () => {
  it('commits the verified rows when the version and the files are the same, then removes them', async () => {
    const { config, a, drifted, candidateVersion, scratch } = await setUp();
    const load = await a.loadSource({
      pipeline: 'orders',
      specVersion: candidateVersion,
      runId: 'ep/apply',
      source: drifted,
    });
    expect(load.rowsLoaded).toBe(ROWS);
    expect(load.profilePath).not.toBeNull();
    expect(await marked(config.warehouse)).toBe(1);
    expect(fs.existsSync(scratch.db) || fs.existsSync(scratch.meta)).toBe(false);
    // A retried apply (same run id) does nothing twice.
    const again = await a.loadSource({
      pipeline: 'orders',
      specVersion: candidateVersion,
      runId: 'ep/apply',
      source: drifted,
    });
    expect(again.rowsLoaded).toBe(ROWS);
  }, 60_000);

  it('reads the source again when the file changed since the verification', async () => {
    const { config, a, drifted, candidateVersion, scratch } = await setUp();
    const later = new Date(Date.now() + 5_000);
    fs.utimesSync(drifted, later, later);
    const load = await a.loadSource({
      pipeline: 'orders',
      specVersion: candidateVersion,
      runId: 'ep/apply',
      source: drifted,
    });
    expect(load.rowsLoaded).toBe(ROWS);
    expect(await marked(config.warehouse)).toBe(0);
    expect(fs.existsSync(scratch.meta)).toBe(false);
  }, 60_000);

  it('a load of another version removes rows kept for an apply that never came (a rejected fix)', async () => {
    const { a, scratch } = await setUp();
    const otherDir = path.dirname(scratch.db);
    fs.writeFileSync(path.join(otherDir, 'notes.txt'), 'not a scratch');
    // The next run loads the current version (1): the candidate's kept rows are stale.
    const clean = await a.loadSource({ pipeline: 'orders', specVersion: 1, runId: 'next-run' });
    expect(clean.rowsLoaded).toBe(ROWS);
    expect(fs.existsSync(scratch.db) || fs.existsSync(scratch.meta)).toBe(false);
    expect(fs.readdirSync(otherDir)).toEqual(['notes.txt']);
  }, 60_000);
});
