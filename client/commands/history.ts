/**
 * `heal inspect`, `heal replay`, `heal histories export`. (Being built.)
 */
import type { Command } from 'commander';
import type { CliContext } from '../context';

export function registerHistoryCommands(program: Command, ctx: (json?: boolean) => CliContext): void {
  void program;
  void ctx;
}
