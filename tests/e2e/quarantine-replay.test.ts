/**
 * End to end through the real CLI on a real dev server: a run quarantines two "$12.50"-style values
 * (within the budget), the spec gains a `clean` that strips "$" (a new current version, as an
 * applied fix makes), and `heal quarantine replay --json` — the `quarantineReplay` workflow under
 * the pipeline's lock id — loads them: `list` shows none left, the table has every row, a second
 * replay loads nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { QuarantineReplayResult } from '../../common/contracts';
import type { PipelineRunResult } from '../../common/types';
import { openStore } from '../../store';
import { runCli } from '../helpers/cli';
import { useCliSuite } from '../helpers/cli-suite';
import { recordHistory } from '../helpers/temporal';
import { tableRows } from '../helpers/fixtures';

const suite = useCliSuite('e2e-replay');

function onlyJson<T>(stdout: string): T {
  const lines = stdout.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] ?? '') as T;
}

test('a run quarantines "$" prices; after a clean op, replay loads them once and quarantine is empty', async () => {
  const file = path.join(suite.home, 'prices.csv');
  const prices = (dirty: boolean) =>
    ['sku,price', ...Array.from({ length: 20 }, (_, i) => `s${i},${dirty && i % 9 === 2 ? '$12.50' : `${i}.25`}`)].join(
      '\n',
    ) + '\n';
  fs.writeFileSync(file, prices(false));
  expect((await runCli(['init', 'prices', '--source', file], suite.vars)).code).toBe(0);
  fs.writeFileSync(file, prices(true));
  const run = await runCli(['run', 'prices', '--json'], suite.vars);
  expect(run.code).toBe(0);
  const result = onlyJson<PipelineRunResult>(run.stdout);
  expect(result).toMatchObject({ outcome: 'succeeded', rowsLoaded: 18, rowsQuarantined: 2 });

  // The fix, as a new current version of the spec: strip "$" before the cast.
  const specs = openStore({ home: suite.home, gitCommits: false }).specs;
  const spec = structuredClone((await specs.current('prices')).spec);
  spec.mapping['price'] = { ...spec.mapping['price'], strip: ['$'] };
  const v2 = await specs.addVersion('prices', spec, { reason: 'manual', parent: 1 });
  await specs.setCurrent('prices', v2.version, 'strip "$" from prices');

  const r = await runCli(['quarantine', 'replay', 'prices', '--json'], suite.vars);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const out = onlyJson<QuarantineReplayResult & { outcome: string }>(r.stdout);
  expect(out).toMatchObject({
    outcome: 'succeeded',
    pipeline: 'prices',
    table: 'prices',
    specVersion: 2,
    mode: 'replace',
    selected: 2,
    replayed: 2,
    stillQuarantined: 0,
    superseded: 0,
    byReason: [],
    currentRun: result.runKey,
    workflowId: 'pipeline-prices',
  });
  expect(out.replayId).toMatch(/^pipeline-prices-\d{8}T\d+Z-replay$/);
  await recordHistory(suite.env, 'pipeline-prices', 'quarantine-replay');

  const list = await runCli(['quarantine', 'list', 'prices', '--json'], suite.vars);
  expect(onlyJson<{ total: number }>(list.stdout).total).toBe(0);
  const table = await tableRows(suite.config.warehouse, 'prices');
  expect(table).toHaveLength(20);
  expect(table.filter((row) => row['price'] === 12.5)).toHaveLength(2);

  // Again, human output: nothing left to replay, the table as it was.
  const again = await runCli(['quarantine', 'replay', 'prices'], suite.vars);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('prices: nothing in quarantine to replay');
  expect(await tableRows(suite.config.warehouse, 'prices')).toEqual(table);

  // An unknown pipeline: bad input, one line, exit 2.
  const unknown = await runCli(['quarantine', 'replay', 'nope'], suite.vars);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
});
