import { Transaction } from '@google-cloud/spanner';
import { LIMITS } from '../core/limits';
import { callDeadlineMs, SpannerConnection } from './connection';

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
const ROLLBACK_DEADLINE_MS = 2_000;

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

export interface ReadWriteOptions {
  /** Roll back instead of committing: the reads happen, the writes never do. */
  readonly dryRun?: boolean;
}

export function runReadWrite<T>(
  connection: SpannerConnection,
  work: (tx: Transaction) => Promise<T>,
  observer: TransactionObserver = {},
  options: ReadWriteOptions = {},
): Promise<ReadWriteResult<T>> {
  if (!connection.settings.emulatorHost) return attempt(connection, work, observer, options);
  const queue = emulatorQueues.get(connection.database) ?? Promise.resolve();
  const run = queue.then(() => attempt(connection, work, observer, options));
  emulatorQueues.set(connection.database, run.catch(() => undefined));
  return run;
}

/** Raised when one attempt outlives the connection's call deadline: Spanner is gone or stuck. */
export class SpannerDeadlineError extends Error {
  /** gRPC DEADLINE_EXCEEDED, so callers treat it like the client's own deadline errors. */
  readonly code = 4;
}

/**
 * Rejects when `promise` has not settled within the deadline. The client's own deadlines
 * cover each call; this covers an attempt as a whole (session acquisition included), so a
 * vanished Spanner ends in an error rather than a process that waits forever.
 */
export function withinDeadline<T>(promise: Promise<T>, what: string, ms: number = LIMITS.spannerCallDeadlineMs): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SpannerDeadlineError(`${what}: no answer from Spanner within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function attempt<T>(connection: SpannerConnection, work: (tx: Transaction) => Promise<T>, observer: TransactionObserver, options: ReadWriteOptions): Promise<ReadWriteResult<T>> {
  const deadlineMs = callDeadlineMs(connection.settings);
  for (let attemptNumber = 1; ; attemptNumber++) {
    const [tx] = await withinDeadline(connection.database.getTransaction(), 'starting a transaction', deadlineMs);
    try {
      const value = await withinDeadline(work(tx), 'reading in a transaction', deadlineMs);
      if (options.dryRun) {
        await withinDeadline(tx.rollback(), 'rolling back', ROLLBACK_DEADLINE_MS).catch(() => undefined);
        return { value, commitTimestamp: undefined };
      }
      await withinDeadline(tx.commit({ gaxOptions: { timeout: deadlineMs } }), 'committing', deadlineMs);
      return { value, commitTimestamp: tx.commitTimestamp };
    } catch (error) {
      // Roll back rather than just end: an abandoned transaction keeps its locks on the
      // emulator until it times out, blocking every other writer.
      // Best effort and short: after a deadline the server is likely gone, and the original
      // error is what the caller needs to see.
      await withinDeadline(tx.rollback(), 'rolling back', ROLLBACK_DEADLINE_MS).catch(() => undefined);
      if (!isRetryable(error) || attemptNumber >= LIMITS.transactionAttemptsMax) throw error;
      observer.onTransactionRetry?.(attemptNumber, error);
      await sleep(retryDelayMs(attemptNumber));
    } finally {
      tx.end();
    }
  }
}
