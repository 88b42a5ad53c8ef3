import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command as Program, CommanderError, Option } from 'commander';
import { useNativeSha256 } from '../ledger/native-sha256';
import { CliError, EXIT, EXIT_CODES_HELP, ExitCode } from './errors';
import { DamagedHistoryError } from '../ledger/core/damaged-history';
import { CliIo, processIo, writeLine } from './io';
import { registerDoctorCommand, registerSetupCommands } from './admin-commands';
import { registerBooksCommands } from './books-commands';
import { registerKafkaCommands } from './kafka-commands';
import { Action, Run } from './program-kit';
import { registerPaymentCommands } from './payment-commands';
import { registerProjectionCommands } from './projection-commands';

/** Kept here (not imported from ledger/observability) so --help never loads pino. */
const LOG_LEVEL_CHOICES = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * The `spanledger` CLI: parse, call the same handler the Kafka consumer calls, render.
 * Each command's module is loaded only when that command runs, so `--help` and argument
 * errors never pay for loading the Spanner or Kafka clients.
 */
/** The version from package.json, found upwards from here (works from sources and from dist/). */
function packageVersion(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

export function buildProgram(io: CliIo, setExitCode: (code: ExitCode) => void): Program {
  const program = new Program('spanledger');
  const run: Run =
    (load: () => Promise<Action>) =>
    async (...args: unknown[]) => {
      // commander passes (positional..., options, command); drop the command object, and
      // hand the global --log-level to the action inside its options (undefined when not given).
      const command = args[args.length - 1] as Program;
      const rest = args.slice(0, -1);
      const options = rest[rest.length - 1] as Record<string, unknown> | undefined;
      const logLevel = (command.optsWithGlobals() as { logLevel?: string }).logLevel;
      if (options && typeof options === 'object' && logLevel !== undefined) rest[rest.length - 1] = { ...options, logLevel };
      const action = await load();
      setExitCode(await action(io, ...rest));
    };
  program
    .description('Event-sourced payment ledger on Cloud Spanner and Kafka')
    .version(packageVersion())
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .addOption(
      new Option('--log-level <level>', 'structured log level of consume, publish and projections run --follow (JSON lines on stderr; env SPANLEDGER_LOG_LEVEL, default info)')
        .choices(LOG_LEVEL_CHOICES),
    )
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  registerPaymentCommands(program, run);
  registerSetupCommands(program, run);
  registerProjectionCommands(program, run);
  registerBooksCommands(program, run);
  registerKafkaCommands(program, run);
  registerDoctorCommand(program, run);
  addSpannerPreflight(program, io);
  return program;
}

/** Every command that takes --database talks to Spanner: check the emulator is reachable first. */
function addSpannerPreflight(program: Program, io: CliIo): void {
  const visit = (command: Program) => {
    // `dev up` starts the emulator; `doctor` reports an unreachable one as a failed check.
    if (command.options.some((option) => option.long === '--database') && command.name() !== 'up' && command.name() !== 'doctor') {
      command.hook('preAction', async (_self, actionCommand) => {
        const { preflight } = await import('./context');
        // `db migrate` creates the database; every other command needs it to exist.
        await preflight(io, actionCommand.opts(), { createsDatabase: actionCommand.name() === 'migrate' });
      });
    }
    command.commands.forEach(visit);
  };
  visit(program);
}

/** Runs the CLI and returns its exit code; never calls process.exit (tests call this). */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<ExitCode> {
  useNativeSha256();
  let exitCode: ExitCode = EXIT.ok;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors were already printed.
      return error.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    }
    if (error instanceof CliError) {
      writeLine(io.stderr, `spanledger: ${error.message}`);
      if (error.suggestion) writeLine(io.stderr, `  hint: ${error.suggestion}`);
      return error.exitCode;
    }
    if (error instanceof DamagedHistoryError) {
      writeLine(io.stderr, `spanledger: ${error.message}`);
      return EXIT.mismatch;
    }
    const code = (error as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      writeLine(io.stderr, `spanledger: ${(error as Error).message}`);
      return EXIT.invalid;
    }
    writeLine(io.stderr, `spanledger: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return EXIT.failure;
  }
}

/**
 * Process entry point (bin/spanledger.js). Exits explicitly once the command is done: the
 * Spanner client keeps background work (session pools, credential lookups) that would
 * otherwise hold the process open or fail later as an unhandled rejection.
 */
export function main(argv: readonly string[]): void {
  // `spanledger ... | head` closes the pipe early: that is the reader's choice. The command
  // still runs to its end (a submit applies every line, never half a file) and exits with its
  // usual code; only its output is dropped from then on (writeLine skips a closed stream).
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
    throw error;
  });
  const flushed = (stream: NodeJS.WriteStream, then: () => void) => (stream.destroyed ? then() : stream.write('', () => then()));
  const exit = (code: number) => flushed(process.stdout, () => flushed(process.stderr, () => process.exit(code)));
  runCli(argv.slice(2)).then(exit, (error) => {
    process.stderr.write(`spanledger: ${String(error)}\n`);
    exit(EXIT.failure);
  });
}
