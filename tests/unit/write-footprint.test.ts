import { CommandHandler } from '../../ledger/core/handler';
import { Account } from '../../ledger/core/account';
import { LedgerTransaction, LedgerWrites, TransactionResult, TransactOptions } from '../../ledger/core/store';
import { planBytes, planWrites } from '../../ledger/spanner/write-plan';
import { DelegatingStore } from './support/delegating-store';
import { adjustCommand, chargeCommand, depositCommand, failCommand, openInvoiceCommand, settleCommand, txHash, voidInvoiceCommand } from './support/fixtures';

/**
 * What each command writes, counted from the mutations the Spanner store builds (planWrites:
 * cells plus index entries, and the bytes of the values), and which rows: the figures docs/scaling.md is built on, and the proof
 * that no transaction writes a row that transactions of other users also write (no hot row:
 * system accounts live in the projection, never on the write side).
 */
interface Recorded {
  readonly writes: LedgerWrites[];
  /** The accounts the transaction read: an account write costs only its changed cells. */
  readonly accountsRead: Map<string, Account>;
}

/** The in-memory store, recording every transaction's buffered writes. */
class RecordingStore extends DelegatingStore {
  readonly transactions: Recorded[] = [];
  override async transact<T>(work: (tx: LedgerTransaction) => Promise<T>, options?: TransactOptions): Promise<TransactionResult<T>> {
    const recorded: Recorded = { writes: [], accountsRead: new Map() };
    const result = await this.inner.transact(async (tx) => {
      recorded.writes.length = 0;
      recorded.accountsRead.clear();
      const spy: LedgerTransaction = {
        readEvents: (ids) => tx.readEvents(ids),
        readAccounts: async (ids) => {
          const accounts = await tx.readAccounts(ids);
          for (const [userId, account] of accounts) recorded.accountsRead.set(userId, account);
          return accounts;
        },
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

/** Mutations and bytes of one transaction, from the mutations the Spanner store would send. */
function cost({ writes, accountsRead }: Recorded): { mutations: number; bytes: number } {
  const read = new Map(accountsRead);
  const plans = writes.map((w) => planWrites(w, read));
  return { mutations: plans.reduce((sum, plan) => sum + plan.mutationCount, 0), bytes: plans.reduce((sum, plan) => sum + planBytes(plan), 0) };
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
    depositAgain: depositCommand({ userId: user, txHash: txHash(n * 10 + 2), amountMicroUsd: '1000000' }),
  };
}

test('per command type: events, rows and mutations of its transaction (docs/scaling.md)', async () => {
  const store = new RecordingStore();
  const handler = new CommandHandler(store, { bonusRateBps: 1000, batchSize: 1 });
  const footprint: Record<string, { events: number; rows: number; mutations: number; bytes: number }> = {};
  for (const [name, command] of Object.entries(userCommands('fp-user', 1))) {
    const [outcome] = await handler.handle([command]);
    expect([name, outcome!.status]).toEqual([name, 'accepted']);
    const recorded = store.transactions[store.transactions.length - 1]!;
    footprint[name] = { events: recorded.writes.reduce((sum, w) => sum + w.events.length, 0), rows: rowKeys(recorded.writes).length, ...cost(recorded) };
  }
  expect(footprint).toEqual({
    // The first command of a user writes the whole account row; later ones only the cells they change.
    deposit: { events: 2, rows: 4, mutations: 42, bytes: 1163 },
    charge: { events: 1, rows: 4, mutations: 28, bytes: 685 },
    pendingCharge: { events: 1, rows: 4, mutations: 28, bytes: 681 },
    settleCharge: { events: 1, rows: 4, mutations: 28, bytes: 659 },
    pendingCharge2: { events: 1, rows: 4, mutations: 28, bytes: 681 },
    failCharge: { events: 1, rows: 4, mutations: 29, bytes: 683 },
    adjust: { events: 1, rows: 3, mutations: 22, bytes: 545 },
    openInvoicePaid: { events: 2, rows: 5, mutations: 46, bytes: 1105 },
    openInvoiceUnpaid: { events: 2, rows: 5, mutations: 48, bytes: 1134 },
    voidInvoice: { events: 1, rows: 4, mutations: 35, bytes: 686 },
    depositAgain: { events: 2, rows: 4, mutations: 36, bytes: 1143 },
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
