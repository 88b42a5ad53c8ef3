import { audit } from '../app/audit/audit';
import { CommandHandler } from '../ledger/core/handler';
import { SpannerLedgerStore } from '../ledger/spanner/store';
import { runProjector } from '../projections/spanner/runtime';
import { startSpannerEmulator } from '../emulator';
import { depositLine, freshBenchDatabase, round, seconds } from './bench-support';

/**
 * `npm run bench:audit`: the audit of a large ledger, for its time and memory. Fills a fresh
 * database through the command handler (deposits with their 10 % bonus: two events per
 * command), projects it, then audits it with every check while sampling the process's
 * memory. AUDIT_EVENTS (default 1,000,000) and AUDIT_USERS (default 10,000) size it;
 * AUDIT_PROJECT=0 skips the projection (the emulator projects a million events in tens of
 * minutes): the audit then reports the views as lagging and runs every other check.
 * Prints one JSON object as its last line.
 */
const EVENTS = Number(process.env.AUDIT_EVENTS ?? 1_000_000);
const USERS = Number(process.env.AUDIT_USERS ?? 10_000);
const COMMANDS_PER_CALL = 2_000;
const PROJECT = process.env.AUDIT_PROJECT !== '0';

function say(text: string): void {
  process.stderr.write(`» ${text}\n`);
}

async function main(): Promise<void> {
  const emulator = await startSpannerEmulator();
  try {
    const connection = await freshBenchDatabase(emulator.host, 'audit');
    const store = new SpannerLedgerStore(connection);
    const handler = new CommandHandler(store, { bonusRateBps: 1000 });
    const commands = Math.ceil(EVENTS / 2);
    let started = process.hrtime.bigint();
    for (let n = 0; n < commands; n += COMMANDS_PER_CALL) {
      const lines = Array.from({ length: Math.min(COMMANDS_PER_CALL, commands - n) }, (_, i) => depositLine(n + i, USERS, 'audit'));
      await handler.handleTexts(lines);
      if ((n / COMMANDS_PER_CALL) % 25 === 0) say(`${(n + lines.length) * 2} events written`);
    }
    const writeSeconds = seconds(started);
    say(`wrote ${commands * 2} events in ${round(writeSeconds)} s`);
    started = process.hrtime.bigint();
    if (PROJECT) await runProjector(connection, store, { chunkSize: 500 });
    const projectSeconds = PROJECT ? seconds(started) : null;
    if (PROJECT) say(`projected them in ${round(projectSeconds!)} s`);

    global.gc?.();
    const baseline = process.memoryUsage();
    let peakRss = baseline.rss;
    let peakHeap = baseline.heapUsed;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peakRss = Math.max(peakRss, now.rss);
      peakHeap = Math.max(peakHeap, now.heapUsed);
    }, 50);
    started = process.hrtime.bigint();
    const report = await audit(connection, store, { catchUp: false });
    const auditSeconds = seconds(started);
    clearInterval(sampler);
    const mib = (bytes: number) => round(bytes / 2 ** 20, 1);
    say(`audit: ok ${report.ok}, ${report.events} events, ${report.streams} streams, ${report.findingCount} findings in ${round(auditSeconds, 1)} s`);
    await connection.close();
    console.log(
      JSON.stringify({
        events: report.events,
        streams: report.streams,
        ok: report.ok,
        findings: report.findingCount,
        writeSeconds: round(writeSeconds, 1),
        projectSeconds: projectSeconds === null ? null : round(projectSeconds, 1),
        checks: report.checks,
        lagging: report.lagging,
        auditSeconds: round(auditSeconds, 1),
        auditEventsPerSecond: round(report.events / auditSeconds),
        rssBeforeMiB: mib(baseline.rss),
        peakRssMiB: mib(peakRss),
        heapBeforeMiB: mib(baseline.heapUsed),
        peakHeapMiB: mib(peakHeap),
      }),
    );
    // Lagging views (AUDIT_PROJECT=0) are not findings; anything else fails the bench.
    if (report.findingCount > 0) process.exitCode = 1;
  } finally {
    await emulator.stop();
  }
}

main().catch((error) => {
  console.error(`bench:audit failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
});
