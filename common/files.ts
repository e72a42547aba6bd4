/**
 * Many-file sources: which of a spec's per-file overrides (`source.files`) apply to a file, and
 * the spec a file is read with. Pure and deterministic (workflows may import it).
 */
import type { PatchOp } from './patch';
import type { FileOverride, MappingEntry, PipelineSpec } from './spec';
import type { DriftReport, FileNote, FileOutcome } from './types';

/** The last path segment (both separators: the spec may come from another machine). */
export function fileName(file: string): string {
  const parts = file.split(/[\\/]/);
  return parts[parts.length - 1] ?? file;
}

/** A glob on a file name as a regular expression: `*` any run, `?` one character, `[...]` a class. */
export function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Does an override's `match` fit this file (by its name)? */
export function fileMatches(match: string, file: string): boolean {
  return globRegExp(match).test(fileName(file));
}

/** Apply one override on top of a spec: what the override sets replaces the spec's. */
export function withOverride(spec: PipelineSpec, o: Omit<FileOverride, 'match'>): PipelineSpec {
  const mapping: Record<string, MappingEntry> = { ...spec.mapping, ...(o.mapping ?? {}) };
  return {
    ...spec,
    source: {
      ...spec.source,
      csv: { ...spec.source.csv, ...(o.csv ?? {}) },
      ...(o.columns ? { columns: [...o.columns] } : {}),
      ...(o.ignore ? { ignore: [...o.ignore] } : {}),
    },
    mapping,
  };
}

/**
 * The spec one file of the source is read with: the pipeline's, with every override whose `match`
 * fits the file applied in order, and the file as its source path. The result has no overrides.
 */
export function specForFile(spec: PipelineSpec, file: string): PipelineSpec {
  let out: PipelineSpec = spec;
  for (const o of spec.source.files) if (fileMatches(o.match, file)) out = withOverride(out, o);
  return { ...out, source: { ...out.source, path: file, files: [] } };
}

/** Files read with the same options share a key: they can be read together, in one scan. */
export function readingKey(spec: PipelineSpec, file: string): string {
  const matched = spec.source.files.flatMap((o, i) => (fileMatches(o.match, file) ? [i] : []));
  return matched.join(',');
}

/** The source's files grouped by how they are read (first-seen order, files in given order). */
export function groupByReading(spec: PipelineSpec, files: readonly string[]): string[][] {
  const groups = new Map<string, string[]>();
  for (const f of files) {
    const k = readingKey(spec, f);
    const g = groups.get(k);
    if (g) g.push(f);
    else groups.set(k, [f]);
  }
  return [...groups.values()];
}

/** The files of a drift report that drifted, each with the report of its own differences; undefined unless every difference names its file. */
export function driftByFile(drift: DriftReport): Map<string, DriftReport> | undefined {
  if (!drift.files?.length || !drift.differences.length || drift.differences.some((d) => d.file === undefined))
    return undefined;
  const out = new Map<string, DriftReport>();
  for (const d of drift.differences) {
    const file = d.file as string;
    const { file: _f, ...rest } = d;
    const suffix = ` (${file})`;
    const one = { ...rest, detail: rest.detail.endsWith(suffix) ? rest.detail.slice(0, -suffix.length) : rest.detail };
    const r = out.get(file);
    if (r) {
      r.differences.push(one);
      if (!r.kinds.includes(one.kind)) r.kinds.push(one.kind);
      continue;
    }
    const columns = drift.files.find((f) => f.file === file)?.columns ?? drift.found.columns;
    const { files: _files, ...report } = drift;
    out.set(file, {
      ...report,
      sources: [file],
      kinds: [one.kind],
      differences: [one],
      found: { ...drift.found, columns },
      summary: '',
    });
  }
  for (const [file, r] of out) {
    const first = r.differences.slice(0, 3).map((d) => d.detail);
    out.set(file, {
      ...r,
      summary: `schema drift in ${r.pipeline} (${fileName(file)}): ${first.join('; ')}${r.differences.length > 3 ? ` (+${r.differences.length - 3} more)` : ''}`,
    });
  }
  return out;
}

/** The ops of a patch that apply to one file: its `files` ops whose match fits it, unwrapped, and the unscoped ones. */
export function opsForFile(patch: readonly PatchOp[], file: string): PatchOp[] {
  return patch.flatMap((op) => (op.op === 'files' ? (fileMatches(op.match, file) ? op.ops : []) : [op]));
}

/** Kinds of drift each file of a report showed (files of a many-file source only). */
function kindsByFile(drift: DriftReport | null | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const d of drift?.differences ?? []) {
    if (d.file === undefined) continue;
    const k = out.get(d.file) ?? [];
    if (!k.includes(d.kind)) k.push(d.kind);
    out.set(d.file, k);
  }
  return out;
}

/**
 * Every file of a many-file run and what became of it: the files a load reports (a file that
 * drifted and loaded is `healed`), the files set aside (with why and their drift), and — when the
 * run refused to load without them — the other files of the drifted source as `held`.
 */
export function runFiles(opts: {
  loaded?: readonly FileOutcome[];
  setAside?: readonly FileNote[];
  drift?: DriftReport | null;
  held?: boolean;
}): FileOutcome[] {
  const kinds = kindsByFile(opts.drift);
  const out: FileOutcome[] = (opts.loaded ?? []).map((f) => {
    const k = kinds.get(f.file);
    return k && f.outcome === 'loaded' ? { ...f, outcome: 'healed', driftKinds: k } : f;
  });
  const seen = new Set(out.map((f) => f.file));
  for (const n of opts.setAside ?? []) {
    if (seen.has(n.file)) continue;
    seen.add(n.file);
    out.push({
      file: n.file,
      outcome: 'set-aside',
      rowsRead: 0,
      rowsLoaded: 0,
      rowsQuarantined: 0,
      reason: n.reason,
      driftKinds: kinds.get(n.file) ?? [],
    });
  }
  if (opts.held) {
    for (const file of opts.drift?.sources ?? []) {
      if (seen.has(file)) continue;
      seen.add(file);
      const k = kinds.get(file) ?? [];
      out.push({
        file,
        outcome: 'held',
        rowsRead: 0,
        rowsLoaded: 0,
        rowsQuarantined: 0,
        reason: 'not loaded: the run refused to replace the table without the files set aside',
        driftKinds: k,
      });
    }
  }
  return out.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

/** One line naming the files set aside: "2 of 4 files set aside: p3.csv (truncated), …". */
export function setAsideLine(files: readonly FileOutcome[]): string {
  const aside = files.filter((f) => f.outcome === 'set-aside');
  const named = aside
    .slice(0, 3)
    .map((f) => `${fileName(f.file)}${f.driftKinds?.length ? ` (${f.driftKinds.join(', ')})` : ''}`);
  return `${aside.length} of ${files.length} files set aside: ${named.join(', ')}${aside.length > 3 ? ', …' : ''}`;
}
