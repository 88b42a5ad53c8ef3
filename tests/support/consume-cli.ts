import { SpannerConnection } from '../../ledger/spanner/connection';
import { spawnSpanledger } from './cli';
import { kafkaBrokers } from './kafka';
import { cliEnv } from './spanner';

/** Group timings short enough for tests: a member that leaves is replaced within seconds. */
export const GROUP_FLAGS = ['--session-timeout-ms', '6000'];

/** Every account's balance, by user ID (µUSD as decimal strings). */
export async function balances(connection: SpannerConnection): Promise<Record<string, string>> {
  const [rows] = await connection.database.run({ sql: 'SELECT UserId, CAST(BalanceMicroUsd AS STRING) AS B FROM Accounts ORDER BY UserId', json: true });
  return Object.fromEntries((rows as { UserId: string; B: string }[]).map((row) => [row.UserId, row.B]));
}

/**
 * `spanledger consume --until-idle --json` as a child process (bonus off), SIGKILLed after
 * `timeoutMs`: its exit code (or 'timeout'), the summary line when it exited 0, and stderr.
 */
export async function consume(connection: SpannerConnection, topic: string, group: string, extra: { brokers?: string; flags?: string[]; timeoutMs?: number } = {}) {
  const env = cliEnv(connection, { KAFKA_BROKERS: extra.brokers ?? kafkaBrokers(), SPANLEDGER_BONUS_BPS: '0' });
  const child = spawnSpanledger(['consume', '--topic', topic, '--group', group, '--until-idle', '--json', ...GROUP_FLAGS, ...(extra.flags ?? [])], env);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([child.exited, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), extra.timeoutMs ?? 60_000)))]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    child.process.kill('SIGKILL');
    await child.exited;
    return { code: 'timeout' as const, summary: undefined, stderr: child.stderr() };
  }
  const lastLine = outcome.stdout.trim().split('\n').pop() ?? '';
  return { code: outcome.code, summary: outcome.code === 0 ? (JSON.parse(lastLine) as Record<string, number | string>) : undefined, stderr: outcome.stderr };
}
