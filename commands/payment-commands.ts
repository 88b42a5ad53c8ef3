import { Command as Program } from 'commander';
import { Action, positiveInteger, Run, withConnection, withDeadline } from './program-kit';

/** The commands that decide and read payments: submit, balance, users. */
export function registerPaymentCommands(program: Program, run: Run): void {
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
}
