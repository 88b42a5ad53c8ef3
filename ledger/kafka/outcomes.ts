import type { KafkaMessage, Producer } from 'kafkajs';
import type { CommandOutcome } from '../core/handler';
import type { KafkaOutcome } from '../core/store';
import type { DeadLetterReason } from './dead-letters';
import { explainSendFailure } from './dead-letters';

/**
 * Answers back to producers: with `--outcomes-topic`, every decided message gets the same
 * outcome object `submit` prints for a line (without `line`), keyed like the command and
 * with headers naming where it came from.
 *
 * At least once, and how: the outcome rows are written in the transaction that decides the
 * messages (the Kafka outbox, table KafkaOutcomes), sent after the commit, and dropped by a
 * later transaction once the broker acknowledged them. A crash in between leaves the rows,
 * and the next owner of the partition sends them again. A duplicate carries the same
 * source-topic, source-partition and source-offset headers as the first copy.
 */

/** The outcome object of one message: `submit`'s output line without `line`. */
export function outcomeJson(outcome: CommandOutcome | { status: 'invalid'; reason: DeadLetterReason }): string {
  if ('reason' in outcome) return JSON.stringify({ status: 'invalid', eventIds: [], code: outcome.reason.code, message: outcome.reason.message });
  const base = { status: outcome.status, eventIds: outcome.eventIds ?? [] };
  return JSON.stringify(outcome.code ? { ...base, code: outcome.code, message: outcome.message } : base);
}

/** The outbox row of one consumed message. */
export function outcomeRow(group: string, topic: string, partition: number, message: KafkaMessage, outcome: string): KafkaOutcome {
  return { group, topic, partition, offset: message.offset, keyBase64: message.key === null ? null : message.key.toString('base64'), outcome };
}

export class OutcomeSendError extends Error {
  override readonly name = 'OutcomeSendError';
}

/** Sends outbox rows to the outcomes topic and waits for every in-sync replica. */
export async function sendOutcomes(producer: Producer, outcomesTopic: string, rows: readonly KafkaOutcome[]): Promise<void> {
  if (rows.length === 0) return;
  try {
    await producer.send({
      topic: outcomesTopic,
      acks: -1,
      messages: rows.map((row) => ({
        key: row.keyBase64 === null ? null : Buffer.from(row.keyBase64, 'base64'),
        value: row.outcome,
        headers: { 'source-topic': row.topic, 'source-partition': String(row.partition), 'source-offset': row.offset },
      })),
    });
  } catch (error) {
    throw new OutcomeSendError(`cannot send outcomes of ${rows[0]!.topic}/${rows[0]!.partition} to ${outcomesTopic}: ${explainSendFailure(outcomesTopic, error)}`, { cause: error });
  }
}
