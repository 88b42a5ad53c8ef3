import { NewEvent } from '../../ledger/core/events';
import { StreamRules } from '../../ledger/core/history-rules';
import { eventIds } from '../../ledger/core/ids';
import { chargeCommand, depositCommand, openInvoiceCommand, settleCommand, txHash, voidInvoiceCommand } from './support/fixtures';
import { funded, history } from './support/given';

/**
 * The rules a stored stream must follow (what the audit and `events import` check): every
 * history the decider writes passes; each forgery below, consistent as a fold, does not.
 */
const U = 'user-1';

function walk(events: readonly NewEvent[]): string[] {
  const rules = new StreamRules(U);
  return events.flatMap((event) => rules.next(event).map((problem) => `${event.type}: ${problem}`));
}

const honest = history(
  [
    depositCommand({ amountMicroUsd: '10000000', txHash: txHash(1) }),
    chargeCommand({ invoiceId: 'c-1', amountMicroUsd: '3000000', pending: true }),
    settleCommand({ invoiceId: 'c-1' }),
    openInvoiceCommand({ invoiceId: 'in-1', amountMicroUsd: '30000000' }),
    depositCommand({ amountMicroUsd: '5000000', txHash: txHash(2) }),
    voidInvoiceCommand({ invoiceId: 'in-1' }),
  ],
  1000,
);

/** The stream with one payload field of every event of a type set to a forged value. */
const forged = (events: readonly NewEvent[], type: string, field: string, value: string) =>
  events.map((event) => (event.type === type ? ({ ...event, payload: { ...event.payload, [field]: value } } as NewEvent) : event));

test('a history the decider wrote breaks no rule, and leaves no invoice open beside a cent', () => {
  expect(honest.map((event) => event.type)).toContain('InvoicePaymentMade');
  expect(walk(honest)).toEqual([]);
});

test('a settled charge failed afterwards (its refund would be money from nowhere)', () => {
  const charge = honest.find((event) => event.type === 'InvoiceCharged')!;
  const fail = { ...charge, type: 'ChargeFailed', eventId: eventIds.fail('c-1'), payload: { invoiceId: 'c-1', reason: 'x', occurredAt: charge.occurredAt, userId: U, chargeEventId: charge.eventId, refundedMicroUsd: '3000000' } } as NewEvent;
  const settled = honest.findIndex((event) => event.type === 'ChargeSettled');
  expect(walk([...honest.slice(0, settled + 1), fail])).toEqual(['ChargeFailed: the charge of invoice c-1 is complete, not pending', 'ChargeFailed: it leaves the pending amount at -3000000']);
});

test.each([
  ['a void refunding more than was paid', 'InvoiceVoided', 'refundedMicroUsd', '45000000', /InvoiceVoided: it refunds 45000000/],
  ['a payment of more than the balance pays', 'InvoicePaymentMade', 'amountMicroUsd', '1000000', /InvoicePaymentMade: a payment of 1000000 .* pays/],
  ['a bonus above its rate', 'DepositBonusGranted', 'amountMicroUsd', '9999999', /DepositBonusGranted: a bonus of 9999999 where 1000 bps of the deposit is 1000000/],
  ['a charge taking more than was asked', 'InvoiceCharged', 'chargedMicroUsd', '3000001', /InvoiceCharged: charged 3000001 of 3000000/],
] as const)('%s', (_name, type, field, value, problem) => {
  expect(walk(forged(honest, type, field, value)).join('\n')).toMatch(problem);
});

test('an overdraft, and a commit that leaves an invoice open beside a whole cent', () => {
  const rules = new StreamRules(U);
  const [adjust] = history([]).concat(funded(U, -5n));
  expect(rules.next(adjust!)).toEqual(['it leaves the available balance at -5']);
  const opened = history([openInvoiceCommand({ invoiceId: 'in-2', amountMicroUsd: '5000000' })]);
  const fresh = new StreamRules(U);
  for (const event of [...opened, funded(U, 20_000n)]) fresh.next(event);
  expect(fresh.commitEnd()).toEqual(['the commit leaves invoice(s) in-2 open with 20000 available: a payment of that commit is missing']);
});
