import { emptyAccount, evolveAccount } from '../core/account';
import { DamagedHistoryError } from '../core/damaged-history';
import { accountStreamId } from '../core/ids';
import { businessTimeMicros, EVENT_READ_COLUMNS, int64, Row, tryEventFromRow } from './codec';
import { SpannerConnection } from './connection';
import { runReadWrite } from './transaction';

/**
 * The upgrade to dated invoice payments (schema version 6): every account gets its latest
 * credit time, folded from its stream by the same fold the write side uses
 * (core/account.ts), so the audit finds the row equal to the fold. Events are never
 * rewritten: only the new Accounts column is set.
 *
 * Resumable and idempotent: an account is done once its column is set. A command on an
 * account without it is refused (latestCreditOf), so decisions never move a stream under
 * the walk; the write still checks that the stream did not move (an import could).
 */
const ACCOUNTS_PER_ROUND = 100;

export interface CreditBackfillReport {
  readonly accounts: number;
}

export async function backfillLatestCredits(connection: SpannerConnection, report: (line: string) => void = () => undefined): Promise<CreditBackfillReport> {
  let accounts = 0;
  let skipped = new Set<string>();
  for (;;) {
    const [rows] = await connection.database.run({
      sql: `SELECT UserId FROM Accounts WHERE LatestCreditAtMicros IS NULL ORDER BY UserId LIMIT ${ACCOUNTS_PER_ROUND + skipped.size}`,
      json: true,
      ...connection.queryOptions,
    });
    const users = (rows as { UserId: string }[]).map((row) => row.UserId).filter((userId) => !skipped.has(userId));
    if (users.length === 0) return { accounts };
    for (const userId of users) {
      if (await backfillAccount(connection, userId)) accounts++;
      else skipped.add(userId);
    }
    // A stream that moved under the walk is walked again in the next round.
    if (users.every((userId) => skipped.has(userId))) skipped = new Set();
    report(`dated the latest credit of ${accounts} account(s)`);
  }
}

/** Sets one account's latest credit time; false when its stream moved meanwhile (try again). */
async function backfillAccount(connection: SpannerConnection, userId: string): Promise<boolean> {
  const streamId = accountStreamId(userId);
  const [rows] = await connection.database.run({
    sql: `SELECT ${EVENT_READ_COLUMNS.join(', ')} FROM Events@{FORCE_INDEX=EventsByStream} WHERE StreamId = @streamId ORDER BY StreamVersion`,
    params: { streamId },
    json: true,
    jsonOptions: { wrapNumbers: true },
    ...connection.queryOptions,
  });
  let account = emptyAccount(userId);
  for (const row of rows as unknown as Row[]) {
    const read = tryEventFromRow(row);
    if (!read.ok) throw new DamagedHistoryError(`stream ${streamId}`, `event ${read.eventId} at version ${read.streamVersion} does not parse (${read.reason})`, read.eventId);
    account = evolveAccount(account, read.event);
  }
  const { value } = await runReadWrite(connection, async (tx) => {
    const [found] = await tx.read('Accounts', { keys: [userId], columns: ['Version'], json: true, jsonOptions: { wrapNumbers: true }, ...connection.queryOptions });
    const stored = (found as unknown as Row[])[0];
    if (!stored || int64(stored.Version) !== BigInt(account.version)) return false;
    tx.update('Accounts', [{ UserId: userId, LatestCreditAtMicros: businessTimeMicros(account.latestCreditAt!) }]);
    return true;
  });
  return value;
}
