import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXIT } from '../../commands/errors';
import { digestOf } from '../../ledger/core/store';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { runCliCaptured } from '../support/cli';
import { depositWire } from '../support/commands';
import { cliEnv, freshConnection } from '../support/spanner';

/**
 * `events import` refuses, with exit 2 and nothing written, any file that is not a whole
 * export, each edited as an operator (or an attacker) would edit the file: an edited event
 * ID, an unchained line after chained ones, a file cut short, a commit cut in half, a line
 * added after the end. A whole export imports; so does a file written before exports were
 * sealed (no header, no end line), with a note on what could not be checked.
 */
jest.setTimeout(180_000);

type Line = Record<string, unknown> & { payload?: Record<string, unknown> };

let source: SpannerConnection;
/** Where refused files go: a refusal writes nothing, so one database serves them all (checked each time). */
let refusals: SpannerConnection;
let dir: string;
let exported: string[];

beforeAll(async () => {
  source = await freshConnection('ir');
  refusals = await freshConnection('ix');
  // An invoice left open, then a deposit whose commit adds its bonus and pays the invoice.
  const lines = [
    depositWire('ir-a', 1, '3000000'),
    { type: 'openInvoice', userId: 'ir-b', invoiceId: 'ir-inv', amountMicroUsd: '5000000', occurredAt: '2026-03-01T09:00:00Z' },
    { type: 'adjust', userId: 'ir-a', amountMicroUsd: '-1000000', reason: 'fee', idempotencyKey: 'ir-fee', occurredAt: '2026-03-02T00:00:00Z' },
    depositWire('ir-b', 2, '10000000'),
  ];
  const submitted = await runCliCaptured(['submit', '-'], cliEnv(source), lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
  expect(submitted.code).toBe(EXIT.ok);
  dir = mkdtempSync(path.join(os.tmpdir(), 'spanledger-import-'));
  const file = path.join(dir, 'export.jsonl');
  expect((await runCliCaptured(['events', 'export', file], cliEnv(source))).code).toBe(EXIT.ok);
  exported = readFileSync(file, 'utf8').trim().split('\n');
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await source?.close();
  await refusals?.close();
});

const parse = (text: string) => JSON.parse(text) as Line;
const eventLines = () => exported.filter((text) => text.startsWith('{"eventId"'));
/** The same file as written before sealing: no header, no end line. */
const unsealed = (lines: readonly string[]) => lines.filter((text) => !text.startsWith('{"export"') && !text.startsWith('{"end"'));
const indexOf = (predicate: (line: Line) => boolean) => exported.findIndex((text) => text.startsWith('{"eventId"') && predicate(parse(text)));

async function importInto(lines: readonly string[], into?: SpannerConnection) {
  const target = into ?? (await freshConnection('ii'));
  try {
    const file = path.join(dir, `import-${Math.random().toString(36).slice(2)}.jsonl`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const run = await runCliCaptured(['events', 'import', file, '--json'], cliEnv(target));
    const [count] = await target.database.run({ sql: 'SELECT COUNT(*) AS N FROM Events', json: true, jsonOptions: { wrapNumbers: false } });
    return { ...run, eventsWritten: Number((count as { N: number }[])[0]!.N) };
  } finally {
    if (!into) await target.close();
  }
}

async function expectRefused(lines: readonly string[], problem: RegExp): Promise<void> {
  const run = await importInto(lines, refusals);
  expect({ code: run.code, written: run.eventsWritten }).toEqual({ code: EXIT.invalid, written: 0 });
  expect(run.stderr).toMatch(problem);
  expect(run.stderr).toMatch(/refused: \d+ problem\(s\) .* nothing was written/);
}

describe('an export is sealed', () => {
  test('a header first and an end line last that count what is between', () => {
    expect(parse(exported[0]!)).toEqual({ export: { format: 2, readTimestamp: expect.stringMatching(/Z$/) } });
    const end = parse(exported[exported.length - 1]!).end as Record<string, unknown>;
    expect(end).toMatchObject({ events: eventLines().length, positions: 0, streams: 2 });
    expect(end.linesDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  test('the whole file imports every event; the same file without its seal imports too, with a note', async () => {
    const whole = await importInto(exported);
    expect({ code: whole.code, written: whole.eventsWritten, stderr: whole.stderr }).toEqual({ code: EXIT.ok, written: eventLines().length, stderr: '' });
    const old = await importInto(unsealed(exported));
    expect({ code: old.code, written: old.eventsWritten }).toEqual({ code: EXIT.ok, written: eventLines().length });
    expect(old.stderr).toMatch(/has no end line .* a file cut between two commits cannot be told from a whole one/);
  });
});

describe('a file that no export produced is refused whole', () => {
  test('one line\'s eventId edited, and nothing else: refused, sealed or not', async () => {
    const index = indexOf((line) => line.type === 'BalanceAdjusted');
    const record = parse(exported[index]!);
    const edited = [...exported];
    edited[index] = JSON.stringify({ ...record, eventId: 'f'.repeat(32) });
    const problem = new RegExp(`line ${index + 1}: event f{32}: its ID is not the one its natural key derives \\(${String(record.eventId)}\\)`);
    await expectRefused(edited, problem);
    await expectRefused(unsealed(edited), /its ID is not the one its natural key derives/);
  });

  test('a line edited with a recomputed digest and postings: refused at its chain hash, naming the event', async () => {
    const index = indexOf((line) => line.type === 'TokenDeposited' && line.userId === 'ir-a');
    const record = parse(exported[index]!);
    const payload = { ...record.payload!, amountMicroUsd: '1' };
    const event = { type: record.type, schemaVersion: record.schemaVersion, streamId: record.streamId, occurredAt: record.occurredAt, payload } as Parameters<typeof digestOf>[0];
    const postings = [{ ...(record.postings as Record<string, string>[])[0]!, amountMicroUsd: '1' }];
    const edited = [...exported];
    edited[index] = JSON.stringify({ ...record, payload, contentDigest: digestOf(event), postings });
    await expectRefused(unsealed(edited), new RegExp(`line ${index}: event ${String(record.eventId)}: its chain hash does not follow from the line before it in stream account-ir-a`));
  });

  test('a line removed from the middle of a stream: the next one is out of place', async () => {
    const bonus = indexOf((line) => line.type === 'DepositBonusGranted' && line.userId === 'ir-a');
    await expectRefused(unsealed(exported.filter((_, index) => index !== bonus)), /version 3 of stream account-ir-a follows version 1: a line is missing or out of order/);
  });

  test('a last line with an edited amount, a recomputed digest and chainHash null after chained lines', async () => {
    const index = indexOf((line) => line.type === 'BalanceAdjusted');
    const record = parse(exported[index]!);
    const payload = { ...record.payload!, amountMicroUsd: '-1' };
    const event = { type: record.type, schemaVersion: record.schemaVersion, streamId: record.streamId, occurredAt: record.occurredAt, payload } as Parameters<typeof digestOf>[0];
    const postings = (record.postings as Record<string, string>[]).map((posting) => ({ ...posting, amountMicroUsd: '1' }));
    const edited = [...exported];
    edited[index] = JSON.stringify({ ...record, payload, contentDigest: digestOf(event), postings, chainHash: null });
    await expectRefused(unsealed(edited), new RegExp(`line ${index}: event ${String(record.eventId)}: has no chain hash, but the line before it in stream account-ir-a has one`));
  });

  test('a file cut right after a deposit\'s line, losing its bonus and the payment of the same commit', async () => {
    const deposit = indexOf((line) => line.type === 'TokenDeposited' && line.userId === 'ir-b');
    expect(parse(exported[deposit + 1]!).type).toBe('DepositBonusGranted');
    const cut = exported.slice(0, deposit + 1);
    await expectRefused(cut, /the file ends without its end line: it was cut short/);
    // Without a seal the commit itself shows it: an invoice left open beside the money.
    await expectRefused(unsealed(cut), /the commit of stream account-ir-b at .* leaves invoice\(s\) ir-inv open with 10000000 available: a payment of that commit is missing/);
  });

  test('the last event of a stream removed from the middle of the file, the end line kept', async () => {
    const last = indexOf((line) => line.type === 'BalanceAdjusted');
    const edited = exported.filter((_, index) => index !== last);
    await expectRefused(edited, /the end line does not match the file \(events: \d+ in the end line, \d+ in the file; headsDigest: .*linesDigest/);
  });

  test('a line added after the end line, and an end line rewritten to count a cut file', async () => {
    await expectRefused([...exported, exported[1]!], /a line after the end line/);
    const cut = exported.slice(0, -2);
    const end = parse(exported[exported.length - 1]!).end as Record<string, unknown>;
    await expectRefused([...cut, JSON.stringify({ end: { ...end, events: Number(end.events) - 1 } })], /the end line does not match the file/);
  });
});
