/**
 * Expressions of `derive` patches: parsed by DuckDB's parser, checked against the allow-lists,
 * and rendered from the checked tree. Real in-memory DuckDB throughout.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { compileExpression, validateExpression, MAX_EXPRESSION_CHARS } from '../../core/etl/expression';
import { ExpressionRejectedError } from '../../common/errors';
import { queryRows, withDuckDB } from '../../lib/duckdb';

const QUOTED = 'we"ird';
const COLUMNS = ['first', 'last', 'price', 'd', 'a', 'b', 'Amount', QUOTED];
const opts = { sourceColumns: COLUMNS, rel: 'src' };

/** A small source table, every column text (as the ETL reads CSV). */
const ROWS: Record<string, string | null>[] = [
  { first: 'Ada', last: 'Lovelace', price: '$12.50', d: '12/10/1815', a: '1.5', b: null, Amount: '7', [QUOTED]: 'q1' },
  { first: 'Alan', last: 'Turing', price: '$3', d: '06/23/1912', a: '-2', b: 'x', Amount: '8', [QUOTED]: 'q2' },
  { first: 'Grace', last: null, price: 'n/a', d: 'bad', a: null, b: null, Amount: null, [QUOTED]: null },
];

async function withTable<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  return withDuckDB(':memory:', {}, async (conn) => {
    const cols = COLUMNS.map((c) => `"${c.replace(/"/g, '""')}" VARCHAR`).join(', ');
    await conn.run(`CREATE TEMP TABLE t (id INTEGER, ${cols})`);
    for (const [i, row] of ROWS.entries()) {
      const values = COLUMNS.map((c) => {
        const v = row[c];
        return v === null || v === undefined ? 'NULL' : `'${v.replace(/'/g, "''")}'`;
      });
      await conn.run(`INSERT INTO t VALUES (${i}, ${values.join(', ')})`);
    }
    return fn(conn);
  });
}

/** Compile `expr` and evaluate the rendered SQL on the table, in row order. */
async function evaluate(conn: DuckDBConnection, expr: string): Promise<unknown[]> {
  const sql = await compileExpression(conn, expr, opts);
  const rows = await queryRows<{ v: unknown }>(conn, `SELECT ${sql} AS v FROM t AS src ORDER BY id`);
  return rows.map((r) => r.v);
}

async function reasonFor(expr: string, o: Parameters<typeof validateExpression>[2] = opts): Promise<string> {
  return withDuckDB(':memory:', {}, async (conn) => {
    const res = await validateExpression(conn, expr, o);
    if (res.ok) throw new Error(`expected ${JSON.stringify(expr)} to be rejected, got ${res.sql}`);
    return res.reason;
  });
}

describe('allowed expressions compile and evaluate correctly', () => {
  it('concatenates two columns (|| and concat)', async () => {
    await withTable(async (conn) => {
      expect(await evaluate(conn, "first || ' ' || last")).toEqual(['Ada Lovelace', 'Alan Turing', null]);
      expect(await evaluate(conn, "concat(first, ' ', last)")).toEqual(['Ada Lovelace', 'Alan Turing', 'Grace ']);
    });
  });

  it("strips a currency symbol with replace(price, '$', '')", async () => {
    await withTable(async (conn) => {
      expect(await evaluate(conn, "replace(price, '$', '')")).toEqual(['12.50', '3', 'n/a']);
      expect(await evaluate(conn, "TRY_CAST(replace(price, '$', '') AS DOUBLE)")).toEqual([12.5, 3, null]);
    });
  });

  it('casts and does arithmetic: CAST(a AS DOUBLE) * 100, negative constants', async () => {
    await withTable(async (conn) => {
      expect(await evaluate(conn, 'CAST(a AS DOUBLE) * 100')).toEqual([150, -200, null]);
      expect(await evaluate(conn, 'CAST(a AS DOUBLE) - -1.5')).toEqual([3, -0.5, null]);
      expect(await evaluate(conn, 'round(TRY_CAST(a AS DOUBLE) / 3, 2)')).toEqual([0.5, -0.67, null]);
      expect(await evaluate(conn, 'CAST(abs(TRY_CAST(a AS DECIMAL(10,2)) * 2) AS DOUBLE)')).toEqual([3, 4, null]);
    });
  });

  it('renders constants so DuckDB reads them back with the same value', async () => {
    await withTable(async (conn) => {
      const sql = await compileExpression(conn, '1.5e0 + 0.05 + 7 + (-2)', opts);
      expect(sql).toBe('(((1.5e+0 + 0.05) + 7) + (-2))');
      const [row] = await queryRows<{ v: number }>(conn, `SELECT ${sql} AS v`);
      expect(row?.v).toBeCloseTo(6.55);
    });
  });

  it('CASE WHEN, IS NULL, IN, comparisons, BETWEEN, LIKE', async () => {
    await withTable(async (conn) => {
      expect(await evaluate(conn, "CASE WHEN b IS NULL THEN 'none' WHEN b IN ('x', 'y') THEN 'xy' ELSE b END")).toEqual(
        ['none', 'xy', 'none'],
      );
      expect(await evaluate(conn, "CASE first WHEN 'Ada' THEN 1 ELSE 0 END")).toEqual([1, 0, 0]);
      expect(await evaluate(conn, 'TRY_CAST(a AS DOUBLE) BETWEEN 0 AND 2')).toEqual([true, false, null]);
      expect(await evaluate(conn, "first LIKE 'A%' AND NOT (last IS NULL)")).toEqual([true, true, false]);
      expect(await evaluate(conn, "TRY_CAST(Amount AS INTEGER) >= 8 OR first = 'Ada'")).toEqual([true, true, null]);
    });
  });

  it("parses dates with try_strptime(d, '%m/%d/%Y') and extract()", async () => {
    await withTable(async (conn) => {
      expect(await evaluate(conn, "CAST(CAST(try_strptime(d, '%m/%d/%Y') AS DATE) AS VARCHAR)")).toEqual([
        '1815-12-10',
        '1912-06-23',
        null,
      ]);
      expect(await evaluate(conn, "extract(year FROM try_strptime(d, '%m/%d/%Y'))")).toEqual([1815, 1912, null]);
    });
  });

  it('coalesce, nullif, trim, lower/upper, substring FROM … FOR …', async () => {
    await withTable(async (conn) => {
      expect(await evaluate(conn, "coalesce(b, last, 'unknown')")).toEqual(['Lovelace', 'x', 'unknown']);
      expect(await evaluate(conn, "nullif(price, 'n/a')")).toEqual(['$12.50', '$3', null]);
      expect(await evaluate(conn, 'upper(substring(first FROM 1 FOR 2))')).toEqual(['AD', 'AL', 'GR']);
      expect(await evaluate(conn, "lower(trim(leading '$' from price))")).toEqual(['12.50', '3', 'n/a']);
    });
  });

  it('renders column references as rel."name", whatever the name holds', async () => {
    await withTable(async (conn) => {
      const sql = await compileExpression(conn, '"we""ird" || Amount', opts);
      expect(sql).toBe('(src."we""ird" || src."Amount")');
      expect(await evaluate(conn, '"we""ird" || Amount')).toEqual(['q17', 'q28', null]);
    });
  });

  it('keeps a string constant with quotes and SQL in it as one literal', async () => {
    await withTable(async (conn) => {
      const expr = "first || '''; DROP TABLE t; --' || 'it''s'";
      const sql = await compileExpression(conn, expr, opts);
      expect(sql).toBe("((src.\"first\" || '''; DROP TABLE t; --') || 'it''s')");
      expect(await evaluate(conn, expr)).toEqual([
        "Ada'; DROP TABLE t; --it's",
        "Alan'; DROP TABLE t; --it's",
        "Grace'; DROP TABLE t; --it's",
      ]);
      // The table is still there.
      expect(await queryRows(conn, 'SELECT count(*) AS n FROM t')).toEqual([{ n: 3 }]);
    });
  });

  it('drops comments and redundant syntax: only the checked tree is rendered', async () => {
    await withTable(async (conn) => {
      expect(await compileExpression(conn, 'lower(  first ) /* a comment */', opts)).toBe('lower(src."first")');
      expect(await compileExpression(conn, 'LOWER(first) -- trailing', opts)).toBe('lower(src."first")');
    });
  });

  it('validateExpression returns ok with the SQL', async () => {
    await withDuckDB(':memory:', {}, async (conn) => {
      await expect(validateExpression(conn, 'lower(first)', opts)).resolves.toEqual({
        ok: true,
        sql: 'lower(src."first")',
      });
    });
  });

  it('bindCheck: false skips the evaluation; columnTypes types the source columns', async () => {
    await withDuckDB(':memory:', {}, async (conn) => {
      // VARCHAR * INTEGER does not bind on text columns …
      expect((await validateExpression(conn, 'Amount * 2', opts)).ok).toBe(false);
      // … but is fine on a BIGINT column, and unchecked when asked.
      await expect(
        validateExpression(conn, 'Amount * 2', { ...opts, columnTypes: { Amount: 'BIGINT' } }),
      ).resolves.toEqual({
        ok: true,
        sql: '(src."Amount" * 2)',
      });
      await expect(validateExpression(conn, 'Amount * 2', { ...opts, bindCheck: false })).resolves.toMatchObject({
        ok: true,
      });
    });
  });
});

describe('rejected expressions, each with a clear reason', () => {
  const cases: [string, RegExp][] = [
    ['(SELECT 1)', /subquer/i],
    ['a IN (SELECT a FROM t)', /subquer/i],
    ['EXISTS (SELECT 1)', /subquer/i],
    ['a; DROP TABLE t', /statement/i],
    ['a; SELECT b', /more than one statement/i],
    ["read_csv('/etc/passwd')", /function read_csv is not allowed/],
    ["read_text('/etc/passwd')", /function read_text is not allowed/],
    ["getenv('HOME')", /function getenv is not allowed/],
    ["current_setting('x')", /function current_setting is not allowed/],
    ["glob('*')", /function glob is not allowed/],
    ["query('select 1')", /function query is not allowed/],
    ["getvariable('x')", /function getvariable is not allowed/],
    ['now()', /function now is not allowed/],
    ['sum(a)', /function sum is not allowed/],
    ['sum(a) OVER ()', /window/i],
    ['*', /\* is not allowed/],
    ['COLUMNS(*)', /COLUMNS/],
    ['nope', /unknown column "nope"/],
    ['amount', /unknown column "amount".*did you mean "Amount"/],
    ['t.a', /qualified column/],
    ['main.t.a', /qualified column.*main\.t\.a/],
    ['main.lower(a)', /schema-qualified/],
    ['system.main.lower(a)', /catalog-qualified/],
    ['list_transform(a, y -> y)', /lambda/i],
    ['$1', /parameter/i],
    ['?', /parameter/i],
    ['$name', /parameter/i],
    ['lower(', /syntax error/],
    ['lower(a))', /syntax error/],
    ['a +* b', /operator \+\* is not allowed/],
    ['', /empty/],
    ["a FROM read_csv('/etc/passwd')", /FROM is not allowed/],
    ['a WHERE b', /WHERE/],
    ['DISTINCT a', /DISTINCT/],
    ['a LIMIT 1', /LIMIT/],
    ['a UNION SELECT b', /set operations/],
    ['a, b', /exactly one expression/],
    ['lower(a) AS x', /alias/],
    ['lower(x := a)', /named arguments/],
    ['CAST(a AS INT[])', /casts to LIST/],
    ['TRY_CAST(a AS HUGEINT)', /casts to HUGEINT/],
    ['CAST(a AS my_type)', /casts to my_type/],
    ['a COLLATE nocase', /COLLATE/],
    ['#1', /positional/],
    ['a[1]', /ARRAY_EXTRACT/],
    ['[1, 2]', /list_value/],
    ['a ** 2', /operator \*\* is not allowed/],
    ['12345678901234567890', /HUGEINT/],
    ['1e400', /out of range/],
    ['lower(a, b)', /lower takes 1 argument, not 2/],
    ["regexp_replace(a, '(', '')", /not valid on the source columns.*missing \)/],
    ["CAST('x' AS INTEGER)", /Conversion Error/],
  ];
  it.each(cases)('%s', async (expr, reason) => {
    expect(await reasonFor(expr)).toMatch(reason);
  });

  it('rejects a very long expression before parsing it', async () => {
    const long = Array.from({ length: 120 }, () => 'a').join(' || ');
    expect(long.length).toBeGreaterThan(MAX_EXPRESSION_CHARS);
    expect(await reasonFor(long)).toMatch(/too long/);
  });

  it('bounds the size of the tree and its depth', async () => {
    const many = Array.from({ length: 201 }, () => '1').join('+');
    expect(many.length).toBeLessThanOrEqual(MAX_EXPRESSION_CHARS);
    expect(await reasonFor(many)).toMatch(/too large|too deeply/);
    const deep = `${'abs('.repeat(40)}a${')'.repeat(40)}`;
    expect(await reasonFor(deep)).toMatch(/too deeply/);
  });

  it('compileExpression throws ExpressionRejectedError with the reason in details', async () => {
    await withDuckDB(':memory:', {}, async (conn) => {
      const err: unknown = await compileExpression(conn, "read_csv('/etc/passwd')", opts).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExpressionRejectedError);
      const e = err as ExpressionRejectedError;
      expect(e.type).toBe('ExpressionRejected');
      expect(e.message).toMatch(/^expression rejected: function read_csv is not allowed/);
      expect(e.details).toMatchObject({ expr: "read_csv('/etc/passwd')", reason: expect.stringMatching(/read_csv/) });
    });
  });

  it('never runs the text: a rejected statement leaves the database untouched', async () => {
    await withTable(async (conn) => {
      expect((await validateExpression(conn, 'a; DROP TABLE t', opts)).ok).toBe(false);
      expect((await validateExpression(conn, "a')); DROP TABLE t; --", opts)).ok).toBe(false);
      expect((await validateExpression(conn, "1'); DROP TABLE t; SELECT ('", opts)).ok).toBe(false);
      expect(await queryRows(conn, 'SELECT count(*) AS n FROM t')).toEqual([{ n: 3 }]);
    });
  });
});
