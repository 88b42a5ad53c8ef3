import { CommandHandler } from '../../ledger/core/handler';
import { createKafka, kafkaSettingsFromEnv } from '../../ledger/kafka/client';
import { publishEvents, readCheckpoint } from '../../ledger/kafka/publisher';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { depositWire } from '../support/commands';
import { kafkaBrokers, readTopic, uniqueTopic } from '../support/kafka';
import { freshConnection } from '../support/spanner';

/** The event publisher against the real broker: every event once, in per-user order. */
let connection: SpannerConnection;
let store: SpannerLedgerStore;

beforeAll(async () => {
  kafkaBrokers();
  connection = await freshConnection('kp');
  store = new SpannerLedgerStore(connection);
});

afterAll(async () => {
  await store?.close();
});

async function allEventIds(): Promise<string[]> {
  const [rows] = await connection.database.run({ sql: 'SELECT EventId FROM Events', json: true });
  return (rows as { EventId: string }[]).map((row) => row.EventId).sort();
}

function publishOnce(topic: string) {
  return publishEvents(createKafka(kafkaSettingsFromEnv({ KAFKA_BROKERS: kafkaBrokers() })), store, connection, {
    topic,
    publisher: 'test',
    batchSize: 37,
    untilIdle: true,
    idempotentProducer: false,
  });
}

test('the publisher emits every event exactly once across two runs and keeps per-user order', async () => {
  const handler = new CommandHandler(store, { bonusRateBps: 1000, batchSize: 25 });
  const users = Array.from({ length: 12 }, (_, i) => `pub-user-${i}`);
  const round = (from: number) => users.flatMap((user) => [0, 1, 2, 3, 4].map((n) => JSON.stringify(depositWire(user, from + n, '2000000'))));
  const topic = uniqueTopic('events');

  // Round 1: 60 deposits, each with its bonus: 120 events.
  expect((await handler.handleTexts(round(0))).every((outcome) => outcome.status === 'accepted')).toBe(true);
  const first = await publishOnce(topic);
  expect(first).toMatchObject({ published: 120, publishedTotal: 120, stoppedBy: 'idle' });

  // Round 2: 120 more; the second run publishes only those.
  expect((await handler.handleTexts(round(100))).every((outcome) => outcome.status === 'accepted')).toBe(true);
  const second = await publishOnce(topic);
  expect(second).toMatchObject({ published: 120, publishedTotal: 240 });
  // Nothing new: nothing sent.
  expect(await publishOnce(topic)).toMatchObject({ published: 0, publishedTotal: 240 });
  const checkpoint = await readCheckpoint(connection, 'test', topic);
  expect(checkpoint.publishedEvents).toBe(240);
  expect(checkpoint.position).toEqual(second.position);

  const messages = await readTopic(topic, { expected: 240, timeoutMs: 30_000, settleMs: 1000 });
  expect(messages).toHaveLength(240);
  const ids = messages.map((message) => message.headers['event-id']!);
  expect(new Set(ids).size).toBe(240);
  expect([...ids].sort()).toEqual(await allEventIds());

  const lastVersion = new Map<string, number>();
  const partitionOf = new Map<string, number>();
  const ordered = [...messages].sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
  for (const message of ordered) {
    const record = JSON.parse(message.value!.toString('utf8')) as Record<string, unknown>;
    expect(Object.keys(record)).toEqual(['eventId', 'type', 'schemaVersion', 'streamId', 'streamVersion', 'userId', 'occurredAt', 'committedAt', 'contentDigest', 'chainHash', 'postings', 'payload']);
    expect(record.eventId).toBe(message.headers['event-id']);
    expect(message.key).toBe(record.userId);
    expect(record.streamId).toBe(`account-${record.userId}`);
    // One user, one partition; versions 1, 2, 3, ... in offset order.
    const user = String(record.userId);
    expect(partitionOf.get(user) ?? message.partition).toBe(message.partition);
    partitionOf.set(user, message.partition);
    expect(record.streamVersion).toBe((lastVersion.get(user) ?? 0) + 1);
    lastVersion.set(user, record.streamVersion as number);
  }
  expect(lastVersion.size).toBe(users.length);
  for (const user of users) expect(lastVersion.get(user)).toBe(20);
});
