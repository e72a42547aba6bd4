/**
 * The gauntlet: every chaos kind over real public datasets (and the drift-case folders in tests/fixtures),
 * each case through the real `heal` CLI against one dev server and one worker:
 *   heal init <p> --source clean.csv;  heal run <p>;  heal run <p> --source drifted.csv --json
 * then the resulting table is compared with the right one:
 *   healed      → the table equals the one the clean file produced;
 *   quarantined → every loaded row is a clean row, loaded + quarantined = all rows, some quarantined
 *                 (rows the drift added that are not data, such as a "Total" row, count among all rows);
 *   refused     → the run failed (exit ≠ 0) and the table is exactly as before;
 *   succeeded   → nothing to heal (the reader absorbs the change) and the table equals the clean one.
 * WRONG means data that should not be there (a wrong table reported as healed, a changed table after
 * a refusal); a safe refusal where a heal was expected is a miss, not WRONG.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { toIdentifier } from '../../common/names';
import type { PipelineRunResult } from '../../common/types';
import { queryRows, withDuckDB } from '../../lib/duckdb';
import { isPostgresUrl, pgIdent, poolFor, withClient } from '../../lib/pg';

export type Expect = 'healed' | 'quarantined' | 'refused' | 'succeeded';
export type Verdict =
  'healed-correct' | 'quarantined-correct' | 'refused-correct' | 'succeeded-correct' | 'missed' | 'WRONG' | 'n/a';

export interface GauntletCase {
  /** Row label (dataset or drift-case folder). */
  dataset: string;
  /** Column label (chaos kind, or "case"). */
  kind: string;
  clean: string;
  /** Produces the drifted file; undefined when the kind does not apply to this dataset. */
  drifted: string | undefined;
  expect: Expect;
  change: string;
  /** A column the drift removed that the healed table holds as NULL (drop-optional). */
  nulledColumn?: string;
  /** A column the drift widened (int-gains-decimals, date-gains-time): see {@link widenedOk}. */
  widened?: { column: string; to: 'number' | 'timestamp'; sum?: number };
  /**
   * Lines the drift added that are not data (footer-total: a "Total" row, a footer line): they must
   * be quarantined, and the table must hold exactly the clean rows. @default 0
   */
  extraRows?: number;
}

export interface CaseResult extends GauntletCase {
  verdict: Verdict;
  outcome: string;
  detail: string;
  seconds: number;
  doctor?: string | null;
  attempts?: number;
  /** The healing episode's workflow id, when one ran. */
  episodeId?: string;
}

export interface GauntletEnv {
  /** Environment for CLI children (HEAL_HOME, TEMPORAL_ADDRESS, HEAL_TASK_QUEUE, HEAL_ALLOWED_ROOTS…). */
  env: NodeJS.ProcessEnv;
  /** The warehouse DuckDB file, or a PostgreSQL URL. */
  warehouse: string;
  /** Path of bin/heal.js. */
  bin: string;
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(g: GauntletEnv, args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [g.bin, ...args],
      { env: g.env, maxBuffer: 64 << 20, timeout: 300_000 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * A table as a sorted list of row strings (a multiset), or null when it does not exist.
 * `nulled` columns are shown as NULL (the expected table of a dropped optional column).
 */
async function snapshot(warehouse: string, table: string, nulled: string[] = []): Promise<string[] | null> {
  if (isPostgresUrl(warehouse)) return pgSnapshot(warehouse, table, nulled);
  return withDuckDB(warehouse, {}, async (conn) => {
    const exists = await queryRows<{ n: number }>(
      conn,
      `SELECT count(*) AS n FROM information_schema.tables WHERE table_name = '${table.replace(/'/g, "''")}'`,
    );
    if (!exists[0]?.n) return null;
    const rows = await queryRows(conn, `SELECT * FROM "${table.replace(/"/g, '""')}"`);
    return rows
      .map((r) => {
        for (const c of nulled) if (c in r) r[c] = null;
        return JSON.stringify(r, (_k, v: unknown) =>
          v instanceof Date ? v.toISOString() : typeof v === 'bigint' ? Number(v) : v,
        );
      })
      .sort();
  });
}

/** {@link snapshot} of a PostgreSQL table (rows as JSON objects, as the server writes them). */
async function pgSnapshot(url: string, table: string, nulled: string[]): Promise<string[] | null> {
  return withClient(poolFor(url), url, async (c) => {
    const exists = await c.query(
      `SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = $1`,
      [table],
    );
    if (!exists.rowCount) return null;
    const rows = await c.query<{ j: Record<string, unknown> }>(`SELECT to_json(t) AS j FROM ${pgIdent(table)} t`);
    return rows.rows
      .map(({ j }) => {
        for (const col of nulled) if (col in j) j[col] = null;
        return JSON.stringify(j);
      })
      .sort();
  });
}

function isSubMultiset(small: string[], big: string[]): boolean {
  const counts = new Map<string, number>();
  for (const r of big) counts.set(r, (counts.get(r) ?? 0) + 1);
  for (const r of small) {
    const n = counts.get(r) ?? 0;
    if (n === 0) return false;
    counts.set(r, n - 1);
  }
  return true;
}

const same = (a: string[] | null, b: string[] | null) =>
  a !== null && b !== null && a.length === b.length && a.every((x, i) => x === b[i]);

function pipelineName(c: GauntletCase): string {
  return `${c.dataset}-${c.kind}`
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .slice(0, 63);
}

/**
 * The widened column of a healed table: every value there (as many NULLs as the clean load), numbers summing
 * to the drifted file's sum, timestamps keeping their time of day. Undefined when right, else why not.
 */
function widenedOk(c: GauntletCase, before: string[] | null, after: string[] | null): string | undefined {
  const w = c.widened;
  if (!w || !after || !before) return 'no table';
  const names = [w.column, toIdentifier(w.column)];
  const column = (rows: string[]) =>
    rows.map((j) => {
      const row = JSON.parse(j) as Record<string, unknown>;
      const key = names.find((n) => n in row);
      return key === undefined ? undefined : row[key];
    });
  const values = column(after);
  const nulls = (xs: unknown[]) => xs.filter((v) => v === null || v === undefined).length;
  if (nulls(values) !== nulls(column(before)))
    return `"${w.column}" has ${nulls(values)} NULLs, the clean load ${nulls(column(before))}`;
  if (w.to === 'number') {
    const sum = values.reduce<number>((a, v) => a + (v === null || v === undefined ? 0 : Number(v)), 0);
    if (w.sum !== undefined && Math.abs(sum - w.sum) > 1e-6 * Math.max(1, Math.abs(w.sum)))
      return `"${w.column}" sums to ${sum}, the drifted file to ${w.sum}`;
  } else if (!values.some((v) => /[T ](?!00:00:00)\d{2}:\d{2}:\d{2}/.test(String(v)))) {
    return `"${w.column}" lost its times of day`;
  }
  return undefined;
}

/** Run one case through the CLI and judge it. */
export async function runCase(g: GauntletEnv, c: GauntletCase): Promise<CaseResult> {
  const started = Date.now();
  const done = (verdict: Verdict, outcome: string, detail: string, r?: PipelineRunResult): CaseResult => ({
    ...c,
    verdict,
    outcome,
    detail,
    seconds: (Date.now() - started) / 1000,
    ...(r ? { doctor: r.doctor ?? null, attempts: r.attempts } : {}),
    ...(r?.episodeId ? { episodeId: r.episodeId } : {}),
  });
  if (!c.drifted) return done('n/a', 'n/a', c.change);
  const name = pipelineName(c);
  const init = await cli(g, ['init', name, '--source', c.clean, '--force', '--json']);
  if (init.code !== 0) return done('WRONG', 'init-failed', init.stderr.trim().split('\n')[0] ?? '');
  const table = (JSON.parse(init.stdout) as { table: string }).table;
  const first = await cli(g, ['run', name, '--json']);
  if (first.code !== 0)
    return done('WRONG', 'clean-run-failed', first.stderr.trim().split('\n')[0] ?? first.stdout.slice(0, 200));
  const nulledName = c.nulledColumn ?? c.widened?.column;
  const nulled = nulledName ? [nulledName, toIdentifier(nulledName)] : [];
  const before = await snapshot(g.warehouse, table);
  const expected = nulled.length ? await snapshot(g.warehouse, table, nulled) : before;
  const run = await cli(g, ['run', name, '--json', '--source', c.drifted]);
  let r: PipelineRunResult;
  try {
    r = JSON.parse(run.stdout) as PipelineRunResult;
  } catch {
    return done('WRONG', 'no-json', `exit ${run.code}: ${run.stderr.trim().slice(0, 200)}`);
  }
  const after = await snapshot(g.warehouse, table);
  const why = r.error?.message?.slice(0, 160) ?? '';
  if (r.outcome === 'failed') {
    if (run.code === 0) return done('WRONG', 'failed', 'exit 0 on a failed run', r);
    if (!same(before, after)) return done('WRONG', 'failed', 'refused, but the table changed', r);
    return done(c.expect === 'refused' ? 'refused-correct' : 'missed', 'refused', why, r);
  }
  if (run.code !== 0) return done('WRONG', r.outcome, `exit ${run.code} on ${r.outcome}`, r);
  const loadedOk = (after?.length ?? 0) === r.rowsLoaded || r.outcome === 'succeeded';
  if (r.rowsQuarantined > 0) {
    const ok =
      after !== null &&
      before !== null &&
      isSubMultiset(after, before) &&
      after.length + r.rowsQuarantined === before.length + (c.extraRows ?? 0);
    if (!ok)
      return done(
        'WRONG',
        r.outcome,
        `${r.rowsQuarantined} quarantined, but the loaded rows are not the clean rows less those`,
        r,
      );
    return done(
      c.expect === 'quarantined' ? 'quarantined-correct' : 'missed',
      `${r.outcome}+quarantine`,
      `${r.rowsQuarantined} rows quarantined`,
      r,
    );
  }
  if (c.widened && r.outcome === 'healed') {
    const rest = await snapshot(g.warehouse, table, nulled);
    const bad =
      !same(expected, rest) || !loadedOk ? 'the other columns differ from the clean ones' : widenedOk(c, before, after);
    if (bad) return done('WRONG', 'healed', `reported healed (widened), but ${bad}`, r);
    return done('healed-correct', 'healed', r.patch?.map((p) => p.op).join('+') ?? '', r);
  }
  if (!same(r.outcome === 'healed' ? expected : before, after) || !loadedOk) {
    return done(
      'WRONG',
      r.outcome,
      `reported ${r.outcome}, but the table differs from the clean one (${after?.length ?? 0} vs ${before?.length ?? 0} rows)`,
      r,
    );
  }
  if (r.outcome === 'healed')
    return done(
      c.expect === 'healed' || c.expect === 'succeeded' ? 'healed-correct' : 'missed',
      'healed',
      r.patch?.map((p) => p.op).join('+') ?? '',
      r,
    );
  return done(
    c.expect === 'succeeded' || c.expect === 'healed' ? 'succeeded-correct' : 'missed',
    'succeeded',
    'no drift: the table equals the clean one',
    r,
  );
}

/** Run cases with bounded concurrency, reporting each as it ends. */
export async function runCases(
  g: GauntletEnv,
  cases: GauntletCase[],
  concurrency: number,
  onResult?: (r: CaseResult) => void,
): Promise<CaseResult[]> {
  const results: CaseResult[] = new Array<CaseResult>(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      const c = cases[i];
      if (!c) continue;
      const r = await runCase(g, c);
      results[i] = r;
      onResult?.(r);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return results;
}

const SYMBOL: Record<Verdict, string> = {
  'healed-correct': 'H',
  'quarantined-correct': 'Q',
  'refused-correct': 'R',
  'succeeded-correct': 'S',
  missed: 'm',
  WRONG: 'WRONG',
  'n/a': '·',
};

/** A Markdown matrix (dataset × kind) and a summary line. */
export function formatMatrix(results: CaseResult[]): {
  table: string;
  summary: string;
  correct: number;
  applicable: number;
  wrong: number;
} {
  const datasets = [...new Set(results.map((r) => r.dataset))];
  const kinds = [...new Set(results.map((r) => r.kind))];
  const cell = (d: string, k: string) => results.find((r) => r.dataset === d && r.kind === k);
  const lines = [
    `| kind | expect | ${datasets.join(' | ')} |`,
    `|---|---|${datasets.map(() => '---').join('|')}|`,
    ...kinds.map((k) => {
      const expect = results.find((r) => r.kind === k)?.expect ?? '';
      return `| ${k} | ${expect} | ${datasets.map((d) => SYMBOL[cell(d, k)?.verdict ?? 'n/a']).join(' | ')} |`;
    }),
  ];
  const applicable = results.filter((r) => r.verdict !== 'n/a').length;
  const correct = results.filter((r) => r.verdict.endsWith('-correct')).length;
  const wrong = results.filter((r) => r.verdict === 'WRONG').length;
  const missed = results.filter((r) => r.verdict === 'missed').length;
  const pct = applicable ? ((100 * correct) / applicable).toFixed(1) : '0';
  const summary = `${correct}/${applicable} correct (${pct}%), ${missed} missed (safe: refused or quarantined instead), ${wrong} WRONG; H healed · Q quarantined · R refused · S loaded unchanged · m missed · · not applicable`;
  return { table: lines.join('\n'), summary, correct, applicable, wrong };
}

/** Shared drift-case folders (clean.csv, drifted.csv, case.json {expect}) as gauntlet cases. */
export function driftCaseFolders(root: string): GauntletCase[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(root, d.name, 'case.json')))
    .map((d) => {
      const dir = path.join(root, d.name);
      const meta = JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8')) as {
        expect: Expect;
        drift?: string;
        notes?: string;
      };
      return {
        dataset: d.name,
        kind: 'case',
        clean: path.join(dir, 'clean.csv'),
        drifted: path.join(dir, 'drifted.csv'),
        expect: meta.expect,
        change: meta.notes ?? meta.drift ?? '',
      };
    });
}
