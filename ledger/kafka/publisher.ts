import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kafka, Message, Producer, RecordMetadata } from 'kafkajs';
import type { Logger } from 'pino';
import { eventUserId, StoredEvent } from '../core/events';
import { LIMITS } from '../core/limits';
import { GlobalPosition, LedgerStore } from '../core/store';
import { SpannerConnection } from '../spanner/connection';
import { TransactionObserver } from '../spanner/transaction';
import { producerConfig } from './client';
import { brokerErrorType, explainSendFailure } from './dead-letters';
import { claimLease, LeaseHolder, PublisherCheckpoint, releaseLease, saveCheckpoint, shrunkPartitions } from './publisher-checkpoint';
import { toExportRecord } from './records';

export { CheckpointMoved, readCheckpoint } from './publisher-checkpoint';
export type { PublisherCheckpoint } from './publisher-checkpoint';

/**
 * The event publisher (outbox relay): reads the ledger in the global order (readAll) and
 * sends every event to a topic, key = user ID, value = its `events export` JSON line,
 * header `event-id`. Producer: acks=all, one request in flight (a retried request cannot
 * overtake the next one, so per-key order holds), idempotent where the brokers support it
 * (kafkajs retrying a timed-out request then cannot append a batch twice).
 *
 * Order: the log's global order, per key. On a topic with several partitions, consumers see
 * each user's events in order; events of different users may interleave differently.
 *
 * Delivery is at least once, never twice without a crash: the checkpoint moves only AFTER
 * the broker acknowledged a send, and every send follows a Spanner transaction that found
 * this publisher holding the checkpoint's lease (publisher-checkpoint.ts). A crash between
 * the ack and the checkpoint re-sends that batch; consumers dedupe by `event-id`.
 *
 * A recreated topic (or one that lost data) is recognised by its partition ends: below what
 * this publisher wrote, the history this checkpoint counts as published is gone. The
 * publisher stops rather than go on publishing only the new tail; `fromStart` sends it all.
 */

export interface PublishOptions {
  readonly topic: string;
  /** The lease holder's name (publisherOwner()); the same across restarts of one process, so it resumes its own lease. */
  readonly owner?: string;
  /** Checkpoint name; two publishers to one topic need different names. */
  readonly publisher?: string;
  /** Events per read and per send, 1..1000 (default 500). */
  readonly batchSize?: number;
  /** Stop once readAll returns nothing more. */
  readonly untilIdle?: boolean;
  /** Pause between polls of an idle log (ms, default 500). */
  readonly pollMs?: number;
  /** Publish the whole log again from its first event (after the topic was recreated). */
  readonly fromStart?: boolean;
  /** How long the checkpoint's lease lasts without renewal (ms, default 15 s). */
  readonly leaseMs?: number;
  /** The idempotent producer (default true; the embedded broker lacks it). */
  readonly idempotentProducer?: boolean;
  readonly autoCreateTopics?: boolean;
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

export const DEFAULT_PUBLISHER = 'spanledger';
export const DEFAULT_LEASE_MS = 15_000;

/** The topic lost what this publisher wrote to it: publishing on would leave a hole in the history. */
export class PublishTopicShrunk extends Error {
  override readonly name = 'PublishTopicShrunk';
}

/** A send the brokers refused, with the cause in their words and ours. */
export class PublishSendError extends Error {
  override readonly name = 'PublishSendError';
}

/** The Kafka message of one event. */
export function eventMessage(event: StoredEvent): Message {
  return { key: eventUserId(event), value: JSON.stringify(toExportRecord(event)), headers: { 'event-id': event.eventId } };
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

/**
 * Partition ends after an acknowledged send: each partition written reached at least its
 * batch's base offset + 1 (the broker reports where each partition's part of the batch
 * starts, not how many it holds).
 */
function endsAfter(previous: Readonly<Record<string, string>>, sent: readonly RecordMetadata[]): Record<string, string> {
  const ends = { ...previous };
  for (const entry of sent) {
    const reached = BigInt(entry.baseOffset ?? '-1') + 1n;
    const key = String(entry.partition);
    if (reached > BigInt(ends[key] ?? '0')) ends[key] = reached.toString();
  }
  return ends;
}

/** Who holds a publisher's lease: this host and process, and a random part for each publisher in it. */
export function publisherOwner(): string {
  return `publisher:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

export async function publishEvents(kafka: Kafka, store: LedgerStore, connection: SpannerConnection, options: PublishOptions): Promise<PublishSummary> {
  const started = Date.now();
  const publisher = options.publisher ?? DEFAULT_PUBLISHER;
  const { topic } = options;
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > LIMITS.readPageSizeMax) {
    throw new RangeError(`publish batch size must be 1..${LIMITS.readPageSizeMax}, got ${batchSize}`);
  }
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const pollMs = options.pollMs ?? 500;
  const owner = options.owner ?? publisherOwner();
  const logger = options.logger;
  const note = (level: 'info' | 'warn', fields: Record<string, unknown>, line: string) => {
    options.log?.(line);
    logger?.[level](fields, line);
  };
  const producer: Producer = kafka.producer(producerConfig({ idempotent: options.idempotentProducer ?? true, autoCreateTopics: options.autoCreateTopics ?? true }));
  const admin = kafka.admin();
  const summary: PublishSummary = { topic, publisher, published: 0, batches: 0, publishedTotal: 0, position: null, seconds: 0, stoppedBy: 'signal' };

  await producer.connect();
  await admin.connect();
  let holding = false;
  try {
    // Stand by while another live publisher with this name holds the lease.
    let claim = await claimLease(connection, publisher, topic, owner, leaseMs, { fromStart: options.fromStart, observer: options.transactionObserver });
    for (let standing = false; claim.kind === 'standby'; ) {
      if (!standing) note('info', { event: 'publish_standby', topic, publisher, holder: claim.holder.owner, until: claim.holder.expiresAt }, `another publisher named ${publisher} (${claim.holder.owner}) holds the lease on ${topic}; standing by`);
      standing = true;
      await sleep(Math.max(pollMs, 500), options.signal);
      if (options.signal?.aborted) return { ...summary, seconds: (Date.now() - started) / 1000 };
      claim = await claimLease(connection, publisher, topic, owner, leaseMs, { fromStart: options.fromStart, observer: options.transactionObserver });
    }
    holding = true;
    let checkpoint: PublisherCheckpoint = claim.checkpoint;
    let lease: LeaseHolder = claim.lease;
    /** When this process last saw the lease renewed (its own clock: only elapsed time matters). */
    let renewedAt = Date.now();
    summary.publishedTotal = checkpoint.publishedEvents;
    summary.position = checkpoint.position;

    const highs = new Map((await admin.fetchTopicOffsets(topic)).map((offset) => [offset.partition, BigInt(offset.high)]));
    const shrunk = shrunkPartitions(checkpoint, highs);
    if (shrunk.length > 0) {
      const detail = shrunk.map(({ partition, high, wrote }) => `partition ${partition} ends at ${high}, this publisher wrote up to ${wrote}`).join('; ');
      throw new PublishTopicShrunk(`${topic} holds less than publisher ${publisher} sent to it (${detail}): the topic was recreated or lost data, and ${checkpoint.publishedEvents} published events are not all on it`);
    }
    logger?.info({ event: 'publish_started', topic, publisher, batchSize, publishedTotal: checkpoint.publishedEvents, position: checkpoint.position, fromStart: Boolean(options.fromStart) }, `publishing to ${topic} as ${publisher}`);

    const renew = async () => {
      const next = await claimLease(connection, publisher, topic, owner, leaseMs, { expect: checkpoint, observer: options.transactionObserver });
      if (next.kind === 'standby') throw new Error(`publisher ${publisher} lost its lease on ${topic} to ${next.holder.owner}`);
      lease = next.lease;
      renewedAt = Date.now();
    };

    while (!options.signal?.aborted) {
      const page = await store.readAll(checkpoint.position, batchSize);
      if (page.events.length === 0 || !page.position) {
        if (options.untilIdle) {
          summary.stoppedBy = 'idle';
          break;
        }
        if (Date.now() - renewedAt > leaseMs / 2) await renew();
        await sleep(pollMs, options.signal);
        continue;
      }
      // The fence before the send: the lease was found ours and renewed less than half a lease ago.
      if (Date.now() - renewedAt > leaseMs / 2) await renew();
      let sent: RecordMetadata[];
      try {
        sent = await producer.send({ topic, acks: -1, messages: page.events.map(eventMessage) });
      } catch (error) {
        // A refusal in the broker's words (a missing topic, an ACL) is named; anything else is
        // the brokers being away, which the caller explains as such.
        if (brokerErrorType(error) === undefined) throw error;
        throw new PublishSendError(`cannot publish to ${topic}: ${explainSendFailure(topic, error)}`, { cause: error });
      }
      // Acknowledged by every in-sync replica: now, and only now, move the checkpoint.
      const next: PublisherCheckpoint = { position: page.position, publishedEvents: checkpoint.publishedEvents + page.events.length, partitionEnds: endsAfter(checkpoint.partitionEnds, sent) };
      lease = await saveCheckpoint(connection, publisher, topic, owner, leaseMs, checkpoint, next, options.transactionObserver);
      renewedAt = Date.now();
      checkpoint = next;
      options.onBatch?.(page.events.length);
      logger?.debug({ event: 'batch_published', topic, events: page.events.length, publishedTotal: next.publishedEvents, position: next.position, leaseUntil: lease.expiresAt }, `published ${page.events.length} events`);
      summary.published += page.events.length;
      summary.batches++;
      summary.publishedTotal = next.publishedEvents;
      summary.position = next.position;
    }
  } finally {
    if (holding) await releaseLease(connection, publisher, topic, owner).catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  summary.seconds = (Date.now() - started) / 1000;
  logger?.info({ event: 'publish_stopped', ...summary }, `publisher stopped by ${summary.stoppedBy}`);
  return summary;
}
