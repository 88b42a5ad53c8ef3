import { laterOf } from './time';

/**
 * Business time never runs backwards from a cause to its effect. Commands carry their own
 * `occurredAt` and may arrive in any order (a deposit found late, an invoice for last month),
 * so the as-of answers ("what is known now about B") stay true only if the ledger keeps two
 * rules, both here:
 *
 * 1. **What the ledger dates itself follows its causes.** An invoice payment is dated at the
 *    latest of: the command that triggered it, the invoice's opening, and the latest credit
 *    of the account (`latestCreditAt`). From that time on, as of any business time, the
 *    invoice existed and every credit making up today's balance had come in (later-dated
 *    debits only add to what was there), so a payment never makes an as-of balance negative,
 *    an invoice is never paid (or closed) before it opened, and what is due is never negative.
 * 2. **A command that acts on an earlier one may not precede it.** A settle or a fail is not
 *    dated before its charge; a void not before its invoice opened nor before its last
 *    payment. Such a command is rejected (`OCCURRED_BEFORE_CAUSE`) rather than re-dated: its
 *    `occurredAt` is part of its content (a replay compares it), and a refund dated before
 *    what it refunds would show, as of the time between, more money than was ever deposited,
 *    or a pending amount or charges with the wrong sign.
 *
 * Commands that are causes themselves (deposits, charges, adjustments, invoices) keep their
 * own dates, earlier or later than anything: that is the caller's statement about the world.
 */

/** The business time of a payment the ledger makes toward an invoice (rule 1). */
export function paymentTime(triggerAt: string, invoiceOpenedAt: string, latestCreditAt: string): string {
  return laterOf(laterOf(triggerAt, invoiceOpenedAt), latestCreditAt);
}

/** An earlier event a command acts on, with what it is called in a message. */
export interface Cause {
  readonly what: string;
  readonly occurredAt: string;
}

/** The first cause that the command would precede (rule 2), or undefined when it follows them all. */
export function precededCause(occurredAt: string, causes: readonly Cause[]): Cause | undefined {
  return causes.find((cause) => occurredAt < cause.occurredAt);
}
