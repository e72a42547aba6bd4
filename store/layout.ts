/**
 * The state directory (`HEAL_HOME`): one place for everything heal writes. Files are created
 * owner-only and written atomically (temp file + rename), so a crash never leaves half a file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StateUnwritableError } from '../common/errors';

export interface StateLayout {
  home: string;
  pipelines: string;
  pipeline(name: string): string;
  versions(name: string): string;
  profiles(name: string): string;
  temporalDb: string;
  cache: string;
  logs: string;
}

export function stateLayout(home: string): StateLayout {
  const pipelines = path.join(home, 'pipelines');
  return {
    home,
    pipelines,
    pipeline: (name) => path.join(pipelines, name),
    versions: (name) => path.join(pipelines, name, 'versions'),
    profiles: (name) => path.join(pipelines, name, 'profiles'),
    temporalDb: path.join(home, 'temporal', 'dev.sqlite'),
    cache: path.join(home, 'cache'),
    logs: path.join(home, 'logs'),
  };
}

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

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
