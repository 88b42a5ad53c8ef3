import { DamagedHistoryError } from '../../ledger/core/damaged-history';
import { EVENT_TYPES, EventType, StoredEvent } from '../../ledger/core/events';
import { Projection, RowKey, ViewKey } from './projection';

/**
 * Transaction view, per user, in the shape of Storj's billing transactions: one row per money
 * movement, keyed by the event ID of the event that made it: a deposit, a bonus, a charge, an
 * adjustment, an invoice payment, the refund of a failed charge, the refund of a voided
 * invoice's payments. A settle changes the status of the charge row it refers to; a fail
 * marks it "failed" and adds its refund as a row of its own, so that the amounts of a user's
 * rows always sum to the available balance (a pending charge counts: it is off the balance
 * until it fails). Opening an invoice and crossing a threshold move no money: no row.
 *
 * ORDER (the one rule, used by every reader and by rebuilds): newest first by occurredAt,
 * ties broken by the account stream version, descending. The stream version is unique per
 * user and fixed once written, so the order is total, the same on every read and after every
 * rebuild or import. A deposit and its bonus share occurredAt; the bonus is appended after
 * the deposit (higher version), so it comes first.
 */
export type TransactionType = 'credit' | 'debit';
export type TransactionSource = 'ethereum' | 'zksync' | 'bonus' | 'invoice' | 'adjustment';
export type TransactionStatus = 'complete' | 'pending' | 'failed';
export type MetadataValue = string | number | null;

export interface TransactionRow {
  readonly userId: string;
  /** Event ID of the deposit, bonus, charge or adjustment event. */
  readonly id: string;
  /** Stream version of that event: the tie-break of the order. */
  readonly streamVersion: number;
  readonly type: TransactionType;
  readonly source: TransactionSource;
  readonly status: TransactionStatus;
  /** Signed: credits positive, debits negative (µUSD). */
  readonly amountMicroUsd: bigint;
  readonly description: string;
  readonly metadata: Readonly<Record<string, MetadataValue>>;
  /** Business time, canonical RFC 3339 UTC with microseconds. */
  readonly occurredAt: string;
  /** The status the row was created with (a pending charge's is "pending"). */
  readonly initialStatus: TransactionStatus;
  /** Business time of the settle or fail that changed the status; null while it is the initial one. */
  readonly statusChangedAt: string | null;
}

/** Every event type that moves money adds a row or changes one. */
const HANDLED: ReadonlySet<EventType> = new Set<EventType>(EVENT_TYPES.filter((type) => type !== 'InvoiceOpened' && type !== 'BalanceThresholdCrossed'));

/** Newest first: occurredAt descending, then stream version descending (see the ORDER rule above). */
export function compareTransactions(a: TransactionRow, b: TransactionRow): number {
  if (a.occurredAt !== b.occurredAt) return a.occurredAt < b.occurredAt ? 1 : -1;
  return b.streamVersion - a.streamVersion;
}

function formatBps(bps: number): string {
  const whole = Math.trunc(bps / 100);
  const rest = bps % 100;
  return rest === 0 ? `${whole}%` : `${whole}.${String(rest).padStart(2, '0').replace(/0$/, '')}%`;
}

function chargeRowKey(event: StoredEvent & { type: 'ChargeSettled' | 'ChargeFailed' }): ViewKey {
  return [event.payload.userId, event.payload.chargeEventId];
}

/** The rows one event creates or changes; `existing` looks up rows already in the view. */
export function transactionRowsOf(event: StoredEvent, existing: (key: ViewKey) => TransactionRow | undefined): TransactionRow[] {
  return rowsOf(event, existing).map((row) => (row.initialStatus === undefined || row.statusChangedAt === undefined ? { ...row, initialStatus: row.status, statusChangedAt: null } : (row as TransactionRow)));
}

/** The rows of an event, before their initial status is stamped (rows it creates have its ID). */
type NewRow = Omit<TransactionRow, 'initialStatus' | 'statusChangedAt'> & Partial<Pick<TransactionRow, 'initialStatus' | 'statusChangedAt'>>;

function rowsOf(event: StoredEvent, existing: (key: ViewKey) => TransactionRow | undefined): NewRow[] {
  const base = { id: event.eventId, streamVersion: event.streamVersion, occurredAt: event.occurredAt };
  switch (event.type) {
    case 'TokenDeposited': {
      const p = event.payload;
      return [
        {
          ...base,
          userId: p.userId,
          type: 'credit',
          source: p.source,
          status: 'complete',
          amountMicroUsd: BigInt(p.amountMicroUsd),
          description: `token deposit on ${p.source} (chain ${p.chainId})`,
          metadata: { chainId: p.chainId, txHash: p.txHash, logIndex: p.logIndex, blockNumber: p.blockNumber, wallet: p.wallet },
        },
      ];
    }
    case 'DepositBonusGranted': {
      const p = event.payload;
      return [
        {
          ...base,
          userId: p.userId,
          type: 'credit',
          source: 'bonus',
          status: 'complete',
          amountMicroUsd: BigInt(p.amountMicroUsd),
          description: `deposit bonus (${formatBps(p.rateBps)})`,
          metadata: { depositEventId: p.depositEventId, rateBps: p.rateBps },
        },
      ];
    }
    case 'InvoiceCharged': {
      const p = event.payload;
      const partial = p.chargedMicroUsd !== p.amountMicroUsd;
      return [
        {
          ...base,
          userId: p.userId,
          type: 'debit',
          source: 'invoice',
          status: p.status,
          amountMicroUsd: -BigInt(p.chargedMicroUsd),
          description: partial ? `invoice ${p.invoiceId} (partial)` : `invoice ${p.invoiceId}`,
          metadata: { invoiceId: p.invoiceId, requestedMicroUsd: p.amountMicroUsd },
        },
      ];
    }
    case 'ChargeSettled':
    case 'ChargeFailed': {
      const charge = existing(chargeRowKey(event));
      if (!charge) throw new DamagedHistoryError(`stream ${event.streamId}`, `${event.type} ${event.eventId} refers to charge ${event.payload.chargeEventId}, which is not in the log`, event.eventId);
      const changedAt = event.occurredAt;
      if (event.type === 'ChargeSettled') return [{ ...charge, status: 'complete', statusChangedAt: changedAt, metadata: { ...charge.metadata, reference: event.payload.reference } }];
      const p = event.payload;
      return [
        { ...charge, status: 'failed', statusChangedAt: changedAt, metadata: { ...charge.metadata, reason: p.reason } },
        {
          ...base,
          userId: p.userId,
          type: 'credit',
          source: 'invoice',
          status: 'complete',
          amountMicroUsd: BigInt(p.refundedMicroUsd),
          description: `refund of the failed charge of invoice ${p.invoiceId}`,
          metadata: { invoiceId: p.invoiceId, chargeEventId: p.chargeEventId, reason: p.reason },
        },
      ];
    }
    case 'InvoicePaymentMade': {
      const p = event.payload;
      return [
        {
          ...base,
          userId: p.userId,
          type: 'debit',
          source: 'invoice',
          status: 'complete',
          amountMicroUsd: -BigInt(p.amountMicroUsd),
          description: p.remainingMicroUsd === '0' ? `invoice ${p.invoiceId} payment ${p.paymentNumber} (paid)` : `invoice ${p.invoiceId} payment ${p.paymentNumber} (partial)`,
          metadata: { invoiceId: p.invoiceId, paymentNumber: p.paymentNumber, remainingMicroUsd: p.remainingMicroUsd },
        },
      ];
    }
    case 'InvoiceVoided': {
      const p = event.payload;
      if (p.refundedMicroUsd === '0') return [];
      return [
        {
          ...base,
          userId: p.userId,
          type: 'credit',
          source: 'invoice',
          status: 'complete',
          amountMicroUsd: BigInt(p.refundedMicroUsd),
          description: `invoice ${p.invoiceId} voided: its payments refunded`,
          metadata: { invoiceId: p.invoiceId, reason: p.reason, forgivenMicroUsd: p.forgivenMicroUsd },
        },
      ];
    }
    case 'InvoiceOpened':
    case 'BalanceThresholdCrossed':
      return [];
    case 'BalanceAdjusted': {
      const p = event.payload;
      const amount = BigInt(p.amountMicroUsd);
      return [
        {
          ...base,
          userId: p.userId,
          type: amount < 0n ? 'debit' : 'credit',
          source: 'adjustment',
          status: 'complete',
          amountMicroUsd: amount,
          description: p.reason,
          metadata: { reason: p.reason, idempotencyKey: p.idempotencyKey },
        },
      ];
    }
    default: {
      const exhaustive: never = event;
      throw new Error(`unhandled event ${JSON.stringify(exhaustive)}`);
    }
  }
}

const rowKey = (key: ViewKey): RowKey => ({ kind: 'transaction', key });

export const transactionProjection: Projection<TransactionRow> = {
  name: 'transactions',
  handles: HANDLED,
  foldVersion: 2,
  kinds: ['transaction'],
  globalKinds: [],
  keysOf: (event) => (event.type === 'ChargeSettled' || event.type === 'ChargeFailed' ? [rowKey(chargeRowKey(event))] : []),
  apply: (lookup, event) => transactionRowsOf(event, (key) => lookup(rowKey(key))),
  keyOf: (row) => rowKey([row.userId, row.id]),
  render: (row) => JSON.stringify({ ...transactionJson(row), streamVersion: row.streamVersion, initialStatus: row.initialStatus, statusChangedAt: row.statusChangedAt }),
};

/** The row as it stood at business time `asOf`: the initial status when the change came later. */
export function transactionAsOf(row: TransactionRow, asOf: string): TransactionRow {
  return row.statusChangedAt !== null && row.statusChangedAt > asOf ? { ...row, status: row.initialStatus } : row;
}

/** The wire shape (`transactions --json`): money as a signed decimal string of µUSD. */
export function transactionJson(row: TransactionRow): Record<string, unknown> {
  return {
    id: row.id,
    userId: row.userId,
    type: row.type,
    source: row.source,
    status: row.status,
    amountMicroUsd: row.amountMicroUsd.toString(),
    description: row.description,
    metadata: sortedMetadata(row.metadata),
    occurredAt: row.occurredAt,
  };
}

function sortedMetadata(metadata: Readonly<Record<string, MetadataValue>>): Record<string, MetadataValue> {
  return Object.fromEntries(Object.keys(metadata).sort().map((key) => [key, metadata[key]!]));
}
