import { EVENT_SCHEMA_VERSION, NewEvent } from '../ledger/core/events';
import { accountStreamId, eventIds } from '../ledger/core/ids';
import { appendToStream } from '../ledger/core/store';
import { SpannerConnection } from '../ledger/spanner/connection';
import { runReadWrite } from '../ledger/spanner/transaction';
import { SpannerLedgerStore } from '../ledger/spanner/store';
import { rebuild } from '../projections/spanner/rebuild';
import { insertRowsInCommits } from './bench-support';

/**
 * Rebuild throughput: seeds 20,000 deposit events (200 users × 100, appended with
 * appendToStream 100 per transaction), then times `rebuild` of every projection (both views
 * from the pinned log, switch, old-generation delete). Compare with `benchRawInsertCeiling`:
 * plain `tx.insert` batches of 100 rows into TransactionView on the same emulator.
 */
const USERS = 200;
const EVENTS_PER_USER = 100;
const APPEND_BATCH = 100;

function deposit(userId: string, n: number): NewEvent {
  const txHash = `0x${n.toString(16).padStart(8, '0')}${Buffer.from(userId).toString('hex').padEnd(56, '0').slice(0, 56)}`;
  const occurredAt = `2026-01-01T00:${String(Math.floor(n / 60) % 60).padStart(2, '0')}:${String(n % 60).padStart(2, '0')}.000000Z`;
  return {
    type: 'TokenDeposited',
    eventId: eventIds.deposit('1', txHash, '0'),
    streamId: accountStreamId(userId),
    occurredAt,
    schemaVersion: EVENT_SCHEMA_VERSION.TokenDeposited,
    payload: { userId, source: 'ethereum', chainId: '1', txHash, logIndex: '0', blockNumber: String(n), wallet: `0x${'ab'.repeat(20)}`, tokenValue: '1', amountMicroUsd: '1000000', occurredAt },
  };
}

export async function seedDeposits(connection: SpannerConnection, users = USERS, perUser = EVENTS_PER_USER): Promise<number> {
  const store = new SpannerLedgerStore(connection);
  let count = 0;
  for (let u = 0; u < users; u++) {
    const userId = `bench-${u}`;
    for (let start = 0; start < perUser; start += APPEND_BATCH) {
      const events = Array.from({ length: Math.min(APPEND_BATCH, perUser - start) }, (_, i) => deposit(userId, start + i));
      const result = await appendToStream(store, accountStreamId(userId), 'any', events);
      if (result.status !== 'appended' && result.status !== 'duplicate') throw new Error(`seed: ${result.status}`);
      count += events.length;
    }
  }
  return count;
}

export async function benchRebuild(connection: SpannerConnection): Promise<{ events: number; seconds: number; eventsPerSecond: number }> {
  await seedDeposits(connection);
  const store = new SpannerLedgerStore(connection);
  const started = process.hrtime.bigint();
  const report = await rebuild(connection, store);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { events: report.events, seconds, eventsPerSecond: report.events / seconds };
}

/** Rows/s of plain batched inserts (100 rows per transaction) into TransactionView, in a scratch generation it deletes afterwards. */
export async function benchRawInsertCeiling(connection: SpannerConnection, rows = 20_000): Promise<{ rows: number; seconds: number; rowsPerSecond: number }> {
  const generation = '999999999';
  const started = process.hrtime.bigint();
  await insertRowsInCommits(connection, 'TransactionView', 0, rows, 100, (n) => ({
    Generation: generation,
    UserId: `raw-${n % 200}`,
    EventId: `${n.toString(16).padStart(32, '0')}`,
    StreamVersion: String(n),
    Type: 'credit',
    Source: 'ethereum',
    Status: 'complete',
    AmountMicroUsd: '1000000',
    Description: 'token deposit on ethereum (chain 1)',
    Metadata: '{"chainId":"1"}',
    OccurredAt: '2026-01-01T00:00:00.000000Z',
  }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await runReadWrite(connection, async (tx) => {
    const queued = (tx as unknown as { _queuedMutations: unknown[] })._queuedMutations;
    const bound = { values: [{ stringValue: generation }] };
    queued.push({ delete: { table: 'TransactionView', keySet: { ranges: [{ startClosed: bound, endClosed: bound }] } } });
  });
  return { rows, seconds, rowsPerSecond: rows / seconds };
}

if (require.main === module) {
  void (async () => {
    const { connect, settingsFromEnv } = await import('../ledger/spanner/connection');
    const { migrate } = await import('../ledger/spanner/migrate');
    const { MIGRATIONS } = await import('../app/schema');
    const connection = connect(settingsFromEnv(process.env, { databaseId: process.env.SPANNER_DATABASE_ID ?? `bench${Date.now().toString(36)}` }));
    try {
      await migrate(connection, MIGRATIONS);
      console.log(JSON.stringify({ rebuild: await benchRebuild(connection), rawInsertCeiling: await benchRawInsertCeiling(connection) }));
    } finally {
      await connection.close();
    }
  })();
}
