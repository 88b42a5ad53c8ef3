import { Command, parseCommandText } from '../../ledger/core/commands';

/**
 * A deliberately naive reference model of the ledger's rules, for model-based tests.
 *
 * Plain maps, one command at a time, no batching, no event IDs, no import of the ledger's
 * decide/account/batch/money/invoice logic. The only thing borrowed from the ledger is the
 * wire parser (`parseCommandText`), used to normalise input (defaults, canonical timestamps,
 * lower-case hex, amounts as decimal strings): what counts as *valid* is therefore not
 * checked independently here (the generator labels its invalid commands and the tests
 * check the label instead).
 *
 * The rules, as the README states them: idempotency first; then state rules; an accepted
 * command then pays the user's open invoices oldest first (opened at, then invoice ID in
 * UTF-8 byte order), each payment min(due, balance rounded down to whole cents); then the
 * balance thresholds it took the balance across, comparing before and after everything.
 *
 * Business time: a payment is dated at the latest of the command, the invoice's opening and
 * the latest credit among the user's transaction rows (found by scanning them, not kept as
 * a running value as the ledger does); a settle or fail dated before its charge, or a void
 * dated before its invoice or that invoice's last payment, is OCCURRED_BEFORE_CAUSE. The
 * model keeps every effect with its date, so it can say what any total was as of any time.
 */

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const CENT = 10_000n;
const OPEN_INVOICES_MAX = 100;

export type ModelCode =
  | 'INSUFFICIENT_FUNDS'
  | 'IDEMPOTENCY_CONFLICT'
  | 'CHARGE_NOT_FOUND'
  | 'CHARGE_NOT_PENDING'
  | 'AMOUNT_OVERFLOW'
  | 'INVOICE_EXISTS'
  | 'INVOICE_NOT_FOUND'
  | 'INVOICE_NOT_OPEN'
  | 'TOO_MANY_OPEN_INVOICES'
  | 'OCCURRED_BEFORE_CAUSE'
  | 'INVALID_COMMAND';

export type ModelOutcome =
  /** `events`: how many events the application wrote (a deposit and its bonus = 2, plus payments and crossings). */
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
  openInvoices: bigint;
  openInvoiceCount: number;
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
  /** Charges only: what the command asked for. */
  requestedMicroUsd?: string;
}

export interface ModelInvoice {
  userId: string;
  invoiceId: string;
  amount: bigint;
  paid: bigint;
  payments: bigint[];
  /** The business time of each payment. */
  paymentTimes: string[];
  status: 'open' | 'paid' | 'void';
  openedAt: string;
}

export interface ModelCrossing {
  userId: string;
  threshold: bigint;
  direction: 'up' | 'down';
  balance: bigint;
}

/** Tweaks that make the model WRONG on purpose (to show the property catches it). */
export interface ModelOptions {
  readonly bonusRateBps: number;
  readonly thresholds?: readonly bigint[];
  /** Break one rule on purpose: partial charges not rounded to cents, no idempotency check for charges, invoices paid newest first, payments dated at the command. */
  readonly broken?: 'partial-rounding' | 'charge-idempotency' | 'invoice-order' | 'payment-date';
}

interface ChargeState {
  userId: string;
  /** Business time of the charge: no settle or fail may precede it. */
  occurredAt: string;
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
    case 'openInvoice':
      return JSON.stringify(['invoice', command.invoiceId]);
    case 'voidInvoice':
      return JSON.stringify(['void', command.invoiceId]);
  }
}

const fits = (value: bigint) => value >= INT64_MIN && value <= INT64_MAX;

/** A user's totals as of a business time: the sum of the effects dated at or before it. */
export type ModelAsOf = Pick<ModelBalance, 'balance' | 'deposits' | 'bonuses' | 'charges' | 'pending' | 'adjustments' | 'openInvoices'>;

/** How one event moved a user's totals, at its business time (what as-of answers add up). */
export type ModelEffect = ModelAsOf & { occurredAt: string };

const NO_EFFECT: ModelAsOf = { balance: 0n, deposits: 0n, bonuses: 0n, charges: 0n, pending: 0n, adjustments: 0n, openInvoices: 0n };

/** A change of one user's state, committed only when the whole command is accepted. */
interface Draft {
  next: ModelBalance;
  events: number;
  rows: ModelTransaction[];
  effects: ModelEffect[];
  afterCommit: (() => void)[];
}

export class ReferenceLedger {
  private readonly users = new Map<string, ModelBalance>();
  private readonly rows = new Map<string, ModelTransaction[]>();
  private readonly keys = new Map<string, { content: string; index: number }>();
  private readonly chargesByInvoice = new Map<string, ChargeState>();
  private readonly invoicesById = new Map<string, ModelInvoice>();
  /** One invoice ID names one invoice, whichever command used it. */
  private readonly invoiceIdUses = new Map<string, 'charge' | 'invoice'>();
  private readonly crossingLog: ModelCrossing[] = [];
  private readonly effects = new Map<string, ModelEffect[]>();
  private applied = 0;
  /** Sum of every accepted money movement on balances (credits positive). */
  netFlow = 0n;

  constructor(readonly options: ModelOptions) {}

  private balanceOf(userId: string): ModelBalance {
    return (
      this.users.get(userId) ?? {
        userId,
        version: 0,
        balance: 0n,
        deposits: 0n,
        bonuses: 0n,
        charges: 0n,
        pending: 0n,
        adjustments: 0n,
        openInvoices: 0n,
        openInvoiceCount: 0,
        lastEventAt: '',
      }
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
    if (seen && !(this.options.broken === 'charge-idempotency' && command.type === 'charge')) {
      return seen.content === content ? { status: 'duplicate', originalIndex: seen.index } : { status: 'rejected', code: 'IDEMPOTENCY_CONFLICT' };
    }

    // 2. State rules, on a draft of the account; committed only when accepted.
    const before = this.balanceOf(command.userId);
    const own = this.ownEffect(command, before);
    if ('code' in own) return own;

    // 3. What follows: payments of open invoices, then threshold crossings.
    this.payOpenInvoices(own, command.occurredAt);
    if (own.next.balance < 0n) return { status: 'rejected', code: 'INSUFFICIENT_FUNDS' };
    const totals = [own.next.balance, own.next.deposits, own.next.bonuses, own.next.charges, own.next.pending, own.next.adjustments, own.next.openInvoices];
    if (!totals.every(fits)) return { status: 'rejected', code: 'AMOUNT_OVERFLOW' };
    const crossings = this.crossings(command.userId, before.balance, own.next.balance);
    own.events += crossings.length;
    own.next.version += crossings.length;
    if (crossings.length > 0) own.next.lastEventAt = command.occurredAt;

    // Commit.
    this.users.set(command.userId, own.next);
    this.netFlow += own.next.balance - before.balance;
    for (const row of own.rows) this.addRow(row);
    this.effects.set(command.userId, [...(this.effects.get(command.userId) ?? []), ...own.effects]);
    for (const commit of own.afterCommit) commit();
    this.crossingLog.push(...crossings);
    this.keys.set(key, { content, index });
    return { status: 'accepted', events: own.events };
  }

  private crossings(userId: string, before: bigint, after: bigint): ModelCrossing[] {
    const thresholds = [...(this.options.thresholds ?? [])].sort((a, b) => (a < b ? -1 : 1));
    if (after > before) return thresholds.filter((t) => before < t && t <= after).map((threshold) => ({ userId, threshold, direction: 'up', balance: after }));
    if (after < before) return thresholds.reverse().filter((t) => after < t && t <= before).map((threshold) => ({ userId, threshold, direction: 'down', balance: after }));
    return [];
  }

  /** The command's own effect: a draft, or the rejection. Balance and overflow checks come after the payments too. */
  private ownEffect(command: Command, before: ModelBalance): Draft | { status: 'rejected'; code: Exclude<ModelCode, 'INVALID_COMMAND'> } {
    const draft = (changes: Partial<ModelBalance>, events: number): Draft => {
      const next = { ...before, ...changes, version: before.version + events, lastEventAt: command.occurredAt };
      const effect: ModelEffect = {
        occurredAt: command.occurredAt,
        balance: next.balance - before.balance,
        deposits: next.deposits - before.deposits,
        bonuses: next.bonuses - before.bonuses,
        charges: next.charges - before.charges,
        pending: next.pending - before.pending,
        adjustments: next.adjustments - before.adjustments,
        openInvoices: next.openInvoices - before.openInvoices,
      };
      return { next, events, rows: [], effects: [effect], afterCommit: [] };
    };
    const reject = (code: Exclude<ModelCode, 'INVALID_COMMAND'>) => ({ status: 'rejected' as const, code });
    const guard = (d: Draft) => {
      if (d.next.balance < 0n) return reject('INSUFFICIENT_FUNDS');
      const totals = [d.next.balance, d.next.deposits, d.next.bonuses, d.next.charges, d.next.pending, d.next.adjustments, d.next.openInvoices];
      if (!totals.every(fits)) return reject('AMOUNT_OVERFLOW');
      return d;
    };
    const base = { userId: command.userId, occurredAt: command.occurredAt };
    switch (command.type) {
      case 'deposit': {
        const amount = BigInt(command.amountMicroUsd);
        const bonus = (amount * BigInt(this.options.bonusRateBps)) / 10_000n;
        const events = bonus > 0n ? 2 : 1;
        const d = draft({ balance: before.balance + amount + bonus, deposits: before.deposits + amount, bonuses: before.bonuses + bonus }, events);
        d.rows.push({ ...base, streamVersion: before.version + 1, type: 'credit', source: command.source, status: 'complete', amountMicroUsd: amount.toString() });
        if (bonus > 0n) d.rows.push({ ...base, streamVersion: before.version + 2, type: 'credit', source: 'bonus', status: 'complete', amountMicroUsd: bonus.toString() });
        return guard(d);
      }
      case 'charge': {
        if (this.invoiceIdUses.get(command.invoiceId) === 'invoice') return reject('INVOICE_EXISTS');
        const requested = BigInt(command.amountMicroUsd);
        let amount = requested;
        if (command.allowPartial && before.balance < requested) {
          amount = this.options.broken === 'partial-rounding' ? before.balance : before.balance - (before.balance % CENT);
          if (amount <= 0n) return reject('INSUFFICIENT_FUNDS');
        }
        const d = draft(
          { balance: before.balance - amount, charges: command.pending ? before.charges : before.charges + amount, pending: command.pending ? before.pending + amount : before.pending },
          1,
        );
        const status = command.pending ? ('pending' as const) : ('complete' as const);
        d.rows.push({ ...base, streamVersion: d.next.version, type: 'debit', source: 'invoice', status, amountMicroUsd: (-amount).toString(), requestedMicroUsd: requested.toString() });
        d.afterCommit.push(() => {
          this.chargesByInvoice.set(command.invoiceId, { userId: command.userId, occurredAt: command.occurredAt, amount, status, rowVersion: before.version + 1 });
          this.invoiceIdUses.set(command.invoiceId, 'charge');
        });
        return guard(d);
      }
      case 'settleCharge':
      case 'failCharge': {
        const charge = this.chargesByInvoice.get(command.invoiceId);
        if (!charge || charge.userId !== command.userId) return reject('CHARGE_NOT_FOUND');
        if (charge.status !== 'pending') return reject('CHARGE_NOT_PENDING');
        if (command.occurredAt < charge.occurredAt) return reject('OCCURRED_BEFORE_CAUSE');
        const settle = command.type === 'settleCharge';
        const d = draft(
          { pending: before.pending - charge.amount, charges: settle ? before.charges + charge.amount : before.charges, balance: settle ? before.balance : before.balance + charge.amount },
          1,
        );
        if (!settle) d.rows.push({ ...base, streamVersion: d.next.version, type: 'credit', source: 'invoice', status: 'complete', amountMicroUsd: charge.amount.toString() });
        d.afterCommit.push(() => {
          charge.status = settle ? 'complete' : 'failed';
          const row = this.rows.get(charge.userId)?.find((candidate) => candidate.streamVersion === charge.rowVersion);
          if (!row) throw new Error(`model: no row for charge of invoice ${command.invoiceId}`);
          row.status = charge.status;
        });
        return guard(d);
      }
      case 'adjust': {
        const amount = BigInt(command.amountMicroUsd);
        const d = draft({ balance: before.balance + amount, adjustments: before.adjustments + amount }, 1);
        d.rows.push({ ...base, streamVersion: d.next.version, type: amount < 0n ? 'debit' : 'credit', source: 'adjustment', status: 'complete', amountMicroUsd: amount.toString() });
        return guard(d);
      }
      case 'openInvoice': {
        if (this.invoiceIdUses.get(command.invoiceId) === 'charge') return reject('INVOICE_EXISTS');
        if (before.openInvoiceCount >= OPEN_INVOICES_MAX) return reject('TOO_MANY_OPEN_INVOICES');
        const amount = BigInt(command.amountMicroUsd);
        const d = draft({ openInvoices: before.openInvoices + amount, openInvoiceCount: before.openInvoiceCount + 1 }, 1);
        const invoice: ModelInvoice = { userId: command.userId, invoiceId: command.invoiceId, amount, paid: 0n, payments: [], paymentTimes: [], status: 'open', openedAt: command.occurredAt };
        (d as Draft & { opened?: ModelInvoice }).opened = invoice;
        d.afterCommit.push(() => {
          this.invoicesById.set(command.invoiceId, invoice);
          this.invoiceIdUses.set(command.invoiceId, 'invoice');
        });
        return guard(d);
      }
      case 'voidInvoice': {
        const invoice = this.invoicesById.get(command.invoiceId);
        if (!invoice || invoice.userId !== command.userId) return reject('INVOICE_NOT_FOUND');
        if (invoice.status !== 'open') return reject('INVOICE_NOT_OPEN');
        if ([invoice.openedAt, ...invoice.paymentTimes].some((cause) => command.occurredAt < cause)) return reject('OCCURRED_BEFORE_CAUSE');
        const d = draft(
          {
            balance: before.balance + invoice.paid,
            charges: before.charges - invoice.paid,
            openInvoices: before.openInvoices - (invoice.amount - invoice.paid),
            openInvoiceCount: before.openInvoiceCount - 1,
          },
          1,
        );
        if (invoice.paid > 0n) d.rows.push({ ...base, streamVersion: d.next.version, type: 'credit', source: 'invoice', status: 'complete', amountMicroUsd: invoice.paid.toString() });
        (d as Draft & { voided?: string }).voided = invoice.invoiceId;
        d.afterCommit.push(() => {
          invoice.status = 'void';
        });
        return guard(d);
      }
    }
  }

  /** The latest business time of a credit among the user's rows and the draft's: scanned, not kept. */
  private latestCredit(draft: Draft): string {
    const rows = [...(this.rows.get(draft.next.userId) ?? []), ...draft.rows];
    return rows.filter((row) => row.type === 'credit').reduce((latest, row) => (row.occurredAt > latest ? row.occurredAt : latest), '0001-01-01T00:00:00.000000Z');
  }

  /** Pays the user's open invoices from the draft's balance, oldest first, to whole cents. */
  private payOpenInvoices(draft: Draft, occurredAt: string): void {
    const userId = draft.next.userId;
    const extra = draft as Draft & { opened?: ModelInvoice; voided?: string };
    const open = [...this.invoicesById.values(), ...(extra.opened ? [extra.opened] : [])].filter(
      (invoice) => invoice.userId === userId && invoice.status === 'open' && invoice.invoiceId !== extra.voided,
    );
    open.sort((a, b) => (a.openedAt !== b.openedAt ? (a.openedAt < b.openedAt ? -1 : 1) : Buffer.compare(Buffer.from(a.invoiceId), Buffer.from(b.invoiceId))));
    if (this.options.broken === 'invoice-order') open.reverse();
    const latestCredit = this.latestCredit(draft);
    for (const invoice of open) {
      const payable = draft.next.balance - (draft.next.balance % CENT);
      if (payable <= 0n) break;
      const due = invoice.amount - invoice.paid;
      if (due <= 0n) continue;
      const amount = due < payable ? due : payable;
      const paidAt = this.options.broken === 'payment-date' ? occurredAt : [occurredAt, invoice.openedAt, latestCredit].sort().at(-1)!;
      draft.next = {
        ...draft.next,
        version: draft.next.version + 1,
        balance: draft.next.balance - amount,
        charges: draft.next.charges + amount,
        openInvoices: draft.next.openInvoices - amount,
        openInvoiceCount: amount === due ? draft.next.openInvoiceCount - 1 : draft.next.openInvoiceCount,
        lastEventAt: paidAt,
      };
      draft.events++;
      draft.rows.push({ userId, occurredAt: paidAt, streamVersion: draft.next.version, type: 'debit', source: 'invoice', status: 'complete', amountMicroUsd: (-amount).toString() });
      draft.effects.push({ ...NO_EFFECT, occurredAt: paidAt, balance: -amount, charges: amount, openInvoices: -amount });
      draft.afterCommit.push(() => {
        invoice.paid += amount;
        invoice.payments.push(amount);
        invoice.paymentTimes.push(paidAt);
        if (invoice.paid === invoice.amount) invoice.status = 'paid';
      });
    }
  }

  private addRow(row: ModelTransaction): void {
    const list = this.rows.get(row.userId) ?? [];
    list.push(row);
    this.rows.set(row.userId, list);
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

  /** A user's invoices, oldest first. */
  invoices(userId: string): ModelInvoice[] {
    return [...this.invoicesById.values()]
      .filter((invoice) => invoice.userId === userId)
      .map((invoice) => ({ ...invoice, payments: [...invoice.payments], paymentTimes: [...invoice.paymentTimes] }))
      .sort((a, b) => (a.openedAt !== b.openedAt ? (a.openedAt < b.openedAt ? -1 : 1) : Buffer.compare(Buffer.from(a.invoiceId), Buffer.from(b.invoiceId))));
  }

  /** A user's totals as of a business time: every effect dated at or before it, whenever it was applied. */
  asOf(userId: string, businessTime: string): ModelAsOf {
    const total = { ...NO_EFFECT };
    for (const effect of this.effects.get(userId) ?? []) {
      if (effect.occurredAt > businessTime) continue;
      for (const key of Object.keys(NO_EFFECT) as (keyof ModelAsOf)[]) total[key] += effect[key];
    }
    return total;
  }

  /** Every threshold crossing, in the order they happened. */
  crossingsSoFar(): ModelCrossing[] {
    return [...this.crossingLog];
  }
}
