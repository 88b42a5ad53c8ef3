import { CommandHandler } from '../ledger/core/handler';
import { LIMITS } from '../ledger/core/limits';
import { SpannerLedgerStore } from '../ledger/spanner/store';
import { SpannerConnection } from '../ledger/spanner/connection';
import { findKcat, startKafkaBroker, startSpannerEmulator } from '../emulator';
import { benchConsume } from './bench-consume';
import { benchRebuild } from './bench-rebuild';
import { useNativeSha256 } from '../ledger/native-sha256';
import { cliSubmit, plainRowCeiling, storjBaseline } from './bench-references';
import { depositLine, freshBenchDatabase, insertRowsInCommits, processCpuSeconds, round, scatteredId, seconds } from './bench-support';

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
 * - growth: cost per command (ms) at 10,000 events in the log and at every tenth of the way
 *   to 200,000 (BENCH_GROWTH_EVENTS), each on 2,000 fresh deposits (goal: flat within 20 %),
 *   with the CPU of spanledger and of the emulator per command, to tell whose cost grows;
 *   and, as its reference, plain Events inserts at 10,000 rows and at the same size.
 * Each phase gets a fresh database, so no phase pays for another's table size.
 */
const GROWTH_SMALL_EVENTS = 10_000;
const GROWTH_LARGE_EVENTS = Number(process.env.BENCH_GROWTH_EVENTS ?? 200_000);
const GROWTH_SAMPLE_DEPOSITS = 2_000;
const DEPOSITS = Number(process.env.BENCH_DEPOSITS ?? 20_000);
const ROWS_PER_COMMIT = LIMITS.commandsPerTransactionMax * 2;
const PHASES = ['plain', 'storj', 'cli', 'raw', 'submit', 'rebuild', 'consume', 'growth'] as const;
/** `BENCH_ONLY=plain,cli` runs only those phases (a figure that needs a skipped one is left out). */
const ONLY = new Set((process.env.BENCH_ONLY ?? PHASES.join(',')).split(',').map((name) => name.trim()));
for (const name of ONLY) if (!(PHASES as readonly string[]).includes(name)) throw new Error(`BENCH_ONLY: unknown phase ${name}; phases: ${PHASES.join(', ')}`);

/** Plain inserts of rows [from, to) into Events, ROWS_PER_COMMIT per commit: no reads, no decisions. */
function insertRawEvents(connection: SpannerConnection, from: number, to: number): Promise<void> {
  return insertRowsInCommits(connection, 'Events', from, to, ROWS_PER_COMMIT, (n) => {
    const id = scatteredId(n);
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
  });
}

async function rawInsertCeiling(connection: SpannerConnection, rows: number): Promise<number> {
  const start = process.hrtime.bigint();
  await insertRawEvents(connection, 0, rows);
  return rows / seconds(start);
}

/** The emulator's own growth, the reference for spanledger's: ms per raw Events row at 10,000 rows and at GROWTH_LARGE_EVENTS. */
async function rawCostAsTableGrows(connection: SpannerConnection): Promise<{ smallMs: number; largeMs: number }> {
  const sampleRows = 4_000;
  const sample = async (from: number) => {
    const start = process.hrtime.bigint();
    await insertRawEvents(connection, from, from + sampleRows);
    return (seconds(start) * 1000) / sampleRows;
  };
  await insertRawEvents(connection, 0, GROWTH_SMALL_EVENTS);
  const smallMs = await sample(GROWTH_SMALL_EVENTS);
  await insertRawEvents(connection, GROWTH_SMALL_EVENTS + sampleRows, GROWTH_LARGE_EVENTS);
  const largeMs = await sample(GROWTH_LARGE_EVENTS);
  return { smallMs, largeMs };
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

/** Cost of one command: wall ms, and the CPU ms of this process and of the emulator behind it. */
interface CommandCost {
  readonly ms: number;
  readonly cpuMs: number;
  readonly emulatorCpuMs: number;
}

/** Appends deposits numbered [from, to) through the handler; what each command cost. */
async function timedDeposits(handler: CommandHandler, from: number, to: number, runTag: string, emulatorPid: number | undefined): Promise<CommandCost> {
  const chunk = LIMITS.commandsPerTransactionMax * 10;
  const start = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  const emulatorCpuBefore = processCpuSeconds(emulatorPid);
  for (let offset = from; offset < to; offset += chunk) {
    const outcomes = await handler.handleTexts(Array.from({ length: Math.min(chunk, to - offset) }, (_, i) => depositLine(offset + i, 500, runTag)));
    if (outcomes.some((outcome) => outcome.status !== 'accepted')) throw new Error('bench: a growth deposit was not accepted');
  }
  const cpu = process.cpuUsage(cpuBefore);
  const count = to - from;
  return { ms: (seconds(start) * 1000) / count, cpuMs: (cpu.user + cpu.system) / 1000 / count, emulatorCpuMs: ((processCpuSeconds(emulatorPid) - emulatorCpuBefore) * 1000) / count };
}

/**
 * Cost per command as the log grows (each deposit writes 2 events): measured on 2,000
 * deposits at 10,000 events, then at every tenth of the way to GROWTH_LARGE_EVENTS.
 */
async function costAsLogGrows(connection: SpannerConnection, emulatorPid: number | undefined): Promise<{ events: number; cost: CommandCost }[]> {
  const handler = new CommandHandler(new SpannerLedgerStore(connection), { bonusRateBps: 1000 });
  const checkpoints = [GROWTH_SMALL_EVENTS, ...Array.from({ length: 10 }, (_, i) => Math.round((GROWTH_LARGE_EVENTS * (i + 1)) / 10))].filter((events, i, all) => events >= GROWTH_SMALL_EVENTS && all.indexOf(events) === i);
  const curve: { events: number; cost: CommandCost }[] = [];
  let written = 0;
  for (const events of checkpoints) {
    const target = Math.max(written, Math.floor(events / 2));
    await timedDeposits(handler, written, target, 'growth', emulatorPid);
    curve.push({ events: target * 2, cost: await timedDeposits(handler, target, target + GROWTH_SAMPLE_DEPOSITS, 'growth', emulatorPid) });
    written = target + GROWTH_SAMPLE_DEPOSITS;
  }
  return curve;
}

async function main(): Promise<void> {
  // As every spanledger process does (the CLI, openLedger): the in-process figures compare with the CLI's.
  useNativeSha256();
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
    console.log(`emulator ${host}; ${DEPOSITS} deposits (2 events each), ${LIMITS.commandsPerTransactionMax} commands per transaction; phases ${[...ONLY].join(', ')}`);
    const ratio = (value: number, reference: number | undefined, digits: number) => (reference === undefined ? null : round(value / reference, digits));
    let plain: number | undefined;
    let storj: number | undefined;
    let raw: number | undefined;
    let submit: number | undefined;
    if (ONLY.has('plain')) {
      plain = await phase('plain', (connection) => plainRowCeiling(connection, DEPOSITS));
      figures.plainRowsPerSecond = round(plain);
      console.log(`plain-row ceiling: ${round(plain)} rows/s (500 rows of ~300 B per commit, one secondary index)`);
    }
    if (ONLY.has('storj')) {
      storj = await phase('storj', (connection) => storjBaseline(connection, DEPOSITS));
      figures.storjPaymentsPerSecond = round(storj);
      console.log(`Storj-style baseline: ${round(storj)} payments/s (one read-write transaction per payment)`);
    }
    if (ONLY.has('cli')) {
      const emulatorCpuBefore = processCpuSeconds(emulator?.pid);
      const cli = await phase('cli', (connection) => cliSubmit(connection, DEPOSITS, 0));
      const emulatorCpu = processCpuSeconds(emulator?.pid) - emulatorCpuBefore;
      figures.cliSubmitCommandsPerSecond = round(cli.commandsPerSecond);
      figures.cliSubmitToPlainRatio = ratio(cli.commandsPerSecond, plain, 2);
      figures.cliSubmitToStorjRatio = ratio(cli.commandsPerSecond, storj, 1);
      figures.cliSubmitCliCpuSeconds = round(cli.cliCpuSeconds, 1);
      figures.cliSubmitEmulatorCpuSeconds = round(emulatorCpu, 1);
      console.log(
        `spanledger submit (CLI, bonus off): ${round(cli.commandsPerSecond)} commands/s = ${figures.cliSubmitToPlainRatio}x plain rows (goal >= 0.4x), ` +
          `${figures.cliSubmitToStorjRatio}x Storj (goal >= 15x); CPU: CLI ${figures.cliSubmitCliCpuSeconds} s, emulator ${figures.cliSubmitEmulatorCpuSeconds} s`,
      );
    }
    if (ONLY.has('raw')) {
      raw = await phase('raw', (connection) => rawInsertCeiling(connection, DEPOSITS * 2));
      figures.rawInsertRowsPerSecond = round(raw);
      console.log(`raw batched insert ceiling: ${round(raw)} rows/s (${ROWS_PER_COMMIT} rows per commit)`);
    }
    if (ONLY.has('submit')) {
      const result = await phase('submit', (connection) => submitThroughput(connection, DEPOSITS));
      submit = result.eventsPerSecond;
      figures.submitEventsPerSecond = round(submit);
      figures.submitToRawRatio = ratio(submit, raw, 2);
      console.log(`submit: ${round(submit)} events/s (${result.events} events), ${figures.submitToRawRatio}x raw Events inserts`);
    }
    if (ONLY.has('rebuild')) {
      const rebuild = await phase('rebuild', benchRebuild);
      figures.rebuildEventsPerSecond = round(rebuild.eventsPerSecond);
      figures.rebuildToPlainRatio = ratio(rebuild.eventsPerSecond, plain, 2);
      figures.rebuildToRawRatio = ratio(rebuild.eventsPerSecond, raw, 2);
      console.log(`rebuild: ${round(rebuild.eventsPerSecond)} events/s (${rebuild.events} events, every view), ${figures.rebuildToPlainRatio}x plain rows (goal >= 0.5x), ${figures.rebuildToRawRatio}x raw`);
    }
    if (ONLY.has('consume') && brokers) {
      const consume = await phase('consume', (connection) => benchConsume(connection, brokers, DEPOSITS));
      figures.consumeEventsPerSecond = round(consume.eventsPerSecond);
      figures.consumeToSubmitRatio = ratio(consume.eventsPerSecond, submit, 2);
      figures.consumeGroupJoinSeconds = round(consume.firstChunkSeconds, 1);
      figures.consumeSteadyEventsPerSecond = round(consume.steadyEventsPerSecond);
      figures.consumeSteadyToSubmitRatio = ratio(consume.steadyEventsPerSecond, submit, 2);
      console.log(
        `consume: ${round(consume.eventsPerSecond)} events/s end to end (${consume.messages} messages; first commit after ${figures.consumeGroupJoinSeconds} s of group join) = ${figures.consumeToSubmitRatio}x submit; ` +
          `steady ${figures.consumeSteadyEventsPerSecond} events/s = ${figures.consumeSteadyToSubmitRatio}x submit (goal >= 0.9x)`,
      );
    } else if (ONLY.has('consume')) {
      figures.consumeEventsPerSecond = null;
      console.log('consume: skipped (no KAFKA_BROKERS and no kcat for the embedded broker)');
    }
    if (ONLY.has('growth')) {
      const curve = await phase('growth', (connection) => costAsLogGrows(connection, emulator?.pid));
      const small = curve[0]!.cost;
      const large = curve[curve.length - 1]!.cost;
      const at = `${GROWTH_LARGE_EVENTS / 1000}k`;
      figures.costPerCommandMsAt10k = round(small.ms, 3);
      figures[`costPerCommandMsAt${at}`] = round(large.ms, 3);
      figures.costGrowthRatio = round(large.ms / small.ms, 2);
      figures.costGrowthRatioMax = round(Math.max(...curve.map((point) => point.cost.ms)) / small.ms, 2);
      figures.costCpuMsAt10k = round(small.cpuMs, 3);
      figures[`costCpuMsAt${at}`] = round(large.cpuMs, 3);
      figures.costEmulatorCpuMsAt10k = round(small.emulatorCpuMs, 3);
      figures[`costEmulatorCpuMsAt${at}`] = round(large.emulatorCpuMs, 3);
      for (const { events, cost } of curve) {
        console.log(`  at ${events} events: ${round(cost.ms, 3)} ms per command; CPU spanledger ${round(cost.cpuMs, 3)} ms, emulator ${round(cost.emulatorCpuMs, 3)} ms`);
      }
      const reference = await phase('rawgrowth', rawCostAsTableGrows);
      figures.rawRowMsAt10k = round(reference.smallMs, 4);
      figures[`rawRowMsAt${at}`] = round(reference.largeMs, 4);
      figures.rawGrowthRatio = round(reference.largeMs / reference.smallMs, 2);
      console.log(`  reference, plain Events inserts without spanledger: ${figures.rawRowMsAt10k} ms per row at ${GROWTH_SMALL_EVENTS} rows, ${figures[`rawRowMsAt${at}`]} ms at ${GROWTH_LARGE_EVENTS} (${figures.rawGrowthRatio}x)`);
      console.log(
        `cost per command: ${round(small.ms, 3)} ms at ${curve[0]!.events} events, ${round(large.ms, 3)} ms at ${curve[curve.length - 1]!.events} events ` +
          `(${figures.costGrowthRatio}x, at most ${figures.costGrowthRatioMax}x on the way; goal within 1.2x)`,
      );
    }
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
