import { Command as Program, Option } from 'commander';
import { CliError, EXIT } from './errors';
import { OBSERVABILITY_HELP, withMetrics } from './kafka-commands';
import { Action, positiveInteger, Run, withConnection, withDeadline, withOutageMax } from './program-kit';

const PROJECTION_CHOICES = ['balances', 'transactions', 'invoices'];

function projectionName(text: string): string {
  if (!PROJECTION_CHOICES.includes(text)) throw new CliError(`--projection must be one of ${PROJECTION_CHOICES.join(', ')}, got ${JSON.stringify(text)}`, EXIT.invalid);
  return text;
}

/** Registers `transactions`, `invoices`, `projections ...` and `events ...`. */
export function registerProjectionCommands(program: Program, run: Run): void {
  registerViewReads(program, run);
  registerProjectionsGroup(program, run);
  registerEventsGroup(program, run);
}

/** `transactions` and `invoices`: a user's rows of the views. */
function registerViewReads(program: Program, run: Run): void {
  withDeadline(withConnection(program.command('transactions')))
    .description("Show a user's transactions (deposits, bonuses, charges, adjustments), newest first")
    .argument('<userId>', 'the user')
    .option('--json', 'print ONE JSON object: {"userId","generation","transactions":[{id,userId,type,source,status,amountMicroUsd,description,metadata,occurredAt}],"next"?}')
    .option('--limit <n>', 'at most N transactions', positiveInteger('--limit', 10_000), 100)
    .option('--stale', 'read the view as it is, without catching it up first (faster; may miss the latest writes)')
    .option('--as-of <businessTime>', 'only what occurred at or before this business time, each row with the status it had then')
    .option('--since <businessTime>', 'only rows that occurred at or after this time')
    .option('--until <businessTime>', 'only rows that occurred before this time')
    .addOption(new Option('--type <type>', 'only credits or debits').choices(['credit', 'debit']))
    .addOption(new Option('--source <source>', 'only rows of this source').choices(['ethereum', 'zksync', 'bonus', 'invoice', 'adjustment']))
    .addOption(new Option('--status <status>', 'only rows with this status (as of --as-of, when given)').choices(['complete', 'pending', 'failed']))
    .option('--after <cursor>', 'the page after this cursor (the "next" a previous page printed)')
    .addHelpText(
      'after',
      `
Order: newest first by occurredAt, ties broken by the account stream version (descending),
so a deposit's bonus (appended right after it) is listed before the deposit.
Amounts are signed decimal strings of micro-dollars: credits positive, debits negative.
Unless --stale, the views are caught up with the log first, so a submit that returned
before is always listed (read-your-writes).

--as-of B answers "what is known now about B": rows of events that occurred at or before B,
whenever they were committed; a charge settled or failed after B shows as pending.
--since is inclusive, --until exclusive, both on occurredAt. When more rows match than
--limit, "next" (JSON) or the last line names the cursor for --after.

Examples:
  $ spanledger transactions 3f1c0a2e-user
  $ spanledger transactions 3f1c0a2e-user --json --limit 10
  $ spanledger transactions 3f1c0a2e-user --as-of 2026-03-31T23:59:59Z`,
    )
    .action(run(async () => (await import('./transactions')).transactions as Action));

  withDeadline(withConnection(program.command('invoices')))
    .description("Show a user's invoices (open, paid, void) with their payments, oldest first")
    .argument('<userId>', 'the user')
    .addOption(new Option('--status <status>', 'only invoices with this status').choices(['open', 'paid', 'void']))
    .option('--json', 'print ONE JSON object: {"userId","invoices":[{invoiceId,status,amountMicroUsd,paidMicroUsd,remainingMicroUsd,description,openedAt,closedAt?,payments:[{eventId,amountMicroUsd,occurredAt}]}]}')
    .option('--stale', 'read the view as it is, without catching it up first')
    .addHelpText(
      'after',
      `
The ledger pays open invoices from the token balance itself, in the transaction of the
command that made money available: oldest first (opened at, then invoice ID), each payment
min(what is still due, the available balance rounded down to whole cents).
Unless --stale, the view is caught up with the log first (read-your-writes).

Examples:
  $ spanledger invoices 3f1c0a2e-user
  $ spanledger invoices 3f1c0a2e-user --status open --json`,
    )
    .action(run(async () => (await import('./invoices')).invoices as Action));
}

/** `projections run | rebuild | verify | status`. */
function registerProjectionsGroup(program: Program, run: Run): void {
  const projections = program.command('projections').description('Read-side views: run the projector, rebuild, verify, status');
  withOutageMax(withMetrics(withConnection(projections.command('run'))))
    .description('Catch the views up with the event log once, or keep following it with --follow')
    .option('--follow', 'keep following the log until SIGINT/SIGTERM (stops after the batch in flight)')
    .option('--poll-ms <ms>', 'poll interval while following', positiveInteger('--poll-ms', 3_600_000), 500)
    .option('--json', 'print the report as JSON')
    .addHelpText('after', `\nWith --follow it is a long-running command:${OBSERVABILITY_HELP}\n\nExamples:\n  $ spanledger projections run\n  $ spanledger projections run --follow --poll-ms 200 --metrics-port 9464`)
    .action(run(async () => (await import('./projections')).projectionsRun as Action));
  withDeadline(withConnection(projections.command('rebuild')))
    .description('Build a new generation of the views from the log, catch it up, switch readers to it atomically, drop the old one')
    .addOption(new Option('--projection <name>', 'rebuild only this projection (default: all)').argParser(projectionName))
    .option('--json', 'print the report as JSON (no progress bar)')
    .addHelpText('after', '\nExamples:\n  $ spanledger projections rebuild\n  $ spanledger projections rebuild --projection transactions --json')
    .action(run(async () => (await import('./projections')).projectionsRebuild as Action));
  withConnection(projections.command('verify'))
    .description('Fold the log at one read timestamp and compare it with the views and the Accounts at that timestamp')
    .option('--json', 'print the report as JSON')
    .option('--limit <n>', 'show at most N differences', positiveInteger('--limit', 100_000), 20)
    .option('--no-catch-up', 'do not catch the views up first (a lag then shows as "lagging", not as a mismatch)')
    .addHelpText('after', '\nExit code 0 when everything matches, 5 when there are differences.\n\nExamples:\n  $ spanledger projections verify\n  $ spanledger projections verify --json --limit 5')
    .action(run(async () => (await import('./projections')).projectionsVerify as Action));
  withConnection(projections.command('status'))
    .description('Per projection: active generation, checkpoint, lag behind the log head')
    .option('--json', 'print the status as JSON')
    .addHelpText('after', '\nExamples:\n  $ spanledger projections status\n  $ spanledger projections status --json')
    .action(run(async () => (await import('./projections')).projectionsStatus as Action));
}

/** `events export | import`. */
function registerEventsGroup(program: Program, run: Run): void {
  const events = program.command('events').description('Export and import the event log (JSON Lines)');
  withConnection(events.command('export'))
    .description('Write every event as JSON Lines in the global order, read at one consistent timestamp')
    .argument('[file]', 'output file; stdout when missing or -')
    .addHelpText(
      'after',
      `
Each line: {"eventId","type","schemaVersion","streamId","streamVersion","userId","occurredAt","committedAt","contentDigest","payload"}

Examples:
  $ spanledger events export ledger.jsonl
  $ spanledger events export | gzip > ledger.jsonl.gz`,
    )
    .action(run(async () => (await import('./events')).eventsExport as Action));
  withDeadline(withConnection(events.command('import')))
    .description('Append exported events idempotently (same event again: duplicate; different content: conflict), then catch the views up')
    .argument('<file>', 'JSON Lines file written by `events export` (- for stdin)')
    .option('--json', 'print the report as JSON')
    .option('--no-projector', 'do not catch the views up afterwards')
    .addHelpText(
      'after',
      `
Events are appended per original commit and stream, in file order, at their original stream
versions. Importing the same file twice changes nothing.
Exit code: 2 if any line is invalid (reported with its line number; valid lines are still
imported), else 3 if any group conflicted, else 0.

Examples:
  $ spanledger events import ledger.jsonl
  $ SPANNER_DATABASE_ID=copy spanledger events import ledger.jsonl --json`,
    )
    .action(run(async () => (await import('./events')).eventsImport as Action));
}
