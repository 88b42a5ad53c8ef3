import { ACCOUNT_COLUMNS, accountFromRow, accountToRow, businessTimeFromMicros, businessTimeMicros, int64, Row, smallInt, timestampText } from '../../ledger/spanner/codec';
import { BalanceRow, InvoiceRow, ProjectionName, ProjectionRows, TransactionRow, ViewKey } from '../core';

/** Spanner side of a view: table, columns and the row codec (INT64 as decimal strings, never numbers). */
export interface ViewTable<R> {
  readonly table: string;
  readonly columns: readonly string[];
  /** Key columns after Generation. */
  readonly keyColumns: readonly string[];
  toRow(generation: number, row: R): Row;
  fromRow(row: Row): R;
  keyOfRow(row: Row): ViewKey;
}

/**
 * A business time read back from a view row: the exact microseconds column, or, for rows
 * written before it existed, the TIMESTAMP (exact from 1970 on).
 */
function businessTimeOf(row: Row, micros: string, timestamp: string): string {
  const exact = row[micros];
  if (exact !== null && exact !== undefined) return businessTimeFromMicros(exact);
  return `${timestampText(row[timestamp]).slice(0, 26)}Z`;
}

/** The balance view row is the write-side account row plus the time of its last event. */
export const balanceTable: ViewTable<BalanceRow> = {
  table: 'BalanceView',
  columns: [...ACCOUNT_COLUMNS, 'LastEventAt', 'LastEventAtMicros'],
  keyColumns: ['UserId'],
  toRow: (generation, row) => {
    const { UpdatedAt: _updatedAt, ...account } = accountToRow(row);
    return { Generation: String(generation), ...account, LastEventAt: row.lastEventAt, LastEventAtMicros: businessTimeMicros(row.lastEventAt) };
  },
  fromRow: (row) => ({ ...accountFromRow(row), lastEventAt: businessTimeOf(row, 'LastEventAtMicros', 'LastEventAt') }),
  keyOfRow: (row) => [String(row.UserId)],
};

const TRANSACTION_COLUMNS = [
  'UserId',
  'EventId',
  'StreamVersion',
  'Type',
  'Source',
  'Status',
  'AmountMicroUsd',
  'Description',
  'Metadata',
  'OccurredAt',
  'OccurredAtMicros',
] as const;

export const transactionTable: ViewTable<TransactionRow> = {
  table: 'TransactionView',
  columns: TRANSACTION_COLUMNS,
  keyColumns: ['UserId', 'EventId'],
  toRow: (generation, row) => ({
    Generation: String(generation),
    UserId: row.userId,
    EventId: row.id,
    StreamVersion: String(row.streamVersion),
    Type: row.type,
    Source: row.source,
    Status: row.status,
    AmountMicroUsd: row.amountMicroUsd.toString(),
    Description: row.description,
    Metadata: JSON.stringify(row.metadata),
    OccurredAt: row.occurredAt,
    OccurredAtMicros: businessTimeMicros(row.occurredAt),
  }),
  fromRow: (row) => ({
    userId: String(row.UserId),
    id: String(row.EventId),
    streamVersion: smallInt(row.StreamVersion),
    type: String(row.Type) as TransactionRow['type'],
    source: String(row.Source) as TransactionRow['source'],
    status: String(row.Status) as TransactionRow['status'],
    amountMicroUsd: int64(row.AmountMicroUsd),
    description: String(row.Description),
    metadata: JSON.parse(String(row.Metadata)) as TransactionRow['metadata'],
    occurredAt: businessTimeOf(row, 'OccurredAtMicros', 'OccurredAt'),
  }),
  keyOfRow: (row) => [String(row.UserId), String(row.EventId)],
};

export const invoiceTable: ViewTable<InvoiceRow> = {
  table: 'InvoiceView',
  columns: ['UserId', 'InvoiceId', 'Status', 'AmountMicroUsd', 'PaidMicroUsd', 'Description', 'OpenedAtMicros', 'ClosedAtMicros', 'Payments'],
  keyColumns: ['UserId', 'InvoiceId'],
  toRow: (generation, row) => ({
    Generation: String(generation),
    UserId: row.userId,
    InvoiceId: row.invoiceId,
    Status: row.status,
    AmountMicroUsd: row.amountMicroUsd.toString(),
    PaidMicroUsd: row.paidMicroUsd.toString(),
    Description: row.description,
    OpenedAt: row.openedAt,
    OpenedAtMicros: businessTimeMicros(row.openedAt),
    ClosedAtMicros: row.closedAt === null ? null : businessTimeMicros(row.closedAt),
    Payments: JSON.stringify(row.payments.map((payment) => ({ eventId: payment.eventId, amountMicroUsd: payment.amountMicroUsd.toString(), occurredAt: payment.occurredAt }))),
  }),
  fromRow: (row) => ({
    userId: String(row.UserId),
    invoiceId: String(row.InvoiceId),
    status: String(row.Status) as InvoiceRow['status'],
    amountMicroUsd: int64(row.AmountMicroUsd),
    paidMicroUsd: int64(row.PaidMicroUsd),
    description: row.Description === null || row.Description === undefined ? null : String(row.Description),
    openedAt: businessTimeFromMicros(row.OpenedAtMicros),
    closedAt: row.ClosedAtMicros === null || row.ClosedAtMicros === undefined ? null : businessTimeFromMicros(row.ClosedAtMicros),
    payments: (JSON.parse(String(row.Payments)) as { eventId: string; amountMicroUsd: string; occurredAt: string }[]).map((payment) => ({ ...payment, amountMicroUsd: BigInt(payment.amountMicroUsd) })),
  }),
  keyOfRow: (row) => [String(row.UserId), String(row.InvoiceId)],
};

export const VIEW_TABLES: { [N in ProjectionName]: ViewTable<ProjectionRows[N]> } = {
  balances: balanceTable,
  transactions: transactionTable,
  invoices: invoiceTable,
};

export const READ_JSON = { json: true, jsonOptions: { wrapNumbers: true } } as const;
