import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { sha256Hex } from '../ledger/core/canonical';
import { consumeCommands } from '../ledger/kafka/consumer';
import { SpannerConnection } from '../ledger/spanner/connection';
import { SpannerLedgerStore } from '../ledger/spanner/store';

/**
 * Consume throughput: produce `count` deposit commands (10 % bonus: two events each, like
 * the submit benchmark, so events/s compare like with like)
 * to a fresh topic, then time `consume --until-idle` (in-process, one member) from start
 * to idle. The database of `connection` must be migrated; the figures include the group
 * join and the final idle check (up to 0.5 s).
 */
export async function benchConsume(
  connection: SpannerConnection,
  brokers: string,
  count = 20_000,
): Promise<{ messages: number; seconds: number; eventsPerSecond: number }> {
  const kafka = new Kafka({ clientId: 'spanledger-bench', brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 10 } });
  const run = randomBytes(4).toString('hex');
  const topic = `bench-consume-${run}`;
  const producer = kafka.producer({ allowAutoTopicCreation: true, maxInFlightRequests: 1, idempotent: false });
  await producer.connect();
  try {
    const users = Math.max(1, Math.floor(count / 10));
    for (let start = 0; start < count; start += 1000) {
      const messages = [];
      for (let n = start; n < Math.min(count, start + 1000); n++) {
        const userId = `bench-${run}-${n % users}`;
        const command = {
          type: 'deposit',
          userId,
          source: 'ethereum',
          chainId: '1',
          txHash: `0x${sha256Hex(`${run}/${n}`)}`,
          logIndex: '0',
          blockNumber: String(1000 + n),
          wallet: `0x${'ab'.repeat(20)}`,
          tokenValue: '1000',
          amountMicroUsd: '1000000',
          occurredAt: '2026-03-01T10:00:00.000000Z',
        };
        messages.push({ key: userId, value: JSON.stringify(command) });
      }
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
  const started = process.hrtime.bigint();
  const summary = await consumeCommands(kafka, new SpannerLedgerStore(connection), {
    topic,
    group: `bench-${run}`,
    untilIdle: true,
    sessionTimeoutMs: 10_000,
    bonusRateBps: 1000,
    idleCheckMs: 200,
    idempotentProducer: false,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (summary.accepted !== count) throw new Error(`bench-consume: ${summary.accepted} of ${count} deposits accepted (${JSON.stringify(summary)})`);
  return { messages: summary.messages, seconds, eventsPerSecond: summary.events / seconds };
}
