import { KAFKA_MIGRATIONS } from '../ledger/kafka/schema';
import { LEDGER_MIGRATIONS, Migration } from '../ledger/spanner/schema';
import { PROJECTION_MIGRATIONS } from '../projections/spanner/schema';

/**
 * The database schema is one artifact, so every module's migrations meet here, above the
 * modules, in version order: the ledger's (1-9), the projections' (10-19), the Kafka relays'
 * (20-29). The ledger itself knows nothing of the modules built on it.
 */
export const MIGRATIONS: readonly Migration[] = [...LEDGER_MIGRATIONS, ...PROJECTION_MIGRATIONS, ...KAFKA_MIGRATIONS].sort((a, b) => a.version - b.version);

for (let i = 1; i < MIGRATIONS.length; i++) {
  if (MIGRATIONS[i]!.version === MIGRATIONS[i - 1]!.version) throw new Error(`two migrations share version ${MIGRATIONS[i]!.version}`);
}

export const LATEST_SCHEMA_VERSION = Math.max(...MIGRATIONS.map((migration) => migration.version));
