import { Command as Program } from 'commander';
import { Action, positiveInteger, Run, withConnection, withDeadline } from './program-kit';

/** Registers `accounts` (the books) and `audit`. */
export function registerBooksCommands(program: Program, run: Run): void {
  withDeadline(withConnection(program.command('accounts')))
    .description('The books: every account of the chart with its debits, credits and balance, at one cut of the log')
    .option('--at <commitTimestamp>', 'the books as they were at this commit timestamp (default: the latest the view has)')
    .option('--prefix <prefix>', 'only accounts whose name starts with this, e.g. chain: or user:alice')
    .option('--json', 'print ONE JSON object: {"at","accounts":[{"account","debitsMicroUsd","creditsMicroUsd","balanceMicroUsd"}],"totalMicroUsd"}')
    .option('--stale', 'read the view as it is, without catching it up first')
    .addHelpText(
      'after',
      `
The chart of accounts (a balance is credits - debits):
  user:<userId>             the user's available balance
  user:<userId>:pending     money held by the user's pending charges
  chain:<source>:<chainId>  token inflow (minus what came in), e.g. chain:ethereum:1
  expense:bonus             deposit bonuses (minus what was granted)
  revenue:invoices          charges and invoice payments, less voided payments
  equity:adjustments        operator adjustments
':' and '%' in a user ID are written %3A and %25. Without --prefix the total is 0.
System accounts come first, by name; then users, by user ID.

Examples:
  $ spanledger accounts
  $ spanledger accounts --prefix chain: --json
  $ spanledger accounts --at 2026-03-01T12:00:00.123456789Z`,
    )
    .action(run(async () => (await import('./books')).accounts as Action));

  withDeadline(withConnection(program.command('audit')))
    .description('Check the whole ledger at one read timestamp: postings, books, accounts, views and the hash chains')
    .option('--at <commitTimestamp>', 'audit the database as it was then (within its version retention, 1 h by default)')
    .option('--json', 'print ONE JSON object: {"ok","findings":[{"check","eventId"?,"streamId"?,"detail"}],...}')
    .option('--limit <n>', 'report at most N findings (all are counted)', positiveInteger('--limit', 1_000_000), 1000)
    .addHelpText(
      'after',
      `
Checks, all at one read timestamp:
  postings  every event's postings balance and match what its type and payload imply
  books     all accounts sum to 0, and each equals the sum of its postings
  accounts  every Accounts row is the fold of its stream; user accounts equal its balances
  views     the views equal the log (what \`projections verify\` checks)
  chain     every stream's hash chain is intact, up to the head beside its account
The log is streamed: memory holds a page of it, never all of it.
Exit code 0 when clean, 5 when anything is found (each finding names the event or stream).

Examples:
  $ spanledger audit
  $ spanledger audit --json --limit 20`,
    )
    .action(run(async () => (await import('./books')).audit as Action));
}
