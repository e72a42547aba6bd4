import * as path from 'node:path';
import { PROBE_STAGE_ROWS } from '../../core/doctor/probe';
import { ConfigError, DEFAULT_PROBE_ROWS, loadConfig } from '../../lib/config';

test('defaults: ./.heal, task queue heal, local dev ports, no LLM, no attempts override', () => {
  const c = loadConfig({}, '/srv/app');
  expect(c).toMatchObject({
    home: '/srv/app/.heal',
    warehouse: '/srv/app/.heal/warehouse.duckdb',
    taskQueue: 'heal',
    namespace: 'default',
    devPort: 7233,
    uiPort: 8233,
    uiUrl: 'http://localhost:8233',
    temporalAddress: undefined,
    maxAttempts: undefined,
  });
  expect(c.llm).toEqual({
    baseUrl: undefined,
    apiKey: undefined,
    model: undefined,
    localModel: undefined,
    contextTokens: undefined,
    timeoutMs: undefined,
    doctors: ['memory', 'rules', 'llm'],
  });
  expect(c.allowedRoots).toEqual(expect.arrayContaining(['/srv/app', '/srv', '/srv/app/.heal']));
});

test('values from the environment, relative paths against the working directory', () => {
  const c = loadConfig(
    {
      HEAL_HOME: 'state',
      HEAL_ALLOWED_ROOTS: ['data', '/mnt/in'].join(path.delimiter),
      HEAL_MAX_ATTEMPTS: '5',
      HEAL_UI_PORT: '9000',
      TEMPORAL_ADDRESS: 'temporal:7233',
    },
    '/srv/app',
  );
  expect(c.home).toBe('/srv/app/state');
  expect(c.allowedRoots).toEqual(['/srv/app/data', '/mnt/in', '/srv/app/state']);
  expect(c.maxAttempts).toBe(5);
  expect(c.uiUrl).toBe('http://localhost:9000');
  expect(c.temporalAddress).toBe('temporal:7233');
});

test('invalid values are refused with the variable named', () => {
  expect(() => loadConfig({ HEAL_MAX_ATTEMPTS: '0' }, '/x')).toThrow(ConfigError);
  expect(() => loadConfig({ HEAL_MAX_ATTEMPTS: 'three' }, '/x')).toThrow(
    /HEAL_MAX_ATTEMPTS: must be an integer from 1 to 10, got "three"/,
  );
  expect(() => loadConfig({ HEAL_DEV_PORT: '70000' }, '/x')).toThrow(/HEAL_DEV_PORT/);
});

test('the environment is read, never written', () => {
  const env = { HEAL_HOME: 'h' };
  const before = JSON.stringify(env);
  loadConfig(env, '/x');
  expect(JSON.stringify(env)).toBe(before);
});

test('HEAL_PROBE_ROWS: the first N rows a first diagnosis reads (default PROBE_STAGE_ROWS), 0 or "all" for the whole source', () => {
  expect(loadConfig({}, '/x').probeRows).toBe(PROBE_STAGE_ROWS);
  expect(DEFAULT_PROBE_ROWS).toBe(PROBE_STAGE_ROWS);
  expect(loadConfig({ HEAL_PROBE_ROWS: '50' }, '/x').probeRows).toBe(50);
  expect(loadConfig({ HEAL_PROBE_ROWS: ' 1_000_000 ' }, '/x').probeRows).toBe(1_000_000);
  expect(loadConfig({ HEAL_PROBE_ROWS: '' }, '/x').probeRows).toBe(PROBE_STAGE_ROWS);
  for (const whole of ['0', 'all', 'ALL'])
    expect(loadConfig({ HEAL_PROBE_ROWS: whole }, '/x').probeRows).toBe(Infinity);
  for (const bad of ['-1', '1.5', 'many', '1e6', '00']) {
    expect(() => loadConfig({ HEAL_PROBE_ROWS: bad }, '/x')).toThrow(
      /HEAL_PROBE_ROWS: must be a positive integer, or 0 or "all"/,
    );
  }
});

describe('warehouse and state store', () => {
  test('default: the DuckDB file and the state directory; HEAL_WAREHOUSE may name another DuckDB file', () => {
    expect(loadConfig({}, '/srv/app')).toMatchObject({ warehouseUrl: undefined, storeUrl: undefined });
    expect(loadConfig({ HEAL_WAREHOUSE: 'w/main.duckdb' }, '/srv/app').warehouse).toBe('/srv/app/w/main.duckdb');
  });

  test('a PostgreSQL URL: shown without its password; the store follows it unless told otherwise', () => {
    const url = 'postgres://loader:p%40ss@db.internal:6543/dw?sslmode=require';
    const c = loadConfig({ HEAL_WAREHOUSE: url }, '/srv/app');
    expect(c).toMatchObject({
      warehouse: 'postgres://loader@db.internal:6543/dw',
      warehouseUrl: url,
      storeUrl: url,
      warehouseSchema: 'public',
      pgLockTimeout: '60000ms',
    });
    expect(JSON.stringify({ warehouse: c.warehouse })).not.toContain('p%40ss');
    expect(loadConfig({ HEAL_WAREHOUSE: url, HEAL_STORE: 'files' }, '/srv/app').storeUrl).toBeUndefined();
    const other = 'postgresql://state@db2/heal';
    expect(loadConfig({ HEAL_WAREHOUSE: url, HEAL_STORE: other }, '/srv/app').storeUrl).toBe(other);
    expect(loadConfig({ HEAL_STORE: other }, '/srv/app')).toMatchObject({ storeUrl: other, warehouseUrl: undefined });
  });

  test('bad settings are refused with the variable named', () => {
    expect(() => loadConfig({ HEAL_STORE: '/var/heal' })).toThrow(/HEAL_STORE: must be a postgres:\/\/ URL/);
    expect(() => loadConfig({ HEAL_WAREHOUSE_SCHEMA: 'a; drop' })).toThrow(/HEAL_WAREHOUSE_SCHEMA/);
    expect(() => loadConfig({ HEAL_PG_LOCK_TIMEOUT: 'soon' })).toThrow(/HEAL_PG_LOCK_TIMEOUT/);
    expect(() => loadConfig({ HEAL_DEV_PG_PORT: '70000' })).toThrow(ConfigError);
  });
});

test('the model settings: a local model, its context, a timeout, and the doctors in order', () => {
  const c = loadConfig(
    { HEAL_LOCAL_MODEL: 'qwen2.5-coder-0.5b', HEAL_LLM_CONTEXT: '8192', HEAL_LLM_TIMEOUT: '5m', HEAL_DOCTORS: 'llm' },
    '/srv/app',
  );
  expect(c.llm).toMatchObject({
    localModel: 'qwen2.5-coder-0.5b',
    contextTokens: 8192,
    timeoutMs: 300_000,
    doctors: ['llm'],
  });
  expect(loadConfig({ HEAL_DOCTORS: ' memory , LLM ' }).llm.doctors).toEqual(['memory', 'llm']);
  for (const bad of ['rules,rules', 'rules,memory', 'oracle', ''.padEnd(1, ',')])
    expect(() => loadConfig({ HEAL_DOCTORS: bad })).toThrow(/HEAL_DOCTORS/);
  expect(() => loadConfig({ HEAL_LLM_CONTEXT: 'lots' })).toThrow(/HEAL_LLM_CONTEXT/);
});
