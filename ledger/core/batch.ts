import { Account, Charge, emptyAccount, evolveAccount, evolveCharge } from './account';
import { Command } from "./commands";
import { commandUserId, decide, Decision, possibleEventIds, PriorEvent } from './decide';
import { EventDraft, LedgerTransaction, LedgerWrites, digestOf } from './store';

/**
 * Group commit: decides a batch of commands inside one read-write transaction.
 * All reads happen up front in two rounds (events and charges by key, then the accounts
 * they name), so the cost per command is O(1) reads whatever the account's history.
 * Commands are then decided one after the other over an overlay of that state, so two
 * commands of one batch see each other exactly as if they had been sent one by one.
 * Every command keeps its own outcome; a rejection writes nothing and blocks no other.
 */
export async function decideBatch(
  tx: LedgerTransaction,
  commands: readonly Command[],
  bonusRateBps: number,
): Promise<{ decisions: Decision[]; writes: LedgerWrites }> {
  const settleInvoiceIds = commands.flatMap((command) =>
    command.type === 'settleCharge' || command.type === 'failCharge' ? [command.invoiceId] : [],
  );
  const [priorEvents, charges] = await Promise.all([
    tx.readEvents(commands.flatMap(possibleEventIds)),
    tx.readCharges(settleInvoiceIds),
  ]);
  const accounts = await tx.readAccounts([...new Set(commands.map(commandUserId))]);

  const prior = new Map<string, PriorEvent>(priorEvents);
  const changedAccounts = new Map<string, Account>();
  const changedCharges = new Map<string, Charge>();
  const drafts: EventDraft[] = [];
  const decisions: Decision[] = [];

  for (const command of commands) {
    const charge = 'invoiceId' in command && command.type !== 'charge' ? charges.get(command.invoiceId) : undefined;
    const userId = commandUserId(command);
    const account = accounts.get(userId) ?? emptyAccount(userId);
    const decision = decide(command, { account, charge, prior, bonusRateBps });
    decisions.push(decision);
    if (decision.outcome !== 'accepted') continue;

    let next = account;
    for (const event of decision.events) {
      next = evolveAccount(next, event);
      const draft: EventDraft = { ...event, streamVersion: next.version, contentDigest: digestOf(event) };
      drafts.push(draft);
      prior.set(event.eventId, event);
      if ('invoiceId' in event.payload) {
        const invoiceId = event.payload.invoiceId;
        const updated = evolveCharge(charges.get(invoiceId), draft);
        if (updated) {
          charges.set(invoiceId, updated);
          changedCharges.set(invoiceId, updated);
        }
      }
    }
    accounts.set(next.userId, next);
    changedAccounts.set(next.userId, next);
  }
  return { decisions, writes: { events: drafts, accounts: [...changedAccounts.values()], charges: [...changedCharges.values()] } };
}
