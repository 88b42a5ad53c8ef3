import { EXIT } from '../../commands/errors';
import { CommandHandler } from '../../ledger/core/handler';
import { accountStreamId, eventIds } from '../../ledger/core/ids';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { runProjector } from '../../projections/spanner/runtime';
import { runCliCaptured } from '../support/cli';
import { adjustWire, chargeWire, settleWire } from '../support/commands';
import { cliEnv, freshConnection } from '../support/spanner';

/**
 * The audit covers every row a decision reads, not only Accounts: Charges (settle and fail
 * trust it), Invoices and the index of open invoices (voids and every payment trust them),
 * and an event's ID (a replay looks for it). Each tampering is made directly through the
 * Spanner client, as an attacker or a careless operator would, then undone; the audit must
 * find it (exit 5, naming the row and the event) and be clean again afterwards. The last
 * block lets the tampering pay out (a refund of a completed charge, a void refunding more
 * than was paid, a deposit accepted twice) and tampers before the views caught up.
 */
jest.setTimeout(180_000);

interface Finding {
  check: string;
  eventId?: string;
  streamId?: string;
  detail: string;
}
interface AuditJson {
  ok: boolean;
  findingCount: number;
  findings: Finding[];
  checked: Record<string, number>;
}

type Cells = Record<string, unknown>;

const C = 'ws-c';
const I = 'ws-i';
const at = (day: number) => `2026-03-${String(day).padStart(2, '0')}T00:00:00Z`;

/** Charges (one completed by a settle, one pending) and invoices (one part-paid, one unpaid). */
function commands(prefix: string): string[] {
  return [
    { ...adjustWire(`${prefix}${C}`, `${prefix}fund-c`, '100000000'), occurredAt: at(1) },
    { ...chargeWire(`${prefix}${C}`, `${prefix}c-1`, '30000000', { pending: true }), occurredAt: at(2) },
    { ...settleWire(`${prefix}${C}`, `${prefix}c-1`, { reference: 'card-4242' }), occurredAt: at(3) },
    { ...chargeWire(`${prefix}${C}`, `${prefix}c-2`, '10000000', { pending: true }), occurredAt: at(4) },
    { ...adjustWire(`${prefix}${I}`, `${prefix}fund-i`, '20000000'), occurredAt: at(1) },
    { type: 'openInvoice', userId: `${prefix}${I}`, invoiceId: `${prefix}i-1`, amountMicroUsd: '75000000', occurredAt: at(5) },
    { type: 'openInvoice', userId: `${prefix}${I}`, invoiceId: `${prefix}i-2`, amountMicroUsd: '5000000', occurredAt: at(6) },
  ].map((command) => JSON.stringify(command));
}

async function setUp(prefix: string): Promise<{ connection: SpannerConnection; store: SpannerLedgerStore }> {
  const connection = await freshConnection('aw');
  const store = new SpannerLedgerStore(connection);
  const outcomes = await new CommandHandler(store, { bonusRateBps: 0 }).handleTexts(commands(prefix));
  expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(7).fill('accepted'));
  await runProjector(connection, store);
  return { connection, store };
}

async function auditJson(connection: SpannerConnection): Promise<{ code: number | null; report: AuditJson }> {
  const run = await runCliCaptured(['audit', '--json'], cliEnv(connection));
  expect(run.stderr).toBe('');
  return { code: run.code, report: JSON.parse(run.stdout) as AuditJson };
}

/** One row as stored, every cell as the text Spanner takes back. */
async function row(connection: SpannerConnection, table: string, where: string, params: Record<string, string>): Promise<Cells> {
  const [rows] = await connection.database.run({ sql: `SELECT * FROM ${table} WHERE ${where}`, params, json: true, jsonOptions: { wrapNumbers: true } });
  const found = (rows as Cells[])[0];
  if (!found) throw new Error(`no ${table} row where ${where}`);
  return Object.fromEntries(Object.entries(found).map(([column, value]) => [column, value !== null && typeof value === 'object' && 'value' in value ? String((value as { value: unknown }).value) : value]));
}

async function submit(connection: SpannerConnection, lines: readonly unknown[], env: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>[]> {
  const run = await runCliCaptured(['submit', '-'], cliEnv(connection, env), lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
  if (run.stdout.trim() === '') throw new Error(`submit printed nothing (exit ${run.code}): ${run.stderr}`);
  return run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('every write-side row a decision reads is audited against the log', () => {
  let connection: SpannerConnection;

  beforeAll(async () => {
    ({ connection } = await setUp(''));
  });
  afterAll(async () => {
    await connection?.close();
  });

  /** Tampers, audits (exit 5), restores, and checks the audit is clean again. */
  async function tampered(change: () => Promise<unknown>, restore: () => Promise<unknown>): Promise<Finding[]> {
    await change();
    try {
      const { code, report } = await auditJson(connection);
      expect(code).toBe(EXIT.mismatch);
      return report.findings;
    } finally {
      await restore();
      expect((await auditJson(connection)).code).toBe(EXIT.ok);
    }
  }

  test('an honest ledger: clean, with every Charges and Invoices row compared', async () => {
    const { code, report } = await auditJson(connection);
    expect(report.findings).toEqual([]);
    expect(code).toBe(EXIT.ok);
    expect(report.checked).toMatchObject({ accounts: 2, 'charge-rows': 2, 'invoice-rows': 2 });
  });

  test('a completed charge edited back to pending is named, with the settle that completed it', async () => {
    const charges = connection.database.table('Charges');
    const findings = await tampered(
      () => charges.update([{ InvoiceId: 'c-1', Status: 'pending' }]),
      () => charges.update([{ InvoiceId: 'c-1', Status: 'complete' }]),
    );
    expect(findings).toEqual([expect.objectContaining({ check: 'charge-rows', eventId: eventIds.settle('c-1'), streamId: accountStreamId(C), detail: expect.stringMatching(/Charges row of invoice c-1 is .*"pending".*the log gives .*"complete"/) })]);
  });

  test('an invoice edited to owe $75 with $45 paid is named, with the payment that made it', async () => {
    const invoices = connection.database.table('Invoices');
    const findings = await tampered(
      () => invoices.update([{ UserId: I, InvoiceId: 'i-1', PaidMicroUsd: '45000000' }]),
      () => invoices.update([{ UserId: I, InvoiceId: 'i-1', PaidMicroUsd: '20000000' }]),
    );
    expect(findings).toEqual([expect.objectContaining({ check: 'invoice-rows', eventId: eventIds.invoicePayment('i-1', 1), detail: expect.stringMatching(/Invoices row of ws-i's invoice i-1 is .*"PaidMicroUsd":"45000000".*the log gives .*"PaidMicroUsd":"20000000"/) })]);
  });

  test('a deleted Charges row, and one inserted for a charge no event made, are each named', async () => {
    const stored = await row(connection, 'Charges', 'InvoiceId = @id', { id: 'c-2' });
    const charges = connection.database.table('Charges');
    const deleted = await tampered(
      () => charges.deleteRows(['c-2']),
      () => charges.insert([stored]),
    );
    expect(deleted).toEqual([expect.objectContaining({ check: 'charge-rows', eventId: eventIds.charge('c-2'), detail: expect.stringMatching(/Charges row of invoice c-2 is missing/) })]);
    const ghost = { ...stored, InvoiceId: 'ghost', ChargeEventId: eventIds.charge('ghost'), UpdatedAt: 'spanner.commit_timestamp()' };
    const inserted = await tampered(
      () => charges.insert([ghost]),
      () => charges.deleteRows(['ghost']),
    );
    expect(inserted).toEqual([expect.objectContaining({ check: 'charge-rows', detail: expect.stringMatching(/Charges row of invoice ghost .* was made by no event/) })]);
  });

  test('an Invoices row no event made is named', async () => {
    const stored = await row(connection, 'Invoices', 'UserId = @u AND InvoiceId = @id', { u: I, id: 'i-2' });
    const invoices = connection.database.table('Invoices');
    const findings = await tampered(
      () => invoices.insert([{ ...stored, InvoiceId: 'i-ghost', UpdatedAt: 'spanner.commit_timestamp()' }]),
      () => invoices.deleteRows([[I, 'i-ghost']]),
    );
    expect(findings).toEqual([expect.objectContaining({ check: 'invoice-rows', detail: expect.stringMatching(/invoice i-ghost .* was made by no event/) })]);
  });

  test('an open invoice moved in the payment order (its open-since time) is named', async () => {
    const invoices = connection.database.table('Invoices');
    const stored = await row(connection, 'Invoices', 'UserId = @u AND InvoiceId = @id', { u: I, id: 'i-2' });
    const findings = await tampered(
      () => invoices.update([{ UserId: I, InvoiceId: 'i-2', OpenSinceMicros: '0' }]),
      () => invoices.update([{ UserId: I, InvoiceId: 'i-2', OpenSinceMicros: stored.OpenSinceMicros }]),
    );
    expect(findings).toEqual([expect.objectContaining({ check: 'invoice-rows', eventId: eventIds.invoice('i-2'), detail: expect.stringMatching(/"OpenSinceMicros":"0"/) })]);
  });

  test('an account\'s latest credit time, and an account row no event made, are named', async () => {
    const accounts = connection.database.table('Accounts');
    const stored = await row(connection, 'Accounts', 'UserId = @u', { u: I });
    const credit = await tampered(
      () => accounts.update([{ UserId: I, LatestCreditAtMicros: '0' }]),
      () => accounts.update([{ UserId: I, LatestCreditAtMicros: stored.LatestCreditAtMicros }]),
    );
    expect(credit).toEqual([expect.objectContaining({ check: 'accounts', streamId: accountStreamId(I), detail: expect.stringMatching(/latestCreditAt/) })]);
    const zeros = { ...stored, UserId: 'ws-nobody', Version: '0', BalanceMicroUsd: '0', AdjustmentsMicroUsd: '0', OpenInvoicesMicroUsd: '0', OpenInvoiceCount: '0', ChainHead: null, ChargesMicroUsd: '0', UpdatedAt: 'spanner.commit_timestamp()' };
    const orphan = await tampered(
      () => accounts.insert([zeros]),
      () => accounts.deleteRows(['ws-nobody']),
    );
    expect(orphan).toEqual([expect.objectContaining({ check: 'accounts', detail: expect.stringMatching(/Accounts row of ws-nobody has no events/) })]);
  });

  test('an event stored again under another ID (same order shard) is named', async () => {
    const original = await row(connection, 'Events', 'EventId = @id', { id: eventIds.adjust('fund-c') });
    const movedId = `${String(original.EventId).slice(0, 31)}${String(original.EventId).endsWith('0') ? '1' : '0'}`;
    const events = connection.database.table('Events');
    const moved = { ...original, EventId: movedId, CommittedAt: original.CommittedAt };
    const findings = await tampered(
      async () => {
        await events.deleteRows([String(original.EventId)]);
        await events.insert([moved]);
      },
      async () => {
        await events.deleteRows([movedId]);
        await events.insert([original]);
      },
    );
    expect(findings).toContainEqual(expect.objectContaining({ check: 'chain', eventId: movedId, detail: expect.stringMatching(new RegExp(`stored under ID ${movedId}, but its natural key derives ${original.EventId}`)) }));
  });

  test('an Accounts row deleted under its events is named with the count of its events', async () => {
    const user = 'ws-deleted';
    const lines = [0, 1, 2].map((n) => ({ ...adjustWire(user, `ws-deleted-${n}`, '1000000'), occurredAt: at(7 + n) }));
    expect((await submit(connection, lines)).map((line) => line.status)).toEqual(['accepted', 'accepted', 'accepted']);
    const accounts = connection.database.table('Accounts');
    const stored = await row(connection, 'Accounts', 'UserId = @u', { u: user });
    const findings = await tampered(
      () => accounts.deleteRows([user]),
      () => accounts.insert([{ ...stored, UpdatedAt: 'spanner.commit_timestamp()' }]),
    );
    expect(findings).toContainEqual({ check: 'chain', streamId: accountStreamId(user), detail: '3 event(s) of this stream have no account row: the account was deleted' });
  });
});

describe('tampering that pays out is still found afterwards', () => {
  let connection: SpannerConnection;
  let store: SpannerLedgerStore;

  beforeAll(async () => {
    ({ connection, store } = await setUp('x-'));
  });
  afterAll(async () => {
    await connection?.close();
  });

  test('a completed charge edited to pending, then failed: the refund is accepted, and the audit names the row', async () => {
    await connection.database.table('Charges').update([{ InvoiceId: 'x-c-1', Status: 'pending' }]);
    const [outcome] = await submit(connection, [{ type: 'failCharge', userId: 'x-ws-c', invoiceId: 'x-c-1', occurredAt: at(7), reason: 'chargeback' }]);
    expect(outcome).toMatchObject({ status: 'accepted' });
    const { code, report } = await auditJson(connection);
    expect(code).toBe(EXIT.mismatch);
    // Every row now agrees with the log (the fail was folded in): the log itself breaks the rules.
    expect(report.findings).toContainEqual(expect.objectContaining({ check: 'rules', eventId: eventIds.fail('x-c-1'), detail: expect.stringMatching(/ChargeFailed at version \d+ breaks the ledger's rules: the charge of invoice x-c-1 is complete, not pending/) }));
  });

  test('an invoice edited to $45 paid, then voided: $45 refunded of a $20 payment, and the audit names the row', async () => {
    await connection.database.table('Invoices').update([{ UserId: 'x-ws-i', InvoiceId: 'x-i-1', PaidMicroUsd: '45000000' }]);
    const [outcome] = await submit(connection, [{ type: 'voidInvoice', userId: 'x-ws-i', invoiceId: 'x-i-1', occurredAt: at(8), reason: 'dispute' }]);
    expect(outcome).toMatchObject({ status: 'accepted' });
    const { code, report } = await auditJson(connection);
    expect(code).toBe(EXIT.mismatch);
    expect(report.findings).toContainEqual(expect.objectContaining({ check: 'invoice-rows', eventId: eventIds.void('x-i-1') }));
  });

  test('a deposit re-keyed, then submitted again: accepted twice, and the audit names the moved event', async () => {
    const noBonus = { SPANLEDGER_BONUS_BPS: '0' };
    const deposit = { type: 'deposit', userId: 'x-ws-d', source: 'ethereum', chainId: '1', txHash: `0x${'ab'.repeat(32)}`, logIndex: '0', blockNumber: '1', wallet: `0x${'cd'.repeat(20)}`, tokenValue: '1', amountMicroUsd: '7000000', occurredAt: at(9) };
    expect((await submit(connection, [deposit], noBonus))[0]).toMatchObject({ status: 'accepted' });
    const id = eventIds.deposit('1', deposit.txHash, '0');
    const original = await row(connection, 'Events', 'EventId = @id', { id });
    const movedId = `${id.slice(0, 31)}${id.endsWith('0') ? '1' : '0'}`;
    await connection.database.table('Events').deleteRows([id]);
    await connection.database.table('Events').insert([{ ...original, EventId: movedId }]);
    expect((await submit(connection, [deposit], noBonus))[0]).toMatchObject({ status: 'accepted' });
    expect((await store.readAccount('x-ws-d'))?.balanceMicroUsd).toBe(14_000_000n);
    const { code, report } = await auditJson(connection);
    expect(code).toBe(EXIT.mismatch);
    expect(report.findings).toContainEqual(expect.objectContaining({ check: 'chain', eventId: movedId, detail: expect.stringMatching(/natural key derives/) }));
  });

  test('an event deleted before the views folded it: audit exits 5 with a chain finding; view reads name the stream', async () => {
    const user = 'x-ws-late';
    const lines = [1, 2, 3].map((n) => ({ ...adjustWire(user, `late-${n}`, '1000000'), occurredAt: at(10 + n) }));
    // Through the library's handler: the views are not caught up by it.
    await new CommandHandler(store, { bonusRateBps: 0 }).handleTexts(lines.map((line) => JSON.stringify(line)));
    await connection.database.table('Events').deleteRows([eventIds.adjust('late-2')]);
    const { code, report } = await auditJson(connection);
    expect(code).toBe(EXIT.mismatch);
    expect(report.findings).toContainEqual(expect.objectContaining({ check: 'chain', streamId: accountStreamId(user), detail: expect.stringMatching(/stream version 3 where 2 belongs/) }));
    for (const args of [
      ['balance', 'x-ws-c', '--as-of', '2026-03-05T00:00:00Z'],
      ['accounts'],
      ['projections', 'verify'],
    ]) {
      const run = await runCliCaptured(args, cliEnv(connection));
      expect({ args, code: run.code }).toEqual({ args, code: EXIT.mismatch });
      if (args[0] !== 'projections') expect(run.stderr).toMatch(new RegExp(`stream ${accountStreamId(user)} is damaged: .*run \`spanledger audit\``));
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
