import * as path from 'node:path';
import { inferSpec } from '../../core/spec/infer';
import { openStore } from '../../store';
import { parseSpec, pipelineNameSchema, type PipelineSpec } from '../../common/spec';
import { CliError, EXIT, type CliContext } from '../context';

export interface InitOptions {
  source: string;
  table?: string;
  optional?: string;
  format?: 'csv' | 'json' | 'parquet';
  mode?: 'replace' | 'append' | 'merge';
  key?: string;
  partial?: 'refuse' | 'load-and-flag';
  partitionKeys?: string;
  force?: boolean;
  json?: boolean;
}

const list = (s: string | undefined): string[] | undefined =>
  s
    ?.split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** The inferred spec with the target and partitioning the user asked for, validated again. */
function withChoices(spec: PipelineSpec, o: InitOptions): PipelineSpec {
  const target = {
    ...spec.target,
    ...(o.mode ? { mode: o.mode } : {}),
    ...(o.key ? { key: list(o.key) } : {}),
    ...(o.partial ? { partial: o.partial } : {}),
  };
  const source = { ...spec.source, ...(o.partitionKeys ? { partitionKeys: list(o.partitionKeys) } : {}) };
  const res = parseSpec(JSON.parse(JSON.stringify({ ...spec, target, source })));
  if (!res.ok) throw new CliError(`heal init ${spec.name}: ${res.issues.join('; ')}`, EXIT.badInput, 'SpecInvalid');
  return res.spec;
}

export async function runInit(ctx: CliContext, name: string, o: InitOptions): Promise<void> {
  const valid = pipelineNameSchema.safeParse(name);
  if (!valid.success)
    throw new CliError(
      `pipeline name "${name}": ${valid.error.issues[0]?.message ?? 'invalid'}`,
      EXIT.badInput,
      'SpecInvalid',
    );
  const store = openStore(ctx.config).specs;
  if ((await store.exists(name)) && !o.force) {
    throw new CliError(
      `pipeline "${name}" already exists (spec v${await store.currentVersion(name)}); use --force to replace it with a new version`,
      EXIT.badInput,
      'SpecInvalid',
    );
  }
  const inferred = await inferSpec({
    name,
    source: path.resolve(o.source),
    allowedRoots: ctx.config.allowedRoots,
    ...(o.table ? { table: o.table } : {}),
    ...(o.format ? { format: o.format } : {}),
    ...(o.optional ? { optional: list(o.optional) } : {}),
  });
  const spec = withChoices(inferred, o);
  const rec = await store.create(spec, { force: Boolean(o.force) });
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ pipeline: name, specVersion: rec.version, specFile: rec.file, table: spec.target.table, columns: spec.contract.columns })}\n`,
    );
    return;
  }
  console.log(`created pipeline ${name} (spec v${rec.version}): ${rec.file}`);
  console.log(
    `  source: ${spec.source.path} (${spec.source.format}${spec.source.format === 'csv' ? `, delimiter ${JSON.stringify(spec.source.csv.delimiter)}` : ''})`,
  );
  console.log(
    `  table:  ${spec.target.table} (${spec.target.mode}${spec.target.key?.length ? ` on ${spec.target.key.join(', ')}` : ''})`,
  );
  if (spec.source.partitionKeys.length) console.log(`  split by: ${spec.source.partitionKeys.join(', ')}`);
  const width = Math.max(...spec.contract.columns.map((c) => c.name.length));
  for (const c of spec.contract.columns) {
    const from = spec.mapping[c.name]?.from;
    console.log(
      `    ${c.name.padEnd(width)}  ${c.type}${c.format ? ` (${c.format})` : ''}${c.required ? ', required' : ''}${from && from !== c.name ? `  <- "${from}"` : ''}`,
    );
  }
  console.log(`next: heal run ${name}`);
}
