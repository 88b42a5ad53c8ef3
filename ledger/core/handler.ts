import { BatchOverBudget, decideBatch } from './batch';
import { Command, parseCommandText } from './commands';
import { Decision, RejectionCode } from './decide';
import { LIMITS } from './limits';
import { LedgerStore, LedgerTransaction } from './store';
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
        ({ value: decided } = await this.store.transact(async (tx) => {
          const { decisions, writes } = await decideBatch(tx, batch, { bonusRateBps: this.options.bonusRateBps, thresholds: this.thresholds });
          tx.write(writes);
          const batchOutcomes = decisions.map(outcomeOf);
          if (alsoInTransaction) await alsoInTransaction(tx, batchOutcomes);
          return batchOutcomes;
        }));
      } catch (error) {
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
    const valid = parsed.flatMap((result) => (result.ok ? [result.command] : []));
    const decided = options.dryRun ? await this.dryRun(valid) : await this.handle(valid, alsoInTransaction);
    let next = 0;
    return parsed.map((result) => (result.ok ? decided[next++]! : { status: 'invalid', code: 'INVALID_COMMAND', message: result.message }));
  }
}

/** The outcome a caller sees of one decision. */
function outcomeOf(decision: Decision): CommandOutcome {
  if (decision.outcome === 'accepted') return { status: 'accepted', eventIds: decision.events.map((event) => event.eventId) };
  if (decision.outcome === 'duplicate') return { status: 'duplicate', eventIds: decision.eventIds };
  return { status: 'rejected', code: decision.code, message: decision.message };
}
