import type { GlobalPosition } from '../ledger/core/store';
import { ConnectionFlags, explainSpannerError, openStore, outageLines, resolveSettings } from './context';
import { CliError, EXIT, ExitCode } from './errors';
import { CliIo, renderTable, writeLine } from './io';
import { stopOnSignals } from './signals';
import { OutageTracker, rerunThroughOutages } from '../ledger/core/retry';
import { dependencyHealth } from '../ledger/observability/dependency-health';
import { rideOut, SYSTEM_CLOCK } from '../ledger/system-clock';
import type { ObservabilityFlags } from './consume';
import type { ObservabilitySession } from '../ledger/observability/session';

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

/** Following, no pass or chunk for this long means Spanner is not answering (a pass takes a poll interval). */
const SILENT_IS_DOWN_MS = 5_000;

export interface RunFlags extends JsonFlag, ObservabilityFlags {
  readonly follow?: boolean;
  readonly pollMs?: number;
  /** With --follow: how long a Spanner outage is ridden out before exit 1 (seconds). */
  readonly outageMaxS?: number;
}


/**
 * Measures every projection's lag (bounded count) every `intervalMs` into the gauge until
 * stopped; one measurement at a time, never overlapping.
 */
function startLagGauge(observability: ObservabilitySession, store: import('../ledger/spanner/store').SpannerLedgerStore, intervalMs: number): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const measure = async () => {
    const { projectionStatus } = await import('../projections/spanner/projection-status');
    try {
      for (const status of await projectionStatus(store.connection, store)) {
        observability.metrics.projectionLag.set({ projection: status.projection }, status.lag);
      }
    } catch (error) {
      observability.logger.warn({ event: 'lag_check_failed', error: error instanceof Error ? error.message : String(error) }, 'projection lag check failed');
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = measure().then(schedule);
    }, intervalMs);
  };
  running = measure().then(schedule);
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    // A measurement hung on an unreachable Spanner must not hold the exit.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([running, new Promise((resolve) => (grace = setTimeout(resolve, 1_000)))]);
    clearTimeout(grace);
  };
}

/** `projections run [--follow]`: SIGINT/SIGTERM stop it after the batch in flight. */
export async function projectionsRun(io: CliIo, flags: RunFlags): Promise<ExitCode> {
  const { runProjector } = await import('../projections/spanner/runtime');
  // Structured logs and metrics for the long-running form (or whenever metrics are asked for).
  let observability: ObservabilitySession | undefined;
  if (flags.follow || flags.metricsPort !== undefined) {
    const { openCommandObservability } = await import('./consume');
    observability = await openCommandObservability(io, flags, 'projections');
  }
  const logger = observability?.logger;
  const metrics = observability?.metrics;
  const stop = flags.follow ? stopOnSignals() : undefined;
  try {
    const report = await withStore(io, flags, async (store) => {
      const stopLag = observability ? startLagGauge(observability, store, Math.max(200, flags.pollMs ?? 500)) : undefined;
      logger?.info({ event: 'projector_started', follow: Boolean(flags.follow), pollMs: flags.pollMs ?? 500 }, flags.follow ? 'following the event log' : 'catching the views up');
      let lastPass: string | undefined;
      // Following, a Spanner outage is ridden out: the projector starts again from the
      // checkpoints (committed with the rows, so nothing is applied twice) once it answers.
      const outageMaxMs = (flags.outageMaxS ?? 300) * 1000;
      const outage = flags.follow && logger ? new OutageTracker('following the event log', { outageMaxMs }, dependencyHealth('spanner', logger, metrics, outageMaxMs), SYSTEM_CLOCK) : undefined;
      let lastAnswer = SYSTEM_CLOCK.now();
      const answered = () => {
        lastAnswer = SYSTEM_CLOCK.now();
        outage?.answered();
      };
      let applied = 0;
      // A call that hangs instead of failing still ends the run at the limit.
      const watchdog = outage?.watch(() => lastAnswer, SILENT_IS_DOWN_MS);
      try {
        const follow = async () => {
          const run = runProjector(store.connection, store, {
            follow: flags.follow,
            pollMs: flags.pollMs,
            shouldStop: () => stop?.signal.aborted ?? false,
            transactionObserver: metrics?.transactionObserver,
            onChunk: (chunk) => {
              answered();
              applied += chunk;
              metrics?.projectionEventsApplied.inc(chunk);
              if (chunk > 0) logger?.info({ event: 'applied', applied: chunk }, `applied ${chunk} event(s)`);
            },
            onPass: (status) => {
              answered();
              if (status !== lastPass) logger?.debug({ event: 'projector_pass', status }, `projector ${status.replace('_', ' ')}`);
              lastPass = status;
            },
          });
          const report = await (watchdog ? Promise.race([run, watchdog.expired]) : run);
          return { applied, stopped: report.stopped };
        };
        const spannerDown = (error: unknown) => (outage && store.isTransient(error) && !stop?.signal.aborted ? outage : undefined);
        return await rerunThroughOutages(follow, spannerDown, () => lastAnswer);
      } finally {
        watchdog?.stop();
        await stopLag?.();
      }
    });
    logger?.info({ event: 'projector_stopped', applied: report.applied, stopped: report.stopped }, report.stopped ? 'projector stopped' : 'projector caught up');
    if (flags.json) writeLine(io.stdout, JSON.stringify(report));
    else writeLine(io.stdout, `${report.stopped ? 'stopped' : 'caught up'}: applied ${report.applied} event(s) (summed over projections)`);
    return EXIT.ok;
  } finally {
    stop?.dispose();
    await observability?.close();
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
  const { rebuild } = await import('../projections/spanner/rebuild');
  const started = process.hrtime.bigint();
  const deadlineS = flags.deadlineS ?? 60;
  const report = await withStore(io, flags, (store) =>
    rebuild(store.connection, store, {
      projections: flags.projection ? [flags.projection] : undefined,
      onProgress: !flags.json && io.isTerminal ? progressBar(io) : undefined,
      // Each step rides out Spanner not answering up to --deadline-s (see RebuildOptions.riding).
      riding: rideOut((error) => store.isTransient(error), deadlineS * 1000, outageLines(io, 'Spanner', deadlineS)),
      isTransient: (error) => store.isTransient(error),
      onPinnedReadLost: (error) => writeLine(io.stderr, `spanledger: Spanner is not answering (${(error as Error).message.split('\n')[0]}); the rebuild goes on from its checkpoints`),
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
  const { verify } = await import('../app/audit/verify');
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
  const { projectionStatus } = await import('../projections/spanner/projection-status');
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
