import { Account, Charge, emptyAccount, evolveAccount, evolveCharge, evolveInvoice, Invoice } from '../../../ledger/core/account';
import { Command } from '../../../ledger/core/commands';
import { causeEventIds, commandUserId, decide, Decision, DecisionState, PriorEvent, primaryEventId, priorEventIds, RejectionCode } from '../../../ledger/core/decide';
import { invoiceKey } from '../../../ledger/core/store';
import { checkThresholds } from '../../../ledger/core/thresholds';
import { EVENT_SCHEMA_VERSION, eventPayloadSchemas, EventType, NewEvent } from '../../../ledger/core/events';
import { accountStreamId, eventIds, EVENT_ID_PATTERN } from '../../../ledger/core/ids';

/**
 * Given / when / then for the pure decider.
 *
 *   given(...events).withBonusRate(1000).when(command).then({ accepted: [...], account: {...} })
 *
 * "given" folds events the way the shell's stored state is folded: the account of each user
 * through evolveAccount, each invoice's charge through evolveCharge, and every event into a
 * map by event ID (the decider is shown only those at the command's possible IDs, as the
 * shell would read them).
 */

export interface ExpectedEvent {
  type: EventType;
  eventId?: string;
  /** Checked with toMatchObject: only the members given are compared. */
  payload?: Record<string, unknown>;
}

export type Expected =
  | {
      accepted: ExpectedEvent[];
      /** The command's account after folding the accepted events (only the members given). */
      account?: Partial<Account>;
    }
  | { duplicate: string[] }
  | { rejected: RejectionCode; message?: RegExp };

export class Given {
  private readonly accounts = new Map<string, Account>();
  private readonly charges = new Map<string, Charge>();
  private readonly invoices = new Map<string, Invoice>();
  private readonly stored = new Map<string, NewEvent>();

  constructor(
    events: readonly NewEvent[],
    readonly bonusRateBps = 0,
    readonly thresholds: readonly bigint[] = [],
  ) {
    for (const event of events) this.fold(event);
  }

  private fold(event: NewEvent): void {
    const userId = event.payload.userId;
    this.accounts.set(userId, evolveAccount(this.accounts.get(userId) ?? emptyAccount(userId), event));
    if (event.type === 'InvoiceCharged' || event.type === 'ChargeSettled' || event.type === 'ChargeFailed') {
      const invoiceId = event.payload.invoiceId;
      const charge = evolveCharge(this.charges.get(invoiceId), event);
      if (charge) this.charges.set(invoiceId, charge);
    }
    if (event.type === 'InvoiceOpened' || event.type === 'InvoicePaymentMade' || event.type === 'InvoiceVoided') {
      const key = invoiceKey(userId, event.payload.invoiceId);
      const invoice = evolveInvoice(this.invoices.get(key), event);
      if (invoice) this.invoices.set(key, invoice);
    }
    this.stored.set(event.eventId, event);
  }

  withThresholds(...thresholds: bigint[]): Given {
    return new Given(this.events, this.bonusRateBps, thresholds);
  }

  invoice(userId: string, invoiceId: string): Invoice | undefined {
    return this.invoices.get(invoiceKey(userId, invoiceId));
  }

  /** The events folded so far, in order. */
  get events(): NewEvent[] {
    return [...this.stored.values()];
  }

  withBonusRate(bonusRateBps: number): Given {
    return new Given(this.events, bonusRateBps, this.thresholds);
  }

  account(userId: string): Account {
    return this.accounts.get(userId) ?? emptyAccount(userId);
  }

  charge(invoiceId: string): Charge | undefined {
    return this.charges.get(invoiceId);
  }

  /** The state the shell would hand the decider for this command. */
  stateFor(command: Command): DecisionState {
    const userId = commandUserId(command);
    const charge = command.type === 'settleCharge' || command.type === 'failCharge' ? this.charges.get(command.invoiceId) : undefined;
    const prior = new Map<string, PriorEvent>();
    const invoice = command.type === 'voidInvoice' ? this.invoice(userId, command.invoiceId) : undefined;
    for (const id of [...priorEventIds(command), ...causeEventIds(invoice)]) {
      const event = this.stored.get(id);
      if (event) prior.set(id, event);
    }
    const primary = primaryEventId(command);
    const followUps = new Map<string, string[]>();
    if (prior.has(primary)) {
      followUps.set(primary, this.events.filter((event) => (event.payload as { causationEventId?: string }).causationEventId === primary).map((event) => event.eventId));
    }
    return {
      account: this.account(userId),
      charge,
      invoice,
      openInvoices: [...this.invoices.values()].filter((invoice) => invoice.userId === userId && invoice.status === 'open'),
      prior,
      followUps,
      bonusRateBps: this.bonusRateBps,
      thresholds: checkThresholds(this.thresholds),
    };
  }

  when(command: Command): When {
    return new When(this, command);
  }
}

export class When {
  readonly decision: Decision;

  constructor(
    private readonly before: Given,
    readonly command: Command,
  ) {
    this.decision = decide(command, before.stateFor(command));
  }

  /** Asserts the decision and returns it for further checks. */
  then(expected: Expected): Decision {
    const { decision, command } = this;
    if ('rejected' in expected) {
      expect(decision).toMatchObject({ outcome: 'rejected', code: expected.rejected });
      if (expected.message) expect(decision.outcome === 'rejected' && decision.message).toMatch(expected.message);
      return decision;
    }
    if ('duplicate' in expected) {
      expect(decision).toEqual({ outcome: 'duplicate', eventIds: expected.duplicate });
      return decision;
    }
    if (decision.outcome !== 'accepted') throw new Error(`expected accepted, got ${JSON.stringify(decision)}`);
    expect(decision.events.map((event) => event.type)).toEqual(expected.accepted.map((event) => event.type));
    decision.events.forEach((event, index) => {
      const want = expected.accepted[index]!;
      if (want.eventId !== undefined) expect(event.eventId).toBe(want.eventId);
      if (want.payload !== undefined) expect(event.payload).toMatchObject(want.payload);
      expectWellFormed(event, command);
    });
    if (expected.account) {
      const userId = decision.events[0]!.payload.userId;
      const after = decision.events.reduce(evolveAccount, this.before.account(userId));
      expect(after).toMatchObject(expected.account);
    }
    return decision;
  }
}

/** Invariants every event the decider emits must hold, whatever the command. */
export function expectWellFormed(event: NewEvent, command: Command): void {
  expect(event.eventId).toMatch(EVENT_ID_PATTERN);
  expect(event.streamId).toBe(accountStreamId(event.payload.userId));
  // The ledger dates its payments itself (business-causality.ts): never before the command.
  if (event.type === 'InvoicePaymentMade') expect(event.occurredAt >= command.occurredAt).toBe(true);
  else expect(event.occurredAt).toBe(command.occurredAt);
  expect(event.occurredAt).toBe(event.payload.occurredAt);
  expect(event.schemaVersion).toBe(EVENT_SCHEMA_VERSION[event.type]);
  // The payload must satisfy the event's own schema (what a reader will parse it with).
  expect(() => eventPayloadSchemas[event.type].parse(event.payload)).not.toThrow();
}

export function given(...events: Array<NewEvent | readonly NewEvent[]>): Given {
  return new Given(events.flat());
}

/**
 * The events that deciding these commands one after the other produces (each must be
 * accepted). Use it to set up a history that a later command replays or builds on.
 */
export function history(commands: readonly Command[], bonusRateBps = 0): NewEvent[] {
  let state = new Given([], bonusRateBps);
  for (const command of commands) {
    const decision = state.when(command).decision;
    if (decision.outcome !== 'accepted') throw new Error(`history: ${command.type} was ${JSON.stringify(decision)}`);
    state = new Given([...state.events, ...decision.events], bonusRateBps);
  }
  return state.events;
}

/** The events a command produces on top of a state (it must be accepted). */
export function decided(state: Given, command: Command): NewEvent[] {
  const decision = state.when(command).decision;
  if (decision.outcome !== 'accepted') throw new Error(`set-up: ${command.type} was ${JSON.stringify(decision)}`);
  return decision.events;
}

/** The state after the command was decided, keeping the bonus rate and the thresholds. */
export function after(state: Given, command: Command): Given {
  return new Given([...state.events, ...decided(state, command)], state.bonusRateBps, state.thresholds);
}

let fundingSequence = 0;

/**
 * A hand-built BalanceAdjusted event that gives a user money without going through the
 * decider (so a test of the decider does not depend on the decider for its set-up).
 */
export function funded(userId: string, amountMicroUsd: bigint, occurredAt = '2026-01-01T00:00:00.000000Z'): NewEvent {
  const idempotencyKey = `funding-${++fundingSequence}`;
  return {
    type: 'BalanceAdjusted',
    eventId: eventIds.adjust(idempotencyKey),
    streamId: accountStreamId(userId),
    occurredAt,
    schemaVersion: EVENT_SCHEMA_VERSION.BalanceAdjusted,
    payload: { userId, amountMicroUsd: amountMicroUsd.toString(), reason: 'test funding', idempotencyKey, occurredAt },
  };
}
