import { seededRandom } from '../../scripts/prng';
import { CommandHandler } from '../../ledger/core/handler';
import { Command } from '../../ledger/core/commands';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { ACCOUNT_COLUMNS, accountFromRow, Row } from '../../ledger/spanner/codec';
import { runCli } from '../../commands/main';
import { EXIT } from '../../commands/errors';
import { PROJECTION_NAMES, ProjectionName, compareTransactions, TransactionRow } from '../../projections/core';
import { readActiveViews, readTransactions } from '../../projections/spanner/view-reads';
import { runProjector } from '../../projections/spanner/runtime';
import { cliEnv, freshConnection } from '../support/spanner';
import { StoredEvent } from '../../ledger/core/events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync, rmSync } from 'node:fs';
import { connect } from '../../ledger/spanner/connection';
import { ReferenceLedger } from '../model/reference-ledger';
import { balanceKeyText, balanceRowFromViewText, balanceShape, modelBalanceShape, viewTextsOfKind } from '../model/harness';
import { expectedViews, withoutCommitTimes } from '../support/views';
import { capturedIo } from '../support/cli';

const SEED = Number(process.env.PROJECTIONS_SEED ?? 20260131);

/** ~n commands over `users` users: deposits, charges (full, partial, pending), settle, fail, adjust and duplicates. */
function randomCommands(seed: number, n: number, users: string[], tag: string): Command[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const commands: Command[] = [];
  const pending: { invoiceId: string; userId: string }[] = [];
  let minute = 0;
  const time = () => {
    // Repeated minutes on purpose: many rows share occurredAt, so the tie-break matters.
    if (random() < 0.7) minute++;
    return `2026-01-${String(1 + Math.floor(minute / 1440)).padStart(2, '0')}T${String(Math.floor((minute % 1440) / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}:00.123456Z`;
  };
  for (let i = 0; i < n; i++) {
    const userId = pick(users);
    const roll = random();
    if (commands.length > 0 && roll < 0.08) {
      commands.push(pick(commands));
    } else if (roll < 0.35) {
      const hex = (i * 7919 + seed).toString(16).padStart(8, '0');
      commands.push({
        type: 'deposit',
        userId,
        source: random() < 0.5 ? 'ethereum' : 'zksync',
        chainId: '1',
        txHash: `0x${`${tag}${hex}`.padEnd(64, 'a').slice(0, 64).replace(/[^0-9a-f]/g, 'b')}`,
        logIndex: String(i % 3),
        blockNumber: String(1000 + i),
        wallet: `0x${'cd'.repeat(20)}`,
        tokenValue: '1000',
        amountMicroUsd: String((1 + Math.floor(random() * 50)) * 1_000_000),
        occurredAt: time(),
      });
    } else if (roll < 0.65) {
      const invoiceId = `inv-${tag}-${i}`;
      const isPending = random() < 0.4;
      if (isPending) pending.push({ invoiceId, userId });
      commands.push({
        type: 'charge',
        userId,
        invoiceId,
        amountMicroUsd: String((1 + Math.floor(random() * 40)) * 1_000_000),
        occurredAt: time(),
        allowPartial: random() < 0.4,
        pending: isPending,
      });
    } else if (roll < 0.75 && pending.length > 0) {
      const charge = pending.splice(Math.floor(random() * pending.length), 1)[0]!;
      commands.push({ type: 'settleCharge', ...charge, occurredAt: time(), reference: `ref-${i}` });
    } else if (roll < 0.85 && pending.length > 0) {
      const charge = pending.splice(Math.floor(random() * pending.length), 1)[0]!;
      commands.push({ type: 'failCharge', ...charge, occurredAt: time(), reason: `card declined ${i}` });
    } else {
      const sign = random() < 0.3 ? '-' : '';
      commands.push({ type: 'adjust', userId, amountMicroUsd: `${sign}${1 + Math.floor(random() * 5_000_000)}`, reason: `goodwill ${i}`, idempotencyKey: `adj-${tag}-${i}`, occurredAt: time() });
    }
  }
  return commands;
}

function fakeIo(connection: SpannerConnection, stdinText = '') {
  return capturedIo(cliEnv(connection), stdinText);
}

async function allEvents(store: SpannerLedgerStore): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  let position = null;
  for (;;) {
    const page = await store.readAll(position, 1000);
    if (page.events.length === 0) return events;
    events.push(...page.events);
    position = page.position;
  }
}

/** Balances of the reference model (tests/model) after the commands, in the balance view's shape. */
function modelBalances(commands: readonly Command[]): Map<string, unknown> {
  const model = new ReferenceLedger({ bonusRateBps: 1000 });
  for (const command of commands) model.apply(JSON.stringify(command));
  return new Map([...model.balances()].map(([userId, balance]) => [userId, modelBalanceShape(balance, true)]));
}

function viewBalances(views: Map<ProjectionName, Map<string, string>>): Map<string, unknown> {
  return new Map(
    viewTextsOfKind(views.get('balances'), 'balance').map((text) => {
      const shape = balanceShape(balanceRowFromViewText(text));
      return [shape.userId, shape];
    }),
  );
}

async function readAccounts(connection: SpannerConnection): Promise<Map<string, string>> {
  const [rows] = await connection.database.run({ sql: `SELECT ${ACCOUNT_COLUMNS.join(', ')} FROM Accounts`, json: true, jsonOptions: { wrapNumbers: true } });
  return new Map((rows as unknown as Row[]).map((row) => {
    const account = accountFromRow(row);
    return [account.userId, JSON.stringify(account, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))];
  }));
}

describe('projections on the emulator', () => {
  let connection: SpannerConnection;
  let store: SpannerLedgerStore;
  let handler: CommandHandler;
  const users = Array.from({ length: 10 }, (_, i) => `pu${i}`);

  beforeAll(async () => {
    connection = await freshConnection('pj');
    store = new SpannerLedgerStore(connection);
    handler = new CommandHandler(store, { bonusRateBps: 1000, batchSize: 25 });
  });
  afterAll(async () => {
    await connection.close();
  });

  test('incremental views equal the log fold and a rebuild after ~200 random commands', async () => {
    const commands = randomCommands(SEED, 200, users, 'a');
    const outcomes: string[] = [];
    // Project incrementally between command batches, with small chunks (chunk boundaries mid-batch).
    for (let start = 0; start < commands.length; start += 50) {
      outcomes.push(...(await handler.handle(commands.slice(start, start + 50))).map((outcome) => outcome.status));
      await runProjector(connection, store, { chunkSize: 17 });
    }
    expect(outcomes).toContain('accepted');
    expect(outcomes).toContain('duplicate');
    const events = await allEvents(store);
    const types = new Set(events.map((event) => event.type));
    for (const type of ['TokenDeposited', 'DepositBonusGranted', 'InvoiceCharged', 'ChargeSettled', 'ChargeFailed', 'BalanceAdjusted']) expect(types).toContain(type);

    const incremental = await readActiveViews(connection);
    const expected = await expectedViews(store, users);
    expect(incremental.views).toEqual(expected);
    expect(viewBalances(incremental.views)).toEqual(modelBalances(commands));
    expect(incremental.views.get('transactions')!.size).toBeGreaterThan(100);

    const rebuildRun = fakeIo(connection);
    expect(await runCli(['projections', 'rebuild', '--json'], rebuildRun.io)).toBe(EXIT.ok);
    const report = JSON.parse(rebuildRun.out()) as { events: number; projections: { generation: number; previousGeneration: number }[] };
    expect(report.events).toBe(events.length);
    const rebuilt = await readActiveViews(connection);
    for (const name of PROJECTION_NAMES) expect(rebuilt.generations.get(name)).toBe(incremental.generations.get(name)! + 1);
    expect(rebuilt.views).toEqual(incremental.views);
    // The old generation's rows are gone.
    const [old] = await connection.database.run({ sql: 'SELECT COUNT(*) AS N FROM TransactionView WHERE Generation = @g', params: { g: String(incremental.generations.get('transactions')) }, types: { g: 'int64' }, json: true });
    expect(Number((old as unknown as { N: number }[])[0]!.N)).toBe(0);

    // Balance view equals the write side, row for row.
    const accounts = await readAccounts(connection);
    for (const [userId, accountText] of accounts) {
      const view = JSON.parse(rebuilt.views.get('balances')!.get(balanceKeyText(userId))!) as Record<string, unknown>;
      const account = JSON.parse(accountText) as Record<string, unknown>;
      expect({ ...view, lastEventAt: undefined, books: undefined }).toEqual({ ...account, lastEventAt: undefined, chainHead: undefined, latestCreditAt: undefined });
    }
  });

  test('verify detects a corrupted view row (exit 5) and a rebuild repairs it', async () => {
    const ok = fakeIo(connection);
    expect(await runCli(['projections', 'verify', '--json'], ok.io)).toBe(EXIT.ok);
    const { generations } = await readActiveViews(connection);
    await connection.database.table('BalanceView').update({ Generation: String(generations.get('balances')), UserId: users[3]!, BalanceMicroUsd: '123' });
    const bad = fakeIo(connection);
    expect(await runCli(['projections', 'verify', '--json', '--limit', '3'], bad.io)).toBe(EXIT.mismatch);
    const report = JSON.parse(bad.out()) as { ok: boolean; differences: { view: string; key: string }[] };
    expect(report.ok).toBe(false);
    expect(report.differences.some((difference) => difference.view === 'balances' && difference.key.includes(users[3]!))).toBe(true);

    expect(await runCli(['projections', 'rebuild', '--projection', 'balances', '--json'], fakeIo(connection).io)).toBe(EXIT.ok);
    const repaired = fakeIo(connection);
    expect(await runCli(['projections', 'verify'], repaired.io)).toBe(EXIT.ok);
    expect(repaired.out()).toContain('OK');
  });

  test('two concurrent projectors on separate connections apply every event exactly once', async () => {
    const before = (await allEvents(store)).length;
    await handler.handle(randomCommands(SEED + 1, 80, users, 'b'));
    const other = connect(connection.settings);
    try {
      const otherStore = new SpannerLedgerStore(other);
      const [a, b] = await Promise.all([
        runProjector(connection, store, { chunkSize: 10, pollMs: 20 }),
        runProjector(other, otherStore, { chunkSize: 10, pollMs: 20 }),
      ]);
      const events = await allEvents(store);
      const views = await readActiveViews(connection);
      expect(views.views).toEqual(await expectedViews(store, users));
      // EventsApplied counts what every transaction applied: equal to the log means no double apply.
      const [rows] = await connection.database.run({
        sql: 'SELECT g.Projection, CAST(g.EventsApplied AS STRING) AS Applied FROM ProjectionGenerations g JOIN Projections p ON p.Projection = g.Projection AND p.ActiveGeneration = g.Generation',
        json: true,
      });
      const applied = new Map((rows as unknown as { Projection: string; Applied: string }[]).map((row) => [row.Projection, Number(row.Applied)]));
      expect(applied.get('transactions')).toBe(events.length);
      // balances was rebuilt in the previous test; its counter covers every event as well.
      expect(applied.get('balances')).toBe(events.length);
      // The new events were applied once per projection in total, whichever projector did it.
      expect(events.length).toBeGreaterThan(before);
      expect(a.applied + b.applied).toBe(2 * (events.length - before));
    } finally {
      await other.close();
    }
  });

  test('transactions --json reflects a submit made just before (read-your-writes), newest first', async () => {
    const userId = 'ryw-user';
    const deposit = { type: 'deposit', userId, source: 'zksync', chainId: '324', txHash: `0x${'e1'.repeat(32)}`, logIndex: '0', blockNumber: '9', wallet: `0x${'ab'.repeat(20)}`, tokenValue: '5', amountMicroUsd: '10000000', occurredAt: '2026-02-01T00:00:00.000001Z' };
    const charge = { type: 'charge', userId, invoiceId: 'ryw-inv', amountMicroUsd: '2500000', occurredAt: '2026-02-01T00:00:00.000001Z', pending: true };
    const fail = { type: 'failCharge', userId, invoiceId: 'ryw-inv', occurredAt: '2026-02-02T00:00:00Z', reason: 'declined' };
    const submit = fakeIo(connection, [deposit, charge, fail].map((command) => JSON.stringify(command)).join('\n'));
    expect(await runCli(['submit'], submit.io)).toBe(EXIT.ok);
    const read = fakeIo(connection);
    expect(await runCli(['transactions', userId, '--json'], read.io)).toBe(EXIT.ok);
    const lines = read.out().trim().split('\n');
    expect(lines).toHaveLength(1);
    const body = JSON.parse(lines[0]!) as { userId: string; transactions: Record<string, unknown>[] };
    expect(body.userId).toBe(userId);
    // The charge and the deposit share occurredAt, so the stream version decides (charge v3,
    // bonus v2, deposit v1); the fail's refund is the latest row (v4, a day later).
    expect(body.transactions.map((row) => [row.source, row.status, row.amountMicroUsd, row.type])).toEqual([
      ['invoice', 'complete', '2500000', 'credit'],
      ['invoice', 'failed', '-2500000', 'debit'],
      ['bonus', 'complete', '1000000', 'credit'],
      ['zksync', 'complete', '10000000', 'credit'],
    ]);
    expect(body.transactions[1]!.metadata).toEqual({ invoiceId: 'ryw-inv', reason: 'declined', requestedMicroUsd: '2500000' });
    expect(body.transactions[3]!.occurredAt).toBe('2026-02-01T00:00:00.000001Z');
  });

  test('users whose IDs sort differently in UTF-16 and UTF-8 are projected, listed and verified (the reader no longer loops)', async () => {
    const names = ['𠮷田-1', 'ｽｽﾞｷ-2', '😀-3', 'ｚ-4', 'plain-5'];
    const lines = names.map((userId, n) => JSON.stringify({ type: 'deposit', userId, source: 'ethereum', chainId: '1', txHash: `0x${String(n + 1).repeat(64)}`, logIndex: '0', blockNumber: '1', wallet: `0x${'ab'.repeat(20)}`, tokenValue: '1', amountMicroUsd: String((n + 1) * 1_000_000), occurredAt: '2026-04-01T00:00:00Z' }));
    expect(await runCli(['submit'], fakeIo(connection, lines.join('\n')).io)).toBe(EXIT.ok);
    // The old reader returned the same event on every page here and never came back.
    const run = fakeIo(connection);
    const ran = runCli(['projections', 'run', '--json'], run.io);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([ran, new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 30_000)))]);
    clearTimeout(timer);
    expect(outcome).toBe(EXIT.ok);
    for (const [n, userId] of names.entries()) {
      const listed = fakeIo(connection);
      expect(await runCli(['transactions', userId, '--json', '--stale'], listed.io)).toBe(EXIT.ok);
      const body = JSON.parse(listed.out()) as { transactions: { source: string; amountMicroUsd: string }[] };
      expect(body.transactions.map((row) => [row.source, row.amountMicroUsd])).toEqual([
        ['bonus', String((n + 1) * 100_000)],
        ['ethereum', String((n + 1) * 1_000_000)],
      ]);
    }
    expect(await runCli(['projections', 'verify'], fakeIo(connection).io)).toBe(EXIT.ok);
  });

  test('export then import into an empty database gives identical balances and views; a second import adds nothing', async () => {
    const file = join(tmpdir(), `spanledger-export-${process.pid}-${Date.now()}.jsonl`);
    const target = await freshConnection('pi');
    try {
      expect(await runCli(['events', 'export', file], fakeIo(connection).io)).toBe(EXIT.ok);
      const sourceEvents = await allEvents(store);
      const lines = readFileSync(file, 'utf8').trim().split('\n').filter((line) => line.startsWith('{"eventId"'));
      expect(lines).toHaveLength(sourceEvents.length);
      expect(Object.keys(JSON.parse(lines[0]!) as object).sort()).toEqual(
        ['chainHash', 'committedAt', 'contentDigest', 'eventId', 'occurredAt', 'payload', 'postings', 'schemaVersion', 'streamId', 'streamVersion', 'type', 'userId'].sort(),
      );
      const first = fakeIo(target);
      expect(await runCli(['events', 'import', file, '--json'], first.io)).toBe(EXIT.ok);
      expect(JSON.parse(first.out())).toMatchObject({ appended: sourceEvents.length, duplicate: 0, conflicts: 0, invalid: 0 });
      expect(await readAccounts(target)).toEqual(await readAccounts(connection));
      await runProjector(connection, store);
      const targetViews = await readActiveViews(target);
      const sourceViews = await readActiveViews(connection);
      expect(withoutCommitTimes(targetViews.views)).toEqual(withoutCommitTimes(sourceViews.views));
      const sample = await readTransactions(target, users[0]!, 1000);
      expect([...sample.rows].sort(compareTransactions)).toEqual(sample.rows);
      expect(sample.rows).toEqual((await readTransactions(connection, users[0]!, 1000)).rows as TransactionRow[]);

      const second = fakeIo(target);
      expect(await runCli(['events', 'import', file, '--json'], second.io)).toBe(EXIT.ok);
      expect(JSON.parse(second.out())).toMatchObject({ appended: 0, duplicate: sourceEvents.length, conflicts: 0 });
      expect((await allEvents(new SpannerLedgerStore(target))).length).toBe(sourceEvents.length);
    } finally {
      rmSync(file, { force: true });
      await target.close();
    }
  });
});
