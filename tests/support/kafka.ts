import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Consumer, IHeaders, Kafka, logLevel, Message } from 'kafkajs';

/**
 * Kafka helpers for integration tests, against the broker the jest global setup started
 * (KAFKA_BROKERS: the kcat mock cluster, 3 brokers, topics auto-created with 4 partitions).
 */
export function kafkaBrokers(): string {
  const brokers = process.env.KAFKA_BROKERS;
  if (!brokers) throw new Error('KAFKA_BROKERS is not set: run Kafka integration tests through jest (global setup starts the broker)');
  return brokers;
}

export function testKafka(clientId = 'spanledger-test'): Kafka {
  return new Kafka({
    clientId,
    brokers: kafkaBrokers().split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    retry: { initialRetryTime: 100, retries: 10 },
  });
}

/** A topic name no other test (or earlier run against the same broker) uses. */
export function uniqueTopic(prefix = 'cmds'): string {
  return `${prefix}-${process.pid.toString(36)}-${randomBytes(4).toString('hex')}`;
}

export type ProducedValue = string | Buffer | null | { key?: string | Buffer | null; value: string | Buffer | null; headers?: IHeaders };

/** Key of a command JSON: its userId (commands of one user stay on one partition, in order). */
function keyOf(value: string | Buffer | null): string | null {
  if (typeof value !== 'string') return null;
  try {
    const parsed = JSON.parse(value) as { userId?: unknown; invoiceId?: unknown };
    if (typeof parsed.userId === 'string') return parsed.userId;
    return null;
  } catch {
    return null;
  }
}

/** Produces values (commands as JSON text) in order, acks=all, in sends of up to 1,000. */
export async function produceCommands(topic: string, values: readonly ProducedValue[], options: { kafka?: Kafka; keyFor?: (value: string | Buffer | null, index: number) => string | null } = {}): Promise<void> {
  const kafka = options.kafka ?? testKafka('spanledger-test-producer');
  const producer = kafka.producer({ allowAutoTopicCreation: true, maxInFlightRequests: 1, idempotent: false });
  await producer.connect();
  try {
    const messages: Message[] = values.map((entry, index) => {
      if (entry !== null && typeof entry === 'object' && !Buffer.isBuffer(entry)) {
        return { key: entry.key ?? null, value: entry.value, headers: entry.headers };
      }
      return { key: options.keyFor ? options.keyFor(entry, index) : keyOf(entry), value: entry };
    });
    for (let start = 0; start < messages.length; start += 1000) {
      await producer.send({ topic, acks: -1, messages: messages.slice(start, start + 1000) });
    }
  } finally {
    await producer.disconnect();
  }
}

export interface ReadMessage {
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, string>;
}

function headerText(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.map(String).join(',') : String(value);
  }
  return out;
}

/**
 * Reads a whole topic from the beginning with a fresh group until `expected` messages have
 * arrived (then waits `settleMs` more to catch extras) or `timeoutMs` passes. Survives the
 * mock broker's occasional fatal group errors by recreating the consumer.
 */
export async function readTopic(topic: string, options: { expected: number; timeoutMs?: number; settleMs?: number }): Promise<ReadMessage[]> {
  const kafka = testKafka('spanledger-test-reader');
  const groupId = `reader-${randomBytes(6).toString('hex')}`;
  const messages: ReadMessage[] = [];
  const seen = new Set<string>();
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let consumer: Consumer | undefined;
  const start = async () => {
    const created = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 1000, rebalanceTimeout: 6000, maxWaitTimeInMs: 200 });
    consumer = created;
    created.on(created.events.CRASH, (event) => {
      if (event.payload.restart || consumer !== created) return;
      void created
        .disconnect()
        .catch(() => undefined)
        .then(() => start())
        .catch(() => undefined);
    });
    await created.connect();
    await created.subscribe({ topic, fromBeginning: true });
    await created.run({
      eachMessage: async ({ partition, message }) => {
        const id = `${partition}:${message.offset}`;
        if (seen.has(id)) return; // a recreated reader may see a message again
        seen.add(id);
        messages.push({ partition, offset: message.offset, key: message.key?.toString('utf8') ?? null, value: message.value, headers: headerText(message.headers) });
      },
    });
  };
  try {
    await start();
    while (messages.length < options.expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    if (options.settleMs) await new Promise((resolve) => setTimeout(resolve, options.settleMs));
  } finally {
    await consumer?.disconnect().catch(() => undefined);
  }
  return messages;
}

/** Sum of the high watermarks of a topic: how many messages were ever produced to it. */
export async function topicMessageCount(topic: string): Promise<number> {
  const admin = testKafka('spanledger-test-admin').admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, offset) => sum + Number(offset.high) - Number(offset.low), 0);
  } finally {
    await admin.disconnect();
  }
}

export const ROOT = path.resolve(__dirname, '../..');
export const SPANLEDGER_BIN = path.join(ROOT, 'bin', 'spanledger.js');

let builtInThisProcess = false;

/**
 * Child `spanledger` processes run the compiled CLI (bin/spanledger.js -> dist/). Builds
 * dist/ once per test process (incremental tsc: quick when little changed; tsc emits even
 * when a file being edited elsewhere has type errors). A lock file keeps parallel test
 * files from building at the same time.
 */
export function ensureCliBuilt(): void {
  if (builtInThisProcess) return;
  const built = path.join(ROOT, 'dist', 'commands', 'consume.js');
  const lock = path.join(ROOT, 'dist', '.kafka-test-build.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock} (remove it if no build is running)`);
      execFileSync('sleep', ['0.2']);
    }
  }
  try {
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
    } catch {
      // Type errors elsewhere do not stop tsc from emitting; the check below decides.
    }
    if (!existsSync(built)) throw new Error('dist/commands/consume.js is missing after `tsc -p tsconfig.build.json`: run `npm run build` and look at the errors');
    builtInThisProcess = true;
  } finally {
    rmSync(lock, { force: true });
  }
}
