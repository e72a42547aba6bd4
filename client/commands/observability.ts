/**
 * `heal metrics` and `heal dashboard`. (Being built: see issue 6.)
 */
import type { Command } from 'commander';
import type { CliContext } from '../context';

export function registerObservabilityCommands(program: Command, ctx: (json?: boolean) => CliContext): void {
  void program;
  void ctx;
}
