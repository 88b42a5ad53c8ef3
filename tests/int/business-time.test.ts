import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CommandHandler } from '../../ledger/core/handler';
import { parseCommandText } from '../../ledger/core/commands';
import { accountStreamId } from '../../ledger/core/ids';
import { formatMicros, parseBusinessTime } from '../../ledger/core/time';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { readActiveViews, readTransactions } from '../../projections/spanner/operations';
import { runProjector } from '../../projections/spanner/runtime';
import { runSpanledger } from '../support/cli';
import { ensureCliBuilt } from '../support/kafka';
import { cliEnv, freshConnection } from '../support/spanner';
import { balanceKeyText } from '../model/harness';

/**
 * Business times over the whole supported range (0001-01-01 to 9999-12-31, all six
 * fractional digits) survive every path a time takes: the event store's three readers, a
 * projection, and export then import. The seeds are fixed; MICROS_SEED replays another set.
 *
 * The instants the Spanner client decodes wrongly on its own (before 1970 with a fraction
 * in (-1 s, 0), or with no milliseconds) are always in the set.
 */
jest.setTimeout(180_000);

const micros = (text: string) => (parseBusinessTime(text) as { ok: true; time: { micros: bigint } }).time.micros;
const MIN_MICROS = micros('0001-01-01T00:00:00Z');
const MAX_MICROS = micros('9999-12-31T23:59:59.999999Z');
const EDGES = [
  '0001-01-01T00:00:00.000000Z',
  '0001-01-01T00:00:00.000001Z',
  '1899-12-31T23:59:59.999999Z',
  '1969-07-20T20:17:40.500000Z',
  '1969-12-31T23:59:59.000001Z',
  '1969-12-31T23:59:59.500000Z',
  '1969-12-31T23:59:59.999999Z',
  '1969-12-31T23:59:58.000001Z',
  '1970-01-01T00:00:00.000000Z',
  '1970-01-01T00:00:00.500000Z',
  '2026-12-01T12:00:00.000001Z',
  '9999-12-31T23:59:59.999999Z',
];
const SEED = Number(process.env.MICROS_SEED ?? 19690720);
const RANDOM = fc.sample(fc.bigInt({ min: MIN_MICROS, max: MAX_MICROS }), { numRuns: 120, seed: SEED }).map(formatMicros);
const TIMES = [...new Set([...EDGES, ...RANDOM])];

/** One adjustment per time, spread over a few users (a user's stream holds several times, unordered). */
const USERS = ['time-a', 'time-b', 'time-c', 'time-😀'];
const commandOf = (time: string, index: number) => {
  const parsed = parseCommandText(
    JSON.stringify({ type: 'adjust', userId: USERS[index % USERS.length], amountMicroUsd: String(index + 1), reason: `at ${time}`, idempotencyKey: `time-${index}`, occurredAt: time }),
  );
  if (!parsed.ok) throw new Error(`${time}: ${parsed.message}`);
  return parsed.command;
};

describe('business times round-trip through Spanner, a projection and export/import', () => {
  let connection: SpannerConnection;
  let store: SpannerLedgerStore;
  const expectedByEvent = new Map<string, string>();

  beforeAll(async () => {
    connection = await freshConnection('bt');
    store = new SpannerLedgerStore(connection);
    const outcomes = await new CommandHandler(store, { bonusRateBps: 0 }).handle(TIMES.map(commandOf));
    outcomes.forEach((outcome, index) => {
      expect(outcome.status).toBe('accepted');
      expectedByEvent.set(outcome.eventIds![0]!, TIMES[index]!);
    });
  });
  afterAll(async () => {
    await connection?.close();
  });

  test('every time is canonical text and parses back to itself', () => {
    for (const time of TIMES) expect(formatMicros(micros(time))).toBe(time);
    expect(TIMES.length).toBeGreaterThan(100);
  });

  test('readStream, readEvents and readAll return every occurredAt exactly as written', async () => {
    const streamed = (await Promise.all(USERS.map((user) => store.readStream(accountStreamId(user))))).flat();
    const byId = await store.readEvents([...expectedByEvent.keys()]);
    const all = [];
    for (let position = null as Parameters<typeof store.readAll>[0]; ; ) {
      const page = await store.readAll(position, 1000);
      if (page.events.length === 0) break;
      all.push(...page.events);
      position = page.position;
    }
    for (const events of [streamed, [...byId.values()], all]) {
      expect(events).toHaveLength(expectedByEvent.size);
      for (const event of events) expect([event.eventId, event.occurredAt]).toEqual([event.eventId, expectedByEvent.get(event.eventId)]);
    }
  });

  test('the transaction and balance views keep every occurredAt exactly', async () => {
    await runProjector(connection, store);
    for (const user of USERS) {
      const page = await readTransactions(connection, user, 1000);
      expect(page.rows.length).toBeGreaterThan(0);
      for (const row of page.rows) expect([row.id, row.occurredAt]).toEqual([row.id, expectedByEvent.get(row.id)]);
      // Newest first by business time: the TIMESTAMP column orders the rows.
      const times = page.rows.map((row) => row.occurredAt);
      expect(times).toEqual([...times].sort().reverse());
    }
    const { views } = await readActiveViews(connection);
    for (const user of USERS) {
      const row = JSON.parse(views.get('balances')!.get(balanceKeyText(user))!) as { lastEventAt: string; version: number };
      const stream = await store.readStream(accountStreamId(user));
      expect(row.lastEventAt).toBe(stream[stream.length - 1]!.occurredAt);
    }
  });

  test('export writes every time as it was, and import into a new database accepts and keeps them', async () => {
    ensureCliBuilt();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'spanledger-times-'));
    const target = await freshConnection('bti');
    try {
      const file = path.join(dir, 'times.jsonl');
      const exported = await runSpanledger(['events', 'export', file], { env: cliEnv(connection) });
      expect(exported.code).toBe(0);
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { eventId: string; occurredAt: string; payload: { occurredAt: string } });
      expect(lines).toHaveLength(expectedByEvent.size);
      for (const line of lines) expect([line.occurredAt, line.payload.occurredAt]).toEqual([expectedByEvent.get(line.eventId), expectedByEvent.get(line.eventId)]);
      const imported = await runSpanledger(['events', 'import', file, '--json'], { env: cliEnv(target) });
      expect([imported.code, imported.stderr]).toEqual([0, '']);
      expect(JSON.parse(imported.stdout)).toMatchObject({ appended: expectedByEvent.size, invalid: 0, conflicts: 0 });
      const copy = new SpannerLedgerStore(target);
      const copied = await copy.readEvents([...expectedByEvent.keys()]);
      for (const [eventId, time] of expectedByEvent) expect(copied.get(eventId)?.occurredAt).toBe(time);
    } finally {
      await target.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
