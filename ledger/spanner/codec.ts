import { PreciseDate } from '@google-cloud/precise-date';
import { Account, Charge, Invoice } from '../core/account';
import { DamagedHistoryError } from '../core/damaged-history';
import { parseEventPayload, StoredEvent } from '../core/events';
import { formatMicros, parseBusinessTime } from '../core/time';

/**
 * Row <-> domain conversions. INT64 values are read as strings (wrapNumbers or CAST) and
 * turned into bigint, never into JS numbers; timestamps keep their nanoseconds.
 */

/** An INT64 cell as the client returns it with wrapNumbers: an Int {value}, a string, or a number. */
export function int64(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'string') return BigInt(value);
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (value !== null && typeof value === 'object' && 'value' in value) return BigInt(String((value as { value: unknown }).value));
  throw new TypeError(`not an INT64 cell: ${String(value)}`);
}

/**
 * A NUMERIC cell holding a whole number of micro-units. Views keep sums across events
 * (gross debits and credits, a month's changes) as NUMERIC: exact, 29 integer digits, since a
 * sum of INT64 amounts can leave INT64 even while every balance stays inside it.
 */
export function numericInteger(value: unknown): bigint {
  const text = value !== null && typeof value === 'object' && 'value' in value ? String((value as { value: unknown }).value) : typeof value === 'string' ? value : undefined;
  if (text === undefined || !/^-?\d+$/.test(text)) throw new TypeError(`not a whole NUMERIC cell: ${String(value)}`);
  return BigInt(text);
}

export function smallInt(value: unknown): number {
  const big = int64(value);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`value ${big} is too large for a count`);
  return Number(big);
}

/**
 * Canonical UTC text with nanoseconds ("2026-01-02T03:04:05.123456789Z"); sorts as time sorts.
 * For commit timestamps and other system times, which are after 1970. Business times never
 * come through here: the client decodes a TIMESTAMP before 1970 with `new PreciseDate(text)`,
 * which is off by one second for instants in (-1 s, 0) and for pre-1970 times whose fraction
 * has no milliseconds (0001-01-01T00:00:00.000001Z), so no arithmetic here could undo it.
 */
export function timestampText(value: unknown): string {
  let date: PreciseDate;
  if (value instanceof PreciseDate) date = value;
  else if (value instanceof Date || typeof value === 'string') date = new PreciseDate(value as string);
  else throw new TypeError(`not a TIMESTAMP cell: ${String(value)}`);
  // The instant the object holds: its Date milliseconds plus the sub-millisecond parts, which
  // PreciseDate keeps non-negative. (getFullTimeString() is wrong within a second before 1970.)
  const nanos = BigInt(date.getTime()) * 1_000_000n + BigInt(date.getMicroseconds() * 1000 + date.getNanoseconds());
  // Floor division: the seconds of an instant before the epoch are rounded down, and the
  // fraction counts forward from them, as in RFC 3339.
  const remainder = ((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const seconds = (nanos - remainder) / 1_000_000_000n;
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${remainder.toString().padStart(9, '0')}Z`;
}

/**
 * Business time from an INT64 column of microseconds since the epoch: exact for every
 * instant from 0001 to 9999. Views store business times this way beside their TIMESTAMP
 * columns (which stay for ordering and for people's SQL).
 */
export function businessTimeFromMicros(value: unknown): string {
  return formatMicros(int64(value));
}

/** The INT64 cell of a canonical business time (see businessTimeFromMicros). */
export function businessTimeMicros(canonical: string): string {
  const parsed = parseBusinessTime(canonical);
  if (!parsed.ok) throw new RangeError(`not a business time: ${canonical} (${parsed.reason})`);
  return parsed.time.micros.toString();
}

/**
 * Number of shards of the global-order index (EventsByCommit, see schema.ts): its key starts
 * with the shard, so inserts spread instead of queueing on the last split. Changing it needs
 * a data migration.
 */
export const EVENT_ORDER_SHARDS = 16;

export function shardOf(eventId: string): number {
  return parseInt(eventId.slice(0, 4), 16) % EVENT_ORDER_SHARDS;
}

/** Columns an event row is written with (OccurredAt serves SQL and indexes; see eventFromRow). */
export const EVENT_COLUMNS = [
  'EventId',
  'StreamId',
  'StreamVersion',
  'EventType',
  'SchemaVersion',
  'OccurredAt',
  'Payload',
  'ContentDigest',
  'CommittedAt',
  'ChainHash',
] as const;

/** Columns read back into a StoredEvent: OccurredAt is not among them (see eventFromRow). */
export const EVENT_READ_COLUMNS = EVENT_COLUMNS.filter((column) => column !== 'OccurredAt');

export type Row = Record<string, unknown>;

/**
 * A stored event from its row. Business time is taken from the payload, which every event
 * type carries and the content digest covers, rather than from the OccurredAt TIMESTAMP
 * column, which the client cannot decode exactly before 1970 (see timestampText).
 */
export function eventFromRow(row: Row): StoredEvent {
  const type = String(row.EventType);
  const schemaVersion = smallInt(row.SchemaVersion);
  const event = parseEventPayload(type, schemaVersion, JSON.parse(String(row.Payload)));
  return {
    ...event,
    eventId: String(row.EventId),
    streamId: String(row.StreamId),
    streamVersion: smallInt(row.StreamVersion),
    schemaVersion,
    occurredAt: event.payload.occurredAt,
    contentDigest: String(row.ContentDigest),
    committedAt: timestampText(row.CommittedAt),
    chainHash: row.ChainHash === null || row.ChainHash === undefined ? null : String(row.ChainHash),
  } as StoredEvent;
}

/** An event row read without trusting it: the event, or why its stored content does not parse. */
export type EventRowRead =
  | { readonly ok: true; readonly event: StoredEvent }
  | { readonly ok: false; readonly eventId: string; readonly streamId: string; readonly streamVersion: number; readonly reason: string };

export function tryEventFromRow(row: Row): EventRowRead {
  try {
    return { ok: true, event: eventFromRow(row) };
  } catch (error) {
    return { ok: false, eventId: String(row.EventId), streamId: String(row.StreamId), streamVersion: smallInt(row.StreamVersion), reason: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * A stored event from its row, for the ledger's own reads (deciding, projecting, exporting):
 * a row that no longer parses was edited behind the ledger's back, and says so, naming the
 * stream and the event, instead of a schema error from deep inside a read.
 */
export function storedEventFromRow(row: Row): StoredEvent {
  const read = tryEventFromRow(row);
  if (read.ok) return read.event;
  throw new DamagedHistoryError(`stream ${read.streamId}`, `event ${read.eventId} at version ${read.streamVersion} does not parse (${read.reason.split('\n')[0]}): its row was edited`, read.eventId);
}

/** The account's state columns: what the balance view shares with the Accounts row. */
export const ACCOUNT_STATE_COLUMNS = [
  'UserId',
  'Version',
  'BalanceMicroUsd',
  'DepositsMicroUsd',
  'BonusesMicroUsd',
  'ChargesMicroUsd',
  'PendingMicroUsd',
  'AdjustmentsMicroUsd',
  'OpenInvoicesMicroUsd',
  'OpenInvoiceCount',
] as const;

/** The Accounts row: the state, the stream's chain head and its latest credit time (write side only). */
export const ACCOUNT_COLUMNS = [...ACCOUNT_STATE_COLUMNS, 'ChainHead', 'LatestCreditAtMicros'] as const;

export function accountFromRow(row: Row): Account {
  return {
    userId: String(row.UserId),
    version: smallInt(row.Version),
    balanceMicroUsd: int64(row.BalanceMicroUsd),
    depositsMicroUsd: int64(row.DepositsMicroUsd),
    bonusesMicroUsd: int64(row.BonusesMicroUsd),
    chargesMicroUsd: int64(row.ChargesMicroUsd),
    pendingMicroUsd: int64(row.PendingMicroUsd),
    adjustmentsMicroUsd: int64(row.AdjustmentsMicroUsd),
    openInvoicesMicroUsd: int64(row.OpenInvoicesMicroUsd),
    openInvoiceCount: smallInt(row.OpenInvoiceCount),
    ...(row.ChainHead === undefined ? {} : { chainHead: row.ChainHead === null ? null : String(row.ChainHead) }),
    ...(row.LatestCreditAtMicros === undefined || row.LatestCreditAtMicros === null ? {} : { latestCreditAt: businessTimeFromMicros(row.LatestCreditAtMicros) }),
  };
}

export function accountToRow(account: Account): Row {
  return {
    UserId: account.userId,
    Version: String(account.version),
    BalanceMicroUsd: account.balanceMicroUsd.toString(),
    DepositsMicroUsd: account.depositsMicroUsd.toString(),
    BonusesMicroUsd: account.bonusesMicroUsd.toString(),
    ChargesMicroUsd: account.chargesMicroUsd.toString(),
    PendingMicroUsd: account.pendingMicroUsd.toString(),
    AdjustmentsMicroUsd: account.adjustmentsMicroUsd.toString(),
    OpenInvoicesMicroUsd: account.openInvoicesMicroUsd.toString(),
    OpenInvoiceCount: String(account.openInvoiceCount),
    ...(account.chainHead === undefined ? {} : { ChainHead: account.chainHead }),
    ...(account.latestCreditAt === undefined ? {} : { LatestCreditAtMicros: businessTimeMicros(account.latestCreditAt) }),
    UpdatedAt: 'spanner.commit_timestamp()',
  };
}

/**
 * The Accounts mutation that takes the row as this transaction read it (`previous`) to
 * `next`: an update of only the cells that changed (with the key and UpdatedAt), or the
 * whole row when there was none. A deposit writes 6 of the row's 12 cells (key, version,
 * balance, deposits, chain head, timestamp), and Spanner (and the emulator) charges per cell
 * written: on the emulator the account's share of a commit fell by a quarter. Safe because
 * the read locked the row: it cannot change before this commit.
 */
export function accountMutation(next: Account, previous: Account | undefined): { readonly method: 'upsert' | 'update'; readonly row: Row } {
  const row = accountToRow(next);
  if (!previous) return { method: 'upsert', row };
  const before = accountToRow(previous);
  const changed: Row = { UserId: row.UserId };
  for (const [column, value] of Object.entries(row)) if (column === 'UpdatedAt' || before[column] !== value) changed[column] = value;
  return { method: 'update', row: changed };
}

export const CHARGE_COLUMNS = ['InvoiceId', 'UserId', 'ChargeEventId', 'ChargedMicroUsd', 'Status'] as const;

export function chargeFromRow(row: Row): Charge {
  const status = String(row.Status);
  if (status !== 'pending' && status !== 'complete' && status !== 'failed') throw new Error(`charge ${String(row.InvoiceId)} has unknown status ${status}`);
  return {
    invoiceId: String(row.InvoiceId),
    userId: String(row.UserId),
    chargeEventId: String(row.ChargeEventId),
    chargedMicroUsd: int64(row.ChargedMicroUsd),
    status,
  };
}

export function chargeToRow(charge: Charge): Row {
  return {
    InvoiceId: charge.invoiceId,
    UserId: charge.userId,
    ChargeEventId: charge.chargeEventId,
    ChargedMicroUsd: charge.chargedMicroUsd.toString(),
    Status: charge.status,
    UpdatedAt: 'spanner.commit_timestamp()',
  };
}

export const INVOICE_COLUMNS = ['UserId', 'InvoiceId', 'OpenEventId', 'AmountMicroUsd', 'PaidMicroUsd', 'PaymentCount', 'Status', 'OpenedAtMicros'] as const;

export function invoiceFromRow(row: Row): Invoice {
  const status = String(row.Status);
  if (status !== 'open' && status !== 'paid' && status !== 'void') throw new Error(`invoice ${String(row.InvoiceId)} has unknown status ${status}`);
  return {
    userId: String(row.UserId),
    invoiceId: String(row.InvoiceId),
    openEventId: String(row.OpenEventId),
    amountMicroUsd: int64(row.AmountMicroUsd),
    paidMicroUsd: int64(row.PaidMicroUsd),
    paymentCount: smallInt(row.PaymentCount),
    status,
    openedAt: businessTimeFromMicros(row.OpenedAtMicros),
  };
}

/** OpenSinceMicros is set only while the invoice is open: the null-filtered index of open invoices holds exactly those. */
export function invoiceToRow(invoice: Invoice): Row {
  const openedAt = businessTimeMicros(invoice.openedAt);
  return {
    UserId: invoice.userId,
    InvoiceId: invoice.invoiceId,
    OpenEventId: invoice.openEventId,
    AmountMicroUsd: invoice.amountMicroUsd.toString(),
    PaidMicroUsd: invoice.paidMicroUsd.toString(),
    PaymentCount: String(invoice.paymentCount),
    Status: invoice.status,
    OpenedAtMicros: openedAt,
    OpenSinceMicros: invoice.status === 'open' ? openedAt : null,
    UpdatedAt: 'spanner.commit_timestamp()',
  };
}

/** Query options of every read: rows as JSON, INT64 wrapped (never a lossy number). */
export const READ_JSON = { json: true, jsonOptions: { wrapNumbers: true } } as const;
