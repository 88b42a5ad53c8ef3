import { createHash } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import type { InboxOffset } from '../core/store';

/**
 * The inbox is the consumer's position, and the only one that counts (Kafka's committed
 * offset is a hint): this module decides, from a partition's inbox row and its offsets on
 * the broker, where consumption starts, whether the partition is the log the inbox was
 * written from, and when the consumer is idle.
 *
 * Three things make a partition's offsets disagree with its inbox, and each is told apart:
 * - no inbox row (a new database, a restore into one): start at the first offset the
 *   partition still has, since nothing of it was applied here;
 * - the partition ends below the inbox, or the message the inbox applied last is not the
 *   one at that offset now: a different log (a recreated topic, another cluster with the
 *   same topic name). Offsets below the inbox would be skipped as "already applied" and
 *   money would go missing with exit 0, so the consumer stops and says how to reset;
 * - the partition starts above the inbox: retention deleted messages before they were
 *   applied. They cannot be had any more; the gap is logged and consumption goes on.
 */
export interface PartitionOffsets {
  readonly partition: number;
  /** The first offset the partition still holds (log start). */
  readonly low: bigint;
  /** One past the last record (high watermark); control records count. */
  readonly high: bigint;
}

export type PartitionStart =
  /** Seek here and apply from here. `gap`: offsets [from, to) were deleted before they were applied. */
  | { readonly kind: 'from'; readonly offset: bigint; readonly why: 'inbox' | 'no-inbox' | 'gap'; readonly gap?: { readonly from: bigint; readonly to: bigint } }
  /** Seek to the last applied message, check it is the same message, then apply from `next`. */
  | { readonly kind: 'verify'; readonly offset: bigint; readonly digest: string; readonly next: bigint }
  | { readonly kind: 'different-log'; readonly reason: string };

/** Where to start consuming a partition, from its inbox row (undefined: none) and its offsets now. */
export function partitionStart(row: InboxOffset | undefined, offsets: PartitionOffsets): PartitionStart {
  const { low, high } = offsets;
  if (row === undefined) return { kind: 'from', offset: low, why: 'no-inbox' };
  const next = BigInt(row.nextOffset);
  if (high < next) {
    return { kind: 'different-log', reason: `the partition ends at offset ${high}, but its inbox says offsets up to ${next - 1n} were applied` };
  }
  if (low > next) return { kind: 'from', offset: low, why: 'gap', gap: { from: next, to: low } };
  const last = row.lastMessage;
  if (last !== undefined && BigInt(last.offset) >= low && BigInt(last.offset) < next) {
    return { kind: 'verify', offset: BigInt(last.offset), digest: last.digest, next };
  }
  return { kind: 'from', offset: next, why: 'inbox' };
}

/**
 * How far a partition counts as consumed, for idleness and lag: the inbox offset, or the
 * log start when retention moved it past the inbox (those messages can never be fetched).
 */
export function consumedTo(row: InboxOffset | undefined, offsets: PartitionOffsets): bigint {
  const next = row === undefined ? offsets.low : BigInt(row.nextOffset);
  return next > offsets.low ? next : offsets.low;
}

/** Messages that can still be fetched and are not applied yet (0 when caught up). */
export function partitionLag(row: InboxOffset | undefined, offsets: PartitionOffsets): bigint {
  const lag = offsets.high - consumedTo(row, offsets);
  return lag > 0n ? lag : 0n;
}

/**
 * A digest of a message's key and value: the inbox's fingerprint of the log. Lengths go
 * first so that no split of the same bytes between key and value gives the same digest.
 */
export function messageDigest(message: Pick<KafkaMessage, 'key' | 'value'>): string {
  const hash = createHash('sha256');
  for (const part of [message.key, message.value]) {
    hash.update(part === null ? '-1:' : `${part.length}:`);
    if (part !== null) hash.update(part);
  }
  return hash.digest('hex');
}

/** The partition is not the log the inbox was written from: consuming it would lose money silently. */
export class DifferentLogError extends Error {
  override readonly name = 'DifferentLogError';
  constructor(
    readonly group: string,
    readonly topic: string,
    readonly partition: number,
    reason: string,
  ) {
    super(
      `${topic}/${partition} is not the log the inbox of group ${group} was written from: ${reason} ` +
        '(was the topic recreated, or is this another cluster?). Nothing was applied from it.',
    );
  }

  /** The command that makes the consumer start this partition afresh (from its first offset). */
  get resetCommand(): string {
    return `spanledger inbox reset --group ${this.group} --topic ${this.topic} --partition ${this.partition}`;
  }
}
