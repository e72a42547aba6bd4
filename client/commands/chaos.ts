/**
 * `heal chaos <kind> --source <in> --out <out> [--seed N] [--json]`: write a drifted copy of a CSV
 * file, reproducibly (the chaos monkey). `heal chaos --list` lists the kinds and their right outcome.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHAOS_KINDS, CHAOS_KIND_NAMES, isChaosKind, writeChaos } from '../../tools/chaos';
import { checkSourceFile } from '../../lib/paths';
import { CliError, EXIT, type CliContext } from '../context';

export interface ChaosOptions {
  source?: string;
  out?: string;
  seed?: string;
  list?: boolean;
  json?: boolean;
}

export const DEFAULT_CHAOS_SEED = 1;

function parseSeed(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_CHAOS_SEED;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n > 0xffffffff) {
    throw new CliError(`--seed: expected an integer from 0 to 4294967295, got "${raw}"`, EXIT.badInput, 'BadInput');
  }
  return n;
}

function printList(json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ kinds: CHAOS_KINDS })}\n`);
    return;
  }
  const width = Math.max(...CHAOS_KIND_NAMES.map((k) => k.length));
  for (const k of CHAOS_KINDS) console.log(`${k.kind.padEnd(width)}  ${k.expect.padEnd(11)}  ${k.description}`);
}

export async function runChaos(ctx: CliContext, kind: string | undefined, o: ChaosOptions): Promise<void> {
  if (o.list) {
    printList(Boolean(o.json));
    return;
  }
  if (!kind)
    throw new CliError(`give a chaos kind (or --list): ${CHAOS_KIND_NAMES.join(', ')}`, EXIT.badInput, 'BadInput');
  if (!isChaosKind(kind))
    throw new CliError(
      `unknown chaos kind "${kind}"; kinds: ${CHAOS_KIND_NAMES.join(', ')}`,
      EXIT.badInput,
      'BadInput',
    );
  if (!o.source) throw new CliError('--source <file> is required', EXIT.badInput, 'BadInput');
  if (!o.out) throw new CliError('--out <file> is required', EXIT.badInput, 'BadInput');
  const seed = parseSeed(o.seed);
  const source = checkSourceFile(o.source, ctx.config.allowedRoots);
  const out = path.resolve(o.out);
  let outReal = out;
  try {
    outReal = fs.realpathSync(out);
  } catch {
    // Not there yet.
  }
  if (outReal === source)
    throw new CliError(`${out}: --out is the source file; write the drifted copy elsewhere`, EXIT.badInput, 'BadInput');
  if (fs.existsSync(out) && fs.statSync(out).isDirectory())
    throw new CliError(`${out}: is a directory, expected a file path for --out`, EXIT.badInput, 'BadInput');

  const r = await writeChaos(kind, source, out, seed);
  if (o.json) {
    const body = {
      kind,
      source,
      out,
      seed,
      applicable: r.applicable,
      change: r.applicable ? r.note : null,
      expect: r.expect,
      ...(r.applicable ? { details: r.details, bytes: r.data.length } : { reason: r.reason }),
    };
    process.stdout.write(`${JSON.stringify(body)}\n`);
    return;
  }
  if (r.applicable) console.log(`chaos ${kind} (seed ${seed}): ${r.note}; expect ${r.expect}; wrote ${out}`);
  else console.log(`chaos ${kind} (seed ${seed}): not applicable to ${source}: ${r.reason}; nothing written`);
}
