/**
 * The `heal` command line. Every command prints what it did; with `--json`, exactly one JSON
 * object on stdout. Errors are one line on stderr (a stack trace only with --verbose).
 *
 * Exit codes: 0 ok; 1 the pipeline run failed; 2 bad input (unknown pipeline, bad file, bad spec);
 * 3 Temporal unreachable or an unexpected error.
 */
import { Command, CommanderError, Option } from 'commander';
import { CliError, EXIT, type CliContext } from './context';
import { HealError } from '../common/errors';
import { ConfigError, loadConfig } from '../lib/config';
import { runChaos } from './commands/chaos';
import type * as DevCommand from './commands/dev';
import { runInit, type InitOptions } from './commands/init';
import { registerHistoryCommands } from './commands/history';
import { registerObservabilityCommands } from './commands/observability';
import { registerQuarantineCommands } from './commands/quarantine';
import { registerOperationCommands } from './commands/operations';
import { runPipelines, runSpecShow } from './commands/pipelines';
import { runRun } from './commands/run';
import { TemporalUnavailableError } from './temporal';

export function describeError(err: unknown): { type: string; message: string; exitCode: number } {
  if (err instanceof CliError) return { type: err.type, message: err.message, exitCode: err.exitCode };
  if (err instanceof HealError) return { type: err.type, message: err.message, exitCode: EXIT.badInput };
  if (err instanceof ConfigError)
    return { type: 'ConfigInvalid', message: `configuration: ${err.message}`, exitCode: EXIT.badInput };
  if (err instanceof TemporalUnavailableError)
    return { type: 'TemporalUnavailable', message: err.message, exitCode: EXIT.unavailable };
  const message = err instanceof Error ? err.message : String(err);
  return { type: 'Error', message: message.split('\n')[0] ?? message, exitCode: EXIT.unavailable };
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('heal')
    .description('Self-healing data pipelines on Temporal and DuckDB')
    .option('--verbose', 'show stack traces and progress details')
    .showHelpAfterError()
    .exitOverride();

  const ctx = (json = false): CliContext => {
    const verbose = Boolean(program.opts()['verbose']);
    const config = loadConfig();
    return { config, verbose, log: (m) => (json && !verbose ? undefined : console.error(`heal: ${m}`)) };
  };

  program
    .command('init')
    .description('infer a pipeline spec from a sample file and make it the current version')
    .argument('<name>', 'pipeline name')
    .requiredOption('--source <file>', 'sample source file (csv, json or parquet)')
    .option('--table <table>', 'target table (default: the pipeline name)')
    .option('--optional <columns>', 'comma-separated columns to make optional')
    .addOption(
      new Option('--format <format>', 'source format (default: from the file extension)').choices([
        'csv',
        'json',
        'parquet',
      ]),
    )
    .addOption(
      new Option('--mode <mode>', 'how the table is written (default: replace)').choices([
        'replace',
        'append',
        'merge',
      ]),
    )
    .option('--key <columns>', 'comma-separated key columns (merge mode)')
    .addOption(
      new Option(
        '--partial <policy>',
        'a many-file replace with files that cannot load: refuse (default) or load-and-flag',
      ).choices(['refuse', 'load-and-flag']),
    )
    .option(
      '--partition-keys <columns>',
      'comma-separated columns the files are split by (their mix and range move between files)',
    )
    .option('--force', 'replace an existing pipeline with a new version from this sample')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, o: InitOptions) => {
      await runInit(ctx(o.json), name, o);
    });

  program
    .command('run')
    .description('run a pipeline through Temporal and wait for the outcome')
    .argument('<name>', 'pipeline name')
    .option('--source <file>', 'load this file (or glob) instead of the spec source, for this run only')
    .option('--review', 'wait for `heal approve` / `heal reject` before applying a fix (review mode for this run)')
    .option(
      '--partitioned',
      'the source is a glob or directory of partitions: one child workflow per file, drift healed per partition',
    )
    .option('--json', 'print exactly one JSON object on stdout')
    .action(async (name: string, o: { source?: string; json?: boolean; review?: boolean; partitioned?: boolean }) => {
      process.exitCode = await runRun(ctx(o.json), name, o);
    });

  program
    .command('dev')
    .description(
      'start a Temporal dev server (SQLite under HEAL_HOME, Web UI) and a worker, in the foreground; with TEMPORAL_ADDRESS, only the worker',
    )
    .option(
      '--postgres',
      'also start a PostgreSQL server under HEAL_HOME/postgres (port HEAL_DEV_PG_PORT) and use it as warehouse and state store',
    )
    .option(
      '--llm <model>',
      'also serve a local model (a .gguf file, or a name `setup.sh --llm=<name>` fetched) to the LLM doctor (HEAL_LOCAL_MODEL)',
    )
    .action(async (o: { postgres?: boolean; llm?: string }) => {
      // Loaded on demand: the worker package is heavy and only `dev` needs it here.
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy load of a heavy module
      const { runDev } = require('./commands/dev') as typeof DevCommand;
      await runDev(ctx(), { postgres: o.postgres === true, ...(o.llm ? { llm: o.llm } : {}) });
    });

  program
    .command('pipelines')
    .description('list pipelines with their current spec version')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await runPipelines(ctx(o.json), o);
    });

  program
    .command('spec')
    .description("print a pipeline's current spec (or a given version)")
    .argument('<name>', 'pipeline name')
    .option('--version <n>', 'spec version', (v) => Number.parseInt(v, 10))
    .option('--json', 'print JSON')
    .action(async (name: string, o: { version?: number; json?: boolean }) => {
      await runSpecShow(ctx(o.json), name, o);
    });

  program
    .command('chaos')
    .description('write a drifted copy of a CSV file, reproducibly (the chaos monkey); --list shows the kinds')
    .argument('[kind]', 'kind of drift (see --list)')
    .option('--source <file>', 'clean CSV file to drift')
    .option('--out <file>', 'where to write the drifted copy')
    .option('--seed <n>', 'seed of the choices (same seed, same bytes)', '1')
    .option('--list', 'list the kinds and the outcome each must reach')
    .option('--json', 'print exactly one JSON object on stdout')
    .action(
      async (
        kind: string | undefined,
        o: { source?: string; out?: string; seed?: string; list?: boolean; json?: boolean },
      ) => {
        await runChaos(ctx(o.json), kind, o);
      },
    );

  registerOperationCommands(program, ctx);
  registerHistoryCommands(program, ctx);
  registerObservabilityCommands(program, ctx);
  registerQuarantineCommands(program, ctx);

  return program;
}

export async function main(argv: string[]): Promise<number> {
  // Everything heal writes (the warehouse, git's files, logs) is owner-only, whoever creates it.
  process.umask(0o077);
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    }
    const d = describeError(err);
    if (json)
      process.stdout.write(`${JSON.stringify({ outcome: 'failed', error: { type: d.type, message: d.message } })}\n`);
    console.error(`heal: ${d.message}`);
    if (argv.includes('--verbose') && err instanceof Error && err.stack) console.error(err.stack);
    return d.exitCode;
  }
}

if (require.main === module) {
  main(process.argv).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`heal: ${String(err)}`);
      process.exit(EXIT.unavailable);
    },
  );
}
