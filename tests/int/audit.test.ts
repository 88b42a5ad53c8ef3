import { audit } from '../../app/audit/audit';
import { migrateAll } from '../../app/migrate';
import { EXIT } from '../../commands/errors';
import { CommandHandler } from '../../ledger/core/handler';
import { accountStreamId } from '../../ledger/core/ids';
import { pendingAccount, postingsOf, PostingRule, SYSTEM_ACCOUNTS, userAccount } from '../../ledger/core/postings';
import { digestOf } from '../../ledger/core/store';
import { Row } from '../../ledger/spanner/codec';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { runProjector } from '../../projections/spanner/runtime';
import { runCliCaptured } from '../support/cli';
import { adjustWire, chargeWire, depositWire, failWire, settleWire } from '../support/commands';
import { loadSchemaV20, schemaV20Tables } from '../support/schema-v20';
import { cliEnv, freshConnection } from '../support/spanner';

/**
 * The audit on the emulator: a clean ledger passes; an UPDATE of a payload, a deleted event
 * and two events with swapped contents, each made directly in Spanner, are named at the
 * first broken link; a posting rule broken on purpose is caught; a database written by
 * schema version 20 migrates and audits clean. (Tampered export files:
 * import-refusals.test.ts; the write-side rows: audit-write-side.test.ts.)
 */
jest.setTimeout(180_000);

interface AuditJson {
  ok: boolean;
  events: number;
  findingCount: number;
  findings: { check: string; eventId?: string; streamId?: string; detail: string }[];
}

const USERS = ['au-1', 'au-2', 'au-é'];

function ledgerCommands(): string[] {
  const [a, b, c] = USERS as [string, string, string];
  return [
    depositWire(a, 1, '10000000'),
    depositWire(b, 2, '20000000'),
    depositWire(c, 3, '5000000'),
    chargeWire(a, 'au-inv-1', '3000000', { pending: true }),
    settleWire(a, 'au-inv-1'),
    chargeWire(b, 'au-inv-2', '4000000', { pending: true }),
    failWire(b, 'au-inv-2'),
    adjustWire(c, 'au-adj-1', '-1000000'),
    { type: 'openInvoice', userId: c, invoiceId: 'au-open-1', amountMicroUsd: '9000000', occurredAt: '2026-03-05T00:00:00Z' },
    depositWire(a, 4, '7000000'),
    depositWire(c, 5, '6000000'),
  ].map((command) => JSON.stringify(command));
}

let connection: SpannerConnection;
let store: SpannerLedgerStore;

async function auditJson(target: SpannerConnection = connection): Promise<{ code: number | null; report: AuditJson }> {
  const run = await runCliCaptured(['audit', '--json'], cliEnv(target));
  expect(run.stderr).toBe('');
  return { code: run.code, report: JSON.parse(run.stdout) as AuditJson };
}

async function streamRows(userId: string): Promise<Row[]> {
  const [rows] = await connection.database.run({
    sql: 'SELECT EventId, StreamId, StreamVersion, Shard, EventType, SchemaVersion, OccurredAt, Payload, ContentDigest, CommittedAt, ChainHash FROM Events WHERE StreamId = @s ORDER BY StreamVersion',
    params: { s: accountStreamId(userId) },
    json: true,
    jsonOptions: { wrapNumbers: false },
  });
  return rows as Row[];
}

/** Tampers with the database directly, audits, and puts every row back as it was. */
async function tampered(change: () => Promise<unknown>, restore: () => Promise<unknown>): Promise<AuditJson> {
  await change();
  try {
    const { code, report } = await auditJson();
    expect(code).toBe(EXIT.mismatch);
    expect(report.ok).toBe(false);
    return report;
  } finally {
    await restore();
    expect((await auditJson()).code).toBe(EXIT.ok);
  }
}

const eventsTable = () => connection.database.table('Events');
const rowForWrite = (row: Row) => ({ ...row, StreamVersion: String(row.StreamVersion), Shard: String(row.Shard), SchemaVersion: String(row.SchemaVersion) });

beforeAll(async () => {
  connection = await freshConnection('au');
  store = new SpannerLedgerStore(connection);
  const outcomes = await new CommandHandler(store, { bonusRateBps: 1000 }).handleTexts(ledgerCommands());
  expect(outcomes.map((outcome) => outcome.status)).not.toContain('rejected');
  await runProjector(connection, store);
});
afterAll(async () => {
  await connection?.close();
});

describe('audit', () => {
  test('a clean ledger passes every check (exit 0)', async () => {
    const { code, report } = await auditJson();
    expect(code).toBe(EXIT.ok);
    expect(report).toMatchObject({ ok: true, findingCount: 0, findings: [] });
    expect(report.events).toBeGreaterThan(ledgerCommands().length);
    const run = await runCliCaptured(['audit'], cliEnv(connection));
    expect(run.stdout).toMatch(/OK: nothing found/);
  });

  test('an UPDATE of one payload is named at that event', async () => {
    const [first, second] = await streamRows(USERS[0]!);
    const payload = JSON.parse(String(second!.Payload)) as Record<string, unknown>;
    const report = await tampered(
      () => eventsTable().update([{ EventId: second!.EventId, Payload: JSON.stringify({ ...payload, amountMicroUsd: '9999999' }) }]),
      () => eventsTable().update([{ EventId: second!.EventId, Payload: second!.Payload }]),
    );
    const chain = report.findings.filter((finding) => finding.check === 'chain');
    expect(chain).toEqual([expect.objectContaining({ eventId: second!.EventId, streamId: accountStreamId(USERS[0]!), detail: expect.stringMatching(/no longer matches its digest/) })]);
    expect(report.findings.some((finding) => finding.eventId === first!.EventId)).toBe(false);
  });

  test('an UPDATE of the payload and its digest together is caught by the chain', async () => {
    const rows = await streamRows(USERS[1]!);
    const target = rows[0]!;
    const event = (await store.readStream(accountStreamId(USERS[1]!)))[0]!;
    const edited = { ...event, payload: { ...event.payload, amountMicroUsd: '1' } } as typeof event;
    const report = await tampered(
      () => eventsTable().update([{ EventId: target.EventId, Payload: JSON.stringify(edited.payload), ContentDigest: digestOf(edited) }]),
      () => eventsTable().update([{ EventId: target.EventId, Payload: target.Payload, ContentDigest: target.ContentDigest }]),
    );
    expect(report.findings.find((finding) => finding.check === 'chain')).toMatchObject({ eventId: target.EventId, detail: expect.stringMatching(/chain hash does not follow/) });
  });

  test('a deleted event is named at the first broken link: the event after it, or the head', async () => {
    const rows = await streamRows(USERS[0]!);
    const middle = rows[1]!;
    const report = await tampered(
      () => eventsTable().deleteRows([String(middle.EventId)]),
      () => eventsTable().insert([rowForWrite(middle)]),
    );
    expect(report.findings.find((finding) => finding.check === 'chain')).toMatchObject({ eventId: rows[2]!.EventId, detail: expect.stringMatching(/stream version 3 where 2 belongs/) });

    const last = rows[rows.length - 1]!;
    const tail = await tampered(
      () => eventsTable().deleteRows([String(last.EventId)]),
      () => eventsTable().insert([rowForWrite(last)]),
    );
    expect(tail.findings.find((finding) => finding.check === 'chain')).toMatchObject({ streamId: accountStreamId(USERS[0]!), detail: expect.stringMatching(/ends at version .* but its account's head/) });
  });

  test('two events with swapped contents are named at the first of them', async () => {
    const rows = await streamRows(USERS[2]!);
    const [x, y] = [rows[0]!, rows[1]!];
    const content = (row: Row) => ({ EventType: row.EventType, SchemaVersion: String(row.SchemaVersion), Payload: row.Payload, ContentDigest: row.ContentDigest, ChainHash: row.ChainHash });
    const report = await tampered(
      () => eventsTable().update([{ EventId: x.EventId, ...content(y) }, { EventId: y.EventId, ...content(x) }]),
      () => eventsTable().update([{ EventId: x.EventId, ...content(x) }, { EventId: y.EventId, ...content(y) }]),
    );
    expect(report.findings.find((finding) => finding.check === 'chain')).toMatchObject({ eventId: x.EventId, streamId: accountStreamId(USERS[2]!) });
  });

  test('a posting rule broken on purpose is caught (and the ledger\'s own rule is clean)', async () => {
    // The bug: bonuses credited to the user's pending account instead of the user.
    const broken: PostingRule = (event) =>
      event.type === 'DepositBonusGranted' ? [{ debit: SYSTEM_ACCOUNTS.bonus, credit: pendingAccount(event.payload.userId), amountMicroUsd: BigInt(event.payload.amountMicroUsd) }] : postingsOf(event);
    const report = await audit(connection, store, { postingRule: broken });
    expect(report.ok).toBe(false);
    const bonuses = (await store.readStream(accountStreamId(USERS[0]!))).filter((event) => event.type === 'DepositBonusGranted');
    const postings = report.findings.filter((finding) => finding.check === 'postings');
    for (const bonus of bonuses) expect(postings).toContainEqual(expect.objectContaining({ eventId: bonus.eventId, detail: expect.stringContaining(`${userAccount(USERS[0]!)} moves 0`) }));
    expect(report.findings.some((finding) => finding.check === 'accounts' && finding.detail.startsWith(`${userAccount(USERS[0]!)} sums its postings`))).toBe(true);
    expect((await audit(connection, store)).ok).toBe(true);
  });

  test('a system account edited in its view is a books finding; a rebuild clears it', async () => {
    const [rows] = await connection.database.run({ sql: 'SELECT ActiveGeneration AS Generation FROM Projections WHERE Projection = "balances"', json: true, jsonOptions: { wrapNumbers: false } });
    const generation = String((rows as { Generation: number }[])[0]!.Generation);
    await connection.database.table('SystemAccountsView').update([{ Generation: generation, Account: SYSTEM_ACCOUNTS.revenue, CreditsMicroUsd: '1' }]);
    const { code, report } = await auditJson();
    expect(code).toBe(EXIT.mismatch);
    expect(report.findings).toContainEqual(expect.objectContaining({ check: 'books', detail: expect.stringContaining('revenue:invoices is') }));
    expect((await runCliCaptured(['projections', 'rebuild', '--projection', 'balances'], cliEnv(connection))).code).toBe(EXIT.ok);
    expect((await auditJson()).code).toBe(EXIT.ok);
  });
});

describe('upgrade from schema version 20', () => {
  test('a database written by the old code migrates, keeps every event as it was, and audits clean', async () => {
    const old = await loadSchemaV20();
    try {
      const oldStore = new SpannerLedgerStore(old);
      const fixtureEvents = schemaV20Tables().Events!.rows;
      const report = await migrateAll(old, oldStore);
      expect(report.applied).toEqual(expect.arrayContaining([3, 4, 13]));
      expect(report.rebuilt.sort()).toEqual(['balances', 'transactions']);
      // Content never rewritten: payloads and digests as the old code wrote them.
      const [rows] = await old.database.run({ sql: 'SELECT EventId, Payload, ContentDigest, ChainHash FROM Events', json: true });
      const stored = new Map((rows as { EventId: string; Payload: string; ContentDigest: string; ChainHash: string | null }[]).map((row) => [row.EventId, row]));
      expect(stored.size).toBe(fixtureEvents.length);
      for (const event of fixtureEvents) {
        expect(stored.get(String(event.EventId))).toMatchObject({ Payload: event.Payload, ContentDigest: event.ContentDigest, ChainHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      }
      const { code, report: audited } = await auditJson(old);
      expect(audited.findings).toEqual([]);
      expect(code).toBe(EXIT.ok);
      expect(audited.events).toBe(fixtureEvents.length);
      // Once migrated it stays so; the books of the old log sum to zero.
      expect((await migrateAll(old, oldStore)).applied).toEqual([]);
      const books = JSON.parse((await runCliCaptured(['accounts', '--json'], cliEnv(old))).stdout) as { totalMicroUsd: string; accounts: unknown[] };
      expect(books.totalMicroUsd).toBe('0');
      expect(books.accounts.length).toBeGreaterThan(schemaV20Tables().Accounts!.rows.length);
    } finally {
      await old.close();
    }
  });
});
