import { withSnapshot } from './snapshot';
import { randomUUID } from 'node:crypto';
import { PreciseDate } from '@google-cloud/precise-date';
import { Transaction } from '@google-cloud/spanner';
import { Account, Charge, Invoice } from '../core/account';
import { StoredEvent } from '../core/events';
import { LIMITS } from '../core/limits';
import {
  comparePositions,
  GlobalPosition,
  InboxOffset,
  InvoiceKey,
  invoiceKey,
  KafkaOutcome,
  LedgerStore,
  LedgerTransaction,
  LedgerWrites,
  ReadAllOptions,
  ReadAllPage,
  TransactionResult,
  TransactOptions,
} from '../core/store';
import {
  ACCOUNT_COLUMNS,
  EVENT_ORDER_SHARDS,
  accountFromRow,
  CHARGE_COLUMNS,
  chargeFromRow,
  EVENT_READ_COLUMNS,
  storedEventFromRow,
  int64,
  INVOICE_COLUMNS,
  invoiceFromRow,
  READ_JSON,
  Row,
  smallInt,
  timestampText,
} from './codec';
import { SpannerConnection } from './connection';
import { deleteKeyRange } from './range-delete';
import { runReadWrite, TransactionObserver } from './transaction';
import { planWrites } from './write-plan';
import { isTransientSpannerError } from './transient';

export { mutationCount } from './write-plan';


/** Reads and buffered writes of one Spanner read-write transaction (see LedgerTransaction). */
class SpannerLedgerTransaction implements LedgerTransaction {
  readonly pending: LedgerWrites[] = [];
  /** Accounts as this transaction read them (then as it last wrote them): what an account write changes. */
  private readonly accountsRead = new Map<string, Account>();

  constructor(
    private readonly tx: Transaction,
    private readonly connection: SpannerConnection,
  ) {}

  private async readByKeys(table: string, columns: readonly string[], keys: readonly string[]): Promise<Row[]> {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return [];
    const [rows] = await this.tx.read(table, { keys: unique, columns: [...columns], ...READ_JSON, ...this.connection.queryOptions });
    return rows as unknown as Row[];
  }

  async readEvents(eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
    const rows = await this.readByKeys('Events', EVENT_READ_COLUMNS, eventIds);
    return new Map(rows.map((row) => [String(row.EventId), storedEventFromRow(row)]));
  }

  async readAccounts(userIds: readonly string[]): Promise<Map<string, Account>> {
    const rows = await this.readByKeys('Accounts', ACCOUNT_COLUMNS, userIds);
    const accounts = new Map(rows.map((row) => [String(row.UserId), accountFromRow(row)]));
    for (const [userId, account] of accounts) this.accountsRead.set(userId, account);
    return accounts;
  }

  async readCharges(invoiceIds: readonly string[]): Promise<Map<string, Charge>> {
    const rows = await this.readByKeys('Charges', CHARGE_COLUMNS, invoiceIds);
    return new Map(rows.map((row) => [String(row.InvoiceId), chargeFromRow(row)]));
  }

  async readInvoices(keys: readonly InvoiceKey[]): Promise<Map<string, Invoice>> {
    if (keys.length === 0) return new Map();
    const [rows] = await this.tx.read('Invoices', { keys: keys.map((key) => [key.userId, key.invoiceId]), columns: [...INVOICE_COLUMNS], ...READ_JSON, ...this.connection.queryOptions });
    return new Map((rows as unknown as Row[]).map((row) => {
      const invoice = invoiceFromRow(row);
      return [invoiceKey(invoice.userId, invoice.invoiceId), invoice];
    }));
  }

  async readOpenInvoices(userIds: readonly string[]): Promise<Map<string, Invoice[]>> {
    const unique = [...new Set(userIds)];
    if (unique.length === 0) return new Map();
    // One read of the index of open invoices, a key range per user: already oldest first.
    const [rows] = await this.tx.read('Invoices', {
      index: 'OpenInvoicesByUser',
      ranges: unique.map((userId) => ({ startClosed: [userId], endClosed: [userId] })),
      columns: [...INVOICE_COLUMNS],
      ...READ_JSON,
      ...this.connection.queryOptions,
    });
    const out = new Map<string, Invoice[]>();
    for (const row of rows as unknown as Row[]) {
      const invoice = invoiceFromRow(row);
      out.set(invoice.userId, [...(out.get(invoice.userId) ?? []), invoice]);
    }
    return out;
  }

  async readStreamAfter(streamId: string, afterVersion: number, limit: number): Promise<StoredEvent[]> {
    const [keys] = await this.tx.read('Events', {
      index: 'EventsByStream',
      ranges: [{ startOpen: [streamId, String(afterVersion)], endClosed: [streamId] }],
      columns: ['EventId', 'StreamVersion'],
      limit,
      ...READ_JSON,
      ...this.connection.queryOptions,
    });
    const ids = (keys as unknown as Row[]).map((row) => String(row.EventId));
    const events = await this.readEvents(ids);
    return [...events.values()].sort((a, b) => a.streamVersion - b.streamVersion);
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

  async readInboxOffsets(group: string, topic: string): Promise<InboxOffset[]> {
    return readInboxOffsets(this.tx, this.connection, group, topic);
  }

  async readCommitMarkers(attemptId: string): Promise<number[]> {
    const [rows] = await this.tx.read('CommitMarkers', { ranges: [{ startClosed: [attemptId], endClosed: [attemptId] }], columns: ['Run'], ...READ_JSON, ...this.connection.queryOptions });
    return (rows as unknown as Row[]).map((row) => smallInt(row.Run));
  }

  write(writes: LedgerWrites): void {
    this.pending.push(writes);
  }

  /** Turns the buffered writes into mutations on the transaction (still nothing sent). */
  flush(): number {
    let mutations = 0;
    for (const writes of this.pending) {
      const plan = planWrites(writes, this.accountsRead);
      mutations += plan.mutationCount;
      for (const { method, table, rows } of plan.mutations) this.tx[method](table, rows as Row[]);
      for (const { table, prefix, from, below } of plan.rangeDeletes) deleteKeyRange(this.tx, table, prefix, from, below);
    }
    // The emulator does not enforce Spanner's per-commit mutation limit; production would
    // fail the whole commit, so fail here first, on every backend, with the figures.
    if (mutations > LIMITS.spannerMutationsPerCommitMax) {
      throw new Error(`commit would hold ${mutations} mutations, above Spanner's limit of ${LIMITS.spannerMutationsPerCommitMax}`);
    }
    return mutations;
  }
}

export class SpannerLedgerStore implements LedgerStore {
  constructor(
    readonly connection: SpannerConnection,
    readonly observer: TransactionObserver = {},
  ) {}

  isTransient(error: unknown): boolean {
    return isTransientSpannerError(error);
  }

  /** Random: the markers of every submitter share one table. */
  newAttemptId(): string {
    return randomUUID();
  }

  /** One read-write transaction through the shared runner (retries on ABORTED; see transaction.ts). */
  async transact<T>(work: (tx: LedgerTransaction) => Promise<T>, options: TransactOptions = {}): Promise<TransactionResult<T>> {
    let mutations = 0;
    const result = await runReadWrite(
      this.connection,
      async (tx) => {
        const ledgerTx = new SpannerLedgerTransaction(tx, this.connection);
        const value = await work(ledgerTx);
        mutations = ledgerTx.flush();
        return value;
      },
      this.observer,
      options,
    );
    return { value: result.value, committedAt: mutations === 0 || options.dryRun ? undefined : timestampText(result.commitTimestamp) };
  }

  /**
   * Events strictly after `after` in the global order (commit timestamp, stream, version).
   *
   * All reads of a page happen in one snapshot at a timestamp T (strong: chosen by Spanner;
   * or the pinned `readTimestamp`). External consistency means every transaction that
   * committed before T is visible and every one that commits later gets a commit timestamp
   * greater than T, so it sorts after every event this page can return. Using the last
   * returned event as the next cursor therefore never skips an event that commits later,
   * however long the reader pauses in between.
   *
   * The page is a key-range read of EventsByCommit per shard (cheap: the index is sorted and
   * stores the event columns), merged here. Each shard returns at most `perShard` rows; when
   * a shard hits that cap its later rows are unknown, so the merged page stops at the
   * smallest such cap. A page can thus be shorter than `limit`, never out of order.
   */
  async readAll(after: GlobalPosition | null, limit: number, options: ReadAllOptions = {}): Promise<ReadAllPage> {
    const page = await readAllRows(this.connection, after, limit, options);
    return { events: page.rows.map(storedEventFromRow), position: page.position };
  }

  async readStream(streamId: string, fromVersion = 1): Promise<StoredEvent[]> {
    return readStreamEvents(this.connection, streamId, fromVersion);
  }

  async readEvents(eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
    const unique = [...new Set(eventIds)];
    if (unique.length === 0) return new Map();
    const [rows] = await this.connection.database.table('Events').read({ keys: unique, columns: [...EVENT_READ_COLUMNS], ...READ_JSON, ...this.connection.queryOptions });
    return new Map((rows as unknown as Row[]).map((row) => [String(row.EventId), storedEventFromRow(row)]));
  }

  async readAccount(userId: string): Promise<Account | undefined> {
    const [rows] = await this.connection.database.table('Accounts').read({ keys: [userId], columns: [...ACCOUNT_COLUMNS], ...READ_JSON, ...this.connection.queryOptions });
    const row = (rows as unknown as Row[])[0];
    return row ? accountFromRow(row) : undefined;
  }

  async readInboxOffsets(group: string, topic: string): Promise<InboxOffset[]> {
    return withSnapshot(this.connection, { strong: true }, async (snapshot) => {
      return await readInboxOffsets(snapshot, this.connection, group, topic);
    });
  }

  async readKafkaOutcomes(group: string, topic: string, partition: number): Promise<KafkaOutcome[]> {
    const [rows] = await this.connection.database.table('KafkaOutcomes').read({
      ranges: [{ startClosed: [group, topic, String(partition)], endClosed: [group, topic, String(partition)] }],
      columns: ['KafkaOffset', 'MessageKey', 'Outcome'],
      ...READ_JSON,
      ...this.connection.queryOptions,
    });
    return (rows as unknown as Row[]).map((row) => ({
      group,
      topic,
      partition,
      offset: int64(row.KafkaOffset).toString(),
      keyBase64: row.MessageKey === null || row.MessageKey === undefined ? null : Buffer.from(row.MessageKey as Buffer).toString('base64'),
      outcome: String(row.Outcome),
    }));
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

/** Every event of one stream from `fromVersion` (1-based, inclusive), in stream order, read strongly. */
export async function readStreamEvents(connection: SpannerConnection, streamId: string, fromVersion = 1): Promise<StoredEvent[]> {
  const [rows] = await connection.database.run({
    sql: `SELECT ${EVENT_READ_COLUMNS.join(', ')} FROM Events@{FORCE_INDEX=EventsByStream}
          WHERE StreamId = @streamId AND StreamVersion >= @fromVersion ORDER BY StreamVersion`,
    params: { streamId, fromVersion: String(fromVersion) },
    types: { streamId: 'string', fromVersion: 'int64' },
    ...READ_JSON,
    ...connection.queryOptions,
  });
  return (rows as unknown as Row[]).map(storedEventFromRow);
}

async function readInboxOffsets(
  reader: Pick<Transaction, 'read'>,
  connection: SpannerConnection,
  group: string,
  topic: string,
): Promise<InboxOffset[]> {
  // A key-prefix range read, not a query: on the emulator a query scans, a read seeks.
  const [rows] = await reader.read('KafkaInbox', {
    ranges: [{ startClosed: [group, topic], endClosed: [group, topic] }],
    columns: ['KafkaPartition', 'NextOffset', 'LastMessageOffset', 'LastMessageDigest'],
    ...READ_JSON,
    ...connection.queryOptions,
  });
  return (rows as unknown as Row[]).map((row) => {
    const offset: InboxOffset = { group, topic, partition: smallInt(row.KafkaPartition), nextOffset: int64(row.NextOffset).toString() };
    if (row.LastMessageOffset === null || row.LastMessageOffset === undefined || row.LastMessageDigest === null || row.LastMessageDigest === undefined) return offset;
    return { ...offset, lastMessage: { offset: int64(row.LastMessageOffset).toString(), digest: String(row.LastMessageDigest) } };
  });
}

/** A page of the log as stored rows, in the global order (see readAllRows). */
export interface ReadAllRowsPage {
  readonly rows: Row[];
  readonly position: GlobalPosition | null;
}

/** The global position of an event row (its commit timestamp, stream and version). */
export function positionOfRow(row: Row): GlobalPosition {
  return { committedAt: timestampText(row.CommittedAt), streamId: String(row.StreamId), streamVersion: smallInt(row.StreamVersion) };
}

/**
 * The rows behind SpannerLedgerStore.readAll, before they are parsed into events: the audit
 * reads them so that one row whose payload no longer parses (edited in the database) is a
 * finding about that event, not an error that ends the audit. See readAll for the order.
 */
export async function readAllRows(connection: SpannerConnection, after: GlobalPosition | null, limit: number, options: ReadAllOptions = {}): Promise<ReadAllRowsPage> {
  if (limit < 1 || limit > LIMITS.readPageSizeMax) throw new RangeError(`readAll limit must be 1..${LIMITS.readPageSizeMax}`);
  const perShard = Math.min(limit, Math.max(16, Math.ceil((limit * 2) / EVENT_ORDER_SHARDS)));
  const snapshotOptions = options.readTimestamp ? { readTimestamp: new PreciseDate(options.readTimestamp) } : { strong: true };
  return withSnapshot(connection, snapshotOptions, async (snapshot) => {
    const shards = await Promise.all(
      Array.from({ length: EVENT_ORDER_SHARDS }, async (_, shard) => {
        const start = after ? { startOpen: [String(shard), after.committedAt, after.streamId, String(after.streamVersion)] } : { startClosed: [String(shard)] };
        const [rows] = await snapshot.read('Events', {
          index: 'EventsByCommit',
          ranges: [{ ...start, endClosed: [String(shard)] }],
          columns: [...EVENT_READ_COLUMNS],
          limit: perShard,
          ...READ_JSON,
          ...connection.queryOptions,
        });
        return (rows as unknown as Row[]).map((row) => ({ row, position: positionOfRow(row) }));
      }),
    );
    let cut: GlobalPosition | undefined;
    for (const rows of shards) {
      const last = rows[rows.length - 1];
      if (rows.length === perShard && last && (!cut || comparePositions(last.position, cut) < 0)) cut = last.position;
    }
    const merged = shards
      .flat()
      .filter((entry) => !cut || comparePositions(entry.position, cut) <= 0)
      .sort((a, b) => comparePositions(a.position, b.position))
      .slice(0, limit);
    const last = merged[merged.length - 1];
    return { rows: merged.map((entry) => entry.row), position: last ? last.position : after };
  });
}

/**
 * The whole log at a pinned timestamp, row by row in the global order, for readers that go
 * through all of it (the audit, a rebuild): each shard of EventsByCommit is read in key order
 * a large page at a time and the shards are merged as they go, so the number of reads is the
 * log's size over `pageSize`, not over a readAll page. Memory: one page per shard.
 */
export async function* scanLogRows(connection: SpannerConnection, readTimestamp: string, pageSize = 2_000): AsyncGenerator<Row> {
  const [snapshot] = await connection.database.getSnapshot({ readTimestamp: new PreciseDate(readTimestamp) });
  try {
    const readShard = async (shard: number, after: GlobalPosition | null) => {
      const start = after ? { startOpen: [String(shard), after.committedAt, after.streamId, String(after.streamVersion)] } : { startClosed: [String(shard)] };
      const [rows] = await snapshot.read('Events', { index: 'EventsByCommit', ranges: [{ ...start, endClosed: [String(shard)] }], columns: [...EVENT_READ_COLUMNS], limit: pageSize, ...READ_JSON, ...connection.queryOptions });
      return (rows as unknown as Row[]).map((row) => ({ row, position: positionOfRow(row) }));
    };
    const shards = await Promise.all(Array.from({ length: EVENT_ORDER_SHARDS }, async (_, shard) => ({ shard, buffer: await readShard(shard, null), next: 0 })));
    for (;;) {
      let best: (typeof shards)[number] | undefined;
      for (const shard of shards) {
        const head = shard.buffer[shard.next];
        if (head && (!best || comparePositions(head.position, best.buffer[best.next]!.position) < 0)) best = shard;
      }
      if (!best) return;
      const entry = best.buffer[best.next++]!;
      yield entry.row;
      // A shard whose page is used up is read on from its last row; a short page was its end.
      if (best.next === best.buffer.length && best.buffer.length === pageSize) {
        best.buffer = await readShard(best.shard, entry.position);
        best.next = 0;
      }
    }
  } finally {
    snapshot.end();
  }
}
