import { Account, emptyAccount } from '../ledger/core/account';
import { formatUsd } from '../ledger/core/money';
import { ConnectionFlags, explainSpannerError, openStore, resolveSettings } from './context';
import { EXIT, ExitCode } from './errors';
import { CliIo, renderTable, writeLine } from './io';

export interface BalanceFlags extends ConnectionFlags {
  readonly json?: boolean;
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
 * Reads the write-side account row, which is committed in the same transaction as the
 * events that changed it: a strong read reflects every `submit` that returned before.
 */
export async function balance(io: CliIo, userId: string, flags: BalanceFlags): Promise<ExitCode> {
  const store = openStore(io, flags);
  let account: Account;
  try {
    account = (await store.readAccount(userId)) ?? emptyAccount(userId);
  } catch (error) {
    throw explainSpannerError(error, resolveSettings(io, flags));
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
  writeLine(io.stdout, `user ${userId}`);
  writeLine(io.stdout, renderTable(['', 'USD'], rows.map(([label, amount]) => [label, formatUsd(amount)]), new Set([1])));
  return EXIT.ok;
}
