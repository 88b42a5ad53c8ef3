import { DamagedHistoryError } from '../../ledger/core/damaged-history';
import { Account, AccountDeltas, accountDeltas, emptyAccount, evolveAccount } from '../../ledger/core/account';
import { EVENT_TYPES, EventType, StoredEvent, eventUserId } from '../../ledger/core/events';
import { isUserAccount, pendingAccount, Posting, postingsOf, userAccount } from '../../ledger/core/postings';
import { parseBusinessTime } from '../../ledger/core/time';
import { Projection, RowKey } from './projection';

/**
 * The balances projection: what each user has, and the books, on both axes of time.
 *
 * Kinds of rows, all under one checkpoint (so the books are read at one consistent cut):
 * - `balance`, one per user: the balance and its parts (the write side's own account fold,
 *   so once caught up a row equals the user's Accounts row by construction), the time of
 *   the latest event, and the books totals of the user's two accounts.
 * - `history`, one per user event: the account as it was after that event (with its
 *   commit timestamp: "what the ledger said then"), and what the event changed (with its
 *   business time: "what is known now about that moment").
 * - `month`, one per user and business month: what the month's events changed, so a
 *   balance as of a business time reads the months before it and the events of one month.
 * - `system`, one per system account (chain inflows, bonus expense, revenue, equity): its
 *   debits and credits. Only the projector writes them, never a command's transaction, so
 *   no write-side transaction serialises on one hot row.
 * - `system-history`, one per event that posts to a system account: the totals after it.
 *
 * `lastEventAt` is the occurredAt of the user's latest event in stream order (the event
 * with the highest stream version), not the maximum occurredAt: a late-arriving event with
 * an old business time still counts as the latest thing that happened to the account.
 */

/** Debits and credits of a user's two accounts (user:<id>, user:<id>:pending). */
export interface UserBooks {
  readonly userDebits: bigint;
  readonly userCredits: bigint;
  readonly pendingDebits: bigint;
  readonly pendingCredits: bigint;
}

/** What one event (or a month of them) changed, every field given. */
export interface FullDeltas {
  readonly balanceMicroUsd: bigint;
  readonly depositsMicroUsd: bigint;
  readonly bonusesMicroUsd: bigint;
  readonly chargesMicroUsd: bigint;
  readonly pendingMicroUsd: bigint;
  readonly adjustmentsMicroUsd: bigint;
  readonly openInvoicesMicroUsd: bigint;
  readonly openInvoiceCount: number;
}

export interface BalanceRow extends Account {
  readonly kind: 'balance';
  readonly lastEventAt: string;
  readonly books: UserBooks;
}

export interface BalanceHistoryRow {
  readonly kind: 'history';
  readonly userId: string;
  readonly streamVersion: number;
  readonly committedAt: string;
  readonly occurredAt: string;
  /** The account after this event. */
  readonly account: Account;
  readonly books: UserBooks;
  readonly deltas: FullDeltas;
}

export interface BalanceMonthRow {
  readonly kind: 'month';
  readonly userId: string;
  /** First instant of the business month, canonical ("2026-03-01T00:00:00.000000Z"). */
  readonly monthStart: string;
  readonly deltas: FullDeltas;
  readonly events: number;
  /** The month's event with the highest stream version, and its business time (for lastEventAt as of a time). */
  readonly lastVersion: number;
  readonly lastOccurredAt: string;
}

export interface SystemAccountRow {
  readonly kind: 'system';
  readonly account: string;
  readonly debitsMicroUsd: bigint;
  readonly creditsMicroUsd: bigint;
}

export interface SystemHistoryRow {
  readonly kind: 'system-history';
  readonly account: string;
  readonly committedAt: string;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly debitsMicroUsd: bigint;
  readonly creditsMicroUsd: bigint;
}

export type BooksRow = BalanceRow | BalanceHistoryRow | BalanceMonthRow | SystemAccountRow | SystemHistoryRow;

export const NO_BOOKS: UserBooks = { userDebits: 0n, userCredits: 0n, pendingDebits: 0n, pendingCredits: 0n };
export const NO_DELTAS: FullDeltas = {
  balanceMicroUsd: 0n,
  depositsMicroUsd: 0n,
  bonusesMicroUsd: 0n,
  chargesMicroUsd: 0n,
  pendingMicroUsd: 0n,
  adjustmentsMicroUsd: 0n,
  openInvoicesMicroUsd: 0n,
  openInvoiceCount: 0,
};

/** All event types: every event moves the balance, its parts or its version. */
const HANDLED: ReadonlySet<EventType> = new Set<EventType>(EVENT_TYPES);

/** The plain account of a balance row (no view fields). */
export function accountOf(row: Account): Account {
  const { userId, version, balanceMicroUsd, depositsMicroUsd, bonusesMicroUsd, chargesMicroUsd, pendingMicroUsd, adjustmentsMicroUsd, openInvoicesMicroUsd, openInvoiceCount } = row;
  return { userId, version, balanceMicroUsd, depositsMicroUsd, bonusesMicroUsd, chargesMicroUsd, pendingMicroUsd, adjustmentsMicroUsd, openInvoicesMicroUsd, openInvoiceCount };
}

export function fullDeltas(deltas: AccountDeltas): FullDeltas {
  return { ...NO_DELTAS, ...deltas };
}

export function addDeltas(a: FullDeltas, b: FullDeltas): FullDeltas {
  return {
    balanceMicroUsd: a.balanceMicroUsd + b.balanceMicroUsd,
    depositsMicroUsd: a.depositsMicroUsd + b.depositsMicroUsd,
    bonusesMicroUsd: a.bonusesMicroUsd + b.bonusesMicroUsd,
    chargesMicroUsd: a.chargesMicroUsd + b.chargesMicroUsd,
    pendingMicroUsd: a.pendingMicroUsd + b.pendingMicroUsd,
    adjustmentsMicroUsd: a.adjustmentsMicroUsd + b.adjustmentsMicroUsd,
    openInvoicesMicroUsd: a.openInvoicesMicroUsd + b.openInvoicesMicroUsd,
    openInvoiceCount: a.openInvoiceCount + b.openInvoiceCount,
  };
}

/** The user's books after the postings of one of their events. */
export function addBooks(books: UserBooks, userId: string, postings: readonly Posting[]): UserBooks {
  const user = userAccount(userId);
  const pending = pendingAccount(userId);
  let { userDebits, userCredits, pendingDebits, pendingCredits } = books;
  for (const { debit, credit, amountMicroUsd } of postings) {
    if (debit === user) userDebits += amountMicroUsd;
    if (credit === user) userCredits += amountMicroUsd;
    if (debit === pending) pendingDebits += amountMicroUsd;
    if (credit === pending) pendingCredits += amountMicroUsd;
  }
  return { userDebits, userCredits, pendingDebits, pendingCredits };
}

/** The first instant of the business month of a canonical time. */
export function monthStartOf(occurredAt: string): string {
  return `${occurredAt.slice(0, 7)}-01T00:00:00.000000Z`;
}

/** A month's key part: its start in microseconds since the epoch, as the table keys it (so keys sort as months do). */
export function monthKey(monthStart: string): string {
  const parsed = parseBusinessTime(monthStart);
  if (!parsed.ok) throw new RangeError(`not a month start: ${monthStart}`);
  return parsed.time.micros.toString();
}

/** The system accounts an event's postings touch, each with what it is debited and credited. */
function systemSides(postings: readonly Posting[]): Map<string, { debit: bigint; credit: bigint }> {
  const sides = new Map<string, { debit: bigint; credit: bigint }>();
  const side = (account: string) => sides.get(account) ?? sides.set(account, { debit: 0n, credit: 0n }).get(account)!;
  for (const { debit, credit, amountMicroUsd } of postings) {
    if (!isUserAccount(debit)) side(debit).debit += amountMicroUsd;
    if (!isUserAccount(credit)) side(credit).credit += amountMicroUsd;
  }
  return sides;
}

export function applyToBalance(lookup: (key: RowKey) => BooksRow | undefined, event: StoredEvent): BooksRow[] {
  const userId = eventUserId(event);
  const previous = lookup({ kind: 'balance', key: [userId] }) as BalanceRow | undefined;
  const account = previous ? accountOf(previous) : emptyAccount(userId);
  // The view applies every event of the stream exactly once, in stream order. A version out
  // of place means the log lost or gained an event behind the ledger's back (or a projector
  // bug): the batch stops, naming the stream, and the audit says the rest.
  if (event.streamVersion !== account.version + 1) {
    throw new DamagedHistoryError(`stream ${event.streamId}`, `event ${event.eventId} has stream version ${event.streamVersion} where ${account.version + 1} belongs (an event before it is missing or out of place)`, event.eventId);
  }
  const next = accountOf(evolveAccount(account, event));
  const postings = postingsOf(event);
  const books = addBooks(previous?.books ?? NO_BOOKS, userId, postings);
  const deltas = fullDeltas(accountDeltas(event));
  const monthStart = monthStartOf(event.occurredAt);
  const month = lookup({ kind: 'month', key: [userId, monthKey(monthStart)] }) as BalanceMonthRow | undefined;
  const rows: BooksRow[] = [
    { ...next, kind: 'balance', lastEventAt: event.occurredAt, books },
    { kind: 'history', userId, streamVersion: event.streamVersion, committedAt: event.committedAt, occurredAt: event.occurredAt, account: next, books, deltas },
    // Stream order: this event has the highest version of the user so far, so of the month too.
    { kind: 'month', userId, monthStart, deltas: addDeltas(month?.deltas ?? NO_DELTAS, deltas), events: (month?.events ?? 0) + 1, lastVersion: event.streamVersion, lastOccurredAt: event.occurredAt },
  ];
  for (const [name, { debit, credit }] of systemSides(postings)) {
    const before = lookup({ kind: 'system', key: [name] }) as SystemAccountRow | undefined;
    const debitsMicroUsd = (before?.debitsMicroUsd ?? 0n) + debit;
    const creditsMicroUsd = (before?.creditsMicroUsd ?? 0n) + credit;
    rows.push({ kind: 'system', account: name, debitsMicroUsd, creditsMicroUsd });
    rows.push({ kind: 'system-history', account: name, committedAt: event.committedAt, streamId: event.streamId, streamVersion: event.streamVersion, debitsMicroUsd, creditsMicroUsd });
  }
  return rows;
}

export function booksRowKey(row: BooksRow): RowKey {
  switch (row.kind) {
    case 'balance':
      return { kind: 'balance', key: [row.userId] };
    case 'history':
      return { kind: 'history', key: [row.userId, String(row.streamVersion)] };
    case 'month':
      return { kind: 'month', key: [row.userId, monthKey(row.monthStart)] };
    case 'system':
      return { kind: 'system', key: [row.account] };
    case 'system-history':
      return { kind: 'system-history', key: [row.account, row.committedAt, row.streamId, String(row.streamVersion)] };
  }
}

const text = (value: bigint) => value.toString();

function booksJson(books: UserBooks) {
  return { userDebits: text(books.userDebits), userCredits: text(books.userCredits), pendingDebits: text(books.pendingDebits), pendingCredits: text(books.pendingCredits) };
}

function deltasJson(deltas: FullDeltas) {
  return {
    balance: text(deltas.balanceMicroUsd),
    deposits: text(deltas.depositsMicroUsd),
    bonuses: text(deltas.bonusesMicroUsd),
    charges: text(deltas.chargesMicroUsd),
    pending: text(deltas.pendingMicroUsd),
    adjustments: text(deltas.adjustmentsMicroUsd),
    openInvoices: text(deltas.openInvoicesMicroUsd),
    openInvoiceCount: deltas.openInvoiceCount,
  };
}

/** The wire shape of an account's balance: money as decimal strings of micro-dollars. */
export function accountJson(account: Account): Record<string, string | number> {
  return {
    userId: account.userId,
    version: account.version,
    balanceMicroUsd: text(account.balanceMicroUsd),
    depositsMicroUsd: text(account.depositsMicroUsd),
    bonusesMicroUsd: text(account.bonusesMicroUsd),
    chargesMicroUsd: text(account.chargesMicroUsd),
    pendingMicroUsd: text(account.pendingMicroUsd),
    adjustmentsMicroUsd: text(account.adjustmentsMicroUsd),
    openInvoicesMicroUsd: text(account.openInvoicesMicroUsd),
    openInvoiceCount: account.openInvoiceCount,
  };
}

/** The rendered text of a balance row: what verify and the tests compare. */
export function balanceRowJson(row: BalanceRow): Record<string, unknown> {
  return { ...accountJson(row), lastEventAt: row.lastEventAt, books: booksJson(row.books) };
}

export function renderBooksRow(row: BooksRow): string {
  switch (row.kind) {
    case 'balance':
      return JSON.stringify(balanceRowJson(row));
    case 'history':
      return JSON.stringify({ kind: row.kind, committedAt: row.committedAt, occurredAt: row.occurredAt, ...accountJson(row.account), books: booksJson(row.books), deltas: deltasJson(row.deltas) });
    case 'month':
      return JSON.stringify({ kind: row.kind, userId: row.userId, monthStart: row.monthStart, events: row.events, lastVersion: row.lastVersion, lastOccurredAt: row.lastOccurredAt, deltas: deltasJson(row.deltas) });
    case 'system':
    case 'system-history':
      return JSON.stringify({ ...row, debitsMicroUsd: text(row.debitsMicroUsd), creditsMicroUsd: text(row.creditsMicroUsd) });
  }
}

export const balanceProjection: Projection<BooksRow> = {
  name: 'balances',
  handles: HANDLED,
  foldVersion: 2,
  kinds: ['balance', 'history', 'month', 'system', 'system-history'],
  globalKinds: ['system', 'system-history'],
  keysOf: (event) => {
    const userId = eventUserId(event);
    return [
      { kind: 'balance', key: [userId] },
      { kind: 'month', key: [userId, monthKey(monthStartOf(event.occurredAt))] },
      ...[...systemSides(postingsOf(event)).keys()].map((name) => ({ kind: 'system', key: [name] })),
    ];
  },
  apply: applyToBalance,
  keyOf: booksRowKey,
  render: renderBooksRow,
};
