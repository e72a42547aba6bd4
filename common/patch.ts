/**
 * Patches: declarative, typed changes to a pipeline spec. The doctor (rules or a model) proposes
 * a patch; it is validated with zod and applied by {@link applyPatch} — never executed. Expressions
 * in `derive` are checked against DuckDB's parser and an allow-list before any use
 * (activities/doctor/expression.ts).
 */
import { z } from 'zod';
import { ENCODINGS, parseSpec, type MappingEntry, type PipelineSpec } from './spec';

const name = z.string().min(1).max(256);

export const patchOpSchema = z.discriminatedUnion('op', [
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
      replace: z.array(z.object({ from: z.string().min(1).max(8), to: z.string().max(8) }).strict()).max(8).optional(),
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
  z.object({ op: z.literal('default'), column: name, value: z.union([z.string().max(256), z.number(), z.boolean(), z.null()]) }).strict(),
  /** A source column known and deliberately not loaded. */
  z.object({ op: z.literal('ignore'), sourceColumn: name }).strict(),
  /** Compute a contract column from an expression over source columns (validated before use). */
  z.object({ op: z.literal('derive'), column: name, expr: z.string().min(1).max(500) }).strict(),
  /** The source's columns as they are now, in order (re-pins the shape drift is measured against). */
  z.object({ op: z.literal('shape'), columns: z.array(name).min(1).max(5000) }).strict(),
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
        next.mapping[op.column] = { ...entryOf(next, op.column), trueValues: op.trueValues, falseValues: op.falseValues };
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
    }
  });
  if (issues.length) return { ok: false, issues };
  // Source columns named in `ignore` that are no longer in the source are dropped from it.
  next.source.ignore = next.source.ignore.filter((c) => next.source.columns.includes(c));
  const res = parseSpec(JSON.parse(JSON.stringify(next)));
  return res.ok ? { ok: true, spec: res.spec } : { ok: false, issues: res.issues };
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
  }
}
