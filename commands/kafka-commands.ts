import { Command as Program, Option } from 'commander';
import { Action, positiveInteger, Run, withConnection } from './program-kit';

const KAFKA_ENV_HELP = `
Kafka connection (environment):
  KAFKA_BROKERS         comma-separated host:port list (required)
  KAFKA_CLIENT_ID       client id (default spanledger)
  KAFKA_SSL=true        TLS to the brokers
  KAFKA_SASL_MECHANISM  plain | scram-sha-256 | scram-sha-512, with KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD
  KAFKA_LOG_LEVEL       kafkajs log on stderr: nothing (default) | error | warn | info | debug`;

/** Registers `consume` and `publish` (the Kafka relays). */
export function registerKafkaCommands(program: Program, run: Run): void {
  withConnection(program.command('consume'))
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

Examples:
  $ KAFKA_BROKERS=localhost:9092 spanledger consume --topic payments
  $ spanledger consume --topic payments --group ledger --until-idle --json`,
    )
    .action(run(async () => (await import('./consume')).consume as Action));

  withConnection(program.command('publish'))
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

Examples:
  $ KAFKA_BROKERS=localhost:9092 spanledger publish --topic ledger-events
  $ spanledger publish --topic ledger-events --until-idle --json`,
    )
    .action(run(async () => (await import('./publish')).publish as Action));
}
