import { BatchOverBudget, decideBatch } from './batch';
import { Command, parseCommandText } from './commands';
import { Decision, RejectionCode } from './decide';
import { LIMITS } from './limits';
import { NoAnswerError, OutageError, OutageObserver, RetryClock, retryTransient, RetryPolicy } from './retry';
import { isEmptyWrites, LedgerStore, LedgerTransaction } from './store';
import { checkThresholds, Thresholds } from './thresholds';

/**
 * The one entry point that moves money: `submit`, the Kafka consumer and the demo all call
 * it. It validates, then decides commands in group commits (one read-write transaction per
 * batch of up to `batchSize` commands) and returns one outcome per input, in input order.
 */
export type CommandOutcome =
  | { status: 'accepted' | 'duplicate'; eventIds: string[]; code?: never; message?: never }
  | { status: 'rejected'; code: RejectionCode; message: string; eventIds?: never }
  | { status: 'invalid'; code: 'INVALID_COMMAND'; message: string; eventIds?: never };

export type OutcomeStatus = CommandOutcome['status'];

export interface CommandHandlerOptions {
  /** Bonus rate on new token deposits, basis points (1000 = 10 %, 0 = none). */
  readonly bonusRateBps: number;
  /** Balance thresholds whose crossings are recorded (µUSD; none by default). */
  readonly balanceThresholdsMicroUsd?: readonly bigint[];
  /** Commands per transaction; defaults to LIMITS.commandsPerTransactionMax. */
  readonly batchSize?: number;
  /**
   * How long a batch retries while the database does not answer (outageMaxMs), and who is
   * told. Without it, the first such failure is thrown (the store's own ABORTED re-runs aside).
   */
  readonly outage?: { readonly policy: RetryPolicy; readonly clock: RetryClock; readonly observer?: OutageObserver };
}

/**
 * The database stopped answering for longer than allowed in the middle of a call. `decided`
 * are the outcomes of the first inputs (committed, in order); the inputs at `uncertain`
 * (indexes into the call's input) were in a batch whose commit may have landed, its reply
 * never came; every other input after `decided` was not applied. Submitting all of them
 * again is safe: what landed answers duplicate.
 */
export class CommandsIncompleteError extends Error {
  override readonly name = 'CommandsIncompleteError';
  constructor(
    readonly decided: CommandOutcome[],
    readonly uncertain: readonly number[],
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/**
 * Extra work that must commit atomically with a batch's events (the Kafka inbox offset and
 * outcome rows), given the outcomes of the commands decided in that same transaction.
 * Only for a call whose commands are decided in one transaction (at most `batchSize`).
 */
export type AlsoInTransaction = (tx: LedgerTransaction, decided: readonly CommandOutcome[]) => Promise<void>;

export class CommandHandler {
  readonly batchSize: number;
  readonly thresholds: Thresholds;

  constructor(
    readonly store: LedgerStore,
    readonly options: CommandHandlerOptions,
  ) {
    this.batchSize = options.batchSize ?? LIMITS.commandsPerTransactionMax;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > LIMITS.commandsPerTransactionMax) {
      throw new RangeError(`batch size must be 1..${LIMITS.commandsPerTransactionMax}, got ${this.batchSize}`);
    }
    if (!Number.isInteger(options.bonusRateBps) || options.bonusRateBps < 0 || options.bonusRateBps > 10_000) {
      throw new RangeError(`bonus rate must be 0..10000 basis points, got ${options.bonusRateBps}`);
    }
    this.thresholds = checkThresholds(options.balanceThresholdsMicroUsd ?? []);
  }

  /**
   * Decides valid commands, one transaction per `batchSize` commands. A batch whose payments
   * could go past the commit's mutation budget is decided in smaller ones (nothing of the
   * refused attempt was written). With `alsoInTransaction` the commands must fit one
   * transaction, and a batch over budget is the caller's to split (BatchOverBudget).
   */
  async handle(commands: readonly Command[], alsoInTransaction?: AlsoInTransaction): Promise<CommandOutcome[]> {
    if (alsoInTransaction && commands.length > this.batchSize) throw new RangeError(`${commands.length} commands with work in the same transaction: at most ${this.batchSize}`);
    const outcomes: CommandOutcome[] = [];
    let size = this.batchSize;
    for (let start = 0; start < commands.length || (start === 0 && alsoInTransaction); ) {
      const batch = commands.slice(start, start + size);
      let decided: CommandOutcome[];
      try {
        decided = await this.commitBatch(batch, alsoInTransaction);
      } catch (error) {
        if (error instanceof BatchUncertain) throw new CommandsIncompleteError(outcomes, error.mayHaveCommitted ? batch.map((_, index) => start + index) : [], error.cause);
        if (!(error instanceof BatchOverBudget) || alsoInTransaction) throw error;
        size = Math.min(size - 1, error.fits);
        continue;
      }
      outcomes.push(...decided);
      start += batch.length;
      if (commands.length === 0) break;
    }
    return outcomes;
  }

  /**
   * One batch in one transaction, retried through an outage. Every run of the callback that
   * writes also writes a commit marker (attempt ID, run number); after a failure whose
   * outcome is unknown, the next run first reads the markers, and if one of the earlier runs
   * committed, answers what that run decided: its commands were accepted by this very call,
   * and deciding them again would call them duplicates.
   */
  private async commitBatch(batch: readonly Command[], alsoInTransaction?: AlsoInTransaction): Promise<CommandOutcome[]> {
    const attemptId = this.store.newAttemptId();
    const decidedByRun = new Map<number, CommandOutcome[]>();
    let runs = 0;
    let mayHaveCommitted = false;
    const once = async (): Promise<CommandOutcome[]> => {
      const { value } = await this.store.transact(async (tx) => {
        const run = ++runs;
        if (run > 1) {
          const [committed] = await tx.readCommitMarkers(attemptId);
          if (committed !== undefined) return decidedByRun.get(committed)!;
        }
        const { decisions, writes } = await decideBatch(tx, batch, { bonusRateBps: this.options.bonusRateBps, thresholds: this.thresholds });
        const batchOutcomes = decisions.map(outcomeOf);
        decidedByRun.set(run, batchOutcomes);
        if (!isEmptyWrites(writes) || alsoInTransaction) tx.write({ ...writes, commitMarker: { attemptId, run } });
        if (alsoInTransaction) await alsoInTransaction(tx, batchOutcomes);
        return batchOutcomes;
      });
      return value;
    };
    const outage = this.options.outage;
    if (!outage) return once();
    try {
      // Any failure for want of an answer may have come after the commit was sent.
      const transient = (error: unknown) => (error instanceof NoAnswerError || this.store.isTransient(error)) && (mayHaveCommitted = true);
      return await retryTransient('committing a batch of commands', once, transient, outage.policy, outage.observer ?? {}, outage.clock);
    } catch (error) {
      if (error instanceof OutageError) throw new BatchUncertain(mayHaveCommitted, error);
      throw error;
    }
  }

  /**
   * Decides the commands against the committed state, all in one transaction that is rolled
   * back: the outcomes a real run would give now (the commands see each other, as in one
   * group commit), and nothing written, reserved or locked after it returns.
   */
  async dryRun(commands: readonly Command[]): Promise<CommandOutcome[]> {
    const { value } = await this.store.transact(
      async (tx) => (await decideBatch(tx, commands, { bonusRateBps: this.options.bonusRateBps, thresholds: this.thresholds, uncommitted: true })).decisions.map(outcomeOf),
      { dryRun: true },
    );
    return value;
  }

  /** Parses each text as a command; invalid ones get their outcome, valid ones are decided (or, with dryRun, tried). */
  async handleTexts(texts: readonly string[], alsoInTransaction?: AlsoInTransaction, options: { dryRun?: boolean } = {}): Promise<CommandOutcome[]> {
    const parsed = texts.map(parseCommandText);
    const valid = parsed.flatMap((result, index) => (result.ok ? [{ command: result.command, index }] : []));
    const commands = valid.map((entry) => entry.command);
    const answer = (decided: readonly CommandOutcome[]): CommandOutcome[] => {
      // Invalid texts are answered up to the first valid one left undecided.
      const stop = decided.length < valid.length ? valid[decided.length]!.index : texts.length;
      let next = 0;
      return parsed.slice(0, stop).map((result) => (result.ok ? decided[next++]! : { status: 'invalid', code: 'INVALID_COMMAND', message: result.message }));
    };
    try {
      return answer(options.dryRun ? await this.dryRun(commands) : await this.handle(commands, alsoInTransaction));
    } catch (error) {
      if (!(error instanceof CommandsIncompleteError)) throw error;
      throw new CommandsIncompleteError(answer(error.decided), error.uncertain.map((index) => valid[index]!.index), error.cause);
    }
  }
}

/** A batch given up on after an outage; whether one of its commits may have landed. */
class BatchUncertain extends Error {
  constructor(
    readonly mayHaveCommitted: boolean,
    override readonly cause: OutageError,
  ) {
    super(cause.message);
  }
}

/** The outcome a caller sees of one decision. */
function outcomeOf(decision: Decision): CommandOutcome {
  if (decision.outcome === 'accepted') return { status: 'accepted', eventIds: decision.events.map((event) => event.eventId) };
  if (decision.outcome === 'duplicate') return { status: 'duplicate', eventIds: decision.eventIds };
  return { status: 'rejected', code: decision.code, message: decision.message };
}
