import { CommandHandler } from '../ledger/core/handler';
import { LIMITS } from '../ledger/core/limits';
import { runReadWrite } from '../ledger/spanner/transaction';
import { SpannerLedgerStore } from '../ledger/spanner/store';
import { SpannerConnection } from '../ledger/spanner/connection';
import { findKcat, startKafkaBroker, startSpannerEmulator } from '../emulator';
import { benchConsume } from './bench-consume';
import { benchRebuild } from './bench-rebuild';
import { readFileSync } from 'node:fs';
import { cliSubmit, plainRowCeiling, storjBaseline } from './bench-references';
import { depositLine, freshBenchDatabase, round, seconds } from './bench-support';

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function processCpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * `npm run bench`: throughput on one emulator, in one run, so the ratios compare like with
 * like. Prints a line per figure and, last, one JSON object with all of them.
 *
 * - plain-row ceiling, Storj-style baseline and `spanledger submit` through the CLI process,
 *   bonus off (see bench-references.ts): the figures of issue 16, with the CPU seconds the CLI
 *   and the emulator spent on the submit.
 * - raw: plain `tx.insert` batches into the Events table (the ceiling: no reads, no decisions).
 * - submit: 20,000 deposits through the CommandHandler (the path `spanledger submit` takes),
 *   group commits of LIMITS.commandsPerTransactionMax; each deposit writes 2 events (10 % bonus).
 * - rebuild: 20,000 events seeded, then `projections rebuild` of both views (read the pinned
 *   log, fold, write a new generation, switch, drop the old one).
 * - consume: 20,000 deposit messages (2 events each, as in submit) through the Kafka consumer on
 *   the embedded broker, until idle.
 * - growth: cost per command (ms) at 10,000 events in the log and again at 200,000, measured
 *   on the same 2,000 fresh deposits' worth of work (goal: flat within 20 %).
 * Each phase gets a fresh database, so no phase pays for another's table size.
 */
const GROWTH_SMALL_EVENTS = 10_000;
const GROWTH_LARGE_EVENTS = Number(process.env.BENCH_GROWTH_EVENTS ?? 200_000);
const GROWTH_SAMPLE_DEPOSITS = 2_000;
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

/** Appends deposits numbered [from, to) through the handler; returns ms per command. */
async function timedDeposits(handler: CommandHandler, from: number, to: number, runTag: string): Promise<number> {
  const chunk = LIMITS.commandsPerTransactionMax * 10;
  const start = process.hrtime.bigint();
  for (let offset = from; offset < to; offset += chunk) {
    const outcomes = await handler.handleTexts(Array.from({ length: Math.min(chunk, to - offset) }, (_, i) => depositLine(offset + i, 500, runTag)));
    if (outcomes.some((outcome) => outcome.status !== 'accepted')) throw new Error('bench: a growth deposit was not accepted');
  }
  return (seconds(start) * 1000) / (to - from);
}

/** Cost per command with a small log and with a large one (each deposit writes 2 events). */
async function costAsLogGrows(connection: SpannerConnection): Promise<{ smallMs: number; largeMs: number }> {
  const handler = new CommandHandler(new SpannerLedgerStore(connection), { bonusRateBps: 1000 });
  const small = GROWTH_SMALL_EVENTS / 2;
  await timedDeposits(handler, 0, small, 'growth');
  const smallMs = await timedDeposits(handler, small, small + GROWTH_SAMPLE_DEPOSITS, 'growth');
  const large = GROWTH_LARGE_EVENTS / 2;
  await timedDeposits(handler, small + GROWTH_SAMPLE_DEPOSITS, large, 'growth');
  const largeMs = await timedDeposits(handler, large, large + GROWTH_SAMPLE_DEPOSITS, 'growth');
  return { smallMs, largeMs };
}

async function main(): Promise<void> {
  const external = process.env.SPANNER_EMULATOR_HOST;
  const emulator = external ? undefined : await startSpannerEmulator();
  const host = external ?? emulator!.host;
  const broker = process.env.KAFKA_BROKERS || !findKcat() ? undefined : await startKafkaBroker();
  const brokers = process.env.KAFKA_BROKERS || broker?.brokers;
  const figures: Record<string, number | string | null> = { deposits: DEPOSITS, rowsPerCommit: ROWS_PER_COMMIT };
  const phase = async <T>(label: string, run: (connection: SpannerConnection) => Promise<T>): Promise<T> => {
    const connection = await freshBenchDatabase(host, label);
    try {
      return await run(connection);
    } finally {
      await connection.close();
    }
  };
  try {
    console.log(`emulator ${host}; ${DEPOSITS} deposits (2 events each), ${LIMITS.commandsPerTransactionMax} commands per transaction`);
    const plain = await phase('plain', (connection) => plainRowCeiling(connection, DEPOSITS));
    figures.plainRowsPerSecond = round(plain);
    console.log(`plain-row ceiling: ${round(plain)} rows/s (500 rows of ~300 B per commit, one secondary index)`);
    const storj = await phase('storj', (connection) => storjBaseline(connection, DEPOSITS));
    figures.storjPaymentsPerSecond = round(storj);
    console.log(`Storj-style baseline: ${round(storj)} payments/s (one read-write transaction per payment)`);
    const emulatorCpuBefore = processCpuSeconds(emulator?.pid);
    const cli = await phase('cli', (connection) => cliSubmit(connection, DEPOSITS, 0));
    const emulatorCpu = processCpuSeconds(emulator?.pid) - emulatorCpuBefore;
    figures.cliSubmitCommandsPerSecond = round(cli.commandsPerSecond);
    figures.cliSubmitToPlainRatio = round(cli.commandsPerSecond / plain, 2);
    figures.cliSubmitToStorjRatio = round(cli.commandsPerSecond / storj, 1);
    figures.cliSubmitCliCpuSeconds = round(cli.cliCpuSeconds, 1);
    figures.cliSubmitEmulatorCpuSeconds = round(emulatorCpu, 1);
    console.log(
      `spanledger submit (CLI, bonus off): ${round(cli.commandsPerSecond)} commands/s = ${figures.cliSubmitToPlainRatio}x plain rows (goal >= 0.4x), ` +
        `${figures.cliSubmitToStorjRatio}x Storj (goal >= 15x); CPU: CLI ${figures.cliSubmitCliCpuSeconds} s, emulator ${figures.cliSubmitEmulatorCpuSeconds} s`,
    );
    const raw = await phase('raw', (connection) => rawInsertCeiling(connection, DEPOSITS * 2));
    figures.rawInsertRowsPerSecond = round(raw);
    console.log(`raw batched insert ceiling: ${round(raw)} rows/s (${ROWS_PER_COMMIT} rows per commit)`);

    const submit = await phase('submit', (connection) => submitThroughput(connection, DEPOSITS));
    figures.submitEventsPerSecond = round(submit.eventsPerSecond);
    figures.submitToRawRatio = round(submit.eventsPerSecond / raw, 2);
    console.log(`submit: ${round(submit.eventsPerSecond)} events/s (${submit.events} events), ${figures.submitToRawRatio}x raw (goal >= 0.5x)`);

    const rebuild = await phase('rebuild', benchRebuild);
    figures.rebuildEventsPerSecond = round(rebuild.eventsPerSecond);
    figures.rebuildToRawRatio = round(rebuild.eventsPerSecond / raw, 2);
    console.log(`rebuild: ${round(rebuild.eventsPerSecond)} events/s (${rebuild.events} events, 2 views), ${figures.rebuildToRawRatio}x raw (goal >= 0.5x)`);

    if (brokers) {
      const consume = await phase('consume', (connection) => benchConsume(connection, brokers, DEPOSITS));
      figures.consumeEventsPerSecond = round(consume.eventsPerSecond);
      figures.consumeToSubmitRatio = round(consume.eventsPerSecond / submit.eventsPerSecond, 2);
      console.log(`consume: ${round(consume.eventsPerSecond)} events/s (${consume.messages} messages), ${figures.consumeToSubmitRatio}x submit (goal >= 0.5x)`);
    } else {
      figures.consumeEventsPerSecond = null;
      console.log('consume: skipped (no KAFKA_BROKERS and no kcat for the embedded broker)');
    }

    const growth = await phase('growth', costAsLogGrows);
    figures.costPerCommandMsAt10k = round(growth.smallMs, 3);
    figures[`costPerCommandMsAt${GROWTH_LARGE_EVENTS / 1000}k`] = round(growth.largeMs, 3);
    figures.costGrowthRatio = round(growth.largeMs / growth.smallMs, 2);
    console.log(
      `cost per command: ${round(growth.smallMs, 3)} ms at ${GROWTH_SMALL_EVENTS} events, ${round(growth.largeMs, 3)} ms at ${GROWTH_LARGE_EVENTS} events (${figures.costGrowthRatio}x; goal within 1.2x)`,
    );
  } finally {
    await broker?.stop();
    await emulator?.stop();
  }
  console.log(JSON.stringify(figures));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
