import { formatUsd } from '../ledger/core/money';
import { transactionJson } from '../projections/core';
import { ConnectionFlags, openStore, resolveSettings } from './context';
import { explainReadError } from './read-errors';
import { EXIT, ExitCode } from './errors';
import { CliIo, renderTable, writeLine } from './io';

export interface TransactionsFlags extends ConnectionFlags {
  readonly json?: boolean;
  readonly limit?: number;
  readonly stale?: boolean;
  /** A business time: the rows that occurred at or before it, with the status each had then. */
  readonly asOf?: string;
}

/**
 * A user's transactions from the transaction view. Unless --stale, the views are caught up
 * first (read-your-writes): everything committed before the command started is applied.
 */
export async function transactions(io: CliIo, userId: string, flags: TransactionsFlags): Promise<ExitCode> {
  const { runProjector } = await import('../projections/spanner/runtime');
  const { readTransactions } = await import('../projections/spanner/operations');
  const { parseAsOf } = await import('../projections/spanner/books');
  const store = openStore(io, flags);
  let page;
  try {
    const asOf = flags.asOf === undefined ? undefined : parseAsOf(flags.asOf);
    if (!flags.stale) await runProjector(store.connection, store, { projections: ['transactions'] });
    page = await readTransactions(store.connection, userId, flags.limit ?? 100, { asOf });
  } catch (error) {
    throw explainReadError(error, resolveSettings(io, flags));
  } finally {
    await store.close();
  }
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify({ userId, generation: page.generation, transactions: page.rows.map(transactionJson) }));
    return EXIT.ok;
  }
  writeLine(io.stdout, `user ${userId}: ${page.rows.length} transaction(s)${flags.asOf === undefined ? '' : ` as of ${flags.asOf}`}, newest first`);
  if (page.rows.length > 0) {
    writeLine(
      io.stdout,
      renderTable(
        ['OCCURRED AT', 'TYPE', 'SOURCE', 'STATUS', 'USD', 'DESCRIPTION', 'ID'],
        page.rows.map((row) => [row.occurredAt, row.type, row.source, row.status, formatUsd(row.amountMicroUsd), row.description, row.id]),
        new Set([4]),
      ),
    );
  }
  return EXIT.ok;
}
