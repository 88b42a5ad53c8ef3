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
  /** Events one command can produce (a deposit and its bonus). */
  eventsPerCommandMax: 2,
  /** Spanner's hard limit on mutations in one commit. */
  spannerMutationsPerCommitMax: 80_000,
  /**
   * Mutations one event costs, counted the way Spanner counts them: one per column written
   * in the Events row (11 columns) plus one per secondary index entry (2), plus the account
   * and charge rows it touches (up to 2 rows of 10 columns).
   */
  mutationsPerEventMax: 11 + 2 + 20,
  /** Events in one global read page. */
  readPageSizeMax: 1000,
  /** Times a read-write transaction is retried after ABORTED before the fault surfaces. */
  transactionAttemptsMax: 50,
  /**
   * Deadline of one Spanner call, and of one transaction attempt as a whole. Without it the
   * client resumes a broken streaming read forever when Spanner (or the emulator) is gone.
   */
  spannerCallDeadlineMs: 20_000,
} as const;

const worstCaseMutations = LIMITS.commandsPerTransactionMax * LIMITS.eventsPerCommandMax * LIMITS.mutationsPerEventMax;
if (worstCaseMutations > LIMITS.spannerMutationsPerCommitMax) {
  throw new Error(`LIMITS: a full batch could need ${worstCaseMutations} mutations, above Spanner's ${LIMITS.spannerMutationsPerCommitMax}`);
}
