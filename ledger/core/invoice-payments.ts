import { Account, Invoice, remainingOf } from './account';
import { paymentTime } from './business-causality';
import { EVENT_SCHEMA_VERSION, NewEvent } from './events';
import { accountStreamId, eventIds } from './ids';
import { compareUtf8 } from './text-order';
import { floorToCents, MicroUsd } from './money';

/**
 * The invoice payment rule: Storj's pay-invoices chore, done by the ledger itself, in the
 * transaction of the command that made money available (a deposit, a refund, an opened
 * invoice), so that no observer can fail after the commit and leave an invoice unpaid.
 *
 * - Open invoices are paid oldest first: by the business time they were opened, then by
 *   invoice ID (in Spanner's string order, the order of the index the shell reads them by).
 * - Each payment is min(what is still due, the available balance rounded down to whole
 *   cents): partly when the balance is short, again on the next deposit. Sub-cent dust stays
 *   in the balance, as in Storj.
 * - Payments stop at the first invoice the balance cannot pay a cent of.
 *
 * Each payment is an event with an ID derived from the invoice and the payment's number, so
 * a replay, a duplicate submit or a redelivery can only ever find the same payment. It is
 * dated by business-causality.ts: never before the command, the invoice or the money.
 */
export function compareInvoicesByAge(a: Invoice, b: Invoice): number {
  if (a.openedAt !== b.openedAt) return a.openedAt < b.openedAt ? -1 : 1;
  return compareUtf8(a.invoiceId, b.invoiceId);
}

export interface PaymentContext {
  /** Business time of the command that triggers the payments (no payment is dated earlier). */
  readonly occurredAt: string;
  /** The primary event of that command. */
  readonly causationEventId: string;
}

/**
 * The payments the user's open invoices get from `available`, oldest first. `open` need not
 * be sorted; invoices that are not open are ignored.
 */
export function invoicePayments(account: Pick<Account, 'userId' | 'balanceMicroUsd'> & { readonly latestCreditAt: string }, open: readonly Invoice[], context: PaymentContext): NewEvent[] {
  let available: MicroUsd = account.balanceMicroUsd;
  const payments: NewEvent[] = [];
  for (const invoice of [...open].filter((candidate) => candidate.status === 'open').sort(compareInvoicesByAge)) {
    const payable = floorToCents(available > 0n ? available : 0n);
    if (payable === 0n) break;
    const due = remainingOf(invoice);
    if (due <= 0n) continue;
    const amount = due < payable ? due : payable;
    const paymentNumber = invoice.paymentCount + 1;
    const occurredAt = paymentTime(context.occurredAt, invoice.openedAt, account.latestCreditAt);
    available -= amount;
    payments.push({
      type: 'InvoicePaymentMade',
      eventId: eventIds.invoicePayment(invoice.invoiceId, paymentNumber),
      streamId: accountStreamId(account.userId),
      occurredAt,
      schemaVersion: EVENT_SCHEMA_VERSION.InvoicePaymentMade,
      payload: {
        userId: account.userId,
        invoiceId: invoice.invoiceId,
        paymentNumber,
        amountMicroUsd: amount.toString(),
        remainingMicroUsd: (due - amount).toString(),
        causationEventId: context.causationEventId,
        occurredAt,
      },
    });
  }
  return payments;
}
