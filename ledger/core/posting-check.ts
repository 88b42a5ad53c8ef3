import { accountDeltas } from './account';
import { LedgerEvent } from './events';
import { chainAccount, pendingAccount, Posting, SYSTEM_ACCOUNTS, userAccount } from './postings';

/**
 * The audit's first check: an event's postings balance and say what its type and payload
 * imply. It is written apart from the posting rule, from the other description of an
 * event's effect that the ledger has (the account deltas the write side folds), so that a
 * wrong rule shows up as a disagreement between the two instead of being checked against
 * itself:
 * - every posting moves a positive amount between two different accounts;
 * - the user's account moves by exactly the balance delta, the pending account by the
 *   pending delta;
 * - whatever else moves lands on the one system account the event's type names (its chain
 *   for a deposit, bonus expense, revenue, equity), and nowhere else.
 */
function systemAccountImplied(event: LedgerEvent): string | null {
  switch (event.type) {
    case 'TokenDeposited':
      return chainAccount(event.payload.source, event.payload.chainId);
    case 'DepositBonusGranted':
      return SYSTEM_ACCOUNTS.bonus;
    case 'InvoiceCharged':
      return event.payload.status === 'pending' ? null : SYSTEM_ACCOUNTS.revenue;
    case 'ChargeSettled':
    case 'InvoicePaymentMade':
    case 'InvoiceVoided':
      return SYSTEM_ACCOUNTS.revenue;
    case 'BalanceAdjusted':
      return SYSTEM_ACCOUNTS.adjustments;
    case 'ChargeFailed':
    case 'InvoiceOpened':
    case 'BalanceThresholdCrossed':
      return null;
    default: {
      const exhaustive: never = event;
      throw new Error(`unhandled event ${JSON.stringify(exhaustive)}`);
    }
  }
}

/** Net movement (credits − debits) per account of a set of postings. */
export function netByAccount(postings: readonly Posting[]): Map<string, bigint> {
  const net = new Map<string, bigint>();
  for (const { debit, credit, amountMicroUsd } of postings) {
    net.set(debit, (net.get(debit) ?? 0n) - amountMicroUsd);
    net.set(credit, (net.get(credit) ?? 0n) + amountMicroUsd);
  }
  return net;
}

/** What is wrong with an event's postings, in words (empty when they are right). */
export function postingProblems(event: LedgerEvent, postings: readonly Posting[]): string[] {
  const problems: string[] = [];
  for (const { debit, credit, amountMicroUsd } of postings) {
    if (amountMicroUsd <= 0n) problems.push(`a posting from ${debit} to ${credit} moves ${amountMicroUsd}, not a positive amount`);
    if (debit === credit) problems.push(`a posting debits and credits the same account ${debit}`);
  }
  const deltas = accountDeltas(event);
  const user = userAccount(event.payload.userId);
  const pending = pendingAccount(event.payload.userId);
  const net = netByAccount(postings);
  const expected = new Map<string, bigint>([
    [user, deltas.balanceMicroUsd ?? 0n],
    [pending, deltas.pendingMicroUsd ?? 0n],
  ]);
  const system = systemAccountImplied(event);
  const userSide = (expected.get(user) ?? 0n) + (expected.get(pending) ?? 0n);
  if (system !== null) expected.set(system, -userSide);
  else if (userSide !== 0n) problems.push(`${event.type} moves ${userSide} off the user's accounts but names no account to receive it`);
  for (const account of new Set([...expected.keys(), ...net.keys()])) {
    const want = expected.get(account) ?? 0n;
    const got = net.get(account) ?? 0n;
    if (want !== got) problems.push(`${account} moves ${got}, but a ${event.type} with this payload moves it ${want}`);
  }
  return problems;
}
