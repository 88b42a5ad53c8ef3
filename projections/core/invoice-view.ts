import { DamagedHistoryError } from '../../ledger/core/damaged-history';
import { EventType, StoredEvent } from '../../ledger/core/events';
import { compareUtf8 } from '../../ledger/core/text-order';
import { Projection, RowKey } from './projection';

/**
 * Invoices view, one row per invoice: what it was for, what is paid and still due, and every
 * payment (the ledger pays open invoices from the token balance, oldest first, in the
 * transaction of the command that made the money available). Keyed by user and invoice: a
 * user's invoices are contiguous, listed oldest first (opened at, then invoice ID).
 */
export type InvoiceStatus = 'open' | 'paid' | 'void';

export interface InvoicePayment {
  readonly eventId: string;
  readonly amountMicroUsd: bigint;
  readonly occurredAt: string;
}

export interface InvoiceRow {
  readonly userId: string;
  readonly invoiceId: string;
  readonly status: InvoiceStatus;
  readonly amountMicroUsd: bigint;
  readonly paidMicroUsd: bigint;
  readonly description: string | null;
  /** Business time of openInvoice. */
  readonly openedAt: string;
  /** Business time of the payment that paid it in full, or of the void. */
  readonly closedAt: string | null;
  readonly payments: readonly InvoicePayment[];
}

const HANDLED: ReadonlySet<EventType> = new Set<EventType>(['InvoiceOpened', 'InvoicePaymentMade', 'InvoiceVoided']);

function keyOfEvent(event: StoredEvent): RowKey {
  return { kind: 'invoice', key: [event.payload.userId, (event.payload as { invoiceId: string }).invoiceId] };
}

export function applyToInvoice(row: InvoiceRow | undefined, event: StoredEvent): InvoiceRow {
  if (event.type === 'InvoiceOpened') {
    const p = event.payload;
    return { userId: p.userId, invoiceId: p.invoiceId, status: 'open', amountMicroUsd: BigInt(p.amountMicroUsd), paidMicroUsd: 0n, description: p.description, openedAt: p.occurredAt, closedAt: null, payments: [] };
  }
  if (!row) throw new DamagedHistoryError(`stream ${event.streamId}`, `${event.type} ${event.eventId} refers to invoice ${(event.payload as { invoiceId?: string }).invoiceId}, which no event opened`, event.eventId);
  if (event.type === 'InvoicePaymentMade') {
    const p = event.payload;
    const paid = p.remainingMicroUsd === '0';
    return {
      ...row,
      paidMicroUsd: row.paidMicroUsd + BigInt(p.amountMicroUsd),
      status: paid ? 'paid' : row.status,
      closedAt: paid ? p.occurredAt : row.closedAt,
      payments: [...row.payments, { eventId: event.eventId, amountMicroUsd: BigInt(p.amountMicroUsd), occurredAt: p.occurredAt }],
    };
  }
  if (event.type === 'InvoiceVoided') return { ...row, status: 'void', closedAt: event.payload.occurredAt };
  throw new Error(`invoices view: does not handle ${event.type}`);
}

/** Oldest first: opened at, then invoice ID. */
export function compareInvoiceRows(a: InvoiceRow, b: InvoiceRow): number {
  if (a.openedAt !== b.openedAt) return a.openedAt < b.openedAt ? -1 : 1;
  return compareUtf8(a.invoiceId, b.invoiceId);
}

/** The wire shape (`invoices --json`): money as decimal strings of µUSD. */
export function invoiceJson(row: InvoiceRow): Record<string, unknown> {
  return {
    invoiceId: row.invoiceId,
    status: row.status,
    amountMicroUsd: row.amountMicroUsd.toString(),
    paidMicroUsd: row.paidMicroUsd.toString(),
    remainingMicroUsd: (row.status === 'open' ? row.amountMicroUsd - row.paidMicroUsd : 0n).toString(),
    description: row.description,
    openedAt: row.openedAt,
    ...(row.closedAt === null ? {} : { closedAt: row.closedAt }),
    payments: row.payments.map((payment) => ({ eventId: payment.eventId, amountMicroUsd: payment.amountMicroUsd.toString(), occurredAt: payment.occurredAt })),
  };
}

export const invoiceProjection: Projection<InvoiceRow> = {
  name: 'invoices',
  handles: HANDLED,
  foldVersion: 1,
  kinds: ['invoice'],
  globalKinds: [],
  keysOf: (event) => [keyOfEvent(event)],
  apply: (lookup, event) => [applyToInvoice(lookup(keyOfEvent(event)), event)],
  keyOf: (row): RowKey => ({ kind: 'invoice', key: [row.userId, row.invoiceId] }),
  render: (row) => JSON.stringify({ userId: row.userId, ...invoiceJson(row) }),
};
