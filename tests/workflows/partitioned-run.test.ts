/**
 * The partitioned fan-out on a real dev server: five partition files, one renamed (healed on its
 * own with the rules doctor), one missing a required column (set aside); the others load and,
 * when the run allows a partial load, everything loaded is merged into the warehouse in one
 * transaction, with at most `maxParallel` partitions in flight. A run with the default policy
 * (replace, refuse) fails instead and leaves the table as it was.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { writeChaos } from '../../tools/chaos';
import { SpecStore } from '../../store/spec-store';
import { queryRows, withDuckDB } from '../../lib/duckdb';
import type { PipelineRunResult } from '../../common/types';
import { partitionedRun, pipelineRun } from '../../workflows';
import type { PartitionedRunResult } from '../../workflows/partitioned-run';
import { writeBenchCsv } from '../../tools/bench/generate';
import { initPipeline, tempDir, testConfig } from '../helpers/fixtures';
import { uniqueTaskQueue, useDevEnv } from '../helpers/temporal';

const suite = useDevEnv();

const ROWS = 300;

/** Most children in flight at once, from the parent's history (initiated → closed). */
async function maxInFlight(workflowId: string): Promise<number> {
  const E = temporal.api.enums.v1.EventType;
  const history = await suite.env.client.workflow.getHandle(workflowId).fetchHistory();
  let inFlight = 0;
  let max = 0;
  for (const e of history.events ?? []) {
    if (e.eventType === E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED) max = Math.max(max, ++inFlight);
    if (
      e.eventType === E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED ||
      e.eventType === E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED ||
      e.eventType === E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT ||
      e.eventType === E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED ||
      e.eventType === E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED ||
      e.eventType === E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED
    )
      inFlight--;
  }
  return max;
}

describe('partitionedRun', () => {
  it('heals a drifted partition on its own, sets aside one it cannot heal, merges the rest when allowed (refuses by default), and keeps to maxParallel', async () => {
    const home = tempDir();
    const config = testConfig(home);
    const parts = path.join(home, 'parts');
    const scratch = path.join(home, 'scratch');
    for (let i = 0; i < 5; i++) await writeBenchCsv(path.join(scratch, `part-${i}.csv`), ROWS, 5, i * ROWS);
    fs.mkdirSync(parts, { recursive: true });
    for (const i of [0, 2, 4]) fs.copyFileSync(path.join(scratch, `part-${i}.csv`), path.join(parts, `part-${i}.csv`));
    // Partition 1 lost a required column (refused: quarantined); partition 3 has a renamed column (healed).
    const dropped = await writeChaos(
      'drop-required',
      path.join(scratch, 'part-1.csv'),
      path.join(parts, 'part-1.csv'),
      3,
    );
    const renamed = await writeChaos('rename-one', path.join(scratch, 'part-3.csv'), path.join(parts, 'part-3.csv'), 3);
    expect(dropped.applicable && renamed.applicable).toBe(true);

    await initPipeline(config, 'orders', path.join(scratch, 'part-0.csv'));
    const taskQueue = uniqueTaskQueue('parts');
    const worker = await Worker.create({
      connection: suite.env.nativeConnection,
      taskQueue,
      workflowBundle: suite.bundle,
      activities: createActivities({ config }),
    });
    const workflowId = `parts-${Date.now()}`;
    const runParts = async (id: string, source: string) => {
      const handle = await suite.env.client.workflow.start(partitionedRun, {
        taskQueue,
        workflowId: id,
        args: [{ pipeline: 'orders', source, maxParallel: 2, allowPartial: true }],
      });
      try {
        return await handle.result();
      } catch (err) {
        if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure)
          return err.cause.details?.[0] as PartitionedRunResult;
        throw err;
      }
    };
    const [first, result, viaRun] = await worker.runUntil(async () => {
      // A clean run first: it records the baseline profile the doctor matches renamed columns against.
      const clean = await runParts(`${workflowId}-clean`, path.join(scratch, '*.csv'));
      const partial = await runParts(workflowId, parts);
      // The same through `pipelineRun` (what `heal run --partitioned` starts): the same four partitions load.
      let run: PipelineRunResult;
      try {
        run = await suite.env.client.workflow.execute(pipelineRun, {
          taskQueue,
          workflowId: `${workflowId}-run`,
          args: [{ pipeline: 'orders', source: parts, partitioned: true }],
        });
      } catch (err) {
        if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure)
          run = err.cause.details?.[0] as PipelineRunResult;
        else throw err;
      }
      return [clean, partial, run] as const;
    });
    // Through a run with the spec's default (replace, target.partial: refuse): a partition set aside
    // fails the run, and the table keeps what the partitioned run below merged.
    expect(viaRun).toMatchObject({ outcome: 'failed', rowsLoaded: 0, fanOutId: `${workflowId}-run-parts` });
    expect(viaRun.partitions?.map((f) => [path.basename(f.file), f.outcome])).toEqual([
      ['part-0.csv', 'held'],
      ['part-1.csv', 'set-aside'],
      ['part-2.csv', 'held'],
      ['part-3.csv', 'held'],
      ['part-4.csv', 'held'],
    ]);
    expect(first.outcome).toBe('succeeded');
    expect(first.rowsLoaded).toBe(5 * ROWS);

    expect(result.outcome).toBe('partial');
    expect(result.partitions.map((p) => [path.basename(p.file), p.outcome])).toEqual([
      ['part-0.csv', 'succeeded'],
      ['part-1.csv', 'set-aside'],
      ['part-2.csv', 'succeeded'],
      ['part-3.csv', 'healed'],
      ['part-4.csv', 'succeeded'],
    ]);
    const healed = result.partitions[3];
    expect(healed?.doctor).toBe('rules');
    expect(healed?.driftKinds).toContain('renamed');
    expect(healed?.specVersion).toBeGreaterThan(1);
    expect(result.partitions[1]?.driftKinds).toContain('missing-column');
    expect(result.partitions[1]?.error).toMatch(/not healed/);
    expect(result.setAside).toBe(1);
    expect(result.rowsLoaded).toBe(4 * ROWS);

    // The warehouse holds the four loaded partitions (ids of partition 1 absent), each row once.
    const rows = await withDuckDB(config.warehouse, {}, (conn) =>
      queryRows<{ n: number; lo: number; hi: number; missing: number }>(
        conn,
        `SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi,
           count(*) FILTER (WHERE id BETWEEN ${ROWS + 1} AND ${2 * ROWS}) AS missing FROM orders`,
      ),
    );
    expect(rows[0]).toMatchObject({ n: 4 * ROWS, lo: 1, hi: 5 * ROWS, missing: 0 });
    // A partition's fix does not move the pipeline's version; the staging files are gone.
    expect(new SpecStore(home).currentVersion('orders')).toBe(1);
    expect(fs.existsSync(path.join(home, 'partitions', 'orders'))).toBe(true);
    expect(fs.readdirSync(path.join(home, 'partitions', 'orders'))).toEqual([]);
    // The healed partition's verification kept its rows in a scratch file no load reuses: removed by the merge.
    expect(fs.readdirSync(path.join(home, 'scratch', 'orders')).filter((f) => /^v\d+\./.test(f))).toEqual([]);
    // Bounded: never more than 2 partitions in flight, and the fan-out did use 2.
    expect(await maxInFlight(workflowId)).toBe(2);
  }, 240_000);
});
