import { Account, Charge, emptyAccount, evolveAccount, evolveCharge, evolveInvoice, Invoice } from './account';
import { contentDigest, differingFields } from './canonical';
import { eventUserId, NewEvent, StoredEvent } from './events';
import { chainHash, GENESIS } from './chain';
import { accountStreamId } from './ids';
import { compareUtf8 } from './text-order';

/**
 * Ports of the ledger's storage, implemented by the in-memory reference store and by the
 * Spanner store. The rules that matter (idempotent append, group-commit decisions) are written
 * once, here, against these ports, so both stores behave the same by construction and one
 * contract suite checks both.
 */

/**
 * A place in the global order: commit timestamp, then stream and stream version as the
 * tie-break. Stream IDs compare as Spanner compares them (UTF-8 bytes), so a position taken
 * from a page of EventsByCommit is the key the next page's range starts after.
 */
export interface GlobalPosition {
  readonly committedAt: string;
  readonly streamId: string;
  readonly streamVersion: number;
}

export function comparePositions(a: GlobalPosition, b: GlobalPosition): number {
  if (a.committedAt !== b.committedAt) return a.committedAt < b.committedAt ? -1 : 1;
  if (a.streamId !== b.streamId) return compareUtf8(a.streamId, b.streamId) < 0 ? -1 : 1;
  return a.streamVersion - b.streamVersion;
}

export function positionOf(event: StoredEvent): GlobalPosition {
  return { committedAt: event.committedAt, streamId: event.streamId, streamVersion: event.streamVersion };
}

/** An event ready to be written: its stream version, digest and chain hash assigned, commit time still unknown. */
export type EventDraft = NewEvent & { streamVersion: number; contentDigest: string; chainHash: string };

/**
 * The chain head of an account before its next event. An account with events but no head
 * belongs to a database whose chain backfill has not run: appending would start a chain
 * that the audit cannot tie to the history, so it stops here instead.
 */
export function chainHeadOf(account: Account): string {
  if (account.version === 0) return GENESIS;
  if (!account.chainHead) throw new Error(`account ${account.userId} has ${account.version} events but no chain head: the upgrade's chain backfill has not run; run \`spanledger db migrate\``);
  return account.chainHead;
}

/** The draft of the next event of an account, and the account after it. */
export function draftNext(account: Account, event: NewEvent): { draft: EventDraft; account: Account } {
  const previous = chainHeadOf(account);
  const next = evolveAccount(account, event);
  const contentDigest = digestOf(event);
  const hash = chainHash(previous, contentDigest, next.version);
  return { draft: { ...event, streamVersion: next.version, contentDigest, chainHash: hash }, account: { ...next, chainHead: hash } };
}

/**
 * The Kafka inbox: the next offset to consume per (group, topic, partition), committed in
 * the same transaction as the events the consumed messages produced. After a crash the
 * consumer seeks here, so a message is applied exactly once whatever Kafka's own offsets say.
 */
export interface InboxOffset {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  /** Kafka offsets are int64: kept as a decimal string. */
  readonly nextOffset: string;
  /**
   * The last message applied: its offset and a digest of its key and value. On assignment
   * the consumer reads that message again; a different one means the partition is not the
   * log this inbox was written from (a recreated topic, another cluster). Absent on rows
   * written before schema version 21, and after a move past records that are not messages.
   */
  readonly lastMessage?: { readonly offset: string; readonly digest: string };
}

/**
 * The outcome of one consumed message, kept in Spanner (written with the decision) until it
 * is acknowledged on the outcomes topic: the Kafka outbox. A crash after the commit and
 * before the send leaves the row, and the consumer sends it again on its next assignment.
 */
export interface KafkaOutcome {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** The consumed message's key, base64 (keys are bytes); null when it had none. */
  readonly keyBase64: string | null;
  /** The outcome object as JSON text, as `submit` prints it without `line`. */
  readonly outcome: string;
}

/** Outcomes of a partition below `belowOffset` are on the outcomes topic: their rows go. */
export interface KafkaOutcomesSent {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly belowOffset: string;
}

/** Invoices are keyed by their user and ID: a void naming another user finds nothing. */
export interface InvoiceKey {
  readonly userId: string;
  readonly invoiceId: string;
}

export function invoiceKey(userId: string, invoiceId: string): string {
  return JSON.stringify([userId, invoiceId]);
}

/** What a transaction writes, buffered until commit. */
export interface LedgerWrites {
  readonly events: EventDraft[];
  readonly accounts: Account[];
  readonly charges: Charge[];
  readonly invoices?: Invoice[];
  readonly inbox?: InboxOffset[];
  readonly kafkaOutcomes?: KafkaOutcome[];
  readonly kafkaOutcomesSent?: KafkaOutcomesSent[];
  /** Written with a batch's other writes, so a retry can tell whether this run committed (see CommitMarker). */
  readonly commitMarker?: CommitMarker;
}

/**
 * Which run of which batch committed. A commit whose reply is lost may or may not have
 * landed; the retry reads the markers of its batch and, when one of its own earlier runs
 * committed, answers what that run decided (accepted) instead of deciding again (which would
 * say duplicate). One row per commit, deleted by Spanner after a week.
 */
export interface CommitMarker {
  /** Random per batch, the same for every run of it. */
  readonly attemptId: string;
  /** 1, 2, ...: which run of the transaction callback wrote it. */
  readonly run: number;
}

/** A write of relay bookkeeping only (inbox positions, outcome rows): no events, accounts or charges. */
export function bookkeepingOnly(rows: Pick<LedgerWrites, 'inbox' | 'kafkaOutcomes' | 'kafkaOutcomesSent'>): LedgerWrites {
  return { events: [], accounts: [], charges: [], ...rows };
}

/** True when the writes hold nothing to commit. */
export function isEmptyWrites(writes: LedgerWrites): boolean {
  return (
    writes.events.length + writes.accounts.length + writes.charges.length + (writes.invoices?.length ?? 0) + (writes.inbox?.length ?? 0) + (writes.kafkaOutcomes?.length ?? 0) + (writes.kafkaOutcomesSent?.length ?? 0) ===
      0 && writes.commitMarker === undefined
  );
}

/**
 * Reads and buffered writes inside one serializable read-write transaction.
 * Implementations must keep the work callback free of outside effects: it may run again.
 */
export interface LedgerTransaction {
  readEvents(eventIds: readonly string[]): Promise<Map<string, StoredEvent>>;
  readAccounts(userIds: readonly string[]): Promise<Map<string, Account>>;
  readCharges(invoiceIds: readonly string[]): Promise<Map<string, Charge>>;
  /** Invoices by user and ID, keyed by invoiceKey(). */
  readInvoices(keys: readonly InvoiceKey[]): Promise<Map<string, Invoice>>;
  /** The open invoices of each user, oldest first (opened at, then invoice ID in Spanner's order). */
  readOpenInvoices(userIds: readonly string[]): Promise<Map<string, Invoice[]>>;
  /** At most `limit` events of a stream after `afterVersion`, in stream order. */
  readStreamAfter(streamId: string, afterVersion: number, limit: number): Promise<StoredEvent[]>;
  /** Current version of a stream (0 when it has no events). */
  readStreamVersion(streamId: string): Promise<number>;
  readInboxOffsets(group: string, topic: string): Promise<InboxOffset[]>;
  /** The runs of a batch (see CommitMarker) that committed: at most one. */
  readCommitMarkers(attemptId: string): Promise<number[]>;
  write(writes: LedgerWrites): void;
}

export interface TransactionResult<T> {
  readonly value: T;
  /** Commit timestamp of the transaction; undefined when it wrote nothing. */
  readonly committedAt: string | undefined;
}

export interface ReadAllPage {
  readonly events: StoredEvent[];
  /** Pass back as `after` to continue; unchanged when nothing new was read. */
  readonly position: GlobalPosition | null;
}

export interface TransactOptions {
  /** Run `work` and throw its writes away instead of committing them (`submit --dry-run`). */
  readonly dryRun?: boolean;
}

export interface ReadAllOptions {
  /** Read at this commit timestamp instead of now (a pinned, repeatable snapshot). */
  readonly readTimestamp?: string;
}

export interface LedgerStore {
  /**
   * Runs `work` in one serializable read-write transaction and commits its writes.
   * `work` may be called more than once (Spanner re-runs it on ABORTED): it must only read
   * through `tx` and return a value; it must not send, log "done" or commit offsets.
   */
  transact<T>(work: (tx: LedgerTransaction) => Promise<T>, options?: TransactOptions): Promise<TransactionResult<T>>;
  /** Events after `after` in the global order, at most `limit`, read at one consistent snapshot. */
  readAll(after: GlobalPosition | null, limit: number, options?: ReadAllOptions): Promise<ReadAllPage>;
  /** Every event of one stream from `fromVersion` (1-based, inclusive), in stream order. */
  readStream(streamId: string, fromVersion?: number): Promise<StoredEvent[]>;
  readEvents(eventIds: readonly string[]): Promise<Map<string, StoredEvent>>;
  readAccount(userId: string): Promise<Account | undefined>;
  /** Inbox offsets of a consumer group on a topic, read outside any transaction (to seek on assignment). */
  readInboxOffsets(group: string, topic: string): Promise<InboxOffset[]>;
  /** Outcomes of a partition not yet acknowledged on the outcomes topic, in offset order. */
  readKafkaOutcomes(group: string, topic: string, partition: number): Promise<KafkaOutcome[]>;
  /**
   * Whether a failure is the database not answering (unreachable, deadline, connection cut),
   * which a retry may outlive, rather than an answer. The outcome of a commit that failed so
   * is unknown: it may have landed.
   */
  isTransient(error: unknown): boolean;
  /** A new, unique ID for one batch's commit markers (see CommitMarker). */
  newAttemptId(): string;
  close(): Promise<void>;
}

/** The content an event's digest covers: everything but its place in the log. */
export function digestOf(event: NewEvent): string {
  return contentDigest({
    type: event.type,
    schemaVersion: event.schemaVersion,
    streamId: event.streamId,
    occurredAt: event.occurredAt,
    payload: event.payload,
  });
}

/** Which parts of two events' content differ ("payload.amountMicroUsd", "streamId", ...). */
export function describeEventDifference(stored: NewEvent, incoming: NewEvent): string[] {
  const top = differingFields(
    { type: stored.type, schemaVersion: stored.schemaVersion, streamId: stored.streamId, occurredAt: stored.occurredAt },
    { type: incoming.type, schemaVersion: incoming.schemaVersion, streamId: incoming.streamId, occurredAt: incoming.occurredAt },
  );
  const payload = differingFields(stored.payload, incoming.payload).map((field) => `payload.${field}`);
  return [...top, ...payload];
}

export type ExpectedVersion = number | 'any';

export type AppendResult =
  | { status: 'appended'; events: StoredEvent[] }
  /** Every event already existed with the same content: nothing written, the originals returned. */
  | { status: 'duplicate'; events: StoredEvent[] }
  /** An event ID exists with different content: nothing written. */
  | { status: 'idempotency_conflict'; eventId: string; fields: string[]; message: string }
  /**
   * Some events of the append exist (identical) and some do not. One append commits
   * atomically, so an earlier append of the same events would have written all of them:
   * a partial match means this append is not the one that was made before. Nothing written.
   */
  | { status: 'partial_duplicate'; existingEventIds: string[]; missingEventIds: string[]; message: string }
  | { status: 'concurrency_conflict'; expectedVersion: number; actualVersion: number; message: string };

const CHARGE_EVENTS: ReadonlySet<string> = new Set(['InvoiceCharged', 'ChargeSettled', 'ChargeFailed']);
const INVOICE_EVENTS: ReadonlySet<string> = new Set(['InvoiceOpened', 'InvoicePaymentMade', 'InvoiceVoided']);

/** Invoice IDs whose charge row the events touch. */
export function invoiceIdsOf(events: readonly NewEvent[]): string[] {
  return [...new Set(events.flatMap((event) => (CHARGE_EVENTS.has(event.type) && 'invoiceId' in event.payload ? [event.payload.invoiceId] : [])))];
}

/** The invoices (user and ID) whose write-side row the events touch. */
export function invoiceKeysOf(events: readonly NewEvent[]): InvoiceKey[] {
  const keys = new Map<string, InvoiceKey>();
  for (const event of events) {
    if (INVOICE_EVENTS.has(event.type) && 'invoiceId' in event.payload) keys.set(invoiceKey(event.payload.userId, event.payload.invoiceId), { userId: event.payload.userId, invoiceId: event.payload.invoiceId });
  }
  return [...keys.values()];
}

/**
 * Appends events to one account stream, idempotently: the idempotency check comes before
 * the version check, so a retry of an append that already landed is a duplicate even after
 * the stream moved on. The account's write-side state (balance, charges) is folded forward
 * in the same transaction, so appending stored events (an import) leaves the same state as
 * the commands that first produced them.
 */
export async function appendToStream(
  store: LedgerStore,
  streamId: string,
  expectedVersion: ExpectedVersion,
  events: readonly NewEvent[],
): Promise<AppendResult> {
  if (events.length === 0) throw new Error('append: no events');
  for (const event of events) {
    if (event.streamId !== streamId) throw new Error(`append: event ${event.eventId} belongs to ${event.streamId}, not ${streamId}`);
  }
  const userId = eventUserId(events[0]!);
  if (streamId !== accountStreamId(userId)) throw new Error(`append: stream ${streamId} is not the account stream of user ${userId}`);
  if (new Set(events.map((event) => event.eventId)).size !== events.length) throw new Error('append: duplicate event IDs in one append');

  const { value, committedAt } = await store.transact(async (tx): Promise<AppendResult | EventDraft[]> => {
    const existing = await tx.readEvents(events.map((event) => event.eventId));
    for (const event of events) {
      const stored = existing.get(event.eventId);
      if (stored && stored.contentDigest !== digestOf(event)) {
        const fields = describeEventDifference(stored, event);
        return { status: 'idempotency_conflict', eventId: event.eventId, fields, message: `event ${event.eventId} exists with different ${fields.join(', ')}` };
      }
    }
    if (existing.size === events.length) return { status: 'duplicate', events: events.map((event) => existing.get(event.eventId)!) };
    if (existing.size > 0) {
      const existingEventIds = events.filter((event) => existing.has(event.eventId)).map((event) => event.eventId);
      const missingEventIds = events.filter((event) => !existing.has(event.eventId)).map((event) => event.eventId);
      return {
        status: 'partial_duplicate',
        existingEventIds,
        missingEventIds,
        message: `events ${existingEventIds.join(', ')} exist but ${missingEventIds.join(', ')} do not: not the append made before`,
      };
    }
    const actualVersion = await tx.readStreamVersion(streamId);
    if (expectedVersion !== 'any' && expectedVersion !== actualVersion) {
      return {
        status: 'concurrency_conflict',
        expectedVersion,
        actualVersion,
        message: `stream ${streamId} is at version ${actualVersion}, expected ${expectedVersion}`,
      };
    }
    const [accounts, charges, invoices] = await Promise.all([tx.readAccounts([userId]), tx.readCharges(invoiceIdsOf(events)), tx.readInvoices(invoiceKeysOf(events))]);
    let account = accounts.get(userId) ?? emptyAccount(userId);
    if (account.version !== actualVersion) {
      throw new Error(`append: account ${userId} state is at version ${account.version} but its stream at ${actualVersion}`);
    }
    const drafts: EventDraft[] = [];
    for (const event of events) {
      const next = draftNext(account, event);
      account = next.account;
      const draft = next.draft;
      drafts.push(draft);
      if (CHARGE_EVENTS.has(draft.type) && 'invoiceId' in draft.payload) {
        const charge = evolveCharge(charges.get(draft.payload.invoiceId), draft);
        if (charge) charges.set(draft.payload.invoiceId, charge);
      }
      if (INVOICE_EVENTS.has(draft.type) && 'invoiceId' in draft.payload) {
        const key = invoiceKey(draft.payload.userId, draft.payload.invoiceId);
        const invoice = evolveInvoice(invoices.get(key), draft);
        if (invoice) invoices.set(key, invoice);
      }
    }
    tx.write({ events: drafts, accounts: [account], charges: [...charges.values()], invoices: [...invoices.values()] });
    return drafts;
  });
  if (!Array.isArray(value)) return value;
  if (committedAt === undefined) throw new Error('append: the transaction wrote events but reported no commit timestamp');
  return { status: 'appended', events: value.map((draft) => ({ ...draft, committedAt })) };
}
