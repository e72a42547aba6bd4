import { openStore } from '../../store';
import { specToYaml } from '../../store/spec-store';
import type { CliContext } from '../context';

export async function runPipelines(ctx: CliContext, o: { json?: boolean }): Promise<void> {
  const store = openStore(ctx.config).specs;
  const rows = [];
  for (const name of await store.list()) {
    const cur = await store.current(name);
    rows.push({ pipeline: name, specVersion: cur.version, table: cur.spec.target.table, source: cur.spec.source.path });
  }
  if (o.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  if (!rows.length) {
    console.log('no pipelines yet: heal init <name> --source <file>');
    return;
  }
  for (const r of rows) console.log(`${r.pipeline}\tv${r.specVersion}\t${r.table}\t${r.source}`);
}

export async function runSpecShow(
  ctx: CliContext,
  name: string,
  o: { version?: number; json?: boolean },
): Promise<void> {
  const store = openStore(ctx.config).specs;
  const cur = o.version ? await store.read(name, o.version) : await store.current(name);
  if (o.json)
    process.stdout.write(
      `${JSON.stringify({ pipeline: name, specVersion: cur.version, file: cur.file, spec: cur.spec })}\n`,
    );
  else process.stdout.write(specToYaml(cur.spec));
}
