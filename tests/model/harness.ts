import { CommandHandler, CommandOutcome } from '../../ledger/core/handler';
import { Account } from '../../ledger/core/account';
import { eventUserId, StoredEvent } from '../../ledger/core/events';
import { GlobalPosition, LedgerStore } from '../../ledger/core/store';
import { balanceProjection, BalanceRow, compareTransactions, foldAll, TransactionRow, transactionProjection } from '../../projections/core';
import { materialise, Namespace, Scenario, userIds } from './generators';
import { ModelBalance, ModelOptions, ModelOutcome, ModelTransaction, ReferenceLedger } from './reference-ledger';

/**
 * Runs one scenario through the real CommandHandler (on any LedgerStore) and through the
 * reference model side by side, checking after every handleTexts call, and returns what the
 * caller needs for the end-of-run checks. Every failed check throws a ModelMismatch whose
 * message lists the command texts with both outcomes (fast-check shows it for the shrunk case).
 */
export class ModelMismatch extends Error {}

export interface RunOptions {
  /** The ledger's bonus rate. */
  readonly bonusRateBps: number;
  /** The model's bonus rate (differs only to demonstrate that a broken rule is caught). */
  readonly modelBonusRateBps?: number;
  /** A rule the model breaks on purpose (demonstration only). */
  readonly modelBroken?: ModelOptions['broken'];
}

export interface RunResult {
  readonly texts: string[];
  readonly outcomes: CommandOutcome[];
  readonly expected: ModelOutcome[];
  readonly model: ReferenceLedger;
  readonly users: string[];
  readonly trace: () => string;
}

/** The balance fields the model tracks, as a comparable plain object. */
export function balanceShape(row: Pick<Account, 'userId' | 'version' | 'balanceMicroUsd' | 'depositsMicroUsd' | 'bonusesMicroUsd' | 'chargesMicroUsd' | 'pendingMicroUsd' | 'adjustmentsMicroUsd'> & { lastEventAt?: string }) {
  return {
    userId: row.userId,
    version: row.version,
    balance: row.balanceMicroUsd.toString(),
    deposits: row.depositsMicroUsd.toString(),
    bonuses: row.bonusesMicroUsd.toString(),
    charges: row.chargesMicroUsd.toString(),
    pending: row.pendingMicroUsd.toString(),
    adjustments: row.adjustmentsMicroUsd.toString(),
    ...(row.lastEventAt === undefined ? {} : { lastEventAt: row.lastEventAt }),
  };
}

export function modelBalanceShape(b: ModelBalance, withLastEventAt: boolean) {
  return {
    userId: b.userId,
    version: b.version,
    balance: b.balance.toString(),
    deposits: b.deposits.toString(),
    bonuses: b.bonuses.toString(),
    charges: b.charges.toString(),
    pending: b.pending.toString(),
    adjustments: b.adjustments.toString(),
    ...(withLastEventAt ? { lastEventAt: b.lastEventAt } : {}),
  };
}

export function transactionShape(row: TransactionRow): ModelTransaction {
  return {
    userId: row.userId,
    streamVersion: row.streamVersion,
    type: row.type,
    source: row.source,
    status: row.status,
    amountMicroUsd: row.amountMicroUsd.toString(),
    occurredAt: row.occurredAt,
    ...(row.source === 'invoice' ? { requestedMicroUsd: String(row.metadata.requestedMicroUsd) } : {}),
  };
}

/** Canonical text for comparisons: bigints as decimal strings, object keys sorted. */
const json = (value: unknown) =>
  JSON.stringify(value, (_key, member: unknown) => {
    if (typeof member === 'bigint') return member.toString();
    if (member && typeof member === 'object' && !Array.isArray(member)) {
      return Object.fromEntries(Object.keys(member).sort().map((key) => [key, (member as Record<string, unknown>)[key]]));
    }
    return member;
  });

export function check(condition: boolean, what: string, trace: () => string): asserts condition {
  if (!condition) throw new ModelMismatch(`${what}\n--- commands (ledger outcome | model outcome) ---\n${trace()}`);
}

export function checkEqual(actual: unknown, expected: unknown, what: string, trace: () => string): void {
  const a = json(actual);
  const e = json(expected);
  check(a === e, `${what}\n  ledger: ${a}\n  model:  ${e}`, trace);
}

function describeOutcome(outcome: CommandOutcome | undefined): string {
  if (!outcome) return '-';
  return outcome.code ? `${outcome.status} ${outcome.code}` : `${outcome.status} [${outcome.eventIds.length} ev]`;
}

function describeModel(outcome: ModelOutcome | undefined): string {
  if (!outcome) return '-';
  if (outcome.status === 'duplicate') return `duplicate of #${outcome.originalIndex}`;
  return outcome.code ? `${outcome.status} ${outcome.code}` : `${outcome.status} [${outcome.events} ev]`;
}

export async function runScenario(store: LedgerStore, scenario: Scenario, ns: Namespace, options: RunOptions): Promise<RunResult> {
  const { texts, intents } = materialise(scenario.ops, ns);
  const users = userIds(ns);
  const handler = new CommandHandler(store, { bonusRateBps: options.bonusRateBps, batchSize: scenario.batchSize });
  const model = new ReferenceLedger({
    bonusRateBps: options.modelBonusRateBps ?? options.bonusRateBps,
    ...(options.modelBroken ? { broken: options.modelBroken } : {}),
  });
  const outcomes: CommandOutcome[] = [];
  const expected: ModelOutcome[] = [];
  const trace = () =>
    [`batchSize ${scenario.batchSize}, cuts ${scenario.cuts.join(',')}`]
      .concat(texts.map((text, i) => `#${i} ${text}\n     => ${describeOutcome(outcomes[i])} | ${describeModel(expected[i])}`))
      .join('\n');
  const seenEventIds = new Set<string>();

  let start = 0;
  for (let cut = 0; start < texts.length; cut++) {
    const size = scenario.cuts[cut % scenario.cuts.length]!;
    const chunk = texts.slice(start, start + size);
    const got = await handler.handleTexts(chunk);
    check(got.length === chunk.length, `handleTexts returned ${got.length} outcomes for ${chunk.length} texts`, trace);
    for (let i = 0; i < chunk.length; i++) {
      const index = start + i;
      outcomes.push(got[i]!);
      expected.push(model.apply(chunk[i]!));
      const actual = got[i]!;
      const want = expected[index]!;
      check(
        (want.status === 'invalid') === (intents[index] === 'invalid'),
        `#${index}: the generator meant this text to be ${intents[index]}, the parser says ${want.status}`,
        trace,
      );
      checkEqual({ status: actual.status, code: actual.code ?? null }, { status: want.status, code: want.code ?? null }, `#${index}: outcome differs`, trace);
      if (actual.status === 'accepted' && want.status === 'accepted') {
        check(actual.eventIds.length === want.events, `#${index}: accepted with ${actual.eventIds.length} events, model says ${want.events}`, trace);
        for (const id of actual.eventIds) {
          check(!seenEventIds.has(id), `#${index}: accepted event ID ${id} was returned before`, trace);
          seenEventIds.add(id);
        }
      }
      if (actual.status === 'duplicate' && want.status === 'duplicate') {
        const original = outcomes[want.originalIndex];
        checkEqual(actual.eventIds, original?.eventIds ?? null, `#${index}: duplicate returned other event IDs than its first application #${want.originalIndex}`, trace);
      }
    }
    start += chunk.length;

    // After every batch: the write side's accounts equal the model's, and none is negative.
    const accounts = await Promise.all(users.map((userId) => store.readAccount(userId)));
    for (const [i, userId] of users.entries()) {
      const account = accounts[i];
      const want = model.balance(userId);
      check(want.balance >= 0n, `model balance of ${userId} is negative: ${want.balance}`, trace);
      const identity = want.deposits + want.bonuses - want.charges - want.pending + want.adjustments;
      check(identity === want.balance, `model of ${userId}: balance ${want.balance} != parts ${identity}`, trace);
      if (!account) {
        check(want.version === 0, `after command #${start - 1}: ${userId} has no account row, model has ${want.version} events`, trace);
        continue;
      }
      check(account.balanceMicroUsd >= 0n, `after command #${start - 1}: ${userId} balance is negative: ${account.balanceMicroUsd}`, trace);
      const parts = account.depositsMicroUsd + account.bonusesMicroUsd - account.chargesMicroUsd - account.pendingMicroUsd + account.adjustmentsMicroUsd;
      check(parts === account.balanceMicroUsd, `after command #${start - 1}: ${userId} balance ${account.balanceMicroUsd} != its parts ${parts}`, trace);
      checkEqual(balanceShape(account), modelBalanceShape(want, false), `after command #${start - 1}: account ${userId} differs`, trace);
    }
  }
  return { texts, outcomes, expected, model, users, trace };
}

/** Every event of the run's users, in the global order. */
export async function readRunEvents(store: LedgerStore, users: readonly string[]): Promise<StoredEvent[]> {
  const wanted = new Set(users);
  const events: StoredEvent[] = [];
  let position: GlobalPosition | null = null;
  for (;;) {
    const page = await store.readAll(position, 1000);
    if (page.events.length === 0) return events;
    events.push(...page.events.filter((event) => wanted.has(eventUserId(event))));
    position = page.position;
  }
}

/** The signed effect of one event on its user's available balance, computed from the log alone. */
function balanceEffect(event: StoredEvent): bigint {
  switch (event.type) {
    case 'TokenDeposited':
    case 'DepositBonusGranted':
    case 'BalanceAdjusted':
      return BigInt(event.payload.amountMicroUsd);
    case 'InvoiceCharged':
      return -BigInt(event.payload.chargedMicroUsd);
    case 'ChargeSettled':
      return 0n;
    case 'ChargeFailed':
      return BigInt(event.payload.refundedMicroUsd);
  }
}

/** End-of-run checks on the log: conservation, event count, and the pure folds of both views. */
export function checkLogAgainstModel(run: RunResult, events: readonly StoredEvent[]): void {
  const { model, outcomes, trace } = run;
  const written = outcomes.reduce((n, outcome) => n + (outcome.status === 'accepted' ? outcome.eventIds.length : 0), 0);
  check(events.length === written, `the log holds ${events.length} events of this run, accepted outcomes name ${written}`, trace);
  const ids = new Set(outcomes.flatMap((outcome) => (outcome.status === 'accepted' ? outcome.eventIds : [])));
  for (const event of events) check(ids.has(event.eventId), `event ${event.eventId} in the log was not returned by any accepted outcome`, trace);

  // Money is conserved: the sum of every balance equals the net flow of the accepted events.
  const balances = model.balances();
  const modelTotal = [...balances.values()].reduce((sum, b) => sum + b.balance, 0n);
  const logTotal = events.reduce((sum, event) => sum + balanceEffect(event), 0n);
  check(logTotal === modelTotal, `sum over the log's events ${logTotal} != sum of model balances ${modelTotal}`, trace);
  check(model.netFlow === modelTotal, `model net flow ${model.netFlow} != sum of model balances ${modelTotal}`, trace);

  // Balance view (pure fold of the log) equals the model, user for user.
  const balanceRows = foldAll(balanceProjection, events) as Map<string, BalanceRow>;
  checkEqual(
    [...balanceRows.values()].map(balanceShape).sort((a, b) => (a.userId < b.userId ? -1 : 1)),
    [...balances.values()].map((b) => modelBalanceShape(b, true)),
    'balance view (fold of the log) differs from the model',
    trace,
  );

  // Transaction view (pure fold), per user in the view's order, equals the model's rows.
  const txRows = [...(foldAll(transactionProjection, events) as Map<string, TransactionRow>).values()];
  for (const userId of run.users) {
    const rows = txRows.filter((row) => row.userId === userId).sort(compareTransactions).map(transactionShape);
    checkEqual(rows, model.transactions(userId), `transaction view (fold of the log) of ${userId} differs from the model`, trace);
  }
}
