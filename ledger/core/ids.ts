import { sha256Hex } from './canonical';
import type { LedgerEvent } from './events';

/**
 * Deterministic event IDs: 128 bits (32 hex digits) of SHA-256 over the event's role and
 * the command's natural key. The same payment always maps to the same IDs, so a retry or a
 * replay can only ever find its own earlier write, never create a second one. The hash
 * spreads IDs uniformly over the key space, so Spanner splits never hot-spot on them
 * (unlike sequences or timestamp-first keys).
 *
 * The parts are JSON-encoded as an array, so no choice of separator can make two
 * different keys collide ("a|b","c" vs "a","b|c").
 */
export type EventRole = 'deposit' | 'bonus' | 'charge' | 'settle' | 'fail' | 'adjust' | 'invoice' | 'invoice-payment' | 'void' | 'threshold';

export function deriveEventId(role: EventRole, ...naturalKey: string[]): string {
  return sha256Hex(JSON.stringify([role, ...naturalKey])).slice(0, 32);
}

export const eventIds = {
  deposit: (chainId: string, txHash: string, logIndex: string) => deriveEventId('deposit', chainId, txHash, logIndex),
  bonus: (depositEventId: string) => deriveEventId('bonus', depositEventId),
  charge: (invoiceId: string) => deriveEventId('charge', invoiceId),
  settle: (invoiceId: string) => deriveEventId('settle', invoiceId),
  fail: (invoiceId: string) => deriveEventId('fail', invoiceId),
  adjust: (idempotencyKey: string) => deriveEventId('adjust', idempotencyKey),
  invoice: (invoiceId: string) => deriveEventId('invoice', invoiceId),
  /** The n-th payment toward an invoice (1-based): a replay can only ever find the same one. */
  invoicePayment: (invoiceId: string, paymentNumber: number) => deriveEventId('invoice-payment', invoiceId, String(paymentNumber)),
  void: (invoiceId: string) => deriveEventId('void', invoiceId),
  /** A crossing caused by one command (its primary event), of one threshold, one way. */
  threshold: (causationEventId: string, thresholdMicroUsd: string, direction: 'up' | 'down') => deriveEventId('threshold', causationEventId, thresholdMicroUsd, direction),
};

/**
 * The ID an event must have, derived again from its type and the natural key in its payload.
 * An ID is bound to nothing else (the digest and the chain cover the content, not the ID),
 * so this is what ties them: an event stored under any other ID, or a line of an export
 * file with an edited ID, is not what the ledger wrote, and a replay of its command would
 * not find it. Every event type carries its whole natural key in its payload.
 */
export function derivedEventId(event: LedgerEvent): string {
  switch (event.type) {
    case 'TokenDeposited':
      return eventIds.deposit(event.payload.chainId, event.payload.txHash, event.payload.logIndex);
    case 'DepositBonusGranted':
      return eventIds.bonus(event.payload.depositEventId);
    case 'InvoiceCharged':
      return eventIds.charge(event.payload.invoiceId);
    case 'ChargeSettled':
      return eventIds.settle(event.payload.invoiceId);
    case 'ChargeFailed':
      return eventIds.fail(event.payload.invoiceId);
    case 'BalanceAdjusted':
      return eventIds.adjust(event.payload.idempotencyKey);
    case 'InvoiceOpened':
      return eventIds.invoice(event.payload.invoiceId);
    case 'InvoicePaymentMade':
      return eventIds.invoicePayment(event.payload.invoiceId, event.payload.paymentNumber);
    case 'InvoiceVoided':
      return eventIds.void(event.payload.invoiceId);
    case 'BalanceThresholdCrossed':
      return eventIds.threshold(event.payload.causationEventId, event.payload.thresholdMicroUsd, event.payload.direction);
    default: {
      const exhaustive: never = event;
      throw new Error(`unhandled event ${JSON.stringify(exhaustive)}`);
    }
  }
}

/** The event stream of one user's account: every money movement of that user is in it, in order. */
export function accountStreamId(userId: string): string {
  return `account-${userId}`;
}

export const EVENT_ID_PATTERN = /^[0-9a-f]{32}$/;
