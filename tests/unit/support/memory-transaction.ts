import { Account, Charge } from '../../../ledger/core/account';
import { StoredEvent } from '../../../ledger/core/events';
import { LedgerTransaction, LedgerWrites, InboxOffset } from '../../../ledger/core/store';

/**
 * A tiny LedgerTransaction over maps: enough to drive decideBatch without a database.
 * `commit()` applies the buffered writes, so a following batch sees them; every read is
 * logged so tests can check what the batch asked for.
 */
export class MemoryLedger {
  readonly events = new Map<string, StoredEvent>();
  readonly accounts = new Map<string, Account>();
  readonly charges = new Map<string, Charge>();
  private commits = 0;

  begin(): MemoryTransaction {
    return new MemoryTransaction(this);
  }

  /** Applies a transaction's writes with a made-up, increasing commit timestamp. */
  commit(tx: MemoryTransaction): void {
    const committedAt = `2026-03-01T00:00:00.${String(++this.commits).padStart(9, '0')}Z`;
    for (const writes of tx.writes) {
      for (const draft of writes.events) {
        if (this.events.has(draft.eventId)) throw new Error(`commit: event ${draft.eventId} written twice`);
        this.events.set(draft.eventId, { ...draft, committedAt });
      }
      for (const account of writes.accounts) this.accounts.set(account.userId, account);
      for (const charge of writes.charges) this.charges.set(charge.invoiceId, charge);
    }
  }

  /** The events of one stream, in stream order. */
  stream(streamId: string): StoredEvent[] {
    return [...this.events.values()].filter((event) => event.streamId === streamId).sort((a, b) => a.streamVersion - b.streamVersion);
  }
}

export type ReadLog = Array<{ method: 'readEvents' | 'readAccounts' | 'readCharges' | 'readStreamVersion'; keys: readonly string[] }>;

export class MemoryTransaction implements LedgerTransaction {
  readonly writes: LedgerWrites[] = [];
  readonly reads: ReadLog = [];

  constructor(private readonly ledger: MemoryLedger) {}

  async readEvents(eventIds: readonly string[]): Promise<Map<string, StoredEvent>> {
    this.reads.push({ method: 'readEvents', keys: eventIds });
    return pick(this.ledger.events, eventIds);
  }

  async readAccounts(userIds: readonly string[]): Promise<Map<string, Account>> {
    this.reads.push({ method: 'readAccounts', keys: userIds });
    return pick(this.ledger.accounts, userIds);
  }

  async readCharges(invoiceIds: readonly string[]): Promise<Map<string, Charge>> {
    this.reads.push({ method: 'readCharges', keys: invoiceIds });
    return pick(this.ledger.charges, invoiceIds);
  }

  async readStreamVersion(streamId: string): Promise<number> {
    this.reads.push({ method: 'readStreamVersion', keys: [streamId] });
    return this.ledger.stream(streamId).length;
  }

  async readInboxOffsets(): Promise<InboxOffset[]> {
    return [];
  }

  write(writes: LedgerWrites): void {
    this.writes.push(writes);
  }
}

/** A fresh map of the entries at these keys (the caller may change it freely). */
function pick<V>(from: ReadonlyMap<string, V>, keys: readonly string[]): Map<string, V> {
  const out = new Map<string, V>();
  for (const key of keys) {
    const value = from.get(key);
    if (value !== undefined) out.set(key, value);
  }
  return out;
}
