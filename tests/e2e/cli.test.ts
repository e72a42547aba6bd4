/**
 * End to end through the real CLI: `heal init`, `heal run --json` against a real dev server, a
 * worker in this process (as `npm run dev` would run), and the bad-input contract.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PipelineRunResult } from '../../common/types';
import { useCliSuite } from '../helpers/cli-suite';
import { ROOT, runCli } from '../helpers/cli';
import { DRIFT_CASES, driftCase, tableRows } from '../helpers/fixtures';

const suite = useCliSuite('e2e', { roots: [DRIFT_CASES] });

function parseOnlyJson(stdout: string): PipelineRunResult {
  const lines = stdout.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] ?? '') as PipelineRunResult;
}

test('init infers a spec and says where it wrote it', async () => {
  const r = await runCli(['init', 'iowa', '--source', driftCase('iowa-camel-rename', 'clean.csv')], suite.vars);
  expect(r.code).toBe(0);
  const specFile = path.join(suite.home, 'pipelines', 'iowa', 'versions', 'v1.yaml');
  expect(r.stdout).toContain(specFile);
  expect(r.stdout).toMatch(/net_generation\s+integer, required/);
  expect(fs.existsSync(specFile)).toBe(true);
  // A second init without --force is refused, and changes nothing.
  const again = await runCli(['init', 'iowa', '--source', driftCase('iowa-camel-rename', 'clean.csv')], suite.vars);
  expect(again.code).toBe(2);
  expect(again.stderr.trim().split('\n')).toHaveLength(1);
  expect(again.stderr).toContain('already exists');
});

test('run --json: a clean load prints exactly one JSON object and exits 0', async () => {
  const r = await runCli(['run', 'iowa', '--json'], suite.vars);
  expect(r.code).toBe(0);
  const out = parseOnlyJson(r.stdout);
  expect(out).toMatchObject({
    outcome: 'succeeded',
    pipeline: 'iowa',
    table: 'iowa',
    rowsLoaded: 51,
    rowsQuarantined: 0,
    specVersion: 1,
    attempts: 0,
    driftReport: null,
  });
  expect(out.workflowId).toBe('pipeline-iowa');
  expect(out.runKey).toMatch(/^pipeline-iowa-\d{8}T\d+Z$/);
  expect(path.isAbsolute(out.warehouse ?? '')).toBe(true);
  expect(out.warehouse).toBe(suite.config.warehouse);
  expect(await tableRows(suite.config.warehouse, 'iowa')).toHaveLength(51);
});

/** The iowa file without its net_generation column: a required column gone, nothing can heal it. */
function droppedRequired(): string {
  const file = path.join(suite.home, 'iowa-dropped.csv');
  const lines = fs.readFileSync(driftCase('iowa-camel-rename', 'clean.csv'), 'utf8').trimEnd().split('\n');
  fs.writeFileSync(file, lines.map((l) => l.split(',').slice(0, 2).join(',')).join('\n') + '\n');
  return file;
}

test('run --json on a file that cannot be healed: failed with the drift report, exit 1, table unchanged', async () => {
  const before = await tableRows(suite.config.warehouse, 'iowa');
  const r = await runCli(['run', 'iowa', '--json', '--source', droppedRequired()], suite.vars);
  expect(r.code).toBe(1);
  const out = parseOnlyJson(r.stdout);
  expect(out.outcome).toBe('failed');
  expect(out.driftReport?.kinds).toEqual(['missing-column']);
  expect(out.attempts).toBe(1);
  expect(out.specVersion).toBe(1);
  expect(await tableRows(suite.config.warehouse, 'iowa')).toEqual(before);
});

test('run without --json prints a human summary with the drift and the Web UI link', async () => {
  const r = await runCli(['run', 'iowa', '--source', droppedRequired()], suite.vars);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain('failed');
  expect(r.stdout).toContain('required column "net_generation" is missing from the source');
  expect(r.stdout).toContain('the table iowa is unchanged');
  expect(r.stdout).toMatch(/http:\/\/localhost:8233\/namespaces\/default\/workflows\/pipeline-iowa-/);
});

test('run --json on a renamed column: healed, spec v2, the table as before', async () => {
  const before = await tableRows(suite.config.warehouse, 'iowa');
  const r = await runCli(
    ['run', 'iowa', '--json', '--source', driftCase('iowa-camel-rename', 'drifted.csv')],
    suite.vars,
  );
  expect(r.code).toBe(0);
  const out = parseOnlyJson(r.stdout);
  expect(out).toMatchObject({ outcome: 'healed', attempts: 1, specVersion: 2, doctor: 'rules', rowsLoaded: 51 });
  expect(out.driftReport?.kinds).toEqual(['renamed']);
  expect(await tableRows(suite.config.warehouse, 'iowa')).toEqual(before);
});

test('npm run --silent heal -- run x --json prints only the JSON', async () => {
  const r = await runCli(
    ['run', 'iowa', '--json', '--source', driftCase('iowa-camel-rename', 'drifted.csv')],
    suite.vars,
    {
      command: ['npm', 'run', '--silent', 'heal', '--'],
    },
  );
  expect(r.code).toBe(0);
  expect(parseOnlyJson(r.stdout).outcome).toBe('succeeded');
});

describe('bad input: one line, non-zero exit, no stack trace, table untouched', () => {
  const oneLine = (stderr: string) => {
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(stderr).not.toMatch(/\n\s+at /);
    return lines[0] ?? '';
  };

  test('unknown pipeline', async () => {
    const r = await runCli(['run', 'nope', '--json'], suite.vars);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/no pipeline named "nope" \(known: iowa\)/);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'failed', error: { type: 'PipelineNotFound' } });
  });

  test('missing source file', async () => {
    const r = await runCli(['run', 'iowa', '--source', path.join(suite.home, 'missing.csv')], suite.vars);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe(`heal: ${path.join(suite.home, 'missing.csv')}: no such file`);
  });

  test('a directory where a file is expected', async () => {
    const r = await runCli(['run', 'iowa', '--source', suite.home], suite.vars);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toContain('is a directory');
  });

  test('a path outside the allowed roots', async () => {
    const r = await runCli(['run', 'iowa', '--source', path.join(ROOT, 'package.json')], suite.vars);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toContain('outside the allowed roots');
  });

  test('init from an empty file', async () => {
    const empty = path.join(suite.home, 'empty.csv');
    fs.writeFileSync(empty, '');
    const r = await runCli(['init', 'empty', '--source', empty], suite.vars);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toContain('the file is empty');
  });

  test('run on an empty file: refused as drift, table untouched', async () => {
    const before = await tableRows(suite.config.warehouse, 'iowa');
    const empty = path.join(suite.home, 'empty.csv');
    fs.writeFileSync(empty, '');
    const r = await runCli(['run', 'iowa', '--json', '--source', empty], suite.vars);
    expect(r.code).toBe(1);
    expect(parseOnlyJson(r.stdout).driftReport?.kinds).toEqual(['empty-file']);
    expect(await tableRows(suite.config.warehouse, 'iowa')).toEqual(before);
  });

  test('a spec that fails validation names the file and the field', async () => {
    const r0 = await runCli(['init', 'broken', '--source', driftCase('iowa-camel-rename', 'clean.csv')], suite.vars);
    expect(r0.code).toBe(0);
    const file = path.join(suite.home, 'pipelines', 'broken', 'versions', 'v1.yaml');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('type: integer', 'type: int'));
    const r = await runCli(['run', 'broken'], suite.vars);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/v1\.yaml: invalid spec: contract\.columns\[2\]\.type: /);
  });

  test('--verbose adds the stack trace', async () => {
    const r = await runCli(['--verbose', 'run', 'nope'], suite.vars);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});

test('a small file with one bad value: within the floor in rows, the run loads around it and quarantines it', async () => {
  const rows = (bad: boolean) =>
    [
      'id,name,amount',
      ...Array.from({ length: 60 }, (_, i) => `${i + 1},n${i + 1},${bad && i === 30 ? 'n/a' : i}`),
    ].join('\n');
  fs.writeFileSync(path.join(suite.home, 'small.csv'), `${rows(false)}\n`);
  expect((await runCli(['init', 'small', '--source', path.join(suite.home, 'small.csv')], suite.vars)).code).toBe(0);
  fs.writeFileSync(path.join(suite.home, 'small-bad.csv'), `${rows(true)}\n`);
  const r = await runCli(['run', 'small', '--source', path.join(suite.home, 'small-bad.csv'), '--json'], suite.vars);
  expect(r.code).toBe(0);
  const run = parseOnlyJson(r.stdout);
  expect(run).toMatchObject({ outcome: 'succeeded', rowsLoaded: 59, rowsQuarantined: 1 });
  expect(await tableRows(suite.config.warehouse, 'small')).toHaveLength(59);

  // heal quarantine: the row, by run and reason; then purged by age.
  const list = async (...args: string[]) => {
    const out = await runCli(['quarantine', 'list', 'small', ...args, '--json'], suite.vars);
    expect(out.code).toBe(0);
    return JSON.parse(out.stdout) as { total: number; rows: { line: number; reason: string; runId: string }[] };
  };
  const all = await list();
  expect(all.total).toBe(1);
  expect(all.rows[0]).toMatchObject({ line: 32, runId: run.runKey });
  expect((await list('--run', run.runKey ?? '')).total).toBe(1);
  expect(all.rows[0]?.reason).toMatch(/amount: 'n\/a' is not a valid integer/);
  expect((await list('--reason', 'NOT A VALID')).total).toBe(1);
  expect((await list('--reason', 'missing')).total).toBe(0);
  expect((await list('--run', 'another-run')).total).toBe(0);
  const human = await runCli(['quarantine', 'list', 'small'], suite.vars);
  expect(human.stdout).toMatch(/small-bad\.csv:32 {2}amount: 'n\/a' is not a valid integer/);

  const purge = async (before: string) =>
    runCli(['quarantine', 'purge', 'small', '--before', before, '--json'], suite.vars);
  expect(JSON.parse((await purge('2000-01-01')).stdout)).toMatchObject({ purged: 0 });
  expect(JSON.parse((await purge(new Date(Date.now() + 86_400_000).toISOString())).stdout)).toMatchObject({
    purged: 1,
  });
  expect(JSON.parse((await purge('30d')).stdout)).toMatchObject({ purged: 0 });
  expect((await list()).total).toBe(0);
  const bad = await purge('soon');
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/--before: an ISO date/);
});
