import { PreciseDate } from '@google-cloud/precise-date';
import { Kafka, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { eventUserId, StoredEvent } from '../core/events';
import { LIMITS } from '../core/limits';
import { GlobalPosition, LedgerStore } from '../core/store';
import { SpannerConnection } from '../spanner/connection';
import { int64 } from '../spanner/codec';
import { runReadWrite, TransactionObserver } from '../spanner/transaction';
import { toExportRecord } from './records';

/**
 * The event publisher (outbox relay): reads the ledger in the global order (readAll) and
 * sends every event to a topic, key = user ID, value = its `events export` JSON line,
 * header `event-id`. Producer: acks=all, one request in flight (so a retried request cannot
 * overtake the next one and per-key order holds).
 *
 * Delivery is at-least-once, never twice without a crash: the checkpoint (last published
 * GlobalPosition per publisher name and topic, KafkaPublisherCheckpoints) is written in its
 * own read-write transaction only AFTER the broker acknowledged the send. A crash between
 * the ack and that commit re-sends that batch on restart; consumers dedupe by `event-id`.
 * The checkpoint transaction also checks the row is still where this publisher left it, so
 * two publishers with the same name cannot both advance it (the second one stops).
 */

export interface PublishOptions {
  readonly topic: string;
  /** Checkpoint name; two publishers to one topic need different names. */
  readonly publisher?: string;
  /** Events per read and per send, 1..1000 (default 500). */
  readonly batchSize?: number;
  /** Stop once readAll returns nothing more. */
  readonly untilIdle?: boolean;
  /** Pause between polls of an idle log (ms, default 500). */
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
  /** Structured logger (the CLI's pino logger on stderr). */
  readonly logger?: Logger;
  /** Called after each batch is acknowledged and its checkpoint committed. */
  readonly onBatch?: (events: number) => void;
  /** Reports retries of the checkpoint transaction (metrics). */
  readonly transactionObserver?: TransactionObserver;
}

export interface PublishSummary {
  topic: string;
  publisher: string;
  /** Events sent by this run. */
  published: number;
  batches: number;
  /** Events published under this checkpoint by all runs. */
  publishedTotal: number;
  position: GlobalPosition | null;
  seconds: number;
  stoppedBy: 'idle' | 'signal';
}

export interface PublisherCheckpoint {
  readonly position: GlobalPosition | null;
  readonly publishedEvents: number;
}

export class CheckpointMoved extends Error {}

export const DEFAULT_PUBLISHER = 'spanledger';

/** The Kafka message of one event. */
export function eventMessage(event: StoredEvent): Message {
  return { key: eventUserId(event), value: JSON.stringify(toExportRecord(event)), headers: { 'event-id': event.eventId } };
}

const CHECKPOINT_SQL = `SELECT FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E9SZ', CommittedAt, 'UTC') AS CommittedAt,
  StreamId, StreamVersion, PublishedEvents
  FROM KafkaPublisherCheckpoints WHERE Publisher = @publisher AND Topic = @topic`;

function checkpointFromRows(rows: unknown[]): PublisherCheckpoint {
  const row = rows[0] as Record<string, unknown> | undefined;
  if (!row) return { position: null, publishedEvents: 0 };
  return {
    position: { committedAt: String(row.CommittedAt), streamId: String(row.StreamId), streamVersion: Number(int64(row.StreamVersion)) },
    publishedEvents: Number(int64(row.PublishedEvents)),
  };
}

function samePosition(a: GlobalPosition | null, b: GlobalPosition | null): boolean {
  if (a === null || b === null) return a === b;
  return a.committedAt === b.committedAt && a.streamId === b.streamId && a.streamVersion === b.streamVersion;
}

export async function readCheckpoint(connection: SpannerConnection, publisher: string, topic: string): Promise<PublisherCheckpoint> {
  const [rows] = await connection.database.run({
    sql: CHECKPOINT_SQL,
    params: { publisher, topic },
    json: true,
    jsonOptions: { wrapNumbers: true },
    ...connection.queryOptions,
  });
  return checkpointFromRows(rows);
}

/** Moves the checkpoint from `previous` to `next`; throws CheckpointMoved if someone else moved it. */
export async function saveCheckpoint(
  connection: SpannerConnection,
  publisher: string,
  topic: string,
  previous: PublisherCheckpoint,
  next: PublisherCheckpoint & { position: GlobalPosition },
  observer: TransactionObserver = {},
): Promise<void> {
  await runReadWrite(connection, async (tx) => {
    const [rows] = await tx.run({ sql: CHECKPOINT_SQL, params: { publisher, topic }, json: true, jsonOptions: { wrapNumbers: true }, ...connection.queryOptions });
    const stored = checkpointFromRows(rows);
    if (!samePosition(stored.position, previous.position) || stored.publishedEvents !== previous.publishedEvents) {
      throw new CheckpointMoved(`publisher checkpoint ${publisher}/${topic} was moved by another publisher with the same name`);
    }
    tx.upsert('KafkaPublisherCheckpoints', {
      Publisher: publisher,
      Topic: topic,
      CommittedAt: new PreciseDate(next.position.committedAt),
      StreamId: next.position.streamId,
      StreamVersion: String(next.position.streamVersion),
      PublishedEvents: String(next.publishedEvents),
      UpdatedAt: 'spanner.commit_timestamp()',
    });
  }, observer);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });
}

export async function publishEvents(
  kafka: Kafka,
  store: LedgerStore,
  connection: SpannerConnection,
  options: PublishOptions,
): Promise<PublishSummary> {
  const started = Date.now();
  const publisher = options.publisher ?? DEFAULT_PUBLISHER;
  const { topic } = options;
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > LIMITS.readPageSizeMax) {
    throw new RangeError(`publish batch size must be 1..${LIMITS.readPageSizeMax}, got ${batchSize}`);
  }
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: true, maxInFlightRequests: 1, idempotent: false });
  let checkpoint = await readCheckpoint(connection, publisher, topic);
  const summary: PublishSummary = {
    topic,
    publisher,
    published: 0,
    batches: 0,
    publishedTotal: checkpoint.publishedEvents,
    position: checkpoint.position,
    seconds: 0,
    stoppedBy: 'signal',
  };
  const logger = options.logger;
  await producer.connect();
  logger?.info({ event: 'publish_started', topic, publisher, batchSize, publishedTotal: checkpoint.publishedEvents, position: checkpoint.position }, `publishing to ${topic} as ${publisher}`);
  try {
    while (!options.signal?.aborted) {
      const page = await store.readAll(checkpoint.position, batchSize);
      const last = page.events[page.events.length - 1];
      if (!last || !page.position) {
        if (options.untilIdle) {
          summary.stoppedBy = 'idle';
          break;
        }
        await sleep(options.pollMs ?? 500, options.signal);
        continue;
      }
      await producer.send({ topic, acks: -1, messages: page.events.map(eventMessage) });
      // Acknowledged by every in-sync replica: now, and only now, move the checkpoint.
      const next = { position: page.position, publishedEvents: checkpoint.publishedEvents + page.events.length };
      await saveCheckpoint(connection, publisher, topic, checkpoint, next, options.transactionObserver);
      checkpoint = next;
      options.onBatch?.(page.events.length);
      logger?.debug({ event: 'batch_published', topic, events: page.events.length, publishedTotal: next.publishedEvents, position: next.position }, `published ${page.events.length} events`);
      summary.published += page.events.length;
      summary.batches++;
      summary.publishedTotal = next.publishedEvents;
      summary.position = next.position;
    }
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
  summary.seconds = (Date.now() - started) / 1000;
  logger?.info({ event: 'publish_stopped', ...summary }, `publisher stopped by ${summary.stoppedBy}`);
  return summary;
}
