import { LedgerInputError } from '../app/errors';
import { SpannerSettings } from '../ledger/spanner/connection';
import { CutTimeError, ProjectionBehindError } from '../projections/spanner/books';
import { ProjectionOutdatedError } from '../projections/spanner/generations';
import type { Ledger } from '../app/ledger';
import { ConnectionFlags, explainSpannerError, openLedgerFor, resolveSettings } from './context';
import { CliError, EXIT } from './errors';
import { CliIo } from './io';

const FAILED_PRECONDITION = 9;

/** The CLI flag of a library option: `asOf` is --as-of. */
export function flagOf(option: string): string {
  return `--${option.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

/**
 * Errors of the commands that read the views (books, balances then, audit): a bad time is
 * bad input (exit 2); a view that is behind or folded by an older fold says what to run;
 * a read timestamp older than Spanner keeps versions says so; the rest as any Spanner error.
 */
export function explainReadError(error: unknown, settings: SpannerSettings, io?: CliIo): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof CutTimeError || error instanceof LedgerInputError) return new CliError(error.messageNaming(flagOf), EXIT.invalid);
  if (error instanceof ProjectionBehindError) return new CliError(error.messageNaming(flagOf), EXIT.failure);
  if (error instanceof ProjectionOutdatedError) return new CliError(error.message, EXIT.failure);
  const message = error instanceof Error ? error.message : String(error);
  if ((error as { code?: unknown })?.code === FAILED_PRECONDITION && /too old|version_retention|garbage/i.test(message)) {
    return new CliError(
      `--at is older than the database keeps versions of its rows (version_retention_period, 1 h by default): ${message.split('\n')[0]}`,
      EXIT.invalid,
      'audit a recent timestamp, or raise version_retention_period (up to 7 days) with ALTER DATABASE',
    );
  }
  return explainSpannerError(error, settings, io);
}

/**
 * One read through the Ledger, as the read commands do it: open, read, close; a failure is
 * explained (explainReadError) with the flags the user gave.
 */
export async function readLedger<T>(io: CliIo, flags: ConnectionFlags, read: (ledger: Ledger) => Promise<T>): Promise<T> {
  const ledger = openLedgerFor(io, flags);
  try {
    return await read(ledger);
  } catch (error) {
    throw explainReadError(error, resolveSettings(io, flags), io);
  } finally {
    await ledger.close();
  }
}
