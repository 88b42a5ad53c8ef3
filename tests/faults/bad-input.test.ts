import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { BAD_INPUT_ROWS } from '../support/bad-input-rows';
import { depositWire } from '../support/commands';
import { runSpanledger } from '../support/cli';
import { ensureCliBuilt, kafkaBrokers, produceCommands, readTopic, uniqueTopic } from '../support/kafka';
import { cliEnv, freshConnection } from '../support/spanner';

/**
 * Bad input, table-driven: every row is one class of bad line. All rows go through `submit`
 * in ONE file with valid deposits interleaved, and through Kafka as message values of one
 * topic (`consume --until-idle`). Each bad line must be refused on its own (submit: `invalid`
 * with a message naming the field or the JSON problem; Kafka: a dead letter with the reason
 * headers and the original bytes), and each valid one applied: balances exact.
 */
jest.setTimeout(120_000);

const json = (value: unknown) => JSON.stringify(value);
const ROWS = BAD_INPUT_ROWS;

/** Valid deposits interleaved with the bad rows: one per row, each to its own user, amounts distinct. */
function validLine(index: number): { user: string; amount: bigint; text: string } {
  const user = `good-user-${index % 7}`;
  const amount = BigInt(1_000_000 + index * 1_001);
  return { user, amount, text: json(depositWire(user, index, amount.toString())) };
}

function expectedBalances(count: number): Map<string, bigint> {
  const balances = new Map<string, bigint>();
  for (let index = 0; index < count; index++) {
    const { user, amount } = validLine(index);
    balances.set(user, (balances.get(user) ?? 0n) + amount + (amount * 1000n) / 10000n);
  }
  return balances;
}

async function balances(connection: SpannerConnection): Promise<Map<string, bigint>> {
  const [rows] = await connection.database.run({ sql: 'SELECT UserId, CAST(BalanceMicroUsd AS STRING) AS B FROM Accounts', json: true });
  return new Map((rows as { UserId: string; B: string }[]).map((row) => [row.UserId, BigInt(row.B)]));
}

async function eventCount(connection: SpannerConnection): Promise<number> {
  const [rows] = await connection.database.run({ sql: 'SELECT CAST(COUNT(*) AS STRING) AS N FROM Events', json: true });
  return Number((rows as { N: string }[])[0]!.N);
}

test('the table has at least 30 classes with unique names', () => {
  expect(ROWS.length).toBeGreaterThanOrEqual(30);
  expect(new Set(ROWS.map((row) => row.name)).size).toBe(ROWS.length);
});

describe('through submit: one file, bad and valid lines interleaved', () => {
  let connection: SpannerConnection;
  let dir: string;
  let outcomes: Map<number, { line: number; status: string; code?: string; message?: string; eventIds: string[] }>;
  let exitCode: number | null;
  let stderr: string;
  /** Line number of each row in the file. */
  const lineOf = new Map<string, number>();

  beforeAll(async () => {
    ensureCliBuilt();
    connection = await freshConnection('fb');
    dir = mkdtempSync(path.join(os.tmpdir(), 'spanledger-bad-'));
    const parts: Buffer[] = [];
    // Valid line i at 2i+1, bad row i at 2i+2.
    ROWS.forEach((row, index) => {
      parts.push(Buffer.from(validLine(index).text + '\n'));
      parts.push(Buffer.isBuffer(row.value) ? row.value : Buffer.from(row.value), Buffer.from('\n'));
      lineOf.set(row.name, 2 * index + 2);
    });
    const file = path.join(dir, 'mixed.jsonl');
    writeFileSync(file, Buffer.concat(parts));
    const result = await runSpanledger(['submit', file], { env: cliEnv(connection) });
    exitCode = result.code;
    stderr = result.stderr;
    outcomes = new Map(result.stdout.trim().split('\n').map((text) => {
      const outcome = JSON.parse(text) as { line: number; status: string; code?: string; message?: string; eventIds: string[] };
      return [outcome.line, outcome];
    }));
  });
  afterAll(async () => {
    await connection?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('exit code 2, one outcome per line, nothing on stderr', () => {
    expect(stderr).toBe('');
    expect(exitCode).toBe(2);
    expect([...outcomes.keys()]).toEqual(Array.from({ length: ROWS.length * 2 }, (_, i) => i + 1));
  });

  test.each(ROWS.map((row, index) => [row.name, row, index] as const))('%s -> invalid, naming the problem', (_name, row) => {
    const outcome = outcomes.get(lineOf.get(row.name)!);
    expect(outcome).toMatchObject({ status: 'invalid', code: 'INVALID_COMMAND', eventIds: [] });
    expect(outcome!.message).toMatch(row.submitMessage ?? row.message);
  });

  test('every valid line was accepted with a deposit and its bonus; their balances exact', async () => {
    ROWS.forEach((_row, index) => expect(outcomes.get(2 * index + 1)).toMatchObject({ status: 'accepted' }));
    ROWS.forEach((_row, index) => expect(outcomes.get(2 * index + 1)!.eventIds).toHaveLength(2));
    const stored = await balances(connection);
    for (const [user, balance] of expectedBalances(ROWS.length)) expect([user, stored.get(user)]).toEqual([user, balance]);
  });

  test('no bad line moved money: only the valid lines\' events and accounts exist', async () => {
    expect([...(await balances(connection)).keys()].sort()).toEqual([...expectedBalances(ROWS.length).keys()].sort());
    expect(await eventCount(connection)).toBe(ROWS.length * 2);
  });
});

describe('through Kafka: the same values as messages of one topic', () => {
  let connection: SpannerConnection;
  let store: SpannerLedgerStore;
  const topic = uniqueTopic('bad');
  let summary: { messages: number; accepted: number; invalid: number; rejected: number; events: number; stoppedBy: string };
  let letters: Map<string, Awaited<ReturnType<typeof readTopic>>[number]>;
  let exitCode: number | null;

  beforeAll(async () => {
    kafkaBrokers();
    ensureCliBuilt();
    connection = await freshConnection('fq');
    store = new SpannerLedgerStore(connection);
    await produceCommands(
      topic,
      ROWS.flatMap((row, index) => [
        { key: validLine(index).user, value: validLine(index).text, headers: { row: `valid-${index}` } },
        { key: `bad-${index % 5}`, value: row.value, headers: { row: row.name } },
      ]),
    );
    const env = cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers() });
    const result = await runSpanledger(['consume', '--topic', topic, '--group', `ledger-${topic}`, '--until-idle', '--session-timeout-ms', '6000', '--json'], { env });
    exitCode = result.code;
    summary = JSON.parse(result.stdout.trim()) as typeof summary;
    const read = await readTopic(`${topic}.dlq`, { expected: ROWS.length, timeoutMs: 30_000, settleMs: 1000 });
    letters = new Map(read.map((letter) => [letter.headers.row ?? '?', letter]));
    expect(read).toHaveLength(letters.size); // at most one dead letter per row in a crash-free run
  });
  afterAll(async () => {
    await store?.close();
  });

  test('consume exits 0, every message decided: valid ones accepted, bad ones dead-lettered', () => {
    expect(exitCode).toBe(0);
    expect(summary).toMatchObject({ messages: ROWS.length * 2, accepted: ROWS.length, invalid: ROWS.length, rejected: 0, events: ROWS.length * 2, stoppedBy: 'idle' });
  });

  test.each(ROWS.map((row) => [row.name, row] as const))('%s -> a dead letter with the reason headers and the original bytes', (_name, row) => {
    const letter = letters.get(row.name);
    expect(letter).toBeDefined();
    expect(letter!.headers['error-code']).toBe(row.dlqCode ?? 'INVALID_COMMAND');
    expect(letter!.headers['error-message']).toMatch(row.message);
    expect(letter!.headers['source-topic']).toBe(topic);
    expect(letter!.headers['source-partition']).toMatch(/^[0-3]$/);
    expect(letter!.headers['source-offset']).toMatch(/^\d+$/);
    expect(Buffer.compare(letter!.value!, Buffer.isBuffer(row.value) ? row.value : Buffer.from(row.value))).toBe(0);
  });

  test('the valid messages\' balances are exact', async () => {
    const stored = await balances(connection);
    for (const [user, balance] of expectedBalances(ROWS.length)) expect([user, stored.get(user)]).toEqual([user, balance]);
  });

  test('no bad message moved money, and only the bad ones were dead-lettered', async () => {
    expect([...letters.keys()].sort()).toEqual(ROWS.map((row) => row.name).sort());
    expect([...(await balances(connection)).keys()].sort()).toEqual([...expectedBalances(ROWS.length).keys()].sort());
    expect(await eventCount(connection)).toBe(ROWS.length * 2);
  });
});
