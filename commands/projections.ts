import type { GlobalPosition } from '../ledger/core/store';
import { ConnectionFlags, explainSpannerError, openStore, resolveSettings } from './context';
import { CliError, EXIT, ExitCode } from './errors';
import { CliIo, renderTable, writeLine } from './io';

interface JsonFlag extends ConnectionFlags {
  readonly json?: boolean;
}

async function withStore<T>(io: CliIo, flags: ConnectionFlags, work: (store: import('../ledger/spanner/store').SpannerLedgerStore) => Promise<T>): Promise<T> {
  const store = openStore(io, flags);
  try {
    return await work(store);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw explainSpannerError(error, resolveSettings(io, flags));
  } finally {
    await store.close();
  }
}

function positionText(position: GlobalPosition | null): string {
  return position === null ? '(start)' : `${position.committedAt} ${position.streamId}#${position.streamVersion}`;
}

export interface RunFlags extends JsonFlag {
  readonly follow?: boolean;
  readonly pollMs?: number;
}

/** `projections run [--follow]`: SIGINT/SIGTERM stop it after the batch in flight. */
export async function projectionsRun(io: CliIo, flags: RunFlags): Promise<ExitCode> {
  const { runProjector } = await import('../projections/spanner/runtime');
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  if (flags.follow) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  try {
    const report = await withStore(io, flags, (store) =>
      runProjector(store.connection, store, {
        follow: flags.follow,
        pollMs: flags.pollMs,
        shouldStop: () => stop,
        onChunk: flags.follow && !flags.json ? (applied) => applied > 0 && writeLine(io.stderr, `applied ${applied} event(s)`) : undefined,
      }),
    );
    if (flags.json) writeLine(io.stdout, JSON.stringify(report));
    else writeLine(io.stdout, `${report.stopped ? 'stopped' : 'caught up'}: applied ${report.applied} event(s) (summed over projections)`);
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export interface RebuildFlags extends JsonFlag {
  readonly projection?: 'balances' | 'transactions';
}

function progressBar(io: CliIo): (done: number, total: number) => void {
  let last = -1;
  return (done, total) => {
    const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
    if (percent === last) return;
    last = percent;
    const width = 30;
    const filled = Math.round((percent / 100) * width);
    io.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${percent}% ${done}/${total} events`);
    if (percent === 100) io.stderr.write('\n');
  };
}

export async function projectionsRebuild(io: CliIo, flags: RebuildFlags): Promise<ExitCode> {
  const { rebuild } = await import('../projections/spanner/operations');
  const started = process.hrtime.bigint();
  const report = await withStore(io, flags, (store) =>
    rebuild(store.connection, store, {
      projections: flags.projection ? [flags.projection] : undefined,
      onProgress: !flags.json && io.isTerminal ? progressBar(io) : undefined,
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify({ ...report, seconds }));
    return EXIT.ok;
  }
  for (const entry of report.projections) {
    writeLine(io.stdout, `${entry.projection}: generation ${entry.previousGeneration} -> ${entry.generation}`);
  }
  writeLine(io.stdout, `rebuilt from ${report.events} event(s) read at ${report.readTimestamp} in ${seconds.toFixed(1)} s`);
  return EXIT.ok;
}

export interface VerifyFlags extends JsonFlag {
  readonly limit?: number;
  readonly catchUp?: boolean;
}

export async function projectionsVerify(io: CliIo, flags: VerifyFlags): Promise<ExitCode> {
  const { verify } = await import('../projections/spanner/operations');
  const report = await withStore(io, flags, (store) => verify(store.connection, store, { limit: flags.limit, catchUp: flags.catchUp }));
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify(report));
  } else {
    const checked = Object.entries(report.checked).map(([view, rows]) => `${view} ${rows}`).join(', ');
    writeLine(io.stdout, `verified ${report.events} event(s) at ${report.readTimestamp}: ${checked} row(s)`);
    if (report.lagging.length > 0) writeLine(io.stdout, `lagging (compared up to their checkpoints): ${report.lagging.join(', ')}`);
    if (report.ok) writeLine(io.stdout, 'OK: the views and Accounts equal the log');
    else {
      writeLine(io.stdout, `MISMATCH: ${report.differenceCount} difference(s); first ${report.differences.length}:`);
      for (const difference of report.differences) {
        writeLine(io.stdout, `  ${difference.view} ${difference.key}`);
        writeLine(io.stdout, `    expected ${difference.expected ?? '(no row)'}`);
        writeLine(io.stdout, `    actual   ${difference.actual ?? '(no row)'}`);
      }
    }
  }
  return report.ok ? EXIT.ok : EXIT.mismatch;
}

export async function projectionsStatus(io: CliIo, flags: JsonFlag): Promise<ExitCode> {
  const { projectionStatus } = await import('../projections/spanner/operations');
  const statuses = await withStore(io, flags, (store) => projectionStatus(store.connection, store));
  const lagText = (lag: number, lowerBound: boolean) => (lag === 0 ? 'caught up' : lowerBound ? `>=${lag} events` : `${lag} events`);
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify({ projections: statuses.map((status) => ({ ...status, lagText: lagText(status.lag, status.lagIsLowerBound) })) }));
    return EXIT.ok;
  }
  writeLine(
    io.stdout,
    renderTable(
      ['PROJECTION', 'GENERATION', 'CHECKPOINT', 'APPLIED', 'LAG', 'BUILDING'],
      statuses.map((status) => [
        status.projection,
        status.generation === null ? '-' : String(status.generation),
        positionText(status.checkpoint),
        status.eventsApplied,
        lagText(status.lag, status.lagIsLowerBound),
        status.building.join(',') || '-',
      ]),
    ),
  );
  return EXIT.ok;
}
