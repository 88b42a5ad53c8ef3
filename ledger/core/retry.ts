/**
 * Riding out an outage: retry an operation whose failure is transient (the database or the
 * broker did not answer) with jittered exponential delays, until it succeeds or the outage
 * has lasted longer than the caller allows. What counts as transient is the adapter's call
 * (gRPC UNAVAILABLE for Spanner, a dropped connection for Kafka): this module only keeps time.
 *
 * The clock is injected (the shell's is ledger/system-clock.ts), so the schedule is tested
 * without waiting, and the core keeps no timers (this is operational time, never business time).
 */

export interface RetryClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Uniform in [0, 1). */
  random(): number;
  /** Resolves after `ms` unless cancelled first (and never keeps a process alive). */
  after(ms: number): { readonly elapsed: Promise<void>; cancel(): void };
}

export interface RetryPolicy {
  /** Give up once the failures have lasted this long without a success (0: never retry). */
  readonly outageMaxMs: number;
  /** First delay's ceiling; doubles per failure (default 100 ms). */
  readonly initialDelayMs?: number;
  /** Largest delay (default 5 s): a healed dependency is used again within this. */
  readonly maxDelayMs?: number;
}

/** Told when a dependency stops answering and when it answers again (log lines, the up gauge). */
export interface OutageObserver {
  onDown?(error: unknown): void;
  onRetry?(attempt: number, delayMs: number, error: unknown): void;
  onUp?(outageMs: number): void;
}

/** The outage lasted longer than allowed: `cause` is the last failure. */
export class OutageError extends Error {
  override readonly name = 'OutageError';
  constructor(
    readonly what: string,
    readonly outageMs: number,
    override readonly cause: unknown,
  ) {
    super(`${what}: no answer for ${(outageMs / 1000).toFixed(1)} s; giving up (last error: ${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)})`);
  }
}

/** An attempt that got no answer within the outage allowance: transient, by its code (DEADLINE_EXCEEDED). */
export class NoAnswerError extends Error {
  override readonly name = 'NoAnswerError';
  readonly code = 4;
}

function withinBudget<T>(work: Promise<T>, budgetMs: number, what: string, clock: RetryClock): Promise<T> {
  if (!Number.isFinite(budgetMs)) return work;
  const timer = clock.after(Math.max(0, budgetMs));
  const late = timer.elapsed.then((): never => {
    throw new NoAnswerError(`${what}: no answer within ${Math.max(0, Math.round(budgetMs))} ms`);
  });
  // The abandoned attempt may still settle; its rejection must not go unhandled.
  work.catch(() => undefined);
  return Promise.race([work, late]).finally(() => timer.cancel());
}

/**
 * The delay before retry number `attempt` (1-based): "full jitter", uniform in
 * [0, min(max, initial × 2^(attempt-1))], so processes that lost the same dependency at the
 * same moment do not come back in step.
 */
export function backoffDelayMs(attempt: number, random: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs ?? 5_000, (policy.initialDelayMs ?? 100) * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(random * ceiling);
}

/**
 * Runs `work` until it succeeds. A transient failure is retried after a back-off, as long
 * as the outage (measured from the first failure of this run of failures) stays within
 * `outageMaxMs`; then OutageError. Any other failure is thrown at once. `work` gets the
 * attempt number and must be safe to run again (read-only, or idempotent by its keys).
 */
export async function retryTransient<T>(
  what: string,
  work: (attempt: number) => Promise<T>,
  isTransient: (error: unknown) => boolean,
  policy: RetryPolicy,
  observer: OutageObserver,
  clock: RetryClock,
): Promise<T> {
  let downSince: number | undefined;
  for (let attempt = 1; ; attempt++) {
    const startedAt = clock.now();
    try {
      // No answer for longer than the whole allowance is an outage too, however the attempt
      // ends later: the budget runs from the outage's start (or this attempt's, if it is the
      // first to hang), so a hung call cannot stretch the limit by its own deadline.
      const budgetMs = policy.outageMaxMs > 0 ? policy.outageMaxMs - (startedAt - (downSince ?? startedAt)) : Number.POSITIVE_INFINITY;
      const value = await withinBudget(work(attempt), budgetMs, what, clock);
      if (downSince !== undefined) observer.onUp?.(clock.now() - downSince);
      return value;
    } catch (error) {
      // isTransient first: callers learn of every failure (a hung commit may have landed).
      if (!(isTransient(error) || error instanceof NoAnswerError) || policy.outageMaxMs <= 0) throw error;
      const now = clock.now();
      if (downSince === undefined) {
        downSince = startedAt;
        observer.onDown?.(error);
      }
      const delay = backoffDelayMs(attempt, clock.random(), policy);
      if (now - downSince + delay > policy.outageMaxMs) throw new OutageError(what, now - downSince, error);
      observer.onRetry?.(attempt, delay, error);
      await clock.sleep(delay);
    }
  }
}
