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
import { readActiveViews, readTransactions } from '../../projections/spanner/view-reads';
import { runProjector } from '../../projections/spanner/runtime';
import { EXIT } from '../../commands/errors';
import { runCliCaptured, runSpanledger } from '../support/cli';
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
      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .filter((line) => line.startsWith('{"eventId"'))
        .map((line) => JSON.parse(line) as { eventId: string; occurredAt: string; payload: { occurredAt: string } });
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

/**
 * Commands arrive out of business-time order. The as-of answers must stay ones that could
 * be true: a payment the ledger dates itself never precedes the invoice or the money it
 * draws on, and a settle, fail or void never precedes what it acts on (it is rejected).
 * Everything through the CLI, as an operator would see it.
 */
describe('backdated commands give as-of answers that can be true', () => {
  let connection: SpannerConnection;
  const env = () => cliEnv(connection, { SPANLEDGER_BONUS_BPS: '0' });
  const day = (n: number) => `2026-03-${String(n).padStart(2, '0')}T00:00:00Z`;
  const canonicalDay = (n: number) => `2026-03-${String(n).padStart(2, '0')}T00:00:00.000000Z`;
  let txSequence = 0;
  const deposit = (userId: string, amountMicroUsd: string, occurredAt: string) => ({
    type: 'deposit', userId, source: 'ethereum', chainId: '1', txHash: `0x${String(++txSequence).padStart(64, '0')}`, logIndex: '0', blockNumber: '1',
    wallet: `0x${'ab'.repeat(20)}`, tokenValue: '1', amountMicroUsd, occurredAt,
  });

  async function submit(...commands: unknown[]): Promise<{ code: number | null; outcomes: Record<string, unknown>[] }> {
    const run = await runCliCaptured(['submit', '-'], env(), commands.map((command) => JSON.stringify(command)).join('\n') + '\n');
    return { code: run.code, outcomes: run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) };
  }

  async function asOf(userId: string, businessTime: string): Promise<Record<string, unknown>> {
    const run = await runCliCaptured(['balance', userId, '--as-of', businessTime, '--json'], env());
    expect([run.code, run.stderr]).toEqual([EXIT.ok, '']);
    return JSON.parse(run.stdout) as Record<string, unknown>;
  }

  async function invoices(userId: string): Promise<{ invoiceId: string; openedAt: string; closedAt?: string; payments: { occurredAt: string }[] }[]> {
    const run = await runCliCaptured(['invoices', userId, '--json'], env());
    return (JSON.parse(run.stdout) as { invoices: [] }).invoices;
  }

  beforeAll(async () => {
    connection = await freshConnection('bk');
  });
  afterAll(async () => {
    await connection?.close();
  });

  test('deposit $10 on March 10, then a $5 invoice dated March 1: nothing is paid as of March 5', async () => {
    expect((await submit(deposit('bk-1', '10000000', day(10)), { type: 'openInvoice', userId: 'bk-1', invoiceId: 'bk-1-inv', amountMicroUsd: '5000000', occurredAt: day(1) })).code).toBe(EXIT.ok);
    expect(await asOf('bk-1', day(5))).toMatchObject({ balanceMicroUsd: '0', chargesMicroUsd: '0', openInvoicesMicroUsd: '5000000' });
    expect(await asOf('bk-1', day(10))).toMatchObject({ balanceMicroUsd: '5000000', chargesMicroUsd: '-5000000', openInvoicesMicroUsd: '0' });
    const [invoice] = await invoices('bk-1');
    expect(invoice).toMatchObject({ openedAt: canonicalDay(1), closedAt: canonicalDay(10), payments: [{ occurredAt: canonicalDay(10) }] });
  });

  test('an invoice opened March 10, paid by a deposit dated March 1: never closed before it opened, never negative due', async () => {
    expect((await submit({ type: 'openInvoice', userId: 'bk-2', invoiceId: 'bk-2-inv', amountMicroUsd: '30000000', occurredAt: day(10) }, deposit('bk-2', '40000000', day(1)))).code).toBe(EXIT.ok);
    expect(await asOf('bk-2', day(5))).toMatchObject({ balanceMicroUsd: '40000000', openInvoicesMicroUsd: '0', chargesMicroUsd: '0' });
    expect(await asOf('bk-2', day(10))).toMatchObject({ balanceMicroUsd: '10000000', openInvoicesMicroUsd: '0', chargesMicroUsd: '-30000000' });
    const [invoice] = await invoices('bk-2');
    expect(invoice).toMatchObject({ openedAt: canonicalDay(10), closedAt: canonicalDay(10) });
  });

  test('a void or a failCharge dated before its invoice or charge is rejected, so as-of never shows the wrong sign', async () => {
    const { code, outcomes } = await submit(
      deposit('bk-3', '50000000', day(1)),
      { type: 'charge', userId: 'bk-3', invoiceId: 'bk-3-c', amountMicroUsd: '20000000', pending: true, occurredAt: day(10) },
      { type: 'failCharge', userId: 'bk-3', invoiceId: 'bk-3-c', occurredAt: day(5), reason: 'declined' },
      { type: 'openInvoice', userId: 'bk-3', invoiceId: 'bk-3-inv', amountMicroUsd: '500000000', occurredAt: day(12) },
      { type: 'voidInvoice', userId: 'bk-3', invoiceId: 'bk-3-inv', occurredAt: day(11), reason: 'error' },
    );
    expect(code).toBe(EXIT.rejected);
    expect(outcomes.map((outcome) => outcome.code ?? outcome.status)).toEqual(['accepted', 'accepted', 'OCCURRED_BEFORE_CAUSE', 'accepted', 'OCCURRED_BEFORE_CAUSE']);
    for (const n of [5, 10, 11, 12]) {
      const then = await asOf('bk-3', day(n));
      expect(BigInt(then.pendingMicroUsd as string)).toBeLessThanOrEqual(0n);
      expect(BigInt(then.chargesMicroUsd as string)).toBeLessThanOrEqual(0n);
      expect(BigInt(then.balanceMicroUsd as string)).toBeLessThanOrEqual(50_000_000n);
    }
  });

  test('--at is exact whatever the offset, and an impossible date is invalid input everywhere a time is read', async () => {
    expect((await submit({ type: 'adjust', userId: 'bk-at', amountMicroUsd: '7000000', reason: 'x', idempotencyKey: 'bk-at-1', occurredAt: day(1) })).code).toBe(EXIT.ok);
    const exported = await runCliCaptured(['events', 'export'], env());
    const line = exported.stdout.split('\n').find((text) => text.includes('"idempotencyKey":"bk-at-1"'))!;
    const committedAt = (JSON.parse(line) as { committedAt: string }).committedAt;
    // One nanosecond earlier, computed here with plain integers.
    const nanos = BigInt(Date.parse(`${committedAt.slice(0, 19)}Z`)) * 1_000_000n + BigInt(committedAt.slice(20, 29)) - 1n;
    const before = `${new Date(Number(nanos / 1_000_000_000n) * 1000).toISOString().slice(0, 19)}.${String(nanos % 1_000_000_000n).padStart(9, '0')}Z`;
    for (const [at, balance] of [
      [committedAt, '7000000'],
      [committedAt.replace(/Z$/, '+00:00'), '7000000'],
      [before.replace(/Z$/, '+00:00'), '0'],
    ] as const) {
      const run = await runCliCaptured(['balance', 'bk-at', '--at', at, '--json'], env());
      expect({ at, code: run.code, balance: run.code === 0 ? (JSON.parse(run.stdout) as { balanceMicroUsd: string }).balanceMicroUsd : run.stderr }).toEqual({ at, code: EXIT.ok, balance });
    }
    for (const args of [
      ['balance', 'bk-at', '--at', '2026-02-30T00:00:00Z'],
      ['audit', '--at', '2026-02-30T00:00:00Z'],
      ['accounts', '--at', '2026-02-30T00:00:00+00:00'],
      ['balance', 'bk-at', '--as-of', '2026-02-30T00:00:00Z'],
      ['transactions', 'bk-at', '--since', '2026-04-31T00:00:00Z'],
    ]) {
      const run = await runCliCaptured(args, env());
      expect({ args, code: run.code }).toEqual({ args, code: EXIT.invalid });
      expect(run.stderr).toMatch(/is not (an RFC 3339 timestamp|a business time) \(it is not a valid calendar date\)/);
    }
  });
});
