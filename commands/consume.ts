import type { ConsumeSummary } from '../ledger/kafka/consumer';
import { bonusRateFromEnv } from './config';
import { ConnectionFlags, explainSpannerError, openStore, resolveSettings } from './context';
import { CliError, EXIT, ExitCode } from './errors';
import { CliIo, writeLine } from './io';
import type { KafkaSettings } from '../ledger/kafka/client';

export interface ConsumeFlags extends ConnectionFlags {
  readonly topic: string;
  readonly group: string;
  readonly dlqTopic?: string;
  readonly untilIdle?: boolean;
  readonly sessionTimeoutMs: number;
  readonly batchSize?: number;
  readonly partitionsConcurrently?: number;
  readonly json?: boolean;
}

export function renderConsumeSummary(summary: ConsumeSummary): string {
  return (
    `consumed ${summary.messages} messages from ${summary.topic} (group ${summary.group}): ` +
    `${summary.accepted} accepted, ${summary.duplicate} duplicate, ${summary.rejected} rejected, ` +
    `${summary.invalid} invalid (dead-lettered), ${summary.skipped} skipped (already applied); ` +
    `${summary.events} events in ${summary.transactions} transactions, ${summary.seconds.toFixed(1)} s, stopped by ${summary.stoppedBy}`
  );
}

export async function consume(io: CliIo, flags: ConsumeFlags): Promise<ExitCode> {
  const bonusRateBps = bonusRateFromEnv(io.env);
  const settings = await kafkaSettings(io);
  if (flags.topic.trim() === '') throw new CliError('--topic must not be empty', EXIT.invalid);
  const { createKafka } = await import('../ledger/kafka/client');
  const { consumeCommands } = await import('../ledger/kafka/consumer');
  const store = openStore(io, flags);
  const stop = stopOnSignals();
  let summary: ConsumeSummary;
  try {
    summary = await consumeCommands(createKafka(settings), store, {
      topic: flags.topic,
      group: flags.group,
      dlqTopic: flags.dlqTopic,
      untilIdle: Boolean(flags.untilIdle),
      sessionTimeoutMs: flags.sessionTimeoutMs,
      batchSize: flags.batchSize,
      partitionsConcurrently: flags.partitionsConcurrently,
      bonusRateBps,
      signal: stop.signal,
      log: (line) => writeLine(io.stderr, `consume: ${line}`),
    });
  } catch (error) {
    if (isKafkaError(error)) throw new CliError(`kafka ${settings.brokers.join(',')}: ${(error as Error).message}`, EXIT.failure, 'is the broker reachable? check KAFKA_BROKERS');
    throw explainSpannerError(error, resolveSettings(io, flags));
  } finally {
    stop.dispose();
    await store.close();
  }
  writeLine(io.stdout, flags.json ? JSON.stringify(summary) : renderConsumeSummary(summary));
  return EXIT.ok;
}

export function isKafkaError(error: unknown): boolean {
  return error instanceof Error && /^KafkaJS/.test(error.name);
}

/** Kafka settings from the environment; a bad or missing setting is exit code 2. */
export async function kafkaSettings(io: CliIo): Promise<KafkaSettings> {
  const { kafkaSettingsFromEnv, KafkaSettingsError } = await import('../ledger/kafka/client');
  try {
    return kafkaSettingsFromEnv(io.env.KAFKA_BROKERS ? io.env : { ...io.env, KAFKA_BROKERS: await devBrokers(io) });
  } catch (error) {
    if (error instanceof KafkaSettingsError) throw new CliError(error.message, EXIT.invalid, 'set KAFKA_BROKERS=host:port[,host:port...] (`spanledger dev up` starts a local broker)');
    throw error;
  }
}

/** The broker `spanledger dev up` started, when it is still running (like the emulator in resolveSettings). */
async function devBrokers(io: CliIo): Promise<string | undefined> {
  try {
    const { readDevState, devStateDir, isAlive } = await import('../emulator/dev-state');
    const state = readDevState(devStateDir(io.env, io.cwd));
    return state?.kafka && isAlive(state.kafka.pid) ? state.kafka.brokers : undefined;
  } catch {
    return undefined;
  }
}

/**
 * SIGTERM/SIGINT abort the signal (graceful stop: the batch in flight commits, then the
 * member leaves the group); a second signal exits at once, like an unhandled one would.
 */
export function stopOnSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(name === 'SIGINT' ? 130 : 143);
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}
