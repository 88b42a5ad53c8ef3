import { mkdirSync } from 'node:fs';
import { CliError, EXIT, ExitCode } from './errors';
import { CliIo, writeLine } from './io';
import { ConnectionFlags } from './context';

/**
 * `spanledger dev up | down | status`: a long-running local stack for manual use. The
 * emulator (and the embedded Kafka broker, when kcat is installed) run detached; their
 * endpoints go into .spanledger/dev.json so later CLI calls find them without exports.
 */
export async function devUp(io: CliIo, flags: ConnectionFlags & { json?: boolean; kafka?: boolean }): Promise<ExitCode> {
  const emulator = await import('../emulator');
  const existing = emulator.readDevState(emulator.devStateDir(io.env, io.cwd));
  if (existing?.spanner && emulator.isAlive(existing.spanner.pid)) {
    writeLine(io.stdout, `already running: SPANNER_EMULATOR_HOST=${existing.spanner.host}${existing.kafka ? ` KAFKA_BROKERS=${existing.kafka.brokers}` : ''}`);
    return EXIT.ok;
  }
  const logDir = emulator.devStateDir(io.env, io.cwd);
  mkdirSync(logDir, { recursive: true });
  const spanner = await emulator.startSpannerEmulator({ detached: true, logFile: `${logDir}/spanner-emulator.log` });
  let kafka: { brokers: string; pid: number } | undefined;
  if (flags.kafka !== false && emulator.findKcat(io.env)) {
    const broker = await emulator.startKafkaBroker({ detached: true, logFile: `${logDir}/kafka-broker.log` });
    kafka = { brokers: broker.brokers, pid: broker.pid };
  }
  emulator.writeDevState({ spanner: { host: spanner.host, pid: spanner.pid }, kafka, startedAt: new Date().toISOString() }, logDir);

  const { connect, settingsFromEnv } = await import('../ledger/spanner/connection');
  const { SpannerLedgerStore } = await import('../ledger/spanner/store');
  const { migrateAll } = await import('../app/migrate');
  const connection = connect(settingsFromEnv(io.env, { emulatorHost: spanner.host, projectId: flags.project, instanceId: flags.instance, databaseId: flags.database }));
  try {
    await migrateAll(connection, new SpannerLedgerStore(connection));
  } finally {
    await connection.close();
  }
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify({ spannerEmulatorHost: spanner.host, kafkaBrokers: kafka?.brokers ?? null }));
  } else {
    writeLine(io.stdout, `Spanner emulator running (pid ${spanner.pid}); database migrated`);
    writeLine(io.stdout, `export SPANNER_EMULATOR_HOST=${spanner.host}`);
    if (kafka) writeLine(io.stdout, `export KAFKA_BROKERS=${kafka.brokers}`);
    else writeLine(io.stdout, 'kcat not installed: no local Kafka broker (apt-get install kcat)');
    writeLine(io.stdout, 'spanledger commands in this folder find them without the exports; `spanledger dev down` stops them');
  }
  return EXIT.ok;
}

export async function devDown(io: CliIo): Promise<ExitCode> {
  const emulator = await import('../emulator');
  const state = emulator.readDevState(emulator.devStateDir(io.env, io.cwd));
  if (!state) {
    writeLine(io.stdout, 'nothing running');
    return EXIT.ok;
  }
  for (const [name, pid] of [['Spanner emulator', state.spanner?.pid], ['Kafka broker', state.kafka?.pid]] as const) {
    if (pid !== undefined && emulator.isAlive(pid)) {
      await emulator.stopProcessGroup(pid);
      writeLine(io.stdout, `stopped ${name} (pid ${pid})`);
    }
  }
  emulator.clearDevState(emulator.devStateDir(io.env, io.cwd));
  return EXIT.ok;
}

export async function devStatus(io: CliIo, flags: { json?: boolean }): Promise<ExitCode> {
  const emulator = await import('../emulator');
  const state = emulator.readDevState(emulator.devStateDir(io.env, io.cwd));
  const spannerUp = Boolean(state?.spanner && emulator.isAlive(state.spanner.pid));
  const kafkaUp = Boolean(state?.kafka && emulator.isAlive(state.kafka.pid));
  if (flags.json) {
    writeLine(
      io.stdout,
      JSON.stringify({
        spanner: spannerUp ? { host: state!.spanner!.host, pid: state!.spanner!.pid } : null,
        kafka: kafkaUp ? { brokers: state!.kafka!.brokers, pid: state!.kafka!.pid } : null,
      }),
    );
  } else {
    writeLine(io.stdout, spannerUp ? `Spanner emulator: running at ${state!.spanner!.host} (pid ${state!.spanner!.pid})` : 'Spanner emulator: not running');
    writeLine(io.stdout, kafkaUp ? `Kafka broker: running at ${state!.kafka!.brokers} (pid ${state!.kafka!.pid})` : 'Kafka broker: not running');
  }
  if (!spannerUp) throw new CliError('the local stack is not running', EXIT.failure, 'start it with `spanledger dev up`');
  return EXIT.ok;
}
