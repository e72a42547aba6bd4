/**
 * partitionedRun (`heal run --partitioned`) orchestration with stubbed activities
 * (tests/helpers/stub-activities.ts) on a real dev server: one partition loads, one drifts and is
 * healed on its own (its healAttempt judged against the other partitions), one cannot be read and
 * is set aside; the run merges the two that loaded and ends partial.
 * Stubbed because the fan-out, the per-partition healing and the merge are decided by what
 * loadPartition, the doctor and mergePartitions answer; tests/workflows/partitioned-run.test.ts
 * proves the same with real files and DuckDB.
 */
import { HEALING_PRIORITY } from '../../common/policies';
import { HEAL_OUTCOME } from '../../common/search-attributes';
import { pipelineRun } from '../../workflows';
import {
  PIPELINE,
  diagnosis,
  driftReport,
  failure,
  inputsOf,
  pipelineInfo,
  quietActivities,
  recording,
  runStubbed,
  schemaDrift,
  startedChildren,
  useStubbedDevEnv,
  verification,
} from '../helpers/stub-activities';

const suite = useStubbedDevEnv();

test('a partition loads, a drifted one heals on its own, an unreadable one is set aside: merged, partial', async () => {
  const workflowId = 'stub-partitioned';
  const fanOutId = `${workflowId}-parts`;
  const [a, b, c] = ['/stub/parts/a.csv', '/stub/parts/b.csv', '/stub/parts/c.csv'] as const;
  const unreadable = 'c.csv: not valid UTF-8';
  const { activities, calls } = recording({
    ...quietActivities(),
    getPipeline: async () => pipelineInfo({ loadMode: 'append', source: '/stub/parts/*.csv', maxAttempts: 2 }),
    listPartitions: async () => ({ files: [a, b, c], skipped: [], keys: {} }),
    loadPartition: async (input) => {
      if (input.file === c) throw failure('SourceUnreadable', unreadable);
      if (input.file === b && input.specVersion === 1) throw schemaDrift(driftReport([b]));
      return {
        index: input.index,
        file: input.file,
        db: `/stub/staging/p${input.index}.duckdb`,
        specVersion: input.specVersion,
        rowsRead: 10,
        rowsLoaded: 10,
        rowsQuarantined: 0,
      };
    },
    diagnose: async () => diagnosis(),
    proposePatch: async () => ({ candidateVersion: 2 }),
    verifyPatch: async (input) => verification(input.candidateVersion, true),
    mergePartitions: async (input) => ({
      table: 'orders',
      warehouse: '/stub/warehouse.duckdb',
      rowsLoaded: input.partitions.reduce((n, p) => n + p.rowsLoaded, 0),
      rowsQuarantined: 0,
      partitions: input.partitions.length,
      committedAt: '2026-01-01T00:00:05.000Z',
      alreadyMerged: false,
      partitionKeys: [],
    }),
    discardPartitions: async () => undefined,
  });
  const run = await runStubbed(suite, activities, pipelineRun, {
    workflowId,
    args: [{ pipeline: PIPELINE, partitioned: true }],
  });

  expect(run.failureType).toBe('PartialLoad');
  expect(run.result).toMatchObject({
    outcome: 'partial',
    fanOutId,
    rowsLoaded: 20,
    specVersion: 1,
    error: { type: 'PartialLoad', message: '1 of 3 files set aside: c.csv' },
  });
  expect(run.result.partitions).toEqual([
    expect.objectContaining({ file: a, outcome: 'loaded', rowsLoaded: 10, workflowId: `${fanOutId}-p00000` }),
    expect.objectContaining({
      file: b,
      outcome: 'healed',
      rowsLoaded: 10,
      specVersion: 2,
      driftKinds: ['renamed'],
      workflowId: `${fanOutId}-p00001`,
    }),
    expect.objectContaining({
      file: c,
      outcome: 'set-aside',
      rowsLoaded: 0,
      reason: `SourceUnreadable: ${unreadable}`,
    }),
  ]);
  expect(startedChildren(run.history)).toEqual([{ type: 'partitionedRun', workflowId: fanOutId }]);
  const fanOut = await suite.env.client.workflow.getHandle(fanOutId).fetchHistory();
  expect(startedChildren(fanOut)).toEqual(
    [0, 1, 2].map((i) => ({ type: 'partitionRun', workflowId: `${fanOutId}-p0000${i}` })),
  );

  // The drifted partition was healed by its own attempt, verified against the other partitions,
  // reloaded with the candidate version and remembered; the pipeline's version did not move.
  const p1 = `${fanOutId}-p00001`;
  expect(startedChildren(await suite.env.client.workflow.getHandle(p1).fetchHistory())).toEqual([
    { type: 'healAttempt', workflowId: `${p1}-heal-attempt`, priorityKey: HEALING_PRIORITY.priorityKey },
  ]);
  expect(calls.filter((c) => c.workflowType === 'healAttempt').map((c) => [c.name, c.workflowId])).toEqual([
    ['diagnose', `${p1}-heal-attempt`],
    ['proposePatch', `${p1}-heal-attempt`],
    ['verifyPatch', `${p1}-heal-attempt`],
  ]);
  expect(inputsOf(calls, 'verifyPatch')).toEqual([
    expect.objectContaining({ source: b, episodeId: p1, peers: { version: 1, files: [a, c] } }),
  ]);
  expect(inputsOf(calls, 'loadPartition').filter((l) => l['file'] === b)).toEqual([
    expect.objectContaining({ specVersion: 1, loadId: p1 }),
    expect.objectContaining({ specVersion: 2, loadId: `${p1}/healed` }),
  ]);
  expect(inputsOf(calls, 'rememberFix')).toEqual([expect.objectContaining({ baseVersion: 1, episodeId: p1 })]);
  expect(calls.some((c) => c.name === 'applyVersion')).toBe(false);

  // One merge of what loaded (each with the version it loaded with); nothing discarded.
  expect(inputsOf(calls, 'mergePartitions')).toEqual([
    expect.objectContaining({
      runId: fanOutId,
      specVersion: 1,
      partitions: [
        expect.objectContaining({ file: a, specVersion: 1 }),
        expect.objectContaining({ file: b, specVersion: 2 }),
      ],
    }),
  ]);
  expect(calls.some((c) => c.name === 'discardPartitions')).toBe(false);
  expect(inputsOf(calls, 'notifyEpisode')).toEqual([
    expect.objectContaining({ outcome: 'partial', setAside: [{ file: c, reason: `SourceUnreadable: ${unreadable}` }] }),
  ]);
  expect(run.desc.status.name).toBe('FAILED');
  expect(run.desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('partial');
});
