import fc from 'fast-check';
import { Command } from '../../ledger/core/commands';
import { bonusFor, possibleEventIds, primaryEventId, REJECTION_CODES, RejectionCode } from '../../ledger/core/decide';
import { NewEvent } from '../../ledger/core/events';
import { eventIds, EVENT_ID_PATTERN } from '../../ledger/core/ids';
import { LIMITS } from '../../ledger/core/limits';
import { INT64_MAX } from '../../ledger/core/money';
import { adjustCommand, chargeCommand, depositCommand, failCommand, openInvoiceCommand, settleCommand, txHash, voidInvoiceCommand } from './support/fixtures';
import { after, decided, funded, Given, given, history } from './support/given';

const U = 'user-1';

describe('deposit', () => {
  it('credits the amount and grants a bonus of amount × rate / 10000 in the same decision (1000 bps)', () => {
    const command = depositCommand({ amountMicroUsd: '5000000' });
    const depositId = eventIds.deposit('1', command.txHash, '0');
    given()
      .withBonusRate(1000)
      .when(command)
      .then({
        accepted: [
          {
            type: 'TokenDeposited',
            eventId: depositId,
            payload: { userId: U, amountMicroUsd: '5000000', txHash: command.txHash, wallet: command.wallet, source: 'ethereum' },
          },
          {
            type: 'DepositBonusGranted',
            eventId: eventIds.bonus(depositId),
            payload: { userId: U, depositEventId: depositId, rateBps: 1000, amountMicroUsd: '500000', occurredAt: command.occurredAt },
          },
        ],
        account: { balanceMicroUsd: 5_500_000n, depositsMicroUsd: 5_000_000n, bonusesMicroUsd: 500_000n, version: 2 },
      });
  });

  it('with rate 0 there is no bonus event', () => {
    given()
      .withBonusRate(0)
      .when(depositCommand())
      .then({ accepted: [{ type: 'TokenDeposited' }], account: { balanceMicroUsd: 5_000_000n, bonusesMicroUsd: 0n, version: 1 } });
  });

  it.each([
    // amount, rate, bonus (floor of the exact product)
    [999n, 1000, 99n], // 99.9
    [12_345n, 333, 411n], // 411.0885
    [19_999n, 5, 9n], // 9.9995
    [10_000n, 1, 1n], // exactly 1
    [1n, 9999, 0n], // 0.9999 → no bonus event
    [9n, 1000, 0n], // 0.9 → no bonus event
  ])('bonus is floored: %p µUSD at %p bps → %p µUSD', (amount, rateBps, bonus) => {
    // Independent check of the expected value: floor(amount × rate / 10000).
    expect(bonus).toBe(BigInt(Math.floor((Number(amount) * rateBps) / 10_000)));
    const decision = given()
      .withBonusRate(rateBps)
      .when(depositCommand({ amountMicroUsd: amount.toString() }))
      .then(
        bonus > 0n
          ? { accepted: [{ type: 'TokenDeposited' }, { type: 'DepositBonusGranted', payload: { amountMicroUsd: bonus.toString(), rateBps } }] }
          : { accepted: [{ type: 'TokenDeposited' }] },
      );
    expect(decision.outcome).toBe('accepted');
  });

  it('bonusFor never rounds up and is exact for huge amounts', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: INT64_MAX }), fc.integer({ min: 0, max: 10_000 }), (amount, rate) => {
        const bonus = bonusFor(amount, rate);
        return bonus * 10_000n <= amount * BigInt(rate) && (bonus + 1n) * 10_000n > amount * BigInt(rate);
      }),
    );
  });

  describe('replays', () => {
    const original = depositCommand({ amountMicroUsd: '5000000', logIndex: '3', occurredAt: '2026-01-02T03:04:05Z' });
    const depositId = primaryEventId(original);
    const stored = given(history([original], 1000));

    it.each([
      ['identical', {}],
      ['amount and logIndex as JSON numbers', { amountMicroUsd: 5000000, logIndex: 3 }],
      ['+00:00 instead of Z', { occurredAt: '2026-01-02T03:04:05+00:00' }],
      ['explicit zero fraction and an offset', { occurredAt: '2026-01-02T04:04:05.000+01:00' }],
      ['upper-case hex', { txHash: original.txHash.toUpperCase().replace('0X', '0x'), wallet: original.wallet.toUpperCase() }],
    ])('same content (%s) → duplicate returning both event IDs', (_name, variant) => {
      const replay = depositCommand({ amountMicroUsd: '5000000', logIndex: '3', occurredAt: '2026-01-02T03:04:05Z', ...variant });
      stored.withBonusRate(1000).when(replay).then({ duplicate: [depositId, eventIds.bonus(depositId)] });
    });

    it.each([0, 500, 2000])('a replay under a different rate (%p bps) is still a duplicate and grants nothing', (rate) => {
      stored.withBonusRate(rate).when(original).then({ duplicate: [depositId, eventIds.bonus(depositId)] });
    });

    it('a deposit first made at rate 0 replayed at 1000 bps is a duplicate of the single event, with no late bonus', () => {
      given(history([original], 0)).withBonusRate(1000).when(original).then({ duplicate: [depositId] });
    });

    it.each([
      ['amountMicroUsd', { amountMicroUsd: '5000001' }],
      ['userId', { userId: 'user-2' }],
      ['wallet', { wallet: `0x${'ee'.repeat(20)}` }],
      ['occurredAt', { occurredAt: '2026-01-02T03:04:06Z' }],
      ['blockNumber', { blockNumber: '1' }],
      ['source', { source: 'zksync' }],
    ])('same natural key with a different %s → IDEMPOTENCY_CONFLICT naming it', (field, change) => {
      const decision = stored
        .withBonusRate(1000)
        .when(depositCommand({ amountMicroUsd: '5000000', logIndex: '3', occurredAt: '2026-01-02T03:04:05Z', ...change }))
        .then({ rejected: 'IDEMPOTENCY_CONFLICT', message: new RegExp(`\\b${field}\\b`) });
      // Only the field that differs is named.
      const others = ['amountMicroUsd', 'userId', 'wallet', 'occurredAt', 'blockNumber', 'source', 'tokenValue'].filter((name) => name !== field);
      for (const other of others) expect(decision.outcome === 'rejected' && decision.message).not.toMatch(new RegExp(`\\b${other}\\b`));
    });

    it('names every differing field', () => {
      stored
        .when(depositCommand({ amountMicroUsd: '1', logIndex: '3', occurredAt: '2026-01-02T03:04:05Z', userId: 'user-9' }))
        .then({ rejected: 'IDEMPOTENCY_CONFLICT', message: /amountMicroUsd.*userId/ });
    });
  });
});

describe('one row per rejection code', () => {
  const rows: Array<{ code: RejectionCode; given: Given; when: Command; message: RegExp }> = [
    { code: 'INSUFFICIENT_FUNDS', given: given(funded(U, 100n)), when: chargeCommand({ amountMicroUsd: '101' }), message: /100/ },
    {
      code: 'IDEMPOTENCY_CONFLICT',
      given: given(funded(U, 1_000n), history([adjustCommand({ amountMicroUsd: '5', idempotencyKey: 'k' })])),
      when: adjustCommand({ amountMicroUsd: '6', idempotencyKey: 'k' }),
      message: /amountMicroUsd/,
    },
    { code: 'CHARGE_NOT_FOUND', given: given(), when: settleCommand({ invoiceId: 'nope' }), message: /nope/ },
    {
      code: 'CHARGE_NOT_PENDING',
      given: withDecided(given(funded(U, 1_000n), pendingCharge(U, 'inv-p', 100n)), failCommand({ invoiceId: 'inv-p' })),
      when: settleCommand({ invoiceId: 'inv-p' }),
      message: /failed/,
    },
    { code: 'AMOUNT_OVERFLOW', given: given(funded(U, INT64_MAX)), when: depositCommand({ amountMicroUsd: '1' }), message: /64-bit/ },
    {
      code: 'INVOICE_EXISTS',
      given: given(history([adjustCommand({ amountMicroUsd: '100', idempotencyKey: 'seed-exists' }), chargeCommand({ invoiceId: 'shared', amountMicroUsd: '1' })])),
      when: openInvoiceCommand({ invoiceId: 'shared' }),
      message: /charged with charge/,
    },
    { code: 'INVOICE_NOT_FOUND', given: given(), when: voidInvoiceCommand({ invoiceId: 'nope' }), message: /no invoice nope of user user-1/ },
    {
      code: 'INVOICE_NOT_OPEN',
      given: given(history([adjustCommand({ amountMicroUsd: '50000000', idempotencyKey: 'seed-paid' }), openInvoiceCommand({ amountMicroUsd: '1000000' })])),
      when: voidInvoiceCommand(),
      message: /is paid, not open/,
    },
    {
      code: 'OCCURRED_BEFORE_CAUSE',
      given: given(funded(U, 1_000n), pendingCharge(U, 'inv-early', 100n)),
      when: settleCommand({ invoiceId: 'inv-early', occurredAt: '2026-01-02T03:04:04.999999Z' }),
      message: /settleCharge of invoice inv-early occurred at 2026-01-02T03:04:04.999999Z, before its charge \(2026-01-02T03:04:05.000000Z\)/,
    },
    {
      code: 'TOO_MANY_OPEN_INVOICES',
      given: given(history(Array.from({ length: LIMITS.openInvoicesPerUserMax }, (_, n) => openInvoiceCommand({ invoiceId: `many-${n}`, amountMicroUsd: '5' })))),
      when: openInvoiceCommand({ invoiceId: 'one-more' }),
      message: /100 open invoices/,
    },
  ];

  it('covers every code', () => {
    expect(rows.map((row) => row.code).sort()).toEqual([...REJECTION_CODES].sort());
  });

  it.each(rows.map((row) => [row.code, row] as const))('%s', (code, row) => {
    row.given.when(row.when).then({ rejected: code, message: row.message });
  });
});

describe('charge', () => {
  it('a full charge within the balance is accepted and debits the whole amount', () => {
    given(funded(U, 3_000_000n))
      .when(chargeCommand({ amountMicroUsd: '1000000' }))
      .then({
        accepted: [
          {
            type: 'InvoiceCharged',
            eventId: eventIds.charge('inv-1'),
            payload: { invoiceId: 'inv-1', amountMicroUsd: '1000000', chargedMicroUsd: '1000000', status: 'complete', allowPartial: false, pending: false },
          },
        ],
        account: { balanceMicroUsd: 2_000_000n, chargesMicroUsd: 1_000_000n, pendingMicroUsd: 0n },
      });
  });

  it('a full charge of exactly the balance leaves zero', () => {
    given(funded(U, 1_234_567n))
      .when(chargeCommand({ amountMicroUsd: '1234567' }))
      .then({ accepted: [{ type: 'InvoiceCharged' }], account: { balanceMicroUsd: 0n } });
  });

  it('a full charge above the balance is INSUFFICIENT_FUNDS, even by one µUSD', () => {
    given(funded(U, 1_000_000n)).when(chargeCommand({ amountMicroUsd: '1000001' })).then({ rejected: 'INSUFFICIENT_FUNDS' });
    given().when(chargeCommand({ amountMicroUsd: '1' })).then({ rejected: 'INSUFFICIENT_FUNDS' });
  });

  it('a partial charge takes the balance rounded down to whole cents (1,234,567 of 5,000,000 → 1,230,000)', () => {
    given(funded(U, 1_234_567n))
      .when(chargeCommand({ amountMicroUsd: '5000000', allowPartial: true }))
      .then({
        accepted: [{ type: 'InvoiceCharged', payload: { amountMicroUsd: '5000000', chargedMicroUsd: '1230000', allowPartial: true, status: 'complete' } }],
        account: { balanceMicroUsd: 4_567n, chargesMicroUsd: 1_230_000n },
      });
  });

  it('a partial charge the balance covers takes the full amount', () => {
    given(funded(U, 5_000_000n))
      .when(chargeCommand({ amountMicroUsd: '1234567', allowPartial: true }))
      .then({ accepted: [{ type: 'InvoiceCharged', payload: { chargedMicroUsd: '1234567' } }], account: { balanceMicroUsd: 3_765_433n } });
  });

  it.each([0n, 1n, 9_999n])('a partial charge with less than one cent (%p µUSD) available is INSUFFICIENT_FUNDS', (balance) => {
    given(balance > 0n ? [funded(U, balance)] : [])
      .when(chargeCommand({ amountMicroUsd: '5000000', allowPartial: true }))
      .then({ rejected: 'INSUFFICIENT_FUNDS', message: /cent/ });
  });

  it('a partial charge with exactly one cent available takes that cent', () => {
    given(funded(U, 10_000n))
      .when(chargeCommand({ amountMicroUsd: '5000000', allowPartial: true }))
      .then({ accepted: [{ type: 'InvoiceCharged', payload: { chargedMicroUsd: '10000' } }], account: { balanceMicroUsd: 0n } });
  });

  it('partial charges never overdraw, never take more than asked, and only take fractions of a cent when charging in full', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.bigInt({ min: 1n, max: 10n ** 12n }), (balance, amount) => {
        const decision = given(balance > 0n ? [funded(U, balance)] : [])
          .when(chargeCommand({ amountMicroUsd: amount.toString(), allowPartial: true }))
          .decision;
        const floored = balance - (balance % 10_000n);
        if (decision.outcome === 'rejected') {
          expect(decision.code).toBe('INSUFFICIENT_FUNDS');
          expect(amount > balance && floored === 0n).toBe(true);
          return;
        }
        if (decision.outcome !== 'accepted') throw new Error(`unexpected ${decision.outcome}`);
        const charged = BigInt((decision.events[0]!.payload as { chargedMicroUsd: string }).chargedMicroUsd);
        expect(charged <= balance && charged <= amount && charged > 0n).toBe(true);
        expect(charged === amount || charged === floored).toBe(true);
      }),
    );
  });

  it('a pending charge takes the amount off the available balance at once', () => {
    const state = given(funded(U, 10_000_000n));
    state
      .when(chargeCommand({ amountMicroUsd: '4000000', pending: true }))
      .then({
        accepted: [{ type: 'InvoiceCharged', payload: { status: 'pending', chargedMicroUsd: '4000000', pending: true } }],
        account: { balanceMicroUsd: 6_000_000n, pendingMicroUsd: 4_000_000n, chargesMicroUsd: 0n },
      });
    // The money held by the pending charge is not available to the next charge.
    const held = given(funded(U, 10_000_000n), pendingCharge(U, 'inv-1', 4_000_000n));
    held.when(chargeCommand({ invoiceId: 'inv-2', amountMicroUsd: '6000001' })).then({ rejected: 'INSUFFICIENT_FUNDS' });
    held.when(chargeCommand({ invoiceId: 'inv-2', amountMicroUsd: '6000000' })).then({ accepted: [{ type: 'InvoiceCharged' }], account: { balanceMicroUsd: 0n } });
  });

  it('a replay of a charge after the balance drained is a duplicate (idempotency before state)', () => {
    const first = chargeCommand({ amountMicroUsd: '1000000' });
    const state = withDecided(given(funded(U, 1_000_000n)), first); // the charge took everything
    expect(state.account(U).balanceMicroUsd).toBe(0n);
    state.when(first).then({ duplicate: [eventIds.charge('inv-1')] });
    // A number-vs-string variant of the same charge is the same content.
    state.when(chargeCommand({ amountMicroUsd: 1000000 })).then({ duplicate: [eventIds.charge('inv-1')] });
  });

  it('a replay of a charge with a different amount is an IDEMPOTENCY_CONFLICT naming the amount', () => {
    const state = withDecided(given(funded(U, 10_000_000n)), chargeCommand());
    state.when(chargeCommand({ amountMicroUsd: '2000000' })).then({ rejected: 'IDEMPOTENCY_CONFLICT', message: /amountMicroUsd/ });
    state.when(chargeCommand({ pending: true })).then({ rejected: 'IDEMPOTENCY_CONFLICT', message: /pending/ });
  });
});

describe('settle and fail', () => {
  const base = () => given(funded(U, 10_000_000n), pendingCharge(U, 'inv-1', 4_000_000n));

  it('settle turns a pending charge complete: pending moves to charges, balance unchanged', () => {
    base()
      .when(settleCommand({ reference: 'psp-42' }))
      .then({
        accepted: [
          {
            type: 'ChargeSettled',
            eventId: eventIds.settle('inv-1'),
            payload: { invoiceId: 'inv-1', userId: U, chargeEventId: eventIds.charge('inv-1'), amountMicroUsd: '4000000', reference: 'psp-42' },
          },
        ],
        account: { balanceMicroUsd: 6_000_000n, pendingMicroUsd: 0n, chargesMicroUsd: 4_000_000n },
      });
  });

  it('fail refunds a pending charge to the available balance', () => {
    base()
      .when(failCommand({ reason: 'card declined' }))
      .then({
        accepted: [{ type: 'ChargeFailed', eventId: eventIds.fail('inv-1'), payload: { refundedMicroUsd: '4000000', reason: 'card declined', userId: U } }],
        account: { balanceMicroUsd: 10_000_000n, pendingMicroUsd: 0n, chargesMicroUsd: 0n },
      });
  });

  it('settle after fail → CHARGE_NOT_PENDING', () => {
    const failed = withDecided(base(), failCommand());
    expect(failed.charge('inv-1')?.status).toBe('failed');
    failed.when(settleCommand()).then({ rejected: 'CHARGE_NOT_PENDING', message: /failed/ });
  });

  it('fail after settle → CHARGE_NOT_PENDING (no refund of settled money)', () => {
    const settled = withDecided(base(), settleCommand());
    settled.when(failCommand()).then({ rejected: 'CHARGE_NOT_PENDING', message: /complete/ });
  });

  it('settle of a charge that was never pending → CHARGE_NOT_PENDING', () => {
    withDecided(given(funded(U, 10_000_000n)), chargeCommand())
      .when(settleCommand())
      .then({ rejected: 'CHARGE_NOT_PENDING' });
  });

  it('settle or fail of an unknown invoice → CHARGE_NOT_FOUND', () => {
    base().when(settleCommand({ invoiceId: 'inv-unknown' })).then({ rejected: 'CHARGE_NOT_FOUND', message: /inv-unknown/ });
    base().when(failCommand({ invoiceId: 'inv-unknown' })).then({ rejected: 'CHARGE_NOT_FOUND' });
  });

  it('settle or fail naming another user than the charge\'s → CHARGE_NOT_FOUND, nothing said about the other user', () => {
    base().when(settleCommand({ userId: 'user-2' })).then({ rejected: 'CHARGE_NOT_FOUND', message: /inv-1 of user user-2/ });
    base().when(failCommand({ userId: 'user-2' })).then({ rejected: 'CHARGE_NOT_FOUND' });
  });

  it('a replayed settle naming another user is a conflict on userId, not a duplicate', () => {
    withDecided(base(), settleCommand()).when(settleCommand({ userId: 'user-2' })).then({ rejected: 'IDEMPOTENCY_CONFLICT', message: /userId/ });
  });

  it('a replayed settle is a duplicate although the charge is no longer pending', () => {
    const settled = withDecided(base(), settleCommand({ reference: 'r' }));
    settled.when(settleCommand({ reference: 'r' })).then({ duplicate: [eventIds.settle('inv-1')] });
    settled.when(settleCommand({ reference: 'other' })).then({ rejected: 'IDEMPOTENCY_CONFLICT', message: /reference/ });
  });

  it('a replayed fail is a duplicate and refunds nothing twice', () => {
    const failed = withDecided(base(), failCommand());
    failed.when(failCommand()).then({ duplicate: [eventIds.fail('inv-1')] });
    expect(failed.account(U).balanceMicroUsd).toBe(10_000_000n);
  });
});

describe('adjust', () => {
  it('a positive adjustment credits', () => {
    given().when(adjustCommand({ amountMicroUsd: '250' })).then({ accepted: [{ type: 'BalanceAdjusted' }], account: { balanceMicroUsd: 250n, adjustmentsMicroUsd: 250n } });
  });

  it('a negative adjustment may take the balance to exactly zero', () => {
    given(funded(U, 100n))
      .when(adjustCommand({ amountMicroUsd: '-100' }))
      .then({ accepted: [{ type: 'BalanceAdjusted', payload: { amountMicroUsd: '-100' } }], account: { balanceMicroUsd: 0n } });
  });

  it('a negative adjustment cannot overdraw', () => {
    given(funded(U, 100n)).when(adjustCommand({ amountMicroUsd: '-101' })).then({ rejected: 'INSUFFICIENT_FUNDS' });
    given().when(adjustCommand({ amountMicroUsd: '-1' })).then({ rejected: 'INSUFFICIENT_FUNDS' });
  });

  it('money held by a pending charge cannot be adjusted away', () => {
    given(funded(U, 1_000n), pendingCharge(U, 'inv-1', 600n)).when(adjustCommand({ amountMicroUsd: '-401' })).then({ rejected: 'INSUFFICIENT_FUNDS' });
  });
});

describe('overflow', () => {
  it('a deposit that would take the balance past INT64 max → AMOUNT_OVERFLOW', () => {
    given(funded(U, INT64_MAX - 5n)).when(depositCommand({ amountMicroUsd: '6' })).then({ rejected: 'AMOUNT_OVERFLOW' });
  });

  it('a deposit that lands exactly on INT64 max is accepted', () => {
    given(funded(U, INT64_MAX - 5n))
      .when(depositCommand({ amountMicroUsd: '5' }))
      .then({ accepted: [{ type: 'TokenDeposited' }], account: { balanceMicroUsd: INT64_MAX } });
  });

  it('a deposit that fits but whose bonus does not → AMOUNT_OVERFLOW for the whole command (no deposit without its bonus)', () => {
    given(funded(U, INT64_MAX - 1_000_000n))
      .withBonusRate(1000)
      .when(depositCommand({ amountMicroUsd: '1000000' }))
      .then({ rejected: 'AMOUNT_OVERFLOW' });
  });

  it('an unaffordable command is INSUFFICIENT_FUNDS even when a running total would also overflow', () => {
    // Adjustments total -5 + (-INT64_MAX) leaves INT64, but the balance check comes first.
    given(funded(U, 100n))
      .when(adjustCommand({ idempotencyKey: 'adj-a', amountMicroUsd: '-5' }))
      .then({ accepted: [{ type: 'BalanceAdjusted' }] });
    const state = withDecided(given(funded(U, 100n)), adjustCommand({ idempotencyKey: 'adj-a', amountMicroUsd: '-5' }));
    state.when(adjustCommand({ idempotencyKey: 'adj-b', amountMicroUsd: `-${INT64_MAX}` })).then({ rejected: 'INSUFFICIENT_FUNDS' });
  });

  it('a positive adjustment past INT64 max → AMOUNT_OVERFLOW', () => {
    given(funded(U, INT64_MAX)).when(adjustCommand({ amountMicroUsd: '1' })).then({ rejected: 'AMOUNT_OVERFLOW' });
  });

  it('the deposits total overflowing is caught even when the balance would fit', () => {
    // Deposits total at INT64 max, balance brought down by a charge: the next deposit fits the balance but not the total.
    const state = withDecided(given(deposited(U, INT64_MAX, 1)), chargeCommand({ amountMicroUsd: '1000' }));
    expect(state.account(U).balanceMicroUsd).toBe(INT64_MAX - 1000n);
    state.when(depositCommand({ txHash: txHash(2), amountMicroUsd: '1' })).then({ rejected: 'AMOUNT_OVERFLOW' });
  });
});

describe('deterministic event IDs', () => {
  it('the same natural key gives the same ID, whatever else the command says', () => {
    const a = depositCommand({ amountMicroUsd: '1' });
    const b = depositCommand({ amountMicroUsd: '2', userId: 'other', occurredAt: '2030-01-01T00:00:00Z' });
    expect(primaryEventId(a)).toBe(primaryEventId(b));
    expect(primaryEventId(a)).toBe(eventIds.deposit('1', a.txHash, '0'));
  });

  it('the ID does not depend on how the key was written (number vs string, hex case)', () => {
    expect(primaryEventId(depositCommand({ logIndex: 4, chainId: 1 }))).toBe(primaryEventId(depositCommand({ logIndex: '4', chainId: '1' })));
    expect(primaryEventId(depositCommand({ txHash: txHash(255).toUpperCase().replace('0X', '0x') }))).toBe(primaryEventId(depositCommand({ txHash: txHash(255) })));
  });

  it.each([
    ['logIndex', { logIndex: '1' }],
    ['txHash', { txHash: txHash(1) }],
    ['chainId', { chainId: '324' }],
  ])('a different %s gives a different ID', (_name, change) => {
    expect(primaryEventId(depositCommand(change))).not.toBe(primaryEventId(depositCommand()));
  });

  it('IDs are 32 lower-case hex digits, and differ per role for the same key', () => {
    const ids = [depositCommand(), chargeCommand(), settleCommand(), failCommand(), adjustCommand()].flatMap(possibleEventIds);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(EVENT_ID_PATTERN.test(ids[0]!)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // Same string in the key, different roles.
    expect(eventIds.charge('k')).not.toBe(eventIds.adjust('k'));
    expect(eventIds.settle('k')).not.toBe(eventIds.fail('k'));
  });

  it('no separator trick makes two keys collide', () => {
    expect(eventIds.deposit('1', '2|3', '4')).not.toBe(eventIds.deposit('1|2', '3', '4'));
    expect(eventIds.deposit('1', '23', '4')).not.toBe(eventIds.deposit('12', '3', '4'));
  });

  it('accepted events carry exactly the IDs possibleEventIds announces', () => {
    const command = depositCommand();
    const decision = given().withBonusRate(1000).when(command).decision;
    expect(decision.outcome === 'accepted' && decision.events.map((event) => event.eventId)).toEqual(possibleEventIds(command));
  });
});

/** The state after a command was decided and its events folded in. */
function withDecided(state: Given, command: Command): Given {
  return given(state.events, decided(state, command));
}

/** A pending charge of `amount`, as the decider writes it (user must be able to afford it). */
function pendingCharge(userId: string, invoiceId: string, amount: bigint): NewEvent {
  const command = chargeCommand({ userId, invoiceId, amountMicroUsd: amount.toString(), pending: true });
  return decided(given(funded(userId, amount)), command)[0]!;
}

/** A deposit event for `amount` (decided at rate 0 on an empty account). */
function deposited(userId: string, amount: bigint, n: number): NewEvent {
  return decided(given(), depositCommand({ userId, amountMicroUsd: amount.toString(), txHash: txHash(n) }))[0]!;
}

const payments = (decision: ReturnType<Given['when']>['decision']) =>
  decision.outcome === 'accepted' ? decision.events.flatMap((event) => (event.type === 'InvoicePaymentMade' ? [[event.payload.invoiceId, event.payload.amountMicroUsd, event.payload.remainingMicroUsd]] : [])) : [];

describe('invoices paid from the token balance', () => {
  const deposit = (amount: string, n: number) => depositCommand({ amountMicroUsd: amount, txHash: txHash(900 + n), logIndex: '0' });

  it('Storj PayInvoice (no bonus): a $30 invoice is paid $20, then the last $10 on the next deposit', () => {
    let state = after(given(), openInvoiceCommand({ invoiceId: 'in-30', amountMicroUsd: '30000000' }));
    expect(state.account(U)).toMatchObject({ openInvoicesMicroUsd: 30_000_000n, openInvoiceCount: 1 });
    const first = state.when(deposit('20000000', 1)).then({
      accepted: [{ type: 'TokenDeposited' }, { type: 'InvoicePaymentMade', eventId: eventIds.invoicePayment('in-30', 1), payload: { paymentNumber: 1, causationEventId: primaryEventId(deposit('20000000', 1)) } }],
      account: { balanceMicroUsd: 0n, chargesMicroUsd: 20_000_000n, openInvoicesMicroUsd: 10_000_000n, openInvoiceCount: 1 },
    });
    expect(payments(first)).toEqual([['in-30', '20000000', '10000000']]);
    state = after(state, deposit('20000000', 1));
    const second = state.when(deposit('10000000', 2)).then({ accepted: [{ type: 'TokenDeposited' }, { type: 'InvoicePaymentMade', eventId: eventIds.invoicePayment('in-30', 2) }], account: { balanceMicroUsd: 0n, openInvoicesMicroUsd: 0n, openInvoiceCount: 0 } });
    expect(payments(second)).toEqual([['in-30', '10000000', '0']]);
    expect(after(state, deposit('10000000', 2)).invoice(U, 'in-30')).toMatchObject({ status: 'paid', paidMicroUsd: 30_000_000n, paymentCount: 2 });
  });

  it('Storj PayInvoice with the 10 % bonus: $20 + $2 pays $22, then $10 + $1 pays the last $8 and leaves $3', () => {
    let state = after(given().withBonusRate(1000), openInvoiceCommand({ invoiceId: 'in-30', amountMicroUsd: '30000000' }));
    expect(payments(state.when(deposit('20000000', 1)).decision)).toEqual([['in-30', '22000000', '8000000']]);
    state = after(state, deposit('20000000', 1));
    const second = state.when(deposit('10000000', 2)).then({ accepted: [{ type: 'TokenDeposited' }, { type: 'DepositBonusGranted' }, { type: 'InvoicePaymentMade' }], account: { balanceMicroUsd: 3_000_000n } });
    expect(payments(second)).toEqual([['in-30', '8000000', '0']]);
  });

  it('an invoice opened with money available is paid at once', () => {
    given(funded(U, 10_000_000n)).when(openInvoiceCommand({ amountMicroUsd: '8000000' })).then({
      accepted: [{ type: 'InvoiceOpened' }, { type: 'InvoicePaymentMade', payload: { amountMicroUsd: '8000000', remainingMicroUsd: '0' } }],
      account: { balanceMicroUsd: 2_000_000n, openInvoicesMicroUsd: 0n, openInvoiceCount: 0, chargesMicroUsd: 8_000_000n },
    });
  });

  it('payments are whole cents; the dust stays in the balance; an amount due in sub-cents is paid exactly', () => {
    expect(payments(given(funded(U, 1_234_567n)).when(openInvoiceCommand({ amountMicroUsd: '5000000' })).decision)).toEqual([['in-1', '1230000', '3770000']]);
    expect(payments(given(funded(U, 1_234_567n)).when(openInvoiceCommand({ amountMicroUsd: '1000001' })).decision)).toEqual([['in-1', '1000001', '0']]);
    given(funded(U, 9_999n)).when(openInvoiceCommand({ amountMicroUsd: '5000000' })).then({ accepted: [{ type: 'InvoiceOpened' }], account: { balanceMicroUsd: 9_999n } });
  });

  it('oldest first, by opened-at and then invoice ID; $3 pays a $1.50 invoice and $1.50 of a $2.00 one (Storj)', () => {
    const state = [
      openInvoiceCommand({ invoiceId: 'b-second', amountMicroUsd: '2000000', occurredAt: '2026-01-02T00:00:00Z' }),
      openInvoiceCommand({ invoiceId: 'z-first', amountMicroUsd: '1500000', occurredAt: '2026-01-01T00:00:00Z' }),
      openInvoiceCommand({ invoiceId: 'a-later', amountMicroUsd: '700000', occurredAt: '2026-01-02T00:00:00Z' }),
    ].reduce(after, given());
    expect(payments(state.when(deposit('3000000', 1)).decision)).toEqual([
      ['z-first', '1500000', '0'],
      ['a-later', '700000', '0'],
      ['b-second', '800000', '1200000'],
    ]);
  });

  it('invoice IDs tie in UTF-8 byte order, as the index the shell reads them from', () => {
    const opened = '2026-01-01T00:00:00Z';
    const state = [openInvoiceCommand({ invoiceId: '😀', amountMicroUsd: '1000000', occurredAt: opened }), openInvoiceCommand({ invoiceId: 'ｚ', amountMicroUsd: '1000000', occurredAt: opened })].reduce(after, given());
    expect(payments(state.when(deposit('1000000', 1)).decision)).toEqual([['ｚ', '1000000', '0']]);
  });

  it('a void refunds what was paid, and the refund pays the next open invoice', () => {
    let state = [openInvoiceCommand({ invoiceId: 'older', amountMicroUsd: '4000000', occurredAt: '2026-01-01T00:00:00Z' }), openInvoiceCommand({ invoiceId: 'newer', amountMicroUsd: '4000000', occurredAt: '2026-01-02T00:00:00Z' })].reduce(after, given());
    state = after(state, deposit('3000000', 1));
    expect(state.invoice(U, 'older')).toMatchObject({ paidMicroUsd: 3_000_000n, status: 'open' });
    const voided = state.when(voidInvoiceCommand({ invoiceId: 'older' })).then({
      accepted: [{ type: 'InvoiceVoided', payload: { refundedMicroUsd: '3000000', forgivenMicroUsd: '1000000' } }, { type: 'InvoicePaymentMade', payload: { invoiceId: 'newer', amountMicroUsd: '3000000' } }],
      account: { balanceMicroUsd: 0n, chargesMicroUsd: 3_000_000n, openInvoicesMicroUsd: 1_000_000n, openInvoiceCount: 1 },
    });
    expect(voided.outcome).toBe('accepted');
  });

  it('a failed charge\'s refund pays open invoices too', () => {
    const state = after(given(funded(U, 2_000_000n), pendingCharge(U, 'card', 2_000_000n)), openInvoiceCommand({ amountMicroUsd: '1500000' }));
    expect(payments(state.when(failCommand({ invoiceId: 'card' })).decision)).toEqual([['in-1', '1500000', '0']]);
  });

  it('a void of another user\'s invoice is INVOICE_NOT_FOUND; of a void one, INVOICE_NOT_OPEN', () => {
    const state = after(given(), openInvoiceCommand());
    state.when(voidInvoiceCommand({ userId: 'user-2' })).then({ rejected: 'INVOICE_NOT_FOUND' });
    after(state, voidInvoiceCommand()).when(voidInvoiceCommand({ occurredAt: '2026-05-01T00:00:00Z' })).then({ rejected: 'IDEMPOTENCY_CONFLICT' });
    after(state, voidInvoiceCommand()).when(voidInvoiceCommand({ invoiceId: 'in-1' })).then({ duplicate: [eventIds.void('in-1')] });
  });

  it('a charge reusing an invoice\'s ID is INVOICE_EXISTS, and so is an invoice reusing a charge\'s', () => {
    after(given(funded(U, 10n)), openInvoiceCommand({ invoiceId: 'x' })).when(chargeCommand({ invoiceId: 'x', amountMicroUsd: '1' })).then({ rejected: 'INVOICE_EXISTS', message: /opened with openInvoice/ });
  });

  it('a replayed deposit is a duplicate that lists the payments it made, and pays nothing again', () => {
    const state = after(given(), openInvoiceCommand({ amountMicroUsd: '30000000' }));
    const original = decided(state, deposit('20000000', 1));
    const replay = new Given([...state.events, ...original, ...decided(given(), openInvoiceCommand({ userId: 'other', invoiceId: 'other-1' }))], 0);
    replay.when(deposit('20000000', 1)).then({ duplicate: original.map((event) => event.eventId) });
  });
});

describe('balance thresholds (edge-triggered)', () => {
  const TEN = 10_000_000n;
  const deposit = (amount: string, n: number) => depositCommand({ amountMicroUsd: amount, txHash: txHash(950 + n), logIndex: '0' });

  it('Storj UpgradeUser: $2 crosses nothing, $8 more reaches exactly $10 and crosses up once', () => {
    let state = given().withThresholds(TEN);
    state.when(deposit('2000000', 1)).then({ accepted: [{ type: 'TokenDeposited' }] });
    state = after(state, deposit('2000000', 1));
    state.when(deposit('8000000', 2)).then({
      accepted: [{ type: 'TokenDeposited' }, { type: 'BalanceThresholdCrossed', payload: { thresholdMicroUsd: '10000000', direction: 'up', balanceMicroUsd: '10000000' } }],
    });
    state = after(state, deposit('8000000', 2));
    // Still above: no event, however often the condition holds.
    state.when(deposit('5000000', 3)).then({ accepted: [{ type: 'TokenDeposited' }] });
  });

  it('with the 10 % bonus, $9.10 + $0.91 = $10.01 crosses; the bonus counts', () => {
    given().withBonusRate(1000).withThresholds(TEN).when(deposit('9100000', 1)).then({ accepted: [{ type: 'TokenDeposited' }, { type: 'DepositBonusGranted' }, { type: 'BalanceThresholdCrossed', payload: { balanceMicroUsd: '10010000' } }] });
  });

  it('down when the balance goes below again, by a charge or a payment', () => {
    const state = given(funded(U, 12_000_000n)).withThresholds(TEN);
    state.when(chargeCommand({ amountMicroUsd: '3000000' })).then({ accepted: [{ type: 'InvoiceCharged' }, { type: 'BalanceThresholdCrossed', payload: { direction: 'down', balanceMicroUsd: '9000000' } }] });
    state.when(openInvoiceCommand({ amountMicroUsd: '2000001' })).then({ accepted: [{ type: 'InvoiceOpened' }, { type: 'InvoicePaymentMade' }, { type: 'BalanceThresholdCrossed', payload: { direction: 'down' } }] });
  });

  it('before and after the whole command: a deposit an invoice takes straight back crosses nothing', () => {
    const state = after(given().withThresholds(TEN), openInvoiceCommand({ amountMicroUsd: '15000000' }));
    state.when(deposit('12000000', 1)).then({ accepted: [{ type: 'TokenDeposited' }, { type: 'InvoicePaymentMade' }] });
  });

  it('several thresholds crossed by one command: one event each, in threshold order, with deterministic IDs', () => {
    const command = deposit('30000000', 1);
    const decision = given().withThresholds(25_000_000n, TEN).when(command).then({ accepted: [{ type: 'TokenDeposited' }, { type: 'BalanceThresholdCrossed', payload: { thresholdMicroUsd: '10000000' } }, { type: 'BalanceThresholdCrossed', payload: { thresholdMicroUsd: '25000000' } }] });
    expect(decision.outcome === 'accepted' && decision.events[1]!.eventId).toBe(eventIds.threshold(primaryEventId(command), '10000000', 'up'));
  });
});
