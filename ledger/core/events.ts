import { z } from 'zod';
import { hasLoneSurrogate } from './text-order';
import { isCanonicalBusinessTime } from './time';

/**
 * Ledger events: the only source of truth. Each event has a type, a schema version and a
 * payload whose money fields are decimal strings (µUSD). The zod schemas here are the only
 * definition of each payload's shape; the TypeScript types are inferred from them.
 */
const microUsdText = z.string().regex(/^-?(0|[1-9][0-9]*)$/, 'must be a decimal integer string');
/** A business time in its canonical form: an instant that exists (no February 30), UTC, six fractional digits. */
const timestampText = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/, 'must be canonical UTC')
  .refine(isCanonicalBusinessTime, 'must be an instant that exists, from 0001 to 9999');
const eventIdText = z.string().regex(/^[0-9a-f]{32}$/);
/** Any text of an event: well-formed Unicode, so it has one UTF-8 form in Spanner and on the wire. */
const text = z
  .string()
  .refine((value) => !hasLoneSurrogate(value), 'must be well-formed Unicode (it holds a lone UTF-16 surrogate)')
  .meta({ pattern: '^[^\\uD800-\\uDFFF]*$' });

export const TokenDeposited = z.strictObject({
  userId: text,
  source: z.enum(['ethereum', 'zksync']),
  chainId: text,
  txHash: text,
  logIndex: text,
  blockNumber: text,
  wallet: text,
  tokenValue: text,
  amountMicroUsd: microUsdText,
  occurredAt: timestampText,
});

export const DepositBonusGranted = z.strictObject({
  userId: text,
  depositEventId: eventIdText,
  rateBps: z.number().int(),
  amountMicroUsd: microUsdText,
  occurredAt: timestampText,
});

export const InvoiceCharged = z.strictObject({
  userId: text,
  invoiceId: text,
  /** What the command asked for. */
  amountMicroUsd: microUsdText,
  allowPartial: z.boolean(),
  pending: z.boolean(),
  occurredAt: timestampText,
  /** What was actually taken: less than asked only for a partial charge. */
  chargedMicroUsd: microUsdText,
  status: z.enum(['pending', 'complete']),
});

export const ChargeSettled = z.strictObject({
  invoiceId: text,
  reference: text.nullable(),
  occurredAt: timestampText,
  userId: text,
  chargeEventId: eventIdText,
  amountMicroUsd: microUsdText,
});

export const ChargeFailed = z.strictObject({
  invoiceId: text,
  reason: text,
  occurredAt: timestampText,
  userId: text,
  chargeEventId: eventIdText,
  refundedMicroUsd: microUsdText,
});

export const BalanceAdjusted = z.strictObject({
  userId: text,
  amountMicroUsd: microUsdText,
  reason: text,
  idempotencyKey: text,
  occurredAt: timestampText,
});

/** An invoice to be paid from the token balance (paid at once as far as the balance allows). */
export const InvoiceOpened = z.strictObject({
  userId: text,
  invoiceId: text,
  amountMicroUsd: microUsdText,
  description: text.nullable(),
  occurredAt: timestampText,
});

/**
 * One payment toward an open invoice, made by the ledger itself after the command that made
 * money available (`causationEventId`: that command's primary event). Numbered per invoice.
 */
export const InvoicePaymentMade = z.strictObject({
  userId: text,
  invoiceId: text,
  paymentNumber: z.number().int().positive(),
  amountMicroUsd: microUsdText,
  /** Still due after this payment; 0 means the invoice is paid. */
  remainingMicroUsd: microUsdText,
  causationEventId: eventIdText,
  occurredAt: timestampText,
});

/** An open invoice voided: what was paid toward it goes back to the available balance. */
export const InvoiceVoided = z.strictObject({
  userId: text,
  invoiceId: text,
  reason: text,
  refundedMicroUsd: microUsdText,
  /** What was still due, and is no longer. */
  forgivenMicroUsd: microUsdText,
  occurredAt: timestampText,
});

/** A command took the available balance across a configured threshold (edge-triggered). */
export const BalanceThresholdCrossed = z.strictObject({
  userId: text,
  thresholdMicroUsd: microUsdText,
  direction: z.enum(['up', 'down']),
  /** The available balance after the whole command. */
  balanceMicroUsd: microUsdText,
  causationEventId: eventIdText,
  occurredAt: timestampText,
});

export const eventPayloadSchemas = {
  TokenDeposited,
  DepositBonusGranted,
  InvoiceCharged,
  ChargeSettled,
  ChargeFailed,
  BalanceAdjusted,
  InvoiceOpened,
  InvoicePaymentMade,
  InvoiceVoided,
  BalanceThresholdCrossed,
} as const;

export type EventType = keyof typeof eventPayloadSchemas;
export const EVENT_TYPES = Object.keys(eventPayloadSchemas) as EventType[];

/** Current schema version of each event type; a reader refuses versions it does not know. */
export const EVENT_SCHEMA_VERSION: Record<EventType, number> = {
  TokenDeposited: 1,
  DepositBonusGranted: 1,
  InvoiceCharged: 1,
  ChargeSettled: 1,
  ChargeFailed: 1,
  BalanceAdjusted: 1,
  InvoiceOpened: 1,
  InvoicePaymentMade: 1,
  InvoiceVoided: 1,
  BalanceThresholdCrossed: 1,
};

export type EventPayload<T extends EventType> = z.infer<(typeof eventPayloadSchemas)[T]>;

/** A ledger event as the domain sees it: discriminated on `type`. */
export type LedgerEvent = {
  [T in EventType]: { type: T; payload: EventPayload<T> };
}[EventType];

/** An event about to be appended. */
export type NewEvent = LedgerEvent & {
  eventId: string;
  streamId: string;
  occurredAt: string;
  schemaVersion: number;
};

/** An event as stored, with its place in the stream and in the global order. */
export type StoredEvent = NewEvent & {
  streamVersion: number;
  contentDigest: string;
  /** Spanner commit timestamp, canonical UTC with nanoseconds ("…T12:00:00.123456789Z"). */
  committedAt: string;
  /** The stream's hash chain after this event (see chain.ts); null only before the upgrade's backfill reached it. */
  chainHash: string | null;
};

export function parseEventPayload(type: string, schemaVersion: number, payload: unknown): LedgerEvent {
  if (!(type in eventPayloadSchemas)) throw new Error(`unknown event type ${JSON.stringify(type)}`);
  const eventType = type as EventType;
  if (schemaVersion !== EVENT_SCHEMA_VERSION[eventType]) {
    throw new Error(`event type ${type} has schema version ${schemaVersion}; this build reads ${EVENT_SCHEMA_VERSION[eventType]}`);
  }
  return { type: eventType, payload: eventPayloadSchemas[eventType].parse(payload) } as LedgerEvent;
}

/** The user whose account an event moves. */
export function eventUserId(event: LedgerEvent): string {
  return event.payload.userId;
}
