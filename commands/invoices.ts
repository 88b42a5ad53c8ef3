import { formatUsd } from '../ledger/core/money';
import { invoiceJson, InvoiceStatus } from '../projections/core';
import { ConnectionFlags, explainSpannerError, openStore, resolveSettings } from './context';
import { EXIT, ExitCode } from './errors';
import { CliIo, renderTable, writeLine } from './io';

export interface InvoicesFlags extends ConnectionFlags {
  readonly json?: boolean;
  readonly status?: InvoiceStatus;
  readonly stale?: boolean;
}

/**
 * A user's invoices from the invoices view, oldest first. Unless --stale, the view is caught
 * up first (read-your-writes): every payment committed before the command started is listed.
 */
export async function invoices(io: CliIo, userId: string, flags: InvoicesFlags): Promise<ExitCode> {
  const { runProjector } = await import('../projections/spanner/runtime');
  const { readInvoices } = await import('../projections/spanner/operations');
  const store = openStore(io, flags);
  let page;
  try {
    if (!flags.stale) await runProjector(store.connection, store, { projections: ['invoices'] });
    page = await readInvoices(store.connection, userId, flags.status);
  } catch (error) {
    throw explainSpannerError(error, resolveSettings(io, flags));
  } finally {
    await store.close();
  }
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify({ userId, invoices: page.rows.map(invoiceJson) }));
    return EXIT.ok;
  }
  const count = page.rows.length;
  writeLine(io.stdout, `user ${userId}: ${count} invoice${count === 1 ? '' : 's'}${flags.status ? ` (${flags.status})` : ''}, oldest first`);
  if (count > 0) {
    writeLine(
      io.stdout,
      renderTable(
        ['OPENED AT', 'INVOICE', 'STATUS', 'AMOUNT', 'PAID', 'STILL DUE', 'PAYMENTS'],
        page.rows.map((row) => {
          const json = invoiceJson(row) as { remainingMicroUsd: string };
          return [row.openedAt, row.invoiceId, row.status, formatUsd(row.amountMicroUsd), formatUsd(row.paidMicroUsd), formatUsd(BigInt(json.remainingMicroUsd)), String(row.payments.length)];
        }),
        new Set([3, 4, 5, 6]),
      ),
    );
  }
  return EXIT.ok;
}
