import { EVENT_SCHEMA_VERSION, NewEvent } from '../../ledger/core/events';
import { sha256Hex } from '../../ledger/core/canonical';
import { accountStreamId, eventIds } from '../../ledger/core/ids';

/** A valid TokenDeposited event for contract tests: (userId, n) makes the natural key unique. */
export function depositEvent(userId: string, n: number, amountMicroUsd = '1000000', occurredAt = '2026-01-01T00:00:00.000000Z'): NewEvent {
  const txHash = `0x${sha256Hex(`${userId}/${n}`)}`;
  return {
    type: 'TokenDeposited',
    eventId: eventIds.deposit('1', txHash, '0'),
    streamId: accountStreamId(userId),
    occurredAt,
    schemaVersion: EVENT_SCHEMA_VERSION.TokenDeposited,
    payload: {
      userId,
      source: 'ethereum',
      chainId: '1',
      txHash,
      logIndex: '0',
      blockNumber: String(n),
      wallet: `0x${'ab'.repeat(20)}`,
      tokenValue: '100000000',
      amountMicroUsd,
      occurredAt,
    },
  };
}

/** A valid BalanceAdjusted event keyed by `key`. */
export function adjustEvent(userId: string, key: string, amountMicroUsd = '5000000', occurredAt = '2026-01-02T00:00:00.000000Z'): NewEvent {
  return {
    type: 'BalanceAdjusted',
    eventId: eventIds.adjust(key),
    streamId: accountStreamId(userId),
    occurredAt,
    schemaVersion: EVENT_SCHEMA_VERSION.BalanceAdjusted,
    payload: { userId, amountMicroUsd, reason: 'test', idempotencyKey: key, occurredAt },
  };
}

/** A unique suffix for user IDs, so tests sharing a database never share accounts. */
let counter = 0;
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${counter}-${Math.floor(Math.random() * 1e9).toString(36)}`;
}
