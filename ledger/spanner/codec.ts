import { PreciseDate } from '@google-cloud/precise-date';
import { Account, Charge } from '../core/account';
import { parseEventPayload, StoredEvent } from '../core/events';
import { EVENT_ORDER_SHARDS } from './schema';

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

export function smallInt(value: unknown): number {
  const big = int64(value);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`value ${big} is too large for a count`);
  return Number(big);
}

/** Canonical UTC text with nanoseconds ("2026-01-02T03:04:05.123456789Z"); sorts as time sorts. */
export function timestampText(value: unknown): string {
  let date: PreciseDate;
  if (value instanceof PreciseDate) date = value;
  else if (value instanceof Date || typeof value === 'string') date = new PreciseDate(value as string);
  else throw new TypeError(`not a TIMESTAMP cell: ${String(value)}`);
  const nanos = BigInt(date.getFullTimeString());
  const seconds = nanos / 1_000_000_000n;
  const fraction = (nanos % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
}

/** Business time as stored (TIMESTAMP) back to the canonical microsecond text. */
export function occurredAtText(value: unknown): string {
  const nanos = timestampText(value);
  return `${nanos.slice(0, 26)}Z`;
}

export function shardOf(eventId: string): number {
  return parseInt(eventId.slice(0, 4), 16) % EVENT_ORDER_SHARDS;
}

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
] as const;

export type Row = Record<string, unknown>;

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
    occurredAt: occurredAtText(row.OccurredAt),
    contentDigest: String(row.ContentDigest),
    committedAt: timestampText(row.CommittedAt),
  } as StoredEvent;
}

export const ACCOUNT_COLUMNS = [
  'UserId',
  'Version',
  'BalanceMicroUsd',
  'DepositsMicroUsd',
  'BonusesMicroUsd',
  'ChargesMicroUsd',
  'PendingMicroUsd',
  'AdjustmentsMicroUsd',
] as const;

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
    UpdatedAt: 'spanner.commit_timestamp()',
  };
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
