import { addInt64, MicroUsd } from './money';
import { LedgerEvent } from './events';
import { BUSINESS_TIME_MIN, laterOf } from './time';

/**
 * Write-side state of one user's account: what `decide` needs, folded from that user's
 * events. Stored in the Accounts table beside the events it was folded from (same commit),
 * so deciding a command reads one row, however long the history.
 */
export interface Account {
  readonly userId: string;
  /** Number of events in the account stream (its stream version). */
  readonly version: number;
  /** Available balance: deposits + bonuses − charges (complete and pending) + adjustments. */
  readonly balanceMicroUsd: MicroUsd;
  readonly depositsMicroUsd: MicroUsd;
  readonly bonusesMicroUsd: MicroUsd;
  /** Completed charges, as a positive total. */
  readonly chargesMicroUsd: MicroUsd;
  /** Charges still pending, as a positive total; already taken off the balance. */
  readonly pendingMicroUsd: MicroUsd;
  readonly adjustmentsMicroUsd: MicroUsd;
  /** Still due on the user's open invoices (not part of the balance: what it will pay). */
  readonly openInvoicesMicroUsd: MicroUsd;
  /** Open invoices of the user: when 0, a command reads none. */
  readonly openInvoiceCount: number;
  /**
   * The chain hash of the stream's last event (GENESIS before the first): written beside
   * the balance, read by the next append. Only the write side has it; views do not.
   */
  readonly chainHead?: string | null;
  /**
   * Business time of the latest event that added to the available balance (BUSINESS_TIME_MIN
   * before any): as of any business time from then on, all of today's available balance had
   * come in. The ledger dates the invoice payments it makes no earlier (see
   * business-causality.ts). Only the write side has it; undefined on a row the upgrade's
   * backfill has not reached.
   */
  readonly latestCreditAt?: string;
}

export function emptyAccount(userId: string): Account {
  return {
    userId,
    version: 0,
    balanceMicroUsd: 0n,
    depositsMicroUsd: 0n,
    bonusesMicroUsd: 0n,
    chargesMicroUsd: 0n,
    pendingMicroUsd: 0n,
    adjustmentsMicroUsd: 0n,
    openInvoicesMicroUsd: 0n,
    openInvoiceCount: 0,
    latestCreditAt: BUSINESS_TIME_MIN,
  };
}

export type MoneyField = Exclude<keyof Account, 'userId' | 'version' | 'openInvoiceCount' | 'chainHead' | 'latestCreditAt'>;
export type AccountDeltas = Partial<Record<MoneyField, bigint>> & { openInvoiceCount?: number };
type Deltas = AccountDeltas;

function deltasOf(event: LedgerEvent): Deltas {
  switch (event.type) {
    case 'TokenDeposited': {
      const amount = BigInt(event.payload.amountMicroUsd);
      return { balanceMicroUsd: amount, depositsMicroUsd: amount };
    }
    case 'DepositBonusGranted': {
      const amount = BigInt(event.payload.amountMicroUsd);
      return { balanceMicroUsd: amount, bonusesMicroUsd: amount };
    }
    case 'InvoiceCharged': {
      const charged = BigInt(event.payload.chargedMicroUsd);
      return event.payload.status === 'pending'
        ? { balanceMicroUsd: -charged, pendingMicroUsd: charged }
        : { balanceMicroUsd: -charged, chargesMicroUsd: charged };
    }
    case 'ChargeSettled': {
      const amount = BigInt(event.payload.amountMicroUsd);
      return { pendingMicroUsd: -amount, chargesMicroUsd: amount };
    }
    case 'ChargeFailed': {
      const refunded = BigInt(event.payload.refundedMicroUsd);
      return { pendingMicroUsd: -refunded, balanceMicroUsd: refunded };
    }
    case 'BalanceAdjusted': {
      const amount = BigInt(event.payload.amountMicroUsd);
      return { balanceMicroUsd: amount, adjustmentsMicroUsd: amount };
    }
    case 'InvoiceOpened':
      return { openInvoicesMicroUsd: BigInt(event.payload.amountMicroUsd), openInvoiceCount: 1 };
    case 'InvoicePaymentMade': {
      // A payment counts as a charge: taken from the balance, no longer due.
      const amount = BigInt(event.payload.amountMicroUsd);
      return { balanceMicroUsd: -amount, chargesMicroUsd: amount, openInvoicesMicroUsd: -amount, openInvoiceCount: event.payload.remainingMicroUsd === '0' ? -1 : 0 };
    }
    case 'InvoiceVoided': {
      // The payments come back (charges undone); what was still due is due no more.
      const refunded = BigInt(event.payload.refundedMicroUsd);
      return { balanceMicroUsd: refunded, chargesMicroUsd: -refunded, openInvoicesMicroUsd: -BigInt(event.payload.forgivenMicroUsd), openInvoiceCount: -1 };
    }
    case 'BalanceThresholdCrossed':
      return {};
    default: {
      const exhaustive: never = event;
      throw new Error(`unhandled event ${JSON.stringify(exhaustive)}`);
    }
  }
}

/**
 * The account's latest credit time, which dating an invoice payment needs. An account with
 * events and none belongs to a database whose upgrade to schema version 6 has not finished
 * its backfill: a payment dated without it could precede the money, so it stops here.
 */
export function latestCreditOf(account: Account): string {
  if (account.latestCreditAt !== undefined) return account.latestCreditAt;
  if (account.version === 0) return BUSINESS_TIME_MIN;
  throw new Error(`account ${account.userId} has ${account.version} events but no latest credit time: the upgrade's backfill has not run; run \`spanledger db migrate\``);
}

/** How an event moves each total of its account (absent: unchanged). */
export function accountDeltas(event: LedgerEvent): AccountDeltas {
  return deltasOf(event);
}

/** How much an event moves the available balance (unbounded: no INT64 check here). */
export function balanceChange(event: LedgerEvent): bigint {
  return deltasOf(event).balanceMicroUsd ?? 0n;
}

/** The account after one event, or 'overflow' when any total would leave INT64. */
export function tryEvolveAccount(account: Account, event: LedgerEvent): Account | 'overflow' {
  const { openInvoiceCount = 0, ...money } = deltasOf(event);
  const next: Record<string, unknown> = { ...account, version: account.version + 1, openInvoiceCount: account.openInvoiceCount + openInvoiceCount };
  if ((money.balanceMicroUsd ?? 0n) > 0n && account.latestCreditAt !== undefined) next.latestCreditAt = laterOf(account.latestCreditAt, event.payload.occurredAt);
  for (const [field, delta] of Object.entries(money) as [MoneyField, bigint][]) {
    const sum = addInt64(account[field], delta);
    if (sum === undefined) return 'overflow';
    next[field] = sum;
  }
  return next as unknown as Account;
}

/** Folds events into an account; an overflow here means the log itself is corrupt. */
export function evolveAccount(account: Account, event: LedgerEvent): Account {
  const next = tryEvolveAccount(account, event);
  if (next === 'overflow') throw new RangeError(`account ${account.userId}: a total left INT64 while folding ${event.type}`);
  return next;
}

/** One invoice charge as the write side tracks it (settle and fail need it). */
export interface Charge {
  readonly invoiceId: string;
  readonly userId: string;
  readonly chargeEventId: string;
  readonly chargedMicroUsd: MicroUsd;
  readonly status: 'pending' | 'complete' | 'failed';
}

/** The charge row after an event that concerns it; other events leave it as it is. */
export function evolveCharge(charge: Charge | undefined, event: LedgerEvent & { eventId: string }): Charge | undefined {
  switch (event.type) {
    case 'InvoiceCharged':
      return {
        invoiceId: event.payload.invoiceId,
        userId: event.payload.userId,
        chargeEventId: event.eventId,
        chargedMicroUsd: BigInt(event.payload.chargedMicroUsd),
        status: event.payload.status,
      };
    case 'ChargeSettled':
      return charge && { ...charge, status: 'complete' };
    case 'ChargeFailed':
      return charge && { ...charge, status: 'failed' };
    default:
      return charge;
  }
}

/**
 * One invoice as the write side tracks it: paid from the token balance by the ledger itself
 * (see invoice-payments.ts) until nothing is due, or voided.
 */
export interface Invoice {
  readonly userId: string;
  readonly invoiceId: string;
  readonly openEventId: string;
  readonly amountMicroUsd: MicroUsd;
  readonly paidMicroUsd: MicroUsd;
  /** Payments made so far; the next one is number paymentCount + 1. */
  readonly paymentCount: number;
  readonly status: 'open' | 'paid' | 'void';
  /** Business time it was opened (canonical): with the invoice ID, the order invoices are paid in. */
  readonly openedAt: string;
}

export function remainingOf(invoice: Invoice): MicroUsd {
  return invoice.amountMicroUsd - invoice.paidMicroUsd;
}

/** The invoice after an event that concerns it; other events leave it as it is. */
export function evolveInvoice(invoice: Invoice | undefined, event: LedgerEvent & { eventId: string }): Invoice | undefined {
  switch (event.type) {
    case 'InvoiceOpened':
      return {
        userId: event.payload.userId,
        invoiceId: event.payload.invoiceId,
        openEventId: event.eventId,
        amountMicroUsd: BigInt(event.payload.amountMicroUsd),
        paidMicroUsd: 0n,
        paymentCount: 0,
        status: 'open',
        openedAt: event.payload.occurredAt,
      };
    case 'InvoicePaymentMade':
      return (
        invoice && {
          ...invoice,
          paidMicroUsd: invoice.paidMicroUsd + BigInt(event.payload.amountMicroUsd),
          paymentCount: event.payload.paymentNumber,
          status: event.payload.remainingMicroUsd === '0' ? 'paid' : 'open',
        }
      );
    case 'InvoiceVoided':
      return invoice && { ...invoice, status: 'void' };
    default:
      return invoice;
  }
}
