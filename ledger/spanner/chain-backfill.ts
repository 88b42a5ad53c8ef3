import { GENESIS, chainHash } from '../core/chain';
import { accountStreamId } from '../core/ids';
import { int64, Row, smallInt } from './codec';
import { SpannerConnection } from './connection';
import { runReadWrite } from './transaction';

/**
 * The upgrade to hash-chained streams (schema version 4): events written before it get
 * their chain hashes, and their accounts a chain head, computed from what is stored. The
 * events' content is never rewritten: only the new ChainHash column is set.
 *
 * Resumable and idempotent: an account is done once its head is set, and a stream is
 * walked again from its first event, so a run stopped half-way is finished by the next.
 * Writers cannot append to an account without a head (chainHeadOf refuses), so nothing
 * moves under the walk; the last transaction still checks that the stream did not.
 */
const ACCOUNTS_PER_ROUND = 100;
const EVENTS_PER_TRANSACTION = 2_000;

export interface BackfillReport {
  readonly accounts: number;
  readonly events: number;
}

export async function backfillChains(connection: SpannerConnection, report: (line: string) => void = () => undefined): Promise<BackfillReport> {
  let accounts = 0;
  let events = 0;
  for (;;) {
    const [rows] = await connection.database.run({
      sql: `SELECT UserId FROM Accounts WHERE ChainHead IS NULL AND Version > 0 LIMIT ${ACCOUNTS_PER_ROUND}`,
      json: true,
      ...connection.queryOptions,
    });
    const users = (rows as { UserId: string }[]).map((row) => row.UserId);
    if (users.length === 0) break;
    for (const userId of users) {
      events += await backfillStream(connection, userId);
      accounts++;
    }
    report(`chained ${accounts} account(s), ${events} event(s)`);
  }
  return { accounts, events };
}

async function backfillStream(connection: SpannerConnection, userId: string): Promise<number> {
  const streamId = accountStreamId(userId);
  const [rows] = await connection.database.run({
    sql: 'SELECT EventId, StreamVersion, ContentDigest FROM Events@{FORCE_INDEX=EventsByStream} WHERE StreamId = @streamId ORDER BY StreamVersion',
    params: { streamId },
    json: true,
    jsonOptions: { wrapNumbers: true },
    ...connection.queryOptions,
  });
  const links = (rows as unknown as Row[]).map((row) => ({ eventId: String(row.EventId), streamVersion: smallInt(row.StreamVersion), contentDigest: String(row.ContentDigest) }));
  let head = GENESIS;
  const hashed = links.map((link, index) => {
    if (link.streamVersion !== index + 1) throw new Error(`backfill: stream ${streamId} has version ${link.streamVersion} at position ${index + 1}: a gap in the stored log`);
    head = chainHash(head, link.contentDigest, link.streamVersion);
    return { EventId: link.eventId, ChainHash: head };
  });
  for (let start = 0; start < hashed.length; start += EVENTS_PER_TRANSACTION) {
    const slice = hashed.slice(start, start + EVENTS_PER_TRANSACTION);
    const last = start + slice.length >= hashed.length;
    await runReadWrite(connection, async (tx) => {
      tx.update('Events', slice);
      if (!last) return;
      const [accountRows] = await tx.read('Accounts', { keys: [userId], columns: ['Version'], json: true, jsonOptions: { wrapNumbers: true }, ...connection.queryOptions });
      const account = (accountRows as unknown as Row[])[0];
      const version = account ? int64(account.Version) : 0n;
      if (version !== BigInt(links.length)) throw new Error(`backfill: account ${userId} is at version ${version} but its stream has ${links.length} events`);
      tx.update('Accounts', [{ UserId: userId, ChainHead: head }]);
    });
  }
  return links.length;
}
