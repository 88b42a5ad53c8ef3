import { Admin, Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { Command, parseCommandText } from '../core/commands';
import { CommandHandler, CommandOutcome } from '../core/handler';
import { LIMITS } from '../core/limits';
import { LedgerStore, LedgerTransaction } from '../core/store';

/**
 * The Kafka command consumer: each message value is one command (the JSON of a `submit`
 * line, key = user ID), applied through the same CommandHandler as `submit`.
 *
 * Effectively once, and how:
 *
 * 1. The position that counts is the Kafka inbox in Spanner (KafkaInbox: next offset per
 *    group/topic/partition), never Kafka's committed offset. A chunk of at most `batchSize`
 *    messages of one partition is decided in ONE read-write transaction (one handleTexts
 *    call with at most batchSize texts is one group commit) and the same transaction
 *    moves the inbox to the chunk's last offset + 1. Events and position commit together.
 *
 * 2. Fencing happens inside that transaction. The consumer believes the partition's inbox is
 *    at `expected` (the offset it is about to consume from); the alsoInTransaction callback
 *    reads the inbox row in the transaction and, if it is not `expected` (another member,
 *    or an older incarnation of this one, committed past it), throws InboxFenced: the whole
 *    transaction rolls back, decisions included, and the consumer skips forward to the
 *    stored offset. Spanner's serializable isolation makes the read-check-write atomic.
 *    Why not just "write max(current, new)" and rely on deterministic event IDs? A replayed
 *    command is a harmless duplicate only if it was ACCEPTED before; a command that was
 *    REJECTED (insufficient funds) leaves no event, and re-deciding it after later deposits
 *    from the same partition had committed could accept it. With the fence, each message of
 *    a partition is decided exactly once, in offset order.
 *
 * 3. Messages below the inbox offset are skipped (Kafka's committed offset is only a hint,
 *    committed after the Spanner commit, so it can lag after a crash); if Kafka delivers
 *    from beyond the inbox offset, the consumer seeks back to it once.
 *
 * 4. Dead letters (empty value, not UTF-8, not a valid command) are sent to the DLQ topic
 *    and acknowledged (acks=all) BEFORE the transaction that moves the inbox past them.
 *    A crash between the two re-sends them: dead letters are at-least-once (duplicates
 *    carry the same source-topic/partition/offset headers, so they can be deduped).
 *    Rejected commands (valid but refused) are logged and counted; the offset moves on.
 *
 * Nothing with an outside effect runs inside the transaction callback (it may re-run on
 * ABORTED): the DLQ send is before it, the Kafka offset commit and logs after it.
 */

export interface ConsumeOptions {
  readonly topic: string;
  readonly group: string;
  /** Dead-letter topic; `${topic}.dlq` by default. */
  readonly dlqTopic?: string;
  /** Stop once every partition's inbox offset reached its high watermark. */
  readonly untilIdle?: boolean;
  /** Kafka group session timeout; a killed member's partitions come back after it. */
  readonly sessionTimeoutMs?: number;
  /** Commands per Spanner transaction (group commit), 1..100. */
  readonly batchSize?: number;
  readonly bonusRateBps: number;
  /** Partitions processed at once by this member (default 1). */
  readonly partitionsConcurrently?: number;
  /** Aborting stops gracefully: the chunk in flight commits, then the member leaves the group. */
  readonly signal?: AbortSignal;
  /** How often `untilIdle` compares the inbox with the high watermarks (ms, default 500). */
  readonly idleCheckMs?: number;
  /**
   * How long the brokers may leave the liveness probe unanswered before
   * the consumer gives up with an error; default max(15 s, 2 × session timeout). kafkajs
   * itself retries a vanished cluster forever.
   */
  readonly brokerSilenceMaxMs?: number;
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
  /** High watermark − inbox offset of a partition (on every idle / lag check). */
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
  /** Dead-lettered messages (invalid commands, empty or non-UTF-8 values). */
  invalid: number;
  /** Messages below the inbox offset, already applied before (redelivered by Kafka). */
  skipped: number;
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

export interface DeadLetterReason {
  readonly code: 'EMPTY_MESSAGE' | 'INVALID_ENCODING' | 'INVALID_COMMAND';
  readonly message: string;
}

// ignoreBOM keeps a byte-order mark in the text, where the strict JSON reader refuses it:
// the same rule as `submit`, so one input is never valid on one path and invalid on the other.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The command text of a message, or why it is a dead letter. */
export function messageText(value: Buffer | null): { ok: true; text: string; command: Command } | { ok: false; reason: DeadLetterReason } {
  if (value === null || value.length === 0) return { ok: false, reason: { code: 'EMPTY_MESSAGE', message: 'message has no value' } };
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    return { ok: false, reason: { code: 'INVALID_ENCODING', message: 'message value is not valid UTF-8' } };
  }
  const parsed = parseCommandText(text);
  if (!parsed.ok) return { ok: false, reason: { code: 'INVALID_COMMAND', message: parsed.message } };
  return { ok: true, text, command: parsed.command };
}

/** Headers of a dead letter: the original ones, then the reason and where it came from. */
export function deadLetterHeaders(message: KafkaMessage, topic: string, partition: number, reason: DeadLetterReason): IHeaders {
  return {
    ...(message.headers ?? {}),
    'error-code': reason.code,
    'error-message': reason.message,
    'source-topic': topic,
    'source-partition': String(partition),
    'source-offset': message.offset,
  };
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

/** Recreations allowed in a row without a committed chunk in between. */
/** The brokers gave no sign of life for longer than the consumer allows. */
export class BrokerSilenceError extends Error {
  override readonly name = 'BrokerSilenceError';
}

const RESTARTS_WITHOUT_PROGRESS_MAX = 30;
const DISCONNECT_GRACE_MS = 10_000;
const BROKER_PROBE_TIMEOUT_MS = 5_000;

/** Waits for `promise` at most `ms`, ignoring its failure: for best-effort cleanup only. */
async function withinMs(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise?.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * Consumes `topic` until idle (with `untilIdle`) or until `signal` aborts; rejects on an
 * infrastructure failure (Spanner or Kafka), after leaving the group.
 */
export async function consumeCommands(kafka: Kafka, store: LedgerStore, options: ConsumeOptions): Promise<ConsumeSummary> {
  const started = Date.now();
  const { topic, group } = options;
  const dlqTopic = options.dlqTopic ?? `${topic}.dlq`;
  const logger = options.logger;
  const observer = options.observer ?? {};
  /** One diagnostic: the plain line to `log`, the same message with fields to the logger. */
  const note = (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, line: string) => {
    options.log?.(line);
    logger?.[level](fields, line);
  };
  const handler = new CommandHandler(store, { bonusRateBps: options.bonusRateBps, batchSize: options.batchSize ?? LIMITS.commandsPerTransactionMax });
  const chunkSize = handler.batchSize;
  const summary = emptySummary(topic, group);
  const timings = groupTimings(options.sessionTimeoutMs ?? 30_000);

  /** Inbox offset per partition as this member believes it (null: no row yet). */
  const inbox = new Map<number, bigint | null>();
  /** Partitions sought back to the inbox offset, so a gap in the log cannot loop. */
  const sought = new Map<number, bigint>();
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

  const producer: Producer = kafka.producer({ allowAutoTopicCreation: true, maxInFlightRequests: 1, idempotent: false });
  const admin: Admin = kafka.admin();
  let consumer: Consumer | undefined;
  let idleTimer: NodeJS.Timeout | undefined;

  // Broker liveness: an answered probe (a metadata request through the admin client, at
  // most every second, each bounded) is the sign of life. kafkajs's own events are not
  // used: they kept firing for a while after the brokers vanished under load, and work on
  // an already fetched batch goes on without any broker at all. Silence past the limit
  // ends the run with an error (exit 1), so a supervisor can restart it.
  const brokerSilenceMaxMs = options.brokerSilenceMaxMs ?? Math.max(15_000, 2 * timings.sessionTimeout);
  let lastSignOfLife = Date.now();
  let probing = false;
  const probeBrokers = async () => {
    if (probing) return;
    probing = true;
    try {
      let timer: NodeJS.Timeout | undefined;
      const answered = await Promise.race([
        admin.describeCluster().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), BROKER_PROBE_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
      if (answered) lastSignOfLife = Date.now();
    } finally {
      probing = false;
    }
  };
  const livenessTimer = setInterval(() => {
    const silentMs = Date.now() - lastSignOfLife;
    if (silentMs > brokerSilenceMaxMs) finish(new BrokerSilenceError(`no answer from the Kafka brokers for ${Math.round(silentMs / 1000)} s; giving up`));
    else void probeBrokers();
  }, 1_000);
  livenessTimer.unref();

  const expectedOffset = async (partition: number): Promise<bigint | null> => {
    const known = inbox.get(partition);
    if (known !== undefined) return known;
    const rows = await store.readInboxOffsets(group, topic);
    const row = rows.find((offset) => offset.partition === partition);
    const value = row ? BigInt(row.nextOffset) : null;
    inbox.set(partition, value);
    return value;
  };

  /** Decides one chunk of one partition in one transaction; returns the new inbox offset. */
  const processChunk = async (partition: number, expected: bigint | null, chunk: KafkaMessage[]): Promise<bigint> => {
    const commands: Command[] = [];
    const textOffsets: string[] = [];
    const deadLetters: { message: KafkaMessage; reason: DeadLetterReason }[] = [];
    for (const message of chunk) {
      const result = messageText(message.value);
      if (result.ok) {
        commands.push(result.command);
        textOffsets.push(message.offset);
      } else {
        deadLetters.push({ message, reason: result.reason });
      }
    }
    if (deadLetters.length > 0) {
      // Before the commit that moves the inbox past them: at-least-once dead letters.
      await producer.send({
        topic: dlqTopic,
        acks: -1,
        messages: deadLetters.map(({ message, reason }) => ({
          key: message.key,
          value: message.value,
          headers: deadLetterHeaders(message, topic, partition, reason),
        })),
      });
    }
    const next = BigInt(chunk[chunk.length - 1]!.offset) + 1n;
    // Parsed once above (invalid ones are dead letters already): decide the commands as they are.
    const outcomes = await handler.handle(commands, async (tx: LedgerTransaction) => {
      const rows = await tx.readInboxOffsets(group, topic);
      const row = rows.find((offset) => offset.partition === partition);
      const stored = row ? BigInt(row.nextOffset) : null;
      if (stored !== expected) throw new InboxFenced(partition, expected, stored);
      tx.write({ events: [], accounts: [], charges: [], inbox: [{ group, topic, partition, nextOffset: next.toString() }] });
    });
    // Committed: from here on, effects outside Spanner are allowed.
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
        note(
          'info',
          { event: 'rejected', topic, partition, offset: textOffsets[index], code: outcome.code, reason: outcome.message },
          `rejected ${topic}/${partition}@${textOffsets[index]}: ${outcome.code} ${outcome.message}`,
        );
      } else {
        // Cannot happen: invalid texts were dead-lettered above. Count it as one anyway.
        summary.invalid++;
      }
    });
    observer.onChunk?.({ partition, outcomes, deadLetters: deadLetters.map(({ reason }) => reason) });
    if (logger?.isLevelEnabled('debug')) {
      logger.debug({ event: 'chunk_committed', topic, partition, messages: chunk.length, commands: commands.length, deadLetters: deadLetters.length, nextOffset: next.toString() }, 'chunk committed');
    }
    if (logger?.isLevelEnabled('trace')) {
      // Payloads only at trace: they carry user IDs and amounts (never credentials).
      outcomes.forEach((outcome, index) => logger.trace({ event: 'command', topic, partition, offset: textOffsets[index], command: commands[index], status: outcome.status }, 'command decided'));
    }
    return next;
  };

  const eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    const current = consumer;
    const { partition } = batch;
    try {
      if (batch.messages.length === 0) return;
      let expected = await expectedOffset(partition);
      const first = BigInt(batch.messages[0]!.offset);
      if (expected !== null && first > expected && sought.get(partition) !== expected) {
        // Kafka's hint is ahead of the inbox: go back to where Spanner says we are.
        sought.set(partition, expected);
        current?.seek({ topic, partition, offset: expected.toString() });
        return;
      }
      let pending = batch.messages;
      let progressed = false;
      for (;;) {
        const floor = expected;
        const remaining = floor === null ? pending : pending.filter((message) => BigInt(message.offset) >= floor);
        summary.skipped += pending.length - remaining.length;
        pending = remaining;
        if (pending.length === 0 || stopping || !isRunning() || isStale()) break;
        const chunk = pending.slice(0, chunkSize);
        try {
          expected = await processChunk(partition, expected, chunk);
        } catch (error) {
          if (!(error instanceof InboxFenced)) throw error;
          summary.fenced++;
          if (error.stored === null || (error.expected !== null && error.stored < error.expected)) {
            throw new Error(`the Kafka inbox of ${group}/${topic}/${partition} went back from ${error.expected} to ${error.stored ?? 'none'}`);
          }
          note('warn', { event: 'fenced', topic, partition, expected: error.expected?.toString() ?? null, stored: error.stored.toString() }, `fenced on ${topic}/${partition}: ${error.message}; skipping ahead`);
          inbox.set(partition, error.stored);
          expected = error.stored;
          continue;
        }
        inbox.set(partition, expected);
        progressed = true;
        restartsWithoutProgress = 0;
        pending = pending.slice(chunk.length);
        resolveOffset(chunk[chunk.length - 1]!.offset);
        await heartbeat().catch(() => undefined);
      }
      if (progressed && expected !== null && current) {
        // A hint only (where to start fetching after a restart); Spanner's inbox is the truth.
        await current.commitOffsets([{ topic, partition, offset: expected.toString() }]).catch(() => undefined);
      }
    } catch (error) {
      // Never throw into kafkajs: it would retry the batch and restart the consumer forever.
      // An infrastructure failure stops this consumer; the supervisor restarts the process.
      finish(error instanceof Error ? error : new Error(String(error)));
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
    created.on(created.events.GROUP_JOIN, () => {
      // New generation: partitions may have been processed by others meanwhile.
      inbox.clear();
      sought.clear();
    });
    created.on(created.events.CRASH, (event) => {
      if (event.payload.restart) return; // kafkajs restarts this one itself
      if (consumer !== created) return;
      void recreate(event.payload.error);
    });
    await created.connect();
    await created.subscribe({ topic, fromBeginning: true });
    await created.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConcurrently ?? 1,
      eachBatch,
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
      inbox.clear();
      sought.clear();
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * restartsWithoutProgress)));
      if (!stopping) await startConsumer();
    } catch (error) {
      finish(error instanceof Error ? error : new Error(String(error)));
    } finally {
      recreating = false;
    }
  };

  const checkIdle = async (): Promise<boolean> => {
    const [offsets, rows] = await Promise.all([admin.fetchTopicOffsets(topic), store.readInboxOffsets(group, topic)]);
    const stored = new Map(rows.map((row) => [row.partition, BigInt(row.nextOffset)]));
    for (const offset of offsets) {
      const lag = BigInt(offset.high) - (stored.get(offset.partition) ?? BigInt(offset.low));
      observer.onLag?.(topic, offset.partition, Number(lag > 0n ? lag : 0n));
    }
    return offsets.length > 0 && offsets.every((offset) => BigInt(offset.high) <= (stored.get(offset.partition) ?? BigInt(offset.low)));
  };

  const scheduleIdleCheck = () => {
    if (stopping) return;
    idleTimer = setTimeout(() => {
      checkIdle().then(
        (idle) => (idle && options.untilIdle ? finish('idle') : scheduleIdleCheck()),
        () => scheduleIdleCheck(), // topic not there yet, broker hiccup: look again
      );
    }, options.untilIdle ? (options.idleCheckMs ?? 500) : (options.lagCheckMs ?? 5000));
  };

  const onAbort = () => finish('signal');
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) finish('signal');

  try {
    await producer.connect();
    await admin.connect();
    await startConsumer();
    logger?.info({ event: 'consume_started', topic, group, dlqTopic, batchSize: chunkSize, untilIdle: Boolean(options.untilIdle) }, `consuming ${topic} as group ${group}`);
    // The idle check doubles as the lag measurement: run it when either needs it.
    if (options.untilIdle || observer.onLag) scheduleIdleCheck();
  } catch (error) {
    finish(error instanceof Error ? error : new Error(String(error)));
  }
  const outcome = await finished;
  clearInterval(livenessTimer);
  options.signal?.removeEventListener('abort', onAbort);
  if (idleTimer) clearTimeout(idleTimer);
  // disconnect() waits for the batch in flight (its loop stops between chunks), then
  // leaves the group so the partitions move at once, not after the session timeout.
  // Bounded: with the brokers gone, kafkajs's disconnect can wait on retries indefinitely.
  await withinMs(consumer?.disconnect(), DISCONNECT_GRACE_MS);
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
