import type { Kafka } from 'kafkajs';
import type { LedgerStore } from '../core/store';
import { checkTopics, ConsumeOptions, ConsumeSummary } from './consume-options';
import { ConsumerRun } from './consumer-run';

export * from './consume-options';
export { InboxFenced } from './chunk-decider';
export { BrokerSilenceError } from './liveness';

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

/**
 * Consumes `topic` until idle (with `untilIdle`) or until `signal` aborts; rejects on an
 * infrastructure failure (Spanner or Kafka), after leaving the group. Bad settings throw
 * ConsumeSettingsError before anything connects.
 */
export async function consumeCommands(kafka: Kafka, store: LedgerStore, options: ConsumeOptions): Promise<ConsumeSummary> {
  checkTopics(options.topic, options.dlqTopic ?? `${options.topic}.dlq`, options.outcomesTopic);
  return new ConsumerRun(kafka, store, options).run();
}
