import { withSnapshot } from '../../ledger/spanner/snapshot';
import { OptionError } from '../../ledger/core/option-error';
import { Account, emptyAccount } from '../../ledger/core/account';
import { pendingAccount, userAccount } from '../../ledger/core/postings';
import { GlobalPosition, LedgerStore } from '../../ledger/core/store';
import { parseBusinessTime, parseCommitTimestamp } from '../../ledger/core/time';
import { businessTimeFromMicros, businessTimeMicros, int64, Row, smallInt, timestampText } from '../../ledger/spanner/codec';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { addDeltas, FullDeltas, monthKey, monthStartOf, NO_DELTAS, SystemAccountRow } from '../core';
import { readActivePointers, readGenerationRows } from './generations';
import { balanceHistoryTable, balanceMonthTable, BOOKS_COLUMNS, booksFromRow, deltasFromRow, READ_JSON, systemAccountTable, systemHistoryTable } from './tables';

/**
 * Reading the books and the balances on both axes of time, from the balances projection.
 *
 * Every read happens in one strong snapshot: the active generation, its checkpoint and the
 * rows, so what is printed is the log cut at one point. Without --at that point is the
 * checkpoint (the views' own cut). With --at T, it is T: the rows say what the ledger said
 * at T, which needs the projection to have applied everything committed at or before T; a
 * projection behind T (a projector that is not running) is refused, never answered from.
 */

/** An account of the books: its balance is credits − debits. */
export interface BookAccount {
  readonly account: string;
  readonly debitsMicroUsd: bigint;
  readonly creditsMicroUsd: bigint;
}

/** The books projection has not applied everything up to the cut asked for. */
export class ProjectionBehindError extends OptionError {
  override readonly name = 'ProjectionBehindError';
}

/** A commit timestamp given as `at` that is not one (or is in the future), or a business time given as `asOf` that is not one. */
export class CutTimeError extends OptionError {
  override readonly name = 'CutTimeError';
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Snapshot = { run(query: any): Promise<any>; readTimestamp?: unknown; end(): void };

interface Cut {
  readonly snapshot: Snapshot;
  readonly readTimestamp: string;
  /** The active generation of the balances projection; null before it ever ran. */
  readonly generation: number | null;
  readonly checkpoint: GlobalPosition | null;
}

/** The parser's reason, when it says more than "not RFC 3339": " (it is not a valid calendar date)". */
function why(reason: string): string {
  return reason.startsWith('must be') ? '' : ` (it ${reason})`;
}

/**
 * Canonical commit-time text (nanoseconds, UTC) of an --at value, or CutTimeError. Exact for
 * any offset ("+00:00" keeps every digit "Z" does); a date that does not exist is refused.
 */
export function parseCommitTime(text: string, option = 'at'): string {
  const parsed = parseCommitTimestamp(text);
  if (!parsed.ok) {
    throw new CutTimeError((name) => `${name(option)} ${JSON.stringify(text)} is not an RFC 3339 timestamp${why(parsed.reason)}: give one such as 2026-03-01T12:00:00.123456789Z (the committedAt that \`events export\` prints)`);
  }
  return parsed.canonical;
}

/** Canonical business time of an --as-of value, or CutTimeError. */
export function parseAsOf(text: string, option = 'asOf'): string {
  const parsed = parseBusinessTime(text);
  if (!parsed.ok) throw new CutTimeError((name) => `${name(option)} ${JSON.stringify(text)} is not a business time${why(parsed.reason)}: an RFC 3339 timestamp with at most microseconds, from 0001 to 9999`);
  return parsed.time.canonical;
}

async function openCut(connection: SpannerConnection): Promise<Cut> {
  const [snapshot] = await connection.database.getSnapshot({ strong: true, returnReadTimestamp: true });
  try {
    const generation = (await readActivePointers(snapshot)).get('balances') ?? null;
    const state = generation === null ? undefined : (await readGenerationRows(snapshot, [{ projection: 'balances', generation }])).get(`balances/${generation}`);
    return { snapshot: snapshot as unknown as Snapshot, readTimestamp: timestampText(snapshot.readTimestamp), generation, checkpoint: state?.checkpoint ?? null };
  } catch (error) {
    snapshot.end();
    throw error;
  }
}

/**
 * Refuses a cut at T the projection has not reached: some event committed at or before T
 * lies after its checkpoint. (An event after the checkpoint but after T is fine.)
 */
async function assertCovers(store: LedgerStore, cut: Cut, at: string): Promise<void> {
  if (at > cut.readTimestamp) throw new CutTimeError((name) => `${name('at')} ${at} is after now (${cut.readTimestamp}): nothing is known about it yet`);
  if (cut.checkpoint !== null && cut.checkpoint.committedAt >= at) return;
  const next = await store.readAll(cut.checkpoint, 1, { readTimestamp: cut.readTimestamp });
  const first = next.events[0];
  if (first && first.committedAt <= at) {
    throw new ProjectionBehindError(
      (name) => `the balances projection has applied the log up to ${cut.checkpoint?.committedAt ?? 'its start'}, not yet up to ${name('at')} ${at}; run \`spanledger projections run\` (or drop ${name('stale')})`,
    );
  }
}

async function query(cut: Cut, connection: SpannerConnection, sql: string, params: Record<string, unknown>, types: Record<string, string>): Promise<Row[]> {
  const [rows] = await cut.snapshot.run({ sql, params, types, ...READ_JSON, ...connection.queryOptions });
  return rows as Row[];
}

/* ------------------------------------------------------------------ accounts */

export interface BooksOptions {
  /** A commit timestamp: the books as the ledger had them then. */
  readonly at?: string;
  /** Only accounts whose name starts with this. */
  readonly prefix?: string;
  /** Users read per query. */
  readonly pageSize?: number;
  /** Called once, before the first account, with the cut (so a streamed output can start with it). */
  readonly onCut?: (at: string | null) => void;
}

export interface BooksSummary {
  /** The cut printed: --at, or the checkpoint's commit timestamp; null for an empty ledger. */
  readonly at: string | null;
  readonly accounts: number;
  readonly totalMicroUsd: bigint;
}

/**
 * The user-ID prefix that can hold accounts starting with `prefix` (user:<escaped id>...),
 * '' for any user, or null when no user account can match.
 */
function userIdPrefix(prefix: string): string | null {
  if ('user:'.startsWith(prefix)) return '';
  if (!prefix.startsWith('user:')) return null;
  const escaped = prefix.slice('user:'.length).split(':')[0]!;
  // A prefix ending inside an escape (user:a%3) narrows nothing safely: read every user.
  const complete = escaped.replace(/%(25|3A)/g, '');
  if (complete.includes('%')) return '';
  return escaped.replace(/%3A/g, ':').replace(/%25/g, '%');
}

const BOOKS_SELECT = BOOKS_COLUMNS.join(', ');

/**
 * Accounts rows and balance view rows of the active generation, counted and summed in one
 * strong snapshot (doctor's cheap comparison of the write side and the view). Decimal strings.
 */
export async function readBalanceTotals(connection: SpannerConnection): Promise<{ accounts: string; accountsSum: string; viewRows: string; viewSum: string }> {
  return withSnapshot(connection, { strong: true }, async (snapshot) => {
    const [rows] = await snapshot.run({
      sql: `SELECT
          CAST((SELECT COUNT(*) FROM Accounts) AS STRING) AS Accounts,
          (SELECT CAST(IFNULL(SUM(BalanceMicroUsd), 0) AS STRING) FROM Accounts) AS AccountsSum,
          CAST((SELECT COUNT(*) FROM BalanceView v JOIN Projections p ON p.Projection = 'balances' AND v.Generation = p.ActiveGeneration) AS STRING) AS ViewRows,
          (SELECT CAST(IFNULL(SUM(v.BalanceMicroUsd), 0) AS STRING) FROM BalanceView v JOIN Projections p ON p.Projection = 'balances' AND v.Generation = p.ActiveGeneration) AS ViewSum`,
      json: true,
      ...connection.queryOptions,
    });
    const row = (rows as { Accounts: string; AccountsSum: string; ViewRows: string; ViewSum: string }[])[0]!;
    return { accounts: row.Accounts, accountsSum: row.AccountsSum, viewRows: row.ViewRows, viewSum: row.ViewSum };
  });
}

/** The system account rows of one generation of the balances view (those whose name starts with `prefix`), by name, read in the caller's snapshot. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function readSystemAccountRows(snapshot: { run(query: any): Promise<any> }, connection: SpannerConnection, generation: number, prefix = ''): Promise<SystemAccountRow[]> {
  const [rows] = await snapshot.run({
    sql: `SELECT ${systemAccountTable.columns.join(', ')} FROM SystemAccountsView WHERE Generation = @generation AND STARTS_WITH(Account, @prefix) ORDER BY Account`,
    params: { generation: String(generation), prefix },
    types: { generation: 'int64', prefix: 'string' },
    ...READ_JSON,
    ...connection.queryOptions,
  });
  return (rows as Row[]).map(systemAccountTable.fromRow);
}

/**
 * Streams the accounts of the books at one cut to `onAccount`: system accounts by name, then
 * every user's account (and pending account, once it held anything) by user ID. Memory stays
 * bounded whatever the number of users: they are read a page at a time.
 */
export async function readBooks(connection: SpannerConnection, store: LedgerStore, options: BooksOptions, onAccount: (account: BookAccount) => void): Promise<BooksSummary> {
  const prefix = options.prefix ?? '';
  const pageSize = options.pageSize ?? 500;
  const cut = await openCut(connection);
  try {
    const at = options.at ?? cut.checkpoint?.committedAt ?? null;
    if (options.at !== undefined) await assertCovers(store, cut, options.at);
    options.onCut?.(at);
    let accounts = 0;
    let total = 0n;
    const emit = (account: BookAccount) => {
      if (!account.account.startsWith(prefix)) return;
      accounts++;
      total += account.creditsMicroUsd - account.debitsMicroUsd;
      onAccount(account);
    };
    if (cut.generation === null || at === null) return { at, accounts, totalMicroUsd: total };
    const generation = String(cut.generation);

    for (const row of await readSystemAccountRows(cut.snapshot, connection, cut.generation, prefix)) {
      if (options.at === undefined) {
        emit({ account: row.account, debitsMicroUsd: row.debitsMicroUsd, creditsMicroUsd: row.creditsMicroUsd });
        continue;
      }
      // Newest first in key order: the first row at or before T holds the totals at T.
      const [then] = await query(
        cut,
        connection,
        `SELECT ${systemHistoryTable.columns.join(', ')} FROM SystemAccountHistoryView
          WHERE Generation = @generation AND Account = @account AND CommittedAt <= @at
          ORDER BY CommittedAt DESC, StreamId DESC, StreamVersion DESC LIMIT 1`,
        { generation, account: row.account, at: options.at },
        { generation: 'int64', account: 'string', at: 'timestamp' },
      );
      if (then) {
        const history = systemHistoryTable.fromRow(then);
        emit({ account: history.account, debitsMicroUsd: history.debitsMicroUsd, creditsMicroUsd: history.creditsMicroUsd });
      }
    }

    const idPrefix = userIdPrefix(prefix);
    if (idPrefix === null) return { at, accounts, totalMicroUsd: total };
    let after = '';
    for (let first = true; ; first = false) {
      const page =
        options.at === undefined
          ? await query(
              cut,
              connection,
              `SELECT UserId, ${BOOKS_SELECT} FROM BalanceView
                WHERE Generation = @generation AND (@first OR UserId > @after) AND STARTS_WITH(UserId, @idPrefix)
                ORDER BY UserId LIMIT @limit`,
              { generation, first, after, idPrefix, limit: String(pageSize) },
              { generation: 'int64', first: 'bool', after: 'string', idPrefix: 'string', limit: 'int64' },
            )
          : await query(
              cut,
              connection,
              // Each user's last history row committed at or before T (a seek on BalanceHistoryByCommit).
              `SELECT b.UserId, ${BOOKS_SELECT.split(', ').map((column) => `h.${column}`).join(', ')}
                FROM BalanceView b JOIN BalanceHistoryView h ON h.Generation = b.Generation AND h.UserId = b.UserId
                WHERE b.Generation = @generation AND (@first OR b.UserId > @after) AND STARTS_WITH(b.UserId, @idPrefix)
                  AND h.StreamVersion = (SELECT x.StreamVersion FROM BalanceHistoryView@{FORCE_INDEX=BalanceHistoryByCommit} x
                                         WHERE x.Generation = @generation AND x.UserId = b.UserId AND x.CommittedAt <= @at
                                         ORDER BY x.CommittedAt DESC, x.StreamVersion DESC LIMIT 1)
                ORDER BY b.UserId LIMIT @limit`,
              { generation, first, after, idPrefix, at: options.at, limit: String(pageSize) },
              { generation: 'int64', first: 'bool', after: 'string', idPrefix: 'string', at: 'timestamp', limit: 'int64' },
            );
      for (const row of page) {
        const userId = String(row.UserId);
        const books = booksFromRow(row);
        emit({ account: userAccount(userId), debitsMicroUsd: books.userDebits, creditsMicroUsd: books.userCredits });
        if (books.pendingDebits !== 0n || books.pendingCredits !== 0n) emit({ account: pendingAccount(userId), debitsMicroUsd: books.pendingDebits, creditsMicroUsd: books.pendingCredits });
      }
      if (page.length < pageSize) break;
      after = String(page[page.length - 1]!.UserId);
    }
    return { at, accounts, totalMicroUsd: total };
  } finally {
    cut.snapshot.end();
  }
}

/* ------------------------------------------------------------------ balances on two time axes */

export interface BalanceThen {
  readonly account: Account;
  /** occurredAt of the latest event (in stream order) counted; null when none is. */
  readonly lastEventAt: string | null;
  /** The commit timestamp the answer reflects (--at, or the checkpoint). */
  readonly cut: string | null;
}

/** A user's balance as the ledger had it at commit timestamp `at`: the last history row at or before it. */
export async function readBalanceAt(connection: SpannerConnection, store: LedgerStore, userId: string, at: string): Promise<BalanceThen> {
  const cut = await openCut(connection);
  try {
    await assertCovers(store, cut, at);
    if (cut.generation === null) return { account: emptyAccount(userId), lastEventAt: null, cut: at };
    const [row] = await query(
      cut,
      connection,
      `SELECT ${balanceHistoryTable.columns.join(', ')} FROM BalanceHistoryView@{FORCE_INDEX=BalanceHistoryByCommit}
        WHERE Generation = @generation AND UserId = @userId AND CommittedAt <= @at
        ORDER BY CommittedAt DESC, StreamVersion DESC LIMIT 1`,
      { generation: String(cut.generation), userId, at },
      { generation: 'int64', userId: 'string', at: 'timestamp' },
    );
    if (!row) return { account: emptyAccount(userId), lastEventAt: null, cut: at };
    const history = balanceHistoryTable.fromRow(row);
    return { account: history.account, lastEventAt: history.occurredAt, cut: at };
  } finally {
    cut.snapshot.end();
  }
}

/**
 * A user's balance as of business time `asOf`: every event with occurredAt at or before it,
 * whenever it was committed. Reads the user's month rows before asOf's month and the
 * history rows of that month up to asOf: never the whole history of a long-lived account.
 */
export async function readBalanceAsOf(connection: SpannerConnection, userId: string, asOf: string): Promise<BalanceThen> {
  const cut = await openCut(connection);
  try {
    if (cut.generation === null) return { account: emptyAccount(userId), lastEventAt: null, cut: null };
    const canonical = parseAsOf(asOf);
    const monthStart = monthKey(monthStartOf(canonical));
    const generation = String(cut.generation);
    let deltas: FullDeltas = NO_DELTAS;
    let events = 0;
    let last: { version: number; occurredAt: string } | null = null;
    const seen = (version: number, occurredAt: string) => {
      if (!last || version > last.version) last = { version, occurredAt };
    };
    const months = await query(
      cut,
      connection,
      `SELECT ${balanceMonthTable.columns.join(', ')} FROM BalanceMonthsView WHERE Generation = @generation AND UserId = @userId AND MonthStartMicros < @monthStart`,
      { generation, userId, monthStart },
      { generation: 'int64', userId: 'string', monthStart: 'int64' },
    );
    for (const month of months.map(balanceMonthTable.fromRow)) {
      deltas = addDeltas(deltas, month.deltas);
      events += month.events;
      seen(month.lastVersion, month.lastOccurredAt);
    }
    const rows = await query(
      cut,
      connection,
      `SELECT StreamVersion, OccurredAtMicros, ${balanceHistoryTable.columns.filter((column) => column.startsWith('Delta')).join(', ')}
        FROM BalanceHistoryView@{FORCE_INDEX=BalanceHistoryByOccurredAt}
        WHERE Generation = @generation AND UserId = @userId AND OccurredAtMicros >= @monthStart AND OccurredAtMicros <= @asOf`,
      { generation, userId, monthStart, asOf: businessTimeMicros(canonical) },
      { generation: 'int64', userId: 'string', monthStart: 'int64', asOf: 'int64' },
    );
    for (const row of rows) {
      deltas = addDeltas(deltas, deltasFromRow(row, int64));
      events++;
      seen(smallInt(row.StreamVersion), businessTimeFromMicros(row.OccurredAtMicros));
    }
    const account: Account = {
      userId,
      version: events,
      balanceMicroUsd: deltas.balanceMicroUsd,
      depositsMicroUsd: deltas.depositsMicroUsd,
      bonusesMicroUsd: deltas.bonusesMicroUsd,
      chargesMicroUsd: deltas.chargesMicroUsd,
      pendingMicroUsd: deltas.pendingMicroUsd,
      adjustmentsMicroUsd: deltas.adjustmentsMicroUsd,
      openInvoicesMicroUsd: deltas.openInvoicesMicroUsd,
      openInvoiceCount: deltas.openInvoiceCount,
    };
    return { account, lastEventAt: (last as { occurredAt: string } | null)?.occurredAt ?? null, cut: cut.checkpoint?.committedAt ?? null };
  } finally {
    cut.snapshot.end();
  }
}
