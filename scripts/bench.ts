import { CommandHandler } from '../ledger/core/handler';
import { LIMITS } from '../ledger/core/limits';
import { runReadWrite } from '../ledger/spanner/transaction';
import { SpannerLedgerStore } from '../ledger/spanner/store';
import { SpannerConnection } from '../ledger/spanner/connection';
import { startSpannerEmulator } from '../emulator';
import { depositLine, freshBenchDatabase, round, seconds } from './bench-support';

/**
 * `npm run bench`: throughput on one emulator, in one run, so the ratios compare like with
 * like. Prints a line per figure and, last, one JSON object with all of them.
 *
 * - raw: plain `tx.insert` batches into the Events table (the ceiling: no reads, no decisions).
 * - submit: 20,000 deposits through the CommandHandler (the path `spanledger submit` takes),
 *   group commits of LIMITS.commandsPerTransactionMax; each deposit writes 2 events (10 % bonus).
 */
const DEPOSITS = Number(process.env.BENCH_DEPOSITS ?? 20_000);
const ROWS_PER_COMMIT = LIMITS.commandsPerTransactionMax * 2;

async function rawInsertCeiling(connection: SpannerConnection, rows: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let offset = 0; offset < rows; offset += ROWS_PER_COMMIT) {
    const count = Math.min(ROWS_PER_COMMIT, rows - offset);
    await runReadWrite(connection, async (tx) => {
      tx.insert(
        'Events',
        Array.from({ length: count }, (_, i) => {
          const n = offset + i;
          const id = (BigInt(n) * 0x9e3779b97f4a7c15n).toString(16).padStart(32, '0').slice(-32);
          return {
            EventId: id,
            StreamId: `raw-${n % 500}`,
            StreamVersion: String(Math.floor(n / 500) + 1),
            Shard: String(n % 16),
            EventType: 'TokenDeposited',
            SchemaVersion: '1',
            OccurredAt: '2026-01-01T00:00:00.000000Z',
            Payload: depositLine(n),
            ContentDigest: id + id,
            CommittedAt: 'spanner.commit_timestamp()',
          };
        }),
      );
    });
  }
  return rows / seconds(start);
}

async function submitThroughput(connection: SpannerConnection, deposits: number): Promise<{ eventsPerSecond: number; events: number }> {
  const handler = new CommandHandler(new SpannerLedgerStore(connection), { bonusRateBps: 1000 });
  const chunk = LIMITS.commandsPerTransactionMax * 10;
  let events = 0;
  const start = process.hrtime.bigint();
  for (let offset = 0; offset < deposits; offset += chunk) {
    const lines = Array.from({ length: Math.min(chunk, deposits - offset) }, (_, i) => depositLine(offset + i));
    const outcomes = await handler.handleTexts(lines);
    for (const outcome of outcomes) {
      if (outcome.status !== 'accepted') throw new Error(`bench: unexpected outcome ${JSON.stringify(outcome)}`);
      events += outcome.eventIds.length;
    }
  }
  return { eventsPerSecond: events / seconds(start), events };
}

async function main(): Promise<void> {
  const external = process.env.SPANNER_EMULATOR_HOST;
  const emulator = external ? undefined : await startSpannerEmulator();
  const host = external ?? emulator!.host;
  const figures: Record<string, number | string> = { deposits: DEPOSITS, rowsPerCommit: ROWS_PER_COMMIT };
  try {
    console.log(`emulator ${host}; ${DEPOSITS} deposits (2 events each), ${LIMITS.commandsPerTransactionMax} commands per transaction`);
    const rawConnection = await freshBenchDatabase(host, 'raw');
    const raw = await rawInsertCeiling(rawConnection, DEPOSITS * 2);
    await rawConnection.close();
    figures.rawInsertRowsPerSecond = round(raw);
    console.log(`raw batched insert ceiling: ${round(raw)} rows/s`);

    const submitConnection = await freshBenchDatabase(host, 'submit');
    const submit = await submitThroughput(submitConnection, DEPOSITS);
    await submitConnection.close();
    figures.submitEventsPerSecond = round(submit.eventsPerSecond);
    figures.submitToRawRatio = round(submit.eventsPerSecond / raw, 2);
    console.log(`submit: ${round(submit.eventsPerSecond)} events/s (${submit.events} events), ${figures.submitToRawRatio}x raw (goal >= 0.5x)`);
  } finally {
    await emulator?.stop();
  }
  console.log(JSON.stringify(figures));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
