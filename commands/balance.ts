import { Account, emptyAccount } from '../ledger/core/account';
import { formatUsd } from '../ledger/core/money';
import { ConnectionFlags, openStore, resolveSettings } from './context';
import { CliError, EXIT, ExitCode } from './errors';
import { explainReadError } from './read-errors';
import { CliIo, renderTable, writeLine } from './io';

export interface BalanceFlags extends ConnectionFlags {
  readonly json?: boolean;
  /** A commit timestamp: the balance as the ledger had it then. */
  readonly at?: string;
  /** A business time: the balance from every event that occurred at or before it, committed whenever. */
  readonly asOf?: string;
  /** Read the balances view as it is, without catching it up first. */
  readonly stale?: boolean;
}

/** The stable `balance --json` shape: money as decimal strings of micro-dollars. */
export function balanceJson(account: Account): Record<string, string | number> {
  return {
    userId: account.userId,
    balanceMicroUsd: account.balanceMicroUsd.toString(),
    depositsMicroUsd: account.depositsMicroUsd.toString(),
    bonusesMicroUsd: account.bonusesMicroUsd.toString(),
    chargesMicroUsd: account.chargesMicroUsd.toString(),
    pendingMicroUsd: account.pendingMicroUsd.toString(),
    adjustmentsMicroUsd: account.adjustmentsMicroUsd.toString(),
    openInvoicesMicroUsd: account.openInvoicesMicroUsd.toString(),
    version: account.version,
  };
}

/**
 * Now: reads the write-side account row, which is committed in the same transaction as the
 * events that changed it, so a strong read reflects every `submit` that returned before.
 * --at and --as-of read the balances projection (its history of the account), caught up
 * first unless --stale: they look at one account's rows, never the whole log.
 */
export async function balance(io: CliIo, userId: string, flags: BalanceFlags): Promise<ExitCode> {
  if (flags.at !== undefined && flags.asOf !== undefined) throw new CliError('give --at (commit time) or --as-of (business time), not both', EXIT.invalid);
  const store = openStore(io, flags);
  let account: Account;
  let heading = `user ${userId}`;
  try {
    if (flags.at === undefined && flags.asOf === undefined) {
      account = (await store.readAccount(userId)) ?? emptyAccount(userId);
    } else {
      const { parseAsOf, parseCommitTime, readBalanceAt, readBalanceAsOf } = await import('../projections/spanner/books');
      const { runProjector } = await import('../projections/spanner/runtime');
      const at = flags.at === undefined ? undefined : parseCommitTime(flags.at);
      const asOf = flags.asOf === undefined ? undefined : parseAsOf(flags.asOf);
      if (!flags.stale) await runProjector(store.connection, store, { projections: ['balances'] });
      const then = at !== undefined ? await readBalanceAt(store.connection, store, userId, at) : await readBalanceAsOf(store.connection, userId, asOf!);
      account = then.account;
      heading = at !== undefined ? `user ${userId}, as the ledger had it at ${at}` : `user ${userId}, as of business time ${asOf} (the log up to ${then.cut ?? 'its start'})`;
    }
  } catch (error) {
    throw explainReadError(error, resolveSettings(io, flags));
  } finally {
    await store.close();
  }
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify(balanceJson(account)));
    return EXIT.ok;
  }
  const rows: [string, bigint][] = [
    ['available balance', account.balanceMicroUsd],
    ['deposits', account.depositsMicroUsd],
    ['bonuses', account.bonusesMicroUsd],
    ['charges', -account.chargesMicroUsd],
    ['pending charges', -account.pendingMicroUsd],
    ['adjustments', account.adjustmentsMicroUsd],
    ['still due on open invoices', account.openInvoicesMicroUsd],
  ];
  writeLine(io.stdout, heading);
  writeLine(io.stdout, renderTable(['', 'USD'], rows.map(([label, amount]) => [label, formatUsd(amount)]), new Set([1])));
  return EXIT.ok;
}
