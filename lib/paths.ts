/**
 * Source path checks: a path must exist, be a regular file, be readable and resolve (after
 * symlinks) under one of the allowed roots. Errors are one line: what, and where.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PathNotAllowedError, SourceUnreadableError } from '../common/errors';

export function isGlob(p: string): boolean {
  return /[*?[\]{}]/.test(p);
}

function under(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** Resolve symlinks of the root too, so /tmp -> /private/tmp style links compare equal. */
function realRoots(roots: readonly string[]): string[] {
  return roots.map((r) => {
    try {
      return fs.realpathSync(r);
    } catch {
      return path.resolve(r);
    }
  });
}

/** Check that `p` is within the allowed roots, following symlinks. Returns the real path. */
export function assertAllowed(p: string, roots: readonly string[]): string {
  const abs = path.resolve(p);
  let real = abs;
  try {
    real = fs.realpathSync(abs);
  } catch {
    // Existence is checked by the caller; an unresolvable path is judged as written.
  }
  const rr = realRoots(roots);
  if (!rr.some((r) => under(r, real))) {
    throw new PathNotAllowedError(abs === real ? abs : `${abs} (-> ${real})`, [...roots]);
  }
  return real;
}

/** Check a single source file: allowed, exists, a regular file, readable. Returns its real path. */
export function checkSourceFile(p: string, roots: readonly string[]): string {
  const abs = path.resolve(p);
  const real = assertAllowed(abs, roots);
  let st: fs.Stats;
  try {
    st = fs.statSync(real);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SourceUnreadableError(
      code === 'ENOENT' ? `${abs}: no such file` : `${abs}: cannot read (${code ?? String(err)})`,
    );
  }
  if (st.isDirectory())
    throw new SourceUnreadableError(
      `${abs}: is a directory, expected a file (use a glob such as ${path.join(abs, '*.csv')})`,
    );
  if (!st.isFile()) throw new SourceUnreadableError(`${abs}: not a regular file`);
  try {
    fs.accessSync(real, fs.constants.R_OK);
  } catch {
    throw new SourceUnreadableError(`${abs}: permission denied`);
  }
  return real;
}

/** The format implied by a file name, if any. */
export function formatFromName(p: string): 'csv' | 'json' | 'parquet' | undefined {
  const ext = path.extname(p.replace(/\.(gz|zst)$/i, '')).toLowerCase();
  if (ext === '.csv' || ext === '.tsv' || ext === '.txt') return 'csv';
  if (ext === '.json' || ext === '.jsonl' || ext === '.ndjson') return 'json';
  if (ext === '.parquet' || ext === '.pq') return 'parquet';
  return undefined;
}
