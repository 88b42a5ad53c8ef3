import type { Migration } from '../spanner/schema';

/** Tables of the Kafka relays beyond the inbox (publisher checkpoint, ...): versions 20-29. */
export const KAFKA_MIGRATIONS: readonly Migration[] = [];
