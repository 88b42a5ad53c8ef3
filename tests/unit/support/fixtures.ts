import { Command, CommandOf, parseCommandText } from '../../../ledger/core/commands';

/**
 * Builders for commands in their wire form (what a client sends) and their parsed,
 * normalised form (what the decider sees). Every builder takes overrides; an override whose
 * value is `undefined` removes the field (JSON.stringify drops it), which is handy for
 * "missing field" cases.
 */

export type Wire = Record<string, unknown>;

export const T0 = '2026-01-02T03:04:05.000000Z';
export const T1 = '2026-01-02T03:05:00.000000Z';

/** A value written into the JSON text verbatim: numbers JSON.stringify cannot express (1e3, 5.0, 2^53+1). */
export class RawJson {
  constructor(readonly text: string) {}
}
export const raw = (text: string): RawJson => new RawJson(text);

/** JSON.stringify, except that `raw(...)` values are spliced in as written. */
export function toJsonText(value: unknown): string {
  const raws: string[] = [];
  const json = JSON.stringify(value, (_key, member: unknown) =>
    member instanceof RawJson ? `\u0000RAW${raws.push(member.text) - 1}\u0000` : member,
  );
  return json.replace(/"\\u0000RAW(\d+)\\u0000"/g, (_match, index: string) => raws[Number(index)]!);
}

export const TX_HASH = `0x${'ab'.repeat(32)}`;
export const WALLET = `0x${'cd'.repeat(20)}`;

export function depositWire(overrides: Wire = {}): Wire {
  return {
    type: 'deposit',
    userId: 'user-1',
    source: 'ethereum',
    chainId: '1',
    txHash: TX_HASH,
    logIndex: '0',
    blockNumber: '19000000',
    wallet: WALLET,
    tokenValue: '5000000000000000000',
    amountMicroUsd: '5000000',
    occurredAt: T0,
    ...overrides,
  };
}

export function chargeWire(overrides: Wire = {}): Wire {
  return { type: 'charge', userId: 'user-1', invoiceId: 'inv-1', amountMicroUsd: '1000000', occurredAt: T0, ...overrides };
}

export function settleWire(overrides: Wire = {}): Wire {
  return { type: 'settleCharge', userId: 'user-1', invoiceId: 'inv-1', occurredAt: T1, ...overrides };
}

export function failWire(overrides: Wire = {}): Wire {
  return { type: 'failCharge', userId: 'user-1', invoiceId: 'inv-1', occurredAt: T1, reason: 'card declined', ...overrides };
}

export function adjustWire(overrides: Wire = {}): Wire {
  return {
    type: 'adjust',
    userId: 'user-1',
    amountMicroUsd: '1000000',
    reason: 'goodwill credit',
    idempotencyKey: 'adj-1',
    occurredAt: T0,
    ...overrides,
  };
}

export function openInvoiceWire(overrides: Wire = {}): Wire {
  return { type: 'openInvoice', userId: 'user-1', invoiceId: 'in-1', amountMicroUsd: '30000000', occurredAt: T0, ...overrides };
}

export function voidInvoiceWire(overrides: Wire = {}): Wire {
  return { type: 'voidInvoice', userId: 'user-1', invoiceId: 'in-1', occurredAt: T1, reason: 'billing error', ...overrides };
}

/** Parses a wire command through the real text path (strict JSON + schema); throws when it is invalid. */
export function parseWire<T extends Command['type']>(wire: Wire): CommandOf<T> {
  const result = parseCommandText(toJsonText(wire));
  if (!result.ok) throw new Error(`fixture is not a valid command: ${result.message}\n${toJsonText(wire)}`);
  return result.command as CommandOf<T>;
}

export const depositCommand = (overrides: Wire = {}) => parseWire<'deposit'>(depositWire(overrides));
export const chargeCommand = (overrides: Wire = {}) => parseWire<'charge'>(chargeWire(overrides));
export const settleCommand = (overrides: Wire = {}) => parseWire<'settleCharge'>(settleWire(overrides));
export const failCommand = (overrides: Wire = {}) => parseWire<'failCharge'>(failWire(overrides));
export const adjustCommand = (overrides: Wire = {}) => parseWire<'adjust'>(adjustWire(overrides));
export const openInvoiceCommand = (overrides: Wire = {}) => parseWire<'openInvoice'>(openInvoiceWire(overrides));
export const voidInvoiceCommand = (overrides: Wire = {}) => parseWire<'voidInvoice'>(voidInvoiceWire(overrides));

/** A txHash that differs per `n`, for deposits that must not share a natural key. */
export function txHash(n: number): string {
  return `0x${n.toString(16).padStart(64, '0')}`;
}
