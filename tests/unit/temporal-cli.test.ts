/**
 * Discovery order of the Temporal CLI and test server: env override, project venv, project bin,
 * PATH; then the SDK's cached download. Uses temp dirs with fake executables; never touches
 * process.env.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { devServerExecutable, findTemporalCli, findTestServer, testServerExecutable } from '../../lib/temporal-cli';

const isWindows = process.platform === 'win32';
const describeUnix = isWindows ? describe.skip : describe;

let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'heal-cli-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function fakeExe(rel: string, mode = 0o755): string {
  const p = path.join(tmp, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, '#!/bin/sh\nexit 0\n');
  fs.chmodSync(p, mode);
  return p;
}

const project = () => path.join(tmp, 'project');
const emptyEnv = (): NodeJS.ProcessEnv => ({ PATH: path.join(tmp, 'empty-path-dir') });
const cfg = (over: { temporalCliPath?: string; temporalTestServerPath?: string } = {}) => ({
  projectRoot: project(),
  temporalCliPath: over.temporalCliPath,
  temporalTestServerPath: over.temporalTestServerPath,
});

describeUnix('findTemporalCli', () => {
  it('returns undefined when nothing is installed', () => {
    expect(findTemporalCli(cfg(), emptyEnv())).toBeUndefined();
    expect(devServerExecutable(cfg(), emptyEnv())).toEqual({ type: 'cached-download' });
  });

  it('finds temporal on PATH, searching directories in order', () => {
    const first = fakeExe('path-a/temporal');
    fakeExe('path-b/temporal');
    fakeExe('path-0/temporal', 0o644); // not executable: skipped
    const env = {
      PATH: [path.join(tmp, 'path-0'), path.join(tmp, 'path-a'), path.join(tmp, 'path-b')].join(path.delimiter),
    };
    expect(findTemporalCli(cfg(), env)).toEqual({ path: first, source: 'path' });
  });

  it('skips a directory called "temporal" on PATH', () => {
    fs.mkdirSync(path.join(tmp, 'path-a/temporal'), { recursive: true });
    const real = fakeExe('path-b/temporal');
    const env = { PATH: [path.join(tmp, 'path-a'), path.join(tmp, 'path-b')].join(path.delimiter) };
    expect(findTemporalCli(cfg(), env)?.path).toBe(real);
  });

  it('prefers <projectRoot>/.tools/bin over PATH', () => {
    fakeExe('path-a/temporal');
    const bin = fakeExe('project/.tools/bin/temporal');
    const env = { PATH: path.join(tmp, 'path-a') };
    expect(findTemporalCli(cfg(), env)).toEqual({ path: bin, source: 'project' });
  });

  it('prefers the project venv over .tools/bin and PATH', () => {
    fakeExe('path-a/temporal');
    fakeExe('project/.tools/bin/temporal');
    const venv = fakeExe('project/.tools/venv/bin/temporal');
    const env = { PATH: path.join(tmp, 'path-a') };
    expect(findTemporalCli(cfg(), env)).toEqual({ path: venv, source: 'project' });
    expect(devServerExecutable(cfg(), env)).toEqual({ type: 'existing-path', path: venv });
  });

  it('ignores a non-executable file in the project venv', () => {
    fakeExe('project/.tools/venv/bin/temporal', 0o644);
    const bin = fakeExe('project/.tools/bin/temporal');
    expect(findTemporalCli(cfg(), emptyEnv())?.path).toBe(bin);
  });

  it('TEMPORAL_CLI_PATH wins over everything', () => {
    fakeExe('project/.tools/venv/bin/temporal');
    fakeExe('path-a/temporal');
    const explicit = fakeExe('elsewhere/my-temporal');
    const env = { PATH: path.join(tmp, 'path-a') };
    expect(findTemporalCli(cfg({ temporalCliPath: explicit }), env)).toEqual({ path: explicit, source: 'env' });
  });

  it('TEMPORAL_CLI_PATH given as a bare name is looked up on PATH', () => {
    const onPath = fakeExe('path-a/temporal-nightly');
    const env = { PATH: path.join(tmp, 'path-a') };
    expect(findTemporalCli(cfg({ temporalCliPath: 'temporal-nightly' }), env)).toEqual({ path: onPath, source: 'env' });
  });

  it('throws when TEMPORAL_CLI_PATH is set but missing', () => {
    fakeExe('project/.tools/venv/bin/temporal');
    const missing = path.join(tmp, 'nope/temporal');
    expect(() => findTemporalCli(cfg({ temporalCliPath: missing }), emptyEnv())).toThrow(
      /TEMPORAL_CLI_PATH.*not an executable file/,
    );
    expect(() => devServerExecutable(cfg({ temporalCliPath: missing }), emptyEnv())).toThrow(/TEMPORAL_CLI_PATH/);
  });

  it('throws when TEMPORAL_CLI_PATH is a directory or not executable', () => {
    fs.mkdirSync(path.join(tmp, 'a-dir'));
    expect(() => findTemporalCli(cfg({ temporalCliPath: path.join(tmp, 'a-dir') }), emptyEnv())).toThrow(
      /not an executable file/,
    );
    const plain = fakeExe('plain/temporal', 0o644);
    expect(() => findTemporalCli(cfg({ temporalCliPath: plain }), emptyEnv())).toThrow(/not an executable file/);
  });
});

describeUnix('findTestServer', () => {
  it('follows the same order with its own env override', () => {
    const env = { PATH: path.join(tmp, 'path-a') };
    expect(findTestServer(cfg(), env)).toBeUndefined();
    expect(testServerExecutable(cfg(), env)).toEqual({ type: 'cached-download' });

    const onPath = fakeExe('path-a/temporal-test-server');
    expect(findTestServer(cfg(), env)).toEqual({ path: onPath, source: 'path' });

    const bin = fakeExe('project/.tools/bin/temporal-test-server');
    expect(findTestServer(cfg(), env)).toEqual({ path: bin, source: 'project' });

    const venv = fakeExe('project/.tools/venv/bin/temporal-test-server');
    expect(findTestServer(cfg(), env)).toEqual({ path: venv, source: 'project' });
    expect(testServerExecutable(cfg(), env)).toEqual({ type: 'existing-path', path: venv });

    const explicit = fakeExe('elsewhere/ts');
    expect(findTestServer(cfg({ temporalTestServerPath: explicit }), env)).toEqual({ path: explicit, source: 'env' });
    expect(() => findTestServer(cfg({ temporalTestServerPath: path.join(tmp, 'missing') }), env)).toThrow(
      /TEMPORAL_TEST_SERVER_PATH/,
    );
  });

  it('is independent of the CLI override and binary', () => {
    fakeExe('project/.tools/venv/bin/temporal');
    const cli = fakeExe('elsewhere/temporal');
    expect(findTestServer(cfg({ temporalCliPath: cli }), emptyEnv())).toBeUndefined();
  });
});
