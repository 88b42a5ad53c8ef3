import { Command as Program, Option } from 'commander';
import { CliError, EXIT } from './errors';
import { Action, positiveInteger, Run, withConnection } from './program-kit';

/** A TCP port 0..65535 (0: any free port; the chosen one is logged). */
function portNumber(text: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(text) || Number(text) > 65_535) throw new CliError(`--metrics-port must be a port number from 0 to 65535, got ${JSON.stringify(text)}`, EXIT.invalid);
  return Number(text);
}

/** `--metrics-port` / `--metrics-host` of the long-running commands (no server without the port). */
export function withMetrics(command: Program): Program {
  return command
    .addOption(new Option('--metrics-port <port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (0: a free port, logged); off by default').argParser(portNumber))
    .addOption(new Option('--metrics-host <host>', 'address the metrics server binds (default 127.0.0.1)'));
}

export const OBSERVABILITY_HELP = `
Logs: JSON lines (pino) on stderr, level from --log-level or SPANLEDGER_LOG_LEVEL (default info).
Metrics (with --metrics-port): spanledger_commands_total, spanledger_batch_size,
spanledger_transaction_retries_total, spanledger_dead_letters_total,
spanledger_events_published_total, spanledger_consumer_lag_messages,
spanledger_projection_lag_events, spanledger_projection_events_applied_total.`;

const KAFKA_ENV_HELP = `
Kafka connection (environment):
  KAFKA_BROKERS         comma-separated host:port list (required)
  KAFKA_CLIENT_ID       client id (default spanledger)
  KAFKA_SSL=true        TLS to the brokers
  KAFKA_SASL_MECHANISM  plain | scram-sha-256 | scram-sha-512, with KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD
  KAFKA_LOG_LEVEL       kafkajs log on stderr: nothing (default) | error | warn | info | debug`;

/** Registers `consume` and `publish` (the Kafka relays). */
export function registerKafkaCommands(program: Program, run: Run): void {
  withMetrics(withConnection(program.command('consume')))
    .description('Apply payment commands from a Kafka topic, effectively once (offsets committed in Spanner with the events)')
    .requiredOption('--topic <topic>', 'topic of commands (value: one submit-line JSON command, key: the user ID)')
    .option('--group <group>', 'consumer group', 'spanledger-ledger')
    .option('--dlq-topic <topic>', 'dead-letter topic for invalid messages (default: <topic>.dlq)')
    .option('--until-idle', 'exit 0 once every partition is consumed up to its end')
    .option('--session-timeout-ms <n>', 'group session timeout: a dead member keeps its partitions this long', positiveInteger('--session-timeout-ms', 3_600_000), 30_000)
    .option('--batch-size <n>', 'commands per Spanner transaction (group commit)', positiveInteger('--batch-size', 100))
    .addOption(new Option('--partitions-concurrently <n>', 'partitions this member processes at once').argParser(positiveInteger('--partitions-concurrently', 64)).default(1))
    .option('--json', 'print the summary as one JSON object')
    .addHelpText(
      'after',
      `
Runs until SIGTERM/SIGINT (the batch in flight commits, then the member leaves the group), or
with --until-idle until caught up. Invalid messages go to the dead-letter topic with headers
error-code, error-message, source-topic, source-partition, source-offset; rejected commands
are logged on stderr. Neither stops the consumer. At the end a summary line is printed:
  consumed N messages: A accepted, D duplicate, R rejected, I invalid (dead-lettered) ...
Exit code: 0 when stopped or idle; 1 on infrastructure failure; 2 on bad flags or settings.
${KAFKA_ENV_HELP}
${OBSERVABILITY_HELP}

Examples:
  $ KAFKA_BROKERS=localhost:9092 spanledger consume --topic payments
  $ spanledger consume --topic payments --group ledger --until-idle --json
  $ spanledger --log-level debug consume --topic payments --metrics-port 9464`,
    )
    .action(run(async () => (await import('./consume')).consume as Action));

  withMetrics(withConnection(program.command('publish')))
    .description('Relay ledger events to a Kafka topic in the global order (at-least-once; dedupe by the event-id header)')
    .requiredOption('--topic <topic>', 'topic to publish events to (key: user ID, value: an `events export` line)')
    .option('--name <name>', 'publisher name: the checkpoint is kept per name and topic', 'spanledger')
    .option('--until-idle', 'exit 0 once every committed event is published')
    .option('--batch-size <n>', 'events per read and per send', positiveInteger('--batch-size', 1000), 500)
    .option('--json', 'print the summary as one JSON object')
    .addHelpText(
      'after',
      `
The checkpoint (last published position) is stored in Spanner only after the broker
acknowledged the send (acks=all): a crash re-publishes at most the last unacknowledged batch.
Exit code: 0 when stopped or idle; 1 on infrastructure failure; 2 on bad flags or settings.
${KAFKA_ENV_HELP}
${OBSERVABILITY_HELP}

Examples:
  $ KAFKA_BROKERS=localhost:9092 spanledger publish --topic ledger-events
  $ spanledger publish --topic ledger-events --until-idle --json`,
    )
    .action(run(async () => (await import('./publish')).publish as Action));
}
