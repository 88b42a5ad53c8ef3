import type { IHeaders, KafkaMessage, Producer } from 'kafkajs';
import { Command, parseCommandText } from '../core/commands';

/**
 * Messages the consumer cannot decide: what makes one a dead letter, the record it becomes
 * on the dead-letter topic, and why sending it failed when it did.
 *
 * The keying rule producers must follow: the message key is the command's `userId`, as
 * UTF-8. Kafka keeps order per partition only, and only one key's messages are sure to
 * share a partition, so a command keyed otherwise could be decided before an earlier
 * command of the same account (a settle before its charge, a charge before its deposit).
 * Such a message is refused as KEY_MISMATCH rather than decided out of order.
 */
export type DeadLetterCode = 'EMPTY_MESSAGE' | 'INVALID_ENCODING' | 'INVALID_COMMAND' | 'KEY_MISMATCH';

export interface DeadLetterReason {
  readonly code: DeadLetterCode;
  readonly message: string;
}

export type MessageCommand = { ok: true; text: string; command: Command } | { ok: false; reason: DeadLetterReason };

// ignoreBOM keeps a byte-order mark in the text, where the strict JSON reader refuses it:
// the same rule as `submit`, so one input is never valid on one path and invalid on the other.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decode(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The command of a message, or why the message is a dead letter. */
export function messageCommand(message: Pick<KafkaMessage, 'key' | 'value'>): MessageCommand {
  const { key, value } = message;
  if (value === null || value.length === 0) return { ok: false, reason: { code: 'EMPTY_MESSAGE', message: 'message has no value' } };
  const text = decode(value);
  if (text === undefined) return { ok: false, reason: { code: 'INVALID_ENCODING', message: 'message value is not valid UTF-8' } };
  const parsed = parseCommandText(text);
  if (!parsed.ok) return { ok: false, reason: { code: 'INVALID_COMMAND', message: parsed.message } };
  const userId = parsed.command.userId;
  const keyText = key === null ? undefined : decode(key);
  if (keyText !== userId) {
    const got = key === null ? 'no key' : keyText === undefined ? 'a key that is not UTF-8' : `key ${JSON.stringify(keyText)}`;
    return {
      ok: false,
      reason: { code: 'KEY_MISMATCH', message: `message has ${got}; it must be keyed by the command's userId ${JSON.stringify(userId)}, so that one account's commands stay in order on one partition` },
    };
  }
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

/** A dead letter could not be sent; `cause` says why in the broker's words and ours. */
export class DeadLetterSendError extends Error {
  override readonly name = 'DeadLetterSendError';
}

/**
 * What a failed send to `topic` means, for people. The broker's error type names the cause
 * (a missing topic with auto-creation off, an ACL) far better than "is the broker reachable?".
 */
export function explainSendFailure(topic: string, error: unknown): string {
  const type = brokerErrorType(error);
  const message = error instanceof Error ? error.message : String(error);
  switch (type) {
    case 'UNKNOWN_TOPIC_OR_PARTITION':
      return `topic ${topic} does not exist and the brokers do not create topics on first use: create it (or set KAFKA_AUTO_CREATE_TOPICS=true where the cluster allows it)`;
    case 'TOPIC_AUTHORIZATION_FAILED':
      return `not allowed to write to topic ${topic} (TOPIC_AUTHORIZATION_FAILED): grant this client's principal WRITE on it`;
    case 'CLUSTER_AUTHORIZATION_FAILED':
      return `not allowed to write to the cluster (CLUSTER_AUTHORIZATION_FAILED): grant this client's principal the cluster permissions an idempotent producer needs, or set KAFKA_IDEMPOTENT=false`;
    case 'INVALID_TOPIC_EXCEPTION':
      return `${JSON.stringify(topic)} is not a valid topic name`;
    case 'MESSAGE_TOO_LARGE':
    case 'RECORD_LIST_TOO_LARGE':
      return `the brokers refused the batch for ${topic} as too large (${String(type)}): raise the topic's max.message.bytes`;
    default:
      return typeof type === 'string' ? `${type}: ${message}` : message;
  }
}

/** The broker's error type (UNKNOWN_TOPIC_OR_PARTITION, ...) under kafkajs's retry wrappers, if any. */
export function brokerErrorType(error: unknown): string | undefined {
  for (let at: unknown = error, depth = 0; at && depth < 8; at = (at as { cause?: unknown }).cause, depth++) {
    const type = (at as { type?: unknown }).type;
    if (typeof type === 'string') return type;
  }
  return undefined;
}

/** Sends the dead letters of one chunk and waits for every in-sync replica; names the cause on failure. */
export async function sendDeadLetters(
  producer: Producer,
  dlqTopic: string,
  topic: string,
  partition: number,
  letters: readonly { message: KafkaMessage; reason: DeadLetterReason }[],
): Promise<void> {
  if (letters.length === 0) return;
  try {
    await producer.send({
      topic: dlqTopic,
      acks: -1,
      messages: letters.map(({ message, reason }) => ({ key: message.key, value: message.value, headers: deadLetterHeaders(message, topic, partition, reason) })),
    });
  } catch (error) {
    throw new DeadLetterSendError(`cannot send dead letters of ${topic}/${partition} to ${dlqTopic}: ${explainSendFailure(dlqTopic, error)}`, { cause: error });
  }
}
