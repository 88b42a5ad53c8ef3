import net from 'node:net';
import { emptyAccount } from '../../ledger/core/account';
import { Command, parseCommandText } from '../../ledger/core/commands';
import { CommandHandler } from '../../ledger/core/handler';
import { accountToRow } from '../../ledger/spanner/codec';
import { connect, settingsFromEnv, SpannerConnection } from '../../ledger/spanner/connection';
import { migrate } from '../../ledger/spanner/migrate';
import { MIGRATIONS } from '../../app/schema';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { depositWire } from '../support/commands';
import { FaultProxy, startFaultProxy } from '../support/fault-proxy';
import { emulatorHost, freshDatabaseId } from '../support/spanner';

/**
 * The fault proxy, proven against the real emulator through the real Spanner client: each
 * fault must reach the client as described, and the emulator's state must tell the truth
 * behind it (read past the proxy, on a direct connection to the same database).
 */
jest.setTimeout(30_000);

const GRPC_UNAVAILABLE = 14;
const PARTITION_MS = 2000;
const FREEZE_MS = 1500;
/** Timers may fire a few ms early relative to Date.now() readings taken elsewhere. */
const TIMER_SLACK_MS = 50;

function command(wire: unknown): Command {
  const parsed = parseCommandText(JSON.stringify(wire));
  if (!parsed.ok) throw new Error(`test command is invalid: ${parsed.message}`);
  return parsed.command;
}

type Outcome<T> = { ok: true; value: T; endedAt: number; ms: number } | { ok: false; error: unknown; endedAt: number; ms: number };

async function outcome<T>(promise: Promise<T>): Promise<Outcome<T>> {
  const started = Date.now();
  try {
    const value = await promise;
    return { ok: true, value, endedAt: Date.now(), ms: Date.now() - started };
  } catch (error) {
    return { ok: false, error, endedAt: Date.now(), ms: Date.now() - started };
  }
}

/** Rejects after `ms`, so a fault that never fires fails its test at once rather than by jest's timeout. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function grpcCode(result: Outcome<unknown>): number | undefined {
  return result.ok ? undefined : (result.error as { code?: number }).code;
}

/** Counts a user's events with a query, i.e. over ExecuteStreamingSql. */
async function eventCount(connection: SpannerConnection, userId: string): Promise<number> {
  const [rows] = await connection.database.run({
    sql: "SELECT CAST(COUNT(*) AS STRING) AS N FROM Events WHERE STRPOS(StreamId, @userId) > 0",
    params: { userId },
    json: true,
    ...connection.queryOptions,
  });
  return Number((rows as { N: string }[])[0]!.N);
}

function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

let proxy: FaultProxy;
let viaProxy: SpannerConnection;
let direct: SpannerConnection;
let store: SpannerLedgerStore;
let directStore: SpannerLedgerStore;
let handler: CommandHandler;

beforeAll(async () => {
  proxy = await startFaultProxy(emulatorHost());
  const databaseId = freshDatabaseId('fp');
  viaProxy = connect(settingsFromEnv({}, { emulatorHost: proxy.host, databaseId }));
  direct = connect(settingsFromEnv({}, { emulatorHost: emulatorHost(), databaseId }));
  store = new SpannerLedgerStore(viaProxy);
  directStore = new SpannerLedgerStore(direct);
  handler = new CommandHandler(store, { bonusRateBps: 0 });
  // Through the proxy: instance and database creation, DDL and its long-running operations.
  await migrate(viaProxy, MIGRATIONS);
  // Something for the later tests to read, so each of them can also run on its own.
  await new CommandHandler(directStore, { bonusRateBps: 0 }).handle([command(depositWire('fp-seed', 1, '1000000'))]);
});

afterAll(async () => {
  await store?.close();
  await directStore?.close();
  await proxy?.close();
});

test('normal operation: migrate, a read-write transaction and streaming reads all pass through', async () => {
  const before = proxy.stats();
  const outcomes = await handler.handle([command(depositWire('fp-normal', 1, '5000000'))]);
  expect(outcomes.map((o) => o.status)).toEqual(['accepted']);
  expect((await store.readAccount('fp-normal'))?.balanceMicroUsd).toBe(5_000_000n);
  expect(await eventCount(viaProxy, 'fp-normal')).toBe(1);
  const after = proxy.stats();
  expect(after.calls.CreateDatabase).toBe(1);
  expect(after.calls.UpdateDatabaseDdl).toBeGreaterThan(0);
  expect(after.commits - before.commits).toBe(1);
  expect((after.calls.StreamingRead ?? 0) - (before.calls.StreamingRead ?? 0)).toBeGreaterThan(0);
  expect((after.calls.ExecuteStreamingSql ?? 0) - (before.calls.ExecuteStreamingSql ?? 0)).toBeGreaterThan(0);
  expect(after.commitsCut).toBe(0);
  // And the emulator agrees with what the client read through the proxy.
  expect((await directStore.readAccount('fp-normal'))?.balanceMicroUsd).toBe(5_000_000n);
});

test('cutAfterNextCommit: the commit call fails, yet the emulator committed it', async () => {
  const before = proxy.stats();
  const cut = proxy.cutAfterNextCommit();
  const [tx] = await viaProxy.database.getTransaction();
  tx.upsert('Accounts', accountToRow({ ...emptyAccount('fp-cut'), version: 1, balanceMicroUsd: 4_000_000n, depositsMicroUsd: 4_000_000n }));
  // The client's own Commit retry is off, so the lost reply is what the caller sees.
  const commit = await outcome(tx.commit({ gaxOptions: { retry: null, timeout: 10_000 } }));
  tx.end();
  expect(commit.ok).toBe(false);
  expect(grpcCode(commit)).toBe(GRPC_UNAVAILABLE);
  const [fired] = await within(cut, 2000, 'the Commit cut');
  expect(fired!.grpcStatus).toBe(0);
  expect(proxy.stats().commitsCut - before.commitsCut).toBe(1);
  // Read past the proxy: the emulator holds the row the client was told did not commit.
  expect((await directStore.readAccount('fp-cut'))?.balanceMicroUsd).toBe(4_000_000n);
});

test('cutAfterNextCommit under the ledger: the client re-sends the Commit, and the deposit lands once', async () => {
  const before = proxy.stats();
  const cut = proxy.cutAfterNextCommit();
  const outcomes = await handler.handle([command(depositWire('fp-recommit', 1, '3000000'))]);
  const [fired] = await within(cut, 2000, 'the Commit cut');
  const after = proxy.stats();
  expect(fired!.grpcStatus).toBe(0);
  expect(after.commitsCut - before.commitsCut).toBe(1);
  // One Commit cut, one re-sent by the client (same transaction), which the emulator accepts.
  expect(after.commits - before.commits).toBe(2);
  expect(outcomes.map((o) => o.status)).toEqual(['accepted']);
  expect(await eventCount(direct, 'fp-recommit')).toBe(1);
  expect((await directStore.readAccount('fp-recommit'))?.balanceMicroUsd).toBe(3_000_000n);
});

test('freezeFor: calls made during the freeze complete successfully once it ends', async () => {
  const before = proxy.stats();
  const started = Date.now();
  const thawed = proxy.freezeFor(FREEZE_MS);
  const [read, write] = await Promise.all([
    outcome(store.readAccount('fp-seed')),
    outcome(handler.handle([command(depositWire('fp-freeze', 1, '2000000'))])),
  ]);
  await thawed;
  expect(read.ok && read.value?.balanceMicroUsd).toBe(1_000_000n);
  expect(write.ok && write.value.map((o) => o.status)).toEqual(['accepted']);
  expect(read.endedAt - started).toBeGreaterThanOrEqual(FREEZE_MS - TIMER_SLACK_MS);
  expect(write.endedAt - started).toBeGreaterThanOrEqual(FREEZE_MS - TIMER_SLACK_MS);
  // Held, not dropped: the same connections carried the calls, and they did go through.
  expect(proxy.stats().connections).toBe(before.connections);
  expect(proxy.stats().commits - before.commits).toBe(1);
  expect((await directStore.readAccount('fp-freeze'))?.balanceMicroUsd).toBe(2_000_000n);
});

test('partitionFor: connects are refused and calls do not succeed during it; calls succeed after it', async () => {
  const before = proxy.stats();
  const started = Date.now();
  let healedAt = Number.POSITIVE_INFINITY;
  const healed = proxy.partitionFor(PARTITION_MS).then(() => (healedAt = Date.now()));
  expect(await tryConnect(proxy.port)).toBe('ECONNREFUSED');
  const during = await outcome(store.readAccount('fp-seed'));
  // Either it failed, or it waited out the partition: succeeding inside it would be a leak.
  if (during.ok) {
    expect(during.endedAt).toBeGreaterThanOrEqual(healedAt);
    expect(during.value?.balanceMicroUsd).toBe(1_000_000n);
  }
  await healed;
  expect(healedAt - started).toBeGreaterThanOrEqual(PARTITION_MS - TIMER_SLACK_MS);
  expect(await tryConnect(proxy.port)).toBe('connected');
  // grpc-js reconnects on its own, at its next back-off step (1 s, then x1.6, jittered).
  let recovered: Outcome<unknown> | undefined;
  while (Date.now() - healedAt < 10_000) {
    recovered = await outcome(store.readAccount('fp-seed'));
    if (recovered.ok) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(recovered?.ok).toBe(true);
  // The client came back over a new TCP connection through the proxy.
  expect(proxy.stats().connections).toBeGreaterThan(before.connections);
});
