import { int64, READ_JSON, Row } from './codec';
import { SpannerConnection } from './connection';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type SnapshotReader = { run(query: any): Promise<any> };

/**
 * Queries the audit makes at its read timestamp, through its one snapshot: counts of whole
 * tables, and the streams whose events have no account row.
 */

/** Rows of a table; of one generation when given (a view's table). */
export async function countTableRows(snapshot: SnapshotReader, connection: SpannerConnection, table: string, generation?: number): Promise<number> {
  const [rows] =
    generation === undefined
      ? await snapshot.run({ sql: `SELECT COUNT(*) AS N FROM ${table}`, ...READ_JSON, ...connection.queryOptions })
      : await snapshot.run({ sql: `SELECT COUNT(*) AS N FROM ${table} WHERE Generation = @generation`, params: { generation: String(generation) }, types: { generation: 'int64' }, ...READ_JSON, ...connection.queryOptions });
  const row = (rows as Row[])[0];
  return Number(int64(row?.N ?? 0));
}

/** Up to `limit` streams with events but no Accounts row, with their event counts, by stream ID. */
export async function streamsWithoutAccount(snapshot: SnapshotReader, connection: SpannerConnection, limit: number): Promise<{ streamId: string; events: string }[]> {
  const [rows] = await snapshot.run({
    sql: `SELECT e.StreamId, COUNT(*) AS N FROM Events e
           WHERE NOT EXISTS (SELECT 1 FROM Accounts a WHERE CONCAT('account-', a.UserId) = e.StreamId)
           GROUP BY e.StreamId ORDER BY e.StreamId LIMIT @limit`,
    params: { limit: String(limit) },
    types: { limit: 'int64' },
    ...READ_JSON,
    ...connection.queryOptions,
  });
  return (rows as Row[]).map((row) => ({ streamId: String(row.StreamId), events: int64(row.N).toString() }));
}
