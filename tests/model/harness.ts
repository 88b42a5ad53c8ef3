import { CommandHandler, CommandOutcome } from '../../ledger/core/handler';
import { Account, accountDeltas } from '../../ledger/core/account';
import { eventUserId, StoredEvent } from '../../ledger/core/events';
import { GlobalPosition, LedgerStore } from '../../ledger/core/store';
import { balanceProjection, BalanceRow, BooksRow, compareInvoiceRows, rowsOfKind, compareTransactions, foldAll, invoiceProjection, InvoiceRow, TransactionRow, transactionProjection } from '../../projections/core';
import { materialise, Namespace, Scenario, userIds } from './generators';
import { ModelAsOf, ModelBalance, ModelInvoice, ModelOptions, ModelOutcome, ModelTransaction, ReferenceLedger } from './reference-ledger';

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
  /** Balance thresholds, for the ledger and the model alike. */
  readonly thresholds?: readonly bigint[];
}

/** What the model said after one handleTexts call, and the events that call appended. */
export interface RunCut {
  readonly eventIds: readonly string[];
  readonly balances: ReadonlyMap<string, ModelBalance>;
}

export interface RunResult {
  readonly texts: string[];
  /** After every handleTexts call: for balances at a commit timestamp. */
  readonly cuts: readonly RunCut[];
  readonly outcomes: CommandOutcome[];
  readonly expected: ModelOutcome[];
  readonly model: ReferenceLedger;
  readonly users: string[];
  readonly trace: () => string;
}

/** The balance fields the model tracks, as a comparable plain object. */
export function balanceShape(row: Account & { lastEventAt?: string }) {
  return {
    userId: row.userId,
    version: row.version,
    balance: row.balanceMicroUsd.toString(),
    deposits: row.depositsMicroUsd.toString(),
    bonuses: row.bonusesMicroUsd.toString(),
    charges: row.chargesMicroUsd.toString(),
    pending: row.pendingMicroUsd.toString(),
    adjustments: row.adjustmentsMicroUsd.toString(),
    openInvoices: row.openInvoicesMicroUsd.toString(),
    openInvoiceCount: row.openInvoiceCount,
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
    openInvoices: b.openInvoices.toString(),
    openInvoiceCount: b.openInvoiceCount,
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
    ...(row.metadata.requestedMicroUsd === undefined ? {} : { requestedMicroUsd: String(row.metadata.requestedMicroUsd) }),
  };
}

/** An invoice view row in the model's shape. */
export function invoiceShape(row: InvoiceRow) {
  return {
    userId: row.userId,
    invoiceId: row.invoiceId,
    amount: row.amountMicroUsd.toString(),
    paid: row.paidMicroUsd.toString(),
    payments: row.payments.map((payment) => payment.amountMicroUsd.toString()),
    paymentTimes: row.payments.map((payment) => payment.occurredAt),
    status: row.status,
    openedAt: row.openedAt,
  };
}

export function modelInvoiceShape(invoice: ModelInvoice) {
  return {
    userId: invoice.userId,
    invoiceId: invoice.invoiceId,
    amount: invoice.amount.toString(),
    paid: invoice.paid.toString(),
    payments: invoice.payments.map(String),
    paymentTimes: invoice.paymentTimes,
    status: invoice.status,
    openedAt: invoice.openedAt,
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
  const handler = new CommandHandler(store, { bonusRateBps: options.bonusRateBps, batchSize: scenario.batchSize, balanceThresholdsMicroUsd: options.thresholds ?? [] });
  const model = new ReferenceLedger({
    bonusRateBps: options.modelBonusRateBps ?? options.bonusRateBps,
    thresholds: options.thresholds ?? [],
    ...(options.modelBroken ? { broken: options.modelBroken } : {}),
  });
  const outcomes: CommandOutcome[] = [];
  const expected: ModelOutcome[] = [];
  const trace = () =>
    [`batchSize ${scenario.batchSize}, cuts ${scenario.cuts.join(',')}`]
      .concat(texts.map((text, i) => `#${i} ${text}\n     => ${describeOutcome(outcomes[i])} | ${describeModel(expected[i])}`))
      .join('\n');
  const seenEventIds = new Set<string>();
  const cuts: RunCut[] = [];

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
    cuts.push({ eventIds: got.flatMap((outcome) => (outcome.status === 'accepted' ? outcome.eventIds : [])), balances: model.balances() });

    // After every batch: the write side's accounts equal the model's, and none is negative.
    const accounts = await Promise.all(users.map((userId) => store.readAccount(userId)));
    for (const [i, userId] of users.entries()) {
      const account = accounts[i];
      const want = model.balance(userId);
      check(want.balance >= 0n, `model balance of ${userId} is negative: ${want.balance}`, trace);
      const identity = want.deposits + want.bonuses - want.charges - want.pending + want.adjustments;
      check(identity === want.balance, `model of ${userId}: balance ${want.balance} != parts ${identity}`, trace);
      check(want.openInvoices >= 0n, `model of ${userId}: ${want.openInvoices} still due on open invoices`, trace);
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
  return { texts, cuts, outcomes, expected, model, users, trace };
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
    case 'InvoiceOpened':
    case 'BalanceThresholdCrossed':
      return 0n;
    case 'InvoicePaymentMade':
      return -BigInt(event.payload.amountMicroUsd);
    case 'InvoiceVoided':
      return BigInt(event.payload.refundedMicroUsd);
  }
}

/**
 * The books of a fold: every account is credits − debits, all of them sum to zero, each
 * user's account is the model's available balance and its pending account the model's
 * pending charges.
 */
export function checkBooks(books: ReadonlyMap<string, BooksRow>, balances: ReadonlyMap<string, ModelBalance>, trace: () => string): void {
  let total = 0n;
  const users = new Map<string, { available: bigint; pending: bigint }>();
  for (const row of books.values()) {
    if (row.kind === 'system') total += row.creditsMicroUsd - row.debitsMicroUsd;
    if (row.kind !== 'balance') continue;
    const available = row.books.userCredits - row.books.userDebits;
    const pending = row.books.pendingCredits - row.books.pendingDebits;
    total += available + pending;
    users.set(row.userId, { available, pending });
  }
  check(total === 0n, `the accounts sum to ${total}, not 0`, trace);
  checkEqual(
    [...users].sort(([a], [b]) => (a < b ? -1 : 1)),
    [...balances].map(([userId, balance]) => [userId, { available: balance.balance, pending: balance.pending }]),
    'user accounts (credits - debits of their postings) differ from the model',
    trace,
  );
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
  const books = foldAll(balanceProjection, events);
  const balanceRows = rowsOfKind(balanceProjection, books, 'balance') as BalanceRow[];
  checkEqual(
    balanceRows.map(balanceShape).sort((a, b) => (a.userId < b.userId ? -1 : 1)),
    [...balances.values()].map((b) => modelBalanceShape(b, true)),
    'balance view (fold of the log) differs from the model',
    trace,
  );
  checkBooks(books, balances, trace);

  // Transaction view (pure fold), per user, in the view's order, equals the model's rows,
  // and its amounts add up to the balance.
  const txRows = [...(foldAll(transactionProjection, events) as Map<string, TransactionRow>).values()];
  for (const userId of run.users) {
    const rows = txRows.filter((row) => row.userId === userId).sort(compareTransactions);
    checkEqual(rows.map(transactionShape), model.transactions(userId), `transaction view (fold of the log) of ${userId} differs from the model`, trace);
    const sum = rows.reduce((total, row) => total + row.amountMicroUsd, 0n);
    check(sum === model.balance(userId).balance, `transaction rows of ${userId} sum to ${sum}, the balance is ${model.balance(userId).balance}`, trace);
  }

  // Invoices view (pure fold) equals the model's invoices; nothing is ever paid beyond what is due.
  const invoiceRows = [...(foldAll(invoiceProjection, events) as Map<string, InvoiceRow>).values()];
  for (const userId of run.users) {
    const rows = invoiceRows.filter((row) => row.userId === userId).sort(compareInvoiceRows);
    for (const row of rows) check(row.paidMicroUsd <= row.amountMicroUsd && row.paidMicroUsd >= 0n, `invoice ${row.invoiceId} paid ${row.paidMicroUsd} of ${row.amountMicroUsd}`, trace);
    checkEqual(rows.map(invoiceShape), model.invoices(userId).map(modelInvoiceShape), `invoices view (fold of the log) of ${userId} differs from the model`, trace);
  }

  checkCausality(events, trace);
  checkAsOf(run, events);

  // Threshold crossings in the log, in order, equal the model's.
  const crossings = events.flatMap((event) =>
    event.type === 'BalanceThresholdCrossed' ? [{ userId: event.payload.userId, threshold: event.payload.thresholdMicroUsd, direction: event.payload.direction, balance: event.payload.balanceMicroUsd }] : [],
  );
  const byUserInOrder = (list: { userId: string }[]) => run.users.flatMap((userId) => list.filter((entry) => entry.userId === userId));
  checkEqual(
    byUserInOrder(crossings),
    byUserInOrder(model.crossingsSoFar().map((crossing) => ({ userId: crossing.userId, threshold: crossing.threshold.toString(), direction: crossing.direction, balance: crossing.balance.toString() }))),
    'threshold crossings in the log differ from the model',
    trace,
  );
}

/** The rendered rows of one kind of a view read by readActiveViews (keys are [kind, ...key] JSON). */
export function viewTextsOfKind(view: ReadonlyMap<string, string> | undefined, kind: string): string[] {
  return [...(view ?? new Map<string, string>())].filter(([key]) => (JSON.parse(key) as string[])[0] === kind).map(([, text]) => text);
}

/** The key text of a user's balance row in a view read by readActiveViews. */
export function balanceKeyText(userId: string): string {
  return JSON.stringify(['balance', userId]);
}

/** A balance view row's account and last event time from its rendered text (projection.render), for comparisons. */
export function balanceRowFromViewText(text: string): Omit<BalanceRow, 'kind' | 'books'> {
  const row = JSON.parse(text) as Record<string, string | number>;
  return {
    userId: String(row.userId),
    version: Number(row.version),
    balanceMicroUsd: BigInt(row.balanceMicroUsd!),
    depositsMicroUsd: BigInt(row.depositsMicroUsd!),
    bonusesMicroUsd: BigInt(row.bonusesMicroUsd!),
    chargesMicroUsd: BigInt(row.chargesMicroUsd!),
    pendingMicroUsd: BigInt(row.pendingMicroUsd!),
    adjustmentsMicroUsd: BigInt(row.adjustmentsMicroUsd!),
    openInvoicesMicroUsd: BigInt(row.openInvoicesMicroUsd!),
    openInvoiceCount: Number(row.openInvoiceCount),
    lastEventAt: String(row.lastEventAt),
  };
}

/** The business times worth probing: before everything, and each time an event occurred. */
export function asOfProbes(events: readonly StoredEvent[]): string[] {
  return ['0001-01-01T00:00:00.000000Z', ...new Set(events.map((event) => event.occurredAt).sort())];
}

/** A user's totals as of a business time, summed from the log's events with the ledger's fold of one event. */
export function logAsOf(events: readonly StoredEvent[], userId: string, businessTime: string): ModelAsOf {
  const total: ModelAsOf = { balance: 0n, deposits: 0n, bonuses: 0n, charges: 0n, pending: 0n, adjustments: 0n, openInvoices: 0n };
  for (const event of events) {
    if (eventUserId(event) !== userId || event.occurredAt > businessTime) continue;
    const deltas = accountDeltas(event);
    total.balance += deltas.balanceMicroUsd ?? 0n;
    total.deposits += deltas.depositsMicroUsd ?? 0n;
    total.bonuses += deltas.bonusesMicroUsd ?? 0n;
    total.charges += deltas.chargesMicroUsd ?? 0n;
    total.pending += deltas.pendingMicroUsd ?? 0n;
    total.adjustments += deltas.adjustmentsMicroUsd ?? 0n;
    total.openInvoices += deltas.openInvoicesMicroUsd ?? 0n;
  }
  return total;
}

/**
 * The log's totals as of every probe equal the model's, which dates its payments by its own
 * scan of the user's credits: charges, pending amounts and what is due, not only the balance.
 */
function checkAsOf(run: RunResult, events: readonly StoredEvent[]): void {
  for (const businessTime of asOfProbes(events)) {
    for (const userId of run.users) {
      checkEqual(logAsOf(events, userId, businessTime), run.model.asOf(userId, businessTime), `totals of ${userId} as of ${businessTime} (the log's events that occurred by then) differ from the model`, run.trace);
    }
  }
}

/**
 * Properties of the log alone, whatever any model says (business-causality.ts): an effect
 * the ledger dates itself never precedes its causes, and as of any business time what is
 * due, pending and charged is never negative, nor is a balance made negative by a payment.
 * - a payment is not dated before its invoice's opening;
 * - a settle or fail not before its charge; a void not before its invoice nor its payments;
 * - on the stream as it stood when a payment was made (the events before it in stream
 *   order), the as-of balance at every business time from the payment's on stays ≥ 0.
 */
export function checkCausality(events: readonly StoredEvent[], trace: () => string): void {
  const streams = new Map<string, StoredEvent[]>();
  for (const event of events) streams.set(event.streamId, [...(streams.get(event.streamId) ?? []), event]);
  for (const stream of streams.values()) {
    stream.sort((a, b) => a.streamVersion - b.streamVersion);
    const charged = new Map<string, string>();
    const opened = new Map<string, string>();
    const lastPaid = new Map<string, string>();
    for (const [index, event] of stream.entries()) {
      const at = event.occurredAt;
      switch (event.type) {
        case 'InvoiceCharged':
          charged.set(event.payload.invoiceId, at);
          break;
        case 'ChargeSettled':
        case 'ChargeFailed':
          check(at >= charged.get(event.payload.invoiceId)!, `${event.type} of ${event.payload.invoiceId} at ${at} precedes its charge at ${charged.get(event.payload.invoiceId)}`, trace);
          break;
        case 'InvoiceOpened':
          opened.set(event.payload.invoiceId, at);
          break;
        case 'InvoicePaymentMade': {
          check(at >= opened.get(event.payload.invoiceId)!, `payment of ${event.payload.invoiceId} at ${at} precedes the invoice's opening at ${opened.get(event.payload.invoiceId)}`, trace);
          lastPaid.set(event.payload.invoiceId, at);
          const prefix = stream.slice(0, index + 1);
          for (const probe of [...new Set(prefix.map((candidate) => candidate.occurredAt))].filter((time) => time >= at)) {
            const asOf = logAsOf(prefix, event.payload.userId, probe);
            check(asOf.balance >= 0n, `payment ${event.eventId} dated ${at} leaves the balance as of ${probe} at ${asOf.balance}`, trace);
          }
          break;
        }
        case 'InvoiceVoided': {
          const causes = [opened.get(event.payload.invoiceId)!, lastPaid.get(event.payload.invoiceId) ?? ''];
          check(causes.every((cause) => at >= cause), `void of ${event.payload.invoiceId} at ${at} precedes its invoice or a payment (${causes.join(', ')})`, trace);
          break;
        }
        default:
          break;
      }
    }
  }
  for (const probe of asOfProbes(events)) {
    for (const userId of new Set(events.map(eventUserId))) {
      const asOf = logAsOf(events, userId, probe);
      check(asOf.openInvoices >= 0n && asOf.pending >= 0n && asOf.charges >= 0n, `as of ${probe}, ${userId} has ${asOf.openInvoices} due, ${asOf.pending} pending, ${asOf.charges} charged: none may be negative`, trace);
    }
  }
}
