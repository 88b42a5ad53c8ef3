import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Argument, Command as Program, CommanderError, Option } from 'commander';
import { useNativeSha256 } from '../ledger/native-sha256';
import { CliError, EXIT, EXIT_CODES_HELP, ExitCode } from './errors';
import { DamagedHistoryError } from '../ledger/core/damaged-history';
import { CliIo, processIo, writeLine } from './io';
import { registerBooksCommands } from './books-commands';
import { registerKafkaCommands } from './kafka-commands';
import { Action, positiveInteger, Run, withConnection, withDeadline } from './program-kit';
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

  withDeadline(withConnection(program.command('submit')))
    .description('Apply payment commands from JSON Lines (a file, or stdin when FILE is - or missing)')
    .argument('[file]', 'JSON Lines file of commands; - or missing reads stdin')
    .option('--batch-size <n>', 'commands per Spanner transaction (group commit; at most 100, the default)', positiveInteger('--batch-size', 100))
    .option('--dry-run', 'decide every line against the current state in one transaction that is rolled back: the same outcomes, marked "dryRun":true, nothing written')
    .option('--json', 'accepted for uniformity: submit always prints JSON lines')
    .addHelpText(
      'after',
      `
Prints one JSON line per non-empty input line, in input order:
  {"line":N,"status":"accepted"|"duplicate"|"rejected"|"invalid","eventIds":[...],"code":"...","message":"..."}
Exit code: 2 if any line is invalid, else 3 if any was rejected, else 0; 1 on infrastructure failure.
Every line is applied even when stdout closes early (\`| head\`): only the output is dropped.
SIGINT/SIGTERM stop it before its next chunk of 1,000 lines (exit 130/143): stderr says up to
which input line commands were decided; nothing after that line was applied.

Examples:
  $ spanledger submit payments.jsonl
  $ echo '{"type":"adjust","userId":"u1","amountMicroUsd":"5000000","reason":"goodwill","idempotencyKey":"ticket-42","occurredAt":"2026-01-31T12:00:00Z"}' | spanledger submit`,
    )
    .action(run(async () => (await import('./submit')).submit as Action));

  withDeadline(withConnection(program.command('balance')))
    .description("Show a user's balance and its parts")
    .argument('<userId>', 'the user')
    .option('--json', 'print one JSON object: {"userId","balanceMicroUsd",...}')
    .option('--at <commitTimestamp>', 'as the ledger had it then: everything committed at or before this commit timestamp')
    .option('--as-of <businessTime>', 'what is known now about that moment: every event that occurred at or before it, committed whenever')
    .option('--stale', 'with --at or --as-of: read the balances view as it is, without catching it up first')
    .addHelpText(
      'after',
      `
Two axes of time. --at T takes a commit timestamp (the committedAt that \`events export\`
prints) and answers what the ledger said at T. --as-of B takes a business time and answers
what is known now about B, including events committed later with an earlier occurredAt.
Both print the same fields as --json without them, and read only this user's history.

Examples:
  $ spanledger balance 3f1c0a2e-user
  $ spanledger balance 3f1c0a2e-user --json
  $ spanledger balance 3f1c0a2e-user --at 2026-03-01T12:00:00.123456789Z --json
  $ spanledger balance 3f1c0a2e-user --as-of 2026-02-28T23:59:59Z`,
    )
    .action(run(async () => (await import('./balance')).balance as Action));

  withDeadline(withConnection(program.command('users')))
    .description('List the accounts with their balances, by user ID, a page at a time')
    .option('--prefix <prefix>', 'only users whose ID starts with this')
    .option('--limit <n>', 'at most N users per page', positiveInteger('--limit', 10_000), 100)
    .option('--after <cursor>', 'the page after this cursor (the "next" a previous page printed)')
    .option('--json', 'print ONE JSON object: {"users":[{"userId","balanceMicroUsd",...}],"next"?}')
    .addHelpText('after', '\nEach user has the fields of `balance --json`. "next" is present when more users follow.\n\nExamples:\n  $ spanledger users --prefix acme- --limit 50\n  $ spanledger users --json --after dXNlci0wNDk')
    .action(run(async () => (await import('./users')).users as Action));

  program
    .command('schema')
    .description('Print the JSON Schema (draft 2020-12) of the commands or the events, for producers and consumers in other languages')
    .addArgument(new Argument('<kind>', 'which wire format').choices(['commands', 'events']))
    .option('--out <file>', 'write it to this file instead of stdout')
    .addHelpText(
      'after',
      `
Generated from the zod schemas the ledger validates with. JSON Schema cannot say everything
the ledger checks: duplicate keys, a number's exact text (1.0, 1e3), decimal strings outside
INT64, calendar validity; the ledger still refuses those (see the README).

Examples:
  $ spanledger schema commands --out command.schema.json
  $ spanledger schema events | jq '.oneOf | length'`,
    )
    .action(run(async () => (await import('./schema')).schema as Action));

  const db = program.command('db').description('Database administration');
  withConnection(db.command('migrate'))
    .description('Create the instance (emulator only) and database when missing, and apply the schema; safe to re-run')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExamples:\n  $ spanledger db migrate\n  $ SPANNER_DATABASE_ID=ledger2 spanledger db migrate --json')
    .action(run(async () => (await import('./db')).dbMigrate as Action));

  const dev = program.command('dev').description('The local development stack (Spanner emulator and embedded Kafka broker)');
  withConnection(dev.command('up'))
    .description('Start a detached emulator (and broker when kcat is installed), migrate, remember the endpoints')
    .option('--json', 'print the endpoints as JSON')
    .option('--no-kafka', 'do not start the embedded Kafka broker')
    .addHelpText('after', '\nExamples:\n  $ spanledger dev up\n  $ spanledger dev up --no-kafka')
    .action(run(async () => (await import('./dev')).devUp as Action));
  dev
    .command('down')
    .description('Stop the local stack started by `dev up`')
    .addHelpText('after', '\nExamples:\n  $ spanledger dev down')
    .action(run(async () => (await import('./dev')).devDown as Action));
  dev
    .command('status')
    .description('Show whether the local stack is running (exit 1 when it is not)')
    .option('--json', 'print the status as JSON')
    .addHelpText('after', '\nExamples:\n  $ spanledger dev status --json')
    .action(run(async () => (await import('./dev')).devStatus as Action));

  registerProjectionCommands(program, run);
  registerBooksCommands(program, run);
  registerKafkaCommands(program, run);

  withConnection(program.command('doctor'))
    .description('Check the installation: Spanner reachable, database and schema, projections, Kafka, inbox and publisher checkpoints')
    .option('--json', 'print {"ok":bool,"checks":[{"name","status","detail","hint"}]}')
    .option('--timeout-ms <ms>', 'time limit per check in ms', positiveInteger('--timeout-ms', 600_000), 10_000)
    .addHelpText(
      'after',
      `
Each check is ok, warn or fail, with what to do about it. Unlike other commands, doctor does
not stop when the emulator is unreachable: that is reported as a failed check.
Exit code: 0 when no check failed (warnings allowed), 1 when any check failed.

Examples:
  $ spanledger doctor
  $ SPANNER_DATABASE_ID=ledger2 spanledger doctor --json`,
    )
    .action(run(async () => (await import('./doctor')).doctor as Action));
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
