import { CommandHandler } from '../../ledger/core/handler';
import { LedgerTransaction, LedgerWrites, TransactionResult, TransactOptions } from '../../ledger/core/store';
import { mutationCount } from '../../ledger/spanner/store';
import { DelegatingStore } from './support/delegating-store';
import { adjustCommand, chargeCommand, depositCommand, failCommand, openInvoiceCommand, settleCommand, txHash, voidInvoiceCommand } from './support/fixtures';

/**
 * What each command writes, counted by the Spanner store's own rule (mutationCount, plus the
 * commit marker), and which rows: the figures docs/scaling.md is built on, and the proof
 * that no transaction writes a row that transactions of other users also write (no hot row:
 * system accounts live in the projection, never on the write side).
 */
interface Recorded {
  readonly writes: LedgerWrites[];
}

/** The in-memory store, recording every transaction's buffered writes. */
class RecordingStore extends DelegatingStore {
  readonly transactions: Recorded[] = [];
  override async transact<T>(work: (tx: LedgerTransaction) => Promise<T>, options?: TransactOptions): Promise<TransactionResult<T>> {
    const recorded: Recorded = { writes: [] };
    const result = await this.inner.transact(async (tx) => {
      recorded.writes.length = 0;
      const spy: LedgerTransaction = {
        readEvents: (ids) => tx.readEvents(ids),
        readAccounts: (ids) => tx.readAccounts(ids),
        readCharges: (ids) => tx.readCharges(ids),
        readInvoices: (keys) => tx.readInvoices(keys),
        readOpenInvoices: (ids) => tx.readOpenInvoices(ids),
        readStreamAfter: (id, after, limit) => tx.readStreamAfter(id, after, limit),
        readStreamVersion: (id) => tx.readStreamVersion(id),
        readInboxOffsets: (group, topic) => tx.readInboxOffsets(group, topic),
        readCommitMarkers: (id) => tx.readCommitMarkers(id),
        write: (writes) => {
          recorded.writes.push(writes);
          tx.write(writes);
        },
      };
      return work(spy);
    }, options);
    this.transactions.push(recorded);
    return result;
  }
}

/** The rows one transaction writes, as "Table/key". */
function rowKeys(writes: readonly LedgerWrites[]): string[] {
  return writes.flatMap((w) => [
    ...w.events.map((event) => `Events/${event.eventId}`),
    ...w.accounts.map((account) => `Accounts/${account.userId}`),
    ...w.charges.map((charge) => `Charges/${charge.invoiceId}`),
    ...(w.invoices ?? []).map((invoice) => `Invoices/${invoice.userId}/${invoice.invoiceId}`),
    ...(w.inbox ?? []).map((offset) => `KafkaInbox/${offset.group}/${offset.topic}/${offset.partition}`),
    ...(w.commitMarker ? [`CommitMarkers/${w.commitMarker.attemptId}/${w.commitMarker.run}`] : []),
  ]);
}

/** Mutations of one transaction as the Spanner store counts them (the commit marker is 3). */
function mutations(writes: readonly LedgerWrites[]): number {
  return writes.reduce((sum, w) => sum + mutationCount(w) + (w.commitMarker ? 3 : 0), 0);
}

/** One user's life: every command type once, each in a transaction of its own. */
function userCommands(user: string, n: number) {
  return {
    deposit: depositCommand({ userId: user, txHash: txHash(n * 10 + 1), amountMicroUsd: '50000000' }),
    charge: chargeCommand({ userId: user, invoiceId: `${user}-c1`, amountMicroUsd: '1000000' }),
    pendingCharge: chargeCommand({ userId: user, invoiceId: `${user}-c2`, amountMicroUsd: '2000000', pending: true }),
    settleCharge: settleCommand({ userId: user, invoiceId: `${user}-c2` }),
    pendingCharge2: chargeCommand({ userId: user, invoiceId: `${user}-c3`, amountMicroUsd: '3000000', pending: true }),
    failCharge: failCommand({ userId: user, invoiceId: `${user}-c3` }),
    adjust: adjustCommand({ userId: user, idempotencyKey: `${user}-a1`, amountMicroUsd: '-1000000' }),
    openInvoicePaid: openInvoiceCommand({ userId: user, invoiceId: `${user}-i1`, amountMicroUsd: '10000000' }),
    openInvoiceUnpaid: openInvoiceCommand({ userId: user, invoiceId: `${user}-i2`, amountMicroUsd: '900000000' }),
    voidInvoice: voidInvoiceCommand({ userId: user, invoiceId: `${user}-i2` }),
  };
}

test('per command type: events, rows and mutations of its transaction (docs/scaling.md)', async () => {
  const store = new RecordingStore();
  const handler = new CommandHandler(store, { bonusRateBps: 1000, batchSize: 1 });
  const footprint: Record<string, { events: number; rows: number; mutations: number }> = {};
  for (const [name, command] of Object.entries(userCommands('fp-user', 1))) {
    const [outcome] = await handler.handle([command]);
    expect([name, outcome!.status]).toEqual([name, 'accepted']);
    const { writes } = store.transactions[store.transactions.length - 1]!;
    footprint[name] = { events: writes.reduce((sum, w) => sum + w.events.length, 0), rows: rowKeys(writes).length, mutations: mutations(writes) };
  }
  expect(footprint).toEqual({
    deposit: { events: 2, rows: 4, mutations: 41 },
    charge: { events: 1, rows: 4, mutations: 34 },
    pendingCharge: { events: 1, rows: 4, mutations: 34 },
    settleCharge: { events: 1, rows: 4, mutations: 34 },
    pendingCharge2: { events: 1, rows: 4, mutations: 34 },
    failCharge: { events: 1, rows: 4, mutations: 34 },
    adjust: { events: 1, rows: 3, mutations: 28 },
    openInvoicePaid: { events: 2, rows: 5, mutations: 52 },
    openInvoiceUnpaid: { events: 2, rows: 5, mutations: 52 },
    voidInvoice: { events: 1, rows: 4, mutations: 39 },
  });
});

test('no hot row: transactions of different users never write the same row', async () => {
  const store = new RecordingStore();
  const handler = new CommandHandler(store, { bonusRateBps: 1000, batchSize: 1 });
  const owners = new Map<string, string>();
  for (let n = 0; n < 25; n++) {
    const user = `hot-${n}`;
    for (const command of Object.values(userCommands(user, n + 2))) {
      const before = store.transactions.length;
      const [outcome] = await handler.handle([command]);
      expect(outcome!.status).toBe('accepted');
      for (const { writes } of store.transactions.slice(before)) {
        for (const key of rowKeys(writes)) {
          const owner = owners.get(key);
          expect({ key, owner: owner ?? user }).toEqual({ key, owner: user });
          owners.set(key, user);
        }
      }
    }
  }
  // And something was written: 25 users' worth of rows, each owned by one of them.
  expect(new Set(owners.values()).size).toBe(25);
  expect(owners.size).toBeGreaterThan(25 * 10);
});
