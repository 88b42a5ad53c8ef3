import { LedgerEvent } from './events';
import { MicroUsd } from './money';

/**
 * The books: every event that moves money posts transfers between named accounts, derived
 * here, deterministically, from the event alone. An account's balance is credits − debits:
 * a user's account is their available balance, a chain account is minus what came in from
 * that chain, revenue is plus what was charged, and all accounts together sum to 0.
 *
 * The chart of accounts:
 *   user:<userId>            the user's available balance
 *   user:<userId>:pending    money held by the user's pending charges
 *   chain:<source>:<chainId> token inflow, e.g. chain:ethereum:1, chain:zksync:324
 *   expense:bonus            deposit bonuses
 *   revenue:invoices         charges and invoice payments (a void's refund moves money back out)
 *   equity:adjustments       operator adjustments
 *
 * Names are unambiguous whatever a user ID holds: ':' and '%' in a user ID are written as
 * %3A and %25, so no user can be named so that their account is another's pending account.
 */
export interface Posting {
  readonly debit: string;
  readonly credit: string;
  /** Always > 0. */
  readonly amountMicroUsd: MicroUsd;
}

export const SYSTEM_ACCOUNTS = { bonus: 'expense:bonus', revenue: 'revenue:invoices', adjustments: 'equity:adjustments' } as const;

function escapePart(part: string): string {
  return part.replace(/%/g, '%25').replace(/:/g, '%3A');
}

export function userAccount(userId: string): string {
  return `user:${escapePart(userId)}`;
}

export function pendingAccount(userId: string): string {
  return `user:${escapePart(userId)}:pending`;
}

export function chainAccount(source: string, chainId: string): string {
  return `chain:${escapePart(source)}:${escapePart(chainId)}`;
}

/** A user account or a user's pending account: kept with the user's balance, never in one shared row. */
export function isUserAccount(account: string): boolean {
  return account.startsWith('user:');
}

function posting(debit: string, credit: string, amount: MicroUsd): Posting[] {
  return amount > 0n ? [{ debit, credit, amountMicroUsd: amount }] : [];
}

/** The rule of the books: the postings of one event (none for events that move no money). */
export type PostingRule = (event: LedgerEvent) => Posting[];

export const postingsOf: PostingRule = (event) => {
  switch (event.type) {
    case 'TokenDeposited': {
      const p = event.payload;
      return posting(chainAccount(p.source, p.chainId), userAccount(p.userId), BigInt(p.amountMicroUsd));
    }
    case 'DepositBonusGranted':
      return posting(SYSTEM_ACCOUNTS.bonus, userAccount(event.payload.userId), BigInt(event.payload.amountMicroUsd));
    case 'InvoiceCharged': {
      const p = event.payload;
      const held = p.status === 'pending' ? pendingAccount(p.userId) : SYSTEM_ACCOUNTS.revenue;
      return posting(userAccount(p.userId), held, BigInt(p.chargedMicroUsd));
    }
    case 'ChargeSettled':
      return posting(pendingAccount(event.payload.userId), SYSTEM_ACCOUNTS.revenue, BigInt(event.payload.amountMicroUsd));
    case 'ChargeFailed':
      return posting(pendingAccount(event.payload.userId), userAccount(event.payload.userId), BigInt(event.payload.refundedMicroUsd));
    case 'BalanceAdjusted': {
      const amount = BigInt(event.payload.amountMicroUsd);
      const user = userAccount(event.payload.userId);
      return amount > 0n ? posting(SYSTEM_ACCOUNTS.adjustments, user, amount) : posting(user, SYSTEM_ACCOUNTS.adjustments, -amount);
    }
    case 'InvoicePaymentMade':
      return posting(userAccount(event.payload.userId), SYSTEM_ACCOUNTS.revenue, BigInt(event.payload.amountMicroUsd));
    case 'InvoiceVoided':
      return posting(SYSTEM_ACCOUNTS.revenue, userAccount(event.payload.userId), BigInt(event.payload.refundedMicroUsd));
    case 'InvoiceOpened':
    case 'BalanceThresholdCrossed':
      return [];
    default: {
      const exhaustive: never = event;
      throw new Error(`unhandled event ${JSON.stringify(exhaustive)}`);
    }
  }
};

/** The wire form of a posting: money as a decimal string. */
export function postingJson(entry: Posting): { debit: string; credit: string; amountMicroUsd: string } {
  return { debit: entry.debit, credit: entry.credit, amountMicroUsd: entry.amountMicroUsd.toString() };
}
