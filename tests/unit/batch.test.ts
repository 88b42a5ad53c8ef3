import fc from 'fast-check';
import { Account, Charge, emptyAccount, evolveAccount, evolveCharge } from '../../ledger/core/account';
import { BatchOverBudget, decideBatch } from '../../ledger/core/batch';
import { LIMITS } from '../../ledger/core/limits';
import { Command } from '../../ledger/core/commands';
import { Decision, primaryEventId, priorEventIds } from '../../ledger/core/decide';
import { accountStreamId, eventIds } from '../../ledger/core/ids';
import { digestOf, LedgerWrites } from '../../ledger/core/store';
import { adjustCommand, chargeCommand, depositCommand, failCommand, openInvoiceCommand, settleCommand, txHash } from './support/fixtures';
import { MemoryLedger } from './support/memory-transaction';
import { chainHash, GENESIS } from '../../ledger/core/chain';

/** Decides one batch in one transaction, checks its writes against the state it started from, and commits. */
async function runBatch(ledger: MemoryLedger, commands: readonly Command[], bonusRateBps = 0, thresholds: readonly bigint[] = []) {
  const before = snapshot(ledger);
  const tx = ledger.begin();
  const { decisions, writes } = await decideBatch(tx, commands, { bonusRateBps, thresholds });
  expect(decisions).toHaveLength(commands.length);
  expectWritesConsistent(before, decisions, writes);
  tx.write(writes);
  ledger.commit(tx);
  return { decisions, writes, reads: tx.reads };
}

function snapshot(ledger: MemoryLedger) {
  return { accounts: new Map(ledger.accounts), charges: new Map(ledger.charges) };
}

/**
 * The writes must be exactly what the accepted decisions say, in order, and the account and
 * charge rows must be what folding those events onto the rows read before the batch gives.
 */
function expectWritesConsistent(before: ReturnType<typeof snapshot>, decisions: Decision[], writes: LedgerWrites): void {
  const accepted = decisions.flatMap((decision) => (decision.outcome === 'accepted' ? decision.events : []));
  expect(writes.events.map(({ streamVersion: _v, contentDigest: _d, chainHash: _h, ...event }) => event)).toEqual(accepted);

  const accounts = new Map<string, Account>();
  const charges = new Map<string, Charge>();
  for (const draft of writes.events) {
    expect(draft.contentDigest).toBe(digestOf(draft));
    const userId = draft.payload.userId;
    expect(draft.streamId).toBe(accountStreamId(userId));
    const previous = accounts.get(userId) ?? before.accounts.get(userId) ?? emptyAccount(userId);
    const account = evolveAccount(previous, draft);
    expect(draft.streamVersion).toBe(account.version);
    // Each event extends its stream's hash chain, and the account row keeps the new head.
    expect(draft.chainHash).toBe(chainHash(previous.version === 0 ? GENESIS : previous.chainHead!, draft.contentDigest, draft.streamVersion));
    accounts.set(userId, { ...account, chainHead: draft.chainHash });
    if ('invoiceId' in draft.payload) {
      const invoiceId = draft.payload.invoiceId;
      const charge = evolveCharge(charges.get(invoiceId) ?? before.charges.get(invoiceId), draft);
      if (charge) charges.set(invoiceId, charge);
    }
  }
  expect(sortBy(writes.accounts, (a) => a.userId)).toEqual(sortBy([...accounts.values()], (a) => a.userId));
  expect(sortBy(writes.charges, (c) => c.invoiceId)).toEqual(sortBy([...charges.values()], (c) => c.invoiceId));
}

const sortBy = <T>(items: readonly T[], key: (item: T) => string): T[] => [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

const outcomes = (decisions: Decision[]) => decisions.map((decision) => (decision.outcome === 'rejected' ? decision.code : decision.outcome));

/** Every stream's versions are 1, 2, 3, … and the account row's version is the stream's length. */
function expectConsecutiveStreams(ledger: MemoryLedger): void {
  for (const account of ledger.accounts.values()) {
    const stream = ledger.stream(accountStreamId(account.userId));
    expect(stream.map((event) => event.streamVersion)).toEqual(stream.map((_event, index) => index + 1));
    expect(account.version).toBe(stream.length);
  }
}

describe('decideBatch: commands in one batch see each other', () => {
  it('a deposit then a charge of the same user in one batch are both accepted', async () => {
    const ledger = new MemoryLedger();
    const { decisions, writes } = await runBatch(ledger, [depositCommand({ amountMicroUsd: '5000000' }), chargeCommand({ amountMicroUsd: '5000000' })]);
    expect(outcomes(decisions)).toEqual(['accepted', 'accepted']);
    expect(writes.events.map((event) => [event.type, event.streamVersion])).toEqual([
      ['TokenDeposited', 1],
      ['InvoiceCharged', 2],
    ]);
    expect(writes.accounts).toEqual([expect.objectContaining({ userId: 'user-1', version: 2, balanceMicroUsd: 0n, depositsMicroUsd: 5_000_000n, chargesMicroUsd: 5_000_000n })]);
  });

  it('the charge alone (no deposit before it in the batch) is refused: the overlay is what made it pass', async () => {
    const { decisions } = await runBatch(new MemoryLedger(), [chargeCommand({ amountMicroUsd: '5000000' }), depositCommand({ amountMicroUsd: '5000000' })]);
    expect(outcomes(decisions)).toEqual(['INSUFFICIENT_FUNDS', 'accepted']);
  });

  it('a deposit with bonus, a pending charge and its settlement in one batch', async () => {
    const ledger = new MemoryLedger();
    const { decisions, writes } = await runBatch(
      ledger,
      [depositCommand({ amountMicroUsd: '1000000' }), chargeCommand({ amountMicroUsd: '1100000', pending: true }), settleCommand({ reference: 'psp-1' })],
      1000,
    );
    expect(outcomes(decisions)).toEqual(['accepted', 'accepted', 'accepted']);
    expect(writes.events.map((event) => event.type)).toEqual(['TokenDeposited', 'DepositBonusGranted', 'InvoiceCharged', 'ChargeSettled']);
    expect(writes.events.map((event) => event.streamVersion)).toEqual([1, 2, 3, 4]);
    expect(writes.charges).toEqual([
      { invoiceId: 'inv-1', userId: 'user-1', chargeEventId: eventIds.charge('inv-1'), chargedMicroUsd: 1_100_000n, status: 'complete' },
    ]);
    expect(writes.accounts).toEqual([
      expect.objectContaining({ balanceMicroUsd: 0n, pendingMicroUsd: 0n, chargesMicroUsd: 1_100_000n, bonusesMicroUsd: 100_000n, version: 4 }),
    ]);
  });

  it('a pending charge and its failure in one batch refund the money, and a later settle is CHARGE_NOT_PENDING', async () => {
    const { decisions, writes } = await runBatch(new MemoryLedger(), [
      depositCommand({ amountMicroUsd: '1000000' }),
      chargeCommand({ amountMicroUsd: '400000', pending: true }),
      failCommand(),
      settleCommand(),
    ]);
    expect(outcomes(decisions)).toEqual(['accepted', 'accepted', 'accepted', 'CHARGE_NOT_PENDING']);
    expect(writes.charges).toEqual([expect.objectContaining({ invoiceId: 'inv-1', status: 'failed' })]);
    expect(writes.accounts).toEqual([expect.objectContaining({ balanceMicroUsd: 1_000_000n, pendingMicroUsd: 0n, version: 3 })]);
  });

  it('two deposits with the same key in one batch: the second is a duplicate of the first, written once', async () => {
    const first = depositCommand({ amountMicroUsd: '5000000', occurredAt: '2026-01-02T03:04:05Z' });
    const again = depositCommand({ amountMicroUsd: 5000000, occurredAt: '2026-01-02T03:04:05+00:00' });
    const { decisions, writes } = await runBatch(new MemoryLedger(), [first, again], 1000);
    const depositId = primaryEventId(first);
    expect(decisions[1]).toEqual({ outcome: 'duplicate', eventIds: [depositId, eventIds.bonus(depositId)] });
    expect(writes.events.map((event) => event.eventId)).toEqual([depositId, eventIds.bonus(depositId)]);
    expect(writes.accounts).toEqual([expect.objectContaining({ balanceMicroUsd: 5_500_000n, version: 2 })]);
  });

  it('a second deposit with the same key but other content in one batch is an IDEMPOTENCY_CONFLICT', async () => {
    const { decisions, writes } = await runBatch(new MemoryLedger(), [depositCommand({ amountMicroUsd: '1' }), depositCommand({ amountMicroUsd: '2' })]);
    expect(outcomes(decisions)).toEqual(['accepted', 'IDEMPOTENCY_CONFLICT']);
    expect(writes.events).toHaveLength(1);
  });

  it('a charge replayed in the same batch after it drained the balance is a duplicate', async () => {
    const { decisions } = await runBatch(new MemoryLedger(), [depositCommand({ amountMicroUsd: '100' }), chargeCommand({ amountMicroUsd: '100' }), chargeCommand({ amountMicroUsd: '100' })]);
    expect(outcomes(decisions)).toEqual(['accepted', 'accepted', 'duplicate']);
  });
});

describe('decideBatch: rejections', () => {
  it('a rejected command in the middle blocks none of the others and writes nothing', async () => {
    const { decisions, writes } = await runBatch(new MemoryLedger(), [
      depositCommand({ amountMicroUsd: '1000000' }),
      chargeCommand({ invoiceId: 'too-big', amountMicroUsd: '5000000' }),
      settleCommand({ invoiceId: 'no-such-invoice' }),
      chargeCommand({ invoiceId: 'inv-2', amountMicroUsd: '600000' }),
      adjustCommand({ userId: 'user-2', amountMicroUsd: '-1' }),
      adjustCommand({ userId: 'user-2', amountMicroUsd: '7', idempotencyKey: 'adj-2' }),
    ]);
    expect(outcomes(decisions)).toEqual(['accepted', 'INSUFFICIENT_FUNDS', 'CHARGE_NOT_FOUND', 'accepted', 'INSUFFICIENT_FUNDS', 'accepted']);
    expect(writes.events.map((event) => event.eventId)).not.toContain(eventIds.charge('too-big'));
    expect(writes.events.map((event) => [event.streamId, event.streamVersion])).toEqual([
      ['account-user-1', 1],
      ['account-user-1', 2],
      ['account-user-2', 1],
    ]);
    expect(sortBy(writes.accounts, (a) => a.userId).map((a) => [a.userId, a.balanceMicroUsd])).toEqual([
      ['user-1', 400_000n],
      ['user-2', 7n],
    ]);
    expect(writes.charges.map((charge) => charge.invoiceId)).toEqual(['inv-2']);
  });

  it('a rejection leaves no trace: the same command succeeds later in the batch once it can', async () => {
    const charge = chargeCommand({ amountMicroUsd: '5000000' });
    const { decisions } = await runBatch(new MemoryLedger(), [charge, depositCommand({ amountMicroUsd: '5000000' }), charge]);
    expect(outcomes(decisions)).toEqual(['INSUFFICIENT_FUNDS', 'accepted', 'accepted']);
  });

  it('a batch of only rejections and duplicates writes nothing', async () => {
    const ledger = new MemoryLedger();
    await runBatch(ledger, [depositCommand()]);
    const { writes } = await runBatch(ledger, [depositCommand(), chargeCommand({ amountMicroUsd: '99999999' }), failCommand({ invoiceId: 'x' })]);
    expect(writes).toEqual({ events: [], accounts: [], charges: [], invoices: [] });
  });
});

describe('decideBatch: across batches', () => {
  it('a later batch sees committed state: replays are duplicates, versions continue', async () => {
    const ledger = new MemoryLedger();
    await runBatch(ledger, [depositCommand({ amountMicroUsd: '3000000' }), chargeCommand({ amountMicroUsd: '1000000', pending: true })], 1000);
    const { decisions, writes } = await runBatch(
      ledger,
      [depositCommand({ amountMicroUsd: 3000000 }), chargeCommand({ amountMicroUsd: '1000000', pending: true }), settleCommand()],
      0,
    );
    const depositId = primaryEventId(depositCommand());
    expect(decisions.slice(0, 2)).toEqual([
      { outcome: 'duplicate', eventIds: [depositId, eventIds.bonus(depositId)] },
      { outcome: 'duplicate', eventIds: [eventIds.charge('inv-1')] },
    ]);
    expect(outcomes(decisions)[2]).toBe('accepted');
    expect(writes.events.map((event) => event.streamVersion)).toEqual([4]);
    expectConsecutiveStreams(ledger);
  });

  it('a settle names its user: the account is read by that user, the charge by its invoice', async () => {
    const ledger = new MemoryLedger();
    await runBatch(ledger, [depositCommand({ userId: 'user-7', amountMicroUsd: '10' }), chargeCommand({ userId: 'user-7', amountMicroUsd: '10', pending: true })]);
    const { decisions, writes, reads } = await runBatch(ledger, [failCommand({ userId: 'user-7' })]);
    expect(outcomes(decisions)).toEqual(['accepted']);
    expect(reads.find((read) => read.method === 'readAccounts')?.keys).toEqual(['user-7']);
    expect(writes.accounts).toEqual([expect.objectContaining({ userId: 'user-7', balanceMicroUsd: 10n, version: 3 })]);
    expect(ledger.charges.get('inv-1')?.status).toBe('failed');
  });

  it('a settle that names another user than the charge\'s is CHARGE_NOT_FOUND and moves nothing', async () => {
    const ledger = new MemoryLedger();
    await runBatch(ledger, [depositCommand({ userId: 'user-7', amountMicroUsd: '10' }), chargeCommand({ userId: 'user-7', amountMicroUsd: '10', pending: true })]);
    const { decisions, writes } = await runBatch(ledger, [settleCommand({ userId: 'user-8' })]);
    expect(decisions).toEqual([expect.objectContaining({ outcome: 'rejected', code: 'CHARGE_NOT_FOUND' })]);
    expect(writes.events).toEqual([]);
    expect(ledger.charges.get('inv-1')?.status).toBe('pending');
  });

  it('stream versions are consecutive per account with many users interleaved over several batches', async () => {
    const ledger = new MemoryLedger();
    const users = ['a', 'b', 'c'];
    for (let batch = 0; batch < 4; batch++) {
      const commands = users.flatMap((userId, u) => [
        depositCommand({ userId, txHash: txHash(batch * 10 + u), amountMicroUsd: '1000' }),
        adjustCommand({ userId, idempotencyKey: `adj-${batch}-${userId}`, amountMicroUsd: '-10' }),
      ]);
      const { decisions } = await runBatch(ledger, [...commands.filter((_c, i) => i % 2 === 0), ...commands.filter((_c, i) => i % 2 === 1)], 100);
      expect(new Set(outcomes(decisions))).toEqual(new Set(['accepted']));
    }
    expectConsecutiveStreams(ledger);
    for (const userId of users) expect(ledger.accounts.get(userId)).toMatchObject({ version: 12, balanceMicroUsd: 4n * (1000n + 10n - 10n) });
  });

  it('reads happen up front, in a fixed number of calls whatever the batch size', async () => {
    const ledger = new MemoryLedger();
    const commands = Array.from({ length: 60 }, (_v, i) =>
      i % 3 === 0 ? depositCommand({ userId: `u${i}`, txHash: txHash(i) }) : i % 3 === 1 ? chargeCommand({ userId: `u${i - 1}`, invoiceId: `inv-${i}` }) : settleCommand({ userId: `u${i - 2}`, invoiceId: `inv-${i - 1}` }),
    );
    const { reads } = await runBatch(ledger, commands);
    // Nobody has open invoices and nothing is a replay: the second round reads nothing.
    expect(reads.map((read) => read.method).sort()).toEqual(['readAccounts', 'readCharges', 'readEvents', 'readInvoices']);
    const eventKeys = reads.find((read) => read.method === 'readEvents')!.keys;
    expect(new Set(eventKeys)).toEqual(new Set(commands.flatMap(priorEventIds)));
  });

  it('open invoices are read only for users whose account says something is due, in one call', async () => {
    const ledger = new MemoryLedger();
    await runBatch(ledger, [openInvoiceCommand({ userId: 'owes', invoiceId: 'in-a', amountMicroUsd: '5000000' })]);
    const { reads, decisions, writes } = await runBatch(ledger, [depositCommand({ userId: 'owes', amountMicroUsd: '3000000' }), depositCommand({ userId: 'free', txHash: txHash(77), amountMicroUsd: '1' })]);
    expect(reads.filter((read) => read.method === 'readOpenInvoices').map((read) => read.keys)).toEqual([['owes']]);
    expect(outcomes(decisions)).toEqual(['accepted', 'accepted']);
    expect(writes.invoices).toEqual([expect.objectContaining({ invoiceId: 'in-a', paidMicroUsd: 3_000_000n, paymentCount: 1, status: 'open' })]);
    expect(ledger.accounts.get('owes')).toMatchObject({ balanceMicroUsd: 0n, openInvoicesMicroUsd: 2_000_000n });
  });

  it('a replay reads what its first application appended after its own events, and lists it', async () => {
    const ledger = new MemoryLedger();
    await runBatch(ledger, [openInvoiceCommand({ userId: 'rp', invoiceId: 'in-r', amountMicroUsd: '9000000' })]);
    const deposit = depositCommand({ userId: 'rp', amountMicroUsd: '4000000' });
    const first = await runBatch(ledger, [deposit]);
    const again = await runBatch(ledger, [deposit]);
    expect(again.decisions).toEqual([{ outcome: 'duplicate', eventIds: (first.decisions[0] as { events: { eventId: string }[] }).events.map((event) => event.eventId) }]);
    expect(again.reads.some((read) => read.method === 'readStreamAfter')).toBe(true);
  });
});

describe('decideBatch: the commit budget', () => {
  it('a batch whose payments could go past the mutation budget is refused before anything is written, saying how many fit', async () => {
    const ledger = new MemoryLedger();
    // 30 users with 100 open invoices each: every deposit may pay all of them.
    const users = Array.from({ length: 30 }, (_, i) => `heavy-${i}`);
    for (const userId of users) {
      await runBatch(ledger, Array.from({ length: LIMITS.openInvoicesPerUserMax }, (_, n) => openInvoiceCommand({ userId, invoiceId: `${userId}-in-${n}`, amountMicroUsd: '10000' })));
    }
    const deposits = users.map((userId, n) => depositCommand({ userId, txHash: txHash(500 + n), amountMicroUsd: '1000000' }));
    const tx = ledger.begin();
    const refused = decideBatch(tx, deposits, { bonusRateBps: 0, thresholds: [] });
    await expect(refused).rejects.toBeInstanceOf(BatchOverBudget);
    const fits = await refused.then(
      () => 0,
      (error: BatchOverBudget) => error.fits,
    );
    expect(fits).toBeGreaterThan(0);
    expect(fits).toBeLessThan(deposits.length);
    expect(tx.writes).toEqual([]);
    // That many do go through in one batch, each paying its 100 invoices.
    const { decisions, writes } = await runBatch(ledger, deposits.slice(0, fits));
    expect(outcomes(decisions)).toEqual(deposits.slice(0, fits).map(() => 'accepted'));
    expect(writes.events.length).toBe(fits * (1 + LIMITS.openInvoicesPerUserMax));
  });
});

describe('decideBatch: one batch decides exactly as the same commands one by one', () => {
  const users = ['u1', 'u2'];
  const invoices = ['i1', 'i2', 'i3'];
  const amount = fc.constantFrom('1', '9999', '10000', '1234567', '5000000');
  const command: fc.Arbitrary<Command> = fc.oneof(
    fc.record({ userId: fc.constantFrom(...users), logIndex: fc.integer({ min: 0, max: 2 }), amountMicroUsd: amount }).map((o) => depositCommand(o)),
    fc
      .record({ userId: fc.constantFrom(...users), invoiceId: fc.constantFrom(...invoices), amountMicroUsd: amount, allowPartial: fc.boolean(), pending: fc.boolean() })
      .map((o) => chargeCommand(o)),
    fc.record({ invoiceId: fc.constantFrom(...invoices), reference: fc.constantFrom(null, 'r1') }).map((o) => settleCommand(o)),
    fc.record({ invoiceId: fc.constantFrom(...invoices) }).map((o) => failCommand(o)),
    fc
      .record({ userId: fc.constantFrom(...users), idempotencyKey: fc.constantFrom('k1', 'k2'), amountMicroUsd: fc.constantFrom('-10000', '-1', '500') })
      .map((o) => adjustCommand(o)),
  );

  it('same decisions, same stored events, same account and charge rows', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 25 }), fc.constantFrom(0, 1000), async (commands, rate) => {
        const batched = new MemoryLedger();
        const { decisions: together } = await runBatch(batched, commands, rate);

        const sequential = new MemoryLedger();
        const oneByOne: Decision[] = [];
        for (const single of commands) oneByOne.push(...(await runBatch(sequential, [single], rate)).decisions);

        expect(together).toEqual(oneByOne);
        const strip = (ledger: MemoryLedger) => [...ledger.events.values()].map(({ committedAt: _c, ...event }) => event);
        expect(strip(batched)).toEqual(strip(sequential));
        expect(batched.accounts).toEqual(sequential.accounts);
        expect(batched.charges).toEqual(sequential.charges);
        expectConsecutiveStreams(batched);
      }),
      { numRuns: 200 },
    );
  });
});
