import { readFileSync } from 'node:fs';
import path from 'node:path';
import { connect, settingsFromEnv, SpannerConnection } from '../../ledger/spanner/connection';
import { emulatorHost, freshDatabaseId } from './spanner';

/**
 * The database that the code of schema version 20 wrote through its own CLI (see
 * tests/fixtures/schema-v20/README.md), loaded into a fresh database: its DDL as it was,
 * then every row of every table, parents before the tables interleaved in them.
 */
const DIR = path.join(__dirname, '..', 'fixtures', 'schema-v20');
const ALREADY_EXISTS = 6;

export interface FixtureTables {
  readonly [table: string]: { readonly rows: Record<string, unknown>[] };
}

export function schemaV20Tables(): FixtureTables {
  return JSON.parse(readFileSync(path.join(DIR, 'tables.json'), 'utf8')) as FixtureTables;
}

export async function loadSchemaV20(): Promise<SpannerConnection> {
  const { ddl } = JSON.parse(readFileSync(path.join(DIR, 'schema.json'), 'utf8')) as { ddl: string[] };
  const connection = connect(settingsFromEnv({}, { emulatorHost: emulatorHost(), databaseId: freshDatabaseId('v20') }));
  const [instanceExists] = await connection.instance.exists();
  if (!instanceExists) {
    try {
      const [, operation] = await connection.spanner.createInstance(connection.settings.instanceId, { config: 'emulator-config', nodes: 1, displayName: connection.settings.instanceId });
      await operation.promise();
    } catch (error) {
      if ((error as { code?: unknown }).code !== ALREADY_EXISTS) throw error;
    }
  }
  const [, operation] = await connection.instance.createDatabase(connection.settings.databaseId, { schema: ddl });
  await operation.promise();
  const tables = schemaV20Tables();
  for (const statement of ddl) {
    const table = /^CREATE TABLE (\w+)/.exec(statement)?.[1];
    const rows = table ? tables[table]?.rows ?? [] : [];
    if (table && rows.length > 0) await connection.database.table(table).insert(rows);
  }
  return connection;
}
