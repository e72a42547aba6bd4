/**
 * Everyday file habits through the real workflow (the CLI as a process, a dev server, a worker):
 * each chaos kind of the habits — preamble, missing-value tokens, timestamps with offsets, a total
 * row with a footer line, lines of invalid UTF-8 — on real or seeded data, judged by the gauntlet
 * against the right table (healed = the clean table; quarantined = the clean rows, the added or
 * corrupt lines in quarantine with a reason that says why); and the refusals that must stay
 * refusals: a required column full of "NA", a UTF-8 file with too many corrupt lines.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PipelineRunResult } from '../../common/types';
import { writeChaos, type ChaosKind } from '../../tools/chaos';
import { formatMatrix, runCases, type GauntletCase } from '../../tools/gauntlet/cases';
import { HEAL_BIN, runCli } from '../helpers/cli';
import { useCliSuite } from '../helpers/cli-suite';
import { tableRows } from '../helpers/fixtures';

const VEGA = path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data');

const suite = useCliSuite('habits');

/** Seeded events with UTC timestamps ("YYYY-MM-DD HH:MM:SS"), amounts and an optional score. */
function events(rows = 300): string {
  const lines = ['event_id,happened_at,amount,score'];
  for (let i = 1; i <= rows; i++) {
    const t = new Date(Date.UTC(2025, 0, 1) + ((i * 7_919_993) % (300 * 86_400)) * 1000);
    lines.push(
      `${i},${t.toISOString().slice(0, 19).replace('T', ' ')},${((i * 37) % 1000) / 4},${i % 6 === 0 ? '' : (i * 13) % 100}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function dataset(name: string): string {
  const file = path.join(suite.home, `${name}.csv`);
  if (name === 'events') fs.writeFileSync(file, events());
  else fs.copyFileSync(path.join(VEGA, `${name}.csv`), file);
  return file;
}

const g = () => ({ env: suite.vars, warehouse: suite.config.warehouse, bin: HEAL_BIN });

test('each habit on real data: healed to the clean table, or its lines quarantined and never loaded', async () => {
  const plan: [string, ChaosKind][] = [
    ['seattle-weather', 'preamble'],
    ['seattle-weather', 'footer-total'],
    ['seattle-weather', 'invalid-byte-line'],
    ['la-riots', 'null-tokens'],
    ['events', 'null-tokens'],
    ['events', 'timestamp-offset'],
  ];
  const cases: GauntletCase[] = [];
  for (const [ds, kind] of plan) {
    const clean = dataset(ds);
    const out = path.join(suite.home, `${ds}-${kind}.csv`);
    const r = await writeChaos(kind, clean, out, 7);
    if (!r.applicable) throw new Error(`${kind} does not apply to ${ds}: ${r.reason}`);
    cases.push({
      dataset: ds,
      kind,
      clean,
      drifted: out,
      expect: r.expect,
      change: r.note,
      ...(r.details.addedRows ? { extraRows: r.details.addedRows } : {}),
    });
  }
  const results = await runCases(g(), cases, 2);
  expect(
    results.map((r) => `${r.dataset}/${r.kind}: ${r.verdict}${r.verdict.endsWith('correct') ? '' : ` ${r.detail}`}`),
  ).toEqual(cases.map((c) => `${c.dataset}/${c.kind}: ${c.expect}-correct`));
  expect(formatMatrix(results).wrong).toBe(0);
  const patches = Object.fromEntries(results.map((r) => [`${r.dataset}/${r.kind}`, r.detail]));
  expect(patches['seattle-weather/preamble']).toBe('reader+shape');
  expect(patches['la-riots/null-tokens']).toBe('nulls+shape');
  expect(patches['events/timestamp-offset']).toBe('format+shape');

  // The quarantine says why: a summary row and a footer line; invalid UTF-8.
  const reasons = async (pipeline: string) => {
    const q = await runCli(['quarantine', 'list', pipeline, '--json'], suite.vars);
    expect(q.code).toBe(0);
    return (JSON.parse(q.stdout) as { rows: { reason: string }[] }).rows.map((x) => x.reason).sort();
  };
  expect(await reasons('seattle-weather-footer-total')).toEqual([
    expect.stringMatching(/^footer line \(after the last data row, not data\)/),
    expect.stringMatching(
      /^summary row \(a total, subtotal or footer, not data\): weather: '(Total|TOTAL|Grand total)'$/,
    ),
  ]);
  const bad = await reasons('seattle-weather-invalid-byte-line');
  expect(bad.length).toBeGreaterThan(0);
  expect(new Set(bad)).toEqual(
    new Set(['invalid UTF-8: a byte sequence on this line is not UTF-8 (the rest of the file is read as UTF-8)']),
  );
}, 600_000);

/** `heal init` and a clean run of `clean`; the table's rows. */
async function cleanPipeline(name: string, clean: string): Promise<Record<string, unknown>[]> {
  expect((await runCli(['init', name, '--source', clean], suite.vars)).code).toBe(0);
  const ok = await runCli(['run', name, '--json'], suite.vars);
  expect(ok.code).toBe(0);
  return tableRows(suite.config.warehouse, (JSON.parse(ok.stdout) as PipelineRunResult).table ?? '');
}

test('a required column full of "NA": refused (null-values), exit 1, the table and the version unchanged', async () => {
  const clean = dataset('events');
  const before = await cleanPipeline('na-required', clean);
  const lines = fs.readFileSync(clean, 'utf8').trimEnd().split('\n');
  const drifted = path.join(suite.home, 'na-required.csv');
  fs.writeFileSync(
    drifted,
    `${lines.map((l, i) => (i > 0 && i % 2 === 0 ? l.replace(/^(\d+,[^,]+,)[^,]+/, '$1NA') : l)).join('\n')}\n`,
  );
  const r = await runCli(['run', 'na-required', '--json', '--source', drifted], suite.vars);
  expect(r.code).toBe(1);
  const out = JSON.parse(r.stdout) as PipelineRunResult;
  expect(out).toMatchObject({ outcome: 'failed', specVersion: 1 });
  expect(out.driftReport?.kinds).toEqual(['null-values']);
  expect(out.driftReport?.differences[0]).toMatchObject({ column: 'amount', found: 'missing-value tokens' });
  expect(await tableRows(suite.config.warehouse, out.table ?? '')).toEqual(before);
}, 300_000);

test('a UTF-8 file with more corrupt lines than the budget: refused, not switched to latin-1', async () => {
  const clean = path.join(suite.home, 'cities.csv');
  const rows = Array.from({ length: 60 }, (_, i) => `${i},${['Zürich', 'Málaga', 'Kraków'][i % 3]},${i * 3}`);
  fs.writeFileSync(clean, `id,city,n\n${rows.join('\n')}\n`);
  const before = await cleanPipeline('mixed-utf8', clean);
  const text = fs.readFileSync(clean, 'latin1').split('\n');
  // Lines 2..11 get a lone 0xFC ("ü" in latin-1) where their UTF-8 "ü" / "á" / "ó" was.
  const corrupt = text.map((l, i) => (i >= 1 && i <= 10 ? l.replace(/\u00c3[\u00bc\u00a1\u00b3]/, '\u00fc') : l));
  const drifted = path.join(suite.home, 'mixed-utf8-drifted.csv');
  fs.writeFileSync(drifted, Buffer.from(corrupt.join('\n'), 'latin1'));
  const r = await runCli(['run', 'mixed-utf8', '--json', '--source', drifted], suite.vars);
  expect(r.code).toBe(1);
  const out = JSON.parse(r.stdout) as PipelineRunResult;
  expect(out).toMatchObject({ outcome: 'failed', specVersion: 1 });
  expect(out.driftReport?.differences[0]).toMatchObject({ kind: 'encoding-change', found: 'mixed' });
  expect(await tableRows(suite.config.warehouse, out.table ?? '')).toEqual(before);
}, 300_000);
