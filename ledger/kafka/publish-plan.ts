import type { RecordMetadata } from 'kafkajs';
import type { GlobalPosition } from '../core/store';
import type { PublisherCheckpoint } from './publisher-checkpoint';

/**
 * What the event publisher does next, decided without a broker or a database: the shell
 * (publisher.ts) only performs it. The lease is renewed before any send once half of it has
 * passed, so a send always follows a transaction that found this publisher holding it.
 */
export type PollStep =
  /** The log has nothing more and the run stops when idle. */
  | { readonly kind: 'stop-idle' }
  /** Nothing to send: wait a poll interval (renewing the lease first when due). */
  | { readonly kind: 'wait'; readonly renewFirst: boolean }
  /** Send the page (renewing the lease first when due). */
  | { readonly kind: 'send'; readonly renewFirst: boolean };

export interface PollState {
  readonly untilIdle: boolean;
  /** Milliseconds since this process last saw its lease renewed (its own clock: only elapsed time matters). */
  readonly sinceRenewalMs: number;
  readonly leaseMs: number;
}

/** The next step after a read of the log that returned `events` events (`position`: where the page ends). */
export function planPoll(page: { readonly events: number; readonly position: GlobalPosition | null }, state: PollState): PollStep {
  const renewFirst = state.sinceRenewalMs > state.leaseMs / 2;
  if (page.events > 0 && page.position) return { kind: 'send', renewFirst };
  if (state.untilIdle) return { kind: 'stop-idle' };
  return { kind: 'wait', renewFirst };
}

/**
 * Partition ends after an acknowledged send: each partition written reached at least its
 * batch's base offset + 1 (the broker reports where each partition's part of the batch
 * starts, not how many it holds).
 */
export function endsAfter(previous: Readonly<Record<string, string>>, sent: readonly RecordMetadata[]): Record<string, string> {
  const ends = { ...previous };
  for (const entry of sent) {
    const reached = BigInt(entry.baseOffset ?? '-1') + 1n;
    const key = String(entry.partition);
    if (reached > BigInt(ends[key] ?? '0')) ends[key] = reached.toString();
  }
  return ends;
}

/** The checkpoint once a page of `events` events ending at `position` is acknowledged. */
export function checkpointAfter(checkpoint: PublisherCheckpoint, events: number, position: GlobalPosition, sent: readonly RecordMetadata[]): PublisherCheckpoint {
  return { position, publishedEvents: checkpoint.publishedEvents + events, partitionEnds: endsAfter(checkpoint.partitionEnds, sent) };
}
