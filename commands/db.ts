import { ConnectionFlags, explainSpannerError, openConnection, resolveSettings } from './context';
import { EXIT, ExitCode } from './errors';
import { CliIo, writeLine } from './io';

export async function dbMigrate(io: CliIo, flags: ConnectionFlags & { json?: boolean }): Promise<ExitCode> {
  const { migrate } = await import('../ledger/spanner/migrate');
  const { MIGRATIONS } = await import('../app/schema');
  const { describeTarget } = await import('../ledger/spanner/connection');
  const connection = openConnection(io, flags);
  try {
    const report = await migrate(connection, MIGRATIONS);
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
    }
    return EXIT.ok;
  } catch (error) {
    throw explainSpannerError(error, resolveSettings(io, flags));
  } finally {
    await connection.close();
  }
}
