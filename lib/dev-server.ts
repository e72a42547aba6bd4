/**
 * Runs a real `temporal server start-dev` child process, backed by a SQLite file so workflow
 * history survives restarts, with heal's custom search attributes registered at start-up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Connection } from '@temporalio/client';
import { temporalClient } from './lazy';
import { SEARCH_ATTRIBUTE_DEFS } from '../common/search-attributes';

export interface DevServerOptions {
  /** Path of the Temporal CLI executable (see `findTemporalCli`). */
  cliPath: string;
  /** SQLite file for persistence; its parent directory is created, so history survives restarts. */
  dbFile: string;
  /** Front-end gRPC port. */
  port: number;
  /** Web UI port (ignored when `headless`). */
  uiPort: number;
  /** Namespace to create at launch (the "default" namespace always exists). @default "default" */
  namespace?: string;
  /** Address the server (and UI) bind to. @default "127.0.0.1" */
  ip?: string;
  /** File that receives the server's stdout and stderr (appended; parent dir created). @default undefined: output is kept in memory (last lines only) for error messages */
  logFile?: string;
  /** How long to wait for the server to answer `DescribeNamespace`. @default 30000 */
  readyTimeoutMs?: number;
  /** Run without the Web UI. @default false */
  headless?: boolean;
}

export interface DevServer {
  /** gRPC address clients and workers connect to, e.g. "127.0.0.1:7233". */
  readonly address: string;
  /** Web UI base URL, e.g. "http://localhost:8233"; empty string when headless. */
  readonly uiUrl: string;
  /** Process id of the CLI. */
  readonly pid: number;
  /** Namespace that was checked for readiness. */
  readonly namespace: string;
  /** Resolves when the server process exits (for whatever reason). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, wait up to 10 s, then SIGKILL. Idempotent; resolves once the process is gone. */
  stop(): Promise<void>;
}

/** The port is held by another process. `temporal` tells whether it answers as a Temporal server. */
export class PortInUseError extends Error {
  override name = 'PortInUseError';
  constructor(
    message: string,
    readonly port: number,
    readonly temporal: boolean,
  ) {
    super(message);
  }
}

const STOP_GRACE_MS = 10_000;
const EXIT_SIGNALS: readonly NodeJS.Signals[] =
  process.platform === 'win32' ? ['SIGINT'] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
const TAIL_LINES = 40;

/** Resolves with `false` after `ms`, or with `true` as soon as `p` settles; never leaves a timer behind. */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void p.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}

/** Host to dial for a bind address ("0.0.0.0" / "::" are not dialable everywhere). */
function dialHost(ip: string): string {
  if (ip === '0.0.0.0') return '127.0.0.1';
  if (ip === '::') return '::1';
  return ip;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function browserHost(ip: string): string {
  if (ip === '127.0.0.1' || ip === '0.0.0.0' || ip === '::' || ip === '::1' || ip === 'localhost') return 'localhost';
  return ip.includes(':') ? `[${ip}]` : ip;
}

/** Parse "host:port" / "[v6]:port" (optionally prefixed with "dns:///"); undefined if not in that shape. */
function parseAddress(address: string): { host: string; port: number } | undefined {
  const a = address.replace(/^dns:\/\/\//, '');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(a) ?? /^([^:[\]]+):(\d+)$/.exec(a);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65536 ? { host: m[1], port } : undefined;
}

/**
 * True when host:port completes an HTTP/2 (h2c) handshake within `timeoutMs`. Used before handing
 * the address to grpc-js, whose connection attempts to a silent or non-HTTP/2 listener linger in
 * the background (keeping the process alive) long after the probe has given up.
 */
function http2Handshake(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const authority = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const session = http2.connect(authority);
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    // The peer's SETTINGS frame proves it speaks HTTP/2 (a TCP accept alone does not).
    session.once('remoteSettings', () => done(true));
    session.on('error', () => done(false));
    session.once('close', () => done(false));
  });
}

/** Resolves with an error code ("EADDRINUSE", "EACCES", ...) if ip:port cannot be bound, else undefined. */
function bindProbe(ip: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    srv.listen({ host: ip, port, exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
}

/**
 * True when a Temporal frontend at `address` accepts a connection and answers `DescribeNamespace`
 * for `namespace`, all within `timeoutMs`. Never throws.
 */
export async function isServerReachable(address: string, namespace: string, timeoutMs = 1500): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const parsed = parseAddress(address);
  // Fast negative answer when nothing listens, or the listener does not speak HTTP/2 (gRPC would
  // otherwise retry until the timeout, and keep a connection attempt alive after that).
  if (parsed && !(await http2Handshake(parsed.host, parsed.port, timeoutMs))) return false;
  const remaining = () => Math.max(1, deadline - Date.now());
  let connection: Connection | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const connecting = temporalClient().Connection.connect({
      address,
      connectTimeout: remaining(),
      // A private subchannel pool: grpc-js otherwise shares subchannels (and their reconnect
      // backoff) per address, so one probe of a non-Temporal listener would stall later probes.
      channelArgs: { 'grpc.use_local_subchannel_pool': 1 },
    });
    const timedOut = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), remaining());
    });
    connection = await Promise.race([connecting, timedOut]);
    if (connection === undefined) {
      // Close the connection if it shows up late.
      connecting.then((c) => c.close()).catch(() => undefined);
      return false;
    }
    const conn = connection;
    await conn.withDeadline(Date.now() + remaining(), () => conn.workflowService.describeNamespace({ namespace }));
    return true;
  } catch {
    return false;
  } finally {
    if (timer) clearTimeout(timer);
    await connection?.close().catch(() => undefined);
  }
}

/** Command-line arguments for `temporal` (exported for tests and diagnostics). */
export function devServerArgs(opts: DevServerOptions): string[] {
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    path.resolve(opts.dbFile),
    '--port',
    String(opts.port),
    '--ip',
    opts.ip ?? '127.0.0.1',
    '--namespace',
    opts.namespace ?? 'default',
    '--log-level',
    'warn',
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
  ];
  if (opts.headless) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort));
  for (const sa of SEARCH_ATTRIBUTE_DEFS) args.push('--search-attribute', `${sa.name}=${sa.type}`);
  return args;
}

/** Keeps the last lines of the server's output, from a pipe or from the log file. */
class OutputTail {
  private lines: string[] = [];
  private partial = '';
  constructor(
    private readonly logFile: string | undefined,
    private readonly startOffset: number,
  ) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts);
    if (this.lines.length > TAIL_LINES) this.lines.splice(0, this.lines.length - TAIL_LINES);
  }

  text(): string {
    let lines: string[];
    if (this.logFile !== undefined) {
      try {
        const size = fs.statSync(this.logFile).size;
        const from = Math.max(this.startOffset, size - 16 * 1024);
        const buf = Buffer.alloc(size - from);
        const fd = fs.openSync(this.logFile, 'r');
        try {
          fs.readSync(fd, buf, 0, buf.length, from);
        } finally {
          fs.closeSync(fd);
        }
        lines = buf.toString().split(/\r?\n/);
      } catch {
        lines = [];
      }
    } else {
      lines = [...this.lines, this.partial];
    }
    const tail = lines.filter((l) => l.trim() !== '').slice(-TAIL_LINES);
    return tail.length ? tail.map((l) => `  | ${l}`).join('\n') : '  (no output)';
  }
}

async function checkPortFree(ip: string, port: number, what: string, namespace: string): Promise<void> {
  const code = await bindProbe(ip, port);
  if (code === undefined) return;
  const where = hostPort(ip, port);
  if (code === 'EADDRINUSE') {
    const temporal = what === 'gRPC' && (await isServerReachable(hostPort(dialHost(ip), port), namespace, 2000));
    throw new PortInUseError(
      temporal
        ? `A Temporal server is already running at ${where}. Use it with TEMPORAL_ADDRESS=${where}, ` +
            `or stop it / pick another port with HEAL_DEV_PORT.`
        : `Cannot start the Temporal dev server: ${what} port ${where} is in use by another program ` +
            `that does not answer as Temporal. Free the port or choose another one ` +
            `(HEAL_DEV_PORT for gRPC, HEAL_UI_PORT for the Web UI).`,
      port,
      temporal,
    );
  }
  throw new Error(`Cannot start the Temporal dev server: cannot bind ${what} port ${where} (${code}).`);
}

/**
 * Start `temporal server start-dev` and wait until it answers `DescribeNamespace`. The child runs in
 * its own process group so a terminal Ctrl-C reaches only this process, which can then shut its
 * worker down before calling {@link DevServer.stop}. If this process exits without calling `stop()`
 * (normal exit, or SIGINT/SIGTERM/SIGHUP that no other listener handles), the server gets a SIGTERM.
 * Rejects with {@link PortInUseError} when the gRPC or UI port is taken, and with the server's last
 * output lines when it exits early or is not ready within `readyTimeoutMs`.
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const namespace = opts.namespace ?? 'default';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const address = hostPort(dialHost(ip), opts.port);
  const uiUrl = opts.headless ? '' : `http://${browserHost(ip)}:${opts.uiPort}`;

  if (!fs.existsSync(opts.cliPath)) throw new Error(`Temporal CLI not found at ${opts.cliPath}`);
  await checkPortFree(ip, opts.port, 'gRPC', namespace);
  if (!opts.headless) await checkPortFree(ip, opts.uiPort, 'Web UI', namespace);

  fs.mkdirSync(path.dirname(path.resolve(opts.dbFile)), { recursive: true });

  let logFd: number | undefined;
  let startOffset = 0;
  if (opts.logFile !== undefined) {
    fs.mkdirSync(path.dirname(path.resolve(opts.logFile)), { recursive: true });
    logFd = fs.openSync(opts.logFile, 'a');
    startOffset = fs.fstatSync(logFd).size;
  }
  const tail = new OutputTail(opts.logFile, startOffset);

  let child: ChildProcess;
  try {
    child = spawn(opts.cliPath, devServerArgs(opts), {
      stdio: ['ignore', logFd ?? 'pipe', logFd ?? 'pipe'],
      detached: true,
      windowsHide: true,
    });
  } finally {
    // The child has its own copy of the descriptor.
    if (logFd !== undefined) fs.closeSync(logFd);
  }
  child.stdout?.on('data', (c: Buffer) => tail.push(c));
  child.stderr?.on('data', (c: Buffer) => tail.push(c));

  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    child.once('error', (err) => {
      spawnError = err;
      // 'exit' may never fire when the spawn itself failed.
      if (child.pid === undefined) {
        exitInfo = { code: null, signal: null };
        resolve(exitInfo);
      }
    });
  });

  // Orphan protection. The child has its own process group, so a terminal's Ctrl-C does not reach
  // it directly. On a normal exit, SIGTERM it. On SIGINT/SIGTERM/SIGHUP: if this hook is the only
  // listener (nobody is doing a graceful shutdown), SIGTERM the server and re-raise the signal so
  // the process still dies as it would have; otherwise leave it to the other handler to call stop().
  const onProcessExit = () => {
    if (exitInfo === undefined) child.kill('SIGTERM');
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (process.listenerCount(signal) > 1) return;
    onProcessExit();
    removeHooks();
    process.kill(process.pid, signal);
  };
  const removeHooks = () => {
    process.removeListener('exit', onProcessExit);
    for (const sig of EXIT_SIGNALS) process.removeListener(sig, onSignal);
  };
  process.once('exit', onProcessExit);
  for (const sig of EXIT_SIGNALS) process.on(sig, onSignal);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exitInfo === undefined && child.pid !== undefined) {
        child.kill('SIGTERM');
        const graceful = await settlesWithin(exited, STOP_GRACE_MS);
        if (!graceful && exitInfo === undefined) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      removeHooks();
    })();
    return stopping;
  };

  const describeExit = () =>
    spawnError
      ? `could not be started (${spawnError.message})`
      : `exited early (${exitInfo?.signal ? `signal ${exitInfo.signal}` : `code ${String(exitInfo?.code)}`})`;

  const started = Date.now();
  const deadline = started + readyTimeoutMs;
  let delay = 50;
  for (;;) {
    // Give a just-failed spawn a tick to report.
    await new Promise((r) => setImmediate(r));
    if (exitInfo !== undefined) {
      await stop();
      throw new Error(
        `Temporal dev server ${describeExit()}: ${opts.cliPath} ${devServerArgs(opts).join(' ')}\n${tail.text()}`,
      );
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      await stop();
      throw new Error(
        `Temporal dev server at ${address} did not become ready within ${readyTimeoutMs} ms` +
          (opts.logFile ? ` (log: ${opts.logFile})` : '') +
          `\n${tail.text()}`,
      );
    }
    if (await isServerReachable(address, namespace, Math.min(2000, remaining))) break;
    await settlesWithin(exited, Math.min(delay, Math.max(0, deadline - Date.now())));
    delay = Math.min(Math.round(delay * 1.5), 500);
  }

  return {
    address,
    uiUrl,
    pid: child.pid ?? -1,
    namespace,
    exited,
    stop,
  };
}
