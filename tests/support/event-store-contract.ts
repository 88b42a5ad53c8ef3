import { parseCommandText } from '../../ledger/core/commands';
import { CommandHandler } from '../../ledger/core/handler';
import { appendToStream, comparePositions, GlobalPosition, LedgerStore, positionOf } from '../../ledger/core/store';
import { StoredEvent } from '../../ledger/core/events';
import { accountStreamId } from '../../ledger/core/ids';
import { depositWire } from './commands';
import { adjustEvent, depositEvent, uniqueName } from './events';

/**
 * User IDs whose order differs between UTF-16 code units (JavaScript's `<`) and UTF-8 bytes
 * (Spanner's): astral characters against BMP characters at or above U+E000, plus ASCII and
 * BMP characters below the surrogates, and shared prefixes.
 */
export const NON_ASCII_USERS = ['𠮷田', 'ｽｽﾞｷ', '😀', 'ｚ', 'plain', '\uFFFD', 'é', '日本', '🎉x', '😀😀', 'ｚｚ', '\uE000', 'a😀', 'aｚ', '\u{10FFFF}', 'Ω'];

/** Spanner's order of log positions, computed independently of the code under test: stream IDs by UTF-8 bytes. */
export function spannerPositionOrder(a: GlobalPosition, b: GlobalPosition): number {
  if (a.committedAt !== b.committedAt) return a.committedAt < b.committedAt ? -1 : 1;
  const streams = Buffer.compare(Buffer.from(a.streamId, 'utf8'), Buffer.from(b.streamId, 'utf8'));
  return streams !== 0 ? streams : a.streamVersion - b.streamVersion;
}

/**
 * The event-store contract: one suite, run against the in-memory reference store (unit tier)
 * and the Spanner store on the emulator (integration tier). Both must pass it unchanged.
 */
export function eventStoreContract(makeStore: () => Promise<LedgerStore>, release: (store: LedgerStore) => Promise<void> = (s) => s.close()): void {
  let store: LedgerStore;
  beforeAll(async () => {
    store = await makeStore();
  });
  afterAll(async () => {
    await release(store);
  });

  async function readEverything(): Promise<StoredEvent[]> {
    const all: StoredEvent[] = [];
    let position = null;
    for (;;) {
      const page = await store.readAll(position, 1000);
      all.push(...page.events);
      if (page.events.length === 0) return all;
      position = page.position;
    }
  }

  test('append writes all events atomically with consecutive stream versions and one commit timestamp', async () => {
    const user = uniqueName('append');
    const events = [depositEvent(user, 1), depositEvent(user, 2), adjustEvent(user, uniqueName('k'))];
    const result = await appendToStream(store, accountStreamId(user), 0, events);
    expect(result.status).toBe('appended');
    if (result.status !== 'appended') return;
    expect(result.events.map((event) => event.streamVersion)).toEqual([1, 2, 3]);
    expect(new Set(result.events.map((event) => event.committedAt)).size).toBe(1);
    const stream = await store.readStream(accountStreamId(user));
    expect(stream.map((event) => event.eventId)).toEqual(events.map((event) => event.eventId));
    expect(stream.map((event) => event.committedAt)).toEqual(result.events.map((event) => event.committedAt));
    const account = await store.readAccount(user);
    expect(account?.balanceMicroUsd).toBe(2_000_000n + 5_000_000n);
    expect(account?.version).toBe(3);
  });

  test('re-appending identical events is a duplicate: nothing written, originals returned with their commit time', async () => {
    const user = uniqueName('dup');
    const events = [depositEvent(user, 1)];
    const first = await appendToStream(store, accountStreamId(user), 0, events);
    const second = await appendToStream(store, accountStreamId(user), 0, events);
    expect(second.status).toBe('duplicate');
    if (first.status !== 'appended' || second.status !== 'duplicate') return;
    expect(second.events[0]!.committedAt).toBe(first.events[0]!.committedAt);
    expect(second.events[0]!.streamVersion).toBe(1);
    expect((await store.readStream(accountStreamId(user))).length).toBe(1);
    expect((await store.readAccount(user))?.balanceMicroUsd).toBe(1_000_000n);
  });

  test('a duplicate is reported even after the stream moved on (idempotency before version check)', async () => {
    const user = uniqueName('dup-late');
    const stream = accountStreamId(user);
    await appendToStream(store, stream, 0, [depositEvent(user, 1)]);
    await appendToStream(store, stream, 1, [depositEvent(user, 2)]);
    const retry = await appendToStream(store, stream, 0, [depositEvent(user, 1)]);
    expect(retry.status).toBe('duplicate');
  });

  test.each([
    ['payload.amountMicroUsd', (user: string) => depositEvent(user, 1, '2000000')],
    ['occurredAt, payload.occurredAt', (user: string) => depositEvent(user, 1, '1000000', '2026-02-01T00:00:00.000000Z')],
  ])('same event ID with different content is an idempotency conflict naming %s', async (fields, variant) => {
    const user = uniqueName('conflict');
    const stream = accountStreamId(user);
    await appendToStream(store, stream, 0, [depositEvent(user, 1)]);
    const result = await appendToStream(store, stream, 'any', [variant(user)]);
    expect(result.status).toBe('idempotency_conflict');
    if (result.status !== 'idempotency_conflict') return;
    expect(result.fields.join(', ')).toBe(fields);
    expect(result.message).toContain(fields.split(', ')[0]);
    expect((await store.readStream(stream)).length).toBe(1);
    expect((await store.readAccount(user))?.balanceMicroUsd).toBe(1_000_000n);
  });

  test('a stale expected version is a concurrency conflict and writes nothing', async () => {
    const user = uniqueName('stale');
    const stream = accountStreamId(user);
    await appendToStream(store, stream, 0, [depositEvent(user, 1)]);
    const stale = await appendToStream(store, stream, 0, [depositEvent(user, 2)]);
    expect(stale).toMatchObject({ status: 'concurrency_conflict', expectedVersion: 0, actualVersion: 1 });
    expect((await store.readStream(stream)).length).toBe(1);
    expect((await appendToStream(store, stream, 1, [depositEvent(user, 2)])).status).toBe('appended');
    expect((await appendToStream(store, stream, 'any', [depositEvent(user, 3)])).status).toBe('appended');
    expect((await store.readStream(stream)).map((event) => event.streamVersion)).toEqual([1, 2, 3]);
  });

  test('mixed case: some events exist and some do not is a partial duplicate, nothing written', async () => {
    const user = uniqueName('mixed');
    const stream = accountStreamId(user);
    await appendToStream(store, stream, 0, [depositEvent(user, 1)]);
    const result = await appendToStream(store, stream, 'any', [depositEvent(user, 1), depositEvent(user, 2)]);
    expect(result.status).toBe('partial_duplicate');
    if (result.status !== 'partial_duplicate') return;
    expect(result.existingEventIds).toEqual([depositEvent(user, 1).eventId]);
    expect(result.missingEventIds).toEqual([depositEvent(user, 2).eventId]);
    expect((await store.readStream(stream)).length).toBe(1);
  });

  test('readAll returns a total order: commit timestamp, then stream, then version; pages never skip or repeat', async () => {
    const users = [uniqueName('order-b'), uniqueName('order-a')];
    for (const user of users) await appendToStream(store, accountStreamId(user), 0, [depositEvent(user, 1), depositEvent(user, 2)]);
    const all = await readEverything();
    for (let i = 1; i < all.length; i++) expect(comparePositions(positionOf(all[i - 1]!), positionOf(all[i]!))).toBeLessThan(0);
    const mine = all.filter((event) => users.some((user) => event.streamId === accountStreamId(user)));
    // Committed in two transactions in this order: the first user's commit sorts first.
    expect(mine.map((event) => [event.streamId, event.streamVersion])).toEqual([
      [accountStreamId(users[0]!), 1],
      [accountStreamId(users[0]!), 2],
      [accountStreamId(users[1]!), 1],
      [accountStreamId(users[1]!), 2],
    ]);
    // Small pages give exactly the same sequence as one large read.
    const paged: string[] = [];
    let position = null;
    for (;;) {
      const page = await store.readAll(position, 3);
      if (page.events.length === 0) break;
      paged.push(...page.events.map((event) => event.eventId));
      position = page.position;
    }
    expect(paged).toEqual(all.map((event) => event.eventId));
  });

  test('within one commit, events order by stream then stream version', async () => {
    const user = uniqueName('one-commit');
    const result = await appendToStream(store, accountStreamId(user), 0, [depositEvent(user, 3), depositEvent(user, 1), depositEvent(user, 2)]);
    expect(result.status).toBe('appended');
    const all = await readEverything();
    const mine = all.filter((event) => event.streamId === accountStreamId(user));
    expect(mine.map((event) => event.payload.userId === user && event.streamVersion)).toEqual([1, 2, 3]);
    expect(mine.map((event) => (event.type === 'TokenDeposited' ? event.payload.blockNumber : ''))).toEqual(['3', '1', '2']);
  });

  test('readAll after the last position returns nothing until a later commit, which it then returns', async () => {
    const before = await readEverything();
    const last = before[before.length - 1]!;
    expect((await store.readAll(positionOf(last), 10)).events).toEqual([]);
    const user = uniqueName('later');
    await appendToStream(store, accountStreamId(user), 0, [depositEvent(user, 1)]);
    const next = await store.readAll(positionOf(last), 10);
    expect(next.events.map((event) => event.streamId)).toEqual([accountStreamId(user)]);
  });

  test('8 concurrent appenders to one stream: stale versions are conflicts, and re-read-and-retry lands each append exactly once', async () => {
    const user = uniqueName('race');
    const stream = accountStreamId(user);
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, async (_, writer) => {
        const conflicts: number[] = [];
        for (;;) {
          const version = (await store.readStream(stream)).length;
          const result = await appendToStream(store, stream, version, [adjustEvent(user, `${user}-w${writer}`, '1000000')]);
          if (result.status === 'appended' || result.status === 'duplicate') return { status: result.status, conflicts };
          expect(result.status).toBe('concurrency_conflict');
          conflicts.push(version);
        }
      }),
    );
    expect(outcomes.every((outcome) => outcome.status === 'appended')).toBe(true);
    const events = await store.readStream(stream);
    expect(events.map((event) => event.streamVersion)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(new Set(events.map((event) => event.eventId)).size).toBe(8);
    expect((await store.readAccount(user))?.balanceMicroUsd).toBe(8_000_000n);
  });

  test('8 concurrent appenders to different streams all land once', async () => {
    const users = Array.from({ length: 8 }, () => uniqueName('parallel'));
    const results = await Promise.all(users.map((user) => appendToStream(store, accountStreamId(user), 0, [depositEvent(user, 1), depositEvent(user, 2)])));
    expect(results.map((result) => result.status)).toEqual(Array(8).fill('appended'));
    for (const user of users) expect((await store.readStream(accountStreamId(user))).map((event) => event.streamVersion)).toEqual([1, 2]);
    const again = await Promise.all(users.map((user) => appendToStream(store, accountStreamId(user), 0, [depositEvent(user, 1), depositEvent(user, 2)])));
    expect(again.map((result) => result.status)).toEqual(Array(8).fill('duplicate'));
  });

  test('one group commit of many non-ASCII streams across shards reads back exactly once, in Spanner\'s order, at page sizes 1, 2, 3 and 1000', async () => {
    const before = await readEverything();
    const start = before.length > 0 ? positionOf(before[before.length - 1]!) : null;
    const tag = uniqueName('');
    const users = NON_ASCII_USERS.map((name, index) => `${name}-${index}${tag}`);
    const handler = new CommandHandler(store, { bonusRateBps: 1000 });
    const commands = users.map((user, index) => {
      const parsed = parseCommandText(JSON.stringify(depositWire(user, index, String(1_000_000 + index))));
      if (!parsed.ok) throw new Error(parsed.message);
      return parsed.command;
    });
    const outcomes = await handler.handle(commands);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(users.map(() => 'accepted'));
    const written = new Set(outcomes.flatMap((outcome) => outcome.eventIds ?? []));
    expect(written.size).toBe(users.length * 2);

    for (const pageSize of [1, 2, 3, 1000]) {
      const read: StoredEvent[] = [];
      let position = start;
      for (let pages = 0; ; pages++) {
        const page = await store.readAll(position, pageSize);
        if (page.events.length === 0) break;
        expect(page.events.length).toBeLessThanOrEqual(pageSize);
        read.push(...page.events);
        position = page.position;
        if (pages > users.length * 4) throw new Error(`page size ${pageSize}: the reader does not move on (same events returned again)`);
      }
      const ids = read.map((event) => event.eventId);
      expect([ids.length, new Set(ids).size]).toEqual([written.size, written.size]);
      expect(new Set(ids)).toEqual(written);
      const expected = [...read].sort((a, b) => spannerPositionOrder(positionOf(a), positionOf(b)));
      expect(ids).toEqual(expected.map((event) => event.eventId));
      expect(new Set(read.map((event) => event.committedAt)).size).toBe(1);
    }
  });

  test('readEvents returns stored events by ID and ignores unknown IDs', async () => {
    const user = uniqueName('by-id');
    const event = depositEvent(user, 1);
    await appendToStream(store, accountStreamId(user), 0, [event]);
    const found = await store.readEvents([event.eventId, 'f'.repeat(32)]);
    expect([...found.keys()]).toEqual([event.eventId]);
    expect(found.get(event.eventId)?.payload).toEqual(event.payload);
  });

  test('commit markers: what a transaction wrote with its writes, a later one reads back by attempt; a second run of the same attempt cannot commit', async () => {
    const attemptId = store.newAttemptId();
    expect(store.newAttemptId()).not.toBe(attemptId);
    const empty = { events: [], accounts: [], charges: [] };
    expect((await store.transact((tx) => tx.readCommitMarkers(attemptId))).value).toEqual([]);
    const first = await store.transact(async (tx) => tx.write({ ...empty, commitMarker: { attemptId, run: 2 } }));
    expect(first.committedAt).toBeDefined();
    expect((await store.transact((tx) => tx.readCommitMarkers(attemptId))).value).toEqual([2]);
    expect((await store.transact((tx) => tx.readCommitMarkers(store.newAttemptId()))).value).toEqual([]);
    await expect(store.transact(async (tx) => tx.write({ ...empty, commitMarker: { attemptId, run: 2 } }))).rejects.toThrow(/ALREADY_EXISTS|already exists/i);
  });
}
