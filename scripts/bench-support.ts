import { sha256Hex } from '../ledger/core/canonical';
import { connect, SpannerConnection, settingsFromEnv } from '../ledger/spanner/connection';
import { migrate } from '../ledger/spanner/migrate';
import { MIGRATIONS } from '../app/schema';

/** Shared pieces of the benchmarks: fresh databases and realistic deposit commands. */
let databases = 0;

export async function freshBenchDatabase(emulatorHost: string, label: string): Promise<SpannerConnection> {
  databases++;
  const connection = connect(settingsFromEnv({}, { emulatorHost, databaseId: `bench-${label}-${databases}-${process.pid}`.slice(0, 30) }));
  await migrate(connection, MIGRATIONS);
  return connection;
}

/** The `n`-th deposit command as a `submit` line; users spread over `users` accounts. */
export function depositLine(n: number, users = 500, runTag = "bench"): string {
  return JSON.stringify({
    type: 'deposit',
    userId: `user-${n % users}`,
    source: n % 2 === 0 ? 'ethereum' : 'zksync',
    chainId: n % 2 === 0 ? 1 : 324,
    txHash: `0x${sha256Hex(`${runTag}/${n}`)}`,
    logIndex: n % 4,
    blockNumber: 19_000_000 + n,
    wallet: `0x${sha256Hex(`wallet/${n % users}`).slice(0, 40)}`,
    tokenValue: String(100_000_000 + n),
    amountMicroUsd: String(1_000_000 + (n % 1000) * 10_000),
    occurredAt: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString(),
  });
}

export function seconds(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

export function round(value: number, digits = 0): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
