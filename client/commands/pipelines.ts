import { SpecStore, specToYaml } from '../../store/spec-store';
import type { CliContext } from '../context';

export function runPipelines(ctx: CliContext, o: { json?: boolean }): void {
  const store = new SpecStore(ctx.config.home);
  const rows = store.list().map((name) => {
    const cur = store.current(name);
    return { pipeline: name, specVersion: cur.version, table: cur.spec.target.table, source: cur.spec.source.path };
  });
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

export function runSpecShow(ctx: CliContext, name: string, o: { version?: number; json?: boolean }): void {
  const store = new SpecStore(ctx.config.home);
  const cur = o.version ? store.read(name, o.version) : store.current(name);
  if (o.json)
    process.stdout.write(
      `${JSON.stringify({ pipeline: name, specVersion: cur.version, file: cur.file, spec: cur.spec })}\n`,
    );
  else process.stdout.write(specToYaml(cur.spec));
}
