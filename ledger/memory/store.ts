import { Account, Charge, Invoice } from '../core/account';
import { compareInvoicesByAge } from '../core/invoice-payments';
import { StoredEvent } from '../core/events';
import {
  comparePositions,
  GlobalPosition,
  InboxOffset,
  invoiceKey,
  isEmptyWrites,
  KafkaOutcome,
  LedgerStore,
  LedgerTransaction,
  LedgerWrites,
  positionOf,
  ReadAllOptions,
  ReadAllPage,
  TransactionResult,
  TransactOptions,
} from '../core/store';
import { formatMicros } from '../core/time';

/**
 * The in-memory reference store: the same ports as the Spanner store, with the simplest
 * possible implementation (maps, one transaction at a time). Unit tests and the model-based
 * tests run the ledger on it; the shared contract suite proves both stores agree.
 */

/** Commit timestamps for the in-memory store; strictly increasing. Tests inject their own. */
export type CommitClock = () => string;

/** A logical clock: 2000-01-01T00:00:00Z plus one microsecond per commit. Deterministic. */
export function logicalCommitClock(startMicros = 946_684_800_000_000n): CommitClock {
  let micros = startMicros;
  return () => {
    micros += 1n;
    return `${formatMicros(micros).slice(0, 26)}000Z`;
  };
}

function inboxKey(group: string, topic: string, partition: number): string {
  return JSON.stringify([group, topic, partition]);
}

export class InMemoryLedgerStore implements LedgerStore {
  private readonly events = new Map<string, StoredEvent>();
  private readonly streamVersions = new Map<string, number>();
  private readonly accounts = new Map<string, Account>();
  private readonly charges = new Map<string, Charge>();
  private readonly invoices = new Map<string, Invoice>();
  private readonly inbox = new Map<string, InboxOffset>();
  private readonly outcomes = new Map<string, KafkaOutcome[]>();
  private readonly commitMarkers = new Map<string, number[]>();
  private readonly ordered: StoredEvent[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private lastCommit = '';

  constructor(private readonly clock: CommitClock = logicalCommitClock()) {}

  /** One transaction at a time: serializable by construction. */
  transact<T>(work: (tx: LedgerTransaction) => Promise<T>, options: TransactOptions = {}): Promise<TransactionResult<T>> {
    const run = this.queue.then(() => this.runExclusive(work, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runExclusive<T>(work: (tx: LedgerTransaction) => Promise<T>, options: TransactOptions): Promise<TransactionResult<T>> {
    const pending: LedgerWrites[] = [];
    const tx: LedgerTransaction = {
      readEvents: async (ids) => this.pick(this.events, ids),
      readAccounts: async (ids) => this.pick(this.accounts, ids),
      readCharges: async (ids) => this.pick(this.charges, ids),
      readInvoices: async (keys) => this.pick(this.invoices, keys.map((key) => invoiceKey(key.userId, key.invoiceId))),
      readOpenInvoices: async (userIds) => {
        const wanted = new Set(userIds);
        const out = new Map<string, Invoice[]>();
        for (const invoice of this.invoices.values()) {
          if (invoice.status === 'open' && wanted.has(invoice.userId)) out.set(invoice.userId, [...(out.get(invoice.userId) ?? []), invoice]);
        }
        for (const list of out.values()) list.sort(compareInvoicesByAge);
        return out;
      },
      readStreamAfter: async (streamId, afterVersion, limit) => (await this.readStream(streamId, afterVersion + 1)).slice(0, limit),
      readStreamVersion: async (streamId) => this.streamVersions.get(streamId) ?? 0,
      readInboxOffsets: async (group, topic) => this.readInboxOffsets(group, topic),
      readCommitMarkers: async (attemptId) => [...(this.commitMarkers.get(attemptId) ?? [])],
      write: (writes) => pending.push(writes),
    };
    const value = await work(tx);
    const drafts = pending.flatMap((writes) => writes.events);
    if (options.dryRun || pending.every(isEmptyWrites)) {
      return { value, committedAt: undefined };
    }
    const committedAt = this.clock();
    if (committedAt <= this.lastCommit) throw new Error(`commit clock went backwards: ${committedAt} after ${this.lastCommit}`);
    this.lastCommit = committedAt;
    // Check the constraints Spanner enforces before changing anything: all or nothing.
    const seenIds = new Set<string>();
    for (const draft of drafts) {
      if (this.events.has(draft.eventId) || seenIds.has(draft.eventId)) throw new Error(`ALREADY_EXISTS: event ${draft.eventId}`);
      seenIds.add(draft.eventId);
    }
    for (const { commitMarker } of pending) {
      if (commitMarker && this.commitMarkers.get(commitMarker.attemptId)?.includes(commitMarker.run)) throw new Error(`ALREADY_EXISTS: commit marker ${commitMarker.attemptId}/${commitMarker.run}`);
    }
    for (const draft of drafts) {
      const stored = { ...draft, committedAt } as StoredEvent;
      this.events.set(draft.eventId, stored);
      this.ordered.push(stored);
      this.streamVersions.set(draft.streamId, Math.max(this.streamVersions.get(draft.streamId) ?? 0, draft.streamVersion));
    }
    for (const writes of pending) {
      for (const account of writes.accounts) this.accounts.set(account.userId, account);
      for (const charge of writes.charges) this.charges.set(charge.invoiceId, charge);
      for (const invoice of writes.invoices ?? []) this.invoices.set(invoiceKey(invoice.userId, invoice.invoiceId), invoice);
      if (writes.commitMarker) {
        const { attemptId, run } = writes.commitMarker;
        this.commitMarkers.set(attemptId, [...(this.commitMarkers.get(attemptId) ?? []), run]);
      }
      for (const offset of writes.inbox ?? []) this.inbox.set(inboxKey(offset.group, offset.topic, offset.partition), offset);
      for (const sent of writes.kafkaOutcomesSent ?? []) {
        const key = inboxKey(sent.group, sent.topic, sent.partition);
        this.outcomes.set(key, (this.outcomes.get(key) ?? []).filter((outcome) => BigInt(outcome.offset) >= BigInt(sent.belowOffset)));
      }
      for (const outcome of writes.kafkaOutcomes ?? []) {
        const key = inboxKey(outcome.group, outcome.topic, outcome.partition);
        const list = (this.outcomes.get(key) ?? []).filter((existing) => existing.offset !== outcome.offset);
        this.outcomes.set(key, [...list, outcome].sort((a, b) => (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1)));
      }
    }
    this.ordered.sort((a, b) => comparePositions(positionOf(a), positionOf(b)));
    return { value, committedAt };
  }

  private pick<V>(map: Map<string, V>, keys: readonly string[]): Map<string, V> {
    const out = new Map<string, V>();
    for (const key of keys) {
      const value = map.get(key);
      if (value !== undefined) out.set(key, value);
    }
    return out;
  }

  async readAll(after: GlobalPosition | null, limit: number, options: ReadAllOptions = {}): Promise<ReadAllPage> {
    const visible = options.readTimestamp ? this.ordered.filter((event) => event.committedAt <= options.readTimestamp!) : this.ordered;
    const events = visible.filter((event) => !after || comparePositions(positionOf(event), after) > 0).slice(0, limit);
    const last = events[events.length - 1];
    return { events, position: last ? positionOf(last) : after };
  }

  async readStream(streamId: string, fromVersion = 1): Promise<StoredEvent[]> {
    return this.ordered
      .filter((event) => event.streamId === streamId && event.streamVersion >= fromVersion)
      .sort((a, b) => a.streamVersion - b.streamVersion);
  }

  async readEvents(eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
    return this.pick(this.events, eventIds);
  }

  async readAccount(userId: string): Promise<Account | undefined> {
    return this.accounts.get(userId);
  }

  async readInboxOffsets(group: string, topic: string): Promise<InboxOffset[]> {
    return [...this.inbox.values()].filter((offset) => offset.group === group && offset.topic === topic).sort((a, b) => a.partition - b.partition);
  }

  async readKafkaOutcomes(group: string, topic: string, partition: number): Promise<KafkaOutcome[]> {
    return [...(this.outcomes.get(inboxKey(group, topic, partition)) ?? [])];
  }

  private attempts = 0;

  /** Unique within this store, which is all a marker needs. */
  newAttemptId(): string {
    return `attempt-${++this.attempts}`;
  }

  /** Nothing here fails for want of an answer. */
  isTransient(): boolean {
    return false;
  }

  async close(): Promise<void> {}
}
