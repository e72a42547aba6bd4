/**
 * The local model server as a process of its own (started by the worker when HEAL_LOCAL_MODEL is
 * set, by `heal dev --llm`, or by hand for workers elsewhere):
 *
 *   node -r tsx/cjs integrations/local-llm/serve.ts --model <file.gguf|name> [--host 127.0.0.1] [--port 0] [--context 4096]
 *
 * HEAL_LLM_LOG=<file> appends each answer (time, tokens, finish reason, text; never the prompt) to a file.
 * Prints one line `heal-llm listening <base url>` on stdout once the model is loaded; SIGINT and
 * SIGTERM stop it. Its own process: the model's memory and a crash of the runtime stay out of the worker.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { resolveLocalModel } from './models';
import { DEFAULT_LOCAL_CONTEXT, loadLocalModel } from './runtime';
import { startLocalLlmServer } from './server';

/** The line the parent waits for. */
export const LISTENING = 'heal-llm listening';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      context: { type: 'string', default: String(DEFAULT_LOCAL_CONTEXT) },
    },
  });
  if (!values.model) throw new Error('--model <file.gguf|name> is required');
  const projectRoot = path.resolve(__dirname, '..', '..');
  const found = resolveLocalModel(values.model, projectRoot);
  const model = await loadLocalModel({
    modelPath: found.path,
    name: found.name,
    contextSize: Number(values.context),
    projectRoot,
  });
  const logFile = process.env['HEAL_LLM_LOG'];
  const log = logFile
    ? (entry: Record<string, unknown>) =>
        fs.appendFileSync(logFile, `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`, { mode: 0o600 })
    : undefined;
  const server = await startLocalLlmServer(model, {
    host: values.host,
    port: Number(values.port),
    ...(log ? { log } : {}),
  });
  process.stdout.write(`${LISTENING} ${server.url}\n`);
  const stop = () => {
    void server
      .close()
      .then(() => model.close())
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`heal-llm: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
