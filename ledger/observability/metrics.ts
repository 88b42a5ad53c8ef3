import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CommandOutcome } from '../core/handler';
import type { TransactionObserver } from '../spanner/transaction';

/**
 * The Prometheus metrics of one spanledger process, on a registry of its own (never the
 * prom-client global one), so tests can create several side by side.
 *
 *   spanledger_commands_total{outcome,code}          commands decided (consume), by outcome; code "" unless rejected/invalid
 *   spanledger_batch_size{stage}                     histogram: messages per transaction (consume), events per send (publish)
 *   spanledger_transaction_retries_total             read-write transactions re-run after ABORTED (TransactionObserver)
 *   spanledger_dead_letters_total{code}              messages sent to the dead-letter topic
 *   spanledger_events_published_total{topic}         events acknowledged by the broker (publish)
 *   spanledger_projection_events_applied_total{}     events applied by the projector (summed over projections)
 *   spanledger_projection_lag_events{projection}     events after the projection's checkpoint, counted up to a cap
 *   spanledger_consumer_lag_messages{topic,partition} high watermark − inbox offset
 *   spanledger_dependency_up{dependency}             1 while spanner / kafka answers, 0 during an outage being ridden out
 */
export type CommandOutcomeLabel = CommandOutcome['status'];
export type BatchStage = 'consume' | 'publish';

export interface LedgerMetrics {
  readonly registry: Registry;
  readonly commands: Counter<'outcome' | 'code'>;
  readonly batchSize: Histogram<'stage'>;
  readonly transactionRetries: Counter;
  readonly deadLetters: Counter<'code'>;
  readonly eventsPublished: Counter<'topic'>;
  readonly projectionEventsApplied: Counter;
  readonly projectionLag: Gauge<'projection'>;
  readonly consumerLag: Gauge<'topic' | 'partition'>;
  readonly dependencyUp: Gauge<'dependency'>;
  /** Counts one decided command. */
  recordOutcome(outcome: { readonly status: CommandOutcomeLabel; readonly code?: string }): void;
  /** Feed for runReadWrite / SpannerLedgerStore: counts every retry. */
  readonly transactionObserver: TransactionObserver;
}

export const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

export interface MetricsOptions {
  /** Also collect Node process metrics (CPU, memory, event loop) with the spanledger_ prefix. */
  readonly processMetrics?: boolean;
}

export function createMetrics(registry: Registry = new Registry(), options: MetricsOptions = {}): LedgerMetrics {
  const registers = [registry];
  const commands = new Counter({ name: 'spanledger_commands_total', help: 'Commands decided, by outcome (accepted|duplicate|rejected|invalid) and rejection code', labelNames: ['outcome', 'code'] as const, registers });
  const batchSize = new Histogram({ name: 'spanledger_batch_size', help: 'Items per batch: messages per transaction (consume), events per send (publish)', labelNames: ['stage'] as const, buckets: BATCH_SIZE_BUCKETS, registers });
  const transactionRetries = new Counter({ name: 'spanledger_transaction_retries_total', help: 'Read-write transactions re-run after ABORTED', registers });
  const deadLetters = new Counter({ name: 'spanledger_dead_letters_total', help: 'Messages sent to the dead-letter topic, by reason code', labelNames: ['code'] as const, registers });
  const eventsPublished = new Counter({ name: 'spanledger_events_published_total', help: 'Ledger events acknowledged by the broker', labelNames: ['topic'] as const, registers });
  const projectionEventsApplied = new Counter({ name: 'spanledger_projection_events_applied_total', help: 'Events applied by the projector (summed over projections)', registers });
  const projectionLag = new Gauge({ name: 'spanledger_projection_lag_events', help: 'Events in the log after the projection checkpoint (counted up to a cap)', labelNames: ['projection'] as const, registers });
  const consumerLag = new Gauge({ name: 'spanledger_consumer_lag_messages', help: 'Kafka high watermark minus the Spanner inbox offset', labelNames: ['topic', 'partition'] as const, registers });
  const dependencyUp = new Gauge({ name: 'spanledger_dependency_up', help: 'Whether a dependency (spanner, kafka) answers: 0 while an outage is being ridden out', labelNames: ['dependency'] as const, registers });
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'spanledger_' });
  // Counters without labels show up at 0 from the start; labelled ones once used.
  transactionRetries.inc(0);
  projectionEventsApplied.inc(0);
  return {
    registry,
    commands,
    batchSize,
    transactionRetries,
    deadLetters,
    eventsPublished,
    projectionEventsApplied,
    projectionLag,
    consumerLag,
    dependencyUp,
    recordOutcome(outcome) {
      commands.inc({ outcome: outcome.status, code: outcome.code ?? '' });
    },
    transactionObserver: {
      onTransactionRetry() {
        transactionRetries.inc();
      },
    },
  };
}
