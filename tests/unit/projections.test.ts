import { EVENT_SCHEMA_VERSION, StoredEvent } from '../../ledger/core/events';
import { accountStreamId, eventIds } from '../../ledger/core/ids';
import { digestOf } from '../../ledger/core/store';
import { emptyAccount, evolveAccount } from '../../ledger/core/account';
import {
  accountOf,
  addDeltas,
  balanceProjection,
  BooksRow,
  NO_DELTAS,
  rowsOfKind,
  compareTransactions,
  foldAll,
  foldBatch,
  keysOfBatch,
  TransactionRow,
  transactionJson,
  transactionProjection,
} from '../../projections/core';

let committed = 0;
function stored(userId: string, streamVersion: number, event: Pick<StoredEvent, 'type' | 'payload'>, eventId: string): StoredEvent {
  committed++;
  const draft = {
    ...event,
    eventId,
    streamId: accountStreamId(userId),
    occurredAt: (event.payload as { occurredAt: string }).occurredAt,
    schemaVersion: EVENT_SCHEMA_VERSION[event.type],
  } as StoredEvent;
  return { ...draft, streamVersion, contentDigest: digestOf(draft), committedAt: `2026-03-01T00:00:00.${String(committed).padStart(9, '0')}Z` };
}

const T1 = '2026-01-01T10:00:00.000001Z';
const T2 = '2026-01-01T11:00:00.000000Z';
const depositId = eventIds.deposit('1', `0x${'11'.repeat(32)}`, '0');

/** Built once: the commit timestamps are counted, so every call would differ. */
function buildHistory(): StoredEvent[] {
  const u = 'u1';
  return [
    stored(u, 1, { type: 'TokenDeposited', payload: { userId: u, source: 'ethereum', chainId: '1', txHash: `0x${'11'.repeat(32)}`, logIndex: '0', blockNumber: '7', wallet: `0x${'ab'.repeat(20)}`, tokenValue: '9', amountMicroUsd: '10000000', occurredAt: T1 } }, depositId),
    stored(u, 2, { type: 'DepositBonusGranted', payload: { userId: u, depositEventId: depositId, rateBps: 1000, amountMicroUsd: '1000000', occurredAt: T1 } }, eventIds.bonus(depositId)),
    stored(u, 3, { type: 'InvoiceCharged', payload: { userId: u, invoiceId: 'i1', amountMicroUsd: '3000000', allowPartial: false, pending: true, occurredAt: T2, chargedMicroUsd: '3000000', status: 'pending' } }, eventIds.charge('i1')),
    stored(u, 4, { type: 'InvoiceCharged', payload: { userId: u, invoiceId: 'i2', amountMicroUsd: '2000000', allowPartial: false, pending: true, occurredAt: T2, chargedMicroUsd: '2000000', status: 'pending' } }, eventIds.charge('i2')),
    stored(u, 5, { type: 'ChargeSettled', payload: { userId: u, invoiceId: 'i1', reference: 'r-1', occurredAt: T2, chargeEventId: eventIds.charge('i1'), amountMicroUsd: '3000000' } }, eventIds.settle('i1')),
    stored(u, 6, { type: 'ChargeFailed', payload: { userId: u, invoiceId: 'i2', reason: 'declined', occurredAt: T2, chargeEventId: eventIds.charge('i2'), refundedMicroUsd: '2000000' } }, eventIds.fail('i2')),
    stored(u, 7, { type: 'BalanceAdjusted', payload: { userId: u, amountMicroUsd: '-500000', reason: 'correction', idempotencyKey: 'k1', occurredAt: '2026-01-01T09:00:00.000000Z' } }, eventIds.adjust('k1')),
  ];
}

const HISTORY = buildHistory();
const history = (): StoredEvent[] => HISTORY;

describe('transaction view fold', () => {
  const rows = () => [...foldAll(transactionProjection, history()).values()].sort(compareTransactions);

  test('one row per money movement: a settle changes the charge row, a fail marks it failed and adds its refund', () => {
    const json = rows().map(transactionJson);
    expect(json).toHaveLength(6);
    expect(json.map((row) => [row.source, row.type, row.status, row.amountMicroUsd])).toEqual([
      ['invoice', 'credit', 'complete', '2000000'],
      ['invoice', 'debit', 'failed', '-2000000'],
      ['invoice', 'debit', 'complete', '-3000000'],
      ['bonus', 'credit', 'complete', '1000000'],
      ['ethereum', 'credit', 'complete', '10000000'],
      ['adjustment', 'debit', 'complete', '-500000'],
    ]);
    // The rows add up to the balance: 10 + 1 - 3 - 2 + 2 - 0.5.
    expect(rows().reduce((sum, row) => sum + row.amountMicroUsd, 0n)).toBe(7_500_000n);
  });

  test('a failed charge keeps its row, with status failed and the reason', () => {
    const failed = rows().find((row) => row.id === eventIds.charge('i2'))!;
    expect(failed.status).toBe('failed');
    expect(failed.amountMicroUsd).toBe(-2_000_000n);
    expect(failed.metadata).toEqual({ invoiceId: 'i2', requestedMicroUsd: '2000000', reason: 'declined' });
    const settled = rows().find((row) => row.id === eventIds.charge('i1'))!;
    expect(settled.metadata.reference).toBe('r-1');
  });

  test('metadata: deposit chain fields, bonus link and rate; ids are the event IDs', () => {
    const [deposit] = rows().filter((row) => row.source === 'ethereum');
    expect(deposit!.id).toBe(depositId);
    expect(deposit!.metadata).toEqual({ chainId: '1', txHash: `0x${'11'.repeat(32)}`, logIndex: '0', blockNumber: '7', wallet: `0x${'ab'.repeat(20)}` });
    const [bonus] = rows().filter((row) => row.source === 'bonus');
    expect(bonus!.metadata).toEqual({ depositEventId: depositId, rateBps: 1000 });
    expect(bonus!.occurredAt).toBe(T1);
  });

  test('order: occurredAt descending, then stream version descending (bonus before its deposit)', () => {
    const base: TransactionRow = { userId: 'u', id: 'a', streamVersion: 1, type: 'credit', source: 'ethereum', status: 'complete', amountMicroUsd: 1n, description: '', metadata: {}, occurredAt: T1, initialStatus: 'complete', statusChangedAt: null };
    const deposit = base;
    const bonus = { ...base, id: 'b', streamVersion: 2, source: 'bonus' as const };
    const later = { ...base, id: 'c', streamVersion: 0, occurredAt: T2 };
    expect([deposit, later, bonus].sort(compareTransactions).map((row) => row.id)).toEqual(['c', 'b', 'a']);
    expect(compareTransactions(bonus, deposit)).toBeLessThan(0);
  });

  test('settle needs the charge row: keysOf asks for it, and a missing row is an error', () => {
    const events = history();
    expect(keysOfBatch(transactionProjection, [events[4]!])).toEqual([{ kind: 'transaction', key: ['u1', eventIds.charge('i1')] }]);
    expect(() => foldBatch(transactionProjection, new Map(), [events[4]!])).toThrow(/stream account-u1 is damaged: ChargeSettled .* refers to charge .*, which is not in the log; run `spanledger audit`/);
  });

  test('folding in batches (with rows carried between them) equals one fold', () => {
    const events = history();
    const whole = foldAll(transactionProjection, events);
    const first = foldBatch(transactionProjection, new Map(), events.slice(0, 4));
    const second = foldBatch(transactionProjection, first, events.slice(4));
    expect(new Map([...first, ...second])).toEqual(whole);
  });
});

describe('balances projection: balances, history, months and the books', () => {
  const folded = () => foldAll(balanceProjection, history());
  const ofKind = <K extends BooksRow['kind']>(kind: K) => rowsOfKind(balanceProjection, folded(), kind) as Extract<BooksRow, { kind: K }>[];

  test('balance and parts equal the write-side fold; last event time is the latest event\'s occurredAt', () => {
    const [row] = ofKind('balance');
    expect(accountOf(row!)).toEqual(accountOf(history().reduce(evolveAccount, emptyAccount('u1'))));
    expect(accountOf(row!)).toMatchObject({ version: 7, balanceMicroUsd: 10_000_000n + 1_000_000n - 3_000_000n - 500_000n, chargesMicroUsd: 3_000_000n, pendingMicroUsd: 0n });
    expect(row!.lastEventAt).toBe('2026-01-01T09:00:00.000000Z');
    // The user account is credits - debits of its postings: the available balance.
    expect(row!.books.userCredits - row!.books.userDebits).toBe(row!.balanceMicroUsd);
    expect(row!.books.pendingCredits - row!.books.pendingDebits).toBe(row!.pendingMicroUsd);
  });

  test('history: one row per event, the account after it and what the event changed', () => {
    const rows = ofKind('history').sort((a, b) => a.streamVersion - b.streamVersion);
    expect(rows.map((row) => row.streamVersion)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const events = history();
    let account = emptyAccount('u1');
    for (const [index, row] of rows.entries()) {
      account = evolveAccount(account, events[index]!);
      expect(row.account).toEqual(accountOf(account));
      expect(row.committedAt).toBe(events[index]!.committedAt);
      expect(row.occurredAt).toBe(events[index]!.occurredAt);
    }
    const summed = rows.reduce((sum, row) => addDeltas(sum, row.deltas), NO_DELTAS);
    expect(summed.balanceMicroUsd).toBe(account.balanceMicroUsd);
    expect(summed.chargesMicroUsd).toBe(account.chargesMicroUsd);
    // The pending charge then its fail: held, then released.
    expect(rows[3]!.deltas.pendingMicroUsd).toBe(2_000_000n);
    expect(rows[5]!.deltas.pendingMicroUsd).toBe(-2_000_000n);
  });

  test('months: what each business month changed, and its last event by stream version', () => {
    const [january, ...others] = ofKind('month');
    expect(others).toEqual([]);
    expect(january).toMatchObject({ monthStart: '2026-01-01T00:00:00.000000Z', events: 7, lastVersion: 7, lastOccurredAt: '2026-01-01T09:00:00.000000Z' });
    expect(january!.deltas.balanceMicroUsd).toBe(7_500_000n);
  });

  test('system accounts: the other side of every posting, so that all accounts sum to zero', () => {
    const system = new Map(ofKind('system').map((row) => [row.account, row.creditsMicroUsd - row.debitsMicroUsd]));
    expect(Object.fromEntries(system)).toEqual({
      'chain:ethereum:1': -10_000_000n,
      'expense:bonus': -1_000_000n,
      'revenue:invoices': 3_000_000n,
      'equity:adjustments': 500_000n,
    });
    const [balance] = ofKind('balance');
    const total = [...system.values()].reduce((sum, value) => sum + value, balance!.books.userCredits - balance!.books.userDebits + balance!.books.pendingCredits - balance!.books.pendingDebits);
    expect(total).toBe(0n);
  });

  test('system history: the totals after each event that posted to the account', () => {
    const revenue = ofKind('system-history').filter((row) => row.account === 'revenue:invoices');
    expect(revenue.map((row) => [row.streamVersion, row.creditsMicroUsd - row.debitsMicroUsd])).toEqual([[5, 3_000_000n]]);
    const chain = ofKind('system-history').filter((row) => row.account === 'chain:ethereum:1');
    expect(chain.map((row) => [row.committedAt, row.debitsMicroUsd])).toEqual([[history()[0]!.committedAt, 10_000_000n]]);
  });

  test('an event out of stream order (skipped or applied twice) is refused', () => {
    const events = history();
    const once = foldAll(balanceProjection, [events[0]!]);
    expect(() => foldAll(balanceProjection, [events[0]!], new Map(once))).toThrow(/stream account-u1 is damaged: event .* has stream version 1 where 2 belongs/);
    expect(() => foldAll(balanceProjection, [events[2]!], new Map(once))).toThrow(/has stream version 3 where 2 belongs/);
  });

  test('folding in batches (with rows carried between them) equals one fold', () => {
    const events = history();
    const first = foldBatch(balanceProjection, new Map(), events.slice(0, 3));
    const second = foldBatch(balanceProjection, first, events.slice(3));
    expect(new Map([...first, ...second])).toEqual(folded());
  });
});
