import { emptyAccount, evolveAccount } from '../core/account';
import { DamagedHistoryError } from '../core/damaged-history';
import { accountStreamId } from '../core/ids';
import { businessTimeMicros, int64, Row } from './codec';
import { SpannerConnection } from './connection';
import { readStreamEvents } from './store';
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
/** Walks of one stream before a version that keeps disagreeing with its account is called damage. */
const ATTEMPTS_PER_ACCOUNT = 3;

export interface CreditBackfillReport {
  readonly accounts: number;
}

export async function backfillLatestCredits(connection: SpannerConnection, report: (line: string) => void = () => undefined): Promise<CreditBackfillReport> {
  let accounts = 0;
  for (;;) {
    const [rows] = await connection.database.run({
      sql: `SELECT UserId FROM Accounts WHERE LatestCreditAtMicros IS NULL LIMIT ${ACCOUNTS_PER_ROUND}`,
      json: true,
      ...connection.queryOptions,
    });
    const users = (rows as { UserId: string }[]).map((row) => row.UserId);
    if (users.length === 0) return { accounts };
    for (const userId of users) await backfillAccount(connection, userId);
    accounts += users.length;
    report(`dated the latest credit of ${accounts} account(s)`);
  }
}

/**
 * Sets one account's latest credit time. A stream that moved under the walk (an import) is
 * walked again; an account that keeps disagreeing with its stream is damage, not a race.
 */
async function backfillAccount(connection: SpannerConnection, userId: string): Promise<void> {
  const streamId = accountStreamId(userId);
  for (let attempt = 1; ; attempt++) {
    const account = (await readStreamEvents(connection, streamId)).reduce(evolveAccount, emptyAccount(userId));
    const { value: storedVersion } = await runReadWrite(connection, async (tx) => {
      const [found] = await tx.read('Accounts', { keys: [userId], columns: ['Version'], json: true, jsonOptions: { wrapNumbers: true }, ...connection.queryOptions });
      const stored = (found as unknown as Row[])[0];
      const version = stored ? int64(stored.Version) : undefined;
      if (version === BigInt(account.version)) tx.update('Accounts', [{ UserId: userId, LatestCreditAtMicros: businessTimeMicros(account.latestCreditAt!) }]);
      return version;
    });
    if (storedVersion === BigInt(account.version) || storedVersion === undefined) return;
    if (attempt === ATTEMPTS_PER_ACCOUNT) throw new DamagedHistoryError(`the Accounts row of ${userId}`, `it is at version ${storedVersion} but its stream has ${account.version} events`);
  }
}
