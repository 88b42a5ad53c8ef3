import { Argument, Command as Program } from 'commander';
import { Action, positiveInteger, Run, withConnection } from './program-kit';

/** The commands that set up an installation: schema, db, dev. */
export function registerSetupCommands(program: Program, run: Run): void {
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
}

/** `doctor`: checks the installation end to end (listed last in --help). */
export function registerDoctorCommand(program: Program, run: Run): void {
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
}
