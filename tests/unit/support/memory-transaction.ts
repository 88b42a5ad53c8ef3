import { Account, Charge, Invoice } from '../../../ledger/core/account';
import { compareInvoicesByAge } from '../../../ledger/core/invoice-payments';
import { StoredEvent } from '../../../ledger/core/events';
import { InboxOffset, InvoiceKey, invoiceKey, LedgerTransaction, LedgerWrites } from '../../../ledger/core/store';

/**
 * A tiny LedgerTransaction over maps: enough to drive decideBatch without a database.
 * `commit()` applies the buffered writes, so a following batch sees them; every read is
 * logged so tests can check what the batch asked for.
 */
export class MemoryLedger {
  readonly events = new Map<string, StoredEvent>();
  readonly accounts = new Map<string, Account>();
  readonly charges = new Map<string, Charge>();
  readonly invoices = new Map<string, Invoice>();
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
      for (const invoice of writes.invoices ?? []) this.invoices.set(invoiceKey(invoice.userId, invoice.invoiceId), invoice);
    }
  }

  /** The events of one stream, in stream order. */
  stream(streamId: string): StoredEvent[] {
    return [...this.events.values()].filter((event) => event.streamId === streamId).sort((a, b) => a.streamVersion - b.streamVersion);
  }
}

export type ReadLog = Array<{ method: 'readEvents' | 'readAccounts' | 'readCharges' | 'readInvoices' | 'readOpenInvoices' | 'readStreamAfter' | 'readStreamVersion'; keys: readonly string[] }>;

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

  async readInvoices(keys: readonly InvoiceKey[]): Promise<Map<string, Invoice>> {
    const texts = keys.map((key) => invoiceKey(key.userId, key.invoiceId));
    this.reads.push({ method: 'readInvoices', keys: texts });
    return pick(this.ledger.invoices, texts);
  }

  async readOpenInvoices(userIds: readonly string[]): Promise<Map<string, Invoice[]>> {
    this.reads.push({ method: 'readOpenInvoices', keys: userIds });
    const out = new Map<string, Invoice[]>();
    for (const invoice of this.ledger.invoices.values()) {
      if (invoice.status === 'open' && userIds.includes(invoice.userId)) out.set(invoice.userId, [...(out.get(invoice.userId) ?? []), invoice]);
    }
    for (const list of out.values()) list.sort(compareInvoicesByAge);
    return out;
  }

  async readStreamAfter(streamId: string, afterVersion: number, limit: number): Promise<StoredEvent[]> {
    this.reads.push({ method: 'readStreamAfter', keys: [streamId] });
    return this.ledger.stream(streamId).filter((event) => event.streamVersion > afterVersion).slice(0, limit);
  }

  async readStreamVersion(streamId: string): Promise<number> {
    this.reads.push({ method: 'readStreamVersion', keys: [streamId] });
    return this.ledger.stream(streamId).length;
  }

  async readInboxOffsets(): Promise<InboxOffset[]> {
    return [];
  }

  async readCommitMarkers(): Promise<number[]> {
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
