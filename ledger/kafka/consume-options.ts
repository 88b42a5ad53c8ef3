import type { Logger } from 'pino';
import type { CommandOutcome } from '../core/handler';
import type { OutageObserver, RetryClock } from '../core/retry';
import type { DeadLetterReason } from './dead-letters';

/** What a run of the command consumer is told (consumer.ts), what it reports, and the checks on its settings. */

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

/** Options that cannot work together (a dead-letter topic equal to the command topic, ...). */
export class ConsumeSettingsError extends Error {
  override readonly name = 'ConsumeSettingsError';
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
