import { loadConfig } from '../../lib/config';
import { DEFAULT_SLOT_MEMORY_MIB, workerSizing } from '../../lib/sizing';

const GiB = 2 ** 30;

describe('workerSizing', () => {
  it('gives two slots per core, from 2 to 16, each with the default DuckDB budget', () => {
    expect(workerSizing({ cores: 2, memoryBytes: 24 * GiB }, { slots: 0 })).toEqual({
      activitySlots: 4,
      duckdbMemoryLimit: `${DEFAULT_SLOT_MEMORY_MIB}MiB`,
    });
    expect(workerSizing({ cores: 1, memoryBytes: 24 * GiB }, { slots: 0 }).activitySlots).toBe(2);
    expect(workerSizing({ cores: 64, memoryBytes: 256 * GiB }, { slots: 0 }).activitySlots).toBe(16);
  });

  it('never gives more slots than half the memory holds at one budget each', () => {
    // Four budgets of memory: half of it holds two, whatever the cores.
    const budget = DEFAULT_SLOT_MEMORY_MIB * 2 ** 20;
    expect(workerSizing({ cores: 8, memoryBytes: 4 * budget }, { slots: 0 }).activitySlots).toBe(2);
    expect(workerSizing({ cores: 8, memoryBytes: budget }, { slots: 0 }).activitySlots).toBe(1);
  });

  it('takes the slots and the budget it is given; "none" is DuckDB\'s own default', () => {
    expect(workerSizing({ cores: 2, memoryBytes: GiB }, { slots: 12, memoryLimit: '2GB' })).toEqual({
      activitySlots: 12,
      duckdbMemoryLimit: '2GB',
    });
    expect(workerSizing({ cores: 2, memoryBytes: GiB }, { slots: 0, memoryLimit: 'None' }).duckdbMemoryLimit).toBe(
      undefined,
    );
  });
});

describe('config: HEAL_WORKER_SLOTS and HEAL_DUCKDB_MEMORY_LIMIT', () => {
  it('reads both, and sizes the worker to the machine without them', () => {
    const given = loadConfig({ HEAL_WORKER_SLOTS: '6', HEAL_DUCKDB_MEMORY_LIMIT: '1GB' }, '/tmp');
    expect([given.workerSlots, given.duckdbMemoryLimit]).toEqual([6, '1GB']);
    const sized = loadConfig({}, '/tmp');
    expect(sized.workerSlots).toBeGreaterThanOrEqual(1);
    expect(sized.duckdbMemoryLimit).toBe(`${DEFAULT_SLOT_MEMORY_MIB}MiB`);
  });

  it('refuses a slot count that is not a number', () => {
    expect(() => loadConfig({ HEAL_WORKER_SLOTS: 'many' }, '/tmp')).toThrow(/HEAL_WORKER_SLOTS/);
  });
});
