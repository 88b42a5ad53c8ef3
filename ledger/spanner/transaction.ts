import { Transaction } from '@google-cloud/spanner';
import { LIMITS } from '../core/limits';
import { SpannerConnection } from './connection';

/**
 * The one read-write transaction runner of the project: the ledger store, the projectors,
 * the Kafka inbox and the publisher checkpoint all commit through it.
 *
 * The retry loop is ours rather than the client's runTransactionAsync: the client backs off
 * 2 s, 4 s, 8 s... per abort, which on the emulator (one read-write transaction at a time,
 * every other one aborted or made to wait) turns eight concurrent writers into tens of
 * seconds. Here the back-off is short, jittered and bounded by LIMITS.transactionAttemptsMax,
 * and every retry is reported to the observer (metrics).
 *
 * `work` may run more than once: it must only read through `tx` and buffer mutations on it.
 * No Kafka send, offset commit or "committed" log may happen inside it.
 */
export interface TransactionObserver {
  onTransactionRetry?(attempt: number, error: unknown): void;
}

export interface ReadWriteResult<T> {
  readonly value: T;
  /** The commit timestamp as the client returns it (PreciseDate). */
  readonly commitTimestamp: unknown;
}

const ABORTED = 10;

export function isRetryable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === ABORTED || (typeof message === 'string' && /Session not found/i.test(message));
}

/** 10 ms doubling to at most 1 s, with full jitter so aborted writers do not collide again in step. */
function retryDelayMs(attempt: number): number {
  return Math.random() * Math.min(1000, 10 * 2 ** attempt);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Per-database queue for emulator connections. The emulator runs one read-write transaction
 * at a time and makes the others wait hundreds of milliseconds or aborts them; queueing this
 * process's own transactions avoids that. Other processes still contend and are retried.
 */
const emulatorQueues = new WeakMap<object, Promise<unknown>>();

export function runReadWrite<T>(
  connection: SpannerConnection,
  work: (tx: Transaction) => Promise<T>,
  observer: TransactionObserver = {},
): Promise<ReadWriteResult<T>> {
  if (!connection.settings.emulatorHost) return attempt(connection, work, observer);
  const queue = emulatorQueues.get(connection.database) ?? Promise.resolve();
  const run = queue.then(() => attempt(connection, work, observer));
  emulatorQueues.set(connection.database, run.catch(() => undefined));
  return run;
}

async function attempt<T>(connection: SpannerConnection, work: (tx: Transaction) => Promise<T>, observer: TransactionObserver): Promise<ReadWriteResult<T>> {
  for (let attemptNumber = 1; ; attemptNumber++) {
    const [tx] = await connection.database.getTransaction();
    try {
      const value = await work(tx);
      await tx.commit();
      return { value, commitTimestamp: tx.commitTimestamp };
    } catch (error) {
      // Roll back rather than just end: an abandoned transaction keeps its locks on the
      // emulator until it times out, blocking every other writer.
      await tx.rollback().catch(() => undefined);
      if (!isRetryable(error) || attemptNumber >= LIMITS.transactionAttemptsMax) throw error;
      observer.onTransactionRetry?.(attemptNumber, error);
      await sleep(retryDelayMs(attemptNumber));
    } finally {
      tx.end();
    }
  }
}
