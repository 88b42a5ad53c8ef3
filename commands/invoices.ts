import { formatUsd } from '../ledger/core/money';
import { InvoiceStatus } from '../projections/core';
import { ConnectionFlags } from './context';
import { EXIT, ExitCode } from './errors';
import { CliIo, count, renderTable, writeLine } from './io';
import { readLedger } from './read-errors';

export interface InvoicesFlags extends ConnectionFlags {
  readonly json?: boolean;
  readonly status?: InvoiceStatus;
  readonly stale?: boolean;
}

/**
 * A user's invoices from the invoices view, oldest first (Ledger.invoices). Unless --stale,
 * the view is caught up first (read-your-writes): every payment committed before is listed.
 */
export async function invoices(io: CliIo, userId: string, flags: InvoicesFlags): Promise<ExitCode> {
  const report = await readLedger(io, flags, (ledger) => ledger.invoices(userId, { status: flags.status, stale: flags.stale }));
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify(report));
    return EXIT.ok;
  }
  const rows = report.invoices as { openedAt: string; invoiceId: string; status: string; amountMicroUsd: string; paidMicroUsd: string; remainingMicroUsd: string; payments: unknown[] }[];
  writeLine(io.stdout, `user ${userId}: ${count(rows.length, 'invoice')}${flags.status ? ` (${flags.status})` : ''}, oldest first`);
  if (rows.length > 0) {
    writeLine(
      io.stdout,
      renderTable(
        ['OPENED AT', 'INVOICE', 'STATUS', 'AMOUNT', 'PAID', 'STILL DUE', 'PAYMENTS'],
        rows.map((row) => [row.openedAt, row.invoiceId, row.status, formatUsd(BigInt(row.amountMicroUsd)), formatUsd(BigInt(row.paidMicroUsd)), formatUsd(BigInt(row.remainingMicroUsd)), String(row.payments.length)]),
        new Set([3, 4, 5, 6]),
      ),
    );
  }
  return EXIT.ok;
}
