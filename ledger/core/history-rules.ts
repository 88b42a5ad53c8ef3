import { Account, Charge, emptyAccount, evolveCharge, evolveInvoice, Invoice, remainingOf, tryEvolveAccount } from './account';
import { bonusFor } from './decide';
import { LedgerEvent } from './events';
import { floorToCents } from './money';

/**
 * The ledger's rules, checked on a stream as stored: could the decider have written each
 * event, given the state the events before it leave? Rows can be made to agree with a
 * forged history (write a Charges row back to `pending`, and a settled charge can then be
 * failed and refunded: every row is then the fold of the log), so the audit also asks
 * whether the log itself is one the rules allow. Only money and state are checked, never
 * business dates: streams written before dates were checked keep what they were given.
 *
 * Pure: the audit and `events import` walk each stream with a StreamRules.
 */
export interface HistoryState {
  readonly account: Account;
  charge(invoiceId: string): Charge | undefined;
  invoice(invoiceId: string): Invoice | undefined;
  /** The event before this one in the stream (a bonus follows its deposit). */
  readonly previous: (LedgerEvent & { eventId: string }) | undefined;
}

type Event = LedgerEvent & { eventId: string };

/** A write-side row a stream folds to, and the last event that shaped it. */
export interface FoldedRow<T> {
  readonly value: T;
  readonly lastEventId: string;
}

/**
 * Walks one stream in order, event by event: `next` says what is wrong with each event
 * given those before it, `commitEnd` what is wrong with the state a commit leaves. It folds
 * the stream's Charges and Invoices rows as it goes (the audit compares them with what is
 * stored). Its maps are its own and updated in place, so a stream of any length costs one pass.
 */
export class StreamRules {
  private account: Account;
  private readonly charges = new Map<string, FoldedRow<Charge>>();
  private readonly invoices = new Map<string, FoldedRow<Invoice>>();
  private previous: Event | undefined;

  constructor(userId: string) {
    this.account = emptyAccount(userId);
  }

  /** The Charges rows the stream folds to so far, by invoice ID. */
  get chargeRows(): ReadonlyMap<string, FoldedRow<Charge>> {
    return this.charges;
  }

  /** The Invoices rows the stream folds to so far, by invoice ID. */
  get invoiceRows(): ReadonlyMap<string, FoldedRow<Invoice>> {
    return this.invoices;
  }

  /** The problems of `event` as the next event of the stream (empty when none); the walk moves past it either way. */
  next(event: Event): string[] {
    const state: HistoryState = {
      account: this.account,
      charge: (invoiceId) => this.charges.get(invoiceId)?.value,
      invoice: (invoiceId) => this.invoices.get(invoiceId)?.value,
      previous: this.previous,
    };
    const problems = ruleProblems(state, event);
    const evolved = tryEvolveAccount(this.account, event);
    if (evolved === 'overflow') problems.push('a total of the account leaves INT64');
    else this.account = evolved;
    if (this.account.balanceMicroUsd < 0n) problems.push(`it leaves the available balance at ${this.account.balanceMicroUsd}`);
    if (this.account.pendingMicroUsd < 0n) problems.push(`it leaves the pending amount at ${this.account.pendingMicroUsd}`);
    if (this.account.openInvoicesMicroUsd < 0n) problems.push(`it leaves ${this.account.openInvoicesMicroUsd} due on open invoices`);
    if (event.type === 'InvoiceCharged' || event.type === 'ChargeSettled' || event.type === 'ChargeFailed') {
      const charge = evolveCharge(state.charge(event.payload.invoiceId), event);
      if (charge) this.charges.set(event.payload.invoiceId, { value: charge, lastEventId: event.eventId });
    }
    if (event.type === 'InvoiceOpened' || event.type === 'InvoicePaymentMade' || event.type === 'InvoiceVoided') {
      const invoice = evolveInvoice(state.invoice(event.payload.invoiceId), event);
      if (invoice) this.invoices.set(event.payload.invoiceId, { value: invoice, lastEventId: event.eventId });
    }
    this.previous = event;
    return problems;
  }

  /**
   * What must hold after every commit of a stream: the ledger pays open invoices in the
   * transaction of the command that made money available, so no commit leaves an invoice
   * open beside a whole cent. A commit that does was cut: a payment of it is missing.
   */
  commitEnd(): string[] {
    const payable = floorToCents(this.account.balanceMicroUsd > 0n ? this.account.balanceMicroUsd : 0n);
    if (payable === 0n || this.account.openInvoiceCount === 0) return [];
    const open = [...this.invoices.values()].filter(({ value }) => value.status === 'open').map(({ value }) => value.invoiceId);
    return [`the commit leaves invoice(s) ${open.join(', ')} open with ${this.account.balanceMicroUsd} available: a payment of that commit is missing`];
  }
}

function ruleProblems(state: HistoryState, event: Event): string[] {
  const balance = state.account.balanceMicroUsd;
  switch (event.type) {
    case 'TokenDeposited':
      return BigInt(event.payload.amountMicroUsd) > 0n ? [] : ['a deposit of no money'];
    case 'DepositBonusGranted': {
      const deposit = state.previous;
      if (deposit?.type !== 'TokenDeposited' || deposit.eventId !== event.payload.depositEventId) return [`the bonus does not follow its deposit ${event.payload.depositEventId}`];
      const due = bonusFor(BigInt(deposit.payload.amountMicroUsd), event.payload.rateBps);
      return BigInt(event.payload.amountMicroUsd) === due && due > 0n ? [] : [`a bonus of ${event.payload.amountMicroUsd} where ${event.payload.rateBps} bps of the deposit is ${due}`];
    }
    case 'InvoiceCharged': {
      const { invoiceId, allowPartial, pending, status } = event.payload;
      const charged = BigInt(event.payload.chargedMicroUsd);
      const asked = BigInt(event.payload.amountMicroUsd);
      if (state.charge(invoiceId) || state.invoice(invoiceId)) return [`invoice ${invoiceId} was used before`];
      if (status !== (pending ? 'pending' : 'complete')) return [`status ${status} for a charge with pending ${pending}`];
      if (charged <= 0n || charged > asked || (!allowPartial && charged !== asked)) return [`charged ${charged} of ${asked} (partial allowed: ${allowPartial})`];
      return charged <= balance ? [] : [`charged ${charged} with ${balance} available`];
    }
    case 'ChargeSettled':
    case 'ChargeFailed': {
      const charge = state.charge(event.payload.invoiceId);
      const amount = event.type === 'ChargeSettled' ? event.payload.amountMicroUsd : event.payload.refundedMicroUsd;
      if (!charge) return [`no charge of invoice ${event.payload.invoiceId} precedes it`];
      if (charge.status !== 'pending') return [`the charge of invoice ${event.payload.invoiceId} is ${charge.status}, not pending`];
      if (charge.chargeEventId !== event.payload.chargeEventId || charge.chargedMicroUsd !== BigInt(amount)) return [`it names charge ${event.payload.chargeEventId} of ${amount}, the charge is ${charge.chargeEventId} of ${charge.chargedMicroUsd}`];
      return [];
    }
    case 'BalanceAdjusted':
      return BigInt(event.payload.amountMicroUsd) !== 0n ? [] : ['an adjustment of nothing'];
    case 'InvoiceOpened':
      if (state.charge(event.payload.invoiceId) || state.invoice(event.payload.invoiceId)) return [`invoice ${event.payload.invoiceId} was used before`];
      return BigInt(event.payload.amountMicroUsd) > 0n ? [] : ['an invoice of no money'];
    case 'InvoicePaymentMade':
      return paymentProblems(state, event.payload, balance);
    case 'InvoiceVoided': {
      const invoice = state.invoice(event.payload.invoiceId);
      if (invoice?.status !== 'open') return [`invoice ${event.payload.invoiceId} is ${invoice?.status ?? 'not opened'}, not open`];
      if (BigInt(event.payload.refundedMicroUsd) !== invoice.paidMicroUsd || BigInt(event.payload.forgivenMicroUsd) !== remainingOf(invoice)) {
        return [`it refunds ${event.payload.refundedMicroUsd} and forgives ${event.payload.forgivenMicroUsd}; ${invoice.paidMicroUsd} was paid and ${remainingOf(invoice)} is due`];
      }
      return [];
    }
    case 'BalanceThresholdCrossed':
      return BigInt(event.payload.balanceMicroUsd) === balance ? [] : [`it records a balance of ${event.payload.balanceMicroUsd}, the balance is ${balance}`];
    default: {
      const exhaustive: never = event;
      throw new Error(`unhandled event ${JSON.stringify(exhaustive)}`);
    }
  }
}

/** A payment is the next one, and exactly min(what is due, the balance to whole cents). */
function paymentProblems(state: HistoryState, payment: { invoiceId: string; paymentNumber: number; amountMicroUsd: string; remainingMicroUsd: string }, balance: bigint): string[] {
  const invoice = state.invoice(payment.invoiceId);
  if (invoice?.status !== 'open') return [`invoice ${payment.invoiceId} is ${invoice?.status ?? 'not opened'}, not open`];
  if (payment.paymentNumber !== invoice.paymentCount + 1) return [`payment number ${payment.paymentNumber} after ${invoice.paymentCount} payment(s)`];
  const due = remainingOf(invoice);
  const payable = floorToCents(balance > 0n ? balance : 0n);
  const amount = due < payable ? due : payable;
  if (BigInt(payment.amountMicroUsd) !== amount || amount <= 0n || BigInt(payment.remainingMicroUsd) !== due - amount) {
    return [`a payment of ${payment.amountMicroUsd} leaving ${payment.remainingMicroUsd}, where ${due} is due and ${balance} available pays ${amount}`];
  }
  return [];
}
