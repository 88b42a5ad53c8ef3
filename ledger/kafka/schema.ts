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
];
