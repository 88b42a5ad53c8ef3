import { backfillChains } from './chain-backfill';
import { backfillLatestCredits } from './credit-backfill';
import type { SpannerConnection } from './connection';

/**
 * The ledger's part of the Spanner schema, as ordered migrations (versions 1-9; the
 * projections have 10-19, the Kafka relays 20-29, and app/schema.ts puts them together).
 * `spanledger db migrate` applies the ones a database has not seen yet (recorded in
 * SchemaMigrations), so it is safe to run again.
 *
 * Why it looks like this:
 * - Events is keyed by the deterministic event ID. A retried or replayed command can only
 *   find its own earlier row; the IDs are uniform hashes, so writes spread over all splits.
 * - EventsByStream (unique) makes a stream's version sequence gap- and duplicate-free and
 *   serves "read one stream" and "current stream version".
 * - EventsByCommit gives the global order (commit timestamp, stream, version). A plain index
 *   on CommittedAt would send every insert to the last split (monotonic key hot-spot), so it
 *   is prefixed with a small Shard (derived from the event ID); readers merge the shards.
 *   It stores the event columns, so a page of the log is one key-range read per shard,
 *   with no join back to the table.
 * - OccurredAt is business time (microseconds kept); CommittedAt is Spanner's commit
 *   timestamp, the only source of order. Money columns are INT64 micro-dollars; payloads
 *   are canonical JSON text (decimal strings for money), never FLOAT64.
 * - Accounts and Charges are the write-side state `decide` needs, updated in the same
 *   commit as the events they were folded from, so deciding reads O(1) rows.
 */

export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly statements: readonly string[];
  /**
   * A data step after the statements (resumable, idempotent): the migration is recorded
   * only once it finished, so an interrupted one is finished by the next `db migrate`.
   */
  readonly backfill?: (connection: SpannerConnection, report: (line: string) => void) => Promise<unknown>;
}

export const LEDGER_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'event log and write-side state',
    statements: [
      `CREATE TABLE Events (
        EventId STRING(32) NOT NULL,
        StreamId STRING(300) NOT NULL,
        StreamVersion INT64 NOT NULL,
        Shard INT64 NOT NULL,
        EventType STRING(64) NOT NULL,
        SchemaVersion INT64 NOT NULL,
        OccurredAt TIMESTAMP NOT NULL,
        Payload STRING(MAX) NOT NULL,
        ContentDigest STRING(64) NOT NULL,
        CommittedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
      ) PRIMARY KEY (EventId)`,
      `CREATE UNIQUE INDEX EventsByStream ON Events (StreamId, StreamVersion)`,
      `CREATE INDEX EventsByCommit ON Events (Shard, CommittedAt, StreamId, StreamVersion)
        STORING (EventType, SchemaVersion, OccurredAt, Payload, ContentDigest)`,
      `CREATE TABLE Accounts (
        UserId STRING(256) NOT NULL,
        Version INT64 NOT NULL,
        BalanceMicroUsd INT64 NOT NULL,
        DepositsMicroUsd INT64 NOT NULL,
        BonusesMicroUsd INT64 NOT NULL,
        ChargesMicroUsd INT64 NOT NULL,
        PendingMicroUsd INT64 NOT NULL,
        AdjustmentsMicroUsd INT64 NOT NULL,
        UpdatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
      ) PRIMARY KEY (UserId)`,
      `CREATE TABLE Charges (
        InvoiceId STRING(256) NOT NULL,
        UserId STRING(256) NOT NULL,
        ChargeEventId STRING(32) NOT NULL,
        ChargedMicroUsd INT64 NOT NULL,
        Status STRING(16) NOT NULL,
        UpdatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
      ) PRIMARY KEY (InvoiceId)`,
    ],
  },
  {
    version: 2,
    description: 'Kafka inbox: consumed offsets committed with the events they produced',
    statements: [
      `CREATE TABLE KafkaInbox (
        ConsumerGroup STRING(256) NOT NULL,
        Topic STRING(256) NOT NULL,
        KafkaPartition INT64 NOT NULL,
        NextOffset INT64 NOT NULL,
        UpdatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
      ) PRIMARY KEY (ConsumerGroup, Topic, KafkaPartition)`,
    ],
  },
  {
    version: 3,
    description: 'invoices paid from the token balance: Invoices, their open ones per user, the amount still due per account',
    // Invoices are interleaved in their account: a command reads its user's account and open
    // invoices from one split. OpenInvoicesByUser holds only open invoices (OpenSinceMicros
    // is NULL otherwise), oldest first: exactly the order they are paid in. A command reads
    // it only when the account says something is due (OpenInvoiceCount > 0).
    statements: [
      'ALTER TABLE Accounts ADD COLUMN OpenInvoicesMicroUsd INT64 NOT NULL DEFAULT (0)',
      'ALTER TABLE Accounts ADD COLUMN OpenInvoiceCount INT64 NOT NULL DEFAULT (0)',
      `CREATE TABLE Invoices (
        UserId STRING(256) NOT NULL,
        InvoiceId STRING(256) NOT NULL,
        OpenEventId STRING(32) NOT NULL,
        AmountMicroUsd INT64 NOT NULL,
        PaidMicroUsd INT64 NOT NULL,
        PaymentCount INT64 NOT NULL,
        Status STRING(8) NOT NULL,
        OpenedAtMicros INT64 NOT NULL,
        OpenSinceMicros INT64,
        UpdatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
      ) PRIMARY KEY (UserId, InvoiceId),
        INTERLEAVE IN PARENT Accounts ON DELETE NO ACTION`,
      `CREATE NULL_FILTERED INDEX OpenInvoicesByUser ON Invoices (UserId, OpenSinceMicros, InvoiceId)
        STORING (OpenEventId, AmountMicroUsd, PaidMicroUsd, PaymentCount, Status, OpenedAtMicros),
        INTERLEAVE IN Accounts`,
    ],
  },
  {
    version: 4,
    description: 'hash-chained streams: a chain hash on every event, the head beside every account',
    // Stored in EventsByCommit too, so the log reader (export, publish, audit) has it.
    statements: [
      'ALTER TABLE Events ADD COLUMN ChainHash STRING(64)',
      'ALTER INDEX EventsByCommit ADD STORED COLUMN ChainHash',
      'ALTER TABLE Accounts ADD COLUMN ChainHead STRING(64)',
    ],
    backfill: backfillChains,
  },
  {
    version: 5,
    description: 'commit markers: a retry after a lost commit reply tells its own earlier commit from another submitter\'s',
    // Kept a week: a retry comes within the outage it rode out (minutes), never later.
    statements: [
      `CREATE TABLE CommitMarkers (
        AttemptId STRING(36) NOT NULL,
        Run INT64 NOT NULL,
        CommittedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
      ) PRIMARY KEY (AttemptId, Run), ROW DELETION POLICY (OLDER_THAN(CommittedAt, INTERVAL 7 DAY))`,
    ],
  },
  {
    version: 6,
    description: 'invoice payments dated no earlier than the money: each account\'s latest credit time',
    // Business time as INT64 microseconds, exact from 0001 to 9999 (see codec.ts). NULL only
    // until the backfill reached the account; 0001-01-01 before its first credit.
    statements: ['ALTER TABLE Accounts ADD COLUMN LatestCreditAtMicros INT64'],
    backfill: backfillLatestCredits,
  },
];

export const SCHEMA_MIGRATIONS_TABLE = `CREATE TABLE SchemaMigrations (
  Version INT64 NOT NULL,
  Description STRING(MAX) NOT NULL,
  AppliedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
) PRIMARY KEY (Version)`;

