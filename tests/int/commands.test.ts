import { CommandHandler } from '../../ledger/core/handler';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { connect } from '../../ledger/spanner/connection';
import { adjustWire, chargeWire, depositWire, failWire, settleWire } from '../support/commands';
import { uniqueName } from '../support/events';
import { freshSpannerStore } from '../support/spanner';

/** Payment commands on the Spanner store: the rules of the decider, for real, with concurrency. */
let store: SpannerLedgerStore;
let handler: CommandHandler;

beforeAll(async () => {
  store = await freshSpannerStore('cmd');
  handler = new CommandHandler(store, { bonusRateBps: 1000 });
});
afterAll(() => store.close());

const submit = (commands: unknown[]) => handler.handleTexts(commands.map((command) => JSON.stringify(command)));
const balanceOf = async (userId: string) => (await store.readAccount(userId))?.balanceMicroUsd ?? 0n;

test('a deposit credits the amount plus a 10 % bonus in one commit; replays are duplicates with the same event IDs', async () => {
  const user = uniqueName('dep');
  const [first] = await submit([depositWire(user, 1, '30000000')]);
  expect(first).toMatchObject({ status: 'accepted' });
  expect(first!.eventIds).toHaveLength(2);
  const events = await store.readEvents(first!.eventIds!);
  expect(new Set([...events.values()].map((event) => event.committedAt)).size).toBe(1);
  expect(await balanceOf(user)).toBe(33_000_000n);

  // Sequential replays, including a re-encoded one (number vs string, other offset), change nothing.
  const again = await submit([depositWire(user, 1, 30000000), depositWire(user, 1, '30000000', { occurredAt: '2026-03-01T11:00:01.123456+01:00' })]);
  expect(again.map((outcome) => outcome.status)).toEqual(['duplicate', 'duplicate']);
  expect(again[0]!.eventIds).toEqual(first!.eventIds);
  expect(await balanceOf(user)).toBe(33_000_000n);
  expect((await store.readStream(`account-${user}`)).length).toBe(2);
});

test('a replay under another bonus rate is still a duplicate and changes nothing', async () => {
  const user = uniqueName('rate');
  await submit([depositWire(user, 1, '10000000')]);
  const noBonus = new CommandHandler(store, { bonusRateBps: 0 });
  const [replay] = await noBonus.handleTexts([JSON.stringify(depositWire(user, 1, '10000000'))]);
  expect(replay).toMatchObject({ status: 'duplicate' });
  expect(replay!.eventIds).toHaveLength(2);
  expect(await balanceOf(user)).toBe(11_000_000n);
});

test('the same natural key with different content is a conflict naming the fields, and writes nothing', async () => {
  const user = uniqueName('conf');
  await submit([depositWire(user, 1, '5000000')]);
  const [conflict] = await submit([depositWire(user, 1, '6000000', { wallet: `0x${'d1'.repeat(20)}` })]);
  expect(conflict).toMatchObject({ status: 'rejected', code: 'IDEMPOTENCY_CONFLICT' });
  expect(conflict!.message).toContain('amountMicroUsd');
  expect(conflict!.message).toContain('wallet');
  expect(await balanceOf(user)).toBe(5_500_000n);
});

test('a rejected command reserves nothing: the corrected command with the same key is accepted later', async () => {
  const user = uniqueName('later');
  const [rejected] = await submit([chargeWire(user, `${user}-inv`, '1000000')]);
  expect(rejected).toMatchObject({ status: 'rejected', code: 'INSUFFICIENT_FUNDS' });
  await submit([depositWire(user, 1, '2000000')]);
  const [accepted] = await submit([chargeWire(user, `${user}-inv`, '1000000')]);
  expect(accepted).toMatchObject({ status: 'accepted' });
  expect(await balanceOf(user)).toBe(1_200_000n);
});

test('8 concurrent chargers on one account never overdraw: exactly the affordable number is accepted', async () => {
  const user = uniqueName('race');
  await submit([depositWire(user, 1, '4545455')]); // 4,545,455 + 10 % bonus = 5,000,000 (floor)
  expect(await balanceOf(user)).toBe(5_000_000n);
  // Separate connections, so the eight transactions really race on the emulator (ABORTED and retried).
  const stores = Array.from({ length: 8 }, () => new SpannerLedgerStore(connect(store.connection.settings)));
  try {
    const outcomes = await Promise.all(
      stores.map((other, i) => new CommandHandler(other, { bonusRateBps: 1000 }).handleTexts([JSON.stringify(chargeWire(user, `${user}-c${i}`, '1000000'))])),
    );
    const statuses = outcomes.map((result) => result[0]!.status);
    expect(statuses.filter((status) => status === 'accepted')).toHaveLength(5);
    expect(outcomes.filter((result) => result[0]!.code === 'INSUFFICIENT_FUNDS')).toHaveLength(3);
  } finally {
    await Promise.all(stores.map((other) => other.close()));
  }
  expect(await balanceOf(user)).toBe(0n);
});

test('partial charges take the balance rounded down to whole cents; under one cent is rejected', async () => {
  const user = uniqueName('partial');
  await submit([adjustWire(user, `${user}-seed`, '1234567')]);
  const [partial] = await submit([chargeWire(user, `${user}-p1`, '5000000', { allowPartial: true })]);
  expect(partial).toMatchObject({ status: 'accepted' });
  const [event] = (await store.readEvents(partial!.eventIds!)).values();
  expect(event?.type === 'InvoiceCharged' && event.payload.chargedMicroUsd).toBe('1230000');
  expect(await balanceOf(user)).toBe(4_567n);
  const [tooLittle] = await submit([chargeWire(user, `${user}-p2`, '5000000', { allowPartial: true })]);
  expect(tooLittle).toMatchObject({ status: 'rejected', code: 'INSUFFICIENT_FUNDS' });
});

test('pending charges take the amount at once; settle completes, fail refunds; settle after fail is not pending', async () => {
  const user = uniqueName('pending');
  await submit([adjustWire(user, `${user}-seed`, '10000000')]);
  const outcomes = await submit([
    chargeWire(user, `${user}-a`, '3000000', { pending: true }),
    chargeWire(user, `${user}-b`, '2000000', { pending: true }),
  ]);
  expect(outcomes.map((outcome) => outcome.status)).toEqual(['accepted', 'accepted']);
  expect(await store.readAccount(user)).toMatchObject({ balanceMicroUsd: 5_000_000n, pendingMicroUsd: 5_000_000n });

  const [settled, failed] = await submit([settleWire(user, `${user}-a`, { reference: 'stripe-ch-1' }), failWire(user, `${user}-b`)]);
  expect([settled!.status, failed!.status]).toEqual(['accepted', 'accepted']);
  expect(await store.readAccount(user)).toMatchObject({ balanceMicroUsd: 7_000_000n, pendingMicroUsd: 0n, chargesMicroUsd: 3_000_000n });

  const late = await submit([settleWire(user, `${user}-b`), failWire(user, `${user}-a`), settleWire(user, `${user}-missing`)]);
  expect(late.map((outcome) => outcome.code)).toEqual(['CHARGE_NOT_PENDING', 'CHARGE_NOT_PENDING', 'CHARGE_NOT_FOUND']);
  // A replayed settle is a duplicate even though the charge is no longer pending.
  expect((await submit([settleWire(user, `${user}-a`, { reference: 'stripe-ch-1' })]))[0]!.status).toBe('duplicate');
  expect(await balanceOf(user)).toBe(7_000_000n);
});

test('a replayed charge after the balance drained is still a duplicate (idempotency before funds)', async () => {
  const user = uniqueName('drained');
  await submit([adjustWire(user, `${user}-seed`, '1000000'), chargeWire(user, `${user}-x`, '1000000')]);
  expect(await balanceOf(user)).toBe(0n);
  expect((await submit([chargeWire(user, `${user}-x`, '1000000')]))[0]!.status).toBe('duplicate');
});

test('a negative adjustment cannot overdraw; amounts near INT64 overflow are rejected, not wrapped', async () => {
  const user = uniqueName('adjust');
  await submit([adjustWire(user, `${user}-1`, '1000')]);
  expect((await submit([adjustWire(user, `${user}-2`, '-1001')]))[0]!.code).toBe('INSUFFICIENT_FUNDS');
  expect((await submit([adjustWire(user, `${user}-3`, '-1000')]))[0]!.status).toBe('accepted');
  const rich = uniqueName('rich');
  expect((await submit([adjustWire(rich, `${rich}-1`, '9223372036854775000')]))[0]!.status).toBe('accepted');
  expect((await submit([adjustWire(rich, `${rich}-2`, '808')]))[0]!.code).toBe('AMOUNT_OVERFLOW');
  expect(await balanceOf(rich)).toBe(9_223_372_036_854_775_000n);
});

test('group commit: one batch mixes every outcome and each command keeps its own', async () => {
  const user = uniqueName('mixed');
  const outcomes = await handler.handleTexts([
    JSON.stringify(depositWire(user, 1, '1000000')),
    '{"type":"deposit"',
    JSON.stringify(chargeWire(user, `${user}-big`, '99000000')),
    JSON.stringify(depositWire(user, 1, '1000000')),
    JSON.stringify(chargeWire(user, `${user}-ok`, '1100000')),
  ]);
  expect(outcomes.map((outcome) => outcome.status)).toEqual(['accepted', 'invalid', 'rejected', 'duplicate', 'accepted']);
  expect(await balanceOf(user)).toBe(0n);
});
