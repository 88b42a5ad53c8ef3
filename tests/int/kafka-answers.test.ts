import { Kafka, logLevel } from 'kafkajs';
import { startKafkaBroker } from '../../emulator';
import { listInbox } from '../../ledger/kafka/inbox-admin';
import { readCheckpoint } from '../../ledger/kafka/publisher';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { killSpawned, runSpanledger, spawnSpanledger } from '../support/cli';
import { chargeWire, depositWire, settleWire } from '../support/commands';
import { ensureCliBuilt, kafkaBrokers, produceCommands, readTopic, uniqueTopic } from '../support/kafka';
import { cliEnv, freshConnection } from '../support/spanner';
import { balances, consume, GROUP_FLAGS } from '../support/consume-cli';

/**
 * The relays' contracts with producers and consumers, against the embedded broker, through
 * the real CLI: the keying rule, answers back to producers, topics that must differ, and the
 * publisher's fence, recreated events topics and idempotent producer.
 */
jest.setTimeout(240_000);

const json = (value: unknown) => JSON.stringify(value);

afterAll(killSpawned);
beforeAll(() => {
  kafkaBrokers();
  ensureCliBuilt();
});

describe('commands are routed by their user', () => {
  test('a settle keyed by its invoice is a KEY_MISMATCH dead letter; keyed by its user it settles the charge', async () => {
    const topic = uniqueTopic('keys');
    const connection = await freshConnection('ky');
    try {
      const user = 'key-user';
      await produceCommands(topic, [
        { key: user, value: json(depositWire(user, 1, '10000000')) },
        { key: user, value: json(chargeWire(user, 'key-inv', '4000000', { pending: true })) },
        { key: 'key-inv', value: json(settleWire(user, 'key-inv')) },
        { key: null, value: json(settleWire(user, 'key-inv')) },
      ]);
      const first = await consume(connection, topic, `g-${topic}`);
      expect(first.summary).toMatchObject({ accepted: 2, invalid: 2 });
      const letters = await readTopic(`${topic}.dlq`, { expected: 2, timeoutMs: 20_000 });
      expect(letters.map((letter) => letter.headers['error-code'])).toEqual(['KEY_MISMATCH', 'KEY_MISMATCH']);
      expect(letters.map((letter) => letter.headers['error-message']).sort()).toEqual([
        expect.stringMatching(/^message has key "key-inv"; it must be keyed by the command's userId "key-user"/),
        expect.stringMatching(/^message has no key; it must be keyed/),
      ].sort());
      const [charge] = (await connection.database.run({ sql: "SELECT Status FROM Charges WHERE InvoiceId = 'key-inv'", json: true }))[0] as { Status: string }[];
      expect(charge!.Status).toBe('pending');
      await produceCommands(topic, [{ key: user, value: json(settleWire(user, 'key-inv')) }]);
      expect((await consume(connection, topic, `g-${topic}`)).summary).toMatchObject({ accepted: 1 });
      const [settled] = (await connection.database.run({ sql: "SELECT Status FROM Charges WHERE InvoiceId = 'key-inv'", json: true }))[0] as { Status: string }[];
      expect(settled!.Status).toBe('complete');
    } finally {
      await connection.close();
    }
  });
});

describe('answers back to producers', () => {
  test('--outcomes-topic gets the outcome of every message, keyed like the command, with its source headers', async () => {
    const topic = uniqueTopic('answers');
    const outcomesTopic = `${topic}.outcomes`;
    const connection = await freshConnection('an');
    try {
      const user = 'answer-user';
      const deposit = json(depositWire(user, 1, '5000000'));
      await produceCommands(topic, [
        { key: user, value: deposit },
        { key: user, value: deposit },
        { key: user, value: json(chargeWire(user, 'answer-inv', '9000000')) },
        { key: user, value: '{"type":"deposit"' },
        { key: 'someone-else', value: json(chargeWire(user, 'answer-inv-2', '1000000')) },
      ]);
      const run = await consume(connection, topic, `g-${topic}`, { flags: ['--outcomes-topic', outcomesTopic] });
      expect(run.summary).toMatchObject({ messages: 5, accepted: 1, duplicate: 1, rejected: 1, invalid: 2, outcomesSent: 5 });
      const outcomes = (await readTopic(outcomesTopic, { expected: 5, timeoutMs: 20_000, settleMs: 500 })).sort((a, b) => Number(a.key !== user) - Number(b.key !== user) || Number(a.headers['source-offset']) - Number(b.headers['source-offset']));
      expect(outcomes).toHaveLength(5);
      const values = outcomes.map((message) => JSON.parse(message.value!.toString('utf8')) as { status: string; code?: string; eventIds: string[] });
      expect(values.map((value) => [value.status, value.code ?? null])).toEqual([
        ['accepted', null],
        ['duplicate', null],
        ['rejected', 'INSUFFICIENT_FUNDS'],
        ['invalid', 'INVALID_COMMAND'],
        ['invalid', 'KEY_MISMATCH'],
      ]);
      expect(values[1]!.eventIds).toEqual(values[0]!.eventIds);
      expect(outcomes.map((message) => message.key)).toEqual([user, user, user, user, 'someone-else']);
      for (const message of outcomes) expect(message.headers).toMatchObject({ 'source-topic': topic, 'source-partition': expect.stringMatching(/^\d$/) });
      // Sent and acknowledged: nothing is left in the outbox of a finished run.
      const rows = await listInbox(connection, { topic });
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.map((row) => row.unsentOutcomes)).toEqual(rows.map(() => 0));
    } finally {
      await connection.close();
    }
  });

  test('a consumer SIGKILLed mid-stream and restarted leaves no message without its outcome', async () => {
    const topic = uniqueTopic('answers-kill');
    const outcomesTopic = `${topic}.outcomes`;
    const group = `g-${topic}`;
    const connection = await freshConnection('ak');
    try {
      const users = Array.from({ length: 8 }, (_, i) => `ak-user-${i}`);
      const messages = users.flatMap((user) => Array.from({ length: 40 }, (_, n) => json(depositWire(user, n, '1000000'))));
      await produceCommands(topic, messages);
      const env = cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers(), SPANLEDGER_BONUS_BPS: '0' });
      const child = spawnSpanledger(['consume', '--topic', topic, '--group', group, '--outcomes-topic', outcomesTopic, '--batch-size', '10', ...GROUP_FLAGS], env);
      for (let i = 0; i < 600; i++) {
        const applied = (await listInbox(connection, { group })).reduce((sum, row) => sum + Number(row.nextOffset), 0);
        if (applied >= 60) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      child.process.kill('SIGKILL');
      await child.exited;
      const rest = await consume(connection, topic, group, { flags: ['--outcomes-topic', outcomesTopic] });
      expect(rest.code).toBe(0);
      const outcomes = await readTopic(outcomesTopic, { expected: messages.length, timeoutMs: 30_000, settleMs: 1000 });
      const sources = new Set(outcomes.map((message) => `${message.headers['source-partition']}@${message.headers['source-offset']}`));
      expect(sources.size).toBe(messages.length);
      // Duplicates are allowed (at least once) and say the same as the first copy.
      const bySource = new Map<string, string>();
      for (const message of outcomes) {
        const source = `${message.headers['source-partition']}@${message.headers['source-offset']}`;
        const value = message.value!.toString('utf8');
        expect(bySource.get(source) ?? value).toBe(value);
        bySource.set(source, value);
      }
      expect(await balances(connection)).toEqual(Object.fromEntries(users.map((user) => [user, '40000000'])));
    } finally {
      await connection.close();
    }
  });
});

describe('topics that must differ', () => {
  test.each([
    ['--dlq-topic equal to --topic', (topic: string) => ['--dlq-topic', topic], /dead-letter topic must differ from the command topic/],
    ['--outcomes-topic equal to --topic', (topic: string) => ['--outcomes-topic', topic], /outcomes topic must differ from the command topic/],
    ['--outcomes-topic equal to the dead-letter topic', (topic: string) => ['--outcomes-topic', `${topic}.dlq`], /outcomes topic must differ from the dead-letter topic/],
  ])('%s is refused with exit 2 before anything is consumed', async (_name, flags, message) => {
    const topic = uniqueTopic('same');
    const connection = await freshConnection('st');
    try {
      const run = await runSpanledger(['consume', '--topic', topic, '--until-idle', ...flags(topic)], { env: cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers() }) });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
    } finally {
      await connection.close();
    }
  });
});

describe('the publisher', () => {
  async function seed(connection: SpannerConnection, users: number, deposits: number): Promise<number> {
    const lines = Array.from({ length: users * deposits }, (_, i) => json(depositWire(`pb-${i % users}`, i, '1000000')));
    const run = await runSpanledger(['submit'], { env: cliEnv(connection, { SPANLEDGER_BONUS_BPS: '0' }), input: `${lines.join('\n')}\n` });
    expect(run.code).toBe(0);
    return lines.length;
  }

  test('two publishers with the same name at once: every event on the topic exactly once, and both end cleanly', async () => {
    const connection = await freshConnection('p2');
    const topic = uniqueTopic('events-twice');
    try {
      const events = await seed(connection, 6, 80);
      const env = cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers() });
      const args = ['publish', '--topic', topic, '--name', 'twin', '--batch-size', '25', '--until-idle', '--json'];
      const [a, b] = await Promise.all([runSpanledger(args, { env }), runSpanledger(args, { env })]);
      expect([a.code, b.code]).toEqual([0, 0]);
      const summaries = [a, b].map((run) => JSON.parse(run.stdout) as { published: number });
      expect(summaries[0]!.published + summaries[1]!.published).toBe(events);
      const messages = await readTopic(topic, { expected: events, timeoutMs: 30_000, settleMs: 1500 });
      expect(messages).toHaveLength(events);
      expect(new Set(messages.map((message) => message.headers['event-id'])).size).toBe(events);
    } finally {
      await connection.close();
    }
  });

  test('a recreated events topic is recognised (exit 1, doctor fails), and --from-start publishes the history again', async () => {
    const connection = await freshConnection('pr');
    const topic = uniqueTopic('events-recreated');
    const other = await startKafkaBroker();
    try {
      const events = await seed(connection, 3, 20);
      const first = await runSpanledger(['publish', '--topic', topic, '--until-idle', '--json'], { env: cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers() }) });
      expect(first.code).toBe(0);
      expect(Object.keys((await readCheckpoint(connection, 'spanledger', topic)).partitionEnds).length).toBeGreaterThan(0);
      const env = cliEnv(connection, { KAFKA_BROKERS: other.brokers });
      const again = await runSpanledger(['publish', '--topic', topic, '--until-idle'], { env });
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/holds less than publisher spanledger sent to it .* the topic was recreated or lost data/);
      expect(again.stderr).toContain('--from-start');
      const doctor = JSON.parse((await runSpanledger(['doctor', '--json'], { env })).stdout) as { checks: { name: string; status: string }[] };
      expect(doctor.checks.find((check) => check.name === 'kafka.publishers')).toMatchObject({ status: 'fail' });
      const replay = await runSpanledger(['publish', '--topic', topic, '--until-idle', '--from-start', '--json'], { env });
      expect(replay.code).toBe(0);
      expect(JSON.parse(replay.stdout)).toMatchObject({ published: events, publishedTotal: events });
      const otherKafka = new Kafka({ clientId: 'pr-admin', brokers: other.brokers.split(','), logLevel: logLevel.NOTHING });
      const admin = otherKafka.admin();
      await admin.connect();
      const onTopic = (await admin.fetchTopicOffsets(topic)).reduce((sum, offset) => sum + Number(offset.high), 0);
      await admin.disconnect();
      expect(onTopic).toBe(events);
    } finally {
      await other.stop();
      await connection.close();
    }
  });

  test('the idempotent producer is the default and KAFKA_IDEMPOTENT=false turns it off (the embedded broker cannot do it)', async () => {
    const connection = await freshConnection('pi');
    const topic = uniqueTopic('events-idempotent');
    try {
      await seed(connection, 1, 2);
      const on = await runSpanledger(['publish', '--topic', topic, '--until-idle'], { env: cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers(), KAFKA_IDEMPOTENT: 'true' }) });
      expect(on.code).toBe(1);
      const off = await runSpanledger(['publish', '--topic', topic, '--until-idle', '--json'], { env: cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers(), KAFKA_IDEMPOTENT: 'false' }) });
      expect(off.code).toBe(0);
      expect(JSON.parse(off.stdout)).toMatchObject({ published: 2 });
      const bad = await runSpanledger(['publish', '--topic', topic], { env: cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers(), KAFKA_IDEMPOTENT: 'maybe' }) });
      expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/KAFKA_IDEMPOTENT must be true or false/)]);
    } finally {
      await connection.close();
    }
  });
});
