import { SpannerConnection } from '../../ledger/spanner/connection';
import { EXIT } from '../../commands/errors';
import { runCliCaptured } from '../support/cli';
import { depositWire, jsonLines } from '../support/commands';
import { cliEnv, freshConnection } from '../support/spanner';

/**
 * The books through the CLI on the emulator: `accounts` (now and --at), `balance --at` and
 * `--as-of`, `transactions --as-of`, on a Storj-shaped ledger (deposits on two chains with
 * the 10 % bonus, pending charges settled and failed, an adjustment, an invoice paid from
 * the token balance, and a deposit that arrives late with an early business time).
 */
jest.setTimeout(120_000);

const M = 1_000_000n;
const usd = (dollars: number) => String(BigInt(dollars) * M);
const ALICE = 'alice';
/** ':' and '%' in a user ID are escaped in account names. */
const BOB = 'bob:ops%';
const JOSE = 'José';

const deposit = (userId: string, n: number, dollars: number, source: 'ethereum' | 'zksync', occurredAt: string) =>
  depositWire(userId, n, usd(dollars), { source, chainId: source === 'ethereum' ? '1' : '324', occurredAt });
const charge = (userId: string, invoiceId: string, dollars: number, occurredAt: string) => ({ type: 'charge', userId, invoiceId, amountMicroUsd: usd(dollars), pending: true, occurredAt });

let connection: SpannerConnection;
let env: NodeJS.ProcessEnv;

async function cli(args: string[], input = '') {
  return runCliCaptured(args, env, input);
}

async function json<T>(args: string[]): Promise<T> {
  const run = await cli([...args, '--json']);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: EXIT.ok, stderr: '' });
  return JSON.parse(run.stdout) as T;
}

async function submit(commands: readonly unknown[]) {
  const run = await cli(['submit'], jsonLines(commands));
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: EXIT.ok, stderr: '' });
}

/** The commit timestamp of the newest event in the log (from `events export`). */
async function newestCommit(): Promise<string> {
  const run = await cli(['events', 'export']);
  const lines = run.stdout.trim().split('\n').filter((line) => line.startsWith('{"eventId"'));
  return (JSON.parse(lines[lines.length - 1]!) as { committedAt: string }).committedAt;
}

interface Books {
  at: string;
  accounts: { account: string; debitsMicroUsd: string; creditsMicroUsd: string; balanceMicroUsd: string }[];
  totalMicroUsd: string;
}
const balances = (books: Books) => Object.fromEntries(books.accounts.map((account) => [account.account, account.balanceMicroUsd]));

let firstCut: string;
let balancesAtFirstCut: Record<string, unknown>;

beforeAll(async () => {
  connection = await freshConnection('bk');
  env = cliEnv(connection, { SPANLEDGER_BONUS_BPS: '1000' });
  // First cut: two deposits, and what `balance` said right then.
  await submit([deposit(ALICE, 1, 100, 'ethereum', '2026-01-10T00:00:00Z'), deposit(BOB, 2, 20, 'zksync', '2026-01-11T00:00:00Z')]);
  firstCut = await newestCommit();
  balancesAtFirstCut = { [ALICE]: await json(['balance', ALICE]), [BOB]: await json(['balance', BOB]) };
  await submit([
    charge(ALICE, 'inv-a1', 30, '2026-01-20T00:00:00Z'),
    { type: 'settleCharge', userId: ALICE, invoiceId: 'inv-a1', occurredAt: '2026-01-25T00:00:00Z' },
    charge(BOB, 'inv-b1', 5, '2026-01-21T00:00:00Z'),
    { type: 'failCharge', userId: BOB, invoiceId: 'inv-b1', reason: 'card declined', occurredAt: '2026-01-26T00:00:00Z' },
    { type: 'adjust', userId: ALICE, amountMicroUsd: `-${usd(4)}`, reason: 'correction', idempotencyKey: 'adj-1', occurredAt: '2026-01-27T00:00:00Z' },
    charge(BOB, 'inv-b2', 7, '2026-01-28T00:00:00Z'),
    { type: 'openInvoice', userId: JOSE, invoiceId: 'inv-j1', amountMicroUsd: usd(15), occurredAt: '2026-01-05T00:00:00Z' },
    deposit(JOSE, 3, 10, 'zksync', '2026-01-06T00:00:00Z'),
  ]);
  // Arrives last, happened first: committed now, occurred on January 5th.
  await submit([deposit(ALICE, 4, 50, 'ethereum', '2026-01-05T00:00:00Z')]);
});
afterAll(async () => {
  await connection?.close();
});

describe('accounts: the books at one cut', () => {
  test('every account of the chart, each credits − debits, summing to zero', async () => {
    const books = await json<Books>(['accounts']);
    expect(books.totalMicroUsd).toBe('0');
    expect(books.at).toBe(await newestCommit());
    expect(balances(books)).toEqual({
      'chain:ethereum:1': `-${usd(150)}`,
      'chain:zksync:324': `-${usd(30)}`,
      'equity:adjustments': usd(4),
      // Bonuses on 100, 20, 10 and 50.
      'expense:bonus': `-${usd(18)}`,
      // The settled charge, and the invoice payment from José's 10 + 1 bonus.
      'revenue:invoices': usd(41),
      'user:José': '0',
      'user:alice': usd(131),
      'user:alice:pending': '0',
      'user:bob%3Aops%25': usd(15),
      'user:bob%3Aops%25:pending': usd(7),
    });
    // System accounts first by name, then users by user ID (UTF-8 order: J < a < b).
    expect(books.accounts.map((account) => account.account)).toEqual(Object.keys(balances(books)));
    const alice = books.accounts.find((account) => account.account === 'user:alice')!;
    expect(alice).toEqual({ account: 'user:alice', debitsMicroUsd: usd(34), creditsMicroUsd: usd(165), balanceMicroUsd: usd(131) });
  });

  test('each user account equals the write-side balance, and the pending account the pending charges', async () => {
    const books = balances(await json<Books>(['accounts', '--prefix', 'user:']));
    for (const [userId, name] of [[ALICE, 'user:alice'], [BOB, 'user:bob%3Aops%25'], [JOSE, 'user:José']] as const) {
      const balance = await json<Record<string, string>>(['balance', userId]);
      expect(books[name]).toBe(balance.balanceMicroUsd);
      // balance --json signs a hold by its effect on the balance; the pending account holds it.
      expect(books[`${name}:pending`] ?? '0').toBe((-BigInt(balance.pendingMicroUsd!)).toString());
    }
  });

  test('balance --json signs every part by its effect on the balance: the parts add up to it', async () => {
    for (const userId of [ALICE, BOB, JOSE]) {
      const balance = await json<Record<string, string>>(['balance', userId]);
      const parts = ['depositsMicroUsd', 'bonusesMicroUsd', 'chargesMicroUsd', 'pendingMicroUsd', 'adjustmentsMicroUsd'].reduce((sum, field) => sum + BigInt(balance[field]!), 0n);
      expect({ userId, parts: parts.toString() }).toEqual({ userId, parts: balance.balanceMicroUsd });
    }
    expect(await json(['balance', BOB])).toMatchObject({ chargesMicroUsd: '0', pendingMicroUsd: `-${usd(7)}` });
  });

  test('--prefix narrows to system or to one user (escaped), and totals what it lists', async () => {
    const chains = await json<Books>(['accounts', '--prefix', 'chain:']);
    expect(chains.accounts.map((account) => account.account)).toEqual(['chain:ethereum:1', 'chain:zksync:324']);
    expect(chains.totalMicroUsd).toBe(`-${usd(180)}`);
    const bob = await json<Books>(['accounts', '--prefix', 'user:bob%3A']);
    expect(bob.accounts.map((account) => account.account)).toEqual(['user:bob%3Aops%25', 'user:bob%3Aops%25:pending']);
  });

  test('--at a past commit timestamp: the books as they were then', async () => {
    const books = await json<Books>(['accounts', '--at', firstCut]);
    expect(books.at).toBe(firstCut);
    expect(balances(books)).toEqual({
      'chain:ethereum:1': `-${usd(100)}`,
      'chain:zksync:324': `-${usd(20)}`,
      'expense:bonus': `-${usd(12)}`,
      'user:alice': usd(110),
      'user:bob%3Aops%25': usd(22),
    });
    expect(books.totalMicroUsd).toBe('0');
  });

  test('the table for people ends with the count and the total', async () => {
    const run = await cli(['accounts', '--prefix', 'revenue:']);
    expect(run.code).toBe(EXIT.ok);
    expect(run.stdout).toMatch(/revenue:invoices\s+\$0\.000000\s+\$41\.000000\s+\$41\.000000/);
    expect(run.stdout.trim().split('\n').pop()).toBe('1 account(s); total $41.000000');
  });
});

describe('balances on both axes of time', () => {
  test('balance --at the first cut prints exactly what balance printed then', async () => {
    for (const userId of [ALICE, BOB]) expect(await json(['balance', userId, '--at', firstCut])).toEqual(balancesAtFirstCut[userId]);
  });

  test('balance --at before anything was committed is an empty account', async () => {
    const before = new Date(Date.parse(firstCut) - 3_600_000).toISOString();
    expect(await json(['balance', ALICE, '--at', before])).toMatchObject({ balanceMicroUsd: '0', version: 0 });
  });

  test('balance --as-of counts what occurred by then, including the deposit committed last', async () => {
    // Only the late deposit (Jan 5) and its bonus occurred before Jan 10.
    expect(await json(['balance', ALICE, '--as-of', '2026-01-09T23:59:59Z'])).toMatchObject({ balanceMicroUsd: usd(55), depositsMicroUsd: usd(50), bonusesMicroUsd: usd(5), version: 2 });
    // By Jan 22 the charge is held: 55 + 110 - 30.
    expect(await json(['balance', ALICE, '--as-of', '2026-01-22T00:00:00Z'])).toMatchObject({ balanceMicroUsd: usd(135), pendingMicroUsd: `-${usd(30)}`, chargesMicroUsd: '0', version: 5 });
    // In a later month (the January row summed whole) it is the balance now.
    expect(await json(['balance', ALICE, '--as-of', '2026-02-15T00:00:00Z'])).toEqual(await json(['balance', ALICE]));
    expect(await json(['balance', ALICE, '--as-of', '2025-12-31T23:59:59.999999Z'])).toMatchObject({ balanceMicroUsd: '0', version: 0 });
  });

  test('transactions --as-of lists what occurred by then, each with the status it had', async () => {
    const page = await json<{ transactions: { source: string; status: string; amountMicroUsd: string; occurredAt: string }[] }>(['transactions', ALICE, '--as-of', '2026-01-22T00:00:00Z']);
    expect(page.transactions.map((row) => [row.source, row.status, row.amountMicroUsd])).toEqual([
      ['invoice', 'pending', `-${usd(30)}`],
      ['bonus', 'complete', usd(10)],
      ['ethereum', 'complete', usd(100)],
      ['bonus', 'complete', usd(5)],
      ['ethereum', 'complete', usd(50)],
    ]);
    const now = await json<{ transactions: { source: string; status: string }[] }>(['transactions', ALICE]);
    expect(now.transactions.find((row) => row.source === 'invoice')!.status).toBe('complete');
  });

  test('bad times are refused with exit 2, naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['balance', ALICE, '--at', 'yesterday'], /--at "yesterday" is not an RFC 3339 timestamp/],
      [['balance', ALICE, '--as-of', '2026-13-01T00:00:00Z'], /--as-of "2026-13-01T00:00:00Z" is not a business time/],
      [['balance', ALICE, '--at', '2999-01-01T00:00:00Z'], /--at 2999-01-01T00:00:00\.000000000Z is after now/],
      [['balance', ALICE, '--at', firstCut, '--as-of', '2026-01-01T00:00:00Z'], /--at \(commit time\) or --as-of \(business time\), not both/],
      [['accounts', '--at', '2026-01-01'], /--at "2026-01-01" is not an RFC 3339 timestamp/],
      [['transactions', ALICE, '--as-of', 'soon'], /--as-of "soon" is not a business time/],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args);
      expect({ args, code: run.code }).toEqual({ args, code: EXIT.invalid });
      expect(run.stderr).toMatch(message);
    }
  });

  test('--at past what a stale view has applied is refused, not answered from it', async () => {
    await submit([deposit(ALICE, 5, 1, 'ethereum', '2026-02-01T00:00:00Z')]);
    const now = await newestCommit();
    const run = await cli(['balance', ALICE, '--at', now, '--stale']);
    expect(run.code).toBe(EXIT.failure);
    expect(run.stderr).toMatch(/has applied the log up to .*, not yet up to --at/);
    // Caught up (no --stale), the same question is answered.
    expect(await json(['balance', ALICE, '--at', now])).toEqual(await json(['balance', ALICE]));
  });
});
