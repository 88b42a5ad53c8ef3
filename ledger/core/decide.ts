import { Account, balanceChange, Charge, tryEvolveAccount } from './account';
import { Command, CommandOf } from './commands';
import { canonicalJson, differingFields } from './canonical';
import { EVENT_SCHEMA_VERSION, LedgerEvent, NewEvent } from './events';
import { accountStreamId, eventIds } from './ids';
import { floorToCents, MicroUsd } from './money';

/**
 * The decider: pure. Given a command and the state it needs, it returns the events to
 * append, or says the command is a duplicate, or rejects it with a stable code. It never
 * reads a clock, generates a random ID or touches I/O; the shell reads the state, calls it,
 * and writes what it returns.
 *
 * Checks run in a fixed order: the shape was checked by the schema already; then
 * idempotency (so a replay after the balance drained is still a duplicate); then state rules.
 */
export const REJECTION_CODES = [
  'INSUFFICIENT_FUNDS',
  'IDEMPOTENCY_CONFLICT',
  'CHARGE_NOT_FOUND',
  'CHARGE_NOT_PENDING',
  'AMOUNT_OVERFLOW',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

export type Decision =
  | { outcome: 'accepted'; events: NewEvent[]; code?: never }
  | { outcome: 'duplicate'; eventIds: string[]; code?: never }
  | { outcome: 'rejected'; code: RejectionCode; message: string; events?: never };

/** A previously stored event, as much of it as idempotency needs. */
export interface PriorEvent {
  readonly eventId: string;
  readonly type: string;
  readonly payload: Record<string, unknown>;
}

export interface DecisionState {
  /** The account of the command's user (empty when the user has no events yet). */
  readonly account: Account;
  /** For settle/fail: the charge named by the invoice ID, when it exists. */
  readonly charge: Charge | undefined;
  /** Stored events at the command's possible event IDs (see `possibleEventIds`). */
  readonly prior: ReadonlyMap<string, PriorEvent>;
  /** Bonus rate for new deposits, basis points (1000 = 10 %). */
  readonly bonusRateBps: number;
}

/** The event ID the command's natural key maps to. */
export function primaryEventId(command: Command): string {
  switch (command.type) {
    case 'deposit':
      return eventIds.deposit(command.chainId, command.txHash, command.logIndex);
    case 'charge':
      return eventIds.charge(command.invoiceId);
    case 'settleCharge':
      return eventIds.settle(command.invoiceId);
    case 'failCharge':
      return eventIds.fail(command.invoiceId);
    case 'adjust':
      return eventIds.adjust(command.idempotencyKey);
    default: {
      const exhaustive: never = command;
      throw new Error(`unhandled command ${JSON.stringify(exhaustive)}`);
    }
  }
}

/** Every event ID an application of this command may have written (a deposit and its bonus). */
export function possibleEventIds(command: Command): string[] {
  const primary = primaryEventId(command);
  return command.type === 'deposit' ? [primary, eventIds.bonus(primary)] : [primary];
}

/**
 * The user whose account the command moves. Every command names it, so that a Kafka
 * producer can key every command by its user and keep one account's commands in order.
 */
export function commandUserId(command: Command): string {
  return command.userId;
}

/** The command's content as stored in its primary event: everything but `type`. */
function commandContent(command: Command): Record<string, unknown> {
  const { type: _type, ...content } = command;
  return content;
}

function rejected(code: RejectionCode, message: string): Decision {
  return { outcome: 'rejected', code, message };
}

function idempotencyCheck(command: Command, state: DecisionState): Decision | undefined {
  const primary = state.prior.get(primaryEventId(command));
  if (!primary) return undefined;
  const content = commandContent(command);
  const stored = Object.fromEntries(Object.keys(content).map((key) => [key, primary.payload[key]]));
  const fields = differingFields(stored, content);
  if (fields.length > 0) {
    const details = fields.map((field) => `${field} (stored ${canonicalJson(stored[field] ?? null)}, got ${canonicalJson(content[field] ?? null)})`);
    return rejected('IDEMPOTENCY_CONFLICT', `event ${primary.eventId} for this ${command.type} exists with different ${details.join(', ')}`);
  }
  const ids = possibleEventIds(command).filter((id) => state.prior.has(id));
  return { outcome: 'duplicate', eventIds: ids };
}

function newEvent(command: Command, eventId: string, event: LedgerEvent, userId: string): NewEvent {
  return {
    ...event,
    eventId,
    streamId: accountStreamId(userId),
    occurredAt: command.occurredAt,
    schemaVersion: EVENT_SCHEMA_VERSION[event.type],
  } as NewEvent;
}

/**
 * Accepts the events unless the balance would go negative or a total would leave INT64.
 * Affordability is checked first: a command that cannot be paid for is INSUFFICIENT_FUNDS
 * even when one of its running totals would also overflow; AMOUNT_OVERFLOW is for commands
 * that would otherwise be accepted.
 */
function acceptIfAffordable(account: Account, events: NewEvent[]): Decision {
  const change = events.reduce((sum, event) => sum + balanceChange(event), 0n);
  if (account.balanceMicroUsd + change < 0n) {
    return rejected('INSUFFICIENT_FUNDS', `account ${account.userId} has ${account.balanceMicroUsd} µUSD available, ${-change} µUSD needed`);
  }
  let next: Account = account;
  for (const event of events) {
    const evolved = tryEvolveAccount(next, event);
    if (evolved === 'overflow') {
      return rejected('AMOUNT_OVERFLOW', `account ${account.userId}: ${event.type} would take a total outside the signed 64-bit range`);
    }
    next = evolved;
  }
  return { outcome: 'accepted', events };
}

export function bonusFor(amount: MicroUsd, rateBps: number): MicroUsd {
  return (amount * BigInt(rateBps)) / 10_000n;
}

function decideDeposit(command: CommandOf<'deposit'>, account: Account, state: DecisionState): Decision {
  const depositId = primaryEventId(command);
  const { type: _type, ...content } = command;
  const events = [newEvent(command, depositId, { type: 'TokenDeposited', payload: content }, command.userId)];
  const bonus = bonusFor(BigInt(command.amountMicroUsd), state.bonusRateBps);
  if (bonus > 0n) {
    events.push(
      newEvent(
        command,
        eventIds.bonus(depositId),
        {
          type: 'DepositBonusGranted',
          payload: {
            userId: command.userId,
            depositEventId: depositId,
            rateBps: state.bonusRateBps,
            amountMicroUsd: bonus.toString(),
            occurredAt: command.occurredAt,
          },
        },
        command.userId,
      ),
    );
  }
  return acceptIfAffordable(account, events);
}

function decideCharge(command: CommandOf<'charge'>, account: Account): Decision {
  const requested = BigInt(command.amountMicroUsd);
  let charged = requested;
  if (command.allowPartial && account.balanceMicroUsd < requested) {
    // Only when the full amount is not available: take what is, rounded down to whole cents
    // (min(amount, balance to cents) with amount > balance). A partial charge that could be
    // paid in full is paid in full, never cut to a round figure.
    charged = floorToCents(account.balanceMicroUsd > 0n ? account.balanceMicroUsd : 0n);
    if (charged === 0n) {
      return rejected('INSUFFICIENT_FUNDS', `account ${account.userId} has ${account.balanceMicroUsd} µUSD available, less than one cent to charge partially`);
    }
  }
  const { type: _type, ...content } = command;
  const event = newEvent(
    command,
    primaryEventId(command),
    {
      type: 'InvoiceCharged',
      payload: { ...content, chargedMicroUsd: charged.toString(), status: command.pending ? 'pending' : 'complete' },
    },
    command.userId,
  );
  return acceptIfAffordable(account, [event]);
}

function decideSettleOrFail(command: CommandOf<'settleCharge'> | CommandOf<'failCharge'>, state: DecisionState): Decision {
  const { charge, account } = state;
  // A charge of another user is not found: the command names the account it moves, and
  // nothing may tell one user about another's invoices.
  if (!charge || charge.userId !== command.userId) return rejected('CHARGE_NOT_FOUND', `no charge for invoice ${command.invoiceId} of user ${command.userId}`);
  if (charge.status !== 'pending') {
    return rejected('CHARGE_NOT_PENDING', `charge for invoice ${command.invoiceId} is ${charge.status}, not pending`);
  }
  const amount = charge.chargedMicroUsd.toString();
  const common = { invoiceId: command.invoiceId, occurredAt: command.occurredAt, userId: charge.userId, chargeEventId: charge.chargeEventId };
  const event: LedgerEvent =
    command.type === 'settleCharge'
      ? { type: 'ChargeSettled', payload: { ...common, reference: command.reference, amountMicroUsd: amount } }
      : { type: 'ChargeFailed', payload: { ...common, reason: command.reason, refundedMicroUsd: amount } };
  return acceptIfAffordable(account, [newEvent(command, primaryEventId(command), event, charge.userId)]);
}

function decideAdjust(command: CommandOf<'adjust'>, account: Account): Decision {
  const { type: _type, ...content } = command;
  const event = newEvent(command, primaryEventId(command), { type: 'BalanceAdjusted', payload: content }, command.userId);
  return acceptIfAffordable(account, [event]);
}

export function decide(command: Command, state: DecisionState): Decision {
  const duplicateOrConflict = idempotencyCheck(command, state);
  if (duplicateOrConflict) return duplicateOrConflict;
  const account = state.account;
  if (account.userId !== command.userId) throw new Error(`decide: state holds the account of ${account.userId}, not of ${command.userId}`);
  switch (command.type) {
    case 'deposit':
      return decideDeposit(command, account, state);
    case 'charge':
      return decideCharge(command, account);
    case 'adjust':
      return decideAdjust(command, account);
    case 'settleCharge':
    case 'failCharge':
      return decideSettleOrFail(command, state);
    default: {
      const exhaustive: never = command;
      throw new Error(`unhandled command ${JSON.stringify(exhaustive)}`);
    }
  }
}
