import type { ConsumeSummary } from '../ledger/kafka/consumer';
import { OutageError } from '../ledger/core/retry';
import { describeTarget } from '../ledger/spanner/connection';
import { cliLedgerSettings, ConnectionFlags, explainSpannerError, openConnection, resolveSettings, targetFlags } from './context';
import { CliError, EXIT, ExitCode } from './errors';
import { CliIo, count, writeLine } from './io';
import { stopOnSignals } from './signals';
import type { KafkaSettings } from '../ledger/kafka/client';
import type { ObservabilitySession } from '../ledger/observability/session';

/** Flags of the long-running commands: the global --log-level, and the metrics server. */
export interface ObservabilityFlags {
  readonly logLevel?: string;
  readonly metricsPort?: number;
  readonly metricsHost?: string;
}

/**
 * Logger (JSON lines on stderr) and metrics for a long-running command; the metrics server
 * only with --metrics-port. A bad SPANLEDGER_LOG_LEVEL is exit code 2.
 */
export async function openCommandObservability(io: CliIo, flags: ObservabilityFlags, component: string): Promise<ObservabilitySession> {
  const { resolveLogLevel, LogLevelError } = await import('../ledger/observability/logger');
  const { openObservability } = await import('../ledger/observability/session');
  let level;
  try {
    level = resolveLogLevel(flags.logLevel, io.env);
  } catch (error) {
    if (error instanceof LogLevelError) throw new CliError(error.message, EXIT.invalid);
    throw error;
  }
  try {
    return await openObservability({ component, level, destination: io.stderr, metricsPort: flags.metricsPort, metricsHost: flags.metricsHost });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
      throw new CliError(`cannot serve metrics on ${flags.metricsHost ?? '127.0.0.1'}:${flags.metricsPort}: ${(error as Error).message}`, EXIT.invalid, 'pick another --metrics-port (0 picks a free one)');
    }
    throw error;
  }
}

export interface ConsumeFlags extends ConnectionFlags, ObservabilityFlags {
  readonly topic: string;
  readonly group: string;
  readonly dlqTopic?: string;
  readonly outcomesTopic?: string;
  readonly untilIdle?: boolean;
  readonly sessionTimeoutMs: number;
  readonly batchSize?: number;
  readonly partitionsConcurrently?: number;
  readonly json?: boolean;
  readonly outageMaxS?: number;
}

export function renderConsumeSummary(summary: ConsumeSummary): string {
  return (
    `consumed ${count(summary.messages, 'message')} from ${summary.topic} (group ${summary.group}): ` +
    `${summary.accepted} accepted, ${summary.duplicate} duplicate, ${summary.rejected} rejected, ` +
    `${summary.invalid} invalid (dead-lettered), ${summary.skipped} skipped (already applied)` +
    `${summary.lost > 0 ? `, ${summary.lost} lost to retention before they were applied` : ''}` +
    `${summary.outcomesSent > 0 ? `, ${count(summary.outcomesSent, 'outcome')} sent` : ''}; ` +
    `${count(summary.events, 'event')} in ${count(summary.transactions, 'transaction')}, ${summary.seconds.toFixed(1)} s, stopped by ${summary.stoppedBy}`
  );
}

export async function consume(io: CliIo, flags: ConsumeFlags): Promise<ExitCode> {
  const { bonusRateBps, balanceThresholdsMicroUsd } = cliLedgerSettings(io, flags);
  const settings = await kafkaSettings(io);
  if (flags.topic.trim() === '') throw new CliError('--topic must not be empty', EXIT.invalid);
  await kafkaPreflight(settings);
  const { createKafka } = await import('../ledger/kafka/client');
  const { consumeCommands, checkTopics, ConsumeSettingsError } = await import('../ledger/kafka/consumer');
  try {
    checkTopics(flags.topic, flags.dlqTopic ?? `${flags.topic}.dlq`, flags.outcomesTopic);
  } catch (error) {
    if (error instanceof ConsumeSettingsError) throw new CliError(error.message, EXIT.invalid, 'give --dlq-topic and --outcomes-topic topics of their own');
    throw error;
  }
  const observability = await openCommandObservability(io, flags, 'consume');
  const { logger, metrics } = observability;
  const { SpannerLedgerStore } = await import('../ledger/spanner/store');
  const store = new SpannerLedgerStore(openConnection(io, flags), metrics.transactionObserver);
  const stop = stopOnSignals();
  const { OutageTracker, rerunThroughOutages } = await import('../ledger/core/retry');
  const { SYSTEM_CLOCK } = await import('../ledger/system-clock');
  const { dependencyHealth } = await import('../ledger/observability/dependency-health');
  const outageMaxMs = (flags.outageMaxS ?? 300) * 1000;
  const spannerHealth = dependencyHealth('spanner', logger, metrics, outageMaxMs);
  const kafkaHealth = dependencyHealth('kafka', logger, metrics, outageMaxMs);
  // A Spanner failure the batch retry does not cover (reading the inbox on assignment, the
  // outbox) restarts the consumer, which resumes from the inbox offsets, within the same limit.
  const restarts = new OutageTracker(`spanner ${describeTarget(resolveSettings(io, flags))}`, { outageMaxMs }, {}, SYSTEM_CLOCK);
  let lastProgress = SYSTEM_CLOCK.now();
  let summary: ConsumeSummary;
  const consumeOnce = () =>
    consumeCommands(createKafka(settings), store, {
      topic: flags.topic,
      group: flags.group,
      dlqTopic: flags.dlqTopic,
      outcomesTopic: flags.outcomesTopic,
      idempotentProducer: settings.idempotent,
      autoCreateTopics: settings.autoCreateTopics,
      untilIdle: Boolean(flags.untilIdle),
      sessionTimeoutMs: flags.sessionTimeoutMs,
      batchSize: flags.batchSize,
      partitionsConcurrently: flags.partitionsConcurrently,
      bonusRateBps,
      balanceThresholdsMicroUsd,
      signal: stop.signal,
      logger,
      outage: { outageMaxMs, clock: SYSTEM_CLOCK, spanner: spannerHealth, kafka: kafkaHealth },
      observer: {
        onChunk({ outcomes, deadLetters }) {
          lastProgress = SYSTEM_CLOCK.now();
          restarts.answered();
          metrics.batchSize.observe({ stage: 'consume' }, outcomes.length + deadLetters.length);
          for (const outcome of outcomes) metrics.recordOutcome(outcome);
          for (const reason of deadLetters) {
            metrics.recordOutcome({ status: 'invalid', code: reason.code });
            metrics.deadLetters.inc({ code: reason.code });
          }
        },
        // Lag is measured (a Spanner read and a broker offsets call every few seconds) only
        // when someone can scrape it, or when --until-idle checks it anyway.
        onLag:
          observability.server || flags.untilIdle
            ? (topic, partition, lag) => metrics.consumerLag.set({ topic, partition: String(partition) }, lag)
            : undefined,
      },
    });
  try {
    const spannerDown = (error: unknown) => {
      if (!store.isTransient(error) || stop.signal.aborted) return undefined;
      logger.warn({ event: 'consumer_restart', error: (error as Error).message }, `restarting the consumer after a Spanner failure: ${(error as Error).message}`);
      return restarts;
    };
    // The summary is the last run's: a run that ended in a failure reports nothing.
    summary = await rerunThroughOutages(consumeOnce, spannerDown, () => lastProgress);
  } catch (error) {
    throw await explainRelayError(error, io, flags, settings);
  } finally {
    stop.dispose();
    await store.close();
    await observability.close();
  }
  writeLine(io.stdout, flags.json ? JSON.stringify(summary) : renderConsumeSummary(summary));
  return EXIT.ok;
}

/**
 * A failure of consume or publish as one CLI line, naming the real cause: another log under
 * the inbox, a topic the relay may not write, the brokers gone, or Spanner.
 */
export async function explainRelayError(error: unknown, io: CliIo, flags: ConnectionFlags, settings: KafkaSettings): Promise<CliError> {
  const { DifferentLogError } = await import('../ledger/kafka/inbox');
  const { DeadLetterSendError } = await import('../ledger/kafka/dead-letters');
  const { OutcomeSendError } = await import('../ledger/kafka/outcomes');
  if (error instanceof DifferentLogError) {
    return new CliError(error.message, EXIT.failure, `if that log is the one to apply (the topic was recreated on purpose), start the partition afresh: ${error.resetCommand}${targetFlags(resolveSettings(io, flags))}`);
  }
  if (error instanceof DeadLetterSendError || error instanceof OutcomeSendError) {
    return new CliError(error.message, EXIT.failure, 'nothing after the failed send was applied; fix the topic and run consume again');
  }
  if (error instanceof OutageError) return new CliError(error.message, EXIT.failure, 'nothing past the stored positions was lost: run it again once that answers');
  if (isKafkaError(error)) return new CliError(`kafka ${settings.brokers.join(',')}: ${(error as Error).message}`, EXIT.failure, 'is the broker reachable? check KAFKA_BROKERS');
  return explainSpannerError(error, resolveSettings(io, flags), io);
}

export function isKafkaError(error: unknown): boolean {
  return (error instanceof Error && error.name === 'BrokerSilenceError') || (error instanceof Error && /^KafkaJS/.test(error.name));
}

/**
 * Fails within seconds when no broker of KAFKA_BROKERS accepts a connection at all: kafkajs
 * would retry its first connection for half a minute before saying so. (A broker that goes
 * away later is an outage, for the running command to ride out.)
 */
export async function kafkaPreflight(settings: KafkaSettings): Promise<void> {
  const { canConnectTo } = await import('../ledger/observability/tcp-probe');
  const answers = await Promise.all(settings.brokers.map((broker) => canConnectTo(broker, 3_000)));
  if (!answers.includes(true)) {
    throw new CliError(`no Kafka broker accepts connections at ${settings.brokers.join(',')} (KAFKA_BROKERS)`, EXIT.failure, 'is the broker running? `spanledger dev up` starts a local one; check KAFKA_BROKERS');
  }
}

/** Kafka settings from the environment; a bad or missing setting is exit code 2. */
export async function kafkaSettings(io: CliIo): Promise<KafkaSettings> {
  const { kafkaSettingsFromEnv, KafkaSettingsError } = await import('../ledger/kafka/client');
  try {
    if (io.env.KAFKA_BROKERS) return kafkaSettingsFromEnv(io.env);
    // The broker `dev up` started is the embedded kcat one, which has no idempotent producer.
    return kafkaSettingsFromEnv({ KAFKA_IDEMPOTENT: 'false', ...io.env, KAFKA_BROKERS: await devBrokers(io) });
  } catch (error) {
    if (error instanceof KafkaSettingsError) throw new CliError(error.message, EXIT.invalid, 'set KAFKA_BROKERS=host:port[,host:port...] (`spanledger dev up` starts a local broker)');
    throw error;
  }
}

/** The broker `spanledger dev up` started, when it is still running (like the emulator in resolveSettings). */
async function devBrokers(io: CliIo): Promise<string | undefined> {
  try {
    const { runningDevStack } = await import('./dev-stack');
    return runningDevStack(io.env, io.cwd).kafkaBrokers;
  } catch {
    return undefined;
  }
}

