import type { PublishSummary } from '../ledger/kafka/publisher';
import { ConnectionFlags, openConnection, resolveSettings, targetFlags } from './context';
import { describeTarget } from '../ledger/spanner/connection';
import { CliError, EXIT, ExitCode } from './errors';
import { CliIo, count, writeLine } from './io';
import { explainRelayError, kafkaPreflight, kafkaSettings, ObservabilityFlags, openCommandObservability } from './consume';
import { stopOnSignals } from './signals';

export interface PublishFlags extends ConnectionFlags, ObservabilityFlags {
  readonly topic: string;
  readonly name: string;
  readonly untilIdle?: boolean;
  readonly batchSize: number;
  readonly fromStart?: boolean;
  readonly json?: boolean;
  readonly outageMaxS?: number;
}

export function renderPublishSummary(summary: PublishSummary): string {
  const where = summary.position ? `${summary.position.committedAt} ${summary.position.streamId}#${summary.position.streamVersion}` : 'the start';
  return (
    `published ${count(summary.published, 'event')} to ${summary.topic} in ${count(summary.batches, 'batch', 'batches')} (publisher ${summary.publisher}, ` +
    `${summary.publishedTotal} in all, at ${where}); ${summary.seconds.toFixed(1)} s, stopped by ${summary.stoppedBy}`
  );
}

export async function publish(io: CliIo, flags: PublishFlags): Promise<ExitCode> {
  const settings = await kafkaSettings(io);
  if (flags.topic.trim() === '') throw new CliError('--topic must not be empty', EXIT.invalid);
  await kafkaPreflight(settings);
  const { createKafka } = await import('../ledger/kafka/client');
  const { publishEvents, publisherOwner, CheckpointMoved, PublishTopicShrunk, PublishSendError } = await import('../ledger/kafka/publisher');
  const { isKafkaOutage } = await import('../ledger/kafka/outage');
  const observability = await openCommandObservability(io, flags, 'publish');
  const { logger, metrics } = observability;
  const { SpannerLedgerStore } = await import('../ledger/spanner/store');
  const store = new SpannerLedgerStore(openConnection(io, flags), metrics.transactionObserver);
  const stop = stopOnSignals();
  const { OutageTracker, rerunThroughOutages } = await import('../ledger/core/retry');
  const { SYSTEM_CLOCK } = await import('../ledger/system-clock');
  const { dependencyHealth } = await import('../ledger/observability/dependency-health');
  const outageMaxMs = (flags.outageMaxS ?? 300) * 1000;
  // Spanner and the brokers are ridden out the same way: the publisher starts again from its
  // checkpoint (under the same lease owner) once they answer; a batch whose checkpoint did not
  // commit is sent again (consumers dedupe by event ID).
  const outages = {
    spanner: new OutageTracker(`spanner ${describeTarget(resolveSettings(io, flags))}`, { outageMaxMs }, dependencyHealth('spanner', logger, metrics, outageMaxMs), SYSTEM_CLOCK),
    kafka: new OutageTracker(`kafka ${settings.brokers.join(',')}`, { outageMaxMs }, dependencyHealth('kafka', logger, metrics, outageMaxMs), SYSTEM_CLOCK),
  };
  const owner = publisherOwner();
  let lastProgress = SYSTEM_CLOCK.now();
  let summary: PublishSummary;
  const publishOnce = () =>
    publishEvents(createKafka(settings), store, store.connection, {
      owner,
      topic: flags.topic,
      publisher: flags.name,
      batchSize: flags.batchSize,
      fromStart: Boolean(flags.fromStart),
      idempotentProducer: settings.idempotent,
      autoCreateTopics: settings.autoCreateTopics,
      untilIdle: Boolean(flags.untilIdle),
      signal: stop.signal,
      logger,
      transactionObserver: metrics.transactionObserver,
      onBatch(events) {
        lastProgress = SYSTEM_CLOCK.now();
        outages.spanner.answered();
        outages.kafka.answered();
        metrics.batchSize.observe({ stage: 'publish' }, events);
        metrics.eventsPublished.inc({ topic: flags.topic }, events);
      },
    });
  try {
    const dependencyDown = (error: unknown) => {
      const down = store.isTransient(error) ? outages.spanner : isKafkaOutage(error) ? outages.kafka : undefined;
      if (!down || stop.signal.aborted) return undefined;
      logger.warn({ event: 'publisher_restart', error: (error as Error).message }, `restarting the publisher from its checkpoint: ${(error as Error).message}`);
      return down;
    };
    // The summary is the last run's (publishedTotal and position are the checkpoint's, across runs).
    summary = await rerunThroughOutages(publishOnce, dependencyDown, () => lastProgress);
  } catch (error) {
    if (error instanceof CheckpointMoved) throw new CliError(error.message, EXIT.failure, 'run one publisher per --name and topic');
    if (error instanceof PublishTopicShrunk) {
      throw new CliError(error.message, EXIT.failure, `publish the whole history again: spanledger publish --topic ${flags.topic} --name ${flags.name} --from-start${targetFlags(resolveSettings(io, flags))}`);
    }
    if (error instanceof PublishSendError) throw new CliError(error.message, EXIT.failure, 'nothing was checkpointed past the last acknowledged batch; fix the topic and run publish again');
    throw await explainRelayError(error, io, flags, settings);
  } finally {
    stop.dispose();
    await store.close();
    await observability.close();
  }
  writeLine(io.stdout, flags.json ? JSON.stringify(summary) : renderPublishSummary(summary));
  return EXIT.ok;
}
