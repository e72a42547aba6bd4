/**
 * How much a worker takes on by default, from the machine it runs on: its activity slots and the
 * DuckDB memory budget of each. The one owner of these defaults (lib/config.ts reads the
 * environment's overrides and calls {@link workerSizing}).
 */

/**
 * DuckDB `memory_limit` of each database an activity opens, when HEAL_DUCKDB_MEMORY_LIMIT is
 * unset. Past it DuckDB spills to disk, so a worker's peak memory stops growing with the file.
 * Measured on the bench's files (2 cores; one load in a fresh process, `tools/bench/profile-load.ts
 * --once`): at 5M rows 256 MiB loads in 10.4 s at a 560–620 MB peak, 512 MiB in 9.8–10.0 s at
 * 814–894 MB, 128 MiB in 17.4 s at 362 MB; at 1M rows 256 and 512 MiB both take ~2.1 s at ~410 MB
 * (the rows fit), 128 MiB 4.6 s.
 */
export const DEFAULT_SLOT_MEMORY_MIB = 256;

/** Share of the machine's memory the slots' budgets may add up to. */
const MEMORY_SHARE = 0.5;
/** Slots per core: a load keeps every core busy (DuckDB's threads), most other activities wait on I/O. */
const SLOTS_PER_CORE = 2;
const MIN_SLOTS = 2;
const MAX_SLOTS = 16;

export interface Machine {
  cores: number;
  memoryBytes: number;
}

export interface WorkerSizing {
  /** Concurrent activity executions of a worker. */
  activitySlots: number;
  /** DuckDB `memory_limit` of each database an activity opens; undefined: DuckDB's own default. */
  duckdbMemoryLimit: string | undefined;
}

/**
 * The DuckDB `memory_limit` a setting asks for: unset means {@link DEFAULT_SLOT_MEMORY_MIB} MiB,
 * "none" DuckDB's own default (undefined), anything else as given.
 */
export function slotMemoryLimit(setting: string | undefined): string | undefined {
  if (setting === undefined) return `${DEFAULT_SLOT_MEMORY_MIB}MiB`;
  return setting.toLowerCase() === 'none' ? undefined : setting;
}

/**
 * The worker's sizing: `slots` 0 means sized to the machine (2 per core, 2 to 16, no more than half
 * the memory holds at one budget each); `memoryLimit` unset means {@link DEFAULT_SLOT_MEMORY_MIB} MiB,
 * and "none" DuckDB's own default (80 % of RAM per database).
 */
export function workerSizing(machine: Machine, overrides: { slots: number; memoryLimit?: string }): WorkerSizing {
  const duckdbMemoryLimit = slotMemoryLimit(overrides.memoryLimit);
  if (overrides.slots > 0) return { activitySlots: overrides.slots, duckdbMemoryLimit };
  const byCores = Math.min(MAX_SLOTS, Math.max(MIN_SLOTS, SLOTS_PER_CORE * Math.max(1, machine.cores)));
  const byMemory = Math.floor((machine.memoryBytes * MEMORY_SHARE) / (DEFAULT_SLOT_MEMORY_MIB * 2 ** 20));
  return { activitySlots: Math.max(1, Math.min(byCores, byMemory)), duckdbMemoryLimit };
}
