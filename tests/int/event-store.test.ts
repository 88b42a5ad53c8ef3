import { LIMITS } from '../../ledger/core/limits';
import { parseCommandText } from '../../ledger/core/commands';
import { CommandHandler } from '../../ledger/core/handler';
import { mutationCount, SpannerLedgerStore } from '../../ledger/spanner/store';
import { depositWire } from '../support/commands';
import { eventStoreContract, NON_ASCII_USERS, spannerPositionOrder } from '../support/event-store-contract';
import { uniqueName } from '../support/events';
import { freshSpannerStore } from '../support/spanner';
import { InMemoryLedgerStore } from '../../ledger/memory/store';
import { adjustCommand, chargeCommand, depositCommand, openInvoiceCommand, settleCommand, txHash, voidInvoiceCommand } from '../unit/support/fixtures';

describe('event store contract: Spanner store on the emulator', () => {
  eventStoreContract(() => freshSpannerStore('es'));
});

describe('Spanner specifics', () => {
  let store: SpannerLedgerStore;
  beforeAll(async () => {
    store = await freshSpannerStore('esx');
  });
  afterAll(async () => {
    await store?.close();
  });

  test('the order the contract expects is the order Spanner itself sorts the EventsByCommit key in', async () => {
    const tag = uniqueName('');
    const users = NON_ASCII_USERS.map((name, index) => `${name}-${index}${tag}`);
    const commands = users.map((user, index) => {
      const parsed = parseCommandText(JSON.stringify(depositWire(user, index)));
      if (!parsed.ok) throw new Error(parsed.message);
      return parsed.command;
    });
    await new CommandHandler(store, { bonusRateBps: 0 }).handle(commands);
    const [rows] = await store.connection.database.run({
      sql: `SELECT StreamId, StreamVersion, FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E9SZ', CommittedAt, 'UTC') AS CommittedAt
            FROM Events ORDER BY CommittedAt, StreamId, StreamVersion`,
      json: true,
      jsonOptions: { wrapNumbers: false },
    });
    const spanner = (rows as { StreamId: string; StreamVersion: number; CommittedAt: string }[]).map((row) => ({
      committedAt: row.CommittedAt,
      streamId: row.StreamId,
      streamVersion: Number(row.StreamVersion),
    }));
    expect(spanner).toHaveLength(users.length);
    expect(spanner.map((position) => position.streamId)).toEqual([...spanner].sort(spannerPositionOrder).map((position) => position.streamId));
    // And the order differs from JavaScript's default string order, so the test can tell them apart.
    expect(spanner.map((position) => position.streamId)).not.toEqual(spanner.map((position) => position.streamId).sort());
  });

  test('an account row is written cell by cell after its first command, and reads back whole: as the in-memory store has it', async () => {
    const user = uniqueName('cells');
    const memory = new InMemoryLedgerStore();
    const options = { bonusRateBps: 1000, balanceThresholdsMicroUsd: [10_000_000n] };
    const steps = [
      [depositCommand({ userId: user, txHash: txHash(901), amountMicroUsd: '20000000' })],
      [chargeCommand({ userId: user, invoiceId: `${user}-c`, amountMicroUsd: '3000000', pending: true })],
      [settleCommand({ userId: user, invoiceId: `${user}-c` })],
      [adjustCommand({ userId: user, idempotencyKey: `${user}-a`, amountMicroUsd: '-15000000' })],
      [openInvoiceCommand({ userId: user, invoiceId: `${user}-i`, amountMicroUsd: '900000000' })],
      // Two commands of one user in one batch: one row write with both changes.
      [depositCommand({ userId: user, txHash: txHash(902), amountMicroUsd: '1000000' }), depositCommand({ userId: user, txHash: txHash(903), amountMicroUsd: '2000000' })],
      [voidInvoiceCommand({ userId: user, invoiceId: `${user}-i` })],
    ];
    for (const commands of steps) {
      const [spannerOutcomes, memoryOutcomes] = [await new CommandHandler(store, options).handle(commands), await new CommandHandler(memory, options).handle(commands)];
      expect(spannerOutcomes.map((outcome) => outcome.status)).toEqual(memoryOutcomes.map((outcome) => outcome.status));
      expect(await store.readAccount(user)).toEqual(await memory.readAccount(user));
    }
    expect((await store.readAccount(user))?.version).toBe(16);
  });

  test('a commit above Spanner\'s 80,000-mutation limit is refused before it is sent, and writes nothing', async () => {
    const user = uniqueName('mutations');
    const draft = (index: number) => ({
      type: 'BalanceAdjusted' as const,
      eventId: index.toString(16).padStart(32, '0'),
      streamId: `account-${user}`,
      streamVersion: index + 1,
      occurredAt: '2026-01-01T00:00:00.000000Z',
      schemaVersion: 1,
      contentDigest: '0'.repeat(64),
      chainHash: '0'.repeat(64),
      payload: { userId: user, amountMicroUsd: '1', reason: 'r', idempotencyKey: `k${index}`, occurredAt: '2026-01-01T00:00:00.000000Z' },
    });
    const perEvent = mutationCount({ events: [draft(0)], accounts: [], charges: [] });
    expect(perEvent).toBeGreaterThanOrEqual(13); // 11 cells and 2 index entries at least
    const events = Math.floor(LIMITS.spannerMutationsPerCommitMax / perEvent) + 1;
    const drafts = Array.from({ length: events }, (_, index) => draft(index));
    await expect(store.transact(async (tx) => tx.write({ events: drafts, accounts: [], charges: [] }))).rejects.toThrow(/mutations, above Spanner's limit of 80000/);
    expect(await store.readStream(`account-${user}`)).toEqual([]);
  });
});
