import { Account, balanceChange, Charge, Invoice, latestCreditOf, remainingOf, tryEvolveAccount } from './account';
import { Cause, precededCause } from './business-causality';
import { DamagedHistoryError } from './damaged-history';
import { Command, CommandOf } from './commands';
import { canonicalJson, differingFields } from './canonical';
import { EVENT_SCHEMA_VERSION, LedgerEvent, NewEvent } from './events';
import { accountStreamId, eventIds } from './ids';
import { invoicePayments } from './invoice-payments';
import { LIMITS } from './limits';
import { floorToCents, MicroUsd } from './money';
import { thresholdCrossings, Thresholds } from './thresholds';

/**
 * The decider: pure. Given a command and the state it needs, it returns the events to
 * append, or says the command is a duplicate, or rejects it with a stable code. It never
 * reads a clock, generates a random ID or touches I/O; the shell reads the state, calls it,
 * and writes what it returns.
 *
 * Checks run in a fixed order: the shape was checked by the schema already; then
 * idempotency (so a replay after the balance drained is still a duplicate); then state rules.
 *
 * An accepted command appends its own events first, then what follows from them in the same
 * transaction: payments of the user's open invoices (invoice-payments.ts), then crossings of
 * the balance thresholds (thresholds.ts).
 */
export const REJECTION_CODES = [
  'INSUFFICIENT_FUNDS',
  'IDEMPOTENCY_CONFLICT',
  'CHARGE_NOT_FOUND',
  'CHARGE_NOT_PENDING',
  'AMOUNT_OVERFLOW',
  'INVOICE_EXISTS',
  'INVOICE_NOT_FOUND',
  'INVOICE_NOT_OPEN',
  'TOO_MANY_OPEN_INVOICES',
  'OCCURRED_BEFORE_CAUSE',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

export type Decision =
  | { outcome: 'accepted'; events: NewEvent[]; code?: never }
  | { outcome: 'duplicate'; eventIds: string[]; code?: never }
  | { outcome: 'rejected'; code: RejectionCode; message: string; events?: never };

/** A previously stored event, as much of it as idempotency needs. */
export interface PriorEvent {
  readonly eventId: string;
  readonly type: string;
  readonly payload: Record<string, unknown>;
}

export interface DecisionState {
  /** The account of the command's user (empty when the user has no events yet). */
  readonly account: Account;
  /** For settle/fail: the charge named by the invoice ID, when it exists. */
  readonly charge: Charge | undefined;
  /** For voidInvoice: the user's invoice with that ID, when it exists. */
  readonly invoice: Invoice | undefined;
  /** The user's open invoices (any order): what an accepted command pays. */
  readonly openInvoices: readonly Invoice[];
  /**
   * Stored events at the command's prior event IDs (see `priorEventIds`), and for a void,
   * the invoice's last payment (see `causeEventIds`).
   */
  readonly prior: ReadonlyMap<string, PriorEvent>;
  /** What commands that were applied before appended after their own events, by their primary event ID. */
  readonly followUps: ReadonlyMap<string, readonly string[]>;
  /** Bonus rate for new deposits, basis points (1000 = 10 %). */
  readonly bonusRateBps: number;
  /** Balance thresholds whose crossings are recorded (sorted, see thresholds.ts). */
  readonly thresholds: Thresholds;
}

/** The event ID the command's natural key maps to. */
export function primaryEventId(command: Command): string {
  switch (command.type) {
    case 'deposit':
      return eventIds.deposit(command.chainId, command.txHash, command.logIndex);
    case 'charge':
      return eventIds.charge(command.invoiceId);
    case 'settleCharge':
      return eventIds.settle(command.invoiceId);
    case 'failCharge':
      return eventIds.fail(command.invoiceId);
    case 'adjust':
      return eventIds.adjust(command.idempotencyKey);
    case 'openInvoice':
      return eventIds.invoice(command.invoiceId);
    case 'voidInvoice':
      return eventIds.void(command.invoiceId);
    default: {
      const exhaustive: never = command;
      throw new Error(`unhandled command ${JSON.stringify(exhaustive)}`);
    }
  }
}

/** Every event ID an application of this command may have written itself (a deposit and its bonus). */
export function possibleEventIds(command: Command): string[] {
  const primary = primaryEventId(command);
  return command.type === 'deposit' ? [primary, eventIds.bonus(primary)] : [primary];
}

/**
 * The events the decider must see before deciding: the command's own possible ones; since
 * one invoice ID names one invoice whichever command used it, the other use of its invoice
 * ID (a charge's invoice, an invoice's charge); and the charge a settle or fail acts on
 * (its business time is the earliest the settle or fail may have).
 */
export function priorEventIds(command: Command): string[] {
  const own = possibleEventIds(command);
  if (command.type === 'charge') return [...own, eventIds.invoice(command.invoiceId)];
  if (command.type === 'openInvoice' || command.type === 'settleCharge' || command.type === 'failCharge') return [...own, eventIds.charge(command.invoiceId)];
  return own;
}

/**
 * The events a void is dated against that only its invoice row can name: the invoice's
 * last payment (read once the row is known; see business-causality.ts).
 */
export function causeEventIds(invoice: Invoice | undefined): string[] {
  return invoice && invoice.paymentCount > 0 ? [eventIds.invoicePayment(invoice.invoiceId, invoice.paymentCount)] : [];
}

/**
 * The user whose account the command moves. Every command names it, so that a Kafka
 * producer can key every command by its user and keep one account's commands in order.
 */
export function commandUserId(command: Command): string {
  return command.userId;
}

/** The command's content as stored in its primary event: everything but `type`. */
function commandContent(command: Command): Record<string, unknown> {
  const { type: _type, ...content } = command;
  return content;
}

function rejected(code: RejectionCode, message: string): Decision {
  return { outcome: 'rejected', code, message };
}

function idempotencyCheck(command: Command, state: DecisionState): Decision | undefined {
  const primaryId = primaryEventId(command);
  const primary = state.prior.get(primaryId);
  if (!primary) {
    // A command writes its events in one commit: one of them without the other (a bonus
    // without its deposit) was deleted or moved behind the ledger's back.
    const orphan = possibleEventIds(command).find((id) => state.prior.has(id));
    if (orphan) throw new DamagedHistoryError(`the ${command.type} ${primaryId}`, `its event ${orphan} is stored but ${primaryId} is not`, orphan);
    return undefined;
  }
  const content = commandContent(command);
  const stored = Object.fromEntries(Object.keys(content).map((key) => [key, primary.payload[key]]));
  const fields = differingFields(stored, content);
  if (fields.length > 0) {
    // The stored values belong to whoever sent the first command: they are shown only to
    // the same user. Anyone else learns that the key is taken and which fields differ.
    const sameUser = primary.payload.userId === command.userId;
    const details = sameUser ? fields.map((field) => `${field} (stored ${canonicalJson(stored[field] ?? null)}, got ${canonicalJson(content[field] ?? null)})`) : fields;
    return rejected('IDEMPOTENCY_CONFLICT', `event ${primary.eventId} for this ${command.type} exists with different ${details.join(', ')}`);
  }
  const own = possibleEventIds(command).filter((id) => state.prior.has(id));
  return { outcome: 'duplicate', eventIds: [...own, ...(state.followUps.get(primaryId) ?? [])] };
}

function newEvent(command: Command, eventId: string, event: LedgerEvent, userId: string): NewEvent {
  return {
    ...event,
    eventId,
    streamId: accountStreamId(userId),
    occurredAt: command.occurredAt,
    schemaVersion: EVENT_SCHEMA_VERSION[event.type],
  } as NewEvent;
}

/**
 * The account after the events, or the rejection: INSUFFICIENT_FUNDS when the balance would
 * go negative (checked first: a command that cannot be paid for is that, even when a total
 * would also overflow), AMOUNT_OVERFLOW when a total would leave INT64.
 */
function applyIfAffordable(account: Account, events: readonly NewEvent[]): Account | Decision {
  const change = events.reduce((sum, event) => sum + balanceChange(event), 0n);
  if (account.balanceMicroUsd + change < 0n) {
    return rejected('INSUFFICIENT_FUNDS', `account ${account.userId} has ${account.balanceMicroUsd} µUSD available, ${-change} µUSD needed`);
  }
  let next: Account = account;
  for (const event of events) {
    const evolved = tryEvolveAccount(next, event);
    if (evolved === 'overflow') {
      return rejected('AMOUNT_OVERFLOW', `account ${account.userId}: ${event.type} would take a total outside the signed 64-bit range`);
    }
    next = evolved;
  }
  return next;
}

export function bonusFor(amount: MicroUsd, rateBps: number): MicroUsd {
  return (amount * BigInt(rateBps)) / 10_000n;
}

function depositEvents(command: CommandOf<'deposit'>, state: DecisionState): NewEvent[] {
  const depositId = primaryEventId(command);
  const { type: _type, ...content } = command;
  const events = [newEvent(command, depositId, { type: 'TokenDeposited', payload: content }, command.userId)];
  const bonus = bonusFor(BigInt(command.amountMicroUsd), state.bonusRateBps);
  if (bonus > 0n) {
    const payload = { userId: command.userId, depositEventId: depositId, rateBps: state.bonusRateBps, amountMicroUsd: bonus.toString(), occurredAt: command.occurredAt };
    events.push(newEvent(command, eventIds.bonus(depositId), { type: 'DepositBonusGranted', payload }, command.userId));
  }
  return events;
}

function chargeEvents(command: CommandOf<'charge'>, account: Account): NewEvent[] | Decision {
  const requested = BigInt(command.amountMicroUsd);
  let charged = requested;
  if (command.allowPartial && account.balanceMicroUsd < requested) {
    // Only when the full amount is not available: take what is, rounded down to whole cents
    // (min(amount, balance to cents) with amount > balance). A partial charge that could be
    // paid in full is paid in full, never cut to a round figure.
    charged = floorToCents(account.balanceMicroUsd > 0n ? account.balanceMicroUsd : 0n);
    if (charged === 0n) {
      return rejected('INSUFFICIENT_FUNDS', `account ${account.userId} has ${account.balanceMicroUsd} µUSD available, less than one cent to charge partially`);
    }
  }
  const { type: _type, ...content } = command;
  const payload = { ...content, chargedMicroUsd: charged.toString(), status: command.pending ? ('pending' as const) : ('complete' as const) };
  return [newEvent(command, primaryEventId(command), { type: 'InvoiceCharged', payload }, command.userId)];
}

function settleOrFailEvents(command: CommandOf<'settleCharge'> | CommandOf<'failCharge'>, state: DecisionState): NewEvent[] | Decision {
  const { charge } = state;
  // A charge of another user is not found: the command names the account it moves, and
  // nothing may tell one user about another's invoices.
  if (!charge || charge.userId !== command.userId) return rejected('CHARGE_NOT_FOUND', `no charge for invoice ${command.invoiceId} of user ${command.userId}`);
  if (charge.status !== 'pending') {
    return rejected('CHARGE_NOT_PENDING', `charge for invoice ${command.invoiceId} is ${charge.status}, not pending`);
  }
  const chargeEvent = causeEvent(state, charge.chargeEventId, `the Charges row of invoice ${command.invoiceId}`);
  const early = beforeCause(command, [{ what: `its charge (${chargeEvent.payload.occurredAt})`, occurredAt: String(chargeEvent.payload.occurredAt) }]);
  if (early) return early;
  const amount = charge.chargedMicroUsd.toString();
  const common = { invoiceId: command.invoiceId, occurredAt: command.occurredAt, userId: charge.userId, chargeEventId: charge.chargeEventId };
  const event: LedgerEvent =
    command.type === 'settleCharge'
      ? { type: 'ChargeSettled', payload: { ...common, reference: command.reference, amountMicroUsd: amount } }
      : { type: 'ChargeFailed', payload: { ...common, reason: command.reason, refundedMicroUsd: amount } };
  return [newEvent(command, primaryEventId(command), event, charge.userId)];
}

function openInvoiceEvents(command: CommandOf<'openInvoice'>, state: DecisionState): NewEvent[] | Decision {
  const open = state.openInvoices.filter((invoice) => invoice.status === 'open').length;
  if (open >= LIMITS.openInvoicesPerUserMax) {
    return rejected('TOO_MANY_OPEN_INVOICES', `account ${command.userId} has ${open} open invoices, the most one user may have (${LIMITS.openInvoicesPerUserMax})`);
  }
  const { type: _type, ...payload } = command;
  return [newEvent(command, primaryEventId(command), { type: 'InvoiceOpened', payload }, command.userId)];
}

function voidInvoiceEvents(command: CommandOf<'voidInvoice'>, state: DecisionState): NewEvent[] | Decision {
  const { invoice } = state;
  if (!invoice || invoice.userId !== command.userId) return rejected('INVOICE_NOT_FOUND', `no invoice ${command.invoiceId} of user ${command.userId}`);
  if (invoice.status !== 'open') return rejected('INVOICE_NOT_OPEN', `invoice ${command.invoiceId} is ${invoice.status}, not open`);
  const causes: Cause[] = [{ what: `the invoice's opening (${invoice.openedAt})`, occurredAt: invoice.openedAt }];
  for (const id of causeEventIds(invoice)) {
    const payment = causeEvent(state, id, `the Invoices row of invoice ${command.invoiceId}`);
    causes.push({ what: `its last payment (${String(payment.payload.occurredAt)})`, occurredAt: String(payment.payload.occurredAt) });
  }
  const early = beforeCause(command, causes);
  if (early) return early;
  const payload = {
    userId: command.userId,
    invoiceId: command.invoiceId,
    reason: command.reason,
    refundedMicroUsd: invoice.paidMicroUsd.toString(),
    forgivenMicroUsd: remainingOf(invoice).toString(),
    occurredAt: command.occurredAt,
  };
  return [newEvent(command, primaryEventId(command), { type: 'InvoiceVoided', payload }, command.userId)];
}

/**
 * An event a row of the write side names, which the shell read beside it. Missing, the row
 * and the log disagree: the history was edited behind the ledger's back.
 */
function causeEvent(state: DecisionState, eventId: string, row: string): PriorEvent {
  const event = state.prior.get(eventId);
  if (!event) throw new DamagedHistoryError(row, `it names event ${eventId}, which the log does not hold`, eventId);
  return event;
}

/** OCCURRED_BEFORE_CAUSE when the command would precede one of the events it acts on. */
function beforeCause(command: Command, causes: readonly Cause[]): Decision | undefined {
  const cause = precededCause(command.occurredAt, causes);
  if (!cause) return undefined;
  return rejected('OCCURRED_BEFORE_CAUSE', `${command.type} of invoice ${'invoiceId' in command ? command.invoiceId : ''} occurred at ${command.occurredAt}, before ${cause.what}: it cannot act on what had not happened yet`);
}

/** The command's own events, or its rejection; idempotency has been checked already. */
function ownEvents(command: Command, state: DecisionState): NewEvent[] | Decision {
  switch (command.type) {
    case 'deposit':
      return depositEvents(command, state);
    case 'charge':
      if (state.prior.has(eventIds.invoice(command.invoiceId))) return rejected('INVOICE_EXISTS', `invoice ${command.invoiceId} was opened with openInvoice; a charge needs an invoice ID of its own`);
      return chargeEvents(command, state.account);
    case 'settleCharge':
    case 'failCharge':
      return settleOrFailEvents(command, state);
    case 'adjust': {
      const { type: _type, ...payload } = command;
      return [newEvent(command, primaryEventId(command), { type: 'BalanceAdjusted', payload }, command.userId)];
    }
    case 'openInvoice':
      if (state.prior.has(eventIds.charge(command.invoiceId))) return rejected('INVOICE_EXISTS', `invoice ${command.invoiceId} was charged with charge; openInvoice needs an invoice ID of its own`);
      return openInvoiceEvents(command, state);
    case 'voidInvoice':
      return voidInvoiceEvents(command, state);
    default: {
      const exhaustive: never = command;
      throw new Error(`unhandled command ${JSON.stringify(exhaustive)}`);
    }
  }
}

/** The user's open invoices after the command's own events: one opened, one voided. */
function openInvoicesAfter(open: readonly Invoice[], own: readonly NewEvent[]): Invoice[] {
  let invoices = open.filter((invoice) => invoice.status === 'open');
  for (const event of own) {
    if (event.type === 'InvoiceOpened') {
      const { userId, invoiceId, amountMicroUsd, occurredAt } = event.payload;
      invoices = [...invoices, { userId, invoiceId, openEventId: event.eventId, amountMicroUsd: BigInt(amountMicroUsd), paidMicroUsd: 0n, paymentCount: 0, status: 'open', openedAt: occurredAt }];
    }
    if (event.type === 'InvoiceVoided') invoices = invoices.filter((invoice) => invoice.invoiceId !== event.payload.invoiceId);
  }
  return invoices;
}

export function decide(command: Command, state: DecisionState): Decision {
  const duplicateOrConflict = idempotencyCheck(command, state);
  if (duplicateOrConflict) return duplicateOrConflict;
  const account = state.account;
  if (account.userId !== command.userId) throw new Error(`decide: state holds the account of ${account.userId}, not of ${command.userId}`);
  latestCreditOf(account); // an account the upgrade's backfill has not reached takes no command
  const own = ownEvents(command, state);
  if (!Array.isArray(own)) return own;
  const afterOwn = applyIfAffordable(account, own);
  if ('outcome' in afterOwn) return afterOwn;

  const context = { userId: command.userId, occurredAt: command.occurredAt, causationEventId: primaryEventId(command) };
  const payer = { userId: afterOwn.userId, balanceMicroUsd: afterOwn.balanceMicroUsd, latestCreditAt: latestCreditOf(afterOwn) };
  const payments = invoicePayments(payer, openInvoicesAfter(state.openInvoices, own), context);
  const afterPayments = applyIfAffordable(afterOwn, payments);
  if ('outcome' in afterPayments) return afterPayments;
  const crossings = thresholdCrossings(account.balanceMicroUsd, afterPayments.balanceMicroUsd, state.thresholds, context);
  return { outcome: 'accepted', events: [...own, ...payments, ...crossings] };
}
