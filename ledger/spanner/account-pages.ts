import { Account } from '../core/account';
import { ACCOUNT_COLUMNS, accountFromRow, Row } from './codec';
import { SpannerConnection } from './connection';

export interface AccountPageQuery {
  /** Only user IDs that start with this (default: every user). */
  readonly prefix?: string;
  /** Only user IDs after this one, in Spanner's UTF-8 order (a page's cursor). */
  readonly after?: string | null;
  readonly limit: number;
}

/** Up to `limit` Accounts rows by user ID (Spanner's UTF-8 order), read strongly. */
export async function readAccountPage(connection: SpannerConnection, query: AccountPageQuery): Promise<Account[]> {
  const [rows] = await connection.database.run({
    sql: `SELECT ${ACCOUNT_COLUMNS.join(', ')} FROM Accounts
          WHERE STARTS_WITH(UserId, @prefix) AND (@after IS NULL OR UserId > @after)
          ORDER BY UserId LIMIT @limit`,
    params: { prefix: query.prefix ?? '', after: query.after ?? null, limit: String(query.limit) },
    types: { prefix: 'string', after: 'string', limit: 'int64' },
    json: true,
    jsonOptions: { wrapNumbers: true },
    ...connection.queryOptions,
  });
  return (rows as unknown as Row[]).map(accountFromRow);
}
