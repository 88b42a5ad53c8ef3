/**
 * Every bound of the ledger in one place (TigerBeetle style): sizes that protect memory,
 * Spanner's commit limits and the emulator's speed. Relations between them are asserted
 * when this module loads, so a bad edit fails at start-up, not in production.
 */
export const LIMITS = {
  /** Longest accepted command line / Kafka message value, in characters. */
  commandTextLengthMax: 64 * 1024,
  /** Longest identifier (user, invoice, idempotency key) or free-text field. */
  identifierLengthMax: 256,
  /** Commands decided in one Spanner read-write transaction (group commit). */
  commandsPerTransactionMax: 100,
  /** Events of a command itself (a deposit and its bonus). */
  ownEventsPerCommandMax: 2,
  /** Open invoices one user may have: every command of the user may pay all of them. */
  openInvoicesPerUserMax: 100,
  /** Balance thresholds that can be configured. */
  balanceThresholdsMax: 16,
  /** Spanner's hard limit on mutations in one commit. */
  spannerMutationsPerCommitMax: 80_000,
  /**
   * Mutations one event may cost at most, counted the way Spanner counts them: one per
   * column written in its Events row (10, plus one spare) and one per index entry (2), plus
   * an account row (12 columns and its timestamp) and one charge or invoice row (with its
   * index entry), as if no two events of a commit shared a row.
   */
  mutationsPerEventMax: 13 + 13 + 12,
  /** Events in one global read page. */
  readPageSizeMax: 1000,
  /** Times a read-write transaction is retried after ABORTED before the fault surfaces. */
  transactionAttemptsMax: 50,
  /**
   * Deadline of one Spanner call, and of one transaction attempt as a whole. Without it the
   * client resumes a broken streaming read forever when Spanner (or the emulator) is gone.
   */
  spannerCallDeadlineMs: 20_000,
  /**
   * How long a lease (the publisher's checkpoint, a projection's runner) lasts without
   * renewal by default: a crashed holder's work is taken over after at most this long.
   */
  leaseDefaultMs: 15_000,
  /** Events counted after a checkpoint before a lag reads "at least N" (doctor, the lag gauge): one read page. */
  lagCountMax: 1000,
} as const;

/**
 * Events one command can append: its own, a payment per open invoice, a crossing per
 * threshold. A group commit stops taking commands while the next one could, at worst,
 * take its writes past the commit budget (see batch.ts), so a batch of 100 payments never
 * hits Spanner's mutation limit.
 */
export const EVENTS_PER_COMMAND_MAX = LIMITS.ownEventsPerCommandMax + LIMITS.openInvoicesPerUserMax + LIMITS.balanceThresholdsMax;

/** Mutations a transaction keeps free for what commits beside the decisions (inbox, outcome rows). */
export const MUTATIONS_RESERVED_PER_TRANSACTION = LIMITS.commandsPerTransactionMax * 8 + 100;

/** Mutations the decisions of one transaction may use. */
export const DECISION_MUTATIONS_BUDGET = LIMITS.spannerMutationsPerCommitMax - MUTATIONS_RESERVED_PER_TRANSACTION;

const oneCommandWorstCase = EVENTS_PER_COMMAND_MAX * LIMITS.mutationsPerEventMax;
if (oneCommandWorstCase > DECISION_MUTATIONS_BUDGET) {
  throw new Error(`LIMITS: one command could need ${oneCommandWorstCase} mutations, above the budget of ${DECISION_MUTATIONS_BUDGET}`);
}
const usualBatch = LIMITS.commandsPerTransactionMax * LIMITS.ownEventsPerCommandMax * LIMITS.mutationsPerEventMax;
if (usualBatch + oneCommandWorstCase > DECISION_MUTATIONS_BUDGET) {
  throw new Error(`LIMITS: a full batch of plain commands (${usualBatch} mutations) would not leave room for one command at its worst`);
}
if (LIMITS.lagCountMax > LIMITS.readPageSizeMax) {
  throw new Error(`LIMITS: a lag is counted in one read page, so lagCountMax (${LIMITS.lagCountMax}) must not pass readPageSizeMax (${LIMITS.readPageSizeMax})`);
}
