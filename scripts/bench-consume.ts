import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { sha256Hex } from '../ledger/core/canonical';
import { consumeCommands } from '../ledger/kafka/consumer';
import { SpannerConnection } from '../ledger/spanner/connection';
import { SpannerLedgerStore } from '../ledger/spanner/store';
import { seconds } from './bench-support';

/**
 * Consume throughput: produce `count` deposit commands (10 % bonus: two events each, like
 * the submit benchmark, so events/s compare like with like)
 * to a fresh topic, then time `consume --until-idle` (in-process, one member) from start
 * to idle. The database of `connection` must be migrated.
 *
 * Two figures: end to end (the group join and the final idle check included), and steady
 * (events of every chunk after the first, over the time from the first chunk's commit to
 * the last's). The join is a fixed cost of the broker, not of spanledger: Kafka (and the
 * embedded mock broker) holds a new group's first join for group.initial.rebalance.delay.ms,
 * 3 s by default.
 */
export async function benchConsume(
  connection: SpannerConnection,
  brokers: string,
  count = 20_000,
): Promise<{ messages: number; seconds: number; eventsPerSecond: number; firstChunkSeconds: number; steadyEventsPerSecond: number }> {
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
  const chunks: { at: number; events: number }[] = [];
  const summary = await consumeCommands(kafka, new SpannerLedgerStore(connection), {
    topic,
    group: `bench-${run}`,
    untilIdle: true,
    sessionTimeoutMs: 10_000,
    bonusRateBps: 1000,
    idleCheckMs: 200,
    idempotentProducer: false,
    observer: { onChunk: ({ outcomes }) => chunks.push({ at: seconds(started), events: outcomes.reduce((sum, outcome) => sum + (outcome.eventIds?.length ?? 0), 0) }) },
  });
  const elapsed = seconds(started);
  if (summary.accepted !== count) throw new Error(`bench-consume: ${summary.accepted} of ${count} deposits accepted (${JSON.stringify(summary)})`);
  const first = chunks[0]!;
  const last = chunks[chunks.length - 1]!;
  const steadyEvents = chunks.slice(1).reduce((sum, chunk) => sum + chunk.events, 0);
  return { messages: summary.messages, seconds: elapsed, eventsPerSecond: summary.events / elapsed, firstChunkSeconds: first.at, steadyEventsPerSecond: steadyEvents / (last.at - first.at) };
}
