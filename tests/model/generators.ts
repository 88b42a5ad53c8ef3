import { createHash } from 'node:crypto';
import fc from 'fast-check';

/**
 * fast-check arbitraries for realistic command sequences. A scenario is a list of abstract
 * operations (which shrink well) that `materialise` turns into wire texts. Natural keys are
 * drawn from small pools so that re-use (duplicates, conflicts, settle/fail of existing and
 * missing invoices) is common, and charge amounts run higher than deposits so that
 * INSUFFICIENT_FUNDS and partial charges are common.
 */

export const USER_COUNT = 5;
const HASH_POOL = 6;
const LOG_INDEX_POOL = 3;
const INVOICE_POOL = 14;
const ADJUST_KEY_POOL = 10;
const INT64_MAX = 2n ** 63n - 1n;

/** How a re-sent command is re-encoded; every variant keeps the normalised content. */
export interface Encoding {
  readonly amountAsNumber: boolean;
  /** 0: as sent; 1: "+00:00" for "Z"; 2: "+01:00" with the hour moved; 3: no fraction when it is zero, "z" lower case. */
  readonly time: 0 | 1 | 2 | 3;
  readonly upperHex: boolean;
  readonly explicitDefaults: boolean;
  readonly reverseKeys: boolean;
}

export type Op =
  | { kind: 'deposit'; user: number; chain: 0 | 1; hash: number; logIndex: number; amount: bigint; t: number }
  | { kind: 'charge'; user: number; invoice: number; amount: bigint; allowPartial: boolean; pending: boolean; t: number }
  /** `charged`: when set, the invoice of an earlier charge command (picked by this number) instead of `invoice`. */
  | { kind: 'settle'; user: number; byOwner: boolean; invoice: number; charged: number | null; t: number; reference: string | null }
  | { kind: 'fail'; user: number; byOwner: boolean; invoice: number; charged: number | null; t: number; reason: string }
  | { kind: 'adjust'; user: number; key: number; amount: bigint; t: number }
  /** Invoice IDs come from the charges' pool: one ID names one invoice, whichever command used it. */
  | { kind: 'openInvoice'; user: number; invoice: number; amount: bigint; t: number; description: string | null }
  /** `opened`: when set, an earlier openInvoice (picked by this number) instead of `invoice`. */
  | { kind: 'voidInvoice'; user: number; byOwner: boolean; invoice: number; opened: number | null; t: number }
  /** An earlier valid command sent again, verbatim or re-encoded. */
  | { kind: 'resend'; pick: number; encoding: Encoding }
  /** An earlier valid command sent again with one field changed (same key, other content). */
  | { kind: 'mutate'; pick: number; field: 0 | 1 | 2 }
  | { kind: 'invalid'; variant: number; pick: number };

export interface Scenario {
  readonly ops: Op[];
  /** Sizes of the successive handleTexts calls (used cyclically). */
  readonly cuts: number[];
  /** The handler's batch size (commands per transaction). */
  readonly batchSize: number;
}

/** What makes a run's keys its own (several runs can share one database). */
export interface Namespace {
  readonly tag: string;
}

export interface Materialised {
  readonly texts: string[];
  /** What the generator meant: 'invalid' texts must be refused by the parser, 'valid' ones accepted by it. */
  readonly intents: ('valid' | 'invalid')[];
}

const smallMicros = fc.bigInt({ min: 1n, max: 8_000_000n });
const centMicros = fc.integer({ min: 1, max: 4_000 }).map((cents) => BigInt(cents) * 10_000n);
const hugeMicros = fc.constantFrom(INT64_MAX / 2n, INT64_MAX - 7n, 4_000_000_000_000_000_000n);

const time = fc.integer({ min: 0, max: 30 });

const depositOp = fc.record({
  kind: fc.constant('deposit' as const),
  user: fc.nat(USER_COUNT - 1),
  chain: fc.constantFrom(0 as const, 1 as const),
  hash: fc.nat(HASH_POOL - 1),
  logIndex: fc.nat(LOG_INDEX_POOL - 1),
  amount: fc.oneof({ weight: 6, arbitrary: fc.bigInt({ min: 1n, max: 25_000_000n }) }, { weight: 2, arbitrary: centMicros }, { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: 99n }) }, { weight: 1, arbitrary: hugeMicros }),
  t: time,
});

const chargeOp = fc.record({
  kind: fc.constant('charge' as const),
  user: fc.nat(USER_COUNT - 1),
  invoice: fc.nat(INVOICE_POOL - 1),
  amount: fc.oneof({ weight: 6, arbitrary: smallMicros }, { weight: 2, arbitrary: centMicros }, { weight: 1, arbitrary: fc.constant(INT64_MAX) }),
  allowPartial: fc.boolean(),
  pending: fc.nat(4).map((n) => n < 3),
  t: time,
});

/** Settle and fail name a user: usually the charge's (byOwner), sometimes another one. */
const byOwner = fc.nat(5).map((n) => n > 0);

const settleOp = fc.record({
  kind: fc.constant('settle' as const),
  user: fc.nat(USER_COUNT - 1),
  byOwner,
  invoice: fc.nat(INVOICE_POOL - 1),
  charged: fc.option(fc.nat(), { nil: null, freq: 6 }),
  t: time,
  reference: fc.option(fc.constantFrom('ref-a', 'ref-b', 'psp 42'), { nil: null }),
});

const failOp = fc.record({
  kind: fc.constant('fail' as const),
  user: fc.nat(USER_COUNT - 1),
  byOwner,
  invoice: fc.nat(INVOICE_POOL - 1),
  charged: fc.option(fc.nat(), { nil: null, freq: 6 }),
  t: time,
  reason: fc.constantFrom('card declined', 'expired'),
});

const adjustOp = fc.record({
  kind: fc.constant('adjust' as const),
  user: fc.nat(USER_COUNT - 1),
  key: fc.nat(ADJUST_KEY_POOL - 1),
  amount: fc.oneof(fc.bigInt({ min: 1n, max: 10_000_000n }), fc.bigInt({ min: -15_000_000n, max: -1n }), fc.constantFrom(INT64_MAX, -INT64_MAX)),
  t: time,
});

const openInvoiceOp = fc.record({
  kind: fc.constant('openInvoice' as const),
  user: fc.nat(USER_COUNT - 1),
  invoice: fc.nat(INVOICE_POOL - 1),
  // Sub-cent remainders too: what is due need not be whole cents, payments still are.
  amount: fc.oneof({ weight: 4, arbitrary: smallMicros }, { weight: 3, arbitrary: centMicros }, { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: 20_000n }) }),
  t: time,
  description: fc.option(fc.constantFrom('storage 2026-02', 'egress'), { nil: null }),
});

const voidInvoiceOp = fc.record({
  kind: fc.constant('voidInvoice' as const),
  user: fc.nat(USER_COUNT - 1),
  byOwner,
  invoice: fc.nat(INVOICE_POOL - 1),
  opened: fc.option(fc.nat(), { nil: null, freq: 6 }),
  t: time,
});

const encoding: fc.Arbitrary<Encoding> = fc.record({
  amountAsNumber: fc.boolean(),
  time: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const),
  upperHex: fc.boolean(),
  explicitDefaults: fc.boolean(),
  reverseKeys: fc.boolean(),
});

const resendOp = fc.record({ kind: fc.constant('resend' as const), pick: fc.nat(), encoding });
const mutateOp = fc.record({ kind: fc.constant('mutate' as const), pick: fc.nat(), field: fc.constantFrom(0 as const, 1 as const, 2 as const) });
export const INVALID_VARIANTS = 10;
const invalidOp = fc.record({ kind: fc.constant('invalid' as const), variant: fc.nat(INVALID_VARIANTS - 1), pick: fc.nat() });

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 30, arbitrary: depositOp },
  { weight: 24, arbitrary: chargeOp },
  { weight: 9, arbitrary: settleOp },
  { weight: 7, arbitrary: failOp },
  { weight: 10, arbitrary: adjustOp },
  { weight: 12, arbitrary: openInvoiceOp },
  { weight: 4, arbitrary: voidInvoiceOp },
  { weight: 12, arbitrary: resendOp },
  { weight: 6, arbitrary: mutateOp },
  { weight: 6, arbitrary: invalidOp },
);

export function scenarioArb(maxCommands: number, maxBatch = 20): fc.Arbitrary<Scenario> {
  return fc.record({
    ops: fc.array(opArb, { maxLength: maxCommands, size: 'max' }),
    cuts: fc.array(fc.integer({ min: 1, max: maxBatch }), { minLength: 1, maxLength: 8 }),
    batchSize: fc.integer({ min: 1, max: maxBatch }),
  });
}

/* ------------------------------------------------------------------ materialise */

type Wire = Record<string, unknown>;

export function userIds(ns: Namespace): string[] {
  return Array.from({ length: USER_COUNT }, (_, i) => `${ns.tag}u${i}`);
}

function hex(seed: string, digits: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, digits);
}

/** Business time t: minutes after 2026-03-01T10:00Z, with a sub-second part on odd t. */
function at(t: number): string {
  const minute = String(t % 60).padStart(2, '0');
  return `2026-03-01T10:${minute}:00.${t % 2 === 1 ? '000250' : '000000'}Z`;
}

function freshWire(op: Exclude<Op, { kind: 'resend' | 'mutate' | 'invalid' }>, ns: Namespace): Wire {
  const users = userIds(ns);
  switch (op.kind) {
    case 'deposit':
      return {
        type: 'deposit',
        userId: users[op.user]!,
        source: op.chain === 0 ? 'ethereum' : 'zksync',
        chainId: op.chain === 0 ? '1' : '324',
        txHash: `0x${hex(`${ns.tag}/tx/${op.hash}`, 64)}`,
        logIndex: String(op.logIndex),
        blockNumber: String(19_000_000 + op.t),
        wallet: `0x${hex(`${ns.tag}/wallet/${op.user}`, 40)}`,
        tokenValue: (op.amount <= 1_000_000_000_000n ? op.amount * 1_000_000n : op.amount).toString(),
        amountMicroUsd: op.amount.toString(),
        occurredAt: at(op.t),
      };
    case 'charge': {
      const wire: Wire = { type: 'charge', userId: users[op.user]!, invoiceId: `${ns.tag}inv-${op.invoice}`, amountMicroUsd: op.amount.toString(), occurredAt: at(op.t) };
      if (op.allowPartial) wire.allowPartial = true;
      if (op.pending) wire.pending = true;
      return wire;
    }
    case 'settle': {
      const wire: Wire = { type: 'settleCharge', userId: users[op.user]!, invoiceId: `${ns.tag}inv-${op.invoice}`, occurredAt: at(op.t) };
      if (op.reference !== null) wire.reference = op.reference;
      return wire;
    }
    case 'fail':
      return { type: 'failCharge', userId: users[op.user]!, invoiceId: `${ns.tag}inv-${op.invoice}`, occurredAt: at(op.t), reason: op.reason };
    case 'openInvoice': {
      const wire: Wire = { type: 'openInvoice', userId: users[op.user]!, invoiceId: `${ns.tag}inv-${op.invoice}`, amountMicroUsd: op.amount.toString(), occurredAt: at(op.t) };
      if (op.description !== null) wire.description = op.description;
      return wire;
    }
    case 'voidInvoice':
      return { type: 'voidInvoice', userId: users[op.user]!, invoiceId: `${ns.tag}inv-${op.invoice}`, occurredAt: at(op.t), reason: 'billing error' };
    case 'adjust':
      return {
        type: 'adjust',
        userId: users[op.user]!,
        amountMicroUsd: op.amount.toString(),
        reason: op.amount < 0n ? 'chargeback' : 'goodwill credit',
        idempotencyKey: `${ns.tag}adj-${op.key}`,
        occurredAt: at(op.t),
      };
  }
}

function reencodeTime(text: string, variant: Encoding['time']): string {
  if (variant === 0) return text;
  if (variant === 1) return text.replace(/Z$/, '+00:00');
  if (variant === 3) return text.replace(/\.000000Z$/, 'Z').replace(/Z$/, 'z');
  // variant 2: the same instant one hour east of UTC (the generator's times are 10:xx, so no day change).
  const match = /^(.*T)(\d\d)(:.*)Z$/.exec(text)!;
  return `${match[1]}${String(Number(match[2]) + 1).padStart(2, '0')}${match[3]}+01:00`;
}

function reencode(wire: Wire, e: Encoding): Wire {
  const out: Wire = { ...wire };
  const amount = out.amountMicroUsd;
  if (e.amountAsNumber && typeof amount === 'string' && Number.isSafeInteger(Number(amount))) out.amountMicroUsd = Number(amount);
  if (typeof out.occurredAt === 'string') out.occurredAt = reencodeTime(out.occurredAt, e.time);
  if (e.upperHex && typeof out.txHash === 'string') out.txHash = `0x${out.txHash.slice(2).toUpperCase()}`;
  if (e.upperHex && typeof out.wallet === 'string') out.wallet = `0X${out.wallet.slice(2)}`;
  if (e.explicitDefaults) {
    if (out.type === 'charge') {
      out.allowPartial ??= false;
      out.pending ??= false;
    }
    if (out.type === 'settleCharge') out.reference ??= null;
    if (out.type === 'openInvoice') out.description ??= null;
    if (out.type === 'deposit' && typeof out.logIndex === 'string') out.logIndex = Number(out.logIndex);
  }
  return e.reverseKeys ? Object.fromEntries(Object.entries(out).reverse()) : out;
}

function mutate(wire: Wire, field: 0 | 1 | 2, users: string[]): Wire {
  const out: Wire = { ...wire };
  if (field === 0 && typeof out.amountMicroUsd === 'string') {
    const amount = BigInt(out.amountMicroUsd);
    const changed = amount > 0n ? amount + 1n : amount - 1n;
    out.amountMicroUsd = changed > INT64_MAX || changed < -INT64_MAX ? '1' : changed.toString();
    return out;
  }
  if (field === 1 || typeof out.userId !== 'string') {
    out.occurredAt = '2026-03-02T00:00:00.000000Z';
    return out;
  }
  const index = users.indexOf(out.userId);
  out.userId = users[(index + 1) % users.length]!;
  return out;
}

/** The invalid variants; each must be refused by the parser (INVALID_COMMAND). */
function invalidText(variant: number, base: Wire): string {
  const json = JSON.stringify(base);
  switch (variant % INVALID_VARIANTS) {
    case 0:
      return json.slice(0, Math.max(1, json.length - 7));
    case 1:
      return 'not json at all';
    case 2:
      return JSON.stringify({ ...base, amountMicroUsd: '__FLOAT__' }).replace('"__FLOAT__"', '1500000.5');
    case 3:
      return JSON.stringify({ ...base, amountMicroUsd: '__EXP__' }).replace('"__EXP__"', '1e6');
    case 4: {
      const { occurredAt: _drop, ...rest } = base;
      return JSON.stringify(rest);
    }
    case 5:
      return JSON.stringify({ ...base, amountMicroUsd: '0' });
    case 6:
      return JSON.stringify({ ...base, memo: 'unknown field' });
    case 7:
      return json.replace(/^\{/, '{"occurredAt":"2026-03-01T10:00:00Z",');
    case 8:
      return JSON.stringify({ ...base, type: 'refund' });
    default:
      return JSON.stringify({ ...base, occurredAt: '2026-02-30T10:00:00Z' });
  }
}

const FALLBACK_INVALID_BASE: Wire = {
  type: 'adjust',
  userId: 'nobody',
  amountMicroUsd: '5',
  reason: 'x',
  idempotencyKey: 'k',
  occurredAt: '2026-03-01T10:00:00Z',
};

/** Turns a scenario's operations into wire texts, with keys and user IDs under `ns`. */
export function materialise(ops: readonly Op[], ns: Namespace): Materialised {
  const users = userIds(ns);
  const sent: Wire[] = [];
  const texts: string[] = [];
  const intents: ('valid' | 'invalid')[] = [];
  for (const op of ops) {
    if (op.kind === 'resend' || op.kind === 'mutate') {
      if (sent.length === 0) continue;
      const earlier = sent[op.pick % sent.length]!;
      const wire = op.kind === 'resend' ? reencode(earlier, op.encoding) : mutate(earlier, op.field, users);
      texts.push(JSON.stringify(wire));
      intents.push('valid');
      if (op.kind === 'mutate') sent.push(wire);
      continue;
    }
    if (op.kind === 'invalid') {
      const base = sent.length === 0 ? FALLBACK_INVALID_BASE : sent[op.pick % sent.length]!;
      // Settle/fail have no amount: the amount variants go on a copy that has one.
      const withAmount = 'amountMicroUsd' in base ? base : FALLBACK_INVALID_BASE;
      texts.push(invalidText(op.variant, op.variant >= 2 && op.variant <= 5 ? withAmount : base));
      intents.push('invalid');
      continue;
    }
    const wire = freshWire(op, ns);
    if ((op.kind === 'settle' || op.kind === 'fail') && op.charged !== null) {
      // Prefer the invoices of earlier pending charges (those can be settled or failed).
      const pendingCharges = sent.filter((earlier) => earlier.type === 'charge' && earlier.pending === true);
      const charges = pendingCharges.length > 0 ? pendingCharges : sent.filter((earlier) => earlier.type === 'charge');
      const charge = charges[op.charged % charges.length];
      if (charge) {
        wire.invoiceId = charge.invoiceId;
        if (op.byOwner) wire.userId = charge.userId;
      }
    }
    if (op.kind === 'voidInvoice' && op.opened !== null) {
      const invoices = sent.filter((earlier) => earlier.type === 'openInvoice');
      const invoice = invoices[op.opened % invoices.length];
      if (invoice) {
        wire.invoiceId = invoice.invoiceId;
        if (op.byOwner) wire.userId = invoice.userId;
      }
    }
    sent.push(wire);
    texts.push(JSON.stringify(wire));
    intents.push('valid');
  }
  return { texts, intents };
}
