import { ConnectionFlags, explainSpannerError, openStore, resolveSettings } from './context';
import { EXIT, ExitCode } from './errors';
import { CliIo, writeLine } from './io';

export async function dbMigrate(io: CliIo, flags: ConnectionFlags & { json?: boolean }): Promise<ExitCode> {
  const { migrateAll } = await import('../app/migrate');
  const { describeTarget } = await import('../ledger/spanner/connection');
  const store = openStore(io, flags);
  const connection = store.connection;
  try {
    // Progress (a backfill, a rebuild) on stderr, so --json keeps stdout to one object.
    const report = await migrateAll(connection, store, (line) => writeLine(io.stderr, line));
    if (flags.json) {
      writeLine(io.stdout, JSON.stringify(report));
    } else {
      const target = describeTarget(connection.settings);
      if (report.createdInstance) writeLine(io.stdout, `created instance ${connection.settings.instanceId}`);
      if (report.createdDatabase) writeLine(io.stdout, `created database ${connection.settings.databaseId}`);
      writeLine(
        io.stdout,
        report.applied.length > 0
          ? `applied migrations ${report.applied.join(', ')}; ${target} is at schema version ${report.schemaVersion}`
          : `${target} is up to date (schema version ${report.schemaVersion})`,
      );
      if (report.rebuilt.length > 0) writeLine(io.stdout, `rebuilt ${report.rebuilt.join(', ')} (their fold changed)`);
    }
    return EXIT.ok;
  } catch (error) {
    throw explainSpannerError(error, resolveSettings(io, flags));
  } finally {
    await connection.close();
  }
}
