import { seededRandom } from '../../scripts/prng';
import { Kafka, logLevel } from 'kafkajs';
import { RunningBroker, startKafkaBroker } from '../../emulator';
import { CommandHandler } from '../../ledger/core/handler';
import { readCheckpoint } from '../../ledger/kafka/publisher';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { chargeWire, depositWire } from '../support/commands';
import { ensureCliBuilt, kafkaBrokers, produceCommands, readTopic, testKafka, uniqueTopic } from '../support/kafka';
import { killSpawned, spawnSpanledger } from '../support/cli';
import { cliEnv, freshConnection } from '../support/spanner';

/**
 * Kafka faults with real child processes: consumers SIGKILLed at seeded random points, a
 * publisher SIGKILLed mid-batch, the broker stopped under a running consumer.
 * SPANLEDGER_SOAK=1 scales the kill test up (20 kills across 10,000 messages).
 */
const SOAK = process.env.SPANLEDGER_SOAK === '1';
jest.setTimeout(SOAK ? 900_000 : 180_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterAll(killSpawned);

async function scalar(connection: SpannerConnection, sql: string): Promise<number> {
  const [rows] = await connection.database.run({ sql: `SELECT CAST((${sql}) AS STRING) AS N`, json: true });
  return Number((rows as { N: string }[])[0]!.N);
}

beforeAll(() => {
  kafkaBrokers();
  ensureCliBuilt();
});

/**
 * 20 commands per user, order-sensitive: 4 rounds of 4 deposits of 1 $ then a charge of
 * 3 (accepted, 1 left), 5.5 (rejected: 5 < 5.5), 9 (accepted, 0 left), 4 (accepted, 0 left).
 * 19 events, balance 0, charges 16 $. A charge decided twice or out of order ends elsewhere.
 */
function userScript(userId: string): string[] {
  const charges = ['3000000', '5500000', '9000000', '4000000'];
  const commands: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (let d = 0; d < 4; d++) commands.push(JSON.stringify(depositWire(userId, round * 4 + d, '1000000')));
    commands.push(JSON.stringify(chargeWire(userId, `${userId}-inv-${round}`, charges[round]!)));
  }
  return commands;
}

describe('consumer SIGKILLed at random points', () => {
  let connection: SpannerConnection;
  afterAll(async () => connection?.close());

  const kills = SOAK ? 20 : 3;
  const users = SOAK ? 500 : 40;
  test(`${kills} SIGKILLs across ${users * 20} messages, then --until-idle: exact balances, no duplicate events, inbox at the end of every partition`, async () => {
    connection = await freshConnection('fc');
    const userIds = Array.from({ length: users }, (_, i) => `rk-user-${i}`);
    const scripts = userIds.map(userScript);
    const messages: string[] = [];
    for (let i = 0; i < 20; i++) for (const script of scripts) messages.push(script[i]!);
    const topic = uniqueTopic('rkill');
    const group = `ledger-${topic}`;
    await produceCommands(topic, messages);
    const env = cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers(), SPANLEDGER_BONUS_BPS: '0' });
    const totalEvents = users * 19;

    // Seeded kill schedule: event counts at which to kill, spread over 5 %..90 % of the run,
    // plus a random 0-40 ms delay so the kill lands anywhere inside a transaction.
    const seed = Number(process.env.SPANLEDGER_FAULT_SEED ?? 20260301);
    const random = seededRandom(seed);
    const thresholds = Array.from({ length: kills }, () => Math.floor(totalEvents * (0.05 + random() * 0.85))).sort((a, b) => a - b);
    const killedAt: number[] = [];
    const args = ['consume', '--topic', topic, '--group', group, '--until-idle', '--session-timeout-ms', '6000', '--json', '--batch-size', '10'];
    for (const threshold of thresholds) {
      const child = spawnSpanledger(args, env);
      for (;;) {
        const events = await scalar(connection, 'SELECT COUNT(*) FROM Events');
        if (events >= threshold) break;
        const early = await Promise.race([child.exited, sleep(25).then(() => undefined)]);
        if (early) throw new Error(`consumer exited before the kill at ${threshold} events (seed ${seed}): ${JSON.stringify(early).slice(0, 800)}`);
      }
      await sleep(Math.floor(random() * 40));
      child.process.kill('SIGKILL');
      const end = await child.exited;
      expect(end.signal).toBe('SIGKILL');
      killedAt.push(await scalar(connection, 'SELECT COUNT(*) FROM Events'));
    }
    process.stderr.write(`consumer kills (seed ${seed}) at events ${killedAt.join(', ')} of ${totalEvents}\n`);
    expect(killedAt.every((events) => events > 0 && events < totalEvents)).toBe(true);

    const last = await spawnSpanledger(args, env).exited;
    expect(last.stderr).not.toMatch(/unexpected failure/);
    expect(last.code).toBe(0);
    const summary = JSON.parse(last.stdout.trim()) as { duplicate: number; invalid: number; stoppedBy: string };
    expect(summary).toMatchObject({ duplicate: 0, invalid: 0, stoppedBy: 'idle' });

    expect(await scalar(connection, 'SELECT COUNT(*) FROM Events')).toBe(totalEvents);
    expect(await scalar(connection, 'SELECT COUNT(DISTINCT StreamId) FROM Events')).toBe(users);
    const [rows] = await connection.database.run({
      sql: `SELECT CAST(COUNT(*) AS STRING) AS N, CAST(SUM(BalanceMicroUsd) AS STRING) AS Balance, CAST(MIN(ChargesMicroUsd) AS STRING) AS MinCharges,
                   CAST(MAX(ChargesMicroUsd) AS STRING) AS MaxCharges, CAST(MIN(Version) AS STRING) AS MinVersion, CAST(MAX(Version) AS STRING) AS MaxVersion FROM Accounts`,
      json: true,
    });
    expect(rows).toEqual([{ N: String(users), Balance: '0', MinCharges: '16000000', MaxCharges: '16000000', MinVersion: '19', MaxVersion: '19' }]);
    // Each rejected 5.5 $ charge stayed rejected: no Charges row for invoice -1.
    expect(await scalar(connection, "SELECT COUNT(*) FROM Charges WHERE ENDS_WITH(InvoiceId, '-inv-1')")).toBe(0);

    const store = new SpannerLedgerStore(connection);
    const inbox = await store.readInboxOffsets(group, topic);
    const admin = testKafka('faults-admin').admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      expect(inbox.map((row) => [row.partition, row.nextOffset])).toEqual(offsets.map((offset) => [offset.partition, offset.high]).sort((a, b) => Number(a[0]) - Number(b[0])));
    } finally {
      await admin.disconnect();
    }
  });
});

describe('publisher SIGKILLed mid-batch', () => {
  let connection: SpannerConnection;
  afterAll(async () => connection?.close());

  test('restarted with --until-idle: every event at least once, duplicates only from the killed batch, per-user order kept after dedupe', async () => {
    connection = await freshConnection('fp');
    const store = new SpannerLedgerStore(connection);
    const handler = new CommandHandler(store, { bonusRateBps: 1000 });
    const users = Array.from({ length: 20 }, (_, i) => `pk-user-${i}`);
    const commands: string[] = [];
    for (let n = 0; n < 100; n++) for (const user of users) commands.push(JSON.stringify(depositWire(user, n, '2000000')));
    const outcomes = await handler.handleTexts(commands);
    expect(outcomes.filter((outcome) => outcome.status === 'accepted')).toHaveLength(2000);
    const totalEvents = 4000; // each deposit and its bonus
    const topic = uniqueTopic('pubkill');
    const batchSize = 500;
    const env = cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers() });
    const args = ['publish', '--topic', topic, '--name', 'faults', '--batch-size', String(batchSize), '--json'];

    const child = spawnSpanledger(args, env);
    // Kill after the second checkpoint, with the third batch being sent or checkpointed.
    for (;;) {
      const checkpoint = await readCheckpoint(connection, 'faults', topic);
      if (checkpoint.publishedEvents >= 2 * batchSize) break;
      const early = await Promise.race([child.exited, sleep(10).then(() => undefined)]);
      if (early) throw new Error(`publisher exited before the kill: ${JSON.stringify(early).slice(0, 800)}`);
    }
    child.process.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
    const checkpointed = (await readCheckpoint(connection, 'faults', topic)).publishedEvents;
    expect(checkpointed).toBeLessThan(totalEvents);

    const rerun = await spawnSpanledger([...args, '--until-idle'], env).exited;
    expect(rerun.stderr).not.toMatch(/"level":"(error|fatal)"|unexpected failure|spanledger: /);
    expect(rerun.code).toBe(0);
    const summary = JSON.parse(rerun.stdout.trim()) as { published: number; publishedTotal: number };
    expect(summary.published).toBe(totalEvents - checkpointed);
    expect(summary.publishedTotal).toBe(totalEvents);

    const admin = testKafka('faults-admin').admin();
    await admin.connect();
    let onTopic: number;
    try {
      onTopic = (await admin.fetchTopicOffsets(topic)).reduce((sum, offset) => sum + Number(offset.high), 0);
    } finally {
      await admin.disconnect();
    }
    const messages = await readTopic(topic, { expected: onTopic, timeoutMs: 60_000 });
    expect(messages).toHaveLength(onTopic);
    const duplicates = onTopic - totalEvents;
    process.stderr.write(`publisher kill: checkpoint at ${checkpointed}, ${onTopic} messages on the topic, ${duplicates} duplicates\n`);
    expect(duplicates).toBeLessThanOrEqual(batchSize);
    const ids = new Set(messages.map((message) => message.headers['event-id']));
    expect(ids.size).toBe(totalEvents);
    // A duplicate can only be an event of the batch in flight at the kill: the one after the
    // last checkpoint, in the global order. Each such event is on the topic at most twice.
    const logOrder: string[] = [];
    for (let position = null as Parameters<typeof store.readAll>[0]; ; ) {
      const page = await store.readAll(position, 1000);
      if (page.events.length === 0) break;
      logOrder.push(...page.events.map((event) => event.eventId));
      position = page.position;
    }
    const killedBatch = new Set(logOrder.slice(checkpointed, checkpointed + batchSize));
    const copies = new Map<string, number>();
    for (const message of messages) copies.set(message.headers['event-id']!, (copies.get(message.headers['event-id']!) ?? 0) + 1);
    const duplicated = [...copies].filter(([, count]) => count > 1);
    expect(duplicated.filter(([id, count]) => !killedBatch.has(id) || count > 2)).toEqual([]);
    expect(duplicated.reduce((sum, [, count]) => sum + count - 1, 0)).toBe(duplicates);
    // Per user (one key, one partition): in offset order, deduped by event-id, stream versions 1..200.
    const byUser = new Map<string, { offset: bigint; id: string; version: number }[]>();
    for (const message of messages) {
      const record = JSON.parse(message.value!.toString('utf8')) as { eventId: string; streamVersion: number; userId: string };
      expect(message.headers['event-id']).toBe(record.eventId);
      expect(message.key).toBe(record.userId);
      const list = byUser.get(record.userId) ?? [];
      list.push({ offset: BigInt(message.offset), id: record.eventId, version: record.streamVersion });
      byUser.set(record.userId, list);
    }
    expect([...byUser.keys()].sort()).toEqual([...users].sort());
    for (const [, list] of byUser) {
      list.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
      const seen = new Set<string>();
      const versions = list.filter((entry) => (seen.has(entry.id) ? false : (seen.add(entry.id), true))).map((entry) => entry.version);
      expect(versions).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    }
  });
});

describe('the broker stopped under a running consumer', () => {
  let connection: SpannerConnection;
  let broker: RunningBroker | undefined;
  afterAll(async () => {
    await broker?.stop();
    await connection?.close();
  });

  /**
   * The kcat mock cluster is in-memory: a restarted broker is a new, empty cluster on new
   * ports, so "restart and resume" cannot be tested. What can: the consumer notices the
   * broker is gone and exits 1 with a clear message in bounded time, and Spanner holds
   * whole chunks only (inbox offsets and events agree).
   */
  test('consumer exits 1 with a clear error in bounded time; events exactly those below the inbox offsets', async () => {
    connection = await freshConnection('fr');
    broker = await startKafkaBroker();
    const topic = uniqueTopic('brk');
    const kafka = new Kafka({ clientId: 'faults-producer', brokers: broker.brokers.split(','), logLevel: logLevel.NOTHING, connectionTimeout: 3000 });
    const producer = kafka.producer({ allowAutoTopicCreation: true, maxInFlightRequests: 1, idempotent: false });
    await producer.connect();
    const total = 4000;
    const partitions = 4;
    // Message i: a deposit for its own user, on partition i % 4, so its offset is floor(i / 4).
    const messages = Array.from({ length: total }, (_, i) => ({ partition: i % partitions, key: `br-user-${i}`, value: JSON.stringify(depositWire(`br-user-${i}`, i, '1000000')) }));
    for (let start = 0; start < total; start += 1000) await producer.send({ topic, acks: -1, messages: messages.slice(start, start + 1000) });
    await producer.disconnect();

    const env = cliEnv(connection, { KAFKA_BROKERS: broker.brokers, SPANLEDGER_BONUS_BPS: '0' });
    const group = `ledger-${topic}`;
    const child = spawnSpanledger(['consume', '--topic', topic, '--group', group, '--session-timeout-ms', '6000', '--json', '--batch-size', '10', '--outage-max-s', '15'], env);
    for (;;) {
      if ((await scalar(connection, 'SELECT COUNT(*) FROM Events')) >= 300) break;
      const early = await Promise.race([child.exited, sleep(25).then(() => undefined)]);
      if (early) throw new Error(`consumer exited before the broker stopped: ${JSON.stringify(early).slice(0, 800)}`);
    }
    await broker.stop();
    const stoppedAt = Date.now();
    // kafkajs' own retries (8, from 100 ms) plus 30 consumer recreations need well under a minute.
    const bound = SOAK ? 300_000 : 60_000;
    const end = await Promise.race([child.exited, sleep(bound).then(() => undefined)]);
    const seconds = (Date.now() - stoppedAt) / 1000;
    process.stderr.write(`broker stopped: consumer ${end ? `exited ${end.code} after ${seconds.toFixed(1)} s: ${end.stderr.trim().split('\n').slice(-2).join(' | ')}` : `still running after ${seconds.toFixed(0)} s`}\n`);
    if (!end) child.process.kill('SIGKILL');
    await child.exited;

    // Spanner: for each partition, exactly the messages below the inbox offset were applied.
    const inbox = await new SpannerLedgerStore(connection).readInboxOffsets(group, topic);
    const next = new Map(inbox.map((row) => [row.partition, Number(row.nextOffset)]));
    const expectedUsers = messages.flatMap((message, i) => (Math.floor(i / partitions) < (next.get(message.partition) ?? 0) ? [`br-user-${i}`] : []));
    const [rows] = await connection.database.run({ sql: 'SELECT UserId FROM Accounts', json: true });
    const applied = (rows as { UserId: string }[]).map((row) => row.UserId);
    expect(applied.length).toBeGreaterThanOrEqual(300);
    expect(applied.sort()).toEqual(expectedUsers.sort());
    expect(await scalar(connection, 'SELECT COUNT(*) FROM Events')).toBe(expectedUsers.length);

    // Then the exit: bounded, code 1, one clear line naming the broker.
    expect(end).toBeDefined();
    expect(end!.code).toBe(1);
    expect(end!.stderr).toMatch(/^spanledger: kafka 127\.0\.0\.1:\d+.*: /m);
    expect(end!.stderr).not.toMatch(/unexpected failure/);
  });
});
