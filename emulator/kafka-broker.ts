/**
 * An embedded Kafka-protocol broker: librdkafka's mock cluster, run through Debian's `kcat`.
 * kcat is started as a consumer of a dummy topic only to keep the process (and with it the
 * mock cluster) alive; the cluster picks its own loopback ports and prints them on stderr.
 */
import path from 'node:path';
import { canConnect } from '../ledger/observability/tcp-probe';
import { awaitReady, isExecutableFile, supervise } from './process';

/** kcat prints its address line right after start; 15 s covers a loaded CI machine. */
export const BROKER_READY_TIMEOUT_MS = 15_000;
const DEFAULT_BROKERS = 3;
/** "... Mock cluster enabled: original bootstrap.servers and security.protocol ignored and replaced with 127.0.0.1:P1,127.0.0.1:P2" */
const MOCK_CLUSTER_LINE = /Mock cluster enabled:.*replaced with (\S+)/;

export class KcatNotFoundError extends Error {
  constructor() {
    super(
      'kcat not found on PATH (it runs the embedded Kafka broker for local use and tests). ' +
        'Install it with `apt-get install kcat`, or set KCAT_BIN to its path, ' +
        'or set KAFKA_BROKERS=host:port,... to use a broker that is already running.',
    );
    this.name = 'KcatNotFoundError';
  }
}

/** $KCAT_BIN when set, else `kcat` on $PATH; undefined when neither is an executable file. */
export function findKcat(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.KCAT_BIN) return isExecutableFile(env.KCAT_BIN) ? env.KCAT_BIN : undefined;
  const dirs = (env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '');
  return dirs.map((dir) => path.join(dir, 'kcat')).find(isExecutableFile);
}

export interface StartBrokerOptions {
  /** Number of mock brokers; default 3. */
  brokers?: number;
  /** Survive this process (for `spanledger dev up`); stop it later with `stopProcessGroup(pid)`. */
  detached?: boolean;
  /** Append kcat's output here; without it the output is discarded (attached) or kept in a temp file (detached). */
  logFile?: string;
}

export interface RunningBroker {
  /** "127.0.0.1:P1,127.0.0.1:P2,...", the value for KAFKA_BROKERS. */
  brokers: string;
  /** Also kcat's process group id. */
  pid: number;
  /** SIGTERM, SIGKILL after 5 s; idempotent. */
  stop(): Promise<void>;
}

/** Starts a kcat mock cluster and resolves once its first broker accepts connections. */
export async function startKafkaBroker(options: StartBrokerOptions = {}): Promise<RunningBroker> {
  const kcat = findKcat();
  if (kcat === undefined) throw new KcatNotFoundError();
  const count = options.brokers ?? DEFAULT_BROKERS;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`brokers must be a positive integer, got ${count}`);
  const child = supervise({
    name: 'kcat mock Kafka broker',
    command: kcat,
    // -C on a topic nobody produces to: kcat just waits, which keeps the cluster up. -q keeps it quiet.
    args: ['-C', '-t', '__keepalive', '-X', `test.mock.num.brokers=${count}`, '-b', 'dummy:9092', '-q'],
    detached: options.detached,
    logFile: options.logFile,
  });
  const brokers = await awaitReady(child, () => listeningBrokers(child.output()), BROKER_READY_TIMEOUT_MS);
  return { brokers, pid: child.pid, stop: () => child.stop() };
}

/** The broker list once kcat printed it and the first broker accepts connections. */
async function listeningBrokers(output: string): Promise<string | undefined> {
  const brokers = MOCK_CLUSTER_LINE.exec(output)?.[1];
  const first = /^(.+):(\d+)$/.exec(brokers?.split(',')[0] ?? '');
  if (brokers === undefined || first === null) return undefined;
  return (await canConnect(first[1] ?? '', Number(first[2]))) ? brokers : undefined;
}
