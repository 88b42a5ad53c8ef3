import { addInt64, MicroUsd } from './money';
import { LedgerEvent } from './events';

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
  };
}

type Deltas = Partial<Record<Exclude<keyof Account, 'userId' | 'version'>, bigint>>;

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
    default: {
      const exhaustive: never = event;
      throw new Error(`unhandled event ${JSON.stringify(exhaustive)}`);
    }
  }
}

/** How much an event moves the available balance (unbounded: no INT64 check here). */
export function balanceChange(event: LedgerEvent): bigint {
  return deltasOf(event).balanceMicroUsd ?? 0n;
}

/** The account after one event, or 'overflow' when any total would leave INT64. */
export function tryEvolveAccount(account: Account, event: LedgerEvent): Account | 'overflow' {
  const next: Record<string, unknown> = { ...account, version: account.version + 1 };
  for (const [field, delta] of Object.entries(deltasOf(event)) as [keyof Deltas, bigint][]) {
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
