import { SpannerConnection } from './connection';
import { Migration, SCHEMA_MIGRATIONS_TABLE } from './schema';

export interface MigrateReport {
  readonly createdInstance: boolean;
  readonly createdDatabase: boolean;
  /** Versions applied by this run; empty when the schema was already current. */
  readonly applied: number[];
  readonly schemaVersion: number;
}

/**
 * The schema object a statement makes ("TABLE Events", "INDEX EventsByStream",
 * "COLUMN BalanceView.LastEventAtMicros"), so that a statement whose object already exists
 * is skipped: a run interrupted between a DDL change and its record then finishes cleanly.
 */
function createdObject(statement: string): string | undefined {
  const create = /^\s*CREATE\s+(?:UNIQUE\s+)?(?:NULL_FILTERED\s+)?(TABLE|INDEX)\s+(\w+)/i.exec(statement);
  if (create) return `${create[1]!.toUpperCase()} ${create[2]!}`;
  const addColumn = /^\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)/i.exec(statement);
  if (addColumn) return `COLUMN ${addColumn[1]!}.${addColumn[2]!}`;
  const addStored = /^\s*ALTER\s+INDEX\s+(\w+)\s+ADD\s+STORED\s+COLUMN\s+(\w+)/i.exec(statement);
  if (addStored) return `STORED ${addStored[1]!}.${addStored[2]!}`;
  return undefined;
}

async function existingObjects(connection: SpannerConnection): Promise<Set<string>> {
  const [rows] = await connection.database.run({
    sql: `SELECT 'TABLE' AS Kind, TABLE_NAME AS Name FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ''
          UNION ALL
          SELECT 'INDEX' AS Kind, INDEX_NAME AS Name FROM INFORMATION_SCHEMA.INDEXES WHERE TABLE_SCHEMA = '' AND INDEX_TYPE = 'INDEX'
          UNION ALL
          SELECT 'COLUMN' AS Kind, CONCAT(TABLE_NAME, '.', COLUMN_NAME) AS Name FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ''
          UNION ALL
          SELECT 'STORED' AS Kind, CONCAT(INDEX_NAME, '.', COLUMN_NAME) AS Name FROM INFORMATION_SCHEMA.INDEX_COLUMNS WHERE TABLE_SCHEMA = '' AND COLUMN_ORDERING IS NULL`,
    json: true,
    ...connection.queryOptions,
  });
  return new Set((rows as { Kind: string; Name: string }[]).map((row) => `${row.Kind} ${row.Name}`));
}

async function appliedVersions(connection: SpannerConnection): Promise<Set<number>> {
  const [rows] = await connection.database.run({ sql: 'SELECT CAST(Version AS STRING) AS Version FROM SchemaMigrations', json: true, ...connection.queryOptions });
  return new Set((rows as { Version: string }[]).map((row) => Number(row.Version)));
}

async function updateSchema(connection: SpannerConnection, statements: string[]): Promise<void> {
  if (statements.length === 0) return;
  const [operation] = await connection.database.updateSchema(statements);
  await operation.promise();
}

const ALREADY_EXISTS = 6;

/**
 * Creates something that was missing a moment ago; false when another migrate (another
 * process, another test file) created it in between, which is just as good.
 */
async function createUnlessExists(create: () => Promise<void>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === ALREADY_EXISTS) return false;
    throw error;
  }
}

/**
 * Brings a database to the latest schema: creates the instance (emulator only) and the
 * database when missing, then applies every migration not yet recorded. A statement whose
 * table or index already exists is skipped, so a run interrupted between a DDL change and
 * its record finishes cleanly the next time. Running it twice is a no-op.
 */
export async function migrate(connection: SpannerConnection, migrations: readonly Migration[], report?: (line: string) => void): Promise<MigrateReport> {
  const { instance, database, settings } = connection;
  let createdInstance = false;
  let createdDatabase = false;
  const [instanceExists] = await instance.exists();
  if (!instanceExists) {
    if (!settings.emulatorHost) {
      throw new Error(`instance ${settings.instanceId} does not exist; create it in Cloud Spanner first (migrate creates instances only on the emulator)`);
    }
    createdInstance = await createUnlessExists(async () => {
      const [, operation] = await connection.spanner.createInstance(settings.instanceId, { config: 'emulator-config', nodes: 1, displayName: settings.instanceId });
      await operation.promise();
    });
  }
  const [databaseExists] = await database.exists();
  if (!databaseExists) {
    createdDatabase = await createUnlessExists(async () => {
      const [, operation] = await instance.createDatabase(settings.databaseId);
      await operation.promise();
    });
  }

  let objects = await existingObjects(connection);
  if (!objects.has('TABLE SchemaMigrations')) {
    await updateSchema(connection, [SCHEMA_MIGRATIONS_TABLE]);
    objects = await existingObjects(connection);
  }
  const applied = await appliedVersions(connection);
  const newlyApplied: number[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(migration.version)) continue;
    const pending = migration.statements.filter((statement) => {
      const object = createdObject(statement);
      return !object || !objects.has(object);
    });
    await updateSchema(connection, pending);
    if (migration.backfill) await migration.backfill(connection, (line) => report?.(`migration ${migration.version}: ${line}`));
    await database.table('SchemaMigrations').insert({
      Version: String(migration.version),
      Description: migration.description,
      AppliedAt: 'spanner.commit_timestamp()',
    });
    newlyApplied.push(migration.version);
    objects = await existingObjects(connection);
  }
  const schemaVersion = Math.max(0, ...applied, ...newlyApplied);
  return { createdInstance, createdDatabase, applied: newlyApplied, schemaVersion };
}

/**
 * Which of `migrations` a database has applied, which it lacks, and which versions it has
 * that this code does not know (written by a newer spanledger). Versions are not a single
 * number: the modules number their migrations in their own ranges, so a newer release can
 * add version 4 to a database already at 20.
 */
export interface SchemaState {
  readonly applied: number[];
  readonly pending: number[];
  readonly unknown: number[];
}

export async function schemaStateOf(connection: SpannerConnection, migrations: readonly Migration[]): Promise<SchemaState> {
  const objects = await existingObjects(connection);
  const applied = objects.has('TABLE SchemaMigrations') ? await appliedVersions(connection) : new Set<number>();
  const known = new Set(migrations.map((migration) => migration.version));
  return {
    applied: [...applied].sort((a, b) => a - b),
    pending: [...known].filter((version) => !applied.has(version)).sort((a, b) => a - b),
    unknown: [...applied].filter((version) => !known.has(version)).sort((a, b) => a - b),
  };
}
