import { Account, emptyAccount } from '../ledger/core/account';
import { Command } from '../ledger/core/commands';
import { CommandHandler, CommandOutcome, CommandsIncompleteError } from '../ledger/core/handler';
import { rideOut, SYSTEM_CLOCK } from '../ledger/system-clock';
import { connect, SpannerConnection } from '../ledger/spanner/connection';
import { schemaStateOf } from '../ledger/spanner/migrate';
import { readAccountPage } from '../ledger/spanner/account-pages';
import { SpannerLedgerStore } from '../ledger/spanner/store';
import { InvoiceStatus, invoiceJson, ProjectionName, transactionJson, TransactionRow } from '../projections/core';
import { BookAccount, parseAsOf, parseCommitTime, readBalanceAsOf, readBalanceAt, readBooks } from '../projections/spanner/books';
import { readInvoices, readTransactions, TransactionCursor } from '../projections/spanner/view-reads';
import { runProjector } from '../projections/spanner/runtime';
import { audit, AuditReport } from './audit/audit';
import { findingJson } from './audit/findings';
import { useNativeSha256 } from '../ledger/native-sha256';
import { MIGRATIONS } from './schema';
import { LedgerInputError, LedgerSchemaError } from './errors';
import { LedgerSettings, resolveLedgerSettings, ResolvedLedgerSettings } from './settings';

/**
 * spanledger as a library: one handle on one ledger database, with the operations the CLI
 * has, returning the same objects its `--json` output prints (money as decimal strings of
 * micro-dollars, signed by their effect on the balance). The CLI is built on this class.
 *
 * @example
 * const ledger = await openLedger();            // the CLI's environment: SPANNER_*, SPANLEDGER_*
 * const [outcome] = await ledger.submit([{ type: 'adjust', userId: 'u1', amountMicroUsd: '5000000',
 *   reason: 'goodwill', idempotencyKey: 'ticket-42', occurredAt: '2026-01-31T12:00:00Z' }]);
 * const balance = await ledger.balance('u1');   // { userId, balanceMicroUsd: '5000000', ... }
 * await ledger.close();
 */

/** One submitted command's outcome: a `submit` output line without `line`. */
export interface SubmitOutcome {
  readonly status: CommandOutcome['status'];
  /** The events the command appended (accepted) or had appended before (duplicate); empty otherwise. */
  readonly eventIds: readonly string[];
  /** Why it was rejected or invalid, e.g. INSUFFICIENT_FUNDS or INVALID_COMMAND. */
  readonly code?: string;
  readonly message?: string;
  /** Present (true) for the outcomes of a dry run. */
  readonly dryRun?: true;
}

/** `balance --json`: the account and its parts, each signed by its effect on the balance (they sum to it). */
export interface BalanceReport {
  readonly userId: string;
  readonly balanceMicroUsd: string;
  readonly depositsMicroUsd: string;
  readonly bonusesMicroUsd: string;
  /** Negative: what charges and invoice payments took. */
  readonly chargesMicroUsd: string;
  /** Negative: what pending charges hold. */
  readonly pendingMicroUsd: string;
  readonly adjustmentsMicroUsd: string;
  /** Still due on open invoices (not a movement: non-negative). */
  readonly openInvoicesMicroUsd: string;
  /** Events of the account (as of the time asked for). */
  readonly version: number;
  /** False when no event names this user (at that time): the fields are zeros. */
  readonly exists: boolean;
}

export interface BalanceOptions {
  /** A commit timestamp: the balance as the ledger had it then (e.g. a `committedAt` of `events export`). */
  readonly at?: string;
  /** A business time: every event that occurred at or before it, whenever committed. */
  readonly asOf?: string;
  /** With `at` or `asOf`: read the balances view as it is, without catching it up first. */
  readonly stale?: boolean;
}

export interface TransactionsOptions {
  /** At most this many rows (default 100). */
  readonly limit?: number;
  /** Rows that occurred at or before this business time, each with the status it had then. */
  readonly asOf?: string;
  /** occurredAt at or after (inclusive). */
  readonly since?: string;
  /** occurredAt before (exclusive). */
  readonly until?: string;
  readonly type?: TransactionRow['type'];
  readonly source?: TransactionRow['source'];
  readonly status?: TransactionRow['status'];
  /** The `next` of a previous page. */
  readonly after?: string;
  /** Read the view as it is, without catching it up first. */
  readonly stale?: boolean;
}

export interface TransactionsReport {
  readonly userId: string;
  readonly generation: number | null;
  readonly transactions: Record<string, unknown>[];
  /** Present when more rows match: pass it as `after`. */
  readonly next?: string;
}

export interface InvoicesReport {
  readonly userId: string;
  readonly invoices: Record<string, unknown>[];
}

export interface UsersOptions {
  readonly prefix?: string;
  /** At most this many users (default 100). */
  readonly limit?: number;
  /** The `next` of a previous page. */
  readonly after?: string;
}

export interface UsersReport {
  readonly users: BalanceReport[];
  readonly next?: string;
}

/** An account of the books: balance = credits − debits. */
export interface BooksAccount {
  readonly account: string;
  readonly debitsMicroUsd: string;
  readonly creditsMicroUsd: string;
  readonly balanceMicroUsd: string;
}

export interface AccountsOptions {
  /** A commit timestamp: the books as they were then. */
  readonly at?: string;
  /** Only accounts whose name starts with this (e.g. `chain:` or `user:alice`). */
  readonly prefix?: string;
  readonly stale?: boolean;
  /** Receive the accounts one by one instead of in the report (a ledger of millions of users in bounded memory). */
  readonly onAccount?: (account: BooksAccount) => void;
}

export interface BooksReport {
  /** The cut: `at`, or the commit timestamp of the last event the books have; null for an empty ledger. */
  readonly at: string | null;
  /** Every account, unless `onAccount` received them. */
  readonly accounts: BooksAccount[];
  readonly totalMicroUsd: string;
}

export interface AuditOptions {
  /** Audit the database as it was at this commit timestamp (within its version retention). */
  readonly at?: string;
  /** Keep at most this many findings (all are counted). */
  readonly limit?: number;
}

export interface AuditReportJson {
  readonly ok: boolean;
  readonly findings: Record<string, string>[];
  readonly readTimestamp: string;
  readonly events: number;
  readonly streams: number;
  readonly findingCount: number;
  readonly checks: readonly string[];
  readonly checked: Record<string, number>;
  readonly lagging: ProjectionName[];
  readonly skipped: AuditReport['skipped'];
}

/**
 * Spanner did not answer for longer than the deadline in the middle of a submit. `outcomes`
 * answer the first commands (applied, or invalid/rejected); the commands at `uncertain`
 * (indexes into the submitted list) were in a commit whose reply never came, so they may
 * have been applied; the rest (`notApplied`) were not. Submitting the same list again is
 * safe: what was applied answers duplicate.
 */
export class SubmitIncompleteError extends Error {
  override readonly name = 'SubmitIncompleteError';
  constructor(
    readonly outcomes: SubmitOutcome[],
    readonly uncertain: readonly number[],
    readonly notApplied: readonly number[],
    override readonly cause: unknown,
  ) {
    super(
      `Spanner stopped answering: ${outcomes.length} of ${outcomes.length + uncertain.length + notApplied.length} command(s) answered, ` +
        `${uncertain.length} may have been applied (their commit's reply was lost), ${notApplied.length} not applied (${cause instanceof Error ? cause.message : String(cause)})`,
    );
  }
}

/** A cursor that this ledger did not print. */
export class CursorError extends LedgerInputError {
  override readonly name = 'CursorError';
}

const encodeCursor = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (cursor === '' || encodeCursor(text) !== cursor) throw notACursor(cursor);
  return text;
}

function notACursor(cursor: string): CursorError {
  return new CursorError((name) => `${name('after')} ${JSON.stringify(cursor)} is not a cursor that was printed as "next"`);
}

function transactionCursor(cursor: TransactionCursor): string {
  return encodeCursor(`${cursor.occurredAtMicros}:${cursor.streamVersion}`);
}

function parseTransactionCursor(cursor: string): TransactionCursor {
  const match = /^(-?\d{1,20}):([1-9]\d{0,15})$/.exec(decodeCursor(cursor));
  if (!match) throw notACursor(cursor);
  return { occurredAtMicros: match[1]!, streamVersion: Number(match[2]) };
}

/** The wire form of an account's balance (see BalanceReport). */
export function balanceReport(account: Account, exists: boolean): BalanceReport {
  return {
    userId: account.userId,
    balanceMicroUsd: account.balanceMicroUsd.toString(),
    depositsMicroUsd: account.depositsMicroUsd.toString(),
    bonusesMicroUsd: account.bonusesMicroUsd.toString(),
    chargesMicroUsd: (-account.chargesMicroUsd).toString(),
    pendingMicroUsd: (-account.pendingMicroUsd).toString(),
    adjustmentsMicroUsd: account.adjustmentsMicroUsd.toString(),
    openInvoicesMicroUsd: account.openInvoicesMicroUsd.toString(),
    version: account.version,
    exists,
  };
}

function submitOutcome(outcome: CommandOutcome, dryRun: boolean): SubmitOutcome {
  return { status: outcome.status, eventIds: outcome.eventIds ?? [], ...(outcome.code ? { code: outcome.code, message: outcome.message } : {}), ...(dryRun ? { dryRun: true as const } : {}) };
}

function booksAccount(account: BookAccount): BooksAccount {
  return { account: account.account, debitsMicroUsd: account.debitsMicroUsd.toString(), creditsMicroUsd: account.creditsMicroUsd.toString(), balanceMicroUsd: (account.creditsMicroUsd - account.debitsMicroUsd).toString() };
}

export class Ledger {
  private readonly handler: CommandHandler;
  /** A read (or a catch-up and a read) retried while Spanner does not answer, up to the deadline. */
  private readonly riding: ReturnType<typeof rideOut>;

  /** Use openLedger(). */
  constructor(
    readonly store: SpannerLedgerStore,
    readonly settings: ResolvedLedgerSettings,
  ) {
    this.handler = new CommandHandler(store, {
      bonusRateBps: settings.bonusRateBps,
      balanceThresholdsMicroUsd: settings.balanceThresholdsMicroUsd,
      batchSize: settings.batchSize,
      outage: { policy: { outageMaxMs: settings.deadlineMs }, clock: SYSTEM_CLOCK, observer: settings.onOutage },
    });
    this.riding = rideOut((error) => store.isTransient(error), settings.deadlineMs, settings.onOutage);
  }

  /**
   * Decides commands, in order, in group commits: one outcome per command. Each command is a
   * command object or its JSON text; invalid input is an outcome (`invalid`, naming the
   * field), never a throw. A command applied before is a `duplicate` with the same event IDs.
   * With `dryRun`, every command is decided against the committed state in one transaction
   * that is rolled back: the same outcomes, nothing written.
   */
  async submit(commands: readonly (Command | string | Record<string, unknown>)[], options: { dryRun?: boolean } = {}): Promise<SubmitOutcome[]> {
    const texts = commands.map((command) => (typeof command === 'string' ? command : JSON.stringify(command)));
    const dryRun = Boolean(options.dryRun);
    try {
      // A dry run writes nothing, so it is simply tried again; a real one retries batch by batch.
      const outcomes = dryRun ? await this.riding('a dry run', () => this.handler.handleTexts(texts, undefined, { dryRun })) : await this.handler.handleTexts(texts);
      return outcomes.map((outcome) => submitOutcome(outcome, dryRun));
    } catch (error) {
      if (!(error instanceof CommandsIncompleteError)) throw error;
      const uncertain = new Set(error.uncertain);
      const rest = texts.map((_, index) => index).filter((index) => index >= error.decided.length && !uncertain.has(index));
      throw new SubmitIncompleteError(
        error.decided.map((outcome) => submitOutcome(outcome, false)),
        error.uncertain,
        rest,
        error.cause,
      );
    }
  }

  /**
   * A user's balance and its parts: now, from the row committed with the events (it reflects
   * every submit that returned before); `at` a commit timestamp or `asOf` a business time, from
   * the balances view's history of this user (caught up first unless `stale`).
   */
  async balance(userId: string, options: BalanceOptions = {}): Promise<BalanceReport> {
    if (options.at !== undefined && options.asOf !== undefined) throw new LedgerInputError((name) => `give ${name('at')} (commit time) or ${name('asOf')} (business time), not both`);
    if (options.at === undefined && options.asOf === undefined) {
      const stored = await this.riding('reading a balance', () => this.store.readAccount(userId));
      return balanceReport(stored ?? emptyAccount(userId), stored !== undefined);
    }
    const at = options.at === undefined ? undefined : parseCommitTime(options.at);
    const asOf = options.asOf === undefined ? undefined : parseAsOf(options.asOf);
    if (!options.stale) await this.catchUp(['balances']);
    const then = await this.riding('reading a balance', () => (at !== undefined ? readBalanceAt(this.store.connection, this.store, userId, at) : readBalanceAsOf(this.store.connection, userId, asOf!)));
    return balanceReport(then.account, then.account.version > 0);
  }

  /** A user's transactions, newest first (occurredAt, then stream version), filtered and paged. */
  async transactions(userId: string, options: TransactionsOptions = {}): Promise<TransactionsReport> {
    const time = (option: string, text: string | undefined) => (text === undefined ? undefined : parseAsOf(text, option));
    const filter = {
      asOf: time('asOf', options.asOf),
      since: time('since', options.since),
      until: time('until', options.until),
      type: options.type,
      source: options.source,
      status: options.status,
      after: options.after === undefined ? undefined : parseTransactionCursor(options.after),
    };
    if (!options.stale) await this.catchUp(['transactions']);
    const page = await this.riding('reading transactions', () => readTransactions(this.store.connection, userId, options.limit ?? 100, filter));
    return { userId, generation: page.generation, transactions: page.rows.map(transactionJson), ...(page.next ? { next: transactionCursor(page.next) } : {}) };
  }

  /** A user's invoices with their payments, oldest first (opened at, then invoice ID). */
  async invoices(userId: string, options: { status?: InvoiceStatus; stale?: boolean } = {}): Promise<InvoicesReport> {
    if (!options.stale) await this.catchUp(['invoices']);
    const page = await this.riding('reading invoices', () => readInvoices(this.store.connection, userId, options.status));
    return { userId, invoices: page.rows.map(invoiceJson) };
  }

  /** Accounts with their balances, by user ID (Spanner's UTF-8 order), a page at a time. */
  async users(options: UsersOptions = {}): Promise<UsersReport> {
    const limit = options.limit ?? 100;
    const after = options.after === undefined ? null : decodeCursor(options.after);
    const accounts = await this.riding('reading users', () => readAccountPage(this.store.connection, { prefix: options.prefix, after, limit: limit + 1 }));
    const page = accounts.slice(0, limit);
    const next = accounts.length > limit ? encodeCursor(page[page.length - 1]!.userId) : undefined;
    return { users: page.map((account) => balanceReport(account, true)), ...(next ? { next } : {}) };
  }

  /** The books at one cut: system accounts by name, then users by user ID; all sum to zero. */
  async accounts(options: AccountsOptions = {}): Promise<BooksReport> {
    const at = options.at === undefined ? undefined : parseCommitTime(options.at);
    if (!options.stale) await this.catchUp(['balances']);
    if (options.onAccount) {
      // Streamed to the caller: not retried once accounts went out (they would go out twice).
      const summary = await readBooks(this.store.connection, this.store, { at, prefix: options.prefix }, (account) => options.onAccount!(booksAccount(account)));
      return { at: summary.at, accounts: [], totalMicroUsd: summary.totalMicroUsd.toString() };
    }
    return this.riding('reading the books', async () => {
      const accounts: BooksAccount[] = [];
      const summary = await readBooks(this.store.connection, this.store, { at, prefix: options.prefix }, (account) => accounts.push(booksAccount(account)));
      return { at: summary.at, accounts, totalMicroUsd: summary.totalMicroUsd.toString() };
    });
  }

  /** Like accounts(), streamed: `onCut` gets the cut before the first account. */
  async eachAccount(options: Omit<AccountsOptions, 'onAccount'>, onCut: (at: string | null) => void, onAccount: (account: BooksAccount) => void): Promise<{ accounts: number; totalMicroUsd: string }> {
    const at = options.at === undefined ? undefined : parseCommitTime(options.at);
    if (!options.stale) await this.catchUp(['balances']);
    const summary = await readBooks(this.store.connection, this.store, { at, prefix: options.prefix, onCut }, (account) => onAccount(booksAccount(account)));
    return { accounts: summary.accounts, totalMicroUsd: summary.totalMicroUsd.toString() };
  }

  /** The audit (postings, books, accounts, views, hash chains) at one read timestamp: `ok`, or the findings. */
  async audit(options: AuditOptions = {}): Promise<AuditReportJson> {
    const at = options.at === undefined ? undefined : parseCommitTime(options.at);
    // One read timestamp for the whole audit: after an outage it starts again, at a new one (or the same `at`).
    const report = await this.riding('auditing', () => audit(this.store.connection, this.store, { at, findingsLimit: options.limit }));
    const { findings, ok, ...rest } = report;
    return { ok, findings: findings.map(findingJson), ...rest };
  }

  /** Brings views up to date before a read (read-your-writes); checkpointed, so safe to retry. */
  private async catchUp(projections: ProjectionName[]): Promise<void> {
    await this.riding('catching up the views', () => runProjector(this.store.connection, this.store, { projections }));
  }

  /** Closes the Spanner connection. */
  async close(): Promise<void> {
    await this.store.close();
  }
}

/**
 * Opens the ledger. Without settings it reads the same environment as the CLI (emulator host,
 * project, instance, database, bonus rate, thresholds; see the README). The database must
 * exist and have every migration this version knows (`spanledger db migrate`): otherwise a
 * LedgerSchemaError says which, before any command is decided on a schema it does not expect.
 */
export async function openLedger(settings: LedgerSettings = {}): Promise<Ledger> {
  useNativeSha256();
  const resolved = resolveLedgerSettings(settings);
  const connection = connect(resolved.spanner);
  try {
    await checkSchema(connection);
  } catch (error) {
    await connection.close();
    throw error;
  }
  return new Ledger(new SpannerLedgerStore(connection), resolved);
}

async function checkSchema(connection: SpannerConnection): Promise<void> {
  const { databaseId } = connection.settings;
  const [exists] = await connection.database.exists();
  if (!exists) throw new LedgerSchemaError(`database ${databaseId} does not exist: create it with \`spanledger db migrate --database ${databaseId}\``);
  const state = await schemaStateOf(connection, MIGRATIONS);
  if (state.unknown.length > 0) throw new LedgerSchemaError(`database ${databaseId} has migrations ${state.unknown.join(', ')} that this spanledger does not know: it was written by a newer version`);
  if (state.pending.length > 0) throw new LedgerSchemaError(`database ${databaseId} lacks migrations ${state.pending.join(', ')}: run \`spanledger db migrate --database ${databaseId}\``);
}
