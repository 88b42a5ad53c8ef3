import type { TransactionsOptions } from '../app/ledger';
import { formatUsd } from '../ledger/core/money';
import { ConnectionFlags } from './context';
import { EXIT, ExitCode } from './errors';
import { CliIo, count, renderTable, writeLine } from './io';
import { readLedger } from './read-errors';

/** The Ledger's options as flags (--limit, --as-of, --since, --until, --type, --source, --status, --after, --stale). */
export interface TransactionsFlags extends ConnectionFlags, TransactionsOptions {
  readonly json?: boolean;
}

/**
 * A user's transactions from the transaction view, newest first, filtered and paged in the
 * query (Ledger.transactions). Unless --stale, the views are caught up first
 * (read-your-writes): everything committed before the command started is listed.
 */
export async function transactions(io: CliIo, userId: string, flags: TransactionsFlags): Promise<ExitCode> {
  const { json: _json, project: _project, instance: _instance, database: _database, ...options } = flags;
  const report = await readLedger(io, flags, (ledger) => ledger.transactions(userId, options));
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify(report));
    return EXIT.ok;
  }
  const rows = report.transactions as { occurredAt: string; type: string; source: string; status: string; amountMicroUsd: string; description: string; id: string }[];
  writeLine(io.stdout, `user ${userId}: ${count(rows.length, 'transaction')}${flags.asOf === undefined ? '' : ` as of ${flags.asOf}`}, newest first`);
  if (rows.length > 0) {
    writeLine(
      io.stdout,
      renderTable(
        ['OCCURRED AT', 'TYPE', 'SOURCE', 'STATUS', 'USD', 'DESCRIPTION', 'ID'],
        rows.map((row) => [row.occurredAt, row.type, row.source, row.status, formatUsd(BigInt(row.amountMicroUsd)), row.description, row.id]),
        new Set([4]),
      ),
    );
  }
  if (report.next) writeLine(io.stdout, `more follow: --after ${report.next}`);
  return EXIT.ok;
}
