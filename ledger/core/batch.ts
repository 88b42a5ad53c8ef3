import { Account, Charge, emptyAccount, evolveCharge, evolveInvoice, Invoice } from './account';
import { Command } from './commands';
import { causeEventIds, commandUserId, decide, Decision, possibleEventIds, PriorEvent, primaryEventId, priorEventIds } from './decide';
import { DECISION_MUTATIONS_BUDGET, EVENTS_PER_COMMAND_MAX, LIMITS } from './limits';
import { draftNext, EventDraft, invoiceKey, LedgerTransaction, LedgerWrites } from './store';
import { Thresholds } from './thresholds';

/**
 * Group commit: decides a batch of commands inside one read-write transaction.
 * All reads happen up front, in two rounds whatever the batch size: events, charges,
 * invoices and accounts by key, then the open invoices of users who have some, the last
 * payment of each invoice to void and, for replays, what the first application appended
 * after its own events. Commands are then
 * decided one after the other over an overlay of that state, so two commands of one batch
 * see each other exactly as if they had been sent one by one. Every command keeps its own
 * outcome; a rejection writes nothing and blocks no other.
 */
export interface BatchOptions {
  readonly bonusRateBps: number;
  readonly thresholds: Thresholds;
  /** Nothing will be committed (a dry run): no commit limit applies, so any number of commands is one batch. */
  readonly uncommitted?: boolean;
}

/**
 * The batch's writes could go past the commit's mutation budget (payments of many open
 * invoices). Thrown before anything is written; `fits` commands of the batch did fit, so
 * deciding that many per transaction goes through. One command always fits (limits.ts).
 */
export class BatchOverBudget extends Error {
  override readonly name = 'BatchOverBudget';
  constructor(readonly fits: number) {
    super(`a group commit of these commands could go past Spanner's mutation limit; ${fits} of them fit in one transaction`);
  }
}

/** The events a stored command appended after its own: its payments and crossings, which name it as their cause. */
async function readFollowUps(tx: LedgerTransaction, command: Command, prior: ReadonlyMap<string, PriorEvent & { streamId?: string; streamVersion?: number }>): Promise<[string, string[]] | undefined> {
  const primaryId = primaryEventId(command);
  const own = possibleEventIds(command).flatMap((id) => {
    const event = prior.get(id);
    return event?.streamVersion === undefined ? [] : [event];
  });
  const last = own[own.length - 1];
  if (!last || last.streamId === undefined || last.streamVersion === undefined) return undefined;
  const after = await tx.readStreamAfter(last.streamId, last.streamVersion, EVENTS_PER_COMMAND_MAX);
  const followUps: string[] = [];
  for (const event of after) {
    if ((event.payload as { causationEventId?: unknown }).causationEventId !== primaryId) break;
    followUps.push(event.eventId);
  }
  return [primaryId, followUps];
}

export async function decideBatch(tx: LedgerTransaction, commands: readonly Command[], options: BatchOptions): Promise<{ decisions: Decision[]; writes: LedgerWrites }> {
  const chargeIds = commands.flatMap((command) => (command.type === 'settleCharge' || command.type === 'failCharge' ? [command.invoiceId] : []));
  const voidKeys = commands.flatMap((command) => (command.type === 'voidInvoice' ? [{ userId: command.userId, invoiceId: command.invoiceId }] : []));
  const [priorEvents, charges, voidTargets, accounts] = await Promise.all([
    tx.readEvents(commands.flatMap(priorEventIds)),
    tx.readCharges(chargeIds),
    tx.readInvoices(voidKeys),
    tx.readAccounts([...new Set(commands.map(commandUserId))]),
  ]);
  const withOpenInvoices = [...accounts.values()].filter((account) => account.openInvoiceCount > 0).map((account) => account.userId);
  const replays = commands.filter((command) => priorEvents.has(primaryEventId(command)));
  const lastPayments = [...voidTargets.values()].flatMap(causeEventIds);
  const [openInvoices, followUpEntries, payments] = await Promise.all([
    withOpenInvoices.length > 0 ? tx.readOpenInvoices(withOpenInvoices) : Promise.resolve(new Map<string, Invoice[]>()),
    Promise.all(replays.map((command) => readFollowUps(tx, command, priorEvents))),
    lastPayments.length > 0 ? tx.readEvents(lastPayments) : Promise.resolve(new Map<string, PriorEvent>()),
  ]);

  const prior = new Map<string, PriorEvent>([...priorEvents, ...payments]);
  const followUps = new Map<string, readonly string[]>(followUpEntries.filter((entry): entry is [string, string[]] => entry !== undefined));
  /** Per user, the invoices this batch knows: open ones, void targets, and those it opens. */
  const invoices = new Map<string, Map<string, Invoice>>();
  const invoicesOf = (userId: string) => invoices.get(userId) ?? invoices.set(userId, new Map()).get(userId)!;
  for (const [userId, list] of openInvoices) for (const invoice of list) invoicesOf(userId).set(invoice.invoiceId, invoice);
  for (const invoice of voidTargets.values()) invoicesOf(invoice.userId).set(invoice.invoiceId, invoice);

  const changedAccounts = new Map<string, Account>();
  const changedCharges = new Map<string, Charge>();
  const changedInvoices = new Map<string, Invoice>();
  const drafts: EventDraft[] = [];
  const decisions: Decision[] = [];

  for (const command of commands) {
    // Could the next command, at its worst, take the commit past its mutation budget?
    if (!options.uncommitted && (drafts.length + EVENTS_PER_COMMAND_MAX) * LIMITS.mutationsPerEventMax > DECISION_MUTATIONS_BUDGET) throw new BatchOverBudget(Math.max(1, decisions.length));
    const userId = commandUserId(command);
    const account = accounts.get(userId) ?? emptyAccount(userId);
    const known = invoicesOf(userId);
    const decision = decide(command, {
      account,
      charge: command.type === 'settleCharge' || command.type === 'failCharge' ? charges.get(command.invoiceId) : undefined,
      invoice: command.type === 'voidInvoice' ? known.get(command.invoiceId) : undefined,
      openInvoices: [...known.values()].filter((invoice) => invoice.status === 'open'),
      prior,
      followUps,
      bonusRateBps: options.bonusRateBps,
      thresholds: options.thresholds,
    });
    decisions.push(decision);
    if (decision.outcome !== 'accepted') continue;

    const primaryId = primaryEventId(command);
    let next = account;
    for (const event of decision.events) {
      const appended = draftNext(next, event);
      next = appended.account;
      const draft = appended.draft;
      drafts.push(draft);
      prior.set(event.eventId, event);
      if (event.type === 'InvoiceCharged' || event.type === 'ChargeSettled' || event.type === 'ChargeFailed') {
        const updated = evolveCharge(charges.get(event.payload.invoiceId), draft);
        if (updated) {
          charges.set(updated.invoiceId, updated);
          changedCharges.set(updated.invoiceId, updated);
        }
      }
      if (event.type === 'InvoiceOpened' || event.type === 'InvoicePaymentMade' || event.type === 'InvoiceVoided') {
        const updated = evolveInvoice(known.get(event.payload.invoiceId), draft);
        if (updated) {
          known.set(updated.invoiceId, updated);
          changedInvoices.set(invoiceKey(updated.userId, updated.invoiceId), updated);
        }
      }
    }
    followUps.set(primaryId, decision.events.filter((event) => (event.payload as { causationEventId?: unknown }).causationEventId === primaryId).map((event) => event.eventId));
    accounts.set(next.userId, next);
    changedAccounts.set(next.userId, next);
  }
  return {
    decisions,
    writes: { events: drafts, accounts: [...changedAccounts.values()], charges: [...changedCharges.values()], invoices: [...changedInvoices.values()] },
  };
}
