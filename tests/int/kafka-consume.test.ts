import { spawn } from 'node:child_process';
import { consumeCommands, ConsumeSummary } from '../../ledger/kafka/consumer';
import { createKafka, kafkaSettingsFromEnv } from '../../ledger/kafka/client';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { chargeWire, depositWire } from '../support/commands';
import { ensureCliBuilt, kafkaBrokers, produceCommands, readTopic, SPANLEDGER_BIN, uniqueTopic } from '../support/kafka';
import { cliEnv, freshConnection } from '../support/spanner';

/**
 * The Kafka command consumer against the real broker (kcat mock cluster, over TCP) and
 * the Spanner emulator: replays apply once, garbage is dead-lettered with its reason.
 */

let connection: SpannerConnection;
let store: SpannerLedgerStore;

beforeAll(async () => {
  kafkaBrokers();
  ensureCliBuilt();
  connection = await freshConnection('kc');
  store = new SpannerLedgerStore(connection);
});

afterAll(async () => {
  await store?.close();
});

async function eventCount(): Promise<number> {
  const [rows] = await connection.database.run({ sql: 'SELECT CAST(COUNT(*) AS STRING) AS N FROM Events', json: true });
  return Number((rows as { N: string }[])[0]!.N);
}

async function balanceOf(userId: string): Promise<bigint | undefined> {
  return (await store.readAccount(userId))?.balanceMicroUsd;
}

function consumeInProcess(topic: string, group: string): Promise<ConsumeSummary> {
  return consumeCommands(createKafka(kafkaSettingsFromEnv({ KAFKA_BROKERS: kafkaBrokers() })), store, {
    topic,
    group,
    untilIdle: true,
    sessionTimeoutMs: 6000,
    bonusRateBps: 0,
    idempotentProducer: false,
  });
}

/** Per user: deposit 10, charge 8 (accepted), charge 6 (rejected: 2 left), deposit 3 -> balance 5 (the charge of 6 stays rejected when replayed). */
function userCommands(userId: string): string[] {
  return [
    JSON.stringify(depositWire(userId, 1, '10000000')),
    JSON.stringify(chargeWire(userId, `${userId}-inv-1`, '8000000')),
    JSON.stringify(chargeWire(userId, `${userId}-inv-2`, '6000000')),
    JSON.stringify(depositWire(userId, 2, '3000000')),
  ];
}

test('duplicates and replays apply once: exact balances and event count', async () => {
  const topic = uniqueTopic('dup');
  const users = Array.from({ length: 25 }, (_, index) => `dup-user-${index}`);
  const once = users.flatMap(userCommands);
  // Every command twice: the second copy of each arrives after the whole first round.
  await produceCommands(topic, [...once, ...once]);

  const first = await consumeInProcess(topic, `ledger-${topic}`);
  expect(first).toMatchObject({ messages: 200, accepted: 75, duplicate: 75, rejected: 50, invalid: 0, events: 75, stoppedBy: 'idle' });
  expect(await eventCount()).toBe(75);
  for (const user of users) expect(await balanceOf(user)).toBe(5_000_000n);

  // The same group again: everything is below the inbox offsets, nothing is decided.
  const again = await consumeInProcess(topic, `ledger-${topic}`);
  expect(again).toMatchObject({ messages: 0, accepted: 0, events: 0 });

  // A replay from the beginning under another group: only duplicates and the same rejections.
  const replay = await consumeInProcess(topic, `replay-${topic}`);
  expect(replay).toMatchObject({ messages: 200, accepted: 0, duplicate: 150, rejected: 50, events: 0 });
  expect(await eventCount()).toBe(75);
  for (const user of users) expect(await balanceOf(user)).toBe(5_000_000n);
});

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SPANLEDGER_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('garbage lands in the dead-letter topic with its reason; valid messages beside it are applied', async () => {
  const topic = uniqueTopic('dlq');
  const valid = (n: number) => JSON.stringify(depositWire('dlq-user', n, '1000000'));
  await produceCommands(topic, [
    valid(1),
    { key: 'dlq-user', value: '{"type":"deposit",' },
    valid(2),
    { key: 'dlq-user', value: JSON.stringify({ ...depositWire('dlq-user', 3), amountMicroUsd: '-5' }) },
    { key: 'dlq-user', value: null },
    { key: 'dlq-user', value: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) },
    valid(4),
  ]);

  const env = cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers(), SPANLEDGER_BONUS_BPS: '0' });
  const result = await runCli(['consume', '--topic', topic, '--group', `ledger-${topic}`, '--until-idle', '--session-timeout-ms', '6000', '--json'], env);
  expect(result.stderr).toContain('dead-lettered');
  expect(result.code).toBe(0);
  const summary = JSON.parse(result.stdout.trim()) as ConsumeSummary;
  expect(summary).toMatchObject({ messages: 7, accepted: 3, invalid: 4, rejected: 0 });
  expect(await balanceOf('dlq-user')).toBe(3_000_000n);

  const letters = await readTopic(`${topic}.dlq`, { expected: 4, timeoutMs: 20_000, settleMs: 500 });
  expect(letters).toHaveLength(4);
  const byOffset = new Map(letters.map((letter) => [letter.headers['source-offset'], letter]));
  expect([...byOffset.keys()].sort()).toEqual(['1', '3', '4', '5']);
  for (const letter of letters) {
    expect(letter.headers['source-topic']).toBe(topic);
    expect(letter.headers['source-partition']).toMatch(/^\d+$/);
    expect(letter.key).toBe('dlq-user');
  }
  expect(byOffset.get('1')!.headers['error-code']).toBe('INVALID_COMMAND');
  expect(byOffset.get('1')!.headers['error-message']).toMatch(/^json: /);
  expect(byOffset.get('1')!.value!.toString('utf8')).toBe('{"type":"deposit",');
  expect(byOffset.get('3')!.headers['error-code']).toBe('INVALID_COMMAND');
  expect(byOffset.get('3')!.headers['error-message']).toContain('amountMicroUsd');
  expect(byOffset.get('4')!.headers['error-code']).toBe('EMPTY_MESSAGE');
  expect(byOffset.get('5')!.headers['error-code']).toBe('INVALID_ENCODING');
  // The original bytes, untouched.
  expect([...byOffset.get('5')!.value!]).toEqual([0x7b, 0xff, 0xfe, 0x7d]);
});
