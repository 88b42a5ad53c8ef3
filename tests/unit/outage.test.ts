import { CommandHandler, CommandsIncompleteError } from '../../ledger/core/handler';
import { backoffDelayMs, OutageError, retryTransient, RetryClock } from '../../ledger/core/retry';
import { LedgerTransaction, TransactionResult, TransactOptions } from '../../ledger/core/store';
import { isTransientSpannerError } from '../../ledger/spanner/transient';
import { isKafkaOutage } from '../../ledger/kafka/outage';
import { SYSTEM_CLOCK } from '../../ledger/system-clock';
import { DelegatingStore } from './support/delegating-store';
import { depositCommand, toJsonText, depositWire, txHash } from './support/fixtures';

/** A clock that only moves when slept on: the schedule is checked without waiting. */
function fakeClock(random = 0.5): RetryClock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
    random: () => random,
    // Attempts here settle at once: the allowance timer never needs to fire.
    after: () => ({ elapsed: new Promise<void>(() => undefined), cancel: () => undefined }),
  };
}

const unavailable = () => Object.assign(new Error('14 UNAVAILABLE: connection refused'), { code: 14 });
const isCode14 = (error: unknown) => (error as { code?: number })?.code === 14;

describe('retryTransient', () => {
  test('retries transient failures with doubling, capped delays, and reports down and up once', async () => {
    const clock = fakeClock(0.999);
    const events: string[] = [];
    let calls = 0;
    const value = await retryTransient(
      'reading',
      async () => {
        if (++calls < 8) throw unavailable();
        return 'ok';
      },
      isCode14,
      { outageMaxMs: 60_000, initialDelayMs: 100, maxDelayMs: 2_000 },
      { onDown: () => events.push('down'), onUp: (ms) => events.push(`up after ${ms}`) },
      clock,
    );
    expect(value).toBe('ok');
    expect(clock.slept).toEqual([99, 199, 399, 799, 1598, 1998, 1998]);
    expect(events).toEqual(['down', `up after ${clock.slept.reduce((a, b) => a + b)}`]);
  });

  test('gives up with OutageError once the outage would pass the limit, naming the last error', async () => {
    const clock = fakeClock(0.999);
    const failing = retryTransient('committing', async () => Promise.reject(unavailable()), isCode14, { outageMaxMs: 3_000, initialDelayMs: 100, maxDelayMs: 1_000 }, {}, clock);
    await expect(failing).rejects.toThrow(OutageError);
    await expect(retryTransient('committing', async () => Promise.reject(unavailable()), isCode14, { outageMaxMs: 3_000 }, {}, fakeClock())).rejects.toThrow(/committing: no answer for .* s; giving up \(last error: 14 UNAVAILABLE: connection refused\)/);
    expect(clock.slept.reduce((a, b) => a + b)).toBeLessThanOrEqual(3_000);
  });

  test('an answer (not transient) and a limit of 0 throw the error itself, at once', async () => {
    const clock = fakeClock();
    const answer = Object.assign(new Error('6 ALREADY_EXISTS'), { code: 6 });
    await expect(retryTransient('x', async () => Promise.reject(answer), isCode14, { outageMaxMs: 60_000 }, {}, clock)).rejects.toBe(answer);
    const down = unavailable();
    await expect(retryTransient('x', async () => Promise.reject(down), isCode14, { outageMaxMs: 0 }, {}, clock)).rejects.toBe(down);
    expect(clock.slept).toEqual([]);
  });

  test('an attempt that never answers is cut at the allowance: a hung call cannot stretch the limit', async () => {
    const started = performance.now();
    const hung = retryTransient('committing', () => new Promise<never>(() => undefined), isCode14, { outageMaxMs: 150 }, {}, SYSTEM_CLOCK);
    await expect(hung).rejects.toThrow(/committing: no answer for 0\.[0-9] s; giving up \(last error: committing: no answer within 150 ms\)/);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  test('full jitter: the delay is uniform below the ceiling', () => {
    expect(backoffDelayMs(1, 0, { outageMaxMs: 1 })).toBe(0);
    expect(backoffDelayMs(3, 0.5, { outageMaxMs: 1, initialDelayMs: 100 })).toBe(200);
    expect(backoffDelayMs(40, 0.5, { outageMaxMs: 1, maxDelayMs: 5_000 })).toBe(2_500);
  });
});

describe('which Spanner failures are an outage', () => {
  test.each([
    [{ code: 14, message: '14 UNAVAILABLE: No connection established' }, true],
    [{ code: 4, message: '4 DEADLINE_EXCEEDED: Deadline exceeded' }, true],
    [{ code: 13, message: '13 INTERNAL: Received RST_STREAM with code 2' }, true],
    [{ code: 1, message: '1 CANCELLED: Call cancelled' }, true],
    [{ code: 'ECONNRESET', message: 'read ECONNRESET' }, true],
    [{ code: 13, message: '13 INTERNAL: an invariant broke' }, false],
    [{ code: 6, message: '6 ALREADY_EXISTS: Row [x] in table Events already exists' }, false],
    [{ code: 5, message: '5 NOT_FOUND: Table not found: Events' }, false],
    [{ code: 5, message: '5 NOT_FOUND: Transaction not found: 128' }, true],
    [{ code: 9, message: '9 FAILED_PRECONDITION' }, false],
    [new Error('plain'), false],
  ])('%j -> %s', (error, transient) => {
    expect(isTransientSpannerError(error)).toBe(transient);
  });
});

describe('which Kafka failures are an outage', () => {
  const named = (name: string, cause?: unknown) => Object.assign(new Error(name), { name, cause });
  test.each([
    [named('KafkaJSConnectionError'), true],
    [named('KafkaJSRequestTimeoutError'), true],
    [named('KafkaJSNumberOfRetriesExceeded', named('KafkaJSConnectionClosedError')), true],
    [named('BrokerSilenceError'), true],
    [named('KafkaJSNumberOfRetriesExceeded', named('KafkaJSProtocolError')), false],
    [named('KafkaJSProtocolError'), false],
    [named('PublishSendError'), false],
    ['KafkaJSConnectionError', false],
  ])('%s -> %s', (error, outage) => {
    expect(isKafkaOutage(error)).toBe(outage);
  });
});

/**
 * A store in front of the in-memory one that loses replies: `lose` commits and then throws
 * as a cut connection would; `refuse` throws without committing. `between` runs after a
 * failed attempt, to let another submitter act while this one waits.
 */
class FlakyStore extends DelegatingStore {
  faults: Array<'lose' | 'refuse'> = [];
  between?: () => Promise<void>;
  override async transact<T>(work: (tx: LedgerTransaction) => Promise<T>, options?: TransactOptions): Promise<TransactionResult<T>> {
    const fault = this.faults.shift();
    if (fault === 'refuse') {
      await this.between?.();
      throw unavailable();
    }
    const result = await this.inner.transact(work, options);
    if (fault === 'lose') {
      await this.between?.();
      throw unavailable();
    }
    return result;
  }
  override isTransient(error: unknown): boolean {
    return isCode14(error);
  }
}

const outage = (outageMaxMs: number) => ({ policy: { outageMaxMs, initialDelayMs: 1, maxDelayMs: 2 }, clock: SYSTEM_CLOCK });
const deposits = (n: number) => Array.from({ length: n }, (_, i) => depositCommand({ userId: `u${i % 3}`, txHash: txHash(i + 1), amountMicroUsd: '1000000' }));

describe('a lost commit reply', () => {
  test('the retry answers accepted (its own earlier commit), applies nothing twice', async () => {
    const store = new FlakyStore();
    const handler = new CommandHandler(store, { bonusRateBps: 1000, batchSize: 4, outage: outage(5_000) });
    store.faults = [undefined as never, 'lose', 'lose'];
    const outcomes = await handler.handle(deposits(10));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(10).fill('accepted'));
    expect(new Set(outcomes.flatMap((outcome) => outcome.eventIds)).size).toBe(20);
    expect((await store.inner.readAll(null, 1_000)).events).toHaveLength(20);
    expect((await store.inner.readAccount('u0'))?.balanceMicroUsd).toBe(4n * 1_100_000n);
  });

  test('duplicate only when another submitter committed the command while this one was cut off', async () => {
    const store = new FlakyStore();
    const other = new CommandHandler(store.inner, { bonusRateBps: 1000 });
    const handler = new CommandHandler(store, { bonusRateBps: 1000, outage: outage(5_000) });
    const [mine, theirs] = [depositCommand({ txHash: txHash(1) }), depositCommand({ txHash: txHash(2) })];
    store.faults = ['refuse'];
    store.between = async () => {
      store.between = undefined;
      await other.handle([theirs]);
    };
    const outcomes = await handler.handle([mine, theirs]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['accepted', 'duplicate']);
  });

  test('an outage past the limit: earlier batches answered, the cut one uncertain, the rest not applied', async () => {
    const store = new FlakyStore();
    const handler = new CommandHandler(store, { bonusRateBps: 0, batchSize: 3, outage: outage(20) });
    store.faults = [undefined as never, 'lose', ...Array<'refuse'>(10_000).fill('refuse')];
    const texts = ['{"type":"nope"}', ...Array.from({ length: 8 }, (_, i) => toJsonText(depositWire({ userId: `u${i % 3}`, txHash: txHash(i + 1), amountMicroUsd: '1000000' })))];
    const error = (await handler.handleTexts(texts).catch((caught: unknown) => caught)) as CommandsIncompleteError;
    expect(error).toBeInstanceOf(CommandsIncompleteError);
    // The invalid text and the first batch (3 deposits) are answered; the second batch's commit landed but its reply was lost.
    expect(error.decided.map((outcome) => outcome.status)).toEqual(['invalid', 'accepted', 'accepted', 'accepted']);
    expect(error.uncertain).toEqual([4, 5, 6]);
    expect((await store.inner.readAll(null, 100)).events).toHaveLength(6);
  });
});
