import { withSnapshot } from '../spanner/snapshot';
import { PreciseDate } from '@google-cloud/precise-date';
import type { Snapshot } from '@google-cloud/spanner';
import type { InboxOffset } from '../core/store';
import { int64, Row, smallInt } from '../spanner/codec';
import { SpannerConnection } from '../spanner/connection';
import { deleteKeyPrefix } from '../spanner/range-delete';
import { runReadWrite } from '../spanner/transaction';

/**
 * Operator access to the Kafka inbox: list it, and reset a partition's position (after a
 * topic was recreated on purpose, the consumer refuses the new log until this is done).
 */
export interface InboxRow extends InboxOffset {
  /** Outcome rows of the partition not yet sent to the outcomes topic. */
  readonly unsentOutcomes: number;
}

/** The inbox rows (of one group or topic), read strongly, or at `readTimestamp` (an export's cut). */
export async function listInbox(connection: SpannerConnection, filter: { group?: string; topic?: string } = {}, readTimestamp?: string): Promise<InboxRow[]> {
  return withSnapshot(connection, readTimestamp ? { readTimestamp: new PreciseDate(readTimestamp) } : { strong: true }, async (snapshot) => {
    return await queryInbox(snapshot, connection, filter);
  });
}

async function queryInbox(reader: Pick<Snapshot, 'run'>, connection: SpannerConnection, filter: { group?: string; topic?: string }): Promise<InboxRow[]> {
  const [rows] = await reader.run({
    sql: `SELECT i.ConsumerGroup, i.Topic, i.KafkaPartition, i.NextOffset, i.LastMessageOffset, i.LastMessageDigest,
            (SELECT COUNT(*) FROM KafkaOutcomes o WHERE o.ConsumerGroup = i.ConsumerGroup AND o.Topic = i.Topic AND o.KafkaPartition = i.KafkaPartition) AS Unsent
          FROM KafkaInbox i
          WHERE (@group IS NULL OR i.ConsumerGroup = @group) AND (@topic IS NULL OR i.Topic = @topic)
          ORDER BY i.ConsumerGroup, i.Topic, i.KafkaPartition`,
    params: { group: filter.group ?? null, topic: filter.topic ?? null },
    types: { group: 'string', topic: 'string' },
    json: true,
    jsonOptions: { wrapNumbers: true },
    ...connection.queryOptions,
  });
  return (rows as unknown as Row[]).map((row) => ({
    group: String(row.ConsumerGroup),
    topic: String(row.Topic),
    partition: smallInt(row.KafkaPartition),
    nextOffset: int64(row.NextOffset).toString(),
    ...(row.LastMessageOffset === null || row.LastMessageDigest === null
      ? {}
      : { lastMessage: { offset: int64(row.LastMessageOffset).toString(), digest: String(row.LastMessageDigest) } }),
    unsentOutcomes: smallInt(row.Unsent),
  }));
}

/**
 * Deletes the inbox rows of a group's topic (one partition, or all), with their unsent
 * outcomes (interleaved, ON DELETE CASCADE). The next consumer of that group then applies
 * those partitions from their first offset. Returns the rows that were there.
 */
export async function resetInbox(connection: SpannerConnection, group: string, topic: string, partition?: number): Promise<InboxRow[]> {
  const before = (await listInbox(connection, { group, topic })).filter((row) => partition === undefined || row.partition === partition);
  await runReadWrite(connection, async (tx) => {
    deleteKeyPrefix(tx, 'KafkaInbox', partition === undefined ? [group, topic] : [group, topic, String(partition)]);
  });
  return before;
}
