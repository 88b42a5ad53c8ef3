import { PreciseDate } from '@google-cloud/precise-date';
import { StoredEvent } from '../../ledger/core/events';
import { EVENT_COLUMNS, eventFromRow, Row } from '../../ledger/spanner/codec';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { EVENT_ORDER_SHARDS } from '../../ledger/spanner/schema';
import { READ_JSON } from './tables';

/**
 * The whole log at a pinned read timestamp, in the global order (CommittedAt, StreamId,
 * StreamVersion: the same order and index as LedgerStore.readAll), as ONE streaming query
 * yielded in chunks. A rebuild reads every event once; paging with readAll costs one ordered
 * scan of the whole index per page on the emulator (O(n²) for a full rebuild: 6.7 s of the
 * 11 s for 20,000 events), a single stream costs one. Memory stays bounded: the gRPC stream
 * is paused by backpressure while the consumer applies a chunk.
 */
export async function* streamLogAt(connection: SpannerConnection, readTimestamp: string, chunkSize: number): AsyncGenerator<StoredEvent[]> {
  const [snapshot] = await connection.database.getSnapshot({ readTimestamp: new PreciseDate(readTimestamp) });
  try {
    const stream = snapshot.runStream({
      sql: `SELECT ${EVENT_COLUMNS.join(', ')} FROM Events@{FORCE_INDEX=EventsByCommit}
            WHERE Shard >= 0 AND Shard < ${EVENT_ORDER_SHARDS}
            ORDER BY CommittedAt, StreamId, StreamVersion`,
      ...READ_JSON,
      ...connection.queryOptions,
    });
    let chunk: StoredEvent[] = [];
    for await (const row of stream as AsyncIterable<Row | undefined>) {
      // The client can emit an empty end-of-stream item when the consumer paused it.
      if (row === undefined || row === null) continue;
      chunk.push(eventFromRow(row));
      if (chunk.length >= chunkSize) {
        yield chunk;
        chunk = [];
      }
    }
    if (chunk.length > 0) yield chunk;
  } finally {
    snapshot.end();
  }
}
