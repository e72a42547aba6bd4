/**
 * The workflow bundle, built once and cached by content: `heal run` and tests reuse it instead of
 * re-bundling (webpack) on every start.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ensureDir, writeFileAtomic } from './atomic-files';

const ROOT = path.resolve(__dirname, '..');
export const WORKFLOWS_PATH = path.join(ROOT, 'workflows', 'index.ts');

function sourcesHash(): string {
  const h = crypto.createHash('sha256');
  for (const dir of ['workflows', 'common']) {
    const abs = path.join(ROOT, dir);
    for (const f of fs
      .readdirSync(abs)
      .filter((x) => x.endsWith('.ts'))
      .sort()) {
      h.update(`${dir}/${f}\0`);
      h.update(fs.readFileSync(path.join(abs, f)));
    }
  }
  const pkg = JSON.parse(
    fs.readFileSync(path.join(ROOT, 'node_modules', '@temporalio', 'workflow', 'package.json'), 'utf8'),
  ) as { version: string };
  h.update(pkg.version);
  return h.digest('hex').slice(0, 16);
}

/** Path of a bundle of the current workflow code, building it into `cacheDir` when missing. */
export async function workflowBundlePath(cacheDir: string): Promise<string> {
  const file = path.join(cacheDir, `workflow-bundle-${sourcesHash()}.js`);
  if (fs.existsSync(file)) return file;
  ensureDir(cacheDir);
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  writeFileAtomic(file, code);
  return file;
}

const noop = (): void => undefined;
const quietLogger = {
  log: noop,
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: (m: string) => console.error(m),
};
