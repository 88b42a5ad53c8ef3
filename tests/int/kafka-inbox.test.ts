import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { RunningBroker, startKafkaBroker } from '../../emulator';
import { listInbox } from '../../ledger/kafka/inbox-admin';
import { killSpawned, runSpanledger, spawnSpanledger } from '../support/cli';
import { chargeWire, depositWire } from '../support/commands';
import { appendControlRecord } from '../support/kafka-control-record';
import { ensureCliBuilt, kafkaBrokers, produceCommands, testKafka, uniqueTopic } from '../support/kafka';
import { cliEnv, freshConnection } from '../support/spanner';
import { balances, consume, GROUP_FLAGS } from '../support/consume-cli';

/**
 * The consumer's position against the embedded broker, through the real CLI: the cases
 * where money went missing with exit 0 (another log under the inbox, no inbox row), the
 * restore drill, the busy loop, records that are not messages, and retention gaps.
 */
jest.setTimeout(240_000);

const json = (value: unknown) => JSON.stringify(value);

afterAll(killSpawned);
beforeAll(() => {
  kafkaBrokers();
  ensureCliBuilt();
});

/** Per user: deposit $10, charge $15 (rejected: $10 available), deposit $10 → balance $20. */
function accountScript(userId: string, n: number): string[] {
  return [json(depositWire(userId, n, '10000000')), json(chargeWire(userId, `${userId}-inv`, '15000000')), json(depositWire(userId, n + 1, '10000000'))];
}

describe('the inbox is the position, in every database', () => {
  test('a database with no inbox row applies a partition from its first offset, whatever the group committed in Kafka', async () => {
    const topic = uniqueTopic('noinbox');
    const group = `g-${topic}`;
    const first = await freshConnection('ni1');
    const second = await freshConnection('ni2');
    try {
      await produceCommands(topic, [...accountScript('ni-a', 1), ...accountScript('ni-b', 10)]);
      const one = await consume(first, topic, group);
      expect(one.summary).toMatchObject({ accepted: 4, rejected: 2 });
      // The same group, another database: Kafka says "all consumed", the inbox says nothing is.
      const two = await consume(second, topic, group, { timeoutMs: 45_000 });
      expect(two.code).toBe(0);
      expect(two.summary).toMatchObject({ messages: 6, accepted: 4, rejected: 2, skipped: 0 });
      expect(two.stderr).toMatch(/no inbox row for group .* applying from the first offset/);
      expect(await balances(second)).toEqual(await balances(first));
    } finally {
      await first.close();
      await second.close();
    }
  });

  test('restore drill: export, import into a new database, consume the same topic with the same group: the balances equal the original', async () => {
    const topic = uniqueTopic('restore');
    const group = `g-${topic}`;
    const original = await freshConnection('rs1');
    const restored = await freshConnection('rs2');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'spanledger-restore-'));
    try {
      await produceCommands(topic, [...accountScript('rs-a', 1), ...accountScript('rs-b', 10)]);
      expect((await consume(original, topic, group)).summary).toMatchObject({ accepted: 4, rejected: 2 });
      const file = path.join(dir, 'ledger.jsonl');
      const exported = await runSpanledger(['events', 'export', file], { env: cliEnv(original) });
      expect(exported.code).toBe(0);
      expect(exported.stderr).toMatch(/exported 4 event\(s\) and \d consumer position\(s\)/);
      const imported = await runSpanledger(['events', 'import', file, '--json'], { env: cliEnv(restored) });
      expect(imported.code).toBe(0);
      expect(JSON.parse(imported.stdout)).toMatchObject({ appended: 4, conflicts: 0, invalid: 0 });
      expect(JSON.parse(imported.stdout).positions).toBeGreaterThan(0);
      // New commands arrive after the backup; both databases consume them.
      await produceCommands(topic, [json(depositWire('rs-a', 50, '1000000')), json(chargeWire('rs-b', 'rs-b-late', '5000000'))]);
      expect((await consume(original, topic, group)).summary).toMatchObject({ messages: 2, accepted: 2 });
      const resumed = await consume(restored, topic, group);
      // Resumed where the export stood: only the two new messages are decided. Had it replayed
      // from the start, the $15 charges (rejected with $10 then) would be accepted against $20.
      expect(resumed.summary).toMatchObject({ messages: 2, accepted: 2, rejected: 0, skipped: 0 });
      expect(await balances(restored)).toEqual(await balances(original));
      expect(await balances(original)).toEqual({ 'rs-a': '21000000', 'rs-b': '15000000' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await original.close();
      await restored.close();
    }
  });
});

describe('another log under the same topic name stops the consumer instead of skipping it', () => {
  let other: RunningBroker | undefined;
  afterAll(async () => {
    await other?.stop();
  });

  test('a fresh cluster with fewer messages, then one with as many but other ones: exit 1 naming the reset; after the reset the new log is applied', async () => {
    const topic = uniqueTopic('recreated');
    const group = `g-${topic}`;
    const connection = await freshConnection('rc');
    try {
      const user = 'rc-user';
      await produceCommands(topic, Array.from({ length: 5 }, (_, n) => json(depositWire(user, n, '1000000'))));
      expect((await consume(connection, topic, group)).summary).toMatchObject({ accepted: 5 });
      const before = await balances(connection);

      other = await startKafkaBroker();
      const otherKafka = new Kafka({ clientId: 'rc', brokers: other.brokers.split(','), logLevel: logLevel.NOTHING });
      await produceCommands(topic, [json(depositWire(user, 100, '7000000')), json(depositWire(user, 101, '7000000'))], { kafka: otherKafka });
      const shorter = await consume(connection, topic, group, { brokers: other.brokers });
      expect(shorter.code).toBe(1);
      expect(shorter.stderr).toMatch(/is not the log the inbox of group .* was written from: the partition ends at offset 2, but its inbox says offsets up to 4 were applied/);
      expect(shorter.stderr).toContain(`spanledger inbox reset --group ${group} --topic ${topic} --partition`);
      expect(await balances(connection)).toEqual(before);
      const doctor = await runSpanledger(['doctor', '--json'], { env: cliEnv(connection, { KAFKA_BROKERS: other.brokers }) });
      const inboxCheck = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks.find((check) => check.name === 'kafka.inbox');
      expect(inboxCheck).toMatchObject({ status: 'fail' });
      expect(inboxCheck!.detail).toMatch(/not the log the inbox/);

      // As many messages as the inbox, and more, but not the ones applied: the fingerprint tells.
      await produceCommands(topic, Array.from({ length: 6 }, (_, n) => json(depositWire(user, 200 + n, '3000000'))), { kafka: otherKafka });
      const same = await consume(connection, topic, group, { brokers: other.brokers });
      expect(same.code).toBe(1);
      expect(same.stderr).toMatch(/the message at offset 4 is not the one the inbox applied there/);
      expect(await balances(connection)).toEqual(before);

      const reset = await runSpanledger(['inbox', 'reset', '--group', group, '--topic', topic], { env: cliEnv(connection) });
      expect(reset.code).toBe(0);
      expect(reset.stdout).toMatch(/reset .* \(was at offset 5\)/);
      const applied = await consume(connection, topic, group, { brokers: other.brokers });
      expect(applied.summary).toMatchObject({ messages: 8, accepted: 8 });
      expect((await balances(connection))[user]).toBe(String(5_000_000 + 2 * 7_000_000 + 6 * 3_000_000));
    } finally {
      await connection.close();
    }
  });
});

describe('redeliveries below the inbox do not spin', () => {
  test('with the group\'s Kafka offset moved back to 0 and the inbox at the end, a running consumer skips each message at most once', async () => {
    const topic = uniqueTopic('spin');
    const group = `g-${topic}`;
    const connection = await freshConnection('sp');
    try {
      await produceCommands(topic, Array.from({ length: 4 }, (_, n) => json(depositWire('spin-user', n, '1000000'))));
      expect((await consume(connection, topic, group)).summary).toMatchObject({ accepted: 4 });
      await rewindGroup(group, topic);
      const child = spawnSpanledger(['consume', '--topic', topic, '--group', group, '--json', ...GROUP_FLAGS], cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers() }));
      await new Promise((resolve) => setTimeout(resolve, 8_000));
      child.process.kill('SIGTERM');
      const done = await child.exited;
      expect(done.code).toBe(0);
      const summary = JSON.parse(done.stdout.trim()) as { messages: number; skipped: number };
      // The old consumer skipped the same 4 messages about 12,000 times a second.
      expect(summary.messages).toBe(0);
      expect(summary.skipped).toBeLessThanOrEqual(4);
    } finally {
      await connection.close();
    }
  });
});

/** Commits offset 0 for every partition of `topic` in `group`, as a lagging Kafka commit would leave it. */
async function rewindGroup(group: string, topic: string): Promise<void> {
  const kafka = testKafka('spanledger-test-rewind');
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 1000, rebalanceTimeout: 6000 });
  let assigned: number[] | undefined;
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    assigned = event.payload.memberAssignment[topic] ?? [];
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => new Promise(() => undefined) });
  for (let i = 0; i < 300 && assigned === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  await consumer.commitOffsets((assigned ?? []).map((partition) => ({ topic, partition, offset: '0' })));
  await consumer.disconnect();
}

describe('idle means caught up with what can still be fetched', () => {
  test('a partition ending in a transaction marker goes idle, and its inbox is moved past the marker', async () => {
    const topic = uniqueTopic('marker');
    const group = `g-${topic}`;
    const connection = await freshConnection('mk');
    try {
      await produceCommands(topic, Array.from({ length: 3 }, (_, n) => ({ key: 'marker-user', value: json(depositWire('marker-user', n, '1000000')) })));
      const admin = testKafka('marker-admin').admin();
      await admin.connect();
      const partition = (await admin.fetchTopicOffsets(topic)).find((offset) => offset.high !== '0')!.partition;
      await appendControlRecord(kafkaBrokers(), topic, partition, 'COMMIT');
      const high = (await admin.fetchTopicOffsets(topic)).find((offset) => offset.partition === partition)!.high;
      await admin.disconnect();
      expect(high).toBe('4');
      const run = await consume(connection, topic, group, { timeoutMs: 45_000 });
      expect(run.code).toBe(0);
      expect(run.summary).toMatchObject({ accepted: 3, stoppedBy: 'idle' });
      expect((await listInbox(connection, { group })).find((row) => row.partition === partition)?.nextOffset).toBe('4');
    } finally {
      await connection.close();
    }
  });

  test('messages deleted by retention before they were applied are logged as lost, and the consumer goes on', async () => {
    const topic = uniqueTopic('retention');
    const group = `g-${topic}`;
    const connection = await freshConnection('rt');
    try {
      const user = 'retention-user';
      await produceCommands(topic, [{ key: user, value: json(depositWire(user, 1, '1000000')) }]);
      expect((await consume(connection, topic, group)).summary).toMatchObject({ accepted: 1 });
      // The embedded broker keeps about 5 MiB per partition and drops the oldest batches: one
      // send per message makes one batch each, so the first ones go.
      const filler = 'x'.repeat(50_000);
      const kafka = testKafka('retention-producer');
      const producer = kafka.producer({ allowAutoTopicCreation: true });
      await producer.connect();
      for (let i = 0; i < 130; i++) await producer.send({ topic, acks: -1, messages: [{ key: user, value: filler }] });
      await producer.send({ topic, acks: -1, messages: [{ key: user, value: json(depositWire(user, 2, '2000000')) }] });
      await producer.disconnect();
      const run = await consume(connection, topic, group, { timeoutMs: 120_000 });
      expect(run.code).toBe(0);
      expect(Number(run.summary!.lost)).toBeGreaterThan(0);
      expect(run.stderr).toMatch(/were deleted \(retention\) before this ledger applied them/);
      expect(run.summary).toMatchObject({ accepted: 1, stoppedBy: 'idle' });
      expect((await balances(connection))[user]).toBe('3000000');
    } finally {
      await connection.close();
    }
  });
});

