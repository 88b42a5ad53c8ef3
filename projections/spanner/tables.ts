import { Account } from '../../ledger/core/account';
import { ACCOUNT_STATE_COLUMNS, accountFromRow, accountToRow, businessTimeFromMicros, businessTimeMicros, int64, numericInteger, Row, smallInt, timestampText } from '../../ledger/spanner/codec';
import {

  BalanceHistoryRow,
  BalanceMonthRow,
  BalanceRow,
  BooksRow,
  FullDeltas,
  InvoiceRow,
  ProjectionName,
  ProjectionRows,
  RowKey,
  SystemAccountRow,
  SystemHistoryRow,
  TransactionRow,
  UserBooks,
} from '../core';

/** Re-exported for the projection adapters; defined once, in the ledger's codec. */
export { READ_JSON } from '../../ledger/spanner/codec';

/** Spanner side of one kind of view row: table, columns and the row codec (INT64 as decimal strings, never numbers). */
export interface ViewTable<R> {
  readonly kind: string;
  readonly table: string;
  readonly columns: readonly string[];
  /** Key columns after Generation, in key order. */
  readonly keyColumns: readonly string[];
  toRow(generation: number, row: R): Row;
  fromRow(row: Row): R;
  keyOfRow(row: Row): RowKey;
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

const nullableText = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

/* ------------------------------------------------------------------ balances */

export const BOOKS_COLUMNS = ['UserDebitsMicroUsd', 'UserCreditsMicroUsd', 'PendingDebitsMicroUsd', 'PendingCreditsMicroUsd'] as const;

function booksToRow(books: UserBooks): Row {
  return {
    UserDebitsMicroUsd: books.userDebits.toString(),
    UserCreditsMicroUsd: books.userCredits.toString(),
    PendingDebitsMicroUsd: books.pendingDebits.toString(),
    PendingCreditsMicroUsd: books.pendingCredits.toString(),
  };
}

export function booksFromRow(row: Row): UserBooks {
  return {
    userDebits: numericInteger(row.UserDebitsMicroUsd),
    userCredits: numericInteger(row.UserCreditsMicroUsd),
    pendingDebits: numericInteger(row.PendingDebitsMicroUsd),
    pendingCredits: numericInteger(row.PendingCreditsMicroUsd),
  };
}

/** What an event (or a month of events) changed: one column per account total, prefixed Delta. */
const DELTA_FIELDS = [
  ['DeltaBalanceMicroUsd', 'balanceMicroUsd'],
  ['DeltaDepositsMicroUsd', 'depositsMicroUsd'],
  ['DeltaBonusesMicroUsd', 'bonusesMicroUsd'],
  ['DeltaChargesMicroUsd', 'chargesMicroUsd'],
  ['DeltaPendingMicroUsd', 'pendingMicroUsd'],
  ['DeltaAdjustmentsMicroUsd', 'adjustmentsMicroUsd'],
  ['DeltaOpenInvoicesMicroUsd', 'openInvoicesMicroUsd'],
] as const;
const DELTA_COLUMNS = [...DELTA_FIELDS.map(([column]) => column), 'DeltaOpenInvoiceCount'] as const;

function deltasToRow(deltas: FullDeltas): Row {
  const row: Row = Object.fromEntries(DELTA_FIELDS.map(([column, field]) => [column, deltas[field].toString()]));
  row.DeltaOpenInvoiceCount = String(deltas.openInvoiceCount);
  return row;
}

/** One event's changes are INT64 (each amount is); a month's sums are NUMERIC (see numericInteger). */
export function deltasFromRow(row: Row, money: (cell: unknown) => bigint): FullDeltas {
  const deltas = Object.fromEntries(DELTA_FIELDS.map(([column, field]) => [field, money(row[column])])) as Record<(typeof DELTA_FIELDS)[number][1], bigint>;
  return { ...deltas, openInvoiceCount: smallInt(row.DeltaOpenInvoiceCount) };
}

/** The account state columns without the row's own bookkeeping (UpdatedAt). */
function accountStateToRow(account: Account): Row {
  const { UpdatedAt: _updatedAt, ChainHead: _chainHead, ...state } = accountToRow(account);
  return state;
}

/** The balance row is the write-side account row, the time of its last event, and the books of the user's two accounts. */
export const balanceTable: ViewTable<BalanceRow> = {
  kind: 'balance',
  table: 'BalanceView',
  columns: [...ACCOUNT_STATE_COLUMNS, 'LastEventAt', 'LastEventAtMicros', ...BOOKS_COLUMNS],
  keyColumns: ['UserId'],
  toRow: (generation, row) => ({ Generation: String(generation), ...accountStateToRow(row), LastEventAt: row.lastEventAt, LastEventAtMicros: businessTimeMicros(row.lastEventAt), ...booksToRow(row.books) }),
  fromRow: (row) => ({ ...accountFromRow(row), kind: 'balance', lastEventAt: businessTimeOf(row, 'LastEventAtMicros', 'LastEventAt'), books: booksFromRow(row) }),
  keyOfRow: (row) => ({ kind: 'balance', key: [String(row.UserId)] }),
};

/** One row per user event: the account after it (its Version is the row's StreamVersion). */
export const balanceHistoryTable: ViewTable<BalanceHistoryRow> = {
  kind: 'history',
  table: 'BalanceHistoryView',
  columns: [...ACCOUNT_STATE_COLUMNS.filter((column) => column !== 'Version'), 'StreamVersion', 'CommittedAt', 'OccurredAtMicros', ...BOOKS_COLUMNS, ...DELTA_COLUMNS],
  keyColumns: ['UserId', 'StreamVersion'],
  toRow: (generation, row) => {
    const { Version: _version, ...state } = accountStateToRow(row.account);
    return {
      Generation: String(generation),
      ...state,
      StreamVersion: String(row.streamVersion),
      CommittedAt: row.committedAt,
      OccurredAtMicros: businessTimeMicros(row.occurredAt),
      ...booksToRow(row.books),
      ...deltasToRow(row.deltas),
    };
  },
  fromRow: (row) => ({
    kind: 'history',
    userId: String(row.UserId),
    streamVersion: smallInt(row.StreamVersion),
    committedAt: timestampText(row.CommittedAt),
    occurredAt: businessTimeFromMicros(row.OccurredAtMicros),
    account: accountFromRow({ ...row, Version: row.StreamVersion }),
    books: booksFromRow(row),
    deltas: deltasFromRow(row, int64),
  }),
  keyOfRow: (row) => ({ kind: 'history', key: [String(row.UserId), String(smallInt(row.StreamVersion))] }),
};

export const balanceMonthTable: ViewTable<BalanceMonthRow> = {
  kind: 'month',
  table: 'BalanceMonthsView',
  columns: ['UserId', 'MonthStartMicros', 'Events', 'LastVersion', 'LastOccurredAtMicros', ...DELTA_COLUMNS],
  keyColumns: ['UserId', 'MonthStartMicros'],
  toRow: (generation, row) => ({
    Generation: String(generation),
    UserId: row.userId,
    MonthStartMicros: businessTimeMicros(row.monthStart),
    Events: String(row.events),
    LastVersion: String(row.lastVersion),
    LastOccurredAtMicros: businessTimeMicros(row.lastOccurredAt),
    ...deltasToRow(row.deltas),
  }),
  fromRow: (row) => ({
    kind: 'month',
    userId: String(row.UserId),
    monthStart: businessTimeFromMicros(row.MonthStartMicros),
    events: smallInt(row.Events),
    lastVersion: smallInt(row.LastVersion),
    lastOccurredAt: businessTimeFromMicros(row.LastOccurredAtMicros),
    deltas: deltasFromRow(row, numericInteger),
  }),
  keyOfRow: (row) => ({ kind: 'month', key: [String(row.UserId), int64(row.MonthStartMicros).toString()] }),
};

export const systemAccountTable: ViewTable<SystemAccountRow> = {
  kind: 'system',
  table: 'SystemAccountsView',
  columns: ['Account', 'DebitsMicroUsd', 'CreditsMicroUsd'],
  keyColumns: ['Account'],
  toRow: (generation, row) => ({ Generation: String(generation), Account: row.account, DebitsMicroUsd: row.debitsMicroUsd.toString(), CreditsMicroUsd: row.creditsMicroUsd.toString() }),
  fromRow: (row) => ({ kind: 'system', account: String(row.Account), debitsMicroUsd: numericInteger(row.DebitsMicroUsd), creditsMicroUsd: numericInteger(row.CreditsMicroUsd) }),
  keyOfRow: (row) => ({ kind: 'system', key: [String(row.Account)] }),
};

/** A system account's totals after each event that posted to it, newest first in key order. */
export const systemHistoryTable: ViewTable<SystemHistoryRow> = {
  kind: 'system-history',
  table: 'SystemAccountHistoryView',
  columns: ['Account', 'CommittedAt', 'StreamId', 'StreamVersion', 'DebitsMicroUsd', 'CreditsMicroUsd'],
  keyColumns: ['Account', 'CommittedAt', 'StreamId', 'StreamVersion'],
  toRow: (generation, row) => ({
    Generation: String(generation),
    Account: row.account,
    CommittedAt: row.committedAt,
    StreamId: row.streamId,
    StreamVersion: String(row.streamVersion),
    DebitsMicroUsd: row.debitsMicroUsd.toString(),
    CreditsMicroUsd: row.creditsMicroUsd.toString(),
  }),
  fromRow: (row) => ({
    kind: 'system-history',
    account: String(row.Account),
    committedAt: timestampText(row.CommittedAt),
    streamId: String(row.StreamId),
    streamVersion: smallInt(row.StreamVersion),
    debitsMicroUsd: numericInteger(row.DebitsMicroUsd),
    creditsMicroUsd: numericInteger(row.CreditsMicroUsd),
  }),
  keyOfRow: (row) => ({ kind: 'system-history', key: [String(row.Account), timestampText(row.CommittedAt), String(row.StreamId), String(smallInt(row.StreamVersion))] }),
};

/* ------------------------------------------------------------------ transactions, invoices */

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
  'InitialStatus',
  'StatusChangedAtMicros',
] as const;

export const transactionTable: ViewTable<TransactionRow> = {
  kind: 'transaction',
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
    InitialStatus: row.initialStatus,
    StatusChangedAtMicros: row.statusChangedAt === null ? null : businessTimeMicros(row.statusChangedAt),
  }),
  fromRow: (row) => {
    const status = String(row.Status) as TransactionRow['status'];
    return {
      userId: String(row.UserId),
      id: String(row.EventId),
      streamVersion: smallInt(row.StreamVersion),
      type: String(row.Type) as TransactionRow['type'],
      source: String(row.Source) as TransactionRow['source'],
      status,
      amountMicroUsd: int64(row.AmountMicroUsd),
      description: String(row.Description),
      metadata: JSON.parse(String(row.Metadata)) as TransactionRow['metadata'],
      occurredAt: businessTimeOf(row, 'OccurredAtMicros', 'OccurredAt'),
      // Rows of generations folded before these columns existed: as if the status never changed.
      initialStatus: (nullableText(row.InitialStatus) ?? status) as TransactionRow['status'],
      statusChangedAt: row.StatusChangedAtMicros === null || row.StatusChangedAtMicros === undefined ? null : businessTimeFromMicros(row.StatusChangedAtMicros),
    };
  },
  keyOfRow: (row) => ({ kind: 'transaction', key: [String(row.UserId), String(row.EventId)] }),
};

export const invoiceTable: ViewTable<InvoiceRow> = {
  kind: 'invoice',
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
    description: nullableText(row.Description),
    openedAt: businessTimeFromMicros(row.OpenedAtMicros),
    closedAt: row.ClosedAtMicros === null || row.ClosedAtMicros === undefined ? null : businessTimeFromMicros(row.ClosedAtMicros),
    payments: (JSON.parse(String(row.Payments)) as { eventId: string; amountMicroUsd: string; occurredAt: string }[]).map((payment) => ({ ...payment, amountMicroUsd: BigInt(payment.amountMicroUsd) })),
  }),
  keyOfRow: (row) => ({ kind: 'invoice', key: [String(row.UserId), String(row.InvoiceId)] }),
};

/** The tables of each projection, by kind of row. */
export const VIEW_TABLES: { [N in ProjectionName]: Readonly<Record<string, ViewTable<ProjectionRows[N]>>> } = {
  balances: {
    balance: balanceTable as ViewTable<BooksRow>,
    history: balanceHistoryTable as ViewTable<BooksRow>,
    month: balanceMonthTable as ViewTable<BooksRow>,
    system: systemAccountTable as ViewTable<BooksRow>,
    'system-history': systemHistoryTable as ViewTable<BooksRow>,
  },
  transactions: { transaction: transactionTable },
  invoices: { invoice: invoiceTable },
};

/** The table of one kind of row of a projection. */
export function viewTable<N extends ProjectionName>(projection: N, kind: string): ViewTable<ProjectionRows[N]> {
  const table = VIEW_TABLES[projection][kind];
  if (!table) throw new Error(`projection ${projection} has no rows of kind ${kind}`);
  return table;
}

/** Every table of a projection. */
export function tablesOf(projection: ProjectionName): ViewTable<unknown>[] {
  return Object.values(VIEW_TABLES[projection]) as ViewTable<unknown>[];
}

