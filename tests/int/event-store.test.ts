import { eventStoreContract } from '../support/event-store-contract';
import { freshSpannerStore } from '../support/spanner';

describe('event store contract: Spanner store on the emulator', () => {
  eventStoreContract(() => freshSpannerStore('es'));
});
