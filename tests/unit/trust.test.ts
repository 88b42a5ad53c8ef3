import { createHash } from 'node:crypto';
import { eventIds, derivedEventId } from '../../ledger/core/ids';
import { NewEvent } from '../../ledger/core/events';
import { isCanonicalBusinessTime, parseBusinessTime, parseCommitTimestamp } from '../../ledger/core/time';
import { parseEventPayload } from '../../ledger/core/events';
import { adjustCommand, chargeCommand, depositCommand, failCommand, openInvoiceCommand, settleCommand, txHash, voidInvoiceCommand } from './support/fixtures';
import { after, decided, funded, given } from './support/given';

/**
 * The pure parts of the trust rules: business causality (a payment is never dated before
 * the invoice or the money, a settle, fail or void never before what it acts on), an event
 * ID bound to the natural key in its payload, exact times on both axes, and conflicts that
 * tell one user nothing of another's data.
 */
const U = 'user-1';
const MAR = (day: number, hour = 0) => `2026-03-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00.000000Z`;

const paymentTimes = (events: readonly NewEvent[]) => events.filter((event) => event.type === 'InvoicePaymentMade').map((event) => event.occurredAt);

describe('a payment the ledger makes is dated no earlier than the invoice and the money it draws on', () => {
  test('deposit $10 on March 10, then a $5 invoice dated March 1: paid on March 10, not March 1', () => {
    const state = after(given(), depositCommand({ amountMicroUsd: '10000000', occurredAt: MAR(10) }));
    const events = decided(state, openInvoiceCommand({ invoiceId: 'in-5', amountMicroUsd: '5000000', occurredAt: MAR(1) }));
    expect(paymentTimes(events)).toEqual([MAR(10)]);
    expect(events.find((event) => event.type === 'InvoicePaymentMade')!.payload.occurredAt).toBe(MAR(10));
  });

  test('an invoice opened March 10, paid by a deposit dated March 1: paid on March 10, never before it opened', () => {
    const state = after(given(), openInvoiceCommand({ invoiceId: 'in-30', amountMicroUsd: '30000000', occurredAt: MAR(10) }));
    expect(paymentTimes(decided(state, depositCommand({ amountMicroUsd: '10000000', occurredAt: MAR(1) })))).toEqual([MAR(10)]);
  });

  test('money that came in later than the command dates the payment at the latest credit', () => {
    let state = after(given(), depositCommand({ amountMicroUsd: '10000000', occurredAt: MAR(20), txHash: txHash(1) }));
    state = after(state, chargeCommand({ invoiceId: 'c-1', amountMicroUsd: '9000000', occurredAt: MAR(21) }));
    state = after(state, openInvoiceCommand({ invoiceId: 'in-2', amountMicroUsd: '2000000', occurredAt: MAR(2) }));
    // $1 was paid on March 20 (the money); a deposit dated March 5 pays the last $1 on March 20 too.
    expect(state.invoice(U, 'in-2')).toMatchObject({ paidMicroUsd: 1_000_000n });
    expect(paymentTimes(decided(state, depositCommand({ amountMicroUsd: '5000000', occurredAt: MAR(5), txHash: txHash(2) })))).toEqual([MAR(20)]);
  });

  test('a later command pays at its own time when the invoice and the money are older', () => {
    const state = after(after(given(), openInvoiceCommand({ invoiceId: 'in-1', amountMicroUsd: '1000000', occurredAt: MAR(1) })), adjustCommand({ amountMicroUsd: '100', occurredAt: MAR(2) }));
    expect(paymentTimes(decided(state, depositCommand({ amountMicroUsd: '5000000', occurredAt: MAR(3) })))).toEqual([MAR(3)]);
  });
});

describe('a settle, fail or void never precedes what it acts on (OCCURRED_BEFORE_CAUSE)', () => {
  const charged = after(given(funded(U, 10_000_000n)), chargeCommand({ invoiceId: 'c-1', amountMicroUsd: '1000000', pending: true, occurredAt: MAR(10) }));

  test.each([
    ['settleCharge', settleCommand],
    ['failCharge', failCommand],
  ] as const)('%s dated before its charge is rejected; at the same instant it is accepted', (type, build) => {
    charged.when(build({ invoiceId: 'c-1', occurredAt: MAR(9, 23) })).then({ rejected: 'OCCURRED_BEFORE_CAUSE', message: new RegExp(`${type} of invoice c-1 occurred at ${MAR(9, 23)}, before its charge`) });
    charged.when(build({ invoiceId: 'c-1', occurredAt: MAR(10) })).then({ accepted: [{ type: type === 'settleCharge' ? 'ChargeSettled' : 'ChargeFailed' }] });
  });

  test('the ownership and status checks come first: another user still gets CHARGE_NOT_FOUND', () => {
    charged.when(failCommand({ invoiceId: 'c-1', userId: 'user-2', occurredAt: MAR(1) })).then({ rejected: 'CHARGE_NOT_FOUND' });
  });

  test('a void dated before its invoice opened, or before its last payment, is rejected', () => {
    const opened = after(given(), openInvoiceCommand({ invoiceId: 'in-1', amountMicroUsd: '30000000', occurredAt: MAR(10) }));
    opened.when(voidInvoiceCommand({ invoiceId: 'in-1', occurredAt: MAR(9) })).then({ rejected: 'OCCURRED_BEFORE_CAUSE', message: /before the invoice's opening/ });
    const paid = after(opened, depositCommand({ amountMicroUsd: '10000000', occurredAt: MAR(20) }));
    expect(paid.invoice(U, 'in-1')).toMatchObject({ paymentCount: 1, status: 'open' });
    paid.when(voidInvoiceCommand({ invoiceId: 'in-1', occurredAt: MAR(15) })).then({ rejected: 'OCCURRED_BEFORE_CAUSE', message: new RegExp(`before its last payment \\(${MAR(20)}\\)`) });
    paid.when(voidInvoiceCommand({ invoiceId: 'in-1', occurredAt: MAR(20) })).then({ accepted: [{ type: 'InvoiceVoided', payload: { refundedMicroUsd: '10000000' } }] });
  });
});

describe('event IDs are bound to the natural key in the payload', () => {
  const sha = (parts: string[]) => createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);

  test('every event the decider writes has the ID its payload derives, computed here from the key itself', () => {
    let state = given().withBonusRate(1000).withThresholds(5_000_000n);
    const deposit = depositCommand({ amountMicroUsd: '10000000' });
    const events = [...decided(state, deposit)];
    state = given(events).withBonusRate(1000).withThresholds(5_000_000n);
    const depositId = sha(['deposit', '1', deposit.txHash, '0']);
    expect(events.map((event) => event.eventId)).toEqual([depositId, sha(['bonus', depositId]), sha(['threshold', depositId, '5000000', 'up'])]);
    for (const command of [
      chargeCommand({ invoiceId: 'c-1', pending: true }),
      settleCommand({ invoiceId: 'c-1', occurredAt: MAR(1) }),
      adjustCommand({ idempotencyKey: 'k-1', amountMicroUsd: '5' }),
      openInvoiceCommand({ invoiceId: 'in-1', amountMicroUsd: '1000000' }),
    ]) {
      const more = decided(state, command);
      events.push(...more);
      state = given(events).withBonusRate(1000).withThresholds(5_000_000n);
    }
    const byType = new Map(events.map((event) => [event.type, event.eventId]));
    expect(byType.get('InvoiceCharged')).toBe(sha(['charge', 'c-1']));
    expect(byType.get('ChargeSettled')).toBe(sha(['settle', 'c-1']));
    expect(byType.get('BalanceAdjusted')).toBe(sha(['adjust', 'k-1']));
    expect(byType.get('InvoiceOpened')).toBe(sha(['invoice', 'in-1']));
    expect(byType.get('InvoicePaymentMade')).toBe(sha(['invoice-payment', 'in-1', '1']));
    for (const event of events) expect(derivedEventId(event)).toBe(event.eventId);
  });

  test('a deposit whose bonus is stored without it is damaged history, not a new deposit', () => {
    const command = depositCommand();
    const [, bonus] = decided(given().withBonusRate(1000), command);
    expect(() => given(bonus!).withBonusRate(1000).when(command)).toThrow(/is damaged: its event .* is stored but .* is not; run `spanledger audit`/);
  });

  test('an event stored under another ID derives its own, not that one', () => {
    const [deposit] = decided(given(), depositCommand());
    const moved = { ...deposit!, eventId: eventIds.adjust('elsewhere') };
    expect(derivedEventId(moved)).not.toBe(moved.eventId);
    expect(derivedEventId(moved)).toBe(deposit!.eventId);
  });
});

describe('times are exact on both axes, and impossible dates are refused', () => {
  test('a commit timestamp keeps every digit whatever its offset', () => {
    expect(parseCommitTimestamp('2026-03-01T12:00:00.123456789+00:00')).toEqual({ ok: true, canonical: '2026-03-01T12:00:00.123456789Z' });
    expect(parseCommitTimestamp('2026-03-01T13:30:00.000000001+01:30')).toEqual({ ok: true, canonical: '2026-03-01T12:00:00.000000001Z' });
    expect(parseCommitTimestamp('2026-03-01T12:00:00Z')).toEqual({ ok: true, canonical: '2026-03-01T12:00:00.000000000Z' });
    expect(parseCommitTimestamp('0001-01-01T00:00:00.000000001Z')).toEqual({ ok: true, canonical: '0001-01-01T00:00:00.000000001Z' });
  });

  test.each(['2026-02-30T00:00:00Z', '2025-02-29T00:00:00Z', '2026-04-31T00:00:00+00:00', '2026-13-01T00:00:00Z', '2026-03-01T24:00:00Z', '2026-03-01T12:00:00.1234567891Z'])('%s is refused on both axes', (text) => {
    expect(parseCommitTimestamp(text).ok).toBe(false);
    expect(parseBusinessTime(text).ok).toBe(false);
  });

  test('2024-02-29 exists (a leap year)', () => {
    expect(parseCommitTimestamp('2024-02-29T00:00:00Z').ok).toBe(true);
  });

  test('a stored event whose business time does not exist does not parse', () => {
    const payload = { userId: U, amountMicroUsd: '5', reason: 'x', idempotencyKey: 'k', occurredAt: '2026-02-30T00:00:00.000000Z' };
    expect(() => parseEventPayload('BalanceAdjusted', 1, payload)).toThrow(/an instant that exists/);
    expect(() => parseEventPayload('BalanceAdjusted', 1, { ...payload, occurredAt: '2026-02-28T00:00:00.000000Z' })).not.toThrow();
  });
});

describe('a conflict tells one user nothing of another\'s data', () => {
  const owner = after(after(given(funded(U, 50_000_000n)), chargeCommand({ invoiceId: 'c-9', amountMicroUsd: '1000000', pending: true })), settleCommand({ invoiceId: 'c-9', reference: 'card-4242' }));

  test('a settle by another user of a settled invoice: the fields that differ, not the owner or the reference', () => {
    const decision = owner.when(settleCommand({ invoiceId: 'c-9', userId: 'user-2', reference: 'mine' })).then({ rejected: 'IDEMPOTENCY_CONFLICT', message: /different occurredAt|different reference|different userId/ });
    const message = decision.outcome === 'rejected' ? decision.message : '';
    expect(message).not.toContain(U);
    expect(message).not.toContain('card-4242');
    expect(message).toMatch(/reference/);
  });

  test('an openInvoice reusing another user\'s invoice ID: no amount, description or owner', () => {
    const opened = after(given(), openInvoiceCommand({ invoiceId: 'in-x', amountMicroUsd: '31415926', description: 'secret plan' }));
    const decision = opened.when(openInvoiceCommand({ invoiceId: 'in-x', userId: 'user-2', amountMicroUsd: '1' })).then({ rejected: 'IDEMPOTENCY_CONFLICT' });
    const message = decision.outcome === 'rejected' ? decision.message : '';
    for (const secret of [U, '31415926', 'secret plan']) expect(message).not.toContain(secret);
    expect(message).toMatch(/amountMicroUsd, description, userId/);
  });

  test('the same user still sees both values', () => {
    owner.when(settleCommand({ invoiceId: 'c-9', reference: 'other' })).then({ rejected: 'IDEMPOTENCY_CONFLICT', message: /reference \(stored "card-4242", got "other"\)/ });
  });
});

describe('a canonical business time is checked without Date', () => {
  test('it agrees with the full parser on every day of four centuries\' Februaries and on edge shapes', () => {
    const texts: string[] = [];
    for (const year of [1, 4, 100, 400, 1900, 2000, 2023, 2024, 2100, 9999]) {
      for (const [month, last] of [[2, 31], [4, 31], [12, 32]] as const) {
        for (let day = 27; day <= last; day++) texts.push(`${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T00:00:00.000000Z`);
      }
    }
    texts.push('0000-01-01T00:00:00.000000Z', '2026-01-01T24:00:00.000000Z', '2026-01-01T00:60:00.000000Z', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000000+00:00');
    for (const text of texts) {
      const parsed = parseBusinessTime(text);
      expect([text, isCanonicalBusinessTime(text)]).toEqual([text, parsed.ok && parsed.time.canonical === text]);
    }
  });
});
