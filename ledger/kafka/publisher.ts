import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Admin, Kafka, Message, Producer, RecordMetadata } from 'kafkajs';
import type { Logger } from 'pino';
import { eventUserId, StoredEvent } from '../core/events';
import { LIMITS } from '../core/limits';
import { GlobalPosition, LedgerStore } from '../core/store';
import { SpannerConnection } from '../spanner/connection';
import { TransactionObserver } from '../spanner/transaction';
import { producerConfig } from './client';
import { brokerErrorType, explainSendFailure } from './dead-letters';
import { checkpointAfter, planPoll } from './publish-plan';
import { claimLease, ClaimResult, LeaseHolder, PublisherCheckpoint, releaseLease, saveCheckpoint, shrunkPartitions } from './publisher-checkpoint';
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
export const DEFAULT_LEASE_MS = LIMITS.leaseDefaultMs;

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

/** Who holds a publisher's lease: this host and process, and a random part for each publisher in it. */
export function publisherOwner(): string {
  return `publisher:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** Publishes until idle (with `untilIdle`) or until `signal` aborts; see the top of this file for the guarantees. */
export async function publishEvents(kafka: Kafka, store: LedgerStore, connection: SpannerConnection, options: PublishOptions): Promise<PublishSummary> {
  return new PublisherRun(kafka, store, connection, options).run();
}

type Held = Extract<ClaimResult, { kind: 'held' }>;

/** One run of the publisher: the shell that performs what planPoll decides. */
class PublisherRun {
  private readonly publisher: string;
  private readonly topic: string;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly owner: string;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly summary: PublishSummary;
  private checkpoint!: PublisherCheckpoint;
  private lease!: LeaseHolder;
  /** When this process last saw the lease renewed (its own clock: only elapsed time matters). */
  private renewedAt = 0;

  constructor(
    kafka: Kafka,
    private readonly store: LedgerStore,
    private readonly connection: SpannerConnection,
    private readonly options: PublishOptions,
  ) {
    this.publisher = options.publisher ?? DEFAULT_PUBLISHER;
    this.topic = options.topic;
    this.batchSize = options.batchSize ?? 500;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > LIMITS.readPageSizeMax) {
      throw new RangeError(`publish batch size must be 1..${LIMITS.readPageSizeMax}, got ${this.batchSize}`);
    }
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.pollMs = options.pollMs ?? 500;
    this.owner = options.owner ?? publisherOwner();
    this.producer = kafka.producer(producerConfig({ idempotent: options.idempotentProducer ?? true, autoCreateTopics: options.autoCreateTopics ?? true }));
    this.admin = kafka.admin();
    this.summary = { topic: this.topic, publisher: this.publisher, published: 0, batches: 0, publishedTotal: 0, position: null, seconds: 0, stoppedBy: 'signal' };
  }

  async run(): Promise<PublishSummary> {
    const started = Date.now();
    const { topic, publisher, summary } = this;
    await this.producer.connect();
    await this.admin.connect();
    let holding = false;
    try {
      const claim = await this.standBy();
      if (!claim) return { ...summary, seconds: (Date.now() - started) / 1000 };
      holding = true;
      this.hold(claim);
      await this.checkTopicKept();
      this.options.logger?.info(
        { event: 'publish_started', topic, publisher, batchSize: this.batchSize, publishedTotal: this.checkpoint.publishedEvents, position: this.checkpoint.position, fromStart: Boolean(this.options.fromStart) },
        `publishing to ${topic} as ${publisher}`,
      );
      await this.publishUntilStopped();
    } finally {
      if (holding) await releaseLease(this.connection, publisher, topic, this.owner).catch(() => undefined);
      await this.producer.disconnect().catch(() => undefined);
      await this.admin.disconnect().catch(() => undefined);
    }
    summary.seconds = (Date.now() - started) / 1000;
    this.options.logger?.info({ event: 'publish_stopped', ...summary }, `publisher stopped by ${summary.stoppedBy}`);
    return summary;
  }

  private note(level: 'info' | 'warn', fields: Record<string, unknown>, line: string): void {
    this.options.log?.(line);
    this.options.logger?.[level](fields, line);
  }

  private claim(extra: { expect?: PublisherCheckpoint; fromStart?: boolean }): Promise<ClaimResult> {
    return claimLease(this.connection, this.publisher, this.topic, this.owner, this.leaseMs, { ...extra, observer: this.options.transactionObserver });
  }

  /** Stands by while another live publisher with this name holds the lease; undefined when the signal ends the wait. */
  private async standBy(): Promise<Held | undefined> {
    const { topic, publisher, options } = this;
    let claim = await this.claim({ fromStart: options.fromStart });
    for (let standing = false; claim.kind === 'standby'; ) {
      if (!standing) this.note('info', { event: 'publish_standby', topic, publisher, holder: claim.holder.owner, until: claim.holder.expiresAt }, `another publisher named ${publisher} (${claim.holder.owner}) holds the lease on ${topic}; standing by`);
      standing = true;
      await sleep(Math.max(this.pollMs, 500), options.signal);
      if (options.signal?.aborted) return undefined;
      claim = await this.claim({ fromStart: options.fromStart });
    }
    return claim;
  }

  private hold(claim: Held): void {
    this.checkpoint = claim.checkpoint;
    this.lease = claim.lease;
    this.renewedAt = Date.now();
    this.summary.publishedTotal = claim.checkpoint.publishedEvents;
    this.summary.position = claim.checkpoint.position;
  }

  /** A topic that holds less than this checkpoint wrote to it was recreated or lost data: stop. */
  private async checkTopicKept(): Promise<void> {
    const { topic, publisher, checkpoint } = this;
    const highs = new Map((await this.admin.fetchTopicOffsets(topic)).map((offset) => [offset.partition, BigInt(offset.high)]));
    const shrunk = shrunkPartitions(checkpoint, highs);
    if (shrunk.length === 0) return;
    const detail = shrunk.map(({ partition, high, wrote }) => `partition ${partition} ends at ${high}, this publisher wrote up to ${wrote}`).join('; ');
    throw new PublishTopicShrunk(`${topic} holds less than publisher ${publisher} sent to it (${detail}): the topic was recreated or lost data, and ${checkpoint.publishedEvents} published events are not all on it`);
  }

  private async renew(): Promise<void> {
    const next = await this.claim({ expect: this.checkpoint });
    if (next.kind === 'standby') throw new Error(`publisher ${this.publisher} lost its lease on ${this.topic} to ${next.holder.owner}`);
    this.lease = next.lease;
    this.renewedAt = Date.now();
  }

  private async publishUntilStopped(): Promise<void> {
    const { options } = this;
    while (!options.signal?.aborted) {
      const page = await this.store.readAll(this.checkpoint.position, this.batchSize);
      const step = planPoll({ events: page.events.length, position: page.position }, { untilIdle: Boolean(options.untilIdle), sinceRenewalMs: Date.now() - this.renewedAt, leaseMs: this.leaseMs });
      if (step.kind === 'stop-idle') {
        this.summary.stoppedBy = 'idle';
        return;
      }
      // The fence before the send: the lease was found ours and renewed less than half a lease ago.
      if (step.renewFirst) await this.renew();
      if (step.kind === 'wait') await sleep(this.pollMs, options.signal);
      else await this.publishPage(page.events, page.position!);
    }
  }

  /** Sends one page; once every in-sync replica acknowledged it, and only then, moves the checkpoint. */
  private async publishPage(events: readonly StoredEvent[], position: GlobalPosition): Promise<void> {
    const { topic, summary } = this;
    let sent: RecordMetadata[];
    try {
      sent = await this.producer.send({ topic, acks: -1, messages: events.map(eventMessage) });
    } catch (error) {
      // A refusal in the broker's words (a missing topic, an ACL) is named; anything else is
      // the brokers being away, which the caller explains as such.
      if (brokerErrorType(error) === undefined) throw error;
      throw new PublishSendError(`cannot publish to ${topic}: ${explainSendFailure(topic, error)}`, { cause: error });
    }
    const next = checkpointAfter(this.checkpoint, events.length, position, sent);
    this.lease = await saveCheckpoint(this.connection, this.publisher, topic, this.owner, this.leaseMs, this.checkpoint, next, this.options.transactionObserver);
    this.renewedAt = Date.now();
    this.checkpoint = next;
    this.options.onBatch?.(events.length);
    this.options.logger?.debug({ event: 'batch_published', topic, events: events.length, publishedTotal: next.publishedEvents, position: next.position, leaseUntil: this.lease.expiresAt }, `published ${events.length} events`);
    summary.published += events.length;
    summary.batches++;
    summary.publishedTotal = next.publishedEvents;
    summary.position = next.position;
  }
}
