import type { Migration } from '../../ledger/spanner/schema';

/**
 * Tables of the projections (views, checkpoints, generations): versions 10-19.
 *
 * - Projections: the active pointer, one row per projection. Readers read it first and then
 *   only rows of that generation; a rebuild switches it in one transaction, so readers see
 *   either the whole old view or the whole new one, never a half-built one.
 * - ProjectionGenerations: one row per (projection, generation): status (building, active,
 *   retired), the checkpoint (the last GlobalPosition applied, as three columns) written in
 *   the same transaction as the view rows, a count of applied events (to prove nothing is
 *   applied twice), and an advisory lease (owner, expiry).
 * - BalanceView, TransactionView: the views. The generation leads the primary key so that a
 *   new generation is built beside the active one and an old one is dropped with one
 *   key-range delete. Within a generation the keys are user IDs (and event IDs, which are
 *   uniform hashes): no monotonic key, no hot-spot. TransactionView is keyed by event ID so
 *   settle/fail update the charge row by key; a user's rows are contiguous, and the order
 *   (OccurredAt DESC, StreamVersion DESC) is applied when they are read.
 * Money is INT64 micro-dollars; business times are TIMESTAMP (microseconds kept).
 */
export const PROJECTION_MIGRATIONS: readonly Migration[] = [
  {
    version: 10,
    description: 'projections: active pointers, generations with checkpoints, balance and transaction views',
    statements: [
      `CREATE TABLE Projections (
        Projection STRING(64) NOT NULL,
        ActiveGeneration INT64 NOT NULL,
        UpdatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
      ) PRIMARY KEY (Projection)`,
      `CREATE TABLE ProjectionGenerations (
        Projection STRING(64) NOT NULL,
        Generation INT64 NOT NULL,
        Status STRING(16) NOT NULL,
        CheckpointCommittedAt TIMESTAMP,
        CheckpointStreamId STRING(300),
        CheckpointStreamVersion INT64,
        EventsApplied INT64 NOT NULL,
        LeaseOwner STRING(128),
        LeaseExpiresAt TIMESTAMP,
        UpdatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
      ) PRIMARY KEY (Projection, Generation)`,
      `CREATE TABLE BalanceView (
        Generation INT64 NOT NULL,
        UserId STRING(256) NOT NULL,
        Version INT64 NOT NULL,
        BalanceMicroUsd INT64 NOT NULL,
        DepositsMicroUsd INT64 NOT NULL,
        BonusesMicroUsd INT64 NOT NULL,
        ChargesMicroUsd INT64 NOT NULL,
        PendingMicroUsd INT64 NOT NULL,
        AdjustmentsMicroUsd INT64 NOT NULL,
        LastEventAt TIMESTAMP NOT NULL,
      ) PRIMARY KEY (Generation, UserId)`,
      `CREATE TABLE TransactionView (
        Generation INT64 NOT NULL,
        UserId STRING(256) NOT NULL,
        EventId STRING(32) NOT NULL,
        StreamVersion INT64 NOT NULL,
        Type STRING(8) NOT NULL,
        Source STRING(16) NOT NULL,
        Status STRING(16) NOT NULL,
        AmountMicroUsd INT64 NOT NULL,
        Description STRING(MAX) NOT NULL,
        Metadata STRING(MAX) NOT NULL,
        OccurredAt TIMESTAMP NOT NULL,
      ) PRIMARY KEY (Generation, UserId, EventId)`,
    ],
  },
  {
    version: 11,
    description: 'views: business times also as exact INT64 microseconds',
    // The client decodes TIMESTAMPs before 1970 inexactly (see ledger/spanner/codec.ts), so
    // view rows keep each business time a second time as microseconds since the epoch, and
    // readers use that. Rows of generations built before this migration have NULL here and
    // are read from the TIMESTAMP; `projections rebuild` writes both.
    statements: [
      'ALTER TABLE BalanceView ADD COLUMN LastEventAtMicros INT64',
      'ALTER TABLE TransactionView ADD COLUMN OccurredAtMicros INT64',
    ],
  },
  {
    version: 12,
    description: 'views: the invoices view, and what is still due on open invoices in the balance view',
    statements: [
      'ALTER TABLE BalanceView ADD COLUMN OpenInvoicesMicroUsd INT64 NOT NULL DEFAULT (0)',
      'ALTER TABLE BalanceView ADD COLUMN OpenInvoiceCount INT64 NOT NULL DEFAULT (0)',
      `CREATE TABLE InvoiceView (
        Generation INT64 NOT NULL,
        UserId STRING(256) NOT NULL,
        InvoiceId STRING(256) NOT NULL,
        Status STRING(8) NOT NULL,
        AmountMicroUsd INT64 NOT NULL,
        PaidMicroUsd INT64 NOT NULL,
        Description STRING(MAX),
        OpenedAt TIMESTAMP NOT NULL,
        OpenedAtMicros INT64 NOT NULL,
        ClosedAtMicros INT64,
        Payments STRING(MAX) NOT NULL,
      ) PRIMARY KEY (Generation, UserId, InvoiceId)`,
    ],
  },
];
