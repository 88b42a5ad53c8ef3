import { Kafka, KafkaConfig, logCreator, logLevel, SASLOptions } from 'kafkajs';

/**
 * How to reach Kafka, from the environment:
 *   KAFKA_BROKERS        comma-separated host:port list (required)
 *   KAFKA_CLIENT_ID      client id (default "spanledger")
 *   KAFKA_SSL=true       TLS to the brokers
 *   KAFKA_SASL_MECHANISM plain | scram-sha-256 | scram-sha-512, with
 *   KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD
 *   KAFKA_LOG_LEVEL      nothing (default) | error | warn | info | debug: kafkajs' own log, on stderr
 *   KAFKA_IDEMPOTENT     true (default) | false: the idempotent producer, so that kafkajs
 *                        retrying a timed-out request cannot append a batch twice. Brokers
 *                        without it (the embedded kcat broker) need false.
 *   KAFKA_AUTO_CREATE_TOPICS  true (default) | false: let producers create missing topics
 */
export interface KafkaSettings {
  readonly brokers: string[];
  readonly clientId: string;
  readonly ssl: boolean;
  readonly sasl: SASLOptions | undefined;
  readonly logLevel: logLevel;
  readonly idempotent: boolean;
  readonly autoCreateTopics: boolean;
}

/** The producer options every relay uses: acks=all is per send; one request in flight keeps per-key order. */
export function producerConfig(settings: Pick<KafkaSettings, 'idempotent' | 'autoCreateTopics'>) {
  return { idempotent: settings.idempotent, maxInFlightRequests: 1, allowAutoTopicCreation: settings.autoCreateTopics };
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const text = (env[name] ?? '').trim().toLowerCase();
  if (text === '') return fallback;
  if (/^(true|1|yes)$/.test(text)) return true;
  if (/^(false|0|no)$/.test(text)) return false;
  throw new KafkaSettingsError(`${name} must be true or false, got ${JSON.stringify(env[name])}`);
}

export class KafkaSettingsError extends Error {}

const LOG_LEVELS: Record<string, logLevel> = {
  nothing: logLevel.NOTHING,
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};

export function kafkaSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): KafkaSettings {
  const list = (env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker !== '');
  if (list.length === 0) throw new KafkaSettingsError('KAFKA_BROKERS is not set (a comma-separated list of host:port)');
  for (const broker of list) {
    if (!/^[^\s:]+:\d+$/.test(broker) && !/^\[[^\]]+\]:\d+$/.test(broker)) {
      throw new KafkaSettingsError(`KAFKA_BROKERS: ${JSON.stringify(broker)} is not host:port`);
    }
  }
  let sasl: SASLOptions | undefined;
  const mechanism = (env.KAFKA_SASL_MECHANISM ?? '').toLowerCase();
  if (mechanism !== '') {
    const username = env.KAFKA_SASL_USERNAME ?? '';
    const password = env.KAFKA_SASL_PASSWORD ?? '';
    if (username === '' || password === '') throw new KafkaSettingsError('KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD');
    if (mechanism === 'plain') sasl = { mechanism: 'plain', username, password };
    else if (mechanism === 'scram-sha-256') sasl = { mechanism: 'scram-sha-256', username, password };
    else if (mechanism === 'scram-sha-512') sasl = { mechanism: 'scram-sha-512', username, password };
    else throw new KafkaSettingsError(`KAFKA_SASL_MECHANISM must be plain, scram-sha-256 or scram-sha-512, got ${JSON.stringify(mechanism)}`);
  }
  const ssl = env.KAFKA_SSL === undefined || env.KAFKA_SSL === '' ? false : /^(true|1|yes)$/i.test(env.KAFKA_SSL);
  const levelName = (env.KAFKA_LOG_LEVEL ?? 'nothing').toLowerCase();
  const level = LOG_LEVELS[levelName];
  if (level === undefined) throw new KafkaSettingsError(`KAFKA_LOG_LEVEL must be one of ${Object.keys(LOG_LEVELS).join(', ')}`);
  return {
    brokers: list,
    clientId: env.KAFKA_CLIENT_ID || 'spanledger',
    ssl,
    sasl,
    logLevel: level,
    idempotent: flag(env, 'KAFKA_IDEMPOTENT', true),
    autoCreateTopics: flag(env, 'KAFKA_AUTO_CREATE_TOPICS', true),
  };
}

/**
 * kafkajs' own log as JSON lines on stderr. Its default logger prints info and debug with
 * console.info/log, on stdout, where they would break a relay's `--json` summary.
 */
function stderrLog(write: (line: string) => void): logCreator {
  return () =>
    ({ namespace, label, log }) => {
      write(`${JSON.stringify({ kafkajs: label, namespace, ...log })}\n`);
    };
}

export function createKafka(settings: KafkaSettings, writeLog: (line: string) => void = (line) => process.stderr.write(line)): Kafka {
  const config: KafkaConfig = {
    clientId: settings.clientId,
    brokers: settings.brokers,
    ssl: settings.ssl,
    logLevel: settings.logLevel,
    logCreator: stderrLog(writeLog),
    connectionTimeout: 3000,
    retry: { initialRetryTime: 100, retries: 8 },
  };
  if (settings.sasl) config.sasl = settings.sasl;
  return new Kafka(config);
}
