import { Account, emptyAccount, evolveAccount } from '../../ledger/core/account';
import { EVENT_TYPES, EventType, StoredEvent, eventUserId } from '../../ledger/core/events';
import { Projection, ViewKey } from './projection';

/**
 * Balance view, one row per user: the balance and its parts, the stream version folded so
 * far and the business time of the latest event. The money fold is the write side's own
 * `evolveAccount`, so once caught up a row equals the user's Accounts row by construction.
 *
 * `lastEventAt` is the occurredAt of the user's latest event in stream order (the event
 * with the highest stream version), not the maximum occurredAt: a late-arriving event with
 * an old business time still counts as the latest thing that happened to the account.
 */
export interface BalanceRow extends Account {
  readonly lastEventAt: string;
}

/** All event types: every event moves the balance or its parts. */
const HANDLED: ReadonlySet<EventType> = new Set<EventType>(EVENT_TYPES);

export function applyToBalance(row: BalanceRow | undefined, event: StoredEvent): BalanceRow {
  const userId = eventUserId(event);
  const account: Account = row ?? emptyAccount(userId);
  // The view applies every event of the stream exactly once, in stream order; anything
  // else is a projector bug (a skipped or doubled event), so it stops the batch loudly.
  if (event.streamVersion !== account.version + 1) {
    throw new Error(`balance view of ${userId}: event ${event.eventId} has stream version ${event.streamVersion}, expected ${account.version + 1}`);
  }
  const next = evolveAccount(account, event);
  return { ...next, lastEventAt: event.occurredAt };
}

export const balanceProjection: Projection<BalanceRow> = {
  name: 'balances',
  handles: HANDLED,
  keysOf: (event) => [[eventUserId(event)]],
  apply: (lookup, event) => [applyToBalance(lookup([eventUserId(event)]), event)],
  keyOf: (row): ViewKey => [row.userId],
  render: (row) => JSON.stringify(balanceRowJson(row)),
};

/** The wire shape of a balance row: money as decimal strings of micro-dollars. */
export function balanceRowJson(row: BalanceRow): Record<string, string | number> {
  return {
    userId: row.userId,
    version: row.version,
    balanceMicroUsd: row.balanceMicroUsd.toString(),
    depositsMicroUsd: row.depositsMicroUsd.toString(),
    bonusesMicroUsd: row.bonusesMicroUsd.toString(),
    chargesMicroUsd: row.chargesMicroUsd.toString(),
    pendingMicroUsd: row.pendingMicroUsd.toString(),
    adjustmentsMicroUsd: row.adjustmentsMicroUsd.toString(),
    openInvoicesMicroUsd: row.openInvoicesMicroUsd.toString(),
    openInvoiceCount: row.openInvoiceCount,
    lastEventAt: row.lastEventAt,
  };
}
