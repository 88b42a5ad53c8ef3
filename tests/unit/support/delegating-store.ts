import { GlobalPosition, LedgerStore, LedgerTransaction, ReadAllOptions, TransactionResult, TransactOptions } from '../../../ledger/core/store';
import { InMemoryLedgerStore } from '../../../ledger/memory/store';

/**
 * The in-memory store behind a seam: every port goes to `inner`; a test subclass overrides
 * what it shapes (transact to lose replies or record writes, isTransient).
 */
export class DelegatingStore implements LedgerStore {
  readonly inner = new InMemoryLedgerStore();
  transact<T>(work: (tx: LedgerTransaction) => Promise<T>, options?: TransactOptions): Promise<TransactionResult<T>> {
    return this.inner.transact(work, options);
  }
  readAll(after: GlobalPosition | null, limit: number, options?: ReadAllOptions) {
    return this.inner.readAll(after, limit, options);
  }
  readStream(streamId: string, fromVersion?: number) {
    return this.inner.readStream(streamId, fromVersion);
  }
  readEvents(eventIds: readonly string[]) {
    return this.inner.readEvents(eventIds);
  }
  readAccount(userId: string) {
    return this.inner.readAccount(userId);
  }
  readInboxOffsets(group: string, topic: string) {
    return this.inner.readInboxOffsets(group, topic);
  }
  readKafkaOutcomes(group: string, topic: string, partition: number) {
    return this.inner.readKafkaOutcomes(group, topic, partition);
  }
  /** The in-memory store always answers. */
  isTransient(_error: unknown): boolean {
    return false;
  }
  newAttemptId(): string {
    return this.inner.newAttemptId();
  }
  async close(): Promise<void> {}
}
