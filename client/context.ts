/** Shared by the CLI's commands: exit codes, the one-line error type, the command context. */
import type { HealConfig } from '../lib/config';

export const EXIT = { ok: 0, failed: 1, badInput: 2, unavailable: 3 } as const;

/** An error the CLI reports as one line with a given exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly type = 'CliError',
  ) {
    super(message);
  }
}

export interface CliContext {
  config: HealConfig;
  verbose: boolean;
  /** Progress messages (stderr; silent with --json). */
  log: (msg: string) => void;
}
