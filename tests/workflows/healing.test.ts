/**
 * Healing episodes on a real dev server: healed at attempt 1 (rules doctor, real data), healed at
 * attempt 3 (a scripted doctor that is wrong twice), every attempt failed (nothing changes), apply
 * failure → rollback, and a drift no doctor can fix (ends at once).
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { createActivities, type Activities } from '../../activities';
import type { Doctor, DiagnoseInput } from '../../core/doctor/types';
import { SpecStore } from '../../store/spec-store';
import type { Patch } from '../../common/patch';
import { HEAL_OUTCOME } from '../../common/search-attributes';
import type { PipelineRunResult } from '../../common/types';
import type { HealConfig } from '../../lib/config';
import { pipelineRun } from '../../workflows';
import { driftCase, initPipeline, tableRows, tempDir, testConfig } from '../helpers/fixtures';
import { recordHistory, uniqueTaskQueue, useDevEnv } from '../helpers/temporal';

const suite = useDevEnv();

async function run(
  config: HealConfig,
  input: { pipeline: string; source?: string },
  workflowId: string,
  overrides: { doctors?: Doctor[]; wrap?: (a: Activities) => Activities } = {},
) {
  const taskQueue = uniqueTaskQueue('healing');
  const base = createActivities({ config, ...(overrides.doctors ? { doctors: overrides.doctors } : {}) });
  const activities = overrides.wrap ? overrides.wrap(base) : base;
  const worker = await Worker.create({
    connection: suite.env.nativeConnection,
    taskQueue,
    workflowBundle: suite.bundle,
    activities,
  });
  return worker.runUntil(async () => {
    const handle = await suite.env.client.workflow.start(pipelineRun, { taskQueue, workflowId, args: [input] });
    try {
      return await handle.result();
    } catch (err) {
      if (!(err instanceof WorkflowFailedError) || !(err.cause instanceof ApplicationFailure)) throw err;
      return err.cause.details?.[0] as PipelineRunResult;
    }
  });
}

async function cleanPipeline(name: string, caseName: string) {
  const config = testConfig(tempDir());
  await initPipeline(config, name, driftCase(caseName, 'clean.csv'));
  const ok = await run(config, { pipeline: name }, `${name}-clean-${Date.now()}`);
  expect(ok.outcome).toBe('succeeded');
  return { config, clean: await tableRows(config.warehouse, name) };
}

/** A doctor that answers from a script, one patch per attempt, and records what it was told. */
function scriptedDoctor(patches: Patch[]): Doctor & { inputs: DiagnoseInput[] } {
  const inputs: DiagnoseInput[] = [];
  return {
    name: 'llm',
    inputs,
    async diagnose(input) {
      inputs.push(input);
      const patch = patches[Math.min(input.previous.length, patches.length - 1)] ?? [];
      return { kind: 'patch', doctor: 'llm', patch, confidence: 0.9, rationale: ['scripted'] };
    },
  };
}

const IOWA_SHAPE: Patch[number] = { op: 'shape', columns: ['year', 'source', 'netGeneration'] };
const RIGHT: Patch = [{ op: 'map', column: 'net_generation', from: 'netGeneration' }, IOWA_SHAPE];
const WRONG_TYPE: Patch = [{ op: 'map', column: 'net_generation', from: 'source' }, IOWA_SHAPE];
const WRONG_SWAP: Patch = [
  { op: 'map', column: 'net_generation', from: 'netGeneration' },
  { op: 'map', column: 'source', from: 'year' },
  IOWA_SHAPE,
];

test('healed at attempt 1 by the rules doctor: the table equals the clean one, a new version is current', async () => {
  const { config, clean } = await cleanPipeline('iowa', 'iowa-camel-rename');
  const id = `iowa-heal1-${Date.now()}`;
  const r = await run(config, { pipeline: 'iowa', source: driftCase('iowa-camel-rename', 'drifted.csv') }, id);
  expect(r).toMatchObject({
    outcome: 'healed',
    attempts: 1,
    specVersion: 2,
    doctor: 'rules',
    rowsLoaded: 51,
    rowsQuarantined: 0,
    episodeId: `${id}-heal`,
  });
  expect(r.driftReport?.kinds).toEqual(['renamed']);
  expect(r.patch).toContainEqual({ op: 'map', column: 'net_generation', from: 'netGeneration' });
  expect(typeof r.mttrMs).toBe('number');
  expect(await tableRows(config.warehouse, 'iowa')).toEqual(clean);
  const store = new SpecStore(config.home);
  expect(store.currentVersion('iowa')).toBe(2);
  expect(store.current('iowa').spec.mapping['net_generation']).toEqual({ from: 'netGeneration' });
  const desc = await suite.env.client.workflow.getHandle(id).describe();
  expect(desc.typedSearchAttributes.get(HEAL_OUTCOME)).toBe('healed');
  await recordHistory(suite.env, `${id}-heal`, 'episode-healed');
  await recordHistory(suite.env, id, 'run-healed');
});

test('healed at attempt 3: each attempt is its own run and the doctor hears why the last one failed', async () => {
  const { config, clean } = await cleanPipeline('iowa', 'iowa-camel-rename');
  const doctor = scriptedDoctor([WRONG_TYPE, WRONG_SWAP, RIGHT]);
  const id = `iowa-heal3-${Date.now()}`;
  const r = await run(config, { pipeline: 'iowa', source: driftCase('iowa-camel-rename', 'drifted.csv') }, id, {
    doctors: [doctor],
  });
  expect(r).toMatchObject({ outcome: 'healed', attempts: 3, doctor: 'llm' });
  expect(await tableRows(config.warehouse, 'iowa')).toEqual(clean);
  // Attempt 2 was told about attempt 1's patch and its failed verification; attempt 3 about both.
  expect(doctor.inputs.map((i) => i.previous.length)).toEqual([0, 1, 2]);
  const second = doctor.inputs[1]?.previous[0];
  expect(second?.patch).toEqual(WRONG_TYPE);
  expect(second?.error).toMatch(/verification failed/);
  expect(second?.report?.checks.some((c) => !c.passed)).toBe(true);
  expect(doctor.inputs[2]?.previous[1]?.report?.checks.find((c) => c.name === 'profile:source')?.passed).toBe(false);
  // Three runs of the attempt child workflow, each with its own history.
  const runs: string[] = [];
  for await (const wf of suite.env.client.workflow.list({ query: `WorkflowId = '${id}-heal-attempt'` }))
    runs.push(wf.runId);
  expect(new Set(runs).size).toBe(3);
  await recordHistory(suite.env, `${id}-heal-attempt`, 'attempt-healed-at-3');
});

test('every attempt fails: outcome failed, the version and the table stay as they were', async () => {
  const { config, clean } = await cleanPipeline('iowa', 'iowa-camel-rename');
  const doctor = scriptedDoctor([WRONG_TYPE, WRONG_SWAP, WRONG_TYPE]);
  const id = `iowa-fail-${Date.now()}`;
  const r = await run(config, { pipeline: 'iowa', source: driftCase('iowa-camel-rename', 'drifted.csv') }, id, {
    doctors: [doctor],
  });
  expect(r.outcome).toBe('failed');
  expect(r.attempts).toBe(3);
  expect(r.specVersion).toBe(1);
  expect(r.error?.type).toBe('HealingFailed');
  expect(r.error?.message).toMatch(/attempt 1 .*attempt 2 .*attempt 3/);
  expect(r.driftReport?.kinds).toEqual(['renamed']);
  expect(new SpecStore(config.home).currentVersion('iowa')).toBe(1);
  expect(await tableRows(config.warehouse, 'iowa')).toEqual(clean);
  await recordHistory(suite.env, `${id}-heal`, 'episode-failed');
});

test('apply failure: the load with the new version fails → rolled back to the previous version', async () => {
  const { config, clean } = await cleanPipeline('iowa', 'iowa-camel-rename');
  const wrap = (a: Activities): Activities => ({
    ...a,
    loadSource: async (input) => {
      if (input.runId.endsWith('/apply'))
        throw ApplicationFailure.nonRetryable('injected: the warehouse refused the load', 'InjectedFault');
      return a.loadSource(input);
    },
  });
  const r = await run(
    config,
    { pipeline: 'iowa', source: driftCase('iowa-camel-rename', 'drifted.csv') },
    `iowa-rollback-${Date.now()}`,
    { wrap },
  );
  expect(r.outcome).toBe('failed');
  expect(r.error?.message).toMatch(/rolled back to v1/);
  const store = new SpecStore(config.home);
  expect(store.currentVersion('iowa')).toBe(1);
  const moves = store
    .history('iowa')
    .filter((h) => h.event === 'current')
    .map((h) => h.version);
  expect(moves).toEqual([1, 2, 1]);
  expect(await tableRows(config.warehouse, 'iowa')).toEqual(clean);
});

test('a dropped required column cannot be healed: one attempt, failed, table unchanged', async () => {
  const { config, clean } = await cleanPipeline('flights', 'flights-dropped-required');
  const r = await run(
    config,
    { pipeline: 'flights', source: driftCase('flights-dropped-required', 'drifted.csv') },
    `flights-${Date.now()}`,
  );
  expect(r.outcome).toBe('failed');
  expect(r.attempts).toBe(1);
  expect(r.driftReport?.kinds).toEqual(['missing-column']);
  expect(new SpecStore(config.home).currentVersion('flights')).toBe(1);
  expect(await tableRows(config.warehouse, 'flights')).toEqual(clean);
});

test('HEAL_MAX_ATTEMPTS bounds the attempts for every pipeline', async () => {
  const { config: base } = await cleanPipeline('iowa', 'iowa-camel-rename');
  const config = { ...base, maxAttempts: 2 };
  const doctor = scriptedDoctor([WRONG_TYPE, WRONG_SWAP, RIGHT]);
  const r = await run(
    config,
    { pipeline: 'iowa', source: driftCase('iowa-camel-rename', 'drifted.csv') },
    `iowa-max2-${Date.now()}`,
    { doctors: [doctor] },
  );
  expect(r).toMatchObject({ outcome: 'failed', attempts: 2, specVersion: 1 });
  expect(doctor.inputs).toHaveLength(2);
});
