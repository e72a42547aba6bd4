/**
 * The local model server as a child process of a worker (HEAL_LOCAL_MODEL, `heal dev --llm`): start
 * it, wait for its address, hand the LLM doctor a config pointing at it, stop it with the worker.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { HealConfig } from '../../lib/config';
import { resolveLocalModel } from './models';
import { DEFAULT_LOCAL_CONTEXT } from './runtime';
import { LISTENING } from './serve';

/** Time allowed for one request to a local model on a CPU (a 4k-token prompt on 2 cores takes ~40 s) when HEAL_LLM_TIMEOUT is unset. */
export const LOCAL_MODEL_TIMEOUT_MS = 300_000;

/** How long loading a model may take before the start is given up. */
const START_TIMEOUT_MS = 180_000;

export interface LocalModelProcess {
  /** Base URL of its OpenAI-compatible API. */
  url: string;
  name: string;
  contextSize: number;
  stop(): Promise<void>;
}

/** Start `integrations/local-llm/serve.ts` on a free port of 127.0.0.1 and wait until it listens. */
export async function startLocalModelProcess(opts: {
  model: string;
  projectRoot: string;
  contextSize?: number | undefined;
}): Promise<LocalModelProcess> {
  const found = resolveLocalModel(opts.model, opts.projectRoot); // fails fast, before a process starts
  const contextSize = opts.contextSize ?? DEFAULT_LOCAL_CONTEXT;
  const entry = path.join(opts.projectRoot, 'integrations', 'local-llm', 'serve.ts');
  const child = spawn(
    process.execPath,
    ['-r', 'tsx/cjs', entry, '--model', found.path, '--context', String(contextSize)],
    { cwd: opts.projectRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-2000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the local model did not start within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (l) => {
      if (l.startsWith(`${LISTENING} `)) {
        clearTimeout(timer);
        resolve(l.slice(LISTENING.length + 1).trim());
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(
        new Error(`the local model server exited (${code}) before listening: ${stderr.trim().split('\n').pop() ?? ''}`),
      );
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    url,
    name: found.name,
    contextSize,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Run `fn` with `config` pointing the LLM doctor at a local model when `config.llm.localModel` is
 * set (the local server started before, stopped after); otherwise with `config` as it is.
 */
export async function withLocalModel<T>(
  config: HealConfig,
  fn: (config: HealConfig, local: LocalModelProcess | undefined) => Promise<T>,
): Promise<T> {
  const model = config.llm.localModel;
  if (!model) return fn(config, undefined);
  const local = await startLocalModelProcess({
    model,
    projectRoot: config.projectRoot,
    contextSize: config.llm.contextTokens,
  });
  try {
    const llm = Object.freeze({
      ...config.llm,
      baseUrl: local.url,
      apiKey: undefined,
      model: local.name,
      contextTokens: local.contextSize,
      timeoutMs: config.llm.timeoutMs ?? LOCAL_MODEL_TIMEOUT_MS,
    });
    return await fn(Object.freeze({ ...config, llm }), local);
  } finally {
    await local.stop();
  }
}
