import { chainHash, ChainLink, GENESIS, walkChain } from '../../ledger/core/chain';
import { EVENT_SCHEMA_VERSION, LedgerEvent } from '../../ledger/core/events';
import { netByAccount, postingProblems } from '../../ledger/core/posting-check';
import { chainAccount, pendingAccount, Posting, postingsOf, SYSTEM_ACCOUNTS, userAccount } from '../../ledger/core/postings';

/** The chart of accounts, how each event type posts, the audit's check of postings, and the hash chain. */
const T = '2026-03-01T00:00:00.000000Z';
const U = 'u1';

function event<K extends LedgerEvent['type']>(type: K, payload: Extract<LedgerEvent, { type: K }>['payload']): LedgerEvent {
  return { type, payload, schemaVersion: EVENT_SCHEMA_VERSION[type] } as unknown as LedgerEvent;
}

const deposit = event('TokenDeposited', { userId: U, source: 'zksync', chainId: '324', txHash: '0xab', logIndex: '0', blockNumber: '1', wallet: '0xcd', tokenValue: '1', amountMicroUsd: '10000000', occurredAt: T });
const bonus = event('DepositBonusGranted', { userId: U, depositEventId: 'd', rateBps: 1000, amountMicroUsd: '1000000', occurredAt: T });
const pendingCharge = event('InvoiceCharged', { userId: U, invoiceId: 'i', amountMicroUsd: '3000000', allowPartial: false, pending: true, occurredAt: T, chargedMicroUsd: '3000000', status: 'pending' });
const charge = event('InvoiceCharged', { userId: U, invoiceId: 'j', amountMicroUsd: '3000000', allowPartial: true, pending: false, occurredAt: T, chargedMicroUsd: '2000000', status: 'complete' });
const settle = event('ChargeSettled', { userId: U, invoiceId: 'i', reference: 'r', occurredAt: T, chargeEventId: 'c', amountMicroUsd: '3000000' });
const fail = event('ChargeFailed', { userId: U, invoiceId: 'i', reason: 'no', occurredAt: T, chargeEventId: 'c', refundedMicroUsd: '3000000' });
const credit = event('BalanceAdjusted', { userId: U, amountMicroUsd: '500000', reason: 'r', idempotencyKey: 'k', occurredAt: T });
const debit = event('BalanceAdjusted', { userId: U, amountMicroUsd: '-500000', reason: 'r', idempotencyKey: 'k2', occurredAt: T });
const opened = event('InvoiceOpened', { userId: U, invoiceId: 'v', amountMicroUsd: '4000000', description: null, occurredAt: T });
const payment = event('InvoicePaymentMade', { userId: U, invoiceId: 'v', paymentNumber: 1, amountMicroUsd: '1500000', remainingMicroUsd: '2500000', causationEventId: 'd', occurredAt: T });
const voided = event('InvoiceVoided', { userId: U, invoiceId: 'v', reason: 'r', refundedMicroUsd: '1500000', forgivenMicroUsd: '2500000', occurredAt: T });

const p = (debitAccount: string, creditAccount: string, amount: bigint): Posting => ({ debit: debitAccount, credit: creditAccount, amountMicroUsd: amount });

describe('postings: how each event posts', () => {
  test.each([
    ['a deposit debits its chain and credits the user', deposit, [p('chain:zksync:324', 'user:u1', 10_000_000n)]],
    ['a bonus debits the bonus expense', bonus, [p('expense:bonus', 'user:u1', 1_000_000n)]],
    ['a pending charge credits the user\'s pending account', pendingCharge, [p('user:u1', 'user:u1:pending', 3_000_000n)]],
    ['a charge credits revenue with what it took', charge, [p('user:u1', 'revenue:invoices', 2_000_000n)]],
    ['a settle moves the held amount to revenue', settle, [p('user:u1:pending', 'revenue:invoices', 3_000_000n)]],
    ['a fail moves it back to the user', fail, [p('user:u1:pending', 'user:u1', 3_000_000n)]],
    ['a positive adjustment comes from equity', credit, [p('equity:adjustments', 'user:u1', 500_000n)]],
    ['a negative adjustment goes to equity', debit, [p('user:u1', 'equity:adjustments', 500_000n)]],
    ['an invoice payment is revenue', payment, [p('user:u1', 'revenue:invoices', 1_500_000n)]],
    ['a void refunds the payments out of revenue', voided, [p('revenue:invoices', 'user:u1', 1_500_000n)]],
    ['opening an invoice moves no money', opened, []],
  ] as const)('%s', (_name, given, expected) => {
    expect(postingsOf(given)).toEqual(expected);
    expect(postingProblems(given, postingsOf(given))).toEqual([]);
  });

  test('every event\'s postings sum to zero over the accounts', () => {
    for (const given of [deposit, bonus, pendingCharge, charge, settle, fail, credit, debit, payment, voided]) {
      expect([...netByAccount(postingsOf(given)).values()].reduce((sum, value) => sum + value, 0n)).toBe(0n);
    }
  });

  test('account names cannot collide, whatever a user ID holds', () => {
    expect(userAccount('a:pending')).toBe('user:a%3Apending');
    expect(userAccount('a:pending')).not.toBe(pendingAccount('a'));
    expect(userAccount('50%')).toBe('user:50%25');
    expect(userAccount('a%3Apending')).not.toBe(userAccount('a:pending'));
    expect(chainAccount('ethereum', '1')).toBe('chain:ethereum:1');
    expect(SYSTEM_ACCOUNTS).toEqual({ bonus: 'expense:bonus', revenue: 'revenue:invoices', adjustments: 'equity:adjustments' });
  });
});

describe('posting check: the audit\'s check 1, against the account deltas', () => {
  test('a rule that posts a bonus to the wrong account is named', () => {
    const problems = postingProblems(bonus, [p('expense:bonus', 'user:u1:pending', 1_000_000n)]);
    expect(problems).toEqual(['user:u1 moves 0, but a DepositBonusGranted with this payload moves it 1000000', 'user:u1:pending moves 1000000, but a DepositBonusGranted with this payload moves it 0']);
  });

  test('a wrong amount, a wrong counterpart, a missing posting and a degenerate one are named', () => {
    expect(postingProblems(deposit, [p('chain:zksync:324', 'user:u1', 9_000_000n)])).toHaveLength(2);
    expect(postingProblems(charge, [p('user:u1', 'equity:adjustments', 2_000_000n)])).toEqual([
      'revenue:invoices moves 0, but a InvoiceCharged with this payload moves it 2000000',
      'equity:adjustments moves 2000000, but a InvoiceCharged with this payload moves it 0',
    ]);
    expect(postingProblems(settle, [])).toHaveLength(2);
    expect(postingProblems(opened, [p('user:u1', 'user:u1', 0n)])).toEqual(['a posting from user:u1 to user:u1 moves 0, not a positive amount', 'a posting debits and credits the same account user:u1']);
  });
});

describe('hash chain', () => {
  const links = (digests: string[]): ChainLink[] => {
    let previous = GENESIS;
    return digests.map((contentDigest, index) => {
      previous = chainHash(previous, contentDigest, index + 1);
      return { streamVersion: index + 1, storedDigest: contentDigest, contentDigest, chainHash: previous };
    });
  };
  const digests = ['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)];
  const breakOf = (chain: ChainLink[]) => {
    const walked = walkChain(chain);
    return 'break' in walked ? walked.break : undefined;
  };

  test('an intact chain has no break and ends at its last hash', () => {
    const chain = links(digests);
    expect(walkChain(chain)).toEqual({ head: chain[2]!.chainHash });
    expect(walkChain([])).toEqual({ head: GENESIS });
    expect(chainHash(GENESIS, digests[0]!, 1)).toMatch(/^[0-9a-f]{64}$/);
    expect(chainHash(GENESIS, digests[0]!, 1)).not.toBe(chainHash(GENESIS, digests[0]!, 2));
  });

  test('edited content, an edited digest, a missing link, swapped links and an unchained event are found where they start', () => {
    const chain = links(digests);
    expect(breakOf([chain[0]!, { ...chain[1]!, contentDigest: 'd'.repeat(64) }, chain[2]!])).toMatchObject({ at: 1, reason: expect.stringMatching(/no longer matches its digest/) });
    expect(breakOf([chain[0]!, { ...chain[1]!, contentDigest: 'd'.repeat(64), storedDigest: 'd'.repeat(64) }, chain[2]!])).toMatchObject({ at: 1, reason: expect.stringMatching(/does not follow/) });
    expect(breakOf([chain[0]!, chain[2]!])).toMatchObject({ at: 1, reason: expect.stringMatching(/version 3 where 2 belongs/) });
    expect(breakOf([chain[0]!, { ...chain[2]!, streamVersion: 2 }, { ...chain[1]!, streamVersion: 3 }])).toMatchObject({ at: 1 });
    expect(breakOf([chain[0]!, { ...chain[1]!, chainHash: null }])).toMatchObject({ at: 1, reason: expect.stringMatching(/not chained this stream yet/) });
  });
});
