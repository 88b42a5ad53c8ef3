import type { KafkaMessage } from 'kafkajs';
import { messageDigest } from './inbox';

/**
 * What the consumer does with one fetched batch of one partition, decided without a broker
 * or a database: the shell (consumer-run.ts) only performs it. Placement (where a partition
 * starts after a join) is the same kind of plan, in inbox.ts.
 */

/** Where this member stands on one partition, as far as a fetched batch is concerned. */
export interface BatchPosition {
  /** The first offset to apply: everything below is applied already, or gone. */
  readonly floor: bigint;
  /** The last applied message, still to be found again before anything is applied. */
  readonly verify?: { readonly offset: bigint; readonly digest: string };
  /** The floor this member sought to after Kafka delivered elsewhere: seek only once per floor. */
  readonly soughtTo?: bigint;
}

export type BatchStep =
  /** The message at the inbox's last applied offset is another one: this is another log; stop. */
  | { readonly kind: 'different-log'; readonly reason: string }
  /** Nothing new: move Kafka's position past the batch, and seek to the floor when the batch ends below it (so a redelivery never spins). */
  | { readonly kind: 'applied-already'; readonly seekTo?: bigint }
  /** Kafka delivered from past the floor: seek back to it, once per floor, and decide nothing of this batch. */
  | { readonly kind: 'seek-back'; readonly to: bigint }
  /** Decide these messages, in offset order. */
  | { readonly kind: 'decide'; readonly messages: readonly KafkaMessage[] };

export interface BatchPlan {
  readonly step: BatchStep;
  /** The position once the step is taken: the shell keeps it for the next batch. */
  readonly position: BatchPosition;
  /** Messages below the floor: applied before and delivered again. */
  readonly skipped: number;
  /** Offsets passed over because Kafka no longer has them (deleted before they were applied): from, to exclusive. */
  readonly lost?: { readonly from: bigint; readonly to: bigint };
  /** The last applied message's offset, gone from the log, so the log could not be recognised. */
  readonly unverified?: bigint;
}

/** Plans one fetched batch (its messages in offset order; `lastOffset`, its last record, may be a marker past them). */
export function planBatch(position: BatchPosition, batch: readonly KafkaMessage[], lastOffset: bigint): BatchPlan {
  const recognised = recognise(position, batch);
  if ('reason' in recognised) return { step: { kind: 'different-log', reason: recognised.reason }, position, skipped: 0 };
  const { messages, verify, unverified } = recognised;
  const { floor, soughtTo } = position;
  const fresh = messages.filter((message) => BigInt(message.offset) >= floor);
  const kept: BatchPosition = { floor, ...(verify ? { verify } : {}), ...(soughtTo === undefined ? {} : { soughtTo }) };
  const counts = { skipped: messages.length - fresh.length, ...(unverified === undefined ? {} : { unverified }) };
  if (fresh.length === 0) return { step: { kind: 'applied-already', ...(lastOffset + 1n < floor ? { seekTo: floor } : {}) }, position: kept, ...counts };
  const first = BigInt(fresh[0]!.offset);
  if (first <= floor) return { step: { kind: 'decide', messages: fresh }, position: kept, ...counts };
  // Past the floor: seek back once; the same offsets again mean they are gone (retention, compaction).
  if (soughtTo !== floor) return { step: { kind: 'seek-back', to: floor }, position: { ...kept, soughtTo: floor }, ...counts };
  return { step: { kind: 'decide', messages: fresh }, position: { ...kept, floor: first }, lost: { from: floor, to: first }, ...counts };
}

/**
 * The inbox's last applied message must be found again at its offset before anything is
 * applied: the same message there is the same log (it is read again on purpose and dropped,
 * not counted as skipped); another message is another log; a batch past it means the message
 * is gone, and the log cannot be recognised.
 */
function recognise(position: BatchPosition, batch: readonly KafkaMessage[]): { reason: string } | { messages: readonly KafkaMessage[]; verify?: BatchPosition['verify']; unverified?: bigint } {
  const { verify } = position;
  const first = batch[0];
  if (!verify || !first) return { messages: batch, ...(verify ? { verify } : {}) };
  const at = BigInt(first.offset);
  if (at === verify.offset) {
    if (messageDigest(first) !== verify.digest) return { reason: `the message at offset ${at} is not the one the inbox applied there` };
    return { messages: batch.slice(1) };
  }
  if (at > verify.offset) return { messages: batch, unverified: verify.offset };
  return { messages: batch, verify };
}
