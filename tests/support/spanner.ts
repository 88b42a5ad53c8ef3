import { connect, settingsFromEnv, SpannerConnection } from '../../ledger/spanner/connection';
import { migrate } from '../../ledger/spanner/migrate';
import { MIGRATIONS } from '../../app/schema';
import { SpannerLedgerStore } from '../../ledger/spanner/store';

/**
 * Integration tests run against the one emulator the jest global setup started
 * (SPANNER_EMULATOR_HOST). Each test file gets a database of its own, so files can run
 * in parallel without seeing each other's rows.
 */
export function emulatorHost(): string {
  const host = process.env.SPANNER_EMULATOR_HOST;
  if (!host) throw new Error('SPANNER_EMULATOR_HOST is not set: run integration tests through jest (global setup starts the emulator)');
  return host;
}

let databases = 0;
/** A fresh database ID: Spanner allows 2-30 chars of [a-z0-9_-], starting with a letter. */
export function freshDatabaseId(prefix = 't'): string {
  databases++;
  return `${prefix}${process.pid.toString(36)}${databases}${Math.floor(Math.random() * 36 ** 4).toString(36)}`.slice(0, 30);
}

export async function freshConnection(prefix?: string): Promise<SpannerConnection> {
  const connection = connect(settingsFromEnv({}, { emulatorHost: emulatorHost(), databaseId: freshDatabaseId(prefix) }));
  await migrate(connection, MIGRATIONS);
  return connection;
}

export async function freshSpannerStore(prefix?: string): Promise<SpannerLedgerStore> {
  return new SpannerLedgerStore(await freshConnection(prefix));
}

/** Environment for a child `spanledger` process pointed at the same database. */
export function cliEnv(connection: SpannerConnection, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SPANNER_EMULATOR_HOST: emulatorHost(),
    SPANNER_PROJECT_ID: connection.settings.projectId,
    SPANNER_INSTANCE_ID: connection.settings.instanceId,
    SPANNER_DATABASE_ID: connection.settings.databaseId,
    ...extra,
  };
}
