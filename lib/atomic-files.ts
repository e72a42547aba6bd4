/**
 * Files heal writes: owner-only and atomic (temp file + rename), so a crash never leaves half a file;
 * a write that cannot happen is one line saying why (disk full, read-only, permission denied).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StateUnwritableError } from '../common/errors';

function unwritable(target: string, err: unknown): StateUnwritableError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const why =
    code === 'ENOSPC'
      ? 'disk full'
      : code === 'EROFS'
        ? 'read-only file system'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : String((err as Error).message ?? err);
  return new StateUnwritableError(`${target}: cannot write the state directory (${why})`);
}

export function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw unwritable(dir, err);
  }
}

/** Write a file atomically with owner-only permissions. */
export function writeFileAtomic(file: string, content: string): void {
  ensureDir(path.dirname(file));
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    fs.writeFileSync(tmp, content, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // best effort
    }
    throw unwritable(file, err);
  }
}

/** Append one line (JSON Lines logs) with owner-only permissions. */
export function appendLine(file: string, line: string): void {
  ensureDir(path.dirname(file));
  try {
    fs.appendFileSync(file, `${line}\n`, { mode: 0o600 });
  } catch (err) {
    throw unwritable(file, err);
  }
}

/** A JSON file, or undefined when there is none (other errors are thrown). */
export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
