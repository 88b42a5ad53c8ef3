import { Command as Program, Option } from 'commander';
import { CliError, EXIT } from './errors';
import { Action, positiveInteger, Run, withConnection, withOutageMax } from './program-kit';

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
  withOutageMax(withMetrics(withConnection(program.command('consume'))))
    .description('Apply payment commands from a Kafka topic, effectively once (offsets committed in Spanner with the events)')
    .requiredOption('--topic <topic>', 'topic of commands (value: one submit-line JSON command, key: its userId)')
    .option('--group <group>', 'consumer group', 'spanledger-ledger')
    .option('--dlq-topic <topic>', 'dead-letter topic for invalid messages (default: <topic>.dlq; must differ from --topic)')
    .option('--outcomes-topic <topic>', 'send every decided message\'s outcome (the object submit prints) here, keyed like the command')
    .option('--until-idle', 'exit 0 once every partition is consumed up to its end')
    .option('--session-timeout-ms <n>', 'group session timeout: a dead member keeps its partitions this long', positiveInteger('--session-timeout-ms', 3_600_000), 30_000)
    .option('--batch-size <n>', 'commands per Spanner transaction (group commit)', positiveInteger('--batch-size', 100))
    .addOption(new Option('--partitions-concurrently <n>', 'partitions this member processes at once').argParser(positiveInteger('--partitions-concurrently', 64)).default(1))
    .option('--json', 'print the summary as one JSON object')
    .addHelpText(
      'after',
      `
Producers key every command by its userId (UTF-8): one account's commands then share a
partition and are decided in order. A message keyed otherwise is a dead letter (KEY_MISMATCH).

Runs until SIGTERM/SIGINT (the batch in flight commits, then the member leaves the group), or
with --until-idle until caught up. The position is the inbox in Spanner, never Kafka's
committed offset: with no inbox row in this database a partition is applied from its first
offset. A partition that is not the log the inbox was written from (a recreated topic,
another cluster) stops the consumer with exit 1; \`spanledger inbox reset\` starts it afresh.
Invalid messages go to the dead-letter topic with headers error-code, error-message,
source-topic, source-partition, source-offset; rejected commands are logged on stderr.
Neither stops the consumer. With --outcomes-topic every message's outcome is sent there
after its commit, at least once (a copy after a crash has the same source-* headers).
At the end a summary line is printed:
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

  withOutageMax(withMetrics(withConnection(program.command('publish'))))
    .description('Relay ledger events to a Kafka topic: in order per user (the key), at least once (dedupe by the event-id header)')
    .requiredOption('--topic <topic>', 'topic to publish events to (key: user ID, value: an `events export` line)')
    .option('--name <name>', 'publisher name: the checkpoint is kept per name and topic', 'spanledger')
    .option('--until-idle', 'exit 0 once every committed event is published')
    .option('--batch-size <n>', 'events per read and per send', positiveInteger('--batch-size', 1000), 500)
    .option('--from-start', 'publish every event again from the first (after the topic was recreated); consumers dedupe by event-id')
    .option('--json', 'print the summary as one JSON object')
    .addHelpText(
      'after',
      `
Events are read in the ledger's global order and keyed by user: on a topic with more than one
partition, order holds per user (per key), not across users.
The checkpoint (last published position) is stored in Spanner only after the broker
acknowledged the send (acks=all): a crash re-publishes at most the last unacknowledged batch.
Before each send the publisher checks in Spanner that it still holds the checkpoint's lease,
so two publishers with the same --name never both send. If the topic was recreated or lost
data (a partition ends below what this publisher wrote there), publish stops with exit 1;
--from-start publishes the whole history again.
Exit code: 0 when stopped or idle; 1 on infrastructure failure; 2 on bad flags or settings.
${KAFKA_ENV_HELP}
${OBSERVABILITY_HELP}

Examples:
  $ KAFKA_BROKERS=localhost:9092 spanledger publish --topic ledger-events
  $ spanledger publish --topic ledger-events --until-idle --json`,
    )
    .action(run(async () => (await import('./publish')).publish as Action));

  const inbox = program.command('inbox').description("The Kafka consumers' positions kept in Spanner (per group, topic and partition): list, reset");
  withConnection(inbox.command('list'))
    .description("List the consumers' positions: next offset, last applied message, outcomes not yet sent")
    .option('--group <group>', 'only this consumer group')
    .option('--topic <topic>', 'only this topic')
    .option('--json', 'print {"inbox":[{"group","topic","partition","nextOffset","lastMessage","unsentOutcomes"}]}')
    .addHelpText('after', '\nExamples:\n  $ spanledger inbox list\n  $ spanledger inbox list --group spanledger-ledger --json')
    .action(run(async () => (await import('./inbox')).inboxList as Action));
  withConnection(inbox.command('reset'))
    .description('Forget the position of a partition (or of every partition of a topic): the next consume applies it from its first offset')
    .requiredOption('--group <group>', 'the consumer group')
    .requiredOption('--topic <topic>', 'the topic')
    .addOption(new Option('--partition <n>', 'only this partition').argParser(partitionNumber))
    .option('--json', 'print {"removed":[...]}')
    .addHelpText(
      'after',
      `
For a topic that was recreated on purpose (consume stops with "is not the log the inbox ... was
written from"). Messages of the new log are then all decided; those of the old log that were
already applied stay applied. Unsent outcomes of the partition are dropped with its row.

Examples:
  $ spanledger inbox reset --group spanledger-ledger --topic payments --partition 2`,
    )
    .action(run(async () => (await import('./inbox')).inboxReset as Action));
}

function partitionNumber(text: string): number {
  if (!/^(0|[1-9][0-9]{0,5})$/.test(text)) throw new CliError(`--partition must be a partition number, got ${JSON.stringify(text)}`, EXIT.invalid);
  return Number(text);
}
