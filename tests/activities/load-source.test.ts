/**
 * The `loadSource` activity, run in a MockActivityEnvironment against a real warehouse file in a
 * temp state directory: clean loads, quarantine, budgets, drift (table untouched), typed failures,
 * append / merge modes, retries, and that the warehouse is not held open.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { LoadSourceInput } from '../../common/contracts';
import { inferSpec } from '../../core/spec/infer';
import { SpecStore } from '../../store/spec-store';
import type { PipelineSpec } from '../../common/spec';
import type { DriftReport, LoadSummary } from '../../common/types';
import { queryRows, withDuckDB } from '../../lib/duckdb';

const CASES = path.resolve(__dirname, '../fixtures/drift-cases');
const caseFile = (name: string, file: 'clean.csv' | 'drifted.csv') => path.join(CASES, name, file);

let tmp: string;
let data: string;
let warehouse: string;
let store: SpecStore;
let activities: ReturnType<typeof createActivities>;

beforeEach(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'heal-load-')));
  data = path.join(tmp, 'data');
  fs.mkdirSync(data);
  warehouse = path.join(tmp, 'warehouse.duckdb');
  store = new SpecStore(tmp);
  activities = createActivities({
    config: { home: tmp, warehouse, allowedRoots: [tmp, CASES], duckdbMemoryLimit: undefined, duckdbThreads: 0 },
  });
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// helpers

function write(name: string, text: string): string {
  const p = path.join(data, name);
  fs.writeFileSync(p, text);
  return p;
}

/** Infer a pipeline from `sample`, let `edit` adjust the spec, and create it (version 1). */
async function createPipeline(name: string, sample: string, edit?: (s: PipelineSpec) => void): Promise<PipelineSpec> {
  const spec = await inferSpec({ name, source: sample, allowedRoots: [tmp, CASES] });
  edit?.(spec);
  store.create(spec);
  return store.current(name).spec;
}

/** An activity environment that logs only errors (failed activities log at WARN). */
const mockEnv = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

async function load(pipeline: string, runId: string, source?: string): Promise<LoadSummary> {
  const input: LoadSourceInput = {
    pipeline,
    specVersion: store.currentVersion(pipeline),
    runId,
    ...(source ? { source } : {}),
  };
  return mockEnv().run(activities.loadSource, input);
}

/** The ApplicationFailure a load fails with (fails the test if it succeeds). */
async function loadFailure(
  pipeline: string,
  runId: string,
  source?: string,
  specVersion?: number,
): Promise<ApplicationFailure> {
  const input: LoadSourceInput = {
    pipeline,
    specVersion: specVersion ?? store.currentVersion(pipeline),
    runId,
    ...(source ? { source } : {}),
  };
  try {
    await mockEnv().run(activities.loadSource, input);
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected the load to fail');
}

/** Query the warehouse after the activity (which must have closed it). */
function query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  return withDuckDB(warehouse, {}, (conn) => queryRows<T>(conn, sql));
}

/** A table's rows in load order, dates and timestamps as text. */
async function tableRows(spec: PipelineSpec): Promise<unknown[][]> {
  const cols = spec.contract.columns.map((c) =>
    c.type === 'date' || c.type === 'timestamp' ? `CAST("${c.name}" AS VARCHAR)` : `"${c.name}"`,
  );
  const rows = await query<Record<string, unknown>>(
    `SELECT ${cols.map((c, i) => `${c} AS c${i}`).join(', ')} FROM "${spec.target.table}" ORDER BY rowid`,
  );
  return rows.map((r) => cols.map((_, i) => r[`c${i}`]));
}

/** Minimal RFC 4180 parser (quoted fields, doubled quotes), enough for the sample files. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** The data rows of a CSV file typed as the contract reads them (the expected table contents). */
function csvRows(file: string, spec: PipelineSpec): unknown[][] {
  const [header, ...rows] = parseCsv(fs.readFileSync(file, 'utf8'));
  return rows.map((r) =>
    spec.contract.columns.map((c) => {
      const v = r[header!.indexOf(spec.mapping[c.name]!.from!)] ?? '';
      if (v === '') return null;
      return c.type === 'integer' || c.type === 'number' ? Number(v) : v;
    }),
  );
}

function numbered(n: number, row: (i: number) => string, header = 'id,name,amount'): string[] {
  const lines = [header];
  for (let i = 1; i <= n; i++) lines.push(row(i));
  return lines;
}

const ok = (i: number) => `${i},name ${i},${i * 10}`;

// ---------------------------------------------------------------------------------------------

describe('a clean load', () => {
  it.each(['iowa-camel-rename', 'gapminder-currency', 'flights-dropped-required'])(
    '%s: every row loads, the table equals the CSV, a profile and baseline are written',
    async (name) => {
      const file = caseFile(name, 'clean.csv');
      const spec = await createPipeline('p', file);
      const dataRows = parseCsv(fs.readFileSync(file, 'utf8')).length - 1;
      const summary = await load('p', 'run-1');
      expect(summary).toMatchObject({
        pipeline: 'p',
        table: 'p',
        warehouse,
        specVersion: 1,
        mode: 'replace',
        sources: [file],
        rowsRead: dataRows,
        rowsLoaded: dataRows,
        rowsQuarantined: 0,
        skipped: false,
      });
      expect(summary.rowsLoaded + summary.rowsQuarantined).toBe(dataRows);
      expect(summary.profilePath).toBe(path.join(tmp, 'pipelines', 'p', 'profiles', 'run-1.json'));
      const profile = JSON.parse(fs.readFileSync(summary.profilePath!, 'utf8'));
      expect(profile).toMatchObject({ runId: 'run-1', specVersion: 1, sources: [file], profile: { rows: dataRows } });
      expect(profile.profile.columns.map((c: { name: string }) => c.name)).toEqual(
        spec.contract.columns.map((c) => c.name),
      );
      expect(
        JSON.parse(fs.readFileSync(path.join(tmp, 'pipelines', 'p', 'profiles', 'baseline.json'), 'utf8')),
      ).toEqual(profile);
      expect(await tableRows(spec)).toEqual(csvRows(file, spec));
    },
  );

  it('records the load and writes no quarantine rows', async () => {
    await createPipeline('iowa', caseFile('iowa-camel-rename', 'clean.csv'));
    await load('iowa', 'run-1');
    expect(
      await query(
        'SELECT run_id, pipeline, table_name, mode, rows_read, rows_loaded, rows_quarantined FROM __heal_loads',
      ),
    ).toEqual([
      {
        run_id: 'run-1',
        pipeline: 'iowa',
        table_name: 'iowa',
        mode: 'replace',
        rows_read: 51,
        rows_loaded: 51,
        rows_quarantined: 0,
      },
    ]);
    expect(await query('SELECT count(*)::INTEGER AS n FROM iowa__quarantine')).toEqual([{ n: 0 }]);
  });

  it('the warehouse can be opened by another process right after the activity returns', async () => {
    await createPipeline('iowa', caseFile('iowa-camel-rename', 'clean.csv'));
    await load('iowa', 'run-1');
    const script = `
      const { DuckDBInstance } = require('@duckdb/node-api');
      (async () => {
        const db = await DuckDBInstance.create(process.argv[1]);
        const conn = await db.connect();
        await conn.run('CREATE TABLE opened_elsewhere AS SELECT 1 AS x');
        const r = await conn.runAndReadAll('SELECT count(*)::INTEGER AS n FROM iowa');
        process.stdout.write(JSON.stringify(r.getRowObjectsJS()));
        conn.closeSync();
        db.closeSync();
      })().catch((e) => { process.stderr.write(String(e)); process.exit(1); });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script, warehouse], {
      cwd: path.resolve(__dirname, '../..'),
    });
    expect(JSON.parse(stdout)).toEqual([{ n: 51 }]);
    // And the next activity can open it again after that process wrote to it.
    expect((await load('iowa', 'run-2')).rowsLoaded).toBe(51);
  });
});

describe('quarantine', () => {
  it('a few bad values within budget go to quarantine with file, line, column and reason; the good rows load exactly', async () => {
    const good = numbered(200, ok);
    await createPipeline('q', write('good.csv', `${good.join('\n')}\n`));
    const bad = [...good];
    bad[57] = '57,name 57,12abc'; // line 58 of the file (the header is line 1)
    const file = write('bad.csv', `${bad.join('\n')}\n`);

    const summary = await load('q', 'run-bad', file);
    expect(summary).toMatchObject({ rowsRead: 200, rowsLoaded: 199, rowsQuarantined: 1, sources: [file] });
    expect(
      await query(
        'SELECT run_id, pipeline, spec_version, source_file, line, column_name, reason, raw_row FROM q__quarantine',
      ),
    ).toEqual([
      {
        run_id: 'run-bad',
        pipeline: 'q',
        spec_version: 1,
        source_file: file,
        line: 58,
        column_name: 'amount',
        reason: "amount: '12abc' is not a valid integer",
        raw_row: expect.stringContaining('"amount":"12abc"'),
      },
    ]);
    const ids = (await query<{ id: number }>('SELECT id FROM q ORDER BY rowid')).map((r) => r.id);
    expect(ids).toEqual(Array.from({ length: 200 }, (_, i) => i + 1).filter((i) => i !== 57));
    const spec = store.current('q').spec;
    expect(await tableRows(spec)).toEqual(csvRows(file, spec).filter((r) => r[0] !== 57));
  });

  it('a missing required value is quarantined with its reason', async () => {
    const good = numbered(200, ok);
    await createPipeline('q', write('good.csv', `${good.join('\n')}\n`));
    const bad = [...good];
    bad[10] = '10,name 10,';
    await load('q', 'run-1', write('bad.csv', `${bad.join('\n')}\n`));
    expect(await query('SELECT line, column_name, reason FROM q__quarantine')).toEqual([
      { line: 11, column_name: 'amount', reason: 'amount: required value is missing' },
    ]);
  });

  it('a ragged row (too many columns) is quarantined with its line, and later lines keep their numbers', async () => {
    const good = numbered(200, ok);
    await createPipeline('q', write('good.csv', `${good.join('\n')}\n`));
    const bad = [...good];
    bad[120] = '120,name 120,1200,extra'; // line 121
    bad[180] = '180,name 180,oops'; // line 181, after the ragged one
    const file = write('ragged.csv', `${bad.join('\n')}\n`);

    const summary = await load('q', 'run-1', file);
    expect(summary).toMatchObject({ rowsRead: 200, rowsLoaded: 198, rowsQuarantined: 2 });
    const q = await query<{ line: number; column_name: string; reason: string; raw_row: string; source_file: string }>(
      'SELECT line, column_name, reason, raw_row, source_file FROM q__quarantine ORDER BY line',
    );
    expect(q).toEqual([
      {
        line: 121,
        column_name: '',
        reason: 'TOO MANY COLUMNS: Expected Number of Columns: 3 Found: 4',
        raw_row: '120,name 120,1200,extra',
        source_file: file,
      },
      expect.objectContaining({
        line: 181,
        column_name: 'amount',
        reason: "amount: 'oops' is not a valid integer",
        source_file: file,
      }),
    ]);
    const ids = (await query<{ id: number }>('SELECT id FROM q ORDER BY rowid')).map((r) => r.id);
    expect(ids).toEqual(Array.from({ length: 200 }, (_, i) => i + 1).filter((i) => i !== 120 && i !== 180));
  });

  it('a small file: a few bad rows within the floor in rows load around them; without the floor they refuse it', async () => {
    const lines = numbered(60, ok);
    lines[31] = '31,name 31,not-a-number';
    const src = write('small.csv', `${lines.join('\n')}\n`);
    await createPipeline('small', write('small-clean.csv', `${numbered(60, ok).join('\n')}\n`));
    // 1 of 60 (1.7%) is over the 1% share, within the default floor of 3 rows.
    expect(await load('small', 'run-1', src)).toMatchObject({ rowsRead: 60, rowsLoaded: 59, rowsQuarantined: 1 });
    expect(await query("SELECT line::INTEGER AS line FROM small__quarantine WHERE run_id = 'run-1'")).toEqual([
      { line: 32 },
    ]);

    await createPipeline('strict', write('strict-clean.csv', `${numbered(60, ok).join('\n')}\n`), (sp) => {
      sp.quality.quarantineBudgetRows = 0;
    });
    expect((await loadFailure('strict', 'run-1', src)).type).toBe('SchemaDrift');

    // Half of a tiny file is never within the floor.
    const tiny = numbered(4, ok);
    tiny[1] = '1,name 1,x';
    tiny[2] = '2,name 2,y';
    await createPipeline('tiny', write('tiny-clean.csv', `${numbered(4, ok).join('\n')}\n`));
    expect((await loadFailure('tiny', 'run-1', write('tiny.csv', `${tiny.join('\n')}\n`))).type).toBe('SchemaDrift');
  });

  it('too many bad rows: QuarantineBudgetExceeded, and the previous table is unchanged', async () => {
    const good = numbered(200, ok, 'id,name,amount,score');
    const rows = good.map((l, i) => (i === 0 ? l : `${l},${i}`));
    const goodFile = write('good.csv', `${rows.join('\n')}\n`);
    const spec = await createPipeline('q', goodFile);
    await load('q', 'run-1');
    const before = await tableRows(spec);

    // 2 bad amounts and 2 bad scores in different rows: each column is within the 1% budget
    // (so it is not drift), but 4 of 200 rows (2%) would go to quarantine.
    const bad = [...rows];
    for (const i of [10, 20]) bad[i] = `${i},name ${i},x,${i}`;
    for (const i of [30, 40]) bad[i] = `${i},name ${i},${i * 10},y`;
    const err = await loadFailure('q', 'run-2', write('bad.csv', `${bad.join('\n')}\n`));
    expect(err.type).toBe('QuarantineBudgetExceeded');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(
      /^4 of 200 rows \(2\.0%\) would go to quarantine, over the budget of 1\.0% or 3 rows; e\.g\. /,
    );
    expect(err.details).toEqual([{ rowsRead: 200, quarantined: 4, budget: 0.01, budgetRows: 3 }]);
    expect(await tableRows(spec)).toEqual(before);
    expect(await query("SELECT count(*)::INTEGER AS n FROM q__quarantine WHERE run_id = 'run-2'")).toEqual([{ n: 0 }]);
  });
});

describe('drift: SchemaDrift, nonRetryable, the table untouched', () => {
  it.each([
    [
      'iowa-camel-rename',
      ['renamed'],
      { kind: 'renamed', column: 'net_generation', expected: 'net_generation', found: 'netGeneration' },
    ],
    [
      'gapminder-currency',
      ['format-change'],
      { kind: 'format-change', column: 'income', expected: 'integer', found: 'currency symbols', failureRate: 1 },
    ],
    ['flights-dropped-required', ['missing-column'], { kind: 'missing-column', column: 'count', expected: 'count' }],
  ])('%s', async (name, kinds, first) => {
    const spec = await createPipeline('p', caseFile(name, 'clean.csv'));
    await load('p', 'run-clean');
    const before = await tableRows(spec);
    const drifted = caseFile(name, 'drifted.csv');

    const err = await loadFailure('p', 'run-drifted', drifted);
    expect(err.type).toBe('SchemaDrift');
    expect(err.nonRetryable).toBe(true);
    const report = err.details?.[0] as DriftReport;
    expect(report).toMatchObject({ pipeline: 'p', specVersion: 1, sources: [drifted], kinds });
    expect(report.differences[0]).toMatchObject(first);
    expect(err.message).toBe(report.summary);
    expect(report.summary).toMatch(/^schema drift in p: /);
    expect(report.expected.columns).toEqual(spec.source.columns);

    expect(await tableRows(spec)).toEqual(before);
    expect(await query('SELECT run_id FROM __heal_loads ORDER BY loaded_at')).toEqual([{ run_id: 'run-clean' }]);
  });

  it('an empty file: empty-file', async () => {
    await createPipeline('iowa', caseFile('iowa-camel-rename', 'clean.csv'));
    const file = write('empty.csv', '');
    const err = await loadFailure('iowa', 'run-1', file);
    expect(err.type).toBe('SchemaDrift');
    expect((err.details?.[0] as DriftReport).kinds).toEqual(['empty-file']);
    expect((err.details?.[0] as DriftReport).differences[0]!.detail).toBe(`${file} is empty (0 bytes)`);
  });

  it('a header-only file: no-rows, and the table from the last load stays', async () => {
    const spec = await createPipeline('iowa', caseFile('iowa-camel-rename', 'clean.csv'));
    await load('iowa', 'run-1');
    const err = await loadFailure('iowa', 'run-2', write('header.csv', 'year,source,net_generation\n'));
    expect(err.type).toBe('SchemaDrift');
    expect((err.details?.[0] as DriftReport).kinds).toEqual(['no-rows']);
    expect(await tableRows(spec)).toHaveLength(51);
  });

  it('a changed delimiter: delimiter-change with the delimiter found', async () => {
    await createPipeline('iowa', caseFile('iowa-camel-rename', 'clean.csv'));
    const text = fs.readFileSync(caseFile('iowa-camel-rename', 'clean.csv'), 'utf8').replace(/,/g, ';');
    const err = await loadFailure('iowa', 'run-1', write('semi.csv', text));
    expect((err.details?.[0] as DriftReport).differences).toEqual([
      expect.objectContaining({ kind: 'delimiter-change', expected: ',', found: ';' }),
    ]);
  });

  it('a file in another encoding: encoding-change (not hidden by skipping bad lines)', async () => {
    await createPipeline('q', write('good.csv', 'id,name\n1,cafe\n2,ok\n'));
    const latin1 = path.join(data, 'latin1.csv');
    fs.writeFileSync(latin1, Buffer.from('id,name\n1,caf\xe9\n2,ok\n', 'latin1'));
    const err = await loadFailure('q', 'run-1', latin1);
    expect(err.type).toBe('SchemaDrift');
    expect((err.details?.[0] as DriftReport).differences).toEqual([
      expect.objectContaining({
        kind: 'encoding-change',
        expected: 'utf-8',
        detail: expect.stringContaining(`${latin1} is not valid utf-8 (`),
      }),
    ]);
  });

  it('many ragged rows: malformed-rows', async () => {
    const good = numbered(100, ok);
    await createPipeline('q', write('good.csv', `${good.join('\n')}\n`));
    const bad = good.map((l, i) => (i > 0 && i % 10 === 0 ? `${l},extra` : l));
    const err = await loadFailure('q', 'run-1', write('bad.csv', `${bad.join('\n')}\n`));
    expect(err.type).toBe('SchemaDrift');
    expect((err.details?.[0] as DriftReport).kinds).toEqual(['malformed-rows']);
  });
});

describe('typed failures', () => {
  it('an unknown pipeline: PipelineNotFound', async () => {
    const err = await loadFailure('nope', 'run-1', undefined, 1);
    expect(err.type).toBe('PipelineNotFound');
    expect(err.nonRetryable).toBe(true);
  });

  it('a pipeline name that is a path is not found, even when it leads to a real pipeline', async () => {
    await createPipeline('iowa', caseFile('iowa-camel-rename', 'clean.csv'));
    const err = await loadFailure('x/../iowa', 'run-1', undefined, 1);
    expect(err.type).toBe('PipelineNotFound');
    expect(err.message).toBe('no pipeline named "x/../iowa" (known: iowa)');
  });

  it('a spec version that does not exist: PipelineNotFound', async () => {
    await createPipeline('iowa', caseFile('iowa-camel-rename', 'clean.csv'));
    const err = await loadFailure('iowa', 'run-1', undefined, 7);
    expect(err.type).toBe('PipelineNotFound');
    expect(err.message).toBe('no pipeline named "iowa@v7" (known: iowa)');
  });

  it('a missing source: SourceUnreadable', async () => {
    await createPipeline('iowa', caseFile('iowa-camel-rename', 'clean.csv'));
    const missing = path.join(data, 'missing.csv');
    const err = await loadFailure('iowa', 'run-1', missing);
    expect(err.type).toBe('SourceUnreadable');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toBe(`${missing}: no such file`);
  });

  it('a directory: SourceUnreadable', async () => {
    await createPipeline('iowa', caseFile('iowa-camel-rename', 'clean.csv'));
    const err = await loadFailure('iowa', 'run-1', data);
    expect(err.type).toBe('SourceUnreadable');
    expect(err.message).toMatch(/: is a directory, expected a file/);
  });

  it('a file outside the allowed roots: PathNotAllowed', async () => {
    await createPipeline('iowa', caseFile('iowa-camel-rename', 'clean.csv'));
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'heal-outside-'));
    try {
      const file = path.join(elsewhere, 'x.csv');
      fs.copyFileSync(caseFile('iowa-camel-rename', 'clean.csv'), file);
      const err = await loadFailure('iowa', 'run-1', file);
      expect(err.type).toBe('PathNotAllowed');
      expect(err.nonRetryable).toBe(true);
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('a glob matching nothing: SourceUnreadable', async () => {
    await createPipeline('iowa', caseFile('iowa-camel-rename', 'clean.csv'));
    const err = await loadFailure('iowa', 'run-1', path.join(data, 'none-*.csv'));
    expect(err.type).toBe('SourceUnreadable');
  });
});

describe('append', () => {
  it('the same file twice is skipped; a different file appends', async () => {
    const a = write('a.csv', `${numbered(5, ok).join('\n')}\n`);
    await createPipeline('ap', a, (s) => (s.target.mode = 'append'));

    expect(await load('ap', 'run-1', a)).toMatchObject({ mode: 'append', rowsLoaded: 5, skipped: false });
    const second = await load('ap', 'run-2', a);
    expect(second).toMatchObject({ rowsLoaded: 0, rowsQuarantined: 0, skipped: true, profilePath: null });
    expect(await query('SELECT count(*)::INTEGER AS n FROM ap')).toEqual([{ n: 5 }]);

    const b = write('b.csv', `${['id,name,amount', '6,name 6,60', '7,name 7,70'].join('\n')}\n`);
    expect(await load('ap', 'run-3', b)).toMatchObject({ rowsLoaded: 2, skipped: false });
    expect((await query<{ id: number }>('SELECT id FROM ap ORDER BY rowid')).map((r) => r.id)).toEqual([
      1, 2, 3, 4, 5, 6, 7,
    ]);
  });

  it('a glob of files loads them all, each row quarantined under its own file', async () => {
    write('part-1.csv', `${numbered(100, ok).join('\n')}\n`);
    const part2 = numbered(100, (i) => ok(i + 100));
    part2[3] = '103,name 103,bad';
    const p2 = write('part-2.csv', `${part2.join('\n')}\n`);
    await createPipeline('ap', path.join(data, 'part-1.csv'), (s) => (s.target.mode = 'append'));
    const summary = await load('ap', 'run-1', path.join(data, 'part-*.csv'));
    expect(summary).toMatchObject({ rowsRead: 200, rowsLoaded: 199, rowsQuarantined: 1 });
    expect(summary.sources).toEqual([path.join(data, 'part-1.csv'), p2]);
    expect(await query('SELECT source_file, line, column_name FROM ap__quarantine')).toEqual([
      { source_file: p2, line: 4, column_name: 'amount' },
    ]);
  });
});

describe('merge', () => {
  it('replaces updated rows by key, inserts new ones, and quarantines the earlier of duplicate keys', async () => {
    const first = write('v1.csv', `${numbered(5, ok).join('\n')}\n`);
    await createPipeline('m', first, (s) => {
      s.target.mode = 'merge';
      s.target.key = ['id'];
      s.quality.quarantineBudget = 0.5;
    });
    await load('m', 'run-1', first);

    const next = write(
      'v2.csv',
      ['id,name,amount', '3,name 3 updated,333', '6,name 6,60', '7,first 7,70', '7,second 7,77', ''].join('\n'),
    );
    const summary = await load('m', 'run-2', next);
    expect(summary).toMatchObject({ rowsRead: 4, rowsLoaded: 3, rowsQuarantined: 1 });
    expect(await query('SELECT id, name, amount FROM m ORDER BY id')).toEqual([
      { id: 1, name: 'name 1', amount: 10 },
      { id: 2, name: 'name 2', amount: 20 },
      { id: 3, name: 'name 3 updated', amount: 333 },
      { id: 4, name: 'name 4', amount: 40 },
      { id: 5, name: 'name 5', amount: 50 },
      { id: 6, name: 'name 6', amount: 60 },
      { id: 7, name: 'second 7', amount: 77 },
    ]);
    expect(
      await query("SELECT source_file, line, column_name, reason FROM m__quarantine WHERE run_id = 'run-2'"),
    ).toEqual([
      {
        source_file: next,
        line: 4,
        column_name: 'id',
        reason: 'duplicate key: a later row of the source has the same key',
      },
    ]);
    // The quarantined duplicate keeps its own text (read again from the source: good rows keep none).
    expect(await query("SELECT raw_row FROM m__quarantine WHERE run_id = 'run-2'")).toEqual([
      { raw_row: expect.stringContaining('"name":"first 7"') },
    ]);
  });
});

describe('retries', () => {
  it('a retried activity with the same runId after a commit returns the recorded summary and does not load twice', async () => {
    const a = write('a.csv', `${numbered(5, ok).join('\n')}\n`);
    await createPipeline('r', a);
    const first = await load('r', 'wf-1', a);
    expect(first.rowsLoaded).toBe(5);

    // The source changes under the same run id (as if the retry read a newer file): nothing is redone.
    fs.writeFileSync(a, `${numbered(8, ok).join('\n')}\n`);
    const again = await load('r', 'wf-1', a);
    expect(again).toMatchObject({ rowsRead: 5, rowsLoaded: 5, rowsQuarantined: 0, skipped: false, sources: [a] });
    expect(await query('SELECT count(*)::INTEGER AS n FROM r')).toEqual([{ n: 5 }]);
    expect(await query('SELECT count(*)::INTEGER AS n FROM __heal_loads')).toEqual([{ n: 1 }]);

    // A new run id loads the new file.
    expect((await load('r', 'wf-2', a)).rowsLoaded).toBe(8);
  });

  it('the same runId in append mode does not append twice', async () => {
    const a = write('a.csv', `${numbered(5, ok).join('\n')}\n`);
    await createPipeline('r', a, (s) => (s.target.mode = 'append'));
    await load('r', 'wf-1', a);
    const b = write('b.csv', `${numbered(3, (i) => ok(i + 10)).join('\n')}\n`);
    const again = await load('r', 'wf-1', b);
    expect(again).toMatchObject({ rowsLoaded: 5, sources: [a] });
    expect(await query('SELECT count(*)::INTEGER AS n FROM r')).toEqual([{ n: 5 }]);
  });
});
