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
  {
    version: 13,
    description: 'the books: user and system accounts, balances on both time axes, fold versions of generations',
    // Every statement adds a column or a table, so the active generations keep serving
    // reads through the upgrade; they were folded by version 1 of the balances and
    // transactions folds, which know nothing of the books, so `db migrate` rebuilds them
    // (online, beside the active ones) once this has run: see app/migrate.ts.
    // Sums across events (gross debits and credits, a month's changes) are NUMERIC, exact
    // whole micro-dollars with 29 digits: a sum of INT64 amounts can leave INT64 while every
    // balance stays inside it. Balances and one event's changes stay INT64.
    statements: [
      'ALTER TABLE ProjectionGenerations ADD COLUMN FoldVersion INT64 NOT NULL DEFAULT (1)',
      'ALTER TABLE BalanceView ADD COLUMN UserDebitsMicroUsd NUMERIC NOT NULL DEFAULT (0)',
      'ALTER TABLE BalanceView ADD COLUMN UserCreditsMicroUsd NUMERIC NOT NULL DEFAULT (0)',
      'ALTER TABLE BalanceView ADD COLUMN PendingDebitsMicroUsd NUMERIC NOT NULL DEFAULT (0)',
      'ALTER TABLE BalanceView ADD COLUMN PendingCreditsMicroUsd NUMERIC NOT NULL DEFAULT (0)',
      'ALTER TABLE TransactionView ADD COLUMN InitialStatus STRING(16)',
      'ALTER TABLE TransactionView ADD COLUMN StatusChangedAtMicros INT64',
      // One row per user event: the account after it ("what the ledger said then", found by
      // commit timestamp) and what the event changed ("what is known now about a business
      // time", summed by occurredAt). Interleaved: a user's history sits with its balance.
      `CREATE TABLE BalanceHistoryView (
        Generation INT64 NOT NULL,
        UserId STRING(256) NOT NULL,
        StreamVersion INT64 NOT NULL,
        CommittedAt TIMESTAMP NOT NULL,
        OccurredAtMicros INT64 NOT NULL,
        BalanceMicroUsd INT64 NOT NULL,
        DepositsMicroUsd INT64 NOT NULL,
        BonusesMicroUsd INT64 NOT NULL,
        ChargesMicroUsd INT64 NOT NULL,
        PendingMicroUsd INT64 NOT NULL,
        AdjustmentsMicroUsd INT64 NOT NULL,
        OpenInvoicesMicroUsd INT64 NOT NULL,
        OpenInvoiceCount INT64 NOT NULL,
        UserDebitsMicroUsd NUMERIC NOT NULL,
        UserCreditsMicroUsd NUMERIC NOT NULL,
        PendingDebitsMicroUsd NUMERIC NOT NULL,
        PendingCreditsMicroUsd NUMERIC NOT NULL,
        DeltaBalanceMicroUsd INT64 NOT NULL,
        DeltaDepositsMicroUsd INT64 NOT NULL,
        DeltaBonusesMicroUsd INT64 NOT NULL,
        DeltaChargesMicroUsd INT64 NOT NULL,
        DeltaPendingMicroUsd INT64 NOT NULL,
        DeltaAdjustmentsMicroUsd INT64 NOT NULL,
        DeltaOpenInvoicesMicroUsd INT64 NOT NULL,
        DeltaOpenInvoiceCount INT64 NOT NULL,
      ) PRIMARY KEY (Generation, UserId, StreamVersion),
        INTERLEAVE IN PARENT BalanceView ON DELETE CASCADE`,
      // Seeks for the two axes: the last row committed at or before T; the rows of a month up to B.
      'CREATE INDEX BalanceHistoryByCommit ON BalanceHistoryView(Generation, UserId, CommittedAt DESC, StreamVersion DESC), INTERLEAVE IN BalanceView',
      'CREATE INDEX BalanceHistoryByOccurredAt ON BalanceHistoryView(Generation, UserId, OccurredAtMicros) STORING (DeltaBalanceMicroUsd, DeltaDepositsMicroUsd, DeltaBonusesMicroUsd, DeltaChargesMicroUsd, DeltaPendingMicroUsd, DeltaAdjustmentsMicroUsd, DeltaOpenInvoicesMicroUsd, DeltaOpenInvoiceCount), INTERLEAVE IN BalanceView',
      // What each business month changed, per user: a balance as of B sums the months before B's month.
      `CREATE TABLE BalanceMonthsView (
        Generation INT64 NOT NULL,
        UserId STRING(256) NOT NULL,
        MonthStartMicros INT64 NOT NULL,
        Events INT64 NOT NULL,
        LastVersion INT64 NOT NULL,
        LastOccurredAtMicros INT64 NOT NULL,
        DeltaBalanceMicroUsd NUMERIC NOT NULL,
        DeltaDepositsMicroUsd NUMERIC NOT NULL,
        DeltaBonusesMicroUsd NUMERIC NOT NULL,
        DeltaChargesMicroUsd NUMERIC NOT NULL,
        DeltaPendingMicroUsd NUMERIC NOT NULL,
        DeltaAdjustmentsMicroUsd NUMERIC NOT NULL,
        DeltaOpenInvoicesMicroUsd NUMERIC NOT NULL,
        DeltaOpenInvoiceCount INT64 NOT NULL,
      ) PRIMARY KEY (Generation, UserId, MonthStartMicros),
        INTERLEAVE IN PARENT BalanceView ON DELETE CASCADE`,
      // System accounts (chain inflows, bonus expense, revenue, equity): written only by the
      // projector, never by a command's transaction, so writers never queue on them.
      `CREATE TABLE SystemAccountsView (
        Generation INT64 NOT NULL,
        Account STRING(600) NOT NULL,
        DebitsMicroUsd NUMERIC NOT NULL,
        CreditsMicroUsd NUMERIC NOT NULL,
      ) PRIMARY KEY (Generation, Account)`,
      // Newest first in key order, so "the totals at T" is one seek.
      `CREATE TABLE SystemAccountHistoryView (
        Generation INT64 NOT NULL,
        Account STRING(600) NOT NULL,
        CommittedAt TIMESTAMP NOT NULL,
        StreamId STRING(300) NOT NULL,
        StreamVersion INT64 NOT NULL,
        DebitsMicroUsd NUMERIC NOT NULL,
        CreditsMicroUsd NUMERIC NOT NULL,
      ) PRIMARY KEY (Generation, Account, CommittedAt DESC, StreamId DESC, StreamVersion DESC),
        INTERLEAVE IN PARENT SystemAccountsView ON DELETE CASCADE`,
    ],
  },
];
