/**
 * Patches: declarative, typed changes to a pipeline spec. The doctor (rules or a model) proposes
 * a patch; it is validated with zod and applied by {@link applyPatch} — never executed. Expressions
 * in `derive` are checked against DuckDB's parser and an allow-list before any use
 * (core/etl/expression.ts).
 */
import { z } from 'zod';
import { withOverride } from './files';
import { WIDENINGS } from './policy';
import { COLUMN_TYPES, ENCODINGS, parseSpec, type FileOverride, type MappingEntry, type PipelineSpec } from './spec';

const name = z.string().min(1).max(256);

/** Every op but `files` (which holds these): what a doctor proposes for one file or for all. */
export const filePatchOpSchema = z.discriminatedUnion('op', [
  /** Read contract column `column` from source column `from`. */
  z.object({ op: z.literal('map'), column: name, from: name }).strict(),
  /** Change how the source file is read. */
  z
    .object({
      op: z.literal('reader'),
      delimiter: z.string().min(1).max(4).optional(),
      header: z.boolean().optional(),
      quote: z.string().max(1).optional(),
      encoding: z.enum(ENCODINGS).optional(),
      skipRows: z.number().int().min(0).max(1000).optional(),
    })
    .strict(),
  /** Parse a date/timestamp column with this strptime format. */
  z.object({ op: z.literal('format'), column: name, format: z.string().min(2).max(64) }).strict(),
  /** Remove substrings and replace others before the cast (currency, thousands separators, decimal comma). */
  z
    .object({
      op: z.literal('clean'),
      column: name,
      strip: z.array(z.string().min(1).max(8)).max(8).optional(),
      replace: z
        .array(z.object({ from: z.string().min(1).max(8), to: z.string().max(8) }).strict())
        .max(8)
        .optional(),
    })
    .strict(),
  /** Text values read as true / false for a boolean column. */
  z
    .object({
      op: z.literal('booleans'),
      column: name,
      trueValues: z.array(z.string().max(16)).min(1).max(8),
      falseValues: z.array(z.string().max(16)).min(1).max(8),
    })
    .strict(),
  /** Value for an optional contract column the source no longer has (null allowed). */
  z
    .object({
      op: z.literal('default'),
      column: name,
      value: z.union([z.string().max(256), z.number(), z.boolean(), z.null()]),
    })
    .strict(),
  /** A source column known and deliberately not loaded. */
  z.object({ op: z.literal('ignore'), sourceColumn: name }).strict(),
  /** Compute a contract column from an expression over source columns (validated before use). */
  z.object({ op: z.literal('derive'), column: name, expr: z.string().min(1).max(500) }).strict(),
  /** The source's columns as they are now, in order (re-pins the shape drift is measured against). */
  z.object({ op: z.literal('shape'), columns: z.array(name).min(1).max(5000) }).strict(),
  /**
   * Schema evolution: a new source column joins the contract as optional column `column` of `type`
   * (and the table, earlier rows NULL). Governed by `healing.policy.newColumns`.
   */
  z.object({ op: z.literal('add'), column: name, from: name, type: z.enum(COLUMN_TYPES) }).strict(),
  /** Widen a contract column's type losslessly (integer → number, date → timestamp): `healing.policy.typeChanges`. */
  z.object({ op: z.literal('widen'), column: name, type: z.enum(COLUMN_TYPES) }).strict(),
  /** Values read as NULL in one column (missing values spelled "NA", "-", "null"…): `mapping.<column>.nullValues`. */
  z
    .object({
      op: z.literal('nulls'),
      column: name,
      values: z.array(z.string().min(1).max(16)).min(1).max(32),
    })
    .strict(),
  /** Rows whose `column` holds one of `labels` are totals or footers: quarantined, never loaded (`summaryLabels`). */
  z
    .object({
      op: z.literal('summary'),
      column: name,
      labels: z.array(z.string().min(1).max(64)).min(1).max(32),
    })
    .strict(),
]);

// One discriminated union (a nested one): a bad op's error names its field, not "Invalid input".
export const patchOpSchema = z.discriminatedUnion('op', [
  filePatchOpSchema,
  /**
   * Apply `ops` to the files of a many-file source whose name matches `match` only (one file of a
   * glob drifted; the others still fit): recorded as an entry of `source.files`.
   */
  z
    .object({
      op: z.literal('files'),
      match: z.string().min(1).max(256),
      ops: z.array(filePatchOpSchema).min(1).max(50),
    })
    .strict(),
]);

export type PatchOp = z.infer<typeof patchOpSchema>;

export const patchSchema = z.array(patchOpSchema).min(1).max(200);
export type Patch = PatchOp[];

export type ApplyResult = { ok: true; spec: PipelineSpec } | { ok: false; issues: string[] };

function entryOf(spec: PipelineSpec, column: string): MappingEntry {
  return { ...(spec.mapping[column] ?? {}) };
}

/** Apply a patch to a spec, producing a new validated spec (the input is not modified). */
export function applyPatch(spec: PipelineSpec, patch: Patch): ApplyResult {
  const issues: string[] = [];
  const next: PipelineSpec = JSON.parse(JSON.stringify(spec)) as PipelineSpec;
  const contract = new Set(next.contract.columns.map((c) => c.name));
  patch.forEach((op, i) => {
    const where = `patch[${i}] (${op.op})`;
    if (op.op === 'add') {
      issues.push(...addColumn(next, op, where));
      contract.add(op.column);
      return;
    }
    if ('column' in op && !contract.has(op.column)) {
      issues.push(`${where}: "${op.column}" is not a contract column`);
      return;
    }
    switch (op.op) {
      case 'map': {
        const e = entryOf(next, op.column);
        delete e.expr;
        next.mapping[op.column] = { ...e, from: op.from };
        break;
      }
      case 'reader': {
        if (next.source.format !== 'csv') {
          issues.push(`${where}: reader options apply to csv sources only`);
          return;
        }
        const { op: _op, ...rest } = op;
        next.source.csv = { ...next.source.csv, ...rest };
        break;
      }
      case 'format':
        next.mapping[op.column] = { ...entryOf(next, op.column), format: op.format };
        break;
      case 'clean': {
        const e = entryOf(next, op.column);
        next.mapping[op.column] = {
          ...e,
          ...(op.strip ? { strip: op.strip } : {}),
          ...(op.replace ? { replace: op.replace } : {}),
        };
        break;
      }
      case 'booleans':
        next.mapping[op.column] = {
          ...entryOf(next, op.column),
          trueValues: op.trueValues,
          falseValues: op.falseValues,
        };
        break;
      case 'default': {
        const e = entryOf(next, op.column);
        delete e.from;
        delete e.expr;
        next.mapping[op.column] = { ...e, default: op.value };
        break;
      }
      case 'ignore':
        if (!next.source.ignore.includes(op.sourceColumn)) next.source.ignore.push(op.sourceColumn);
        break;
      case 'derive': {
        const e = entryOf(next, op.column);
        delete e.from;
        next.mapping[op.column] = { ...e, expr: op.expr };
        break;
      }
      case 'shape':
        next.source.columns = [...op.columns];
        break;
      case 'widen':
        issues.push(...widenColumn(next, op, where));
        break;
      case 'nulls':
        next.mapping[op.column] = { ...entryOf(next, op.column), nullValues: [...op.values] };
        break;
      case 'summary':
        next.mapping[op.column] = { ...entryOf(next, op.column), summaryLabels: [...op.labels] };
        break;
      case 'files': {
        if (op.ops.some((o) => o.op === 'add' || o.op === 'widen')) {
          issues.push(`${where}: add and widen change the contract, which every file shares: not for some files only`);
          return;
        }
        const at = next.source.files.findIndex((o) => o.match === op.match);
        const base: PipelineSpec = { ...next, source: { ...next.source, files: [] } };
        const prior = next.source.files[at];
        const scoped = applyPatch(prior ? withOverride(base, prior) : base, op.ops);
        if (!scoped.ok) {
          issues.push(...scoped.issues.map((x) => `${where} for files matching "${op.match}": ${x}`));
          return;
        }
        const o = overrideBetween(base, scoped.spec, op.match);
        const files = next.source.files.filter((_, i) => i !== at);
        next.source.files = o ? [...files, o] : files;
        break;
      }
    }
  });
  if (issues.length) return { ok: false, issues };
  // Source columns named in `ignore` that are no longer in the source are dropped from it.
  next.source.ignore = next.source.ignore.filter((c) => next.source.columns.includes(c));
  const res = parseSpec(JSON.parse(JSON.stringify(next)));
  return res.ok ? { ok: true, spec: res.spec } : { ok: false, issues: res.issues };
}

/** `add`: a new optional contract column read from a source column (which leaves `source.ignore`). */
function addColumn(next: PipelineSpec, op: Extract<PatchOp, { op: 'add' }>, where: string): string[] {
  if (next.contract.columns.some((c) => c.name.toLowerCase() === op.column.toLowerCase()))
    return [`${where}: "${op.column}" is already a contract column`];
  next.contract.columns.push({ name: op.column, type: op.type, required: false, pii: false });
  next.mapping[op.column] = { from: op.from };
  next.source.ignore = next.source.ignore.filter((c) => c !== op.from);
  return [];
}

/** `widen`: only along {@link WIDENINGS}; a date format no longer applies to a timestamp read by the default formats. */
function widenColumn(next: PipelineSpec, op: Extract<PatchOp, { op: 'widen' }>, where: string): string[] {
  const col = next.contract.columns.find((c) => c.name === op.column);
  if (!col) return [];
  if (WIDENINGS[col.type] !== op.type)
    return [`${where}: ${col.type} → ${op.type} is not a lossless widening (only integer → number, date → timestamp)`];
  if (col.type === 'date') {
    delete col.format;
    const e = next.mapping[op.column];
    if (e) delete e.format;
  }
  col.type = op.type;
  return [];
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The override that turns `base` into `scoped` for files matching `match`; undefined when they read alike. */
function overrideBetween(base: PipelineSpec, scoped: PipelineSpec, match: string): FileOverride | undefined {
  const csv = Object.fromEntries(
    Object.entries(scoped.source.csv).filter(([k, v]) => !same(v, base.source.csv[k as keyof typeof base.source.csv])),
  );
  const mapping = Object.fromEntries(Object.entries(scoped.mapping).filter(([k, v]) => !same(v, base.mapping[k])));
  const o: FileOverride = {
    match,
    ...(Object.keys(csv).length ? { csv } : {}),
    ...(same(scoped.source.columns, base.source.columns) ? {} : { columns: scoped.source.columns }),
    ...(same(scoped.source.ignore, base.source.ignore) ? {} : { ignore: scoped.source.ignore }),
    ...(Object.keys(mapping).length ? { mapping } : {}),
  };
  return Object.keys(o).length > 1 ? o : undefined;
}

/**
 * Contract columns whose values a patch changes the reading of: the ones it names, every column
 * for a reader change. (`shape` and `ignore` change what drift is measured against, not values.)
 */
export function touchedColumns(spec: PipelineSpec, patch: readonly PatchOp[]): string[] {
  const out = new Set<string>();
  for (const op of patch) {
    if (op.op === 'reader') spec.contract.columns.forEach((c) => out.add(c.name));
    else if (op.op === 'files') touchedColumns(spec, op.ops).forEach((c) => out.add(c));
    else if ('column' in op) out.add(op.column);
  }
  return [...out];
}

/** The file-name globs of a patch made only of `files` ops (a fix for some files of a glob), else undefined. */
export function scopedMatches(patch: readonly PatchOp[]): string[] | undefined {
  if (!patch.length || !patch.every((op) => op.op === 'files')) return undefined;
  return patch.map((op) => (op.op === 'files' ? op.match : ''));
}

/** One line per op, for reports, pull requests and the terminal. */
export function describeOp(op: PatchOp): string {
  switch (op.op) {
    case 'map':
      return `map source column "${op.from}" → ${op.column}`;
    case 'reader':
      return `read the file with ${Object.entries(op)
        .filter(([k]) => k !== 'op')
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(', ')}`;
    case 'format':
      return `parse ${op.column} with format ${op.format}`;
    case 'clean':
      return `clean ${op.column}: ${[...(op.strip ?? []).map((s) => `strip ${JSON.stringify(s)}`), ...(op.replace ?? []).map((r) => `${JSON.stringify(r.from)}→${JSON.stringify(r.to)}`)].join(', ')}`;
    case 'booleans':
      return `read ${op.column} as true for ${op.trueValues.join('/')} and false for ${op.falseValues.join('/')}`;
    case 'default':
      return `default ${op.column} to ${JSON.stringify(op.value)}`;
    case 'ignore':
      return `ignore the new source column "${op.sourceColumn}"`;
    case 'derive':
      return `derive ${op.column} = ${op.expr}`;
    case 'shape':
      return `expect source columns ${op.columns.join(', ')}`;
    case 'files':
      return `for files named ${JSON.stringify(op.match)}: ${op.ops.map(describeOp).join('; ')}`;
    case 'add':
      return `add the new source column "${op.from}" as optional ${op.type} column ${op.column}`;
    case 'widen':
      return `widen ${op.column} to ${op.type}`;
    case 'nulls':
      return `read ${op.values.map((v) => JSON.stringify(v)).join(', ')} as NULL in ${op.column}`;
    case 'summary':
      return `quarantine rows whose ${op.column} is ${op.labels.map((v) => JSON.stringify(v)).join(' or ')} (total/summary rows)`;
  }
}
