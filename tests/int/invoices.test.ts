import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { readActiveViews, readInvoices } from '../../projections/spanner/view-reads';
import { rebuild } from '../../projections/spanner/rebuild';
import { runProjector } from '../../projections/spanner/runtime';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { killSpawned, runSpanledger } from '../support/cli';
import { depositWire, jsonLines } from '../support/commands';
import { ensureCliBuilt, kafkaBrokers, produceCommands, uniqueTopic } from '../support/kafka';
import { cliEnv, freshConnection } from '../support/spanner';

/**
 * Invoices paid from the token balance and balance thresholds, through the real CLI on the
 * emulator: Storj's PayInvoice and UpgradeUser chore tests with and without the 10 % bonus,
 * concurrent duplicate submits, Kafka redelivery, and a rebuild.
 */
jest.setTimeout(180_000);

const TEN_DOLLARS = '10000000';
const invoice = (userId: string, invoiceId: string, amountMicroUsd: string, occurredAt = '2026-03-01T00:00:00Z') => ({ type: 'openInvoice', userId, invoiceId, amountMicroUsd, occurredAt });
const deposit = (userId: string, n: number, amount: string) => depositWire(userId, n, amount);

let connection: SpannerConnection;
let dir: string;
beforeAll(async () => {
  ensureCliBuilt();
  connection = await freshConnection('iv');
  dir = mkdtempSync(path.join(os.tmpdir(), 'spanledger-invoices-'));
});
afterAll(async () => {
  killSpawned();
  await connection?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function submit(commands: readonly unknown[], env: NodeJS.ProcessEnv = {}) {
  const run = await runSpanledger(['submit'], { env: cliEnv(connection, { SPANLEDGER_BONUS_BPS: '0', ...env }), input: jsonLines(commands) });
  expect(run.stderr).toBe('');
  return run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { status: string; eventIds: string[]; code?: string });
}

async function invoicesOf(userId: string) {
  const run = await runSpanledger(['invoices', userId, '--json'], { env: cliEnv(connection) });
  expect(run.code).toBe(0);
  return (JSON.parse(run.stdout) as { invoices: { invoiceId: string; status: string; amountMicroUsd: string; paidMicroUsd: string; remainingMicroUsd: string; closedAt?: string; payments: { amountMicroUsd: string }[] }[] }).invoices;
}

async function balanceOf(userId: string) {
  const run = await runSpanledger(['balance', userId, '--json'], { env: cliEnv(connection) });
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as Record<string, string>;
}

async function eventsOf(userId: string) {
  const file = path.join(dir, `${userId}.jsonl`);
  expect((await runSpanledger(['events', 'export', file], { env: cliEnv(connection) })).code).toBe(0);
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string; userId?: string; payload: Record<string, unknown> })
    .filter((event) => event.userId === userId);
}

describe("Storj's PayInvoice chore, done by the ledger in the deposit's transaction", () => {
  test('no bonus: a $30 invoice is paid $20 by a $20 deposit and the last $10 by a $10 one', async () => {
    const user = 'pay-plain';
    expect((await submit([invoice(user, 'in-30', '30000000'), deposit(user, 1, '20000000')])).map((outcome) => outcome.status)).toEqual(['accepted', 'accepted']);
    expect(await invoicesOf(user)).toEqual([expect.objectContaining({ invoiceId: 'in-30', status: 'open', paidMicroUsd: '20000000', remainingMicroUsd: '10000000', payments: [expect.objectContaining({ amountMicroUsd: '20000000' })] })]);
    expect(await balanceOf(user)).toMatchObject({ balanceMicroUsd: '0', openInvoicesMicroUsd: TEN_DOLLARS });
    const [second] = await submit([deposit(user, 2, TEN_DOLLARS)]);
    expect(second!.eventIds).toHaveLength(2); // the deposit, then the payment
    const [paid] = await invoicesOf(user);
    expect(paid).toMatchObject({ status: 'paid', paidMicroUsd: '30000000', remainingMicroUsd: '0', closedAt: expect.any(String) });
    expect(paid!.payments.map((payment) => payment.amountMicroUsd)).toEqual(['20000000', TEN_DOLLARS]);
    expect(await balanceOf(user)).toMatchObject({ balanceMicroUsd: '0', openInvoicesMicroUsd: '0' });
    // The transactions list the payments as debits from the invoice, with what remained.
    const listed = await runSpanledger(['transactions', user, '--json'], { env: cliEnv(connection) });
    const rows = (JSON.parse(listed.stdout) as { transactions: { source: string; type: string; amountMicroUsd: string; metadata: Record<string, unknown> }[] }).transactions;
    expect(rows.filter((row) => row.source === 'invoice').map((row) => [row.type, row.amountMicroUsd, row.metadata.paymentNumber, row.metadata.remainingMicroUsd])).toEqual([
      ['debit', '-10000000', 2, '0'],
      ['debit', '-20000000', 1, '10000000'],
    ]);
    expect(rows.reduce((sum, row) => sum + BigInt(row.amountMicroUsd), 0n)).toBe(0n);
  });

  test('with the 10 % bonus: $20 + $2 pays $22, then $10 + $1 pays the last $8 and $3 stay', async () => {
    const user = 'pay-bonus';
    await submit([invoice(user, 'in-30b', '30000000'), deposit(user, 1, '20000000')], { SPANLEDGER_BONUS_BPS: '1000' });
    expect((await invoicesOf(user))[0]).toMatchObject({ paidMicroUsd: '22000000', remainingMicroUsd: '8000000' });
    await submit([deposit(user, 2, TEN_DOLLARS)], { SPANLEDGER_BONUS_BPS: '1000' });
    expect((await invoicesOf(user))[0]).toMatchObject({ status: 'paid', paidMicroUsd: '30000000' });
    expect(await balanceOf(user)).toMatchObject({ balanceMicroUsd: '3000000', depositsMicroUsd: '30000000', bonusesMicroUsd: '3000000', chargesMicroUsd: '-30000000' });
  });

  test('$3 against a $1.50 and a $2.00 invoice: the older one paid, $1.50 of the other (Storj\'s stripe test)', async () => {
    const user = 'pay-two';
    await submit([invoice(user, 'older', '1500000', '2026-03-01T00:00:00Z'), invoice(user, 'newer', '2000000', '2026-03-02T00:00:00Z'), deposit(user, 1, '3000000')]);
    expect((await invoicesOf(user)).map((row) => [row.invoiceId, row.status, row.remainingMicroUsd])).toEqual([
      ['older', 'paid', '0'],
      ['newer', 'open', '500000'],
    ]);
    expect(await balanceOf(user)).toMatchObject({ balanceMicroUsd: '0', openInvoicesMicroUsd: '500000' });
  });

  test('a void gives back what was paid, which pays the next invoice; a void of a paid one is INVOICE_NOT_OPEN; a charge on an invoice ID is INVOICE_EXISTS', async () => {
    const user = 'pay-void';
    await submit([invoice(user, 'v-old', '5000000', '2026-03-01T00:00:00Z'), invoice(user, 'v-new', '2000000', '2026-03-02T00:00:00Z'), deposit(user, 1, '3000000')]);
    const [voided, paidAgain, wrongCharge] = await submit([
      { type: 'voidInvoice', userId: user, invoiceId: 'v-old', occurredAt: '2026-03-05T00:00:00Z', reason: 'billing error' },
      { type: 'voidInvoice', userId: user, invoiceId: 'v-new', occurredAt: '2026-03-05T00:00:01Z', reason: 'too late' },
      { type: 'charge', userId: user, invoiceId: 'v-new', amountMicroUsd: '1', occurredAt: '2026-03-05T00:00:02Z' },
    ]);
    expect(voided).toMatchObject({ status: 'accepted' });
    expect(voided!.eventIds).toHaveLength(2); // the void, then a payment of v-new from the refund
    expect([paidAgain!.code, wrongCharge!.code]).toEqual(['INVOICE_NOT_OPEN', 'INVOICE_EXISTS']);
    expect((await invoicesOf(user)).map((row) => [row.invoiceId, row.status, row.paidMicroUsd])).toEqual([
      ['v-old', 'void', '3000000'],
      ['v-new', 'paid', '2000000'],
    ]);
    expect(await balanceOf(user)).toMatchObject({ balanceMicroUsd: '1000000', openInvoicesMicroUsd: '0' });
  });
});

describe("Storj's UpgradeUser chore: a balance threshold crossed once", () => {
  test.each([
    ['no bonus', '0', ['2000000', '8000000', '5000000'], '10000000'],
    ['the 10 % bonus', '1000', ['2000000', '7500000', '5000000'], '10450000'],
  ])('%s: under $10, then at or above it (one crossing up), then more (none)', async (_name, bonus, amounts, crossedAt) => {
    const user = `upgrade-${bonus}`;
    const env = { SPANLEDGER_BONUS_BPS: bonus, SPANLEDGER_BALANCE_THRESHOLDS_MICRO_USD: TEN_DOLLARS };
    for (const [n, amount] of amounts.entries()) await submit([deposit(user, n, amount)], env);
    const crossings = (await eventsOf(user)).filter((event) => event.type === 'BalanceThresholdCrossed');
    expect(crossings.map((event) => [event.payload.thresholdMicroUsd, event.payload.direction, event.payload.balanceMicroUsd])).toEqual([[TEN_DOLLARS, 'up', crossedAt]]);
    // It moves no money, so it has no transaction row; it is in the log, hence in export and publish.
    const listed = JSON.parse((await runSpanledger(['transactions', user, '--json'], { env: cliEnv(connection) })).stdout) as { transactions: unknown[] };
    expect(listed.transactions).toHaveLength(bonus === '0' ? 3 : 6);
  });

  test('a bad threshold setting is exit 2 naming it', async () => {
    const run = await runSpanledger(['submit'], { env: cliEnv(connection, { SPANLEDGER_BALANCE_THRESHOLDS_MICRO_USD: '10000000,ten' }), input: jsonLines([deposit('bad-threshold', 1, '1')]) });
    expect([run.code, run.stderr]).toEqual([2, expect.stringMatching(/SPANLEDGER_BALANCE_THRESHOLDS_MICRO_USD must be positive amounts in micro-USD, comma-separated, got "ten"/)]);
  });
});

describe('paid exactly once', () => {
  test('four concurrent submits of the same file pay the invoice once: one accepted of each command, the rest duplicates', async () => {
    const user = 'race-user';
    const file = path.join(dir, 'race.jsonl');
    writeFileSync(file, jsonLines([invoice(user, 'race-in', '7000000'), deposit(user, 1, '5000000'), deposit(user, 2, '5000000')]));
    const runs = await Promise.all(Array.from({ length: 4 }, () => runSpanledger(['submit', file], { env: cliEnv(connection, { SPANLEDGER_BONUS_BPS: '0' }) })));
    expect(runs.map((run) => run.code)).toEqual([0, 0, 0, 0]);
    const statuses = runs.map((run) => run.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { status: string }).status));
    for (let line = 0; line < 3; line++) expect(statuses.map((list) => list[line]).sort()).toEqual(['accepted', 'duplicate', 'duplicate', 'duplicate']);
    const payments = (await eventsOf(user)).filter((event) => event.type === 'InvoicePaymentMade');
    expect(payments.map((event) => event.payload.amountMicroUsd)).toEqual(['5000000', '2000000']);
    expect(await balanceOf(user)).toMatchObject({ balanceMicroUsd: '3000000', chargesMicroUsd: '-7000000' });
  });

  test('through Kafka, with a deposit delivered twice and the consumer run twice: the invoice is paid once', async () => {
    kafkaBrokers();
    const user = 'kafka-pay';
    const topic = uniqueTopic('invoices');
    await produceCommands(topic, [invoice(user, 'k-in', '12000000'), deposit(user, 1, '8000000'), deposit(user, 1, '8000000'), deposit(user, 2, '8000000')].map((command) => JSON.stringify(command)));
    const env = cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers(), SPANLEDGER_BONUS_BPS: '0' });
    const args = ['consume', '--topic', topic, '--group', `g-${topic}`, '--until-idle', '--session-timeout-ms', '6000', '--json'];
    const first = JSON.parse((await runSpanledger(args, { env })).stdout) as { accepted: number; duplicate: number };
    expect(first).toMatchObject({ accepted: 3, duplicate: 1 });
    const second = JSON.parse((await runSpanledger(args, { env })).stdout) as { messages: number };
    expect(second.messages).toBe(0);
    const payments = (await eventsOf(user)).filter((event) => event.type === 'InvoicePaymentMade');
    expect(payments.map((event) => [event.payload.paymentNumber, event.payload.amountMicroUsd])).toEqual([
      [1, '8000000'],
      [2, '4000000'],
    ]);
  });
});

describe('the invoices view', () => {
  test('a rebuild equals the incremental view, and verify finds the views equal to the log', async () => {
    const store = new SpannerLedgerStore(connection);
    await runProjector(connection, store);
    const before = await readActiveViews(connection);
    expect(before.views.get('invoices')!.size).toBeGreaterThan(5);
    await rebuild(connection, store);
    const after = await readActiveViews(connection);
    expect(after.generations.get('invoices')).toBe(before.generations.get('invoices')! + 1);
    expect(after.views).toEqual(before.views);
    const open = await readInvoices(connection, 'pay-two', 'open');
    expect(open.rows.map((row) => row.invoiceId)).toEqual(['newer']);
    const verify = await runSpanledger(['projections', 'verify', '--json'], { env: cliEnv(connection) });
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, checked: { invoices: expect.any(Number) } });
  });
});
