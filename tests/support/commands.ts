import { sha256Hex } from '../../ledger/core/canonical';

/** Wire-format command builders for integration tests (JSON objects as a client would send). */
export function depositWire(userId: string, n: number, amountMicroUsd: string | number = '1000000', extra: Record<string, unknown> = {}) {
  return {
    type: 'deposit',
    userId,
    source: n % 2 === 0 ? 'ethereum' : 'zksync',
    chainId: n % 2 === 0 ? 1 : 324,
    txHash: `0x${sha256Hex(`${userId}/${n}`)}`,
    logIndex: n % 3,
    blockNumber: 1000 + n,
    wallet: `0x${'c0'.repeat(20)}`,
    tokenValue: '250000000',
    amountMicroUsd,
    occurredAt: `2026-03-01T10:00:${String(n % 60).padStart(2, '0')}.123456Z`,
    ...extra,
  };
}

export function chargeWire(userId: string, invoiceId: string, amountMicroUsd: string, extra: Record<string, unknown> = {}) {
  return { type: 'charge', userId, invoiceId, amountMicroUsd, occurredAt: '2026-03-02T00:00:00Z', ...extra };
}

export function settleWire(userId: string, invoiceId: string, extra: Record<string, unknown> = {}) {
  return { type: 'settleCharge', userId, invoiceId, occurredAt: '2026-03-03T00:00:00Z', ...extra };
}

export function failWire(userId: string, invoiceId: string, reason = 'card declined') {
  return { type: 'failCharge', userId, invoiceId, occurredAt: '2026-03-03T00:00:00Z', reason };
}

export function adjustWire(userId: string, idempotencyKey: string, amountMicroUsd: string) {
  return { type: 'adjust', userId, amountMicroUsd, reason: 'operator correction', idempotencyKey, occurredAt: '2026-03-04T00:00:00Z' };
}

export function jsonLines(commands: readonly unknown[]): string {
  return commands.map((command) => (typeof command === 'string' ? command : JSON.stringify(command))).join('\n') + '\n';
}
