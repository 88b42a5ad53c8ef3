import { PreciseDate } from '@google-cloud/precise-date';
import { Transaction } from '@google-cloud/spanner';
import { Account, Charge } from '../core/account';
import { StoredEvent } from '../core/events';
import { LIMITS } from '../core/limits';
import {
  GlobalPosition,
  LedgerStore,
  LedgerTransaction,
  LedgerWrites,
  ReadAllOptions,
  ReadAllPage,
  TransactionResult,
} from '../core/store';
import {
  ACCOUNT_COLUMNS,
  accountFromRow,
  accountToRow,
  CHARGE_COLUMNS,
  chargeFromRow,
  chargeToRow,
  EVENT_COLUMNS,
  eventFromRow,
  Row,
  shardOf,
  smallInt,
  timestampText,
} from './codec';
import { SpannerConnection } from './connection';
import { EVENT_ORDER_SHARDS } from './schema';

const READ_JSON = { json: true, jsonOptions: { wrapNumbers: true } } as const;

/** Mutations one write set costs, counted as Spanner counts them (cells plus index entries). */
export function mutationCount(writes: LedgerWrites): number {
  return writes.events.length * (EVENT_COLUMNS.length + 1 + 2) + writes.accounts.length * 9 + writes.charges.length * 6;
}

/** Reads and buffered writes of one Spanner read-write transaction (see LedgerTransaction). */
class SpannerLedgerTransaction implements LedgerTransaction {
  readonly pending: LedgerWrites[] = [];

  constructor(
    private readonly tx: Transaction,
    private readonly connection: SpannerConnection,
  ) {}

  private async readByKeys(table: string, columns: readonly string[], keys: readonly string[]): Promise<Row[]> {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return [];
    const [rows] = await this.tx.read(table, { keys: unique, columns: [...columns], ...READ_JSON });
    return rows as unknown as Row[];
  }

  async readEvents(eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
    const rows = await this.readByKeys('Events', EVENT_COLUMNS, eventIds);
    return new Map(rows.map((row) => [String(row.EventId), eventFromRow(row)]));
  }

  async readAccounts(userIds: readonly string[]): Promise<Map<string, Account>> {
    const rows = await this.readByKeys('Accounts', ACCOUNT_COLUMNS, userIds);
    return new Map(rows.map((row) => [String(row.UserId), accountFromRow(row)]));
  }

  async readCharges(invoiceIds: readonly string[]): Promise<Map<string, Charge>> {
    const rows = await this.readByKeys('Charges', CHARGE_COLUMNS, invoiceIds);
    return new Map(rows.map((row) => [String(row.InvoiceId), chargeFromRow(row)]));
  }

  async readStreamVersion(streamId: string): Promise<number> {
    const [rows] = await this.tx.run({
      sql: 'SELECT MAX(StreamVersion) AS Version FROM Events@{FORCE_INDEX=EventsByStream} WHERE StreamId = @streamId',
      params: { streamId },
      ...READ_JSON,
      ...this.connection.queryOptions,
    });
    const version = (rows as unknown as Row[])[0]?.Version;
    return version === null || version === undefined ? 0 : smallInt(version);
  }

  write(writes: LedgerWrites): void {
    this.pending.push(writes);
  }

  /** Turns the buffered writes into mutations on the transaction (still nothing sent). */
  flush(): number {
    let mutations = 0;
    for (const writes of this.pending) {
      mutations += mutationCount(writes);
      if (writes.events.length > 0) {
        this.tx.insert(
          'Events',
          writes.events.map((event) => ({
            EventId: event.eventId,
            StreamId: event.streamId,
            StreamVersion: String(event.streamVersion),
            Shard: String(shardOf(event.eventId)),
            EventType: event.type,
            SchemaVersion: String(event.schemaVersion),
            OccurredAt: event.occurredAt,
            Payload: JSON.stringify(event.payload),
            ContentDigest: event.contentDigest,
            CommittedAt: 'spanner.commit_timestamp()',
          })),
        );
      }
      if (writes.accounts.length > 0) this.tx.upsert('Accounts', writes.accounts.map(accountToRow));
      if (writes.charges.length > 0) this.tx.upsert('Charges', writes.charges.map(chargeToRow));
    }
    // The emulator does not enforce Spanner's per-commit mutation limit; production would
    // fail the whole commit, so fail here first, on every backend, with the figures.
    if (mutations > LIMITS.spannerMutationsPerCommitMax) {
      throw new Error(`commit would hold ${mutations} mutations, above Spanner's limit of ${LIMITS.spannerMutationsPerCommitMax}`);
    }
    return mutations;
  }
}

/** The global-order predicate "strictly after this position". */
const AFTER_POSITION = `(CommittedAt > @committedAt
  OR (CommittedAt = @committedAt AND (StreamId > @streamId OR (StreamId = @streamId AND StreamVersion > @streamVersion))))`;

/** Hooks for metrics; the store itself never logs. */
export interface StoreObserver {
  onTransactionRetry?(attempt: number, error: unknown): void;
}

const ABORTED = 10;

function isRetryable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === ABORTED || (typeof message === 'string' && /Session not found/i.test(message));
}

/** 10 ms doubling to at most 1 s, with full jitter so aborted writers do not collide again in step. */
function retryDelayMs(attempt: number): number {
  return Math.random() * Math.min(1000, 10 * 2 ** attempt);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class SpannerLedgerStore implements LedgerStore {
  constructor(
    readonly connection: SpannerConnection,
    readonly observer: StoreObserver = {},
  ) {}

  /**
   * Runs `work` in a read-write transaction, re-running it on ABORTED.
   *
   * The retry loop is ours rather than the client's runTransactionAsync: the client backs
   * off 2 s, 4 s, 8 s... per abort, which on the emulator (one read-write transaction at a
   * time, every other one aborted) turns eight concurrent writers into tens of seconds.
   * Here the back-off is short, jittered and bounded by LIMITS.transactionAttemptsMax,
   * and every retry is counted for the metrics.
   */
  transact<T>(work: (tx: LedgerTransaction) => Promise<T>): Promise<TransactionResult<T>> {
    if (!this.connection.settings.emulatorHost) return this.runTransaction(work);
    // The emulator runs one read-write transaction at a time and makes the others wait
    // (hundreds of ms each) or aborts them. Queueing this process's own transactions
    // avoids that; transactions from other processes still contend, and are retried.
    const run = this.emulatorQueue.then(() => this.runTransaction(work));
    this.emulatorQueue = run.catch(() => undefined);
    return run;
  }

  private emulatorQueue: Promise<unknown> = Promise.resolve();

  private async runTransaction<T>(work: (tx: LedgerTransaction) => Promise<T>): Promise<TransactionResult<T>> {
    for (let attempt = 1; ; attempt++) {
      const [tx] = await this.connection.database.getTransaction();
      try {
        // Everything from here to the commit may run again on ABORTED: only reads through
        // `tx`, the caller's pure work, and buffering mutations. No logs, sends or offsets.
        const ledgerTx = new SpannerLedgerTransaction(tx, this.connection);
        const value = await work(ledgerTx);
        const mutations = ledgerTx.flush();
        if (mutations === 0) {
          // Roll back rather than just end: an abandoned transaction keeps its locks on the
          // emulator (one read-write transaction at a time) until it times out.
          await tx.rollback();
          return { value, committedAt: undefined };
        }
        await tx.commit();
        if (!tx.commitTimestampProto) throw new Error('Spanner returned no commit timestamp');
        return { value, committedAt: timestampText(tx.commitTimestamp) };
      } catch (error) {
        await tx.rollback().catch(() => undefined);
        if (!isRetryable(error) || attempt >= LIMITS.transactionAttemptsMax) throw error;
        this.observer.onTransactionRetry?.(attempt, error);
        await sleep(retryDelayMs(attempt));
      } finally {
        tx.end();
      }
    }
  }

  /**
   * Events strictly after `after` in the global order (commit timestamp, stream, version).
   *
   * One query is one strong snapshot read at a timestamp T chosen by Spanner. External
   * consistency means every transaction that committed before T is visible and every one
   * that commits later gets a commit timestamp greater than T, so it sorts after every event
   * this page can return. Using the last returned event as the next cursor therefore never
   * skips an event that commits later, however long the reader pauses in between.
   */
  async readAll(after: GlobalPosition | null, limit: number, options: ReadAllOptions = {}): Promise<ReadAllPage> {
    if (limit < 1 || limit > LIMITS.readPageSizeMax) throw new RangeError(`readAll limit must be 1..${LIMITS.readPageSizeMax}`);
    const cursor = after ?? { committedAt: '0001-01-01T00:00:00.000000000Z', streamId: '', streamVersion: 0 };
    const snapshotOptions = options.readTimestamp ? { readTimestamp: new PreciseDate(options.readTimestamp) } : { strong: true };
    const [snapshot] = await this.connection.database.getSnapshot(snapshotOptions);
    try {
      const [rows] = await snapshot.run({
        sql: `SELECT ${EVENT_COLUMNS.join(', ')} FROM Events@{FORCE_INDEX=EventsByCommit}
              WHERE Shard >= 0 AND Shard < ${EVENT_ORDER_SHARDS} AND ${AFTER_POSITION}
              ORDER BY CommittedAt, StreamId, StreamVersion
              LIMIT @limit`,
        params: { ...cursor, streamVersion: String(cursor.streamVersion), limit: String(limit) },
        types: { committedAt: 'timestamp', streamId: 'string', streamVersion: 'int64', limit: 'int64' },
        ...READ_JSON,
        ...this.connection.queryOptions,
      });
      const events = (rows as unknown as Row[]).map(eventFromRow);
      const last = events[events.length - 1];
      return { events, position: last ? { committedAt: last.committedAt, streamId: last.streamId, streamVersion: last.streamVersion } : after };
    } finally {
      snapshot.end();
    }
  }

  async readStream(streamId: string, fromVersion = 1): Promise<StoredEvent[]> {
    const [rows] = await this.connection.database.run({
      sql: `SELECT ${EVENT_COLUMNS.join(', ')} FROM Events@{FORCE_INDEX=EventsByStream}
            WHERE StreamId = @streamId AND StreamVersion >= @fromVersion ORDER BY StreamVersion`,
      params: { streamId, fromVersion: String(fromVersion) },
      types: { streamId: 'string', fromVersion: 'int64' },
      ...READ_JSON,
      ...this.connection.queryOptions,
    });
    return (rows as unknown as Row[]).map(eventFromRow);
  }

  async readEvents(eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
    const unique = [...new Set(eventIds)];
    if (unique.length === 0) return new Map();
    const [rows] = await this.connection.database.table('Events').read({ keys: unique, columns: [...EVENT_COLUMNS], ...READ_JSON });
    return new Map((rows as unknown as Row[]).map((row) => [String(row.EventId), eventFromRow(row)]));
  }

  async readAccount(userId: string): Promise<Account | undefined> {
    const [rows] = await this.connection.database.table('Accounts').read({ keys: [userId], columns: [...ACCOUNT_COLUMNS], ...READ_JSON });
    const row = (rows as unknown as Row[])[0];
    return row ? accountFromRow(row) : undefined;
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
