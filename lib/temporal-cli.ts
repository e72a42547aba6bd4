/**
 * Discovery of the Temporal CLI (`temporal`, which runs `server start-dev`) and the time-skipping
 * `temporal-test-server`. Order: explicit env override, project-local tools, PATH. When nothing is
 * found the callers fall back to the SDK's own cached download.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing';
import type { HealConfig } from './config';

/** Where a binary was found. */
export type BinarySource = 'env' | 'project' | 'path';

export interface FoundBinary {
  /** Absolute path of the executable. */
  readonly path: string;
  /** `env`: TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH; `project`: `<projectRoot>/.tools`; `path`: PATH. */
  readonly source: BinarySource;
}

const IS_WINDOWS = process.platform === 'win32';

/** True when `p` is an existing regular file (following symlinks) that the current user may execute. */
export function isExecutableFile(p: string): boolean {
  try {
    if (!fs.statSync(p).isFile()) return false;
    fs.accessSync(p, IS_WINDOWS ? fs.constants.F_OK : fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Candidate file names for a command (adds PATHEXT extensions on Windows). */
function commandNames(name: string, env: NodeJS.ProcessEnv): string[] {
  if (!IS_WINDOWS) return [name];
  const exts = (env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').filter(Boolean);
  return [name, ...exts.map((e) => name + e.toLowerCase()), ...exts.map((e) => name + e)];
}

/** Look `name` up in the directories of `env.PATH`, without spawning a shell. */
export function whichSync(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const pathVar = env.PATH ?? env.Path ?? '';
  for (const dir of pathVar.split(path.delimiter)) {
    if (dir === '') continue;
    for (const candidate of commandNames(name, env)) {
      const full = path.resolve(dir, candidate);
      if (isExecutableFile(full)) return full;
    }
  }
  return undefined;
}

function fromEnvOverride(value: string | undefined, varName: string, env: NodeJS.ProcessEnv): FoundBinary | undefined {
  if (value === undefined) return undefined;
  // A bare command name ("temporal") is looked up on PATH; anything else is a path.
  const isBareName = !value.includes('/') && !(IS_WINDOWS && value.includes('\\'));
  const resolved = isBareName ? whichSync(value, env) : path.resolve(value);
  if (resolved === undefined || !isExecutableFile(resolved)) {
    throw new Error(
      `${varName} is set to "${value}", but that is not an executable file. ` +
        `Fix or unset ${varName} (run \`bash scripts/setup.sh\` to install a project-local copy).`,
    );
  }
  return { path: resolved, source: 'env' };
}

function find(
  binary: string,
  override: string | undefined,
  overrideVar: string,
  projectRoot: string,
  env: NodeJS.ProcessEnv,
): FoundBinary | undefined {
  const fromEnv = fromEnvOverride(override, overrideVar, env);
  if (fromEnv) return fromEnv;
  const tools = path.join(projectRoot, '.tools');
  const binDir = IS_WINDOWS ? 'Scripts' : 'bin';
  for (const dir of [path.join(tools, 'venv', binDir), path.join(tools, 'bin')]) {
    for (const candidate of commandNames(binary, env)) {
      const full = path.join(dir, candidate);
      if (isExecutableFile(full)) return { path: full, source: 'project' };
    }
  }
  const onPath = whichSync(binary, env);
  return onPath === undefined ? undefined : { path: onPath, source: 'path' };
}

/**
 * Find the Temporal CLI. Order: `TEMPORAL_CLI_PATH` (`config.temporalCliPath`; throws if set but not
 * an executable file), `<projectRoot>/.tools/venv/bin/temporal`, `<projectRoot>/.tools/bin/temporal`,
 * then `temporal` on `env.PATH`. `undefined` means: fall back to the SDK's cached download.
 */
export function findTemporalCli(
  config: Pick<HealConfig, 'temporalCliPath' | 'projectRoot'>,
  env: NodeJS.ProcessEnv = process.env,
): FoundBinary | undefined {
  return find('temporal', config.temporalCliPath, 'TEMPORAL_CLI_PATH', config.projectRoot, env);
}

/**
 * Find the time-skipping test server. Order: `TEMPORAL_TEST_SERVER_PATH`
 * (`config.temporalTestServerPath`; throws if set but not an executable file),
 * `<projectRoot>/.tools/venv/bin/temporal-test-server`, `<projectRoot>/.tools/bin/temporal-test-server`,
 * then `temporal-test-server` on `env.PATH`.
 */
export function findTestServer(
  config: Pick<HealConfig, 'temporalTestServerPath' | 'projectRoot'>,
  env: NodeJS.ProcessEnv = process.env,
): FoundBinary | undefined {
  return find(
    'temporal-test-server',
    config.temporalTestServerPath,
    'TEMPORAL_TEST_SERVER_PATH',
    config.projectRoot,
    env,
  );
}

/** `executable` option for `TestWorkflowEnvironment.createLocal({ server: { executable } })`. */
export function devServerExecutable(
  config: Pick<HealConfig, 'temporalCliPath' | 'projectRoot'>,
  env: NodeJS.ProcessEnv = process.env,
): EphemeralServerExecutable {
  const found = findTemporalCli(config, env);
  return found ? { type: 'existing-path', path: found.path } : { type: 'cached-download' };
}

/** `executable` option for `TestWorkflowEnvironment.createTimeSkipping({ server: { executable } })`. */
export function testServerExecutable(
  config: Pick<HealConfig, 'temporalTestServerPath' | 'projectRoot'>,
  env: NodeJS.ProcessEnv = process.env,
): EphemeralServerExecutable {
  const found = findTestServer(config, env);
  return found ? { type: 'existing-path', path: found.path } : { type: 'cached-download' };
}
