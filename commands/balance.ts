import { formatUsd } from '../ledger/core/money';
import { ConnectionFlags } from './context';
import { EXIT, ExitCode } from './errors';
import { CliIo, renderTable, writeLine } from './io';
import { readLedger } from './read-errors';

export interface BalanceFlags extends ConnectionFlags {
  readonly json?: boolean;
  /** A commit timestamp: the balance as the ledger had it then. */
  readonly at?: string;
  /** A business time: the balance from every event that occurred at or before it, committed whenever. */
  readonly asOf?: string;
  /** Read the balances view as it is, without catching it up first. */
  readonly stale?: boolean;
}

/** `balance USER`: Ledger.balance, as JSON or as a table for people. */
export async function balance(io: CliIo, userId: string, flags: BalanceFlags): Promise<ExitCode> {
  const report = await readLedger(io, flags, (ledger) => ledger.balance(userId, { at: flags.at, asOf: flags.asOf, stale: flags.stale }));
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify(report));
    return EXIT.ok;
  }
  const heading = flags.at !== undefined ? `user ${userId}, as the ledger had it at ${flags.at}` : flags.asOf !== undefined ? `user ${userId}, as of business time ${flags.asOf}` : `user ${userId}`;
  if (!report.exists) {
    writeLine(io.stdout, `${heading}: no account exists (no event names this user${flags.at !== undefined || flags.asOf !== undefined ? ' by then' : ''})`);
    return EXIT.ok;
  }
  const rows: [string, string][] = [
    ['available balance', report.balanceMicroUsd],
    ['deposits', report.depositsMicroUsd],
    ['bonuses', report.bonusesMicroUsd],
    ['charges', report.chargesMicroUsd],
    ['pending charges', report.pendingMicroUsd],
    ['adjustments', report.adjustmentsMicroUsd],
    ['still due on open invoices', report.openInvoicesMicroUsd],
  ];
  writeLine(io.stdout, heading);
  writeLine(io.stdout, renderTable(['', 'USD'], rows.map(([label, amount]) => [label, formatUsd(BigInt(amount))]), new Set([1])));
  return EXIT.ok;
}
