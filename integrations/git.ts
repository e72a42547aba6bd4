/**
 * A small, synchronous driver for the real `git` binary, used to keep an auditable repository of
 * spec versions in the state directory (see store/spec-store.ts). Every command runs through
 * `execFileSync` (no shell) in an isolated environment: no system or global config, no hooks, no
 * GPG signing, a fixed author, so the user's git setup never changes what heal records.
 *
 * Synchronous on purpose: the spec store's writes are synchronous and must stay ordered; a git
 * command takes a few milliseconds.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitCommandFailedError } from '../common/errors';

/** Who commits. */
export interface GitIdentity {
  name: string;
  email: string;
}

export interface GitRepoOptions {
  /** The git executable (a name looked up on PATH, or a path). @default "git" */
  binary?: string;
  /** Author and committer of every commit. @default { name: "heal", email: "heal@localhost" } */
  identity?: GitIdentity;
  /** PATH the binary is looked up on (the only variable taken from the caller's environment). @default process.env.PATH */
  searchPath?: string;
  /** Per-command timeout in milliseconds. @default 30000 */
  timeoutMs?: number;
  /** Attempts when another process holds the index lock. @default 5 */
  lockRetries?: number;
}

export interface GitCommitResult {
  /** The commit that holds the change (a new one, or the existing one when nothing changed). */
  commit: string | null;
  /** True when this call made a new commit. */
  created: boolean;
}

export interface GitLogEntry {
  commit: string;
  authorName: string;
  authorEmail: string;
  subject: string;
  body: string;
}

/** `git` is not installed or not on PATH. */
export class GitNotFoundError extends GitCommandFailedError {}

export const HEAL_GIT_IDENTITY: GitIdentity = Object.freeze({ name: 'heal', email: 'heal@localhost' });

/** Block the thread briefly (used only between index-lock retries, never as test synchronisation). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A git repository (work tree) at `dir`, created on first use. */
export class GitRepo {
  readonly dir: string;
  private readonly binary: string;
  private readonly identity: GitIdentity;
  private readonly env: NodeJS.ProcessEnv;
  private readonly timeoutMs: number;
  private readonly lockRetries: number;

  constructor(dir: string, opts: GitRepoOptions = {}) {
    this.dir = dir;
    this.binary = opts.binary ?? 'git';
    this.identity = opts.identity ?? HEAL_GIT_IDENTITY;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.lockRetries = opts.lockRetries ?? 5;
    const isolated = path.join(dir, '.git');
    this.env = {
      PATH: opts.searchPath ?? process.env.PATH ?? '/usr/bin:/bin',
      // Isolation: no system/global/XDG config, no prompts, stable messages.
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      HOME: isolated,
      XDG_CONFIG_HOME: isolated,
      GIT_TERMINAL_PROMPT: '0',
      LC_ALL: 'C',
      GIT_AUTHOR_NAME: this.identity.name,
      GIT_AUTHOR_EMAIL: this.identity.email,
      GIT_COMMITTER_NAME: this.identity.name,
      GIT_COMMITTER_EMAIL: this.identity.email,
    };
  }

  /** Run one git command in the repository; returns stdout. Throws GitNotFoundError / GitCommandFailedError. */
  run(args: string[], opts: { allowExit?: number[]; input?: string } = {}): { stdout: string; status: number } {
    const full = [
      '-C',
      this.dir,
      '-c',
      `user.name=${this.identity.name}`,
      '-c',
      `user.email=${this.identity.email}`,
      '-c',
      'commit.gpgsign=false',
      '-c',
      'tag.gpgsign=false',
      '-c',
      'core.hooksPath=/dev/null',
      '-c',
      'core.autocrlf=false',
      '-c',
      'core.fsmonitor=false',
      '-c',
      'gc.auto=0',
      '-c',
      'init.defaultBranch=main',
      ...args,
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        const stdout = execFileSync(this.binary, full, {
          env: this.env,
          encoding: 'utf8',
          timeout: this.timeoutMs,
          stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
          maxBuffer: 64 * 1024 * 1024,
          ...(opts.input === undefined ? {} : { input: opts.input }),
        });
        return { stdout, status: 0 };
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { status?: number | null; stderr?: string | Buffer };
        if (e.code === 'ENOENT')
          throw new GitNotFoundError(`git not found (${this.binary}): spec versions are not committed`);
        const status = typeof e.status === 'number' ? e.status : -1;
        if (opts.allowExit?.includes(status)) return { stdout: '', status };
        const stderr = String(e.stderr ?? '').trim();
        if (/index\.lock|Unable to create .*\.lock/i.test(stderr) && attempt < this.lockRetries) {
          pause(20 * attempt);
          continue;
        }
        throw new GitCommandFailedError(
          `git ${args[0] ?? ''} failed in ${this.dir} (exit ${status}): ${stderr.split('\n').slice(0, 3).join(' ') || e.message}`,
          { args: args.slice(0, 1), status },
        );
      }
    }
  }

  /** True once the repository exists. */
  exists(): boolean {
    return fs.existsSync(path.join(this.dir, '.git'));
  }

  /** Create the repository (idempotent), owner-only like the rest of the state directory. */
  init(): void {
    if (this.exists()) return;
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.run(['init', '--quiet', '--shared=0600']);
  }

  /**
   * Stage `paths` (relative to the repository) and commit them with `message` (or the message
   * built from the staged files). Idempotent: when nothing changed, no commit is made and the last
   * commit touching the paths is returned.
   */
  commit(paths: string[], message: string | ((staged: string[]) => string)): GitCommitResult {
    this.init();
    this.run(['add', '--all', '--', ...paths]);
    const staged = this.run(['diff', '--cached', '--name-only', '-z', '--', ...paths])
      .stdout.split('\0')
      .filter(Boolean);
    if (!staged.length) return { commit: this.lastCommit(paths), created: false };
    const text = typeof message === 'function' ? message(staged) : message;
    this.run(['commit', '--quiet', '--no-verify', '--no-gpg-sign', '--cleanup=whitespace', '-F', '-', '--', ...paths], {
      input: text,
    });
    return { commit: this.head(), created: true };
  }

  /** The commit HEAD points at, or null in an empty repository. */
  head(): string | null {
    // Read the loose ref directly (one process less per commit); fall back to git for packed refs.
    try {
      const head = fs.readFileSync(path.join(this.dir, '.git', 'HEAD'), 'utf8').trim();
      const ref = /^ref: (refs\/heads\/[^\s]+)$/.exec(head)?.[1];
      const sha = ref ? fs.readFileSync(path.join(this.dir, '.git', ref), 'utf8').trim() : head;
      if (/^[0-9a-f]{40}$/.test(sha)) return sha;
    } catch {
      // not a loose ref: ask git
    }
    const r = this.run(['rev-parse', '--verify', '--quiet', 'HEAD'], { allowExit: [1, 128] });
    return r.status === 0 ? r.stdout.trim() || null : null;
  }

  /** The last commit touching any of `paths`, or null. */
  lastCommit(paths: string[] = []): string | null {
    if (!this.head()) return null;
    const r = this.run(['log', '-1', '--format=%H', '--', ...paths]);
    return r.stdout.trim() || null;
  }

  /** Commits, newest first (optionally only those touching `paths`). */
  log(paths: string[] = []): GitLogEntry[] {
    if (!this.exists() || !this.head()) return [];
    const sep = '\u001e';
    const r = this.run(['log', `--format=%H%x1f%an%x1f%ae%x1f%s%x1f%b${sep}`, '--', ...paths]);
    return r.stdout
      .split(sep)
      .map((s) => s.replace(/^\n/, ''))
      .filter((s) => s.trim())
      .map((s) => {
        const [commit = '', authorName = '', authorEmail = '', subject = '', body = ''] = s.split('\u001f');
        return { commit, authorName, authorEmail, subject, body: body.trim() };
      });
  }
}
