import { Account, emptyAccount, tryEvolveAccount } from '../../ledger/core/account';
import { ChainLink, walkChain } from '../../ledger/core/chain';
import { StoredEvent } from '../../ledger/core/events';
import { accountStreamId, derivedEventId } from '../../ledger/core/ids';
import { DamagedHistoryError } from '../../ledger/core/damaged-history';
import { StreamRules } from '../../ledger/core/history-rules';
import { netByAccount } from '../../ledger/core/posting-check';
import { pendingAccount, userAccount } from '../../ledger/core/postings';
import { comparePositions, digestOf, positionOf } from '../../ledger/core/store';
import { ACCOUNT_COLUMNS, accountFromRow, EVENT_READ_COLUMNS, Row, smallInt, tryEventFromRow } from '../../ledger/spanner/codec';
import { accountJson, BalanceRow, diffViews, foldAll, keyText, Projection, ProjectionName, PROJECTIONS } from '../../projections/core';
import { READ_JSON, viewTable, ViewTable } from '../../projections/spanner/tables';
import { AuditContext, ComparedView } from './context';
import { checkWriteSide, ExpectedWriteSide, readWriteSideRows } from './write-side';

/**
 * The audit's pass over the streams, a page of users at a time (Accounts in key order, all
 * read at the audit's timestamp). For each user it reads the stream and checks:
 * - check 5: the hash chain, link by link from GENESIS, then the head beside the account;
 *   every event's ID is the one its natural key derives; commit times never go backwards;
 * - check 3: the Accounts row equals the fold of the stream, and the user's two accounts of
 *   the books (the sums of their postings) equal its balance and pending amount;
 * - checks 6 and 7: the user's Charges and Invoices rows and open-invoice index equal the
 *   fold of the stream (write-side.ts);
 * - check 8: every event is one the ledger's rules allow after the ones before it;
 * - check 4: every row the views keep for the user equals the fold of the user's events up
 *   to the view's checkpoint;
 * - check 2, the user's part: the books the balance view keeps equal the postings.
 * Memory: one page of users, their events and their view rows.
 */
export interface StreamPassResult {
  readonly events: number;
  readonly users: number;
  /** Sum of the user accounts (available and pending) as the balance view has them. */
  readonly viewUsersTotal: bigint;
  /** View rows compared, per projection, and Accounts, Charges and Invoices rows. */
  readonly checked: Record<string, number>;
  /** Charges the users' events made (the Charges table should hold exactly these). */
  readonly charges: number;
}

/** The per-user kinds of a projection, with their tables. */
function userTables(projection: ProjectionName): ViewTable<unknown>[] {
  const definition = PROJECTIONS[projection] as Projection<unknown>;
  return definition.kinds.filter((kind) => !definition.globalKinds.includes(kind)).map((kind) => viewTable(projection, kind) as ViewTable<unknown>);
}

export async function streamPass(context: AuditContext): Promise<StreamPassResult> {
  const checked: Record<string, number> = { accounts: 0, 'charge-rows': 0, 'invoice-rows': 0 };
  for (const view of context.views.values()) checked[view.projection] = 0;
  let events = 0;
  let users = 0;
  let charges = 0;
  let viewUsersTotal = 0n;
  for (let after: string | null = null; ; ) {
    // Key-range reads throughout: a page of the key order, then each user's rows by key prefix.
    const [found] = await context.snapshot.read('Accounts', {
      ranges: [after === null ? { startClosed: [], endClosed: [] } : { startOpen: [after], endClosed: [] }],
      columns: [...ACCOUNT_COLUMNS],
      limit: context.usersPerPage,
      ...READ_JSON,
    });
    const accountRows = found as Row[];
    if (accountRows.length === 0) break;
    const accounts = accountRows.map(accountFromRow);
    const userIds = accounts.map((account) => account.userId);
    const streams = await readStreams(context, userIds);
    const viewRows = await readUserViewRows(context, userIds);
    const folded: { userId: string; expected: ExpectedWriteSide }[] = [];
    for (const account of accounts) {
      const rows = streams.get(accountStreamId(account.userId)) ?? [];
      events += rows.length;
      users++;
      checked.accounts!++;
      const stream = checkChain(context, account, rows);
      if (stream === undefined) continue;
      const rules = checkRules(context, account.userId, stream);
      checkAccount(context, account, stream);
      viewUsersTotal += checkUserViews(context, account.userId, stream, viewRows, checked);
      folded.push({ userId: account.userId, expected: { charges: rules.chargeRows, invoices: rules.invoiceRows } });
    }
    charges += await checkWriteSidePage(context, folded, checked);
    if (accountRows.length < context.usersPerPage) break;
    after = userIds[userIds.length - 1]!;
  }
  return { events, users, viewUsersTotal, checked, charges };
}

/** Checks 6 and 7 for a page of users whose streams hold; returns the charges their events made. */
async function checkWriteSidePage(context: AuditContext, folded: readonly { userId: string; expected: ExpectedWriteSide }[], checked: Record<string, number>): Promise<number> {
  const charges = folded.reduce((sum, user) => sum + user.expected.charges.size, 0);
  if ((!context.checks.has('charge-rows') && !context.checks.has('invoice-rows')) || folded.length === 0) return charges;
  const rows = await readWriteSideRows(context, folded.map((user) => user.userId), folded.flatMap((user) => [...user.expected.charges.keys()]));
  for (const { userId, expected } of folded) {
    const compared = checkWriteSide(context, userId, expected, rows);
    checked['charge-rows']! += compared.charges;
    checked['invoice-rows']! += compared.invoices;
  }
  return charges;
}

/** The event rows of some users' streams, by stream, in stream order: their IDs from EventsByStream, then the rows by key. */
async function readStreams(context: AuditContext, userIds: readonly string[]): Promise<Map<string, Row[]>> {
  const [links] = await context.snapshot.read('Events', {
    index: 'EventsByStream',
    ranges: userIds.map((userId) => ({ startClosed: [accountStreamId(userId)], endClosed: [accountStreamId(userId)] })),
    columns: ['EventId'],
    ...READ_JSON,
  });
  const ids = (links as Row[]).map((row) => String(row.EventId));
  const rows: Row[] = [];
  for (let start = 0; start < ids.length; start += EVENT_KEYS_PER_READ) {
    const [page] = await context.snapshot.read('Events', { keys: ids.slice(start, start + EVENT_KEYS_PER_READ), columns: [...EVENT_READ_COLUMNS], ...READ_JSON });
    rows.push(...(page as Row[]));
  }
  const streams = new Map<string, Row[]>();
  for (const row of rows) {
    const streamId = String(row.StreamId);
    const stream = streams.get(streamId) ?? streams.set(streamId, []).get(streamId)!;
    stream.push(row);
  }
  for (const stream of streams.values()) stream.sort((a, b) => smallInt(a.StreamVersion) - smallInt(b.StreamVersion));
  return streams;
}

const EVENT_KEYS_PER_READ = 5_000;

/** Rows of one user's views, by key text. */
type UserRows = Map<string, unknown>;

/** Every per-user view row of the compared generations for these users, by projection, user and key text. */
async function readUserViewRows(context: AuditContext, userIds: readonly string[]): Promise<Map<ProjectionName, Map<string, UserRows>>> {
  const out = new Map<ProjectionName, Map<string, UserRows>>();
  if (!context.checks.has('views') && !context.checks.has('books')) return out;
  for (const view of context.views.values()) {
    const byUser = new Map<string, UserRows>();
    for (const table of userTables(view.projection)) {
      const generation = String(view.generation);
      const [found] = await context.snapshot.read(table.table, {
        ranges: userIds.map((userId) => ({ startClosed: [generation, userId], endClosed: [generation, userId] })),
        columns: [...table.columns],
        ...READ_JSON,
      });
      for (const row of found as Row[]) {
        const userId = String(row.UserId);
        const rows = byUser.get(userId) ?? byUser.set(userId, new Map()).get(userId)!;
        rows.set(keyText(table.keyOfRow(row)), table.fromRow(row));
      }
    }
    out.set(view.projection, byUser);
  }
  return out;
}

/**
 * Check 5 for one stream: returns its events when every link holds (or the chain check is
 * off and every event parses), undefined after reporting the first broken link.
 */
function checkChain(context: AuditContext, account: Account, rows: readonly Row[]): StoredEvent[] | undefined {
  const streamId = accountStreamId(account.userId);
  const broken = (eventId: string | undefined, detail: string) => {
    context.findings.add({ check: 'chain', ...(eventId === undefined ? {} : { eventId }), streamId, detail });
    return undefined;
  };
  const events: StoredEvent[] = [];
  for (const row of rows) {
    const read = tryEventFromRow(row);
    if (!read.ok) {
      // The links before it still say where the chain broke first.
      const earlier = context.checks.has('chain') ? walkChain(linksOf(events)) : undefined;
      if (earlier && 'break' in earlier) return broken(events[earlier.break.at]!.eventId, earlier.break.reason);
      return broken(read.eventId, `the stored event at version ${read.streamVersion} does not parse (${read.reason}): its row was edited`);
    }
    events.push(read.event);
  }
  if (!context.checks.has('chain')) return events;
  const walked = walkChain(linksOf(events));
  if ('break' in walked) return broken(events[walked.break.at]!.eventId, walked.break.reason);
  checkIdsAndCommitOrder(context, streamId, events);
  if (events.length > 0 && account.chainHead !== walked.head) {
    return broken(
      undefined,
      `the stream ends at version ${events.length} with chain hash ${walked.head.slice(0, 12)}…, but its account's head is ${String(account.chainHead).slice(0, 12)}…: events after it were deleted, or the head was changed`,
    );
  }
  return events;
}

/**
 * The rest of check 5 for a stream whose chain holds: each event's ID is the one its type
 * and natural key derive (the chain covers the content, not the ID: an event stored again
 * under another ID keeps an intact chain, and a replay of its command would be accepted a
 * second time), and no event was committed before the one it follows.
 */
function checkIdsAndCommitOrder(context: AuditContext, streamId: string, events: readonly StoredEvent[]): void {
  for (const [index, event] of events.entries()) {
    const derived = derivedEventId(event);
    if (derived !== event.eventId) {
      context.findings.add({ check: 'chain', eventId: event.eventId, streamId, detail: `the event at version ${event.streamVersion} (${event.type}) is stored under ID ${event.eventId}, but its natural key derives ${derived}: it was moved to another ID, and a replay of its command would not find it` });
    }
    const previous = events[index - 1];
    if (previous && event.committedAt < previous.committedAt) {
      context.findings.add({ check: 'chain', eventId: event.eventId, streamId, detail: `the event at version ${event.streamVersion} was committed at ${event.committedAt}, before the event it follows (${previous.committedAt}): its commit timestamp was edited` });
    }
  }
}

function linksOf(events: readonly StoredEvent[]): ChainLink[] {
  return events.map((event) => ({ streamVersion: event.streamVersion, storedDigest: event.contentDigest, contentDigest: digestOf(event), chainHash: event.chainHash }));
}

/**
 * Check 8 for one stream: each event is one the ledger's rules allow after the events
 * before it (ledger/core/history-rules.ts). The first event that breaks them is named; the
 * walk goes on to the end, since its fold of the Charges and Invoices rows is what checks 6
 * and 7 compare with the stored rows.
 */
function checkRules(context: AuditContext, userId: string, events: readonly StoredEvent[]): StreamRules {
  const rules = new StreamRules(userId);
  let reported = !context.checks.has('rules');
  for (const [index, event] of events.entries()) {
    const problems = rules.next(event);
    // The last event of each commit: what every commit leaves holds too.
    if (events[index + 1]?.committedAt !== event.committedAt) problems.push(...rules.commitEnd());
    if (problems.length === 0 || reported) continue;
    context.findings.add({ check: 'rules', eventId: event.eventId, streamId: accountStreamId(userId), detail: `${event.type} at version ${event.streamVersion} breaks the ledger's rules: ${problems.join('; ')}` });
    reported = true;
  }
  return rules;
}

/** What Accounts holds that a decision reads: the state the views share, and the latest credit time that dates payments. */
function writeSideAccountJson(account: Account): Record<string, string | number> {
  return { ...accountJson(account), latestCreditAt: account.latestCreditAt ?? '(none: not backfilled)' };
}

/** Check 3 for one user: the Accounts row is the fold of the stream; the user's books are its balance and pending amount. */
function checkAccount(context: AuditContext, account: Account, events: readonly StoredEvent[]): void {
  if (!context.checks.has('accounts')) return;
  const streamId = accountStreamId(account.userId);
  let folded: Account = emptyAccount(account.userId);
  for (const event of events) {
    const next = tryEvolveAccount(folded, event);
    if (next === 'overflow') {
      context.findings.add({ check: 'accounts', eventId: event.eventId, streamId, detail: `folding ${event.type} takes a total of the account outside INT64` });
      return;
    }
    folded = next;
  }
  if (events.length === 0) {
    context.findings.add({ check: 'accounts', streamId, detail: `the Accounts row of ${account.userId} has no events: the ledger writes an account only with its events, so the row was inserted behind its back` });
    return;
  }
  const want = JSON.stringify(writeSideAccountJson(folded));
  const got = JSON.stringify(writeSideAccountJson(account));
  if (want !== got) {
    context.findings.add({
      check: 'accounts',
      streamId,
      detail: `the Accounts row of ${account.userId} is not the fold of its ${events.length} event(s): row ${got}, log ${want}`,
      difference: { view: 'accounts', key: keyText({ kind: 'balance', key: [account.userId] }), expected: want, actual: got },
    });
  }
  const net = netByAccount(events.flatMap((event) => context.postingRule(event)));
  for (const [name, books, held] of [
    [userAccount(account.userId), net.get(userAccount(account.userId)) ?? 0n, account.balanceMicroUsd],
    [pendingAccount(account.userId), net.get(pendingAccount(account.userId)) ?? 0n, account.pendingMicroUsd],
  ] as const) {
    if (books !== held) context.findings.add({ check: 'accounts', streamId, detail: `${name} sums its postings to ${books}, the Accounts row holds ${held}` });
  }
}

/**
 * Checks 4 and 2 (user part) for one user; returns the user's accounts' total as the balance
 * view has it (for the books' sum to zero).
 */
function checkUserViews(context: AuditContext, userId: string, events: readonly StoredEvent[], viewRows: ReadonlyMap<ProjectionName, ReadonlyMap<string, UserRows>>, checked: Record<string, number>): bigint {
  let total = 0n;
  for (const view of context.views.values()) {
    const upTo = eventsUpTo(events, view);
    const actual: UserRows = viewRows.get(view.projection)?.get(userId) ?? new Map();
    const projection = PROJECTIONS[view.projection] as Projection<unknown>;
    if (context.checks.has('views')) {
      const folded = foldUserView(projection, upTo);
      if (folded instanceof DamagedHistoryError) {
        context.findings.add({ check: 'views', ...(folded.eventId ? { eventId: folded.eventId } : {}), streamId: accountStreamId(userId), detail: `the ${view.projection} view cannot be folded from this stream: ${folded.message}` });
        continue;
      }
      const expected = new Map([...folded].filter(([, row]) => !projection.globalKinds.includes(projection.keyOf(row).kind)));
      checked[view.projection] = (checked[view.projection] ?? 0) + actual.size;
      for (const difference of diffViews(projection, expected, actual)) {
        context.findings.add({
          check: 'views',
          streamId: accountStreamId(userId),
          detail: `${view.projection} view row ${difference.key}: ${difference.actual ?? '(no row)'} where the log gives ${difference.expected ?? '(no row)'}`,
          difference: { view: view.projection, ...difference },
        });
      }
    }
    if (view.projection !== 'balances') continue;
    const row = actual.get(keyText({ kind: 'balance', key: [userId] })) as BalanceRow | undefined;
    if (!row) continue;
    total += row.books.userCredits - row.books.userDebits + row.books.pendingCredits - row.books.pendingDebits;
    if (!context.checks.has('books')) continue;
    const net = netByAccount(upTo.flatMap((event) => context.postingRule(event)));
    for (const [name, debits, credits] of [
      [userAccount(userId), row.books.userDebits, row.books.userCredits],
      [pendingAccount(userId), row.books.pendingDebits, row.books.pendingCredits],
    ] as const) {
      const want = net.get(name) ?? 0n;
      if (credits - debits !== want) context.findings.add({ check: 'books', streamId: accountStreamId(userId), detail: `${name} is ${credits - debits} in the books (credits ${credits}, debits ${debits}), its postings sum to ${want}` });
    }
  }
  return total;
}

/** A view's rows folded from one user's events, or the damage that stops the fold (when the chain check is off). */
function foldUserView(projection: Projection<unknown>, events: readonly StoredEvent[]): Map<string, unknown> | DamagedHistoryError {
  try {
    return foldAll(projection, events);
  } catch (error) {
    if (error instanceof DamagedHistoryError) return error;
    throw error;
  }
}

function eventsUpTo(events: readonly StoredEvent[], view: ComparedView): StoredEvent[] {
  const checkpoint = view.checkpoint;
  return checkpoint === null ? [] : events.filter((event) => comparePositions(positionOf(event), checkpoint) <= 0);
}
