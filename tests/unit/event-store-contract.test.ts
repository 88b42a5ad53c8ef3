import { InMemoryLedgerStore } from '../../ledger/memory/store';
import { eventStoreContract } from '../support/event-store-contract';

describe('event store contract: in-memory reference store', () => {
  eventStoreContract(async () => new InMemoryLedgerStore());
});
