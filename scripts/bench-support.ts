import { readFileSync } from 'node:fs';
import { sha256Hex } from '../ledger/core/canonical';
import { connect, SpannerConnection, settingsFromEnv } from '../ledger/spanner/connection';
import { migrate } from '../ledger/spanner/migrate';
import { Row } from '../ledger/spanner/codec';
import { runReadWrite } from '../ledger/spanner/transaction';
import { MIGRATIONS } from '../app/schema';

/** Shared pieces of the benchmarks: fresh databases and realistic deposit commands. */
let databases = 0;

export async function freshBenchDatabase(emulatorHost: string, label: string): Promise<SpannerConnection> {
  databases++;
  // Only the call deadline comes from the environment: a large log can make the emulator slow to commit.
  const env = { SPANLEDGER_SPANNER_CALL_DEADLINE_MS: process.env.SPANLEDGER_SPANNER_CALL_DEADLINE_MS };
  const connection = connect(settingsFromEnv(env, { emulatorHost, databaseId: `bench-${label}-${databases}-${process.pid}`.slice(0, 30) }));
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

/**
 * The `n`-th command of a billing mix, so that every write-side table has rows: each user
 * cycles through a deposit, a pending charge, its settle, an invoice, and a deposit that
 * pays it (about 1.6 events per command, with the bonus). Business time rises with `n`.
 */
export function billingLine(n: number, users = 500, runTag = 'bench'): string {
  const userId = `user-${n % users}`;
  const round = Math.floor(n / users);
  const cycle = Math.floor(round / 5);
  const occurredAt = new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString();
  switch (round % 5) {
    case 1:
      return JSON.stringify({ type: 'charge', userId, invoiceId: `${runTag}-charge-${userId}-${cycle}`, amountMicroUsd: '250000', pending: true, occurredAt });
    case 2:
      return JSON.stringify({ type: 'settleCharge', userId, invoiceId: `${runTag}-charge-${userId}-${cycle}`, reference: `psp-${n}`, occurredAt });
    case 3:
      return JSON.stringify({ type: 'openInvoice', userId, invoiceId: `${runTag}-invoice-${userId}-${cycle}`, amountMicroUsd: '1000000', occurredAt });
    default:
      return depositLine(n, users, runTag);
  }
}

/** Inserts rows [from, to) of `table`, `perCommit` to a read-write transaction: plain mutations, no reads (the references). */
export async function insertRowsInCommits(connection: SpannerConnection, table: string, from: number, to: number, perCommit: number, rowOf: (n: number) => Row): Promise<void> {
  for (let offset = from; offset < to; offset += perCommit) {
    const count = Math.min(perCommit, to - offset);
    await runReadWrite(connection, async (tx) => {
      tx.insert(table, Array.from({ length: count }, (_, i) => rowOf(offset + i)));
    });
  }
}

/** A 32-hex-digit key for row `n`, scattered over the key space as event IDs are. */
export function scatteredId(n: number): string {
  return (BigInt(n) * 0x9e3779b97f4a7c15n).toString(16).padStart(32, '0').slice(-32);
}

export function seconds(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

export function round(value: number, digits = 0): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
export function processCpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}
