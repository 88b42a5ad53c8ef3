import type { Migration } from '../spanner/schema';

/**
 * Tables of the Kafka relays beyond the inbox (which is ledger version 2): versions 20-29.
 *
 * KafkaPublisherCheckpoints: the last event (a GlobalPosition) that the publisher named
 * `Publisher` has had acknowledged by the broker on `Topic`. Written only after the ack, so
 * a crash re-publishes at most the unacknowledged tail (at-least-once; consumers dedupe by
 * the `event-id` header). CommittedAt keeps Spanner's nanoseconds (TIMESTAMP is exact).
 */
export const KAFKA_MIGRATIONS: readonly Migration[] = [
  {
    version: 20,
    description: 'Kafka publisher checkpoints: last global position acknowledged by the broker',
    statements: [
      `CREATE TABLE KafkaPublisherCheckpoints (
        Publisher STRING(256) NOT NULL,
        Topic STRING(256) NOT NULL,
        CommittedAt TIMESTAMP NOT NULL,
        StreamId STRING(300) NOT NULL,
        StreamVersion INT64 NOT NULL,
        PublishedEvents INT64 NOT NULL,
        UpdatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
      ) PRIMARY KEY (Publisher, Topic)`,
    ],
  },
  {
    version: 21,
    description: 'Kafka inbox: the last applied message of each partition, to recognise the log on assignment',
    statements: [
      'ALTER TABLE KafkaInbox ADD COLUMN LastMessageOffset INT64',
      'ALTER TABLE KafkaInbox ADD COLUMN LastMessageDigest STRING(64)',
    ],
  },
  {
    version: 22,
    description: 'Kafka outcomes outbox: the outcome of each consumed message until it is on the outcomes topic',
    // Interleaved in the inbox row of its partition: written in the same transaction, read
    // and dropped with it, and `inbox reset` (a delete of the parent) takes them along.
    statements: [
      `CREATE TABLE KafkaOutcomes (
        ConsumerGroup STRING(256) NOT NULL,
        Topic STRING(256) NOT NULL,
        KafkaPartition INT64 NOT NULL,
        KafkaOffset INT64 NOT NULL,
        MessageKey BYTES(MAX),
        Outcome STRING(MAX) NOT NULL,
        CreatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
      ) PRIMARY KEY (ConsumerGroup, Topic, KafkaPartition, KafkaOffset),
        INTERLEAVE IN PARENT KafkaInbox ON DELETE CASCADE`,
    ],
  },
  {
    version: 23,
    description: 'Kafka publisher: a lease checked before every send, and the partition ends it wrote',
    statements: [
      'ALTER TABLE KafkaPublisherCheckpoints ADD COLUMN LeaseOwner STRING(128)',
      'ALTER TABLE KafkaPublisherCheckpoints ADD COLUMN LeaseExpiresAt TIMESTAMP',
      'ALTER TABLE KafkaPublisherCheckpoints ADD COLUMN PartitionEnds STRING(MAX)',
    ],
  },
];
