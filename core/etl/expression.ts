/**
 * Expressions of `derive` patch operations (and mapping entries' `expr`): checked with DuckDB's own
 * parser, against an allow-list, and re-rendered as SQL from the checked tree.
 *
 * The expression text (model output, or a reviewed patch) never reaches DuckDB as SQL: it is passed
 * only as a string literal to `json_serialize_sql`, which parses without binding or executing. The
 * JSON tree that comes back is walked node by node; every node must be a column reference to one of
 * the source's columns, a constant, an allow-listed function or operator, a cast to an allow-listed
 * type, CASE, a comparison, AND/OR/NOT, IS [NOT] NULL, [NOT] IN (list) or BETWEEN. Any other node
 * class, any unexpected field, a subquery, a statement, a FROM/WHERE/…, a parameter, a star, a
 * lambda, a qualified name: rejected. The SQL the ETL uses is then written here from the tree —
 * column references as `rel."name"`, constants through `lit` or as plain numbers, functions,
 * operators and types by their allow-listed spelling — so nothing of the original text survives
 * except the values of string constants, and those only as quoted literals.
 *
 * Finally (by default) the rendered SQL is evaluated on one row of NULLs with the source's columns
 * (every allowed function is pure), so an expression that does not type-check (wrong argument
 * count, VARCHAR * INTEGER) or has an invalid constant (a bad regular expression or strptime
 * format) is rejected here with DuckDB's reason, not at load time.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { ExpressionRejectedError } from '../../common/errors';
import { ident, lit, queryOne } from '../../lib/duckdb';

/** Longest expression text accepted (the patch schema also caps it at 500). */
export const MAX_EXPRESSION_CHARS = 500;
/** Most nodes in the parsed tree. */
export const MAX_EXPRESSION_NODES = 200;
/** Deepest nesting of the parsed tree. */
export const MAX_EXPRESSION_DEPTH = 32;

/**
 * Functions an expression may call, by DuckDB's (lower-case) name, with their argument counts.
 * All are pure scalar functions of their arguments: no file, network, catalog, setting, variable,
 * clock or random access, no table functions, no macros, no lambdas.
 */
export const ALLOWED_FUNCTIONS: Readonly<Record<string, readonly [min: number, max: number]>> = {
  // text
  lower: [1, 1],
  upper: [1, 1],
  trim: [1, 2],
  ltrim: [1, 2],
  rtrim: [1, 2],
  replace: [3, 3],
  substr: [2, 3],
  substring: [2, 3],
  left: [2, 2],
  right: [2, 2],
  length: [1, 1],
  concat: [1, 32],
  concat_ws: [2, 32],
  regexp_replace: [3, 4],
  regexp_extract: [2, 4],
  regexp_matches: [2, 3],
  regexp_full_match: [2, 3],
  strip_accents: [1, 1],
  lpad: [3, 3],
  rpad: [3, 3],
  split_part: [3, 3],
  starts_with: [2, 2],
  ends_with: [2, 2],
  contains: [2, 2],
  nullif: [2, 2],
  // numbers
  round: [1, 2],
  abs: [1, 1],
  floor: [1, 1],
  ceil: [1, 1],
  ceiling: [1, 1],
  least: [1, 32],
  greatest: [1, 32],
  // dates and times
  strptime: [2, 2],
  try_strptime: [2, 2],
  strftime: [2, 2],
  make_date: [3, 3],
  date_part: [2, 2],
  epoch_ms: [1, 1],
  to_timestamp: [1, 1],
};

/**
 * Functions the parser itself qualifies with schema `main` when it rewrites SQL-standard syntax
 * (`EXTRACT(year FROM d)`, `SUBSTRING(a FROM 2 FOR 3)`, `TRIM(LEADING 'x' FROM a)`). Any other
 * schema- or catalog-qualified function is rejected; the rendered SQL never carries a schema.
 */
const PARSER_QUALIFIED = new Set(['date_part', 'substring', 'trim', 'ltrim', 'rtrim']);

/** Operators (DuckDB parses them as functions with `is_operator`) and how they are written back. */
export const ALLOWED_OPERATORS: Readonly<Record<string, { sql: string; unary: boolean; binary: boolean }>> = {
  '+': { sql: '+', unary: true, binary: true },
  '-': { sql: '-', unary: true, binary: true },
  '*': { sql: '*', unary: false, binary: true },
  '/': { sql: '/', unary: false, binary: true },
  '%': { sql: '%', unary: false, binary: true },
  '||': { sql: '||', unary: false, binary: true },
  '~~': { sql: 'LIKE', unary: false, binary: true },
  '!~~': { sql: 'NOT LIKE', unary: false, binary: true },
  '~~*': { sql: 'ILIKE', unary: false, binary: true },
  '!~~*': { sql: 'NOT ILIKE', unary: false, binary: true },
};

/** Comparison node types and their SQL. */
const COMPARISONS: Readonly<Record<string, string>> = {
  COMPARE_EQUAL: '=',
  COMPARE_NOTEQUAL: '<>',
  COMPARE_LESSTHAN: '<',
  COMPARE_GREATERTHAN: '>',
  COMPARE_LESSTHANOREQUALTO: '<=',
  COMPARE_GREATERTHANOREQUALTO: '>=',
  COMPARE_DISTINCT_FROM: 'IS DISTINCT FROM',
  COMPARE_NOT_DISTINCT_FROM: 'IS NOT DISTINCT FROM',
};

/** Types an expression may CAST / TRY_CAST to (DECIMAL with its width and scale). */
export const ALLOWED_CAST_TYPES = [
  'VARCHAR',
  'BIGINT',
  'INTEGER',
  'DOUBLE',
  'DECIMAL',
  'DATE',
  'TIMESTAMP',
  'BOOLEAN',
] as const;
export type AllowedCastType = (typeof ALLOWED_CAST_TYPES)[number];

/** Node classes handled (everything else is rejected). */
export const ALLOWED_NODE_CLASSES = [
  'COLUMN_REF',
  'CONSTANT',
  'FUNCTION',
  'CAST',
  'CASE',
  'COMPARISON',
  'CONJUNCTION',
  'OPERATOR',
  'BETWEEN',
] as const;

/** Fields every expression node has; `alias` must be empty. */
const COMMON_KEYS = ['class', 'type', 'alias', 'query_location'];
const NODE_KEYS: Readonly<Record<string, readonly string[]>> = {
  COLUMN_REF: ['column_names'],
  CONSTANT: ['value'],
  FUNCTION: [
    'function_name',
    'schema',
    'catalog',
    'children',
    'filter',
    'order_bys',
    'distinct',
    'is_operator',
    'export_state',
  ],
  CAST: ['child', 'cast_type', 'try_cast'],
  CASE: ['case_checks', 'else_expr'],
  COMPARISON: ['left', 'right'],
  CONJUNCTION: ['children'],
  OPERATOR: ['children'],
  BETWEEN: ['input', 'lower', 'upper'],
};

/** The SELECT node's fields and what each must hold for a bare `SELECT <expr>`. */
const SELECT_KEYS = [
  'type',
  'modifiers',
  'cte_map',
  'select_list',
  'from_table',
  'where_clause',
  'group_expressions',
  'group_sets',
  'aggregate_handling',
  'having',
  'sample',
  'qualify',
];

export interface ExpressionOptions {
  /** The source's columns; a column reference must name exactly one of them (case-sensitive). */
  sourceColumns: readonly string[];
  /** SQL relation alias the rendered column references are qualified with (`rel."name"`). */
  rel: string;
  /**
   * Evaluate the rendered SQL on one row of NULLs with the source's columns before accepting it.
   * @default true
   */
  bindCheck?: boolean;
  /** Types of source columns for the bind check. @default VARCHAR for each (CSV sources are read as text) */
  columnTypes?: Readonly<Record<string, AllowedCastType>>;
}

type Json = Record<string, unknown>;

class Rejected extends Error {}

function reject(reason: string): never {
  throw new Rejected(reason);
}

function clip(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function obj(x: unknown, what: string): Json {
  if (!isObject(x)) reject(`unexpected parser output at ${what}`);
  return x;
}

function arr(x: unknown, what: string): unknown[] {
  if (!Array.isArray(x)) reject(`unexpected parser output at ${what}`);
  return x;
}

function str(x: unknown, what: string): string {
  if (typeof x !== 'string') reject(`unexpected parser output at ${what}`);
  return x;
}

function isEmpty(x: unknown): boolean {
  return x === null || x === undefined || x === '' || x === false || (Array.isArray(x) && x.length === 0);
}

function onlyKeys(o: Json, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) reject(`${what}: unsupported construct (parser field "${clip(k, 40)}")`);
  }
}

/** Describe a rejected node in words a person (or a model) can act on. */
function describeClass(cls: string, node: Json): string {
  switch (cls) {
    case 'SUBQUERY':
      return 'subqueries (SELECT, IN (SELECT …), EXISTS) are not allowed';
    case 'STAR':
      return node['columns'] === true ? 'COLUMNS(…) is not allowed' : '* is not allowed';
    case 'PARAMETER':
      return 'parameters ($1, ?, $name) are not allowed';
    case 'LAMBDA':
      return 'lambdas (x -> …) are not allowed';
    case 'WINDOW':
      return 'window functions (OVER …) are not allowed';
    case 'POSITIONAL_REFERENCE':
      return 'positional references (#1) are not allowed';
    case 'COLLATE':
      return 'COLLATE is not allowed';
    default:
      return `${cls.toLowerCase()} expressions are not allowed`;
  }
}

interface Walk {
  opts: ExpressionOptions;
  columns: Set<string>;
  nodes: number;
}

function renderNumber(n: number, text: string): string {
  return n < 0 || Object.is(n, -0) ? `(${text})` : text;
}

function renderConstant(node: Json): string {
  const value = obj(node['value'], 'constant');
  onlyKeys(value, ['type', 'is_null', 'value'], 'constant');
  const type = obj(value['type'], 'constant type');
  onlyKeys(type, ['id', 'type_info'], 'constant type');
  const id = str(type['id'], 'constant type');
  const info = type['type_info'];
  if (id !== 'DECIMAL' && info !== null) reject(`constants of type ${clip(id, 40)} are not allowed`);
  if (value['is_null'] === true) {
    if (id === 'NULL') return 'NULL';
    reject(`a NULL constant of type ${clip(id, 40)} is not allowed`);
  }
  if (value['is_null'] !== false) reject('unexpected parser output at constant');
  const v = value['value'];
  switch (id) {
    case 'VARCHAR': {
      const s = str(v, 'string constant');
      if (s.includes('\u0000')) reject('string constants may not contain NUL characters');
      return lit(s);
    }
    case 'BOOLEAN':
      if (typeof v !== 'boolean') reject('unexpected parser output at boolean constant');
      return v ? 'TRUE' : 'FALSE';
    case 'INTEGER':
    case 'BIGINT':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) reject('integer constant too large (at most 15 digits)');
      return renderNumber(v, String(v));
    case 'DECIMAL': {
      const di = obj(info, 'decimal constant');
      onlyKeys(di, ['type', 'alias', 'extension_info', 'width', 'scale'], 'decimal constant');
      const scale = di['scale'];
      if (
        di['type'] !== 'DECIMAL_TYPE_INFO' ||
        !isEmpty(di['alias']) ||
        di['extension_info'] !== null ||
        typeof scale !== 'number' ||
        !Number.isInteger(scale) ||
        scale < 0 ||
        scale > 38
      ) {
        reject('unexpected parser output at decimal constant');
      }
      if (typeof v !== 'number' || !Number.isSafeInteger(v))
        reject('decimal constant has too many digits (at most 15)');
      const digits = String(Math.abs(v)).padStart(scale + 1, '0');
      const text =
        scale === 0 ? digits : `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
      return renderNumber(v, v < 0 ? `-${text}` : text);
    }
    case 'DOUBLE':
      if (typeof v !== 'number' || !Number.isFinite(v)) reject('unexpected parser output at floating-point constant');
      // Exponent notation keeps it a DOUBLE when DuckDB reads it back (a plain 1.5 would be DECIMAL).
      return renderNumber(v, v.toExponential());
    default:
      reject(`constants of type ${clip(id, 40)} are not allowed`);
  }
}

function renderCastType(x: unknown): string {
  const t = obj(x, 'cast type');
  onlyKeys(t, ['id', 'type_info'], 'cast type');
  const id = str(t['id'], 'cast type');
  if (id === 'UNBOUND') {
    const name =
      isObject(t['type_info']) && typeof t['type_info']['name'] === 'string' ? t['type_info']['name'] : 'this type';
    reject(
      `casts to ${clip(name, 40)} are not allowed (allowed: ${ALLOWED_CAST_TYPES.join(', ')}; DECIMAL width 1–38)`,
    );
  }
  if (!(ALLOWED_CAST_TYPES as readonly string[]).includes(id)) {
    reject(`casts to ${clip(id, 40)} are not allowed (allowed: ${ALLOWED_CAST_TYPES.join(', ')})`);
  }
  if (id !== 'DECIMAL') {
    if (t['type_info'] !== null) reject(`casts to this ${id} type are not allowed`);
    return id;
  }
  const info = obj(t['type_info'], 'decimal type');
  onlyKeys(info, ['type', 'alias', 'extension_info', 'width', 'scale'], 'decimal type');
  const w = info['width'];
  const s = info['scale'];
  if (
    info['type'] !== 'DECIMAL_TYPE_INFO' ||
    !isEmpty(info['alias']) ||
    info['extension_info'] !== null ||
    typeof w !== 'number' ||
    typeof s !== 'number' ||
    !Number.isInteger(w) ||
    !Number.isInteger(s) ||
    w < 1 ||
    w > 38 ||
    s < 0 ||
    s > w
  ) {
    reject('unexpected DECIMAL type');
  }
  return `DECIMAL(${w}, ${s})`;
}

function renderFunction(node: Json, w: Walk, depth: number): string {
  const name = str(node['function_name'], 'function name').toLowerCase();
  const children = arr(node['children'], 'function arguments');
  if (!isEmpty(node['catalog']))
    reject(
      `catalog-qualified functions are not allowed (${clip(str(node['catalog'], 'catalog'), 40)}.…${clip(name, 40)})`,
    );
  const schema = node['schema'];
  if (!isEmpty(schema) && !(schema === 'main' && PARSER_QUALIFIED.has(name))) {
    reject(`schema-qualified functions are not allowed (${clip(String(schema), 40)}.${clip(name, 40)})`);
  }
  if (!isEmpty(node['distinct'])) reject(`DISTINCT in a function call is not allowed (${clip(name, 40)})`);
  if (!isEmpty(node['filter'])) reject(`FILTER in a function call is not allowed (${clip(name, 40)})`);
  if (!isEmpty(node['export_state'])) reject(`EXPORT_STATE is not allowed (${clip(name, 40)})`);
  const orderBys = node['order_bys'];
  if (orderBys !== undefined && orderBys !== null) {
    const ob = obj(orderBys, 'function ORDER BY');
    onlyKeys(ob, ['type', 'orders'], 'function ORDER BY');
    if (ob['type'] !== 'ORDER_MODIFIER' || arr(ob['orders'], 'function ORDER BY').length > 0) {
      reject(`ORDER BY in a function call is not allowed (${clip(name, 40)})`);
    }
  }
  const args = children.map((c) => render(c, w, depth + 1));
  if (node['is_operator'] === true) {
    const op = Object.prototype.hasOwnProperty.call(ALLOWED_OPERATORS, name) ? ALLOWED_OPERATORS[name] : undefined;
    if (!op)
      reject(
        `operator ${clip(name, 40)} is not allowed (allowed: ${Object.values(ALLOWED_OPERATORS)
          .map((o) => o.sql)
          .join(', ')})`,
      );
    if (args.length === 1 && op.unary) return `(${op.sql}${args[0]})`;
    if (args.length === 2 && op.binary) return `(${args[0]} ${op.sql} ${args[1]})`;
    reject(`operator ${op.sql} with ${args.length} operands is not allowed`);
  }
  if (node['is_operator'] !== false) reject('unexpected parser output at function');
  const arity = Object.prototype.hasOwnProperty.call(ALLOWED_FUNCTIONS, name) ? ALLOWED_FUNCTIONS[name] : undefined;
  if (!arity)
    reject(`function ${clip(name, 40)} is not allowed (allowed: ${Object.keys(ALLOWED_FUNCTIONS).join(', ')})`);
  const [min, max] = arity;
  if (args.length < min || args.length > max) {
    reject(
      `${name} takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? '' : 's'}, not ${args.length}`,
    );
  }
  return `${name}(${args.join(', ')})`;
}

function renderOperator(node: Json, type: string, w: Walk, depth: number): string {
  const kids = arr(node['children'], 'operator operands').map((c) => render(c, w, depth + 1));
  const one = (what: string): string => {
    if (kids.length !== 1 || kids[0] === undefined) reject(`${what} takes one operand`);
    return kids[0];
  };
  switch (type) {
    case 'OPERATOR_NOT':
      return `(NOT ${one('NOT')})`;
    case 'OPERATOR_IS_NULL':
      return `(${one('IS NULL')} IS NULL)`;
    case 'OPERATOR_IS_NOT_NULL':
      return `(${one('IS NOT NULL')} IS NOT NULL)`;
    case 'OPERATOR_COALESCE':
      if (kids.length < 1 || kids.length > 32) reject('coalesce takes 1 to 32 arguments');
      return `coalesce(${kids.join(', ')})`;
    case 'COMPARE_IN':
    case 'COMPARE_NOT_IN': {
      const [first, ...rest] = kids;
      if (first === undefined || rest.length < 1) reject('IN needs a value and a list');
      return `(${first} ${type === 'COMPARE_IN' ? 'IN' : 'NOT IN'} (${rest.join(', ')}))`;
    }
    default:
      reject(`operator ${clip(type, 40)} is not allowed`);
  }
}

/** Validate one node of the parsed tree and write it back as SQL. */
function render(x: unknown, w: Walk, depth: number): string {
  if (depth > MAX_EXPRESSION_DEPTH) reject(`expression nested too deeply (more than ${MAX_EXPRESSION_DEPTH} levels)`);
  if (++w.nodes > MAX_EXPRESSION_NODES) reject(`expression too large (more than ${MAX_EXPRESSION_NODES} nodes)`);
  const node = obj(x, 'expression');
  const cls = str(node['class'], 'expression class');
  const type = str(node['type'], 'expression type');
  if (!(ALLOWED_NODE_CLASSES as readonly string[]).includes(cls)) reject(describeClass(cls, node));
  onlyKeys(node, [...COMMON_KEYS, ...(NODE_KEYS[cls] ?? [])], cls.toLowerCase());
  if (!isEmpty(node['alias']))
    reject(`aliases and named arguments are not allowed ("${clip(String(node['alias']), 40)}")`);

  switch (cls) {
    case 'COLUMN_REF': {
      const names = arr(node['column_names'], 'column reference').map((n) => str(n, 'column reference'));
      if (names.length !== 1) {
        reject(
          `qualified column references are not allowed (${clip(names.join('.'), 80)}): name a source column alone, e.g. "${clip(names[names.length - 1] ?? '', 40)}"`,
        );
      }
      const name = names[0] ?? '';
      if (!w.columns.has(name)) {
        const near = [...w.columns].find((c) => c.toLowerCase() === name.toLowerCase());
        const list = [...w.columns].slice(0, 20).map((c) => JSON.stringify(clip(c, 40)));
        reject(
          `unknown column ${JSON.stringify(clip(name, 60))}` +
            (near !== undefined
              ? ` (did you mean ${JSON.stringify(near)}? names are case-sensitive; quote them)`
              : '') +
            ` — source columns: ${list.join(', ')}${w.columns.size > 20 ? ', …' : ''}`,
        );
      }
      return `${w.opts.rel}.${ident(name)}`;
    }
    case 'CONSTANT':
      if (type !== 'VALUE_CONSTANT') reject(`constant ${clip(type, 40)} is not allowed`);
      return renderConstant(node);
    case 'FUNCTION':
      if (type !== 'FUNCTION') reject(`function ${clip(type, 40)} is not allowed`);
      return renderFunction(node, w, depth);
    case 'CAST': {
      if (type !== 'OPERATOR_CAST' || typeof node['try_cast'] !== 'boolean') reject('unexpected parser output at cast');
      const child = render(node['child'], w, depth + 1);
      return `${node['try_cast'] ? 'TRY_CAST' : 'CAST'}(${child} AS ${renderCastType(node['cast_type'])})`;
    }
    case 'CASE': {
      if (type !== 'CASE_EXPR') reject('unexpected parser output at CASE');
      const checks = arr(node['case_checks'], 'CASE');
      if (checks.length < 1) reject('CASE needs at least one WHEN');
      const parts = checks.map((c) => {
        const check = obj(c, 'CASE WHEN');
        onlyKeys(check, ['when_expr', 'then_expr'], 'CASE WHEN');
        return `WHEN ${render(check['when_expr'], w, depth + 1)} THEN ${render(check['then_expr'], w, depth + 1)}`;
      });
      const otherwise =
        node['else_expr'] === null || node['else_expr'] === undefined
          ? 'NULL'
          : render(node['else_expr'], w, depth + 1);
      return `(CASE ${parts.join(' ')} ELSE ${otherwise} END)`;
    }
    case 'COMPARISON': {
      const op = Object.prototype.hasOwnProperty.call(COMPARISONS, type) ? COMPARISONS[type] : undefined;
      if (!op) reject(`comparison ${clip(type, 40)} is not allowed`);
      return `(${render(node['left'], w, depth + 1)} ${op} ${render(node['right'], w, depth + 1)})`;
    }
    case 'CONJUNCTION': {
      const op =
        type === 'CONJUNCTION_AND'
          ? 'AND'
          : type === 'CONJUNCTION_OR'
            ? 'OR'
            : reject(`${clip(type, 40)} is not allowed`);
      const kids = arr(node['children'], 'AND/OR').map((c) => render(c, w, depth + 1));
      if (kids.length < 2) reject(`${op} needs two operands`);
      return `(${kids.join(` ${op} `)})`;
    }
    case 'OPERATOR':
      return renderOperator(node, type, w, depth);
    case 'BETWEEN':
      if (type !== 'COMPARE_BETWEEN') reject('unexpected parser output at BETWEEN');
      return `(${render(node['input'], w, depth + 1)} BETWEEN ${render(node['lower'], w, depth + 1)} AND ${render(node['upper'], w, depth + 1)})`;
    default:
      reject(describeClass(cls, node));
  }
}

/** Check the parser's answer is exactly one bare `SELECT <one expression>`; return that expression. */
function singleExpression(parsed: Json): unknown {
  if (parsed['error'] === true) {
    const msg = typeof parsed['error_message'] === 'string' ? parsed['error_message'] : 'unknown error';
    if (parsed['error_type'] === 'parser') reject(`syntax error: ${clip(msg, 200)}`);
    // e.g. "Only SELECT statements can be serialized to json!" for `a; DROP TABLE t`.
    reject(`not a single expression (statements are not allowed): ${clip(msg, 200)}`);
  }
  if (parsed['error'] !== false) reject('unexpected parser output');
  const statements = arr(parsed['statements'], 'statements');
  if (statements.length === 0) reject('empty expression');
  if (statements.length > 1) reject('more than one statement (a ";" in the expression) is not allowed');
  const stmt = obj(statements[0], 'statement');
  onlyKeys(stmt, ['node', 'named_param_map'], 'statement');
  if (!isEmpty(stmt['named_param_map'])) reject('parameters are not allowed');
  const node = obj(stmt['node'], 'statement');
  if (node['type'] !== 'SELECT_NODE')
    reject('set operations (UNION, EXCEPT, INTERSECT) and other queries are not allowed');
  onlyKeys(node, SELECT_KEYS, 'expression');
  if (!isEmpty(node['modifiers'])) reject('DISTINCT, ORDER BY, LIMIT and OFFSET are not allowed');
  const cte = obj(node['cte_map'], 'WITH');
  onlyKeys(cte, ['map'], 'WITH');
  if (!isEmpty(cte['map'])) reject('WITH (common table expressions) is not allowed');
  const from = obj(node['from_table'], 'FROM');
  if (from['type'] !== 'EMPTY') reject('FROM is not allowed: write an expression over the source columns');
  onlyKeys(from, ['type', 'alias', 'sample', 'query_location'], 'FROM');
  if (!isEmpty(from['alias']) || !isEmpty(from['sample'])) reject('FROM is not allowed');
  if (!isEmpty(node['where_clause'])) reject('WHERE is not allowed');
  if (!isEmpty(node['group_expressions']) || !isEmpty(node['group_sets'])) reject('GROUP BY is not allowed');
  if (node['aggregate_handling'] !== 'STANDARD_HANDLING') reject('GROUP BY ALL is not allowed');
  if (!isEmpty(node['having'])) reject('HAVING is not allowed');
  if (!isEmpty(node['sample'])) reject('USING SAMPLE is not allowed');
  if (!isEmpty(node['qualify'])) reject('QUALIFY is not allowed');
  const list = arr(node['select_list'], 'select list');
  if (list.length !== 1) reject(`exactly one expression expected, got ${list.length} (a "," at the top level)`);
  return list[0];
}

function rejected(expr: string, reason: string): ExpressionRejectedError {
  return new ExpressionRejectedError(`expression rejected: ${reason}`, { expr: clip(expr, 200), reason });
}

/**
 * Check `expr` with DuckDB's parser and the allow-lists, and return the SQL to use for it, written
 * from the checked tree with column references as `${opts.rel}."name"`.
 * @throws ExpressionRejectedError with the reason (in the message and in `details.reason`).
 */
export async function compileExpression(
  conn: DuckDBConnection,
  expr: string,
  opts: ExpressionOptions,
): Promise<string> {
  try {
    if (typeof expr !== 'string' || expr.trim() === '') reject('empty expression');
    if (expr.length > MAX_EXPRESSION_CHARS)
      reject(`expression too long (${expr.length} characters; at most ${MAX_EXPRESSION_CHARS})`);
    if (expr.includes('\u0000')) reject('expression contains a NUL character');

    // The text goes to DuckDB only as a string literal: json_serialize_sql parses it, nothing more.
    let out: { j: unknown } | undefined;
    try {
      out = await queryOne<{ j: unknown }>(conn, `SELECT json_serialize_sql(${lit(`SELECT ${expr}`)}) AS j`);
    } catch (err) {
      reject(
        `could not be parsed: ${clip((err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '', 200)}`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(str(out?.j, 'parser output'));
    } catch (err) {
      if (err instanceof Rejected) throw err;
      // DuckDB writes out-of-range numbers as Infinity, which is not JSON.
      reject('could not read the parser output (a numeric constant out of range?)');
    }
    const root = singleExpression(obj(parsed, 'parser output'));
    const columns = new Set(opts.sourceColumns);
    const sql = render(root, { opts, columns, nodes: 0 }, 0);

    if (opts.bindCheck !== false) {
      const alias = '__heal_expr';
      const probeSql = render(root, { opts: { ...opts, rel: ident(alias) }, columns, nodes: 0 }, 0);
      const cols = [...columns].map((c) => {
        const t = opts.columnTypes?.[c];
        const type = t !== undefined && (ALLOWED_CAST_TYPES as readonly string[]).includes(t) ? t : 'VARCHAR';
        return `CAST(NULL AS ${type}) AS ${ident(c)}`;
      });
      try {
        await conn.run(
          `SELECT ${probeSql} AS v FROM (SELECT ${cols.length ? cols.join(', ') : '1 AS x'}) AS ${ident(alias)}`,
        );
      } catch (err) {
        const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
        reject(
          `not valid on the source columns (read as ${opts.columnTypes ? 'their types' : 'text'}): ${clip(msg, 240)}`,
        );
      }
    }
    return sql;
  } catch (err) {
    if (err instanceof Rejected) throw rejected(expr, err.message);
    throw err;
  }
}

/** {@link compileExpression} as a result instead of an exception (for patch validation and reports). */
export async function validateExpression(
  conn: DuckDBConnection,
  expr: string,
  opts: ExpressionOptions,
): Promise<{ ok: true; sql: string } | { ok: false; reason: string }> {
  try {
    return { ok: true, sql: await compileExpression(conn, expr, opts) };
  } catch (err) {
    if (err instanceof ExpressionRejectedError) {
      const d = err.details as { reason?: unknown } | undefined;
      return { ok: false, reason: typeof d?.reason === 'string' ? d.reason : err.message };
    }
    throw err;
  }
}
