/**
 * The local model catalogue and how a worker names its doctors: a model given by name or path,
 * a clear way out when it is not fetched, and the start-up line's doctors.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  catalogueModelPath,
  DEFAULT_LOCAL_MODEL,
  LOCAL_MODELS,
  LocalModelNotFoundError,
  resolveLocalModel,
} from '../../integrations/local-llm/models';
import { loadConfig } from '../../lib/config';
import { workerDoctors } from '../../worker';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'heal-models-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a catalogue name resolves under .tools/models once fetched; before, the error says how to fetch it', () => {
  expect(LOCAL_MODELS.map((m) => m.name)).toContain(DEFAULT_LOCAL_MODEL);
  expect(() => resolveLocalModel('smollm2-135m', tmp)).toThrow(LocalModelNotFoundError);
  expect(() => resolveLocalModel('smollm2-135m', tmp)).toThrow('bash scripts/setup.sh --llm=smollm2-135m');
  const file = catalogueModelPath(tmp, 'smollm2-135m');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'GGUF');
  expect(resolveLocalModel('smollm2-135m', tmp)).toEqual({ path: file, name: 'smollm2-135m' });
});

test('a path resolves against the working directory; a missing one names the file and the catalogue', () => {
  fs.writeFileSync(path.join(tmp, 'mine.gguf'), 'GGUF');
  expect(resolveLocalModel('mine.gguf', '/nowhere', tmp)).toEqual({ path: path.join(tmp, 'mine.gguf'), name: 'mine' });
  expect(() => resolveLocalModel('gone.gguf', '/nowhere', tmp)).toThrow(
    /gone\.gguf: no such file.*qwen2\.5-coder-0\.5b/,
  );
});

test('every catalogue entry is pinned: exact versions, a sha256, a size', () => {
  for (const m of LOCAL_MODELS) {
    expect(m.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.bytes).toBeGreaterThan(1_000_000);
    for (const p of m.packages) expect(p.requirement).toMatch(/^[a-z0-9-]+==\d+(\.\d+)+$/);
  }
});

test('the worker’s start-up line names its doctors in order', () => {
  expect(workerDoctors(loadConfig({}))).toBe('memory, then rules');
  expect(workerDoctors(loadConfig({ OPENAI_API_KEY: 'k', HEAL_MODEL: 'gpt-x' }))).toBe(
    'memory, then rules, then llm (gpt-x)',
  );
  const local = { url: 'http://127.0.0.1:1/v1', name: 'qwen', contextSize: 4096, stop: () => Promise.resolve() };
  expect(workerDoctors(loadConfig({ OPENAI_BASE_URL: local.url, HEAL_DOCTORS: 'llm' }), local)).toBe(
    'llm (local qwen, 4096-token context)',
  );
});
