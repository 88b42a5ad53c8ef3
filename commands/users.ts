import { formatUsd } from '../ledger/core/money';
import { ConnectionFlags } from './context';
import { EXIT, ExitCode } from './errors';
import { CliIo, count, renderTable, writeLine } from './io';
import { readLedger } from './read-errors';

export interface UsersFlags extends ConnectionFlags {
  readonly prefix?: string;
  readonly limit?: number;
  readonly after?: string;
  readonly json?: boolean;
}

/**
 * `users`: the accounts on the write side (the rows commands commit), by user ID in Spanner's
 * order, a page at a time (Ledger.users). `next` is present when more follow: pass it to --after.
 */
export async function users(io: CliIo, flags: UsersFlags): Promise<ExitCode> {
  const report = await readLedger(io, flags, (ledger) => ledger.users({ prefix: flags.prefix, limit: flags.limit, after: flags.after }));
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify(report));
    return EXIT.ok;
  }
  if (report.users.length > 0) {
    writeLine(
      io.stdout,
      renderTable(
        ['USER', 'BALANCE', 'PENDING', 'STILL DUE', 'EVENTS'],
        report.users.map((user) => [user.userId, formatUsd(BigInt(user.balanceMicroUsd)), formatUsd(BigInt(user.pendingMicroUsd)), formatUsd(BigInt(user.openInvoicesMicroUsd)), String(user.version)]),
        new Set([1, 2, 3, 4]),
      ),
    );
  }
  writeLine(io.stdout, report.next ? `${count(report.users.length, 'user')}; more follow: --after ${report.next}` : count(report.users.length, 'user'));
  return EXIT.ok;
}
