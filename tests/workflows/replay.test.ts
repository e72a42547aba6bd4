/**
 * Replay: saved histories of real episodes (a healed one, a failed one, an attempt healed at its
 * third run) are replayed against the current workflow code. A non-deterministic change to the
 * workflows fails here. Fixtures are recorded by `RECORD_HISTORIES=1 npx jest tests/workflows/healing`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { testWorkflowBundle } from '../helpers/temporal';

const DIR = path.resolve(__dirname, '../fixtures/histories');
const files = fs.existsSync(DIR)
  ? fs
      .readdirSync(DIR)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : [];

beforeAll(() => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // installed already
  }
});

test('the committed corpus has a healed and a failed episode', () => {
  expect(files).toEqual(expect.arrayContaining(['episode-healed.json', 'episode-failed.json', 'run-healed.json']));
});

function load(file: string): { workflowId: string; history: ReturnType<typeof historyFromJSON> } {
  const doc = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as { workflowId: string; history: unknown };
  return { workflowId: doc.workflowId, history: historyFromJSON(doc.history) };
}

test('every saved history replays deterministically against the current workflow code', async () => {
  const bundle = await testWorkflowBundle();
  const histories = files.map(load);
  const results: { id: string; error?: unknown }[] = [];
  for await (const r of Worker.runReplayHistories({ workflowBundle: bundle }, histories))
    results.push({ id: r.workflowId, error: r.error });
  expect(results.map((r) => r.id).sort()).toEqual(histories.map((h) => h.workflowId).sort());
  for (const r of results) expect(r.error).toBeUndefined();
}, 120_000);

test('a deliberately non-deterministic change is caught', async () => {
  const { workflowId, history } = load('episode-healed.json');
  const workflowsPath = path.resolve(__dirname, '../fixtures/nondeterministic/workflows.ts');
  await expect(Worker.runReplayHistory({ workflowsPath }, history, workflowId)).rejects.toThrow(/[Nn]ondeterminism/);
}, 120_000);
