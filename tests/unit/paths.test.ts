/** Source path checks: allowed roots (after symlinks), existence, regular files. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PathNotAllowedError, SourceUnreadableError } from '../../common/errors';
import { assertAllowed, checkSourceFile, formatFromName, isGlob } from '../../lib/paths';

let tmp: string;
let root: string;
let outside: string;

beforeEach(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'heal-paths-')));
  root = path.join(tmp, 'root');
  outside = path.join(tmp, 'outside');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function write(p: string, text = 'a,b\n1,2\n'): string {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}

/** The error thrown by `fn` (fails the test when nothing is thrown). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('checkSourceFile', () => {
  it('returns the real path of an allowed file', () => {
    const f = write(path.join(root, 'data', 'a.csv'));
    expect(checkSourceFile(f, [root])).toBe(f);
    // A relative path with a harmless ".." inside the root resolves too.
    expect(checkSourceFile(path.join(root, 'data', '..', 'data', 'a.csv'), [root])).toBe(f);
  });

  it('a missing file: "no such file"', () => {
    const f = path.join(root, 'missing.csv');
    const err = thrown(() => checkSourceFile(f, [root]));
    expect(err).toBeInstanceOf(SourceUnreadableError);
    expect(err.message).toBe(`${f}: no such file`);
  });

  it('a directory: "is a directory", with a glob to use instead', () => {
    const err = thrown(() => checkSourceFile(root, [root]));
    expect(err).toBeInstanceOf(SourceUnreadableError);
    expect(err.message).toBe(
      `${root}: is a directory, expected a file (use a glob such as ${path.join(root, '*.csv')})`,
    );
  });

  it('a file outside the roots is not allowed, and the message says how to allow it', () => {
    const f = write(path.join(outside, 'a.csv'));
    const err = thrown(() => checkSourceFile(f, [root]));
    expect(err).toBeInstanceOf(PathNotAllowedError);
    expect(err.message).toBe(`${f}: outside the allowed roots (${root}); set HEAL_ALLOWED_ROOTS to allow it`);
    expect((err as PathNotAllowedError).type).toBe('PathNotAllowed');
  });

  it('a missing file outside the roots is reported as not allowed (checked before existence)', () => {
    expect(thrown(() => checkSourceFile(path.join(outside, 'nope.csv'), [root]))).toBeInstanceOf(PathNotAllowedError);
  });

  it('".." escaping a root is rejected', () => {
    write(path.join(outside, 'secret.csv'));
    const sneaky = path.join(root, '..', 'outside', 'secret.csv');
    expect(thrown(() => checkSourceFile(sneaky, [root]))).toBeInstanceOf(PathNotAllowedError);
    expect(thrown(() => checkSourceFile(`${root}/../outside/secret.csv`, [root]))).toBeInstanceOf(PathNotAllowedError);
  });

  it('a root is not a prefix match: /x/root-other is not under /x/root', () => {
    const f = write(path.join(`${root}-other`, 'a.csv'));
    expect(thrown(() => checkSourceFile(f, [root]))).toBeInstanceOf(PathNotAllowedError);
  });

  it('a name starting with ".." inside a root is allowed', () => {
    const f = write(path.join(root, '..data.csv'));
    expect(checkSourceFile(f, [root])).toBe(f);
  });

  it('a symlink inside a root pointing outside is rejected, and the message shows the target', () => {
    const target = write(path.join(outside, 'secret.csv'));
    const link = path.join(root, 'link.csv');
    fs.symlinkSync(target, link);
    const err = thrown(() => checkSourceFile(link, [root]));
    expect(err).toBeInstanceOf(PathNotAllowedError);
    expect(err.message).toContain(`${link} (-> ${target})`);
  });

  it('a symlinked directory inside a root pointing outside is rejected', () => {
    write(path.join(outside, 'secret.csv'));
    fs.symlinkSync(outside, path.join(root, 'dir'));
    expect(thrown(() => checkSourceFile(path.join(root, 'dir', 'secret.csv'), [root]))).toBeInstanceOf(
      PathNotAllowedError,
    );
  });

  it('a symlink within the roots resolves to its target', () => {
    const target = write(path.join(root, 'real.csv'));
    const link = path.join(root, 'alias.csv');
    fs.symlinkSync(target, link);
    expect(checkSourceFile(link, [root])).toBe(target);
  });

  it('a root that is itself a symlink compares by its real path', () => {
    const f = write(path.join(root, 'a.csv'));
    const linkedRoot = path.join(tmp, 'linked-root');
    fs.symlinkSync(root, linkedRoot);
    expect(checkSourceFile(path.join(linkedRoot, 'a.csv'), [linkedRoot])).toBe(f);
  });

  it('any of several roots will do', () => {
    const f = write(path.join(outside, 'a.csv'));
    expect(checkSourceFile(f, [root, outside])).toBe(f);
  });

  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  (asRoot ? it.skip : it)('an unreadable file: "permission denied"', () => {
    const f = write(path.join(root, 'locked.csv'));
    fs.chmodSync(f, 0o000);
    expect(thrown(() => checkSourceFile(f, [root])).message).toBe(`${f}: permission denied`);
  });
});

describe('assertAllowed', () => {
  it('returns the real path of an allowed path, existing or not', () => {
    expect(assertAllowed(root, [root])).toBe(root);
    expect(assertAllowed(path.join(root, 'not-yet.csv'), [root])).toBe(path.join(root, 'not-yet.csv'));
  });

  it('throws PathNotAllowedError outside the roots with the path and roots as details', () => {
    const err = thrown(() => assertAllowed(outside, [root])) as PathNotAllowedError;
    expect(err).toBeInstanceOf(PathNotAllowedError);
    expect(err.details).toEqual({ path: outside, roots: [root] });
  });
});

describe('isGlob / formatFromName', () => {
  it('tells globs from paths', () => {
    expect(isGlob('/data/*.csv')).toBe(true);
    expect(isGlob('/data/part-?.csv')).toBe(true);
    expect(isGlob('/data/a.csv')).toBe(false);
  });

  it('maps extensions to formats', () => {
    expect(formatFromName('a.csv')).toBe('csv');
    expect(formatFromName('a.TSV')).toBe('csv');
    expect(formatFromName('a.csv.gz')).toBe('csv');
    expect(formatFromName('a.jsonl')).toBe('json');
    expect(formatFromName('a.parquet')).toBe('parquet');
    expect(formatFromName('a.xlsx')).toBeUndefined();
  });
});
