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
 * One dependency's outage, as a long-running loop sees it: `answered()` whenever the
 * dependency answered, `failed(error, since)` when it did not, which waits the back-off or,
 * once the outage has lasted longer than the policy allows, throws OutageError. The observer
 * hears of the outage once when it starts and once when it ends.
 */
export class OutageTracker {
  private downSince: number | undefined;
  private failures = 0;

  constructor(
    readonly what: string,
    readonly policy: RetryPolicy,
    private readonly observer: OutageObserver,
    private readonly clock: RetryClock,
  ) {}

  get down(): boolean {
    return this.downSince !== undefined;
  }

  /** What is left of the allowance for an attempt starting at `startedAt` (infinite with no limit). */
  budgetMs(startedAt: number): number {
    if (this.policy.outageMaxMs <= 0) return Number.POSITIVE_INFINITY;
    return this.policy.outageMaxMs - (startedAt - (this.downSince ?? startedAt));
  }

  answered(): void {
    if (this.downSince === undefined) return;
    const outageMs = this.clock.now() - this.downSince;
    this.downSince = undefined;
    this.failures = 0;
    this.observer.onUp?.(outageMs);
  }

  /**
   * A watchdog for a loop whose calls may hang rather than fail: once `lastAnswer()` is more
   * than `downAfterMs` ago the dependency counts as down (the observer hears it), and more
   * than the allowance ago `expired` rejects with OutageError, so a long-running command ends
   * within its limit even when a call never returns. Checked every second.
   */
  watch(lastAnswer: () => number, downAfterMs: number): { readonly expired: Promise<never>; stop(): void } {
    let stopped = false;
    let timer: { cancel(): void } | undefined;
    const expired = new Promise<never>((_, reject) => {
      const check = () => {
        if (stopped) return;
        const since = lastAnswer();
        const silentMs = this.clock.now() - since;
        if (silentMs > downAfterMs && this.downSince === undefined) {
          this.downSince = since;
          this.observer.onDown?.(new Error(`no answer for ${(silentMs / 1000).toFixed(1)} s`));
        }
        if (this.policy.outageMaxMs > 0 && silentMs > this.policy.outageMaxMs) return reject(new OutageError(this.what, silentMs, new Error('no call returned')));
        const next = this.clock.after(1_000);
        timer = next;
        void next.elapsed.then(check);
      };
      check();
    });
    expired.catch(() => undefined);
    return {
      expired,
      stop() {
        stopped = true;
        timer?.cancel();
      },
    };
  }

  /** A failure for want of an answer, of an attempt begun at `startedAt`: back off, or give up. */
  async failed(error: unknown, startedAt = this.clock.now()): Promise<void> {
    const now = this.clock.now();
    if (this.downSince === undefined) {
      this.downSince = startedAt;
      this.observer.onDown?.(error);
    }
    this.failures++;
    const delay = backoffDelayMs(this.failures, this.clock.random(), this.policy);
    if (now - this.downSince + delay > this.policy.outageMaxMs) throw new OutageError(this.what, now - this.downSince, error);
    this.observer.onRetry?.(this.failures, delay, error);
    await this.clock.sleep(delay);
  }
}

/**
 * Runs `work` until it succeeds. A transient failure is retried after a back-off, as long
 * as the outage (from the start of the first attempt that failed) stays within
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
  const outage = new OutageTracker(what, policy, observer, clock);
  for (let attempt = 1; ; attempt++) {
    const startedAt = clock.now();
    try {
      // No answer for longer than the whole allowance is an outage too, however the attempt
      // ends later: the budget runs from the outage's start (or this attempt's, if it is the
      // first to hang), so a hung call cannot stretch the limit by its own deadline.
      const value = await withinBudget(work(attempt), outage.budgetMs(startedAt), what, clock);
      outage.answered();
      return value;
    } catch (error) {
      // isTransient first: callers learn of every failure (a hung commit may have landed).
      if (!(isTransient(error) || error instanceof NoAnswerError) || policy.outageMaxMs <= 0) throw error;
      await outage.failed(error, startedAt);
    }
  }
}

/**
 * A long-running loop that resumes from its stored positions: runs `once` again after every
 * failure for which `trackerOf` names a tracker (the dependency that was down), backing off
 * through it until its allowance is spent; any other failure is thrown. The outage is
 * measured from `lastAnswer()`, the last time the loop saw the dependency answer.
 */
export async function rerunThroughOutages<T>(once: () => Promise<T>, trackerOf: (error: unknown) => OutageTracker | undefined, lastAnswer: () => number): Promise<T> {
  for (;;) {
    try {
      return await once();
    } catch (error) {
      const tracker = trackerOf(error);
      if (!tracker) throw error;
      await tracker.failed(error, lastAnswer());
    }
  }
}
