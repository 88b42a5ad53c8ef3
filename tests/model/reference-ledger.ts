import { Command, parseCommandText } from '../../ledger/core/commands';

/**
 * A deliberately naive reference model of the ledger's rules, for model-based tests.
 *
 * Plain maps, one command at a time, no batching, no event IDs, no import of the ledger's
 * decide/account/batch/money logic. The only thing borrowed from the ledger is the wire
 * parser (`parseCommandText`), used to normalise input (defaults, canonical timestamps,
 * lower-case hex, amounts as decimal strings): what counts as *valid* is therefore not
 * checked independently here (the generator labels its invalid commands and the tests
 * check the label instead).
 */

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const CENT = 10_000n;

export type ModelCode = 'INSUFFICIENT_FUNDS' | 'IDEMPOTENCY_CONFLICT' | 'CHARGE_NOT_FOUND' | 'CHARGE_NOT_PENDING' | 'AMOUNT_OVERFLOW' | 'INVALID_COMMAND';

export type ModelOutcome =
  /** `events`: how many events the application wrote (a deposit and its bonus = 2). */
  | { status: 'accepted'; events: number; code?: never }
  /** `originalIndex`: the index (in `apply` call order) of the command that first used the key. */
  | { status: 'duplicate'; originalIndex: number; code?: never }
  | { status: 'rejected'; code: Exclude<ModelCode, 'INVALID_COMMAND'> }
  | { status: 'invalid'; code: 'INVALID_COMMAND' };

export interface ModelBalance {
  userId: string;
  /** Events in the user's stream. */
  version: number;
  balance: bigint;
  deposits: bigint;
  bonuses: bigint;
  charges: bigint;
  pending: bigint;
  adjustments: bigint;
  /** occurredAt of the latest event in stream order. */
  lastEventAt: string;
}

export interface ModelTransaction {
  userId: string;
  streamVersion: number;
  type: 'credit' | 'debit';
  source: 'ethereum' | 'zksync' | 'bonus' | 'invoice' | 'adjustment';
  status: 'complete' | 'pending' | 'failed';
  /** Signed µUSD as a decimal string. */
  amountMicroUsd: string;
  occurredAt: string;
  /** Invoices only: what the command asked for. */
  requestedMicroUsd?: string;
}

/** Tweaks that make the model WRONG on purpose (to show the property catches it). */
export interface ModelOptions {
  readonly bonusRateBps: number;
  /** Break one rule on purpose: partial charges not rounded to cents, or no idempotency check for charges. */
  readonly broken?: 'partial-rounding' | 'charge-idempotency';
}

interface ChargeState {
  userId: string;
  amount: bigint;
  status: 'pending' | 'complete' | 'failed';
  /** Stream version of the charge's transaction row. */
  rowVersion: number;
}

/** Sorted-key JSON: the model's notion of "same normalised content". */
function sameContentText(command: Command): string {
  const sortKeys = (value: unknown): unknown =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]))
      : value;
  const { type: _type, ...content } = command;
  return JSON.stringify(sortKeys(content));
}

function naturalKey(command: Command): string {
  switch (command.type) {
    case 'deposit':
      return JSON.stringify(['deposit', command.chainId, command.txHash.toLowerCase(), command.logIndex]);
    case 'charge':
      return JSON.stringify(['charge', command.invoiceId]);
    case 'settleCharge':
      return JSON.stringify(['settle', command.invoiceId]);
    case 'failCharge':
      return JSON.stringify(['fail', command.invoiceId]);
    case 'adjust':
      return JSON.stringify(['adjust', command.idempotencyKey]);
  }
}

const fits = (value: bigint) => value >= INT64_MIN && value <= INT64_MAX;

export class ReferenceLedger {
  private readonly users = new Map<string, ModelBalance>();
  private readonly rows = new Map<string, ModelTransaction[]>();
  private readonly keys = new Map<string, { content: string; index: number }>();
  private readonly chargesByInvoice = new Map<string, ChargeState>();
  private applied = 0;
  /** Sum of every accepted money movement on balances (credits positive). */
  netFlow = 0n;

  constructor(readonly options: ModelOptions) {}

  private balanceOf(userId: string): ModelBalance {
    return (
      this.users.get(userId) ?? { userId, version: 0, balance: 0n, deposits: 0n, bonuses: 0n, charges: 0n, pending: 0n, adjustments: 0n, lastEventAt: '' }
    );
  }

  apply(text: string): ModelOutcome {
    const index = this.applied++;
    const parsed = parseCommandText(text);
    if (!parsed.ok) return { status: 'invalid', code: 'INVALID_COMMAND' };
    const command = parsed.command;

    // 1. Idempotency first, whatever the state is now.
    const key = naturalKey(command);
    const content = sameContentText(command);
    const seen = this.keys.get(key);
    if (seen && !(this.options.broken === 'charge-idempotency' && command.type === 'charge')) return seen.content === content ? { status: 'duplicate', originalIndex: seen.index } : { status: 'rejected', code: 'IDEMPOTENCY_CONFLICT' };

    // 2. State rules, on a copy of the account; committed only when accepted.
    let outcome: ModelOutcome;
    switch (command.type) {
      case 'deposit':
        outcome = this.deposit(command);
        break;
      case 'charge':
        outcome = this.charge(command);
        break;
      case 'settleCharge':
      case 'failCharge':
        outcome = this.settleOrFail(command);
        break;
      case 'adjust':
        outcome = this.adjust(command);
        break;
    }
    if (outcome.status === 'accepted') this.keys.set(key, { content, index });
    return outcome;
  }

  /** Commits `next` when the balance is not negative (checked first) and every total fits. */
  private commit(next: ModelBalance, events: number, flow: bigint): ModelOutcome {
    if (next.balance < 0n) return { status: 'rejected', code: 'INSUFFICIENT_FUNDS' };
    const totals = [next.balance, next.deposits, next.bonuses, next.charges, next.pending, next.adjustments];
    if (!totals.every(fits)) return { status: 'rejected', code: 'AMOUNT_OVERFLOW' };
    this.users.set(next.userId, next);
    this.netFlow += flow;
    return { status: 'accepted', events };
  }

  private addRow(row: ModelTransaction): void {
    const list = this.rows.get(row.userId) ?? [];
    list.push(row);
    this.rows.set(row.userId, list);
  }

  private deposit(command: Extract<Command, { type: 'deposit' }>): ModelOutcome {
    const before = this.balanceOf(command.userId);
    const amount = BigInt(command.amountMicroUsd);
    const bonus = (amount * BigInt(this.options.bonusRateBps)) / 10_000n;
    const events = bonus > 0n ? 2 : 1;
    const next: ModelBalance = {
      ...before,
      version: before.version + events,
      balance: before.balance + amount + bonus,
      deposits: before.deposits + amount,
      bonuses: before.bonuses + bonus,
      lastEventAt: command.occurredAt,
    };
    const outcome = this.commit(next, events, amount + bonus);
    if (outcome.status === 'accepted') {
      const base = { userId: command.userId, type: 'credit' as const, status: 'complete' as const, occurredAt: command.occurredAt };
      this.addRow({ ...base, streamVersion: before.version + 1, source: command.source, amountMicroUsd: amount.toString() });
      if (bonus > 0n) this.addRow({ ...base, streamVersion: before.version + 2, source: 'bonus', amountMicroUsd: bonus.toString() });
    }
    return outcome;
  }

  private charge(command: Extract<Command, { type: 'charge' }>): ModelOutcome {
    const before = this.balanceOf(command.userId);
    const requested = BigInt(command.amountMicroUsd);
    let amount = requested;
    if (command.allowPartial && before.balance < requested) {
      amount = this.options.broken === 'partial-rounding' ? before.balance : before.balance - (before.balance % CENT);
      if (amount <= 0n) return { status: 'rejected', code: 'INSUFFICIENT_FUNDS' };
    }
    const next: ModelBalance = {
      ...before,
      version: before.version + 1,
      balance: before.balance - amount,
      charges: command.pending ? before.charges : before.charges + amount,
      pending: command.pending ? before.pending + amount : before.pending,
      lastEventAt: command.occurredAt,
    };
    const outcome = this.commit(next, 1, -amount);
    if (outcome.status === 'accepted') {
      this.chargesByInvoice.set(command.invoiceId, {
        userId: command.userId,
        amount,
        status: command.pending ? 'pending' : 'complete',
        rowVersion: next.version,
      });
      this.addRow({
        userId: command.userId,
        streamVersion: next.version,
        type: 'debit',
        source: 'invoice',
        status: command.pending ? 'pending' : 'complete',
        amountMicroUsd: (-amount).toString(),
        occurredAt: command.occurredAt,
        requestedMicroUsd: requested.toString(),
      });
    }
    return outcome;
  }

  private settleOrFail(command: Extract<Command, { type: 'settleCharge' | 'failCharge' }>): ModelOutcome {
    const charge = this.chargesByInvoice.get(command.invoiceId);
    if (!charge || charge.userId !== command.userId) return { status: 'rejected', code: 'CHARGE_NOT_FOUND' };
    if (charge.status !== 'pending') return { status: 'rejected', code: 'CHARGE_NOT_PENDING' };
    const before = this.balanceOf(charge.userId);
    const settle = command.type === 'settleCharge';
    const next: ModelBalance = {
      ...before,
      version: before.version + 1,
      pending: before.pending - charge.amount,
      charges: settle ? before.charges + charge.amount : before.charges,
      balance: settle ? before.balance : before.balance + charge.amount,
      lastEventAt: command.occurredAt,
    };
    const outcome = this.commit(next, 1, settle ? 0n : charge.amount);
    if (outcome.status === 'accepted') {
      charge.status = settle ? 'complete' : 'failed';
      const row = this.rows.get(charge.userId)?.find((candidate) => candidate.streamVersion === charge.rowVersion);
      if (!row) throw new Error(`model: no row for charge of invoice ${command.invoiceId}`);
      row.status = charge.status;
    }
    return outcome;
  }

  private adjust(command: Extract<Command, { type: 'adjust' }>): ModelOutcome {
    const before = this.balanceOf(command.userId);
    const amount = BigInt(command.amountMicroUsd);
    const next: ModelBalance = {
      ...before,
      version: before.version + 1,
      balance: before.balance + amount,
      adjustments: before.adjustments + amount,
      lastEventAt: command.occurredAt,
    };
    const outcome = this.commit(next, 1, amount);
    if (outcome.status === 'accepted') {
      this.addRow({
        userId: command.userId,
        streamVersion: next.version,
        type: amount < 0n ? 'debit' : 'credit',
        source: 'adjustment',
        status: 'complete',
        amountMicroUsd: amount.toString(),
        occurredAt: command.occurredAt,
      });
    }
    return outcome;
  }

  /** Every user with at least one event, by user ID. */
  balances(): Map<string, ModelBalance> {
    return new Map([...this.users].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([userId, balance]) => [userId, { ...balance }]));
  }

  balance(userId: string): ModelBalance {
    return { ...this.balanceOf(userId) };
  }

  /** A user's transaction rows, newest first (occurredAt descending, then stream version descending). */
  transactions(userId: string): ModelTransaction[] {
    return (this.rows.get(userId) ?? [])
      .map((row) => ({ ...row }))
      .sort((a, b) => (a.occurredAt !== b.occurredAt ? (a.occurredAt < b.occurredAt ? 1 : -1) : b.streamVersion - a.streamVersion));
  }
}
