import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { BatchOverBudget } from '../core/batch';
import { CommandHandler } from '../core/handler';
import { LIMITS } from '../core/limits';
import { bookkeepingOnly } from '../core/store';
import type { LedgerStore } from '../core/store';
import { planBatch } from './batch-plan';
import { ChunkDecider, InboxFenced, PartitionState } from './chunk-decider';
import { producerConfig } from './client';
import { ConsumeOptions, ConsumeSummary, emptySummary, groupTimings } from './consume-options';
import { IdleWatch } from './idle-watch';
import { DifferentLogError, PartitionOffsets, partitionStart } from './inbox';
import { BrokerLiveness, BrokerSilenceError, watchBrokers } from './liveness';
import { sendOutcomes } from './outcomes';

/** Recreations allowed in a row without a committed chunk in between. */
const RESTARTS_WITHOUT_PROGRESS_MAX = 30;
const DISCONNECT_GRACE_MS = 10_000;

/** Waits for `promise` at most `ms`, ignoring its failure: for best-effort cleanup only. */
async function withinMs(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise?.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

type Ending = 'idle' | 'signal' | Error;

/**
 * One run of the command consumer (see consumer.ts for how it applies each message once):
 * the shell that performs what the plans decide. Where a partition starts after a join is
 * inbox.ts's partitionStart; what to do with a fetched batch is batch-plan.ts's planBatch.
 * This class joins the group, places partitions, decides chunks in transactions, sends dead
 * letters and outcomes, recreates a crashed kafkajs consumer, and watches for idleness.
 */
export class ConsumerRun {
  private readonly topic: string;
  private readonly group: string;
  private readonly summary: ConsumeSummary;
  private readonly dlqTopic: string;
  private readonly handler: CommandHandler;
  private readonly timings: ReturnType<typeof groupTimings>;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly chunks: ChunkDecider;
  private readonly states = new Map<number, PartitionState>();
  /** Work on one partition happens in order: placement, batches, moves past non-messages. */
  private readonly lanes = new Map<number, Promise<unknown>>();
  /** Bumped on every group join: placements of an older join are abandoned. */
  private joins = 0;
  /** This member has joined and placed its partitions at least once (idleness means nothing before). */
  private placedOnce = false;
  private restartsWithoutProgress = 0;
  private recreating = false;
  private stopping = false;
  private consumer: Consumer | undefined;
  private idleWatch: IdleWatch | undefined;
  private liveness: BrokerLiveness | undefined;
  private end!: (ending: Ending) => void;
  private readonly ended = new Promise<Ending>((resolve) => (this.end = resolve));

  constructor(
    private readonly kafka: Kafka,
    private readonly store: LedgerStore,
    private readonly options: ConsumeOptions,
  ) {
    this.topic = options.topic;
    this.group = options.group;
    this.summary = emptySummary(options.topic, options.group);
    this.dlqTopic = options.dlqTopic ?? `${options.topic}.dlq`;
    this.handler = new CommandHandler(store, {
      bonusRateBps: options.bonusRateBps,
      balanceThresholdsMicroUsd: options.balanceThresholdsMicroUsd,
      batchSize: options.batchSize ?? LIMITS.commandsPerTransactionMax,
      ...(options.outage ? { outage: { policy: { outageMaxMs: options.outage.outageMaxMs }, clock: options.outage.clock, observer: options.outage.spanner } } : {}),
    });
    this.timings = groupTimings(options.sessionTimeoutMs ?? 30_000);
    this.producer = kafka.producer(producerConfig({ idempotent: options.idempotentProducer ?? true, autoCreateTopics: options.autoCreateTopics ?? true }));
    this.admin = kafka.admin();
    const { group, topic, outcomesTopic, logger, observer } = options;
    this.chunks = new ChunkDecider({ group, topic, dlqTopic: this.dlqTopic, outcomesTopic, handler: this.handler, producer: this.producer, summary: this.summary, note: this.note.bind(this), logger, observer });
  }

  /** Consumes until idle (with `untilIdle`), the signal, or a failure; then leaves the group and reports. */
  async run(): Promise<ConsumeSummary> {
    const started = Date.now();
    const { topic, group, signal } = this.options;
    this.liveness = watchBrokers(
      this.admin,
      this.options.brokerSilenceMaxMs ?? this.options.outage?.outageMaxMs ?? Math.max(15_000, 2 * this.timings.sessionTimeout),
      (silentMs) => this.finish(new BrokerSilenceError(`no answer from the Kafka brokers for ${Math.round(silentMs / 1000)} s; giving up`)),
      this.options.outage?.kafka,
    );
    const onAbort = () => this.finish('signal');
    signal?.addEventListener('abort', onAbort);
    if (signal?.aborted) this.finish('signal');
    await this.start();
    const ending = await this.ended;
    this.liveness.stop();
    signal?.removeEventListener('abort', onAbort);
    this.idleWatch?.stop();
    await this.shutDown(ending);
    this.summary.seconds = (Date.now() - started) / 1000;
    if (ending instanceof Error) {
      this.options.logger?.error({ event: 'consume_failed', topic, group, error: ending.message }, 'consumer failed');
      throw ending;
    }
    this.summary.stoppedBy = ending;
    this.options.logger?.info({ event: 'consume_stopped', ...this.summary }, `consumer stopped by ${ending}`);
    return this.summary;
  }

  /** The first ending wins: idle, the signal, or a failure. */
  private finish(ending: Ending): void {
    if (this.stopping) return;
    this.stopping = true;
    this.end(ending);
  }

  /** One diagnostic: the plain line to `log`, the same message with fields to the logger. */
  private note(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, line: string): void {
    this.options.log?.(line);
    this.options.logger?.[level](fields, line);
  }

  private inLane<T>(partition: number, work: () => Promise<T>): Promise<T> {
    const run = (this.lanes.get(partition) ?? Promise.resolve()).then(work);
    this.lanes.set(partition, run.catch(() => undefined));
    return run;
  }

  private async start(): Promise<void> {
    const { topic, group, untilIdle } = this.options;
    try {
      await this.producer.connect();
      await this.admin.connect();
      await this.startConsumer();
      this.options.logger?.info(
        { event: 'consume_started', topic, group, dlqTopic: this.dlqTopic, outcomesTopic: this.options.outcomesTopic ?? null, batchSize: this.handler.batchSize, untilIdle: Boolean(untilIdle) },
        `consuming ${topic} as group ${group}`,
      );
      // The idle check doubles as the lag measurement: run it when either needs it.
      if (untilIdle || this.options.observer?.onLag) this.watchIdleness();
    } catch (error) {
      this.finish(asError(error));
    }
  }

  /**
   * disconnect() waits for the batch in flight (its loop stops between chunks), then leaves
   * the group so the partitions move at once, not after the session timeout. Bounded: with
   * the brokers gone, kafkajs's disconnect can wait on retries indefinitely.
   */
  private async shutDown(ending: Ending): Promise<void> {
    const { topic, group } = this.options;
    await withinMs(this.consumer?.disconnect(), DISCONNECT_GRACE_MS);
    // Outcome rows the broker acknowledged go now, not with a next chunk that will not come:
    // else the next run would send them again.
    const sent = [...this.states].flatMap(([partition, state]) => (state.outcomesSentBelow === undefined ? [] : [{ group, topic, partition, belowOffset: state.outcomesSentBelow.toString() }]));
    if (sent.length > 0 && !(ending instanceof Error)) {
      await withinMs(
        this.store.transact(async (tx) => tx.write(bookkeepingOnly({ kafkaOutcomesSent: sent }))),
        DISCONNECT_GRACE_MS,
      );
    }
    await withinMs(Promise.all([this.producer.disconnect(), this.admin.disconnect()]), DISCONNECT_GRACE_MS);
  }

  private async partitionOffsets(): Promise<Map<number, PartitionOffsets>> {
    const offsets = await this.admin.fetchTopicOffsets(this.topic);
    return new Map(offsets.map((offset) => [offset.partition, { partition: offset.partition, low: BigInt(offset.low), high: BigInt(offset.high) }]));
  }

  private async startConsumer(): Promise<void> {
    const { topic } = this;
    const created = this.kafka.consumer({
      groupId: this.group,
      ...this.timings,
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: true,
      retry: { initialRetryTime: 100, retries: 8 },
    });
    this.consumer = created;
    created.on(created.events.GROUP_JOIN, (event) => this.joined(created, event.payload.memberAssignment[topic] ?? []));
    created.on(created.events.END_BATCH_PROCESS, (event) => {
      const { topic: batchTopic, partition, batchSize, firstOffset, lastOffset } = event.payload;
      if (batchTopic !== topic || batchSize !== 0 || firstOffset === null || lastOffset === null) return;
      void this.inLane(partition, () => this.passNonMessages(partition, BigInt(firstOffset), BigInt(lastOffset))).catch((error) => this.finish(asError(error)));
    });
    created.on(created.events.CRASH, (event) => {
      if (event.payload.restart) return; // kafkajs restarts this one itself
      if (this.consumer !== created) return;
      void this.recreate(event.payload.error);
    });
    await created.connect();
    // fromBeginning: when a sought offset is out of range (below the log start), kafkajs
    // restarts at the earliest offset, never at the latest.
    await created.subscribe({ topic, fromBeginning: true });
    await created.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConcurrently ?? 1,
      eachBatch: async (payload) => {
        try {
          await this.inLane(payload.batch.partition, () => this.processBatch(payload));
        } catch (error) {
          // Never throw into kafkajs: it would retry the batch and restart the consumer forever.
          this.finish(asError(error));
        }
      },
    });
  }

  /** A new generation: partitions may have moved, and others may have applied meanwhile. */
  private joined(created: Consumer, partitions: number[]): void {
    const join = ++this.joins;
    this.states.clear();
    if (partitions.length === 0) {
      this.placedOnce = true;
      return;
    }
    // Paused before this handler returns, so no batch is fetched from Kafka's committed
    // offset while the inbox is read; resumed once every partition is sought.
    created.pause([{ topic: this.topic, partitions }]);
    for (const partition of partitions) {
      void this.inLane(partition, () => this.place(created, [partition], join)).catch((error) => this.finish(asError(error)));
    }
  }

  /** Decides where each assigned partition starts, seeks there; the partitions are paused meanwhile. */
  private async place(current: Consumer, partitions: readonly number[], join: number): Promise<void> {
    const { topic, group } = this;
    const [rows, offsets] = await Promise.all([this.store.readInboxOffsets(group, topic), this.partitionOffsets()]);
    const stale = () => join !== this.joins || this.consumer !== current || this.stopping;
    for (const partition of partitions) {
      if (stale()) return;
      const row = rows.find((candidate) => candidate.partition === partition);
      const partitionOffsets = offsets.get(partition) ?? { partition, low: 0n, high: 0n };
      const start = partitionStart(row, partitionOffsets);
      if (start.kind === 'different-log') {
        this.finish(new DifferentLogError(group, topic, partition, start.reason));
        return;
      }
      const state: PartitionState = { expected: row ? BigInt(row.nextOffset) : null, floor: start.kind === 'verify' ? start.next : start.offset, lastMessage: row?.lastMessage };
      if (start.kind === 'verify') state.verify = { offset: start.offset, digest: start.digest };
      if (start.kind === 'from' && start.gap) this.countLost(partition, start.gap, 'were deleted (retention) before this ledger applied them');
      if (start.kind === 'from' && start.why === 'no-inbox' && partitionOffsets.high > start.offset) {
        this.note('info', { event: 'no_inbox', topic, partition, offset: start.offset.toString() }, `${topic}/${partition}: no inbox row for group ${group} in this database; applying from the first offset, ${start.offset}`);
      }
      await this.resendOutcomes(partition);
      this.states.set(partition, state);
      current.seek({ topic, partition, offset: start.offset.toString() });
    }
    if (!stale()) {
      current.resume([{ topic, partitions: [...partitions] }]);
      this.placedOnce = true;
    }
  }

  private countLost(partition: number, gap: { from: bigint; to: bigint }, why: string): void {
    this.summary.lost += Number(gap.to - gap.from);
    this.note('warn', { event: 'gap', topic: this.topic, partition, from: gap.from.toString(), to: gap.to.toString() }, `${this.topic}/${partition}: offsets ${gap.from}..${gap.to - 1n} ${why}; going on from ${gap.to}`);
  }

  /** Sends the outcomes a crash left in the outbox, then drops their rows. */
  private async resendOutcomes(partition: number): Promise<void> {
    const { topic, group } = this;
    const outcomesTopic = this.options.outcomesTopic;
    if (!outcomesTopic) return;
    const rows = await this.store.readKafkaOutcomes(group, topic, partition);
    if (rows.length === 0) return;
    await sendOutcomes(this.producer, outcomesTopic, rows);
    this.summary.outcomesSent += rows.length;
    const below = (BigInt(rows[rows.length - 1]!.offset) + 1n).toString();
    await this.store.transact(async (tx) => tx.write(bookkeepingOnly({ kafkaOutcomesSent: [{ group, topic, partition, belowOffset: below }] })));
    this.note('info', { event: 'outcomes_resent', topic, partition, outcomes: rows.length }, `sent ${rows.length} outcome(s) of ${topic}/${partition} left unsent by an earlier run`);
  }

  /** Performs the batch plan: skip, seek, stop on another log, or decide in chunks. */
  private async processBatch(payload: EachBatchPayload): Promise<void> {
    const current = this.consumer;
    const { batch, resolveOffset } = payload;
    const { topic } = this;
    const { partition } = batch;
    if (!current || batch.messages.length === 0) return;
    const state = this.states.get(partition);
    if (!state) {
      // Fetched before this member placed the partition (a join it did not see): place it
      // now; the seek applies from the next fetch, and this batch is fetched again.
      await this.place(current, [partition], this.joins);
      return;
    }
    const plan = planBatch(state, batch.messages, BigInt(batch.lastOffset()));
    const { step } = plan;
    if (step.kind === 'different-log') {
      this.finish(new DifferentLogError(this.group, topic, partition, step.reason));
      return;
    }
    state.floor = plan.position.floor;
    state.verify = plan.position.verify;
    state.soughtTo = plan.position.soughtTo;
    this.summary.skipped += plan.skipped;
    if (plan.unverified !== undefined) {
      this.note('warn', { event: 'unverified', topic, partition, offset: plan.unverified.toString() }, `${topic}/${partition}: the last applied message (offset ${plan.unverified}) is gone, so the log cannot be recognised; going on`);
    }
    if (step.kind === 'applied-already') {
      // Applied already: move Kafka's position on, so a redelivery never spins.
      resolveOffset(batch.lastOffset());
      if (step.seekTo !== undefined) current.seek({ topic, partition, offset: step.seekTo.toString() });
      await this.commitHint(current, partition, state.floor);
      return;
    }
    if (step.kind === 'seek-back') {
      current.seek({ topic, partition, offset: step.to.toString() });
      return;
    }
    if (plan.lost) this.countLost(partition, plan.lost, 'were not delivered (deleted before they were applied)');
    await this.decideInChunks(payload, state, step.messages);
    await this.commitHint(current, partition, state.floor);
  }

  /**
   * Decides the messages in chunks of at most the batch size, one transaction each. A chunk
   * whose payments could go past the commit's mutation budget is decided in smaller ones
   * (rare, so it stays small for this batch only); a fenced chunk skips ahead to the inbox.
   */
  private async decideInChunks(payload: EachBatchPayload, state: PartitionState, fetched: readonly KafkaMessage[]): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const { partition } = batch;
    let messages = fetched;
    let limit = this.handler.batchSize;
    while (messages.length > 0 && !this.stopping && isRunning() && !isStale()) {
      const chunk = messages.slice(0, limit);
      const lastOfChunk = BigInt(chunk[chunk.length - 1]!.offset);
      // The batch's last record may be a transaction marker after its last message: the
      // last chunk takes the inbox past it.
      const recordsEnd = BigInt(batch.lastOffset()) + 1n;
      const next = chunk.length === messages.length && recordsEnd > lastOfChunk + 1n ? recordsEnd : lastOfChunk + 1n;
      try {
        await this.chunks.decide(partition, state, chunk, next);
        this.restartsWithoutProgress = 0;
      } catch (error) {
        if (error instanceof BatchOverBudget) {
          limit = Math.max(1, Math.min(limit - 1, error.fits));
          continue;
        }
        if (!(error instanceof InboxFenced)) throw error;
        const stored = this.fenced(error, state);
        messages = messages.filter((message) => BigInt(message.offset) >= stored);
        continue;
      }
      messages = messages.slice(chunk.length);
      resolveOffset((next - 1n).toString());
      await heartbeat().catch(() => undefined);
    }
  }

  /** Another member moved the inbox on: go on from where it stands (never back). */
  private fenced(error: InboxFenced, state: PartitionState): bigint {
    const { topic, group } = this;
    const { partition } = error;
    this.summary.fenced++;
    if (error.stored === null || (error.expected !== null && error.stored < error.expected)) {
      throw new Error(`the Kafka inbox of ${group}/${topic}/${partition} went back from ${error.expected} to ${error.stored ?? 'none'}`);
    }
    this.note('warn', { event: 'fenced', topic, partition, expected: error.expected?.toString() ?? null, stored: error.stored.toString() }, `fenced on ${topic}/${partition}: ${error.message}; skipping ahead`);
    state.expected = error.stored;
    state.floor = error.stored;
    return error.stored;
  }

  /** A hint only (where to start fetching after a restart); Spanner's inbox is the truth. */
  private async commitHint(current: Consumer | undefined, partition: number, offset: bigint): Promise<void> {
    await current?.commitOffsets([{ topic: this.topic, partition, offset: offset.toString() }]).catch(() => undefined);
  }

  /**
   * A fetched batch of nothing but transaction markers or aborted records: kafkajs moves past
   * it without calling eachBatch, so the inbox is moved past it here (in the partition's lane,
   * so never beside a chunk of the same partition).
   */
  private async passNonMessages(partition: number, firstOffset: bigint, lastOffset: bigint): Promise<void> {
    const { topic, group } = this;
    const state = this.states.get(partition);
    if (!state || firstOffset > state.floor || lastOffset < state.floor) return;
    const expected = state.expected;
    const next = lastOffset + 1n;
    await this.store.transact(async (tx) => {
      const row = (await tx.readInboxOffsets(group, topic)).find((offset) => offset.partition === partition);
      const stored = row ? BigInt(row.nextOffset) : null;
      if (stored !== expected) return; // another member owns it now; it moves it on
      tx.write(bookkeepingOnly({ inbox: [{ group, topic, partition, nextOffset: next.toString(), lastMessage: state.lastMessage }] }));
    });
    if (this.states.get(partition) === state) {
      state.expected = next;
      state.floor = next;
    }
  }

  /** kafkajs stopped the consumer for good: a fresh one rejoins, unless that keeps failing without progress. */
  private async recreate(cause: Error): Promise<void> {
    if (this.recreating) return;
    this.recreating = true;
    const { topic, group } = this;
    try {
      this.summary.restarts++;
      this.restartsWithoutProgress++;
      this.note('warn', { event: 'consumer_restart', topic, group, restarts: this.summary.restarts, error: `${cause.name}: ${cause.message}` }, `consumer stopped by kafkajs (${cause.name}: ${cause.message}); recreating it`);
      if (this.restartsWithoutProgress > RESTARTS_WITHOUT_PROGRESS_MAX) {
        this.finish(new Error(`the Kafka consumer crashed ${this.restartsWithoutProgress} times without progress; last: ${cause.message}`));
        return;
      }
      const old = this.consumer;
      this.consumer = undefined;
      await old?.disconnect().catch(() => undefined);
      this.states.clear();
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * this.restartsWithoutProgress)));
      if (!this.stopping) await this.startConsumer();
    } catch (error) {
      this.finish(asError(error));
    } finally {
      this.recreating = false;
    }
  }

  private watchIdleness(): void {
    const { untilIdle, idleCheckMs, lagCheckMs, observer } = this.options;
    const onLag = observer?.onLag;
    this.idleWatch = new IdleWatch(
      {
        partitionOffsets: () => this.partitionOffsets(),
        inbox: () => this.store.readInboxOffsets(this.group, this.topic),
        placedOnce: () => this.placedOnce,
        ...(onLag ? { onLag: (partition: number, lag: number) => onLag.call(observer, this.topic, partition, lag) } : {}),
      },
      untilIdle ? (idleCheckMs ?? 500) : (lagCheckMs ?? 5000),
      untilIdle ? () => this.finish('idle') : undefined,
    );
    if (!this.stopping) this.idleWatch.start();
  }
}
