import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { Command } from '../core/commands';
import { BatchOverBudget } from '../core/batch';
import { CommandHandler, CommandOutcome } from '../core/handler';
import { LIMITS } from '../core/limits';
import type { OutageObserver, RetryClock } from '../core/retry';
import { bookkeepingOnly } from '../core/store';
import type { InboxOffset, KafkaOutcome, LedgerStore, LedgerTransaction } from '../core/store';
import { producerConfig } from './client';
import { DeadLetterReason, messageCommand, sendDeadLetters } from './dead-letters';
import { consumedTo, DifferentLogError, messageDigest, PartitionOffsets, partitionLag, partitionStart } from './inbox';
import { watchBrokers } from './liveness';
import { outcomeJson, outcomeRow, sendOutcomes } from './outcomes';

/**
 * The Kafka command consumer: each message value is one command (the JSON of a `submit`
 * line, key = its userId), applied through the same CommandHandler as `submit`.
 *
 * Effectively once, and how:
 *
 * 1. The position that counts is the Kafka inbox in Spanner (KafkaInbox: next offset per
 *    group/topic/partition), never Kafka's committed offset. On every assignment the
 *    consumer pauses the partitions, reads the inbox and seeks each partition to it (or, with
 *    no inbox row, to the partition's first offset), then resumes: see inbox.ts for how a
 *    recreated topic, another cluster or a retention gap is told apart.
 *
 * 2. A chunk of at most `batchSize` messages of one partition is decided in ONE read-write
 *    transaction (one group commit), and the same transaction moves the inbox to the chunk's
 *    last offset + 1. Events and position commit together.
 *
 * 3. Fencing happens inside that transaction. The consumer believes the partition's inbox is
 *    at `expected`; the transaction reads the inbox row and, if it is elsewhere (another
 *    member, or an older incarnation of this one, committed past it), throws InboxFenced: the
 *    whole transaction rolls back, decisions included, and the consumer skips forward.
 *    Serializable isolation makes the read-check-write atomic. Why not "write max(current,
 *    new)" and rely on deterministic event IDs? A replayed command is a harmless duplicate
 *    only if it was ACCEPTED before; a REJECTED one (insufficient funds) leaves no event, and
 *    re-deciding it after later deposits could accept it. With the fence, each message of a
 *    partition is decided exactly once, in offset order.
 *
 * 4. Messages below the inbox are skipped, resolved and committed to Kafka, and the consumer
 *    seeks to the inbox when a whole batch is below it, so a redelivery never spins. Records
 *    that are not messages (transaction markers, aborted records) move the inbox past them,
 *    so that "idle" means caught up with everything that can still be fetched.
 *
 * 5. Dead letters (empty, not UTF-8, not a valid command, not keyed by its userId) are sent
 *    to the dead-letter topic and acknowledged (acks=all) BEFORE the transaction that moves
 *    the inbox past them: at least once, duplicates recognisable by their source headers.
 *    With an outcomes topic, every message's outcome is written in the deciding transaction
 *    and sent after the commit (see outcomes.ts).
 *
 * Nothing with an outside effect runs inside the transaction callback (it may re-run on
 * ABORTED): the dead-letter send is before it, the outcome send, the Kafka offset commit and
 * logs after it.
 */

export interface ConsumeOptions {
  readonly topic: string;
  readonly group: string;
  /** Dead-letter topic; `${topic}.dlq` by default. Must differ from `topic`. */
  readonly dlqTopic?: string;
  /** Where every decided message's outcome goes (off by default). Must differ from both topics. */
  readonly outcomesTopic?: string;
  /** Stop once every partition is consumed up to what can still be fetched. */
  readonly untilIdle?: boolean;
  /** Kafka group session timeout; a killed member's partitions come back after it. */
  readonly sessionTimeoutMs?: number;
  /** Commands per Spanner transaction (group commit), 1..100. */
  readonly batchSize?: number;
  readonly bonusRateBps: number;
  /** Balance thresholds whose crossings are recorded (µUSD). */
  readonly balanceThresholdsMicroUsd?: readonly bigint[];
  /** Partitions processed at once by this member (default 1). */
  readonly partitionsConcurrently?: number;
  /** Aborting stops gracefully: the chunk in flight commits, then the member leaves the group. */
  readonly signal?: AbortSignal;
  /** How often `untilIdle` compares the inbox with the partitions' offsets (ms, default 500). */
  readonly idleCheckMs?: number;
  /**
   * How long the brokers may leave the liveness probe unanswered before the consumer gives
   * up with an error; default max(15 s, 2 × session timeout). kafkajs itself retries a
   * vanished cluster forever.
   */
  readonly brokerSilenceMaxMs?: number;
  /**
   * Riding out outages: how long Spanner may not answer a batch's commit before the run
   * fails, with the clock to wait on and who hears of it (per dependency). Without it, the
   * first such failure ends the run.
   */
  readonly outage?: { readonly outageMaxMs: number; readonly clock: RetryClock; readonly spanner?: OutageObserver; readonly kafka?: OutageObserver };
  /** The idempotent producer for dead letters and outcomes (default true; the embedded broker lacks it). */
  readonly idempotentProducer?: boolean;
  /** Let the producer create missing topics (default true). */
  readonly autoCreateTopics?: boolean;
  /** Diagnostic lines (rejections, dead letters, restarts) as plain text. */
  readonly log?: (line: string) => void;
  /** Structured logger (the CLI's pino logger on stderr); gets the same lines with fields. */
  readonly logger?: Logger;
  /** Metrics hooks; called outside transactions, after the commit they report. */
  readonly observer?: ConsumeObserver;
  /** How often the consumer lag is measured for `observer.onLag` without `untilIdle` (ms, default 5000). */
  readonly lagCheckMs?: number;
}

export interface ConsumeObserver {
  /** One committed chunk of one partition: the decided commands' outcomes and the dead letters. */
  onChunk?(chunk: { readonly partition: number; readonly outcomes: readonly CommandOutcome[]; readonly deadLetters: readonly DeadLetterReason[] }): void;
  /** Messages of a partition that can still be fetched and are not applied (on every idle / lag check). */
  onLag?(topic: string, partition: number, lag: number): void;
}

export interface ConsumeSummary {
  topic: string;
  group: string;
  /** Messages decided or dead-lettered by this run (skipped ones not included). */
  messages: number;
  accepted: number;
  duplicate: number;
  rejected: number;
  /** Dead-lettered messages (invalid commands, empty or non-UTF-8 values, keys that are not the userId). */
  invalid: number;
  /** Messages below the inbox offset, already applied before (redelivered by Kafka). */
  skipped: number;
  /** Offsets that were deleted (retention) before this ledger applied them, and were passed over. */
  lost: number;
  /** Outcomes sent to the outcomes topic (again after a crash, too). */
  outcomesSent: number;
  /** Transactions rolled back because another member had moved the inbox. */
  fenced: number;
  transactions: number;
  /** Times the kafkajs consumer was recreated after a crash it would not restart from. */
  restarts: number;
  events: number;
  seconds: number;
  stoppedBy: 'idle' | 'signal';
}

/** The inbox row was not where this member expected it: another member committed past it. */
export class InboxFenced extends Error {
  constructor(
    readonly partition: number,
    readonly expected: bigint | null,
    readonly stored: bigint | null,
  ) {
    super(`inbox of partition ${partition} is at ${stored ?? 'none'}, this member expected ${expected ?? 'none'}`);
  }
}

/** Options that cannot work together (a dead-letter topic equal to the command topic, ...). */
export class ConsumeSettingsError extends Error {
  override readonly name = 'ConsumeSettingsError';
}

/** The brokers gave no sign of life for longer than the consumer allows. */
export class BrokerSilenceError extends Error {
  override readonly name = 'BrokerSilenceError';
}

export function emptySummary(topic: string, group: string): ConsumeSummary {
  return {
    topic,
    group,
    messages: 0,
    accepted: 0,
    duplicate: 0,
    rejected: 0,
    invalid: 0,
    skipped: 0,
    lost: 0,
    outcomesSent: 0,
    fenced: 0,
    transactions: 0,
    restarts: 0,
    events: 0,
    seconds: 0,
    stoppedBy: 'signal',
  };
}

/** kafkajs timings derived from the session timeout (tests use short ones). */
export function groupTimings(sessionTimeoutMs: number): { sessionTimeout: number; heartbeatInterval: number; rebalanceTimeout: number } {
  return {
    sessionTimeout: sessionTimeoutMs,
    heartbeatInterval: Math.max(100, Math.min(3000, Math.floor(sessionTimeoutMs / 6))),
    rebalanceTimeout: sessionTimeoutMs,
  };
}

/**
 * The three topics must differ. A dead-letter topic equal to the command topic feeds every
 * dead letter back in as a new bad message: one bad message became thousands of dead
 * letters and transactions, and the consumer never went idle.
 */
export function checkTopics(topic: string, dlqTopic: string, outcomesTopic: string | undefined): void {
  if (dlqTopic === topic) throw new ConsumeSettingsError(`the dead-letter topic must differ from the command topic (both are ${JSON.stringify(topic)})`);
  if (outcomesTopic === topic) throw new ConsumeSettingsError(`the outcomes topic must differ from the command topic (both are ${JSON.stringify(topic)})`);
  if (outcomesTopic === dlqTopic) throw new ConsumeSettingsError(`the outcomes topic must differ from the dead-letter topic (both are ${JSON.stringify(dlqTopic)})`);
}

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

/** What this member knows of one assigned partition (reset on every group join). */
interface PartitionState {
  /** The inbox offset as stored (null: no row yet): the next chunk's fence. */
  expected: bigint | null;
  /** The first offset to apply: everything below is applied already, or gone. */
  floor: bigint;
  /** The last message applied (kept in the inbox row as the log's fingerprint). */
  lastMessage: InboxOffset['lastMessage'];
  /** The last applied message, still to be found again before anything is applied. */
  verify?: { offset: bigint; digest: string };
  /** The floor this member sought to after Kafka delivered elsewhere: seek only once per floor. */
  soughtTo?: bigint;
  /** Outcome rows below this offset are acknowledged on the outcomes topic: the next chunk drops them. */
  outcomesSentBelow?: bigint;
}

/**
 * Consumes `topic` until idle (with `untilIdle`) or until `signal` aborts; rejects on an
 * infrastructure failure (Spanner or Kafka), after leaving the group.
 */
export async function consumeCommands(kafka: Kafka, store: LedgerStore, options: ConsumeOptions): Promise<ConsumeSummary> {
  const started = Date.now();
  const { topic, group } = options;
  const dlqTopic = options.dlqTopic ?? `${topic}.dlq`;
  const outcomesTopic = options.outcomesTopic;
  checkTopics(topic, dlqTopic, outcomesTopic);
  const logger = options.logger;
  const observer = options.observer ?? {};
  /** One diagnostic: the plain line to `log`, the same message with fields to the logger. */
  const note = (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, line: string) => {
    options.log?.(line);
    logger?.[level](fields, line);
  };
  const handler = new CommandHandler(store, {
    bonusRateBps: options.bonusRateBps,
    balanceThresholdsMicroUsd: options.balanceThresholdsMicroUsd,
    batchSize: options.batchSize ?? LIMITS.commandsPerTransactionMax,
    ...(options.outage ? { outage: { policy: { outageMaxMs: options.outage.outageMaxMs }, clock: options.outage.clock, observer: options.outage.spanner } } : {}),
  });
  const chunkSize = handler.batchSize;
  const summary = emptySummary(topic, group);
  const timings = groupTimings(options.sessionTimeoutMs ?? 30_000);

  const states = new Map<number, PartitionState>();
  /** Work on one partition happens in order: placement, batches, moves past non-messages. */
  const lanes = new Map<number, Promise<unknown>>();
  const inLane = <T>(partition: number, work: () => Promise<T>): Promise<T> => {
    const run = (lanes.get(partition) ?? Promise.resolve()).then(work);
    lanes.set(partition, run.catch(() => undefined));
    return run;
  };
  /** Bumped on every group join: placements of an older join are abandoned. */
  let joins = 0;
  /** This member has joined and placed its partitions at least once (idleness means nothing before). */
  let placedOnce = false;
  let restartsWithoutProgress = 0;

  let stopping = false;
  let finish!: (reason: 'idle' | 'signal' | Error) => void;
  const finished = new Promise<'idle' | 'signal' | Error>((resolve) => {
    finish = (reason) => {
      if (stopping) return;
      stopping = true;
      resolve(reason);
    };
  });

  const producer: Producer = kafka.producer(producerConfig({ idempotent: options.idempotentProducer ?? true, autoCreateTopics: options.autoCreateTopics ?? true }));
  const admin: Admin = kafka.admin();
  let consumer: Consumer | undefined;
  let idleTimer: NodeJS.Timeout | undefined;

  const brokerSilenceMaxMs = options.brokerSilenceMaxMs ?? options.outage?.outageMaxMs ?? Math.max(15_000, 2 * timings.sessionTimeout);
  const liveness = watchBrokers(
    admin,
    brokerSilenceMaxMs,
    (silentMs) => finish(new BrokerSilenceError(`no answer from the Kafka brokers for ${Math.round(silentMs / 1000)} s; giving up`)),
    options.outage?.kafka,
  );

  const partitionOffsets = async (): Promise<Map<number, PartitionOffsets>> => {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((offset) => [offset.partition, { partition: offset.partition, low: BigInt(offset.low), high: BigInt(offset.high) }]));
  };

  /** Sends the outcomes a crash left in the outbox, then drops their rows. */
  const resendOutcomes = async (partition: number): Promise<void> => {
    if (!outcomesTopic) return;
    const rows = await store.readKafkaOutcomes(group, topic, partition);
    if (rows.length === 0) return;
    await sendOutcomes(producer, outcomesTopic, rows);
    summary.outcomesSent += rows.length;
    const below = (BigInt(rows[rows.length - 1]!.offset) + 1n).toString();
    await store.transact(async (tx) => tx.write(bookkeepingOnly({ kafkaOutcomesSent: [{ group, topic, partition, belowOffset: below }] })));
    note('info', { event: 'outcomes_resent', topic, partition, outcomes: rows.length }, `sent ${rows.length} outcome(s) of ${topic}/${partition} left unsent by an earlier run`);
  };

  /** Decides where each assigned partition starts, seeks there; the partitions are paused meanwhile. */
  const place = async (current: Consumer, partitions: readonly number[], join: number): Promise<void> => {
    const [rows, offsets] = await Promise.all([store.readInboxOffsets(group, topic), partitionOffsets()]);
    for (const partition of partitions) {
      if (join !== joins || consumer !== current || stopping) return;
      const row = rows.find((candidate) => candidate.partition === partition);
      const start = partitionStart(row, offsets.get(partition) ?? { partition, low: 0n, high: 0n });
      if (start.kind === 'different-log') {
        finish(new DifferentLogError(group, topic, partition, start.reason));
        return;
      }
      const state: PartitionState = { expected: row ? BigInt(row.nextOffset) : null, floor: start.kind === 'verify' ? start.next : start.offset, lastMessage: row?.lastMessage };
      if (start.kind === 'verify') state.verify = { offset: start.offset, digest: start.digest };
      if (start.kind === 'from' && start.gap) {
        summary.lost += Number(start.gap.to - start.gap.from);
        note(
          'warn',
          { event: 'gap', topic, partition, from: start.gap.from.toString(), to: start.gap.to.toString() },
          `${topic}/${partition}: offsets ${start.gap.from}..${start.gap.to - 1n} were deleted (retention) before this ledger applied them; going on from ${start.gap.to}`,
        );
      }
      if (start.kind === 'from' && start.why === 'no-inbox' && (offsets.get(partition)?.high ?? 0n) > start.offset) {
        note('info', { event: 'no_inbox', topic, partition, offset: start.offset.toString() }, `${topic}/${partition}: no inbox row for group ${group} in this database; applying from the first offset, ${start.offset}`);
      }
      await resendOutcomes(partition);
      states.set(partition, state);
      current.seek({ topic, partition, offset: start.offset.toString() });
    }
    if (join === joins && consumer === current && !stopping) {
      current.resume([{ topic, partitions: [...partitions] }]);
      placedOnce = true;
    }
  };

  /** Decides one chunk of one partition in one transaction; the inbox moves to `next`. */
  const processChunk = async (partition: number, state: PartitionState, chunk: readonly KafkaMessage[], next: bigint): Promise<void> => {
    const commands: Command[] = [];
    const commandMessages: KafkaMessage[] = [];
    const deadLetters: { message: KafkaMessage; reason: DeadLetterReason }[] = [];
    for (const message of chunk) {
      const result = messageCommand(message);
      if (result.ok) {
        commands.push(result.command);
        commandMessages.push(message);
      } else {
        deadLetters.push({ message, reason: result.reason });
      }
    }
    // Before the commit that moves the inbox past them: at-least-once dead letters.
    await sendDeadLetters(producer, dlqTopic, topic, partition, deadLetters);
    const last = chunk[chunk.length - 1]!;
    const lastMessage = { offset: last.offset, digest: messageDigest(last) };
    const expected = state.expected;
    let outbox: KafkaOutcome[] = [];
    // Parsed once above (invalid ones are dead letters already): decide the commands as they are.
    const outcomes = await handler.handle(commands, async (tx: LedgerTransaction, decided) => {
      const rows = await tx.readInboxOffsets(group, topic);
      const row = rows.find((offset) => offset.partition === partition);
      const stored = row ? BigInt(row.nextOffset) : null;
      if (stored !== expected) throw new InboxFenced(partition, expected, stored);
      outbox = outcomesTopic
        ? [
            ...decided.map((outcome, index) => outcomeRow(group, topic, partition, commandMessages[index]!, outcomeJson(outcome))),
            ...deadLetters.map(({ message, reason }) => outcomeRow(group, topic, partition, message, outcomeJson({ status: 'invalid', reason }))),
          ]
        : [];
      tx.write(
        bookkeepingOnly({
          inbox: [{ group, topic, partition, nextOffset: next.toString(), lastMessage }],
          kafkaOutcomes: outbox,
          kafkaOutcomesSent: state.outcomesSentBelow === undefined ? [] : [{ group, topic, partition, belowOffset: state.outcomesSentBelow.toString() }],
        }),
      );
    });
    // Committed: from here on, effects outside Spanner are allowed.
    state.expected = next;
    state.floor = next;
    state.lastMessage = lastMessage;
    restartsWithoutProgress = 0;
    summary.transactions++;
    summary.messages += chunk.length;
    summary.invalid += deadLetters.length;
    for (const { message, reason } of deadLetters) {
      note(
        'warn',
        { event: 'dead_letter', topic, partition, offset: message.offset, dlqTopic, code: reason.code, reason: reason.message },
        `dead-lettered ${topic}/${partition}@${message.offset} to ${dlqTopic}: ${reason.code} ${reason.message}`,
      );
    }
    outcomes.forEach((outcome: CommandOutcome, index) => {
      if (outcome.status === 'accepted') {
        summary.accepted++;
        summary.events += outcome.eventIds.length;
      } else if (outcome.status === 'duplicate') {
        summary.duplicate++;
      } else if (outcome.status === 'rejected') {
        summary.rejected++;
        const offset = commandMessages[index]!.offset;
        note('info', { event: 'rejected', topic, partition, offset, code: outcome.code, reason: outcome.message }, `rejected ${topic}/${partition}@${offset}: ${outcome.code} ${outcome.message}`);
      }
    });
    if (outcomesTopic && outbox.length > 0) {
      await sendOutcomes(producer, outcomesTopic, outbox);
      summary.outcomesSent += outbox.length;
      state.outcomesSentBelow = next;
    }
    observer.onChunk?.({ partition, outcomes, deadLetters: deadLetters.map(({ reason }) => reason) });
    if (logger?.isLevelEnabled('debug')) {
      logger.debug({ event: 'chunk_committed', topic, partition, messages: chunk.length, commands: commands.length, deadLetters: deadLetters.length, nextOffset: next.toString() }, 'chunk committed');
    }
    if (logger?.isLevelEnabled('trace')) {
      // Payloads only at trace: they carry user IDs and amounts (never credentials).
      outcomes.forEach((outcome, index) => logger.trace({ event: 'command', topic, partition, offset: commandMessages[index]!.offset, command: commands[index], status: outcome.status }, 'command decided'));
    }
  };

  /** A hint only (where to start fetching after a restart); Spanner's inbox is the truth. */
  const commitHint = async (current: Consumer | undefined, partition: number, offset: bigint) => {
    await current?.commitOffsets([{ topic, partition, offset: offset.toString() }]).catch(() => undefined);
  };

  const processBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    const current = consumer;
    const { partition } = batch;
    if (!current || batch.messages.length === 0) return;
    const state = states.get(partition);
    if (!state) {
      // Fetched before this member placed the partition (a join it did not see): place it
      // now; the seek applies from the next fetch, and this batch is fetched again.
      await place(current, [partition], joins);
      return;
    }
    let messages = batch.messages;

    // The last applied message must be the one at its offset: else this is another log.
    if (state.verify) {
      const first = messages[0]!;
      const at = BigInt(first.offset);
      if (at === state.verify.offset) {
        if (messageDigest(first) !== state.verify.digest) {
          finish(new DifferentLogError(group, topic, partition, `the message at offset ${at} is not the one the inbox applied there`));
          return;
        }
        // Read again on purpose, not redelivered: it is not counted as skipped.
        messages = messages.slice(1);
        state.verify = undefined;
      } else if (at > state.verify.offset) {
        note('warn', { event: 'unverified', topic, partition, offset: state.verify.offset.toString() }, `${topic}/${partition}: the last applied message (offset ${state.verify.offset}) is gone, so the log cannot be recognised; going on`);
        state.verify = undefined;
      }
    }

    // Below the floor: applied already. Move Kafka's position on, so a redelivery never spins.
    const fresh = messages.filter((message) => BigInt(message.offset) >= state.floor);
    summary.skipped += messages.length - fresh.length;
    if (fresh.length === 0) {
      resolveOffset(batch.lastOffset());
      if (BigInt(batch.lastOffset()) + 1n < state.floor) current.seek({ topic, partition, offset: state.floor.toString() });
      await commitHint(current, partition, state.floor);
      return;
    }
    messages = fresh;

    // Above the floor: Kafka delivered from elsewhere. Seek back once; if the same offsets come
    // again, they are not there any more (retention or compaction) and are passed over.
    const first = BigInt(messages[0]!.offset);
    if (first > state.floor) {
      if (state.soughtTo !== state.floor) {
        state.soughtTo = state.floor;
        current.seek({ topic, partition, offset: state.floor.toString() });
        return;
      }
      summary.lost += Number(first - state.floor);
      note('warn', { event: 'gap', topic, partition, from: state.floor.toString(), to: first.toString() }, `${topic}/${partition}: offsets ${state.floor}..${first - 1n} were not delivered (deleted before they were applied); going on from ${first}`);
      state.floor = first;
    }

    // A chunk whose payments could go past the commit's mutation budget is decided in smaller
    // ones (still one transaction each, with its inbox move); rare, so it stays small for this batch only.
    let limit = chunkSize;
    while (messages.length > 0 && !stopping && isRunning() && !isStale()) {
      const chunk = messages.slice(0, limit);
      const lastOfChunk = BigInt(chunk[chunk.length - 1]!.offset);
      // The batch's last record may be a transaction marker after its last message: the
      // last chunk takes the inbox past it.
      const recordsEnd = BigInt(batch.lastOffset()) + 1n;
      const next = chunk.length === messages.length && recordsEnd > lastOfChunk + 1n ? recordsEnd : lastOfChunk + 1n;
      try {
        await processChunk(partition, state, chunk, next);
      } catch (error) {
        if (error instanceof BatchOverBudget) {
          limit = Math.max(1, Math.min(limit - 1, error.fits));
          continue;
        }
        if (!(error instanceof InboxFenced)) throw error;
        summary.fenced++;
        if (error.stored === null || (error.expected !== null && error.stored < error.expected)) {
          throw new Error(`the Kafka inbox of ${group}/${topic}/${partition} went back from ${error.expected} to ${error.stored ?? 'none'}`);
        }
        note('warn', { event: 'fenced', topic, partition, expected: error.expected?.toString() ?? null, stored: error.stored.toString() }, `fenced on ${topic}/${partition}: ${error.message}; skipping ahead`);
        state.expected = error.stored;
        state.floor = error.stored;
        messages = messages.filter((message) => BigInt(message.offset) >= error.stored!);
        continue;
      }
      messages = messages.slice(chunk.length);
      resolveOffset((next - 1n).toString());
      await heartbeat().catch(() => undefined);
    }
    await commitHint(current, partition, state.floor);
  };

  /**
   * A fetched batch of nothing but transaction markers or aborted records: kafkajs moves past
   * it without calling eachBatch, so the inbox is moved past it here (in the partition's lane,
   * so never beside a chunk of the same partition).
   */
  const passNonMessages = async (partition: number, firstOffset: bigint, lastOffset: bigint): Promise<void> => {
    const state = states.get(partition);
    if (!state || firstOffset > state.floor || lastOffset < state.floor) return;
    const expected = state.expected;
    const next = lastOffset + 1n;
    await store.transact(async (tx) => {
      const row = (await tx.readInboxOffsets(group, topic)).find((offset) => offset.partition === partition);
      const stored = row ? BigInt(row.nextOffset) : null;
      if (stored !== expected) return; // another member owns it now; it moves it on
      tx.write(bookkeepingOnly({ inbox: [{ group, topic, partition, nextOffset: next.toString(), lastMessage: state.lastMessage }] }));
    });
    if (states.get(partition) === state) {
      state.expected = next;
      state.floor = next;
    }
  };

  const startConsumer = async (): Promise<void> => {
    const created = kafka.consumer({
      groupId: group,
      ...timings,
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: true,
      retry: { initialRetryTime: 100, retries: 8 },
    });
    consumer = created;
    created.on(created.events.GROUP_JOIN, (event) => {
      // A new generation: partitions may have moved, and others may have applied meanwhile.
      const join = ++joins;
      states.clear();
      const partitions = event.payload.memberAssignment[topic] ?? [];
      if (partitions.length === 0) {
        placedOnce = true;
        return;
      }
      // Paused before this handler returns, so no batch is fetched from Kafka's committed
      // offset while the inbox is read; resumed once every partition is sought.
      created.pause([{ topic, partitions }]);
      for (const partition of partitions) {
        void inLane(partition, () => place(created, [partition], join)).catch((error) => finish(asError(error)));
      }
    });
    created.on(created.events.END_BATCH_PROCESS, (event) => {
      const { topic: batchTopic, partition, batchSize, firstOffset, lastOffset } = event.payload;
      if (batchTopic !== topic || batchSize !== 0 || firstOffset === null || lastOffset === null) return;
      void inLane(partition, () => passNonMessages(partition, BigInt(firstOffset), BigInt(lastOffset))).catch((error) => finish(asError(error)));
    });
    created.on(created.events.CRASH, (event) => {
      if (event.payload.restart) return; // kafkajs restarts this one itself
      if (consumer !== created) return;
      void recreate(event.payload.error);
    });
    await created.connect();
    // fromBeginning: when a sought offset is out of range (below the log start), kafkajs
    // restarts at the earliest offset, never at the latest.
    await created.subscribe({ topic, fromBeginning: true });
    await created.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConcurrently ?? 1,
      eachBatch: async (payload) => {
        try {
          await inLane(payload.batch.partition, () => processBatch(payload));
        } catch (error) {
          // Never throw into kafkajs: it would retry the batch and restart the consumer forever.
          finish(asError(error));
        }
      },
    });
  };

  let recreating = false;
  const recreate = async (cause: Error): Promise<void> => {
    if (recreating) return;
    recreating = true;
    try {
      summary.restarts++;
      restartsWithoutProgress++;
      note('warn', { event: 'consumer_restart', topic, group, restarts: summary.restarts, error: `${cause.name}: ${cause.message}` }, `consumer stopped by kafkajs (${cause.name}: ${cause.message}); recreating it`);
      if (restartsWithoutProgress > RESTARTS_WITHOUT_PROGRESS_MAX) {
        finish(new Error(`the Kafka consumer crashed ${restartsWithoutProgress} times without progress; last: ${cause.message}`));
        return;
      }
      const old = consumer;
      consumer = undefined;
      await old?.disconnect().catch(() => undefined);
      states.clear();
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * restartsWithoutProgress)));
      if (!stopping) await startConsumer();
    } catch (error) {
      finish(asError(error));
    } finally {
      recreating = false;
    }
  };

  /** Idle: every partition consumed up to what can still be fetched, and none is another log. */
  const checkIdle = async (): Promise<boolean> => {
    const [offsets, rows] = await Promise.all([partitionOffsets(), store.readInboxOffsets(group, topic)]);
    let idle = placedOnce && offsets.size > 0;
    for (const offset of offsets.values()) {
      const row = rows.find((candidate) => candidate.partition === offset.partition);
      observer.onLag?.(topic, offset.partition, Number(partitionLag(row, offset)));
      // A partition that ends below its inbox is not caught up: it is another log, and its owner stops on it.
      if (row && offset.high < BigInt(row.nextOffset)) idle = false;
      if (consumedTo(row, offset) < offset.high) idle = false;
    }
    return idle;
  };

  const scheduleIdleCheck = () => {
    if (stopping) return;
    idleTimer = setTimeout(
      () => {
        checkIdle().then(
          (idle) => (idle && options.untilIdle ? finish('idle') : scheduleIdleCheck()),
          () => scheduleIdleCheck(), // topic not there yet, broker hiccup: look again
        );
      },
      options.untilIdle ? (options.idleCheckMs ?? 500) : (options.lagCheckMs ?? 5000),
    );
  };

  const onAbort = () => finish('signal');
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) finish('signal');

  try {
    await producer.connect();
    await admin.connect();
    await startConsumer();
    logger?.info({ event: 'consume_started', topic, group, dlqTopic, outcomesTopic: outcomesTopic ?? null, batchSize: chunkSize, untilIdle: Boolean(options.untilIdle) }, `consuming ${topic} as group ${group}`);
    // The idle check doubles as the lag measurement: run it when either needs it.
    if (options.untilIdle || observer.onLag) scheduleIdleCheck();
  } catch (error) {
    finish(asError(error));
  }
  const outcome = await finished;
  liveness.stop();
  options.signal?.removeEventListener('abort', onAbort);
  if (idleTimer) clearTimeout(idleTimer);
  // disconnect() waits for the batch in flight (its loop stops between chunks), then
  // leaves the group so the partitions move at once, not after the session timeout.
  // Bounded: with the brokers gone, kafkajs's disconnect can wait on retries indefinitely.
  await withinMs(consumer?.disconnect(), DISCONNECT_GRACE_MS);
  // Outcome rows the broker acknowledged go now, not with a next chunk that will not come:
  // else the next run would send them again.
  const sent = [...states].flatMap(([partition, state]) => (state.outcomesSentBelow === undefined ? [] : [{ group, topic, partition, belowOffset: state.outcomesSentBelow.toString() }]));
  if (sent.length > 0 && !(outcome instanceof Error)) {
    await withinMs(store.transact(async (tx) => tx.write(bookkeepingOnly({ kafkaOutcomesSent: sent }))), DISCONNECT_GRACE_MS);
  }
  await withinMs(Promise.all([producer.disconnect(), admin.disconnect()]), DISCONNECT_GRACE_MS);
  summary.seconds = (Date.now() - started) / 1000;
  if (outcome instanceof Error) {
    logger?.error({ event: 'consume_failed', topic, group, error: outcome.message }, 'consumer failed');
    throw outcome;
  }
  summary.stoppedBy = outcome;
  logger?.info({ event: 'consume_stopped', ...summary }, `consumer stopped by ${outcome}`);
  return summary;
}
