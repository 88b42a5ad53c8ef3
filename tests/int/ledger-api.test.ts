import { CursorError, LedgerInputError, LedgerSchemaError, LedgerSettingsError, openLedger, Ledger, OutageError, SubmitIncompleteError } from '../../index';
import { startFaultProxy } from '../support/fault-proxy';
import { MIGRATIONS } from '../../app/schema';
import { connect, settingsFromEnv } from '../../ledger/spanner/connection';
import { migrate } from '../../ledger/spanner/migrate';
import { adjustWire, chargeWire, depositWire } from '../support/commands';
import { emulatorHost, freshConnection, freshDatabaseId } from '../support/spanner';

/**
 * The library API as a billing service uses it: openLedger() on a migrated database, the
 * outcomes of submit, the reads, and the typed errors it throws instead of exit codes.
 */
jest.setTimeout(120_000);

let ledger: Ledger;
let databaseId: string;
const target = () => ({ emulatorHost: emulatorHost(), databaseId, env: {} });

beforeAll(async () => {
  const connection = await freshConnection('api');
  databaseId = connection.settings.databaseId;
  await connection.close();
  ledger = await openLedger(target());
});

afterAll(async () => {
  await ledger.close();
});

test('submit returns one outcome per command: accepted, duplicate with the same event IDs, an idempotency conflict, invalid naming the field, rejected', async () => {
  const deposit = depositWire('api-alice', 1, '50000000');
  const outcomes = await ledger.submit([
    deposit,
    JSON.stringify(deposit),
    { ...deposit, amountMicroUsd: '51000000' },
    { ...adjustWire('api-alice', 'k-1', '1'), occurredAt: 'yesterday' },
    chargeWire('api-alice', 'inv-1', '999000000'),
  ]);
  expect(outcomes.map((outcome) => outcome.status)).toEqual(['accepted', 'duplicate', 'rejected', 'invalid', 'rejected']);
  expect(outcomes[2]!.code).toBe('IDEMPOTENCY_CONFLICT');
  expect(outcomes[0]!.eventIds.length).toBe(2); // the deposit and its bonus
  expect(outcomes[1]!.eventIds).toEqual(outcomes[0]!.eventIds);
  expect(outcomes[3]!.message).toContain('occurredAt');
  expect(outcomes[4]!.code).toBe('INSUFFICIENT_FUNDS');

  const balance = await ledger.balance('api-alice');
  expect(balance).toMatchObject({ balanceMicroUsd: '55000000', depositsMicroUsd: '50000000', bonusesMicroUsd: '5000000', exists: true, version: 2 });
  const parts = [balance.depositsMicroUsd, balance.bonusesMicroUsd, balance.chargesMicroUsd, balance.pendingMicroUsd, balance.adjustmentsMicroUsd].map(BigInt);
  expect(parts.reduce((a, b) => a + b)).toBe(BigInt(balance.balanceMicroUsd));
  expect(await ledger.balance('api-nobody')).toMatchObject({ balanceMicroUsd: '0', exists: false, version: 0 });
});

test('a dry run gives the outcomes a real submit would and writes nothing', async () => {
  const commands = [depositWire('api-dry', 1, '10000000'), chargeWire('api-dry', 'inv-dry', '4000000')];
  const dry = await ledger.submit(commands, { dryRun: true });
  expect(dry.map((outcome) => [outcome.status, outcome.dryRun])).toEqual([
    ['accepted', true],
    ['accepted', true],
  ]);
  expect(await ledger.balance('api-dry')).toMatchObject({ exists: false, balanceMicroUsd: '0' });
  const real = await ledger.submit(commands);
  expect(real.map((outcome) => outcome.status)).toEqual(['accepted', 'accepted']);
  expect(real.map((outcome) => outcome.eventIds)).toEqual(dry.map((outcome) => outcome.eventIds));
  expect(await ledger.balance('api-dry')).toMatchObject({ balanceMicroUsd: '7000000' });
});

test('transactions page with next cursors that cover every row once; a cursor it did not print is a CursorError', async () => {
  await ledger.submit([2, 3, 4, 5].map((n) => depositWire('api-pages', n, '1000000')));
  const all = (await ledger.transactions('api-pages')).transactions.map((row) => row.eventId);
  expect(all.length).toBe(8);
  const paged: unknown[] = [];
  let after: string | undefined;
  for (let page = 0; page < 10; page++) {
    const report = await ledger.transactions('api-pages', { limit: 3, after });
    paged.push(...report.transactions.map((row) => row.eventId));
    after = report.next;
    if (!after) break;
  }
  expect(paged).toEqual(all);
  await expect(ledger.transactions('api-pages', { after: 'bm90LWEtY3Vyc29y' })).rejects.toBeInstanceOf(CursorError);
  // The library names its own options, never the CLI's flags.
  await expect(ledger.transactions('api-pages', { after: 'bm90LWEtY3Vyc29y' })).rejects.toThrow(/^`after` "bm90LWEtY3Vyc29y" is not a cursor/);
  await expect(ledger.transactions('api-pages', { since: 'last tuesday' })).rejects.toThrow(/^`since` "last tuesday" is not a business time/);
  await expect(ledger.balance('api-pages', { at: '2026-01-01T00:00:00Z', asOf: '2026-01-01T00:00:00Z' })).rejects.toBeInstanceOf(LedgerInputError);
  await expect(ledger.balance('api-pages', { at: '2026-01-01T00:00:00Z', asOf: '2026-01-01T00:00:00Z' })).rejects.toThrow('give `at` (commit time) or `asOf` (business time), not both');
  await expect(ledger.balance('api-pages', { at: '3026-01-01T00:00:00Z' })).rejects.not.toThrow(/--/);
});

test('the books sum to zero and the audit finds nothing', async () => {
  const books = await ledger.accounts();
  expect(books.totalMicroUsd).toBe('0');
  expect(books.accounts.find((account) => account.account === 'user:api-alice')?.balanceMicroUsd).toBe('55000000');
  const report = await ledger.audit();
  expect(report.findings).toEqual([]);
  expect(report.ok).toBe(true);
  expect(report.events).toBeGreaterThan(0);
});

test('openLedger refuses a missing database and one that lacks migrations, naming what to run', async () => {
  const missing = freshDatabaseId('nope');
  await expect(openLedger({ emulatorHost: emulatorHost(), databaseId: missing, env: {} })).rejects.toThrow(new LedgerSchemaError(`database ${missing} does not exist: create it with \`spanledger db migrate --database ${missing}\``));

  const partial = connect(settingsFromEnv({}, { emulatorHost: emulatorHost(), databaseId: freshDatabaseId('part') }));
  await migrate(partial, MIGRATIONS.slice(0, 1));
  try {
    const lacking = MIGRATIONS.slice(1).map((migration) => migration.version);
    await expect(openLedger({ emulatorHost: emulatorHost(), databaseId: partial.settings.databaseId, env: {} })).rejects.toThrow(`lacks migrations ${lacking.join(', ')}`);
  } finally {
    await partial.close();
  }
});

test('a bad setting is a LedgerSettingsError naming it, before any connection', async () => {
  await expect(openLedger({ ...target(), bonusRateBps: -5 })).rejects.toThrow(LedgerSettingsError);
  await expect(openLedger({ ...target(), bonusRateBps: -5 })).rejects.toThrow(/bonusRateBps/);
  await expect(openLedger({ ...target(), env: { SPANLEDGER_BALANCE_THRESHOLDS_MICRO_USD: '10,x' } })).rejects.toThrow(/SPANLEDGER_BALANCE_THRESHOLDS_MICRO_USD/);
});

test('Spanner away past deadlineMs: submit throws SubmitIncompleteError saying what was not applied, reads throw OutageError; outages are reported', async () => {
  const proxy = await startFaultProxy(emulatorHost());
  const heard: string[] = [];
  const flaky = await openLedger({ ...target(), emulatorHost: proxy.host, deadlineMs: 1_500, onOutage: { onDown: () => heard.push('down'), onUp: () => heard.push('up') } });
  try {
    const partition = proxy.partitionFor(30_000);
    const commands = [1, 2, 3].map((n) => depositWire('api-outage', 100 + n, '1000000'));
    const error = (await flaky.submit(commands).catch((caught: unknown) => caught)) as SubmitIncompleteError;
    expect(error).toBeInstanceOf(SubmitIncompleteError);
    expect(error.outcomes).toEqual([]);
    expect([...error.uncertain, ...error.notApplied].sort()).toEqual([0, 1, 2]);
    await expect(flaky.balance('api-outage')).rejects.toBeInstanceOf(OutageError);
    expect(heard[0]).toBe('down');
    await proxy.endPartition();
    await partition;
    // The same list again (here past the proxy) applies what had not been, and nothing twice.
    const outcomes = await ledger.submit(commands);
    expect(outcomes.every((outcome) => outcome.status === 'accepted' || outcome.status === 'duplicate')).toBe(true);
    expect((await ledger.balance('api-outage')).balanceMicroUsd).toBe('3300000');
  } finally {
    await flaky.close();
    await proxy.close();
  }
});
