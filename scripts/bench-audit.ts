import { audit } from '../app/audit/audit';
import { CommandHandler } from '../ledger/core/handler';
import { SpannerLedgerStore } from '../ledger/spanner/store';
import { rebuild } from '../projections/spanner/rebuild';
import { verify } from '../app/audit/verify';
import { useNativeSha256 } from '../ledger/native-sha256';
import { startSpannerEmulator } from '../emulator';
import { billingLine, depositLine, freshBenchDatabase, processCpuSeconds, round, seconds } from './bench-support';

/**
 * `npm run bench:audit`: the whole-log operations of a large ledger, for their time and
 * memory. Fills a fresh database through the command handler (deposits with their 10 %
 * bonus: two events per command), then runs `projections rebuild` (every view from the
 * pinned log), `projections verify` and `audit` (every check), one after the other, each
 * with the process's memory sampled every 50 ms from a collected baseline.
 * AUDIT_EVENTS (default 1,000,000) and AUDIT_USERS (default 10,000) size it; AUDIT_PROJECT=0
 * skips the rebuild and verify: the audit then reports the views as lagging and runs every
 * other check. AUDIT_MIX=billing fills it with a billing mix instead (deposits, pending charges
 * and their settles, invoices paid by the next deposit: every write-side table has rows).
 * Prints one JSON object as its last line.
 */
const EVENTS = Number(process.env.AUDIT_EVENTS ?? 1_000_000);
const USERS = Number(process.env.AUDIT_USERS ?? 10_000);
const COMMANDS_PER_CALL = 2_000;
const PROJECT = process.env.AUDIT_PROJECT !== '0';
const BILLING = process.env.AUDIT_MIX === 'billing';
const commandLine = BILLING ? billingLine : depositLine;

function say(text: string): void {
  process.stderr.write(`» ${text}\n`);
}

async function main(): Promise<void> {
  useNativeSha256();
  const emulator = await startSpannerEmulator();
  try {
    const connection = await freshBenchDatabase(emulator.host, 'audit');
    const store = new SpannerLedgerStore(connection);
    const handler = new CommandHandler(store, { bonusRateBps: 1000 });
    // A deposit is two events (with its bonus); the billing mix about 1.6 a command.
    const commands = Math.ceil(EVENTS / (BILLING ? 1.6 : 2));
    const started = process.hrtime.bigint();
    for (let n = 0; n < commands; n += COMMANDS_PER_CALL) {
      const lines = Array.from({ length: Math.min(COMMANDS_PER_CALL, commands - n) }, (_, i) => commandLine(n + i, USERS, 'audit'));
      const outcomes = await handler.handleTexts(lines);
      const refused = outcomes.find((outcome) => outcome.status !== 'accepted');
      if (refused) throw new Error(`the workload was not accepted: ${JSON.stringify(refused)}`);
      if ((n / COMMANDS_PER_CALL) % 25 === 0) say(`${n + lines.length} commands written`);
    }
    const writeSeconds = seconds(started);
    say(`wrote ${commands} commands in ${round(writeSeconds)} s`);
    const mib = (bytes: number) => round(bytes / 2 ** 20, 1);
    /** Runs `work` with the process's memory sampled; seconds, and peak RSS and heap above a collected baseline. */
    const measured = async <T>(label: string, work: () => Promise<T>) => {
      global.gc?.();
      const baseline = process.memoryUsage();
      let peakRss = baseline.rss;
      let peakHeap = baseline.heapUsed;
      const sampler = setInterval(() => {
        const now = process.memoryUsage();
        peakRss = Math.max(peakRss, now.rss);
        peakHeap = Math.max(peakHeap, now.heapUsed);
      }, 50);
      const start = process.hrtime.bigint();
      const cpuBefore = process.cpuUsage();
      const emulatorCpuBefore = processCpuSeconds(emulator.pid);
      try {
        const value = await work();
        const cpu = process.cpuUsage(cpuBefore);
        const figures = {
          seconds: round(seconds(start), 1),
          cpuSeconds: round((cpu.user + cpu.system) / 1e6, 1),
          emulatorCpuSeconds: round(processCpuSeconds(emulator.pid) - emulatorCpuBefore, 1),
          rssBeforeMiB: mib(baseline.rss),
          peakRssMiB: mib(peakRss),
          heapBeforeMiB: mib(baseline.heapUsed),
          peakHeapMiB: mib(peakHeap),
        };
        say(`${label}: ${JSON.stringify(figures)}`);
        return { value, figures };
      } finally {
        clearInterval(sampler);
      }
    };
    const rebuilt = PROJECT ? await measured('rebuild', () => rebuild(connection, store)) : null;
    const verified = PROJECT ? await measured('verify', () => verify(connection, store)) : null;
    if (verified && !verified.value.ok) say(`verify: ${verified.value.differenceCount} differences: ${JSON.stringify(verified.value.differences.slice(0, 3))}`);
    const audited = await measured('audit', () => audit(connection, store, { catchUp: false }));
    const report = audited.value;
    say(`audit: ok ${report.ok}, ${report.events} events, ${report.streams} streams, ${report.findingCount} findings`);
    await connection.close();
    console.log(
      JSON.stringify({
        mix: BILLING ? 'billing' : 'deposits',
        events: report.events,
        streams: report.streams,
        ok: report.ok,
        findings: report.findingCount,
        writeSeconds: round(writeSeconds, 1),
        rebuild: rebuilt && { ...rebuilt.figures, eventsPerSecond: round(rebuilt.value.events / rebuilt.figures.seconds) },
        verify: verified && { ...verified.figures, ok: verified.value.ok, differences: verified.value.differenceCount },
        audit: { ...audited.figures, eventsPerSecond: round(report.events / audited.figures.seconds), checks: report.checks, lagging: report.lagging },
      }),
    );
    // Lagging views (AUDIT_PROJECT=0) are not findings; anything else fails the bench.
    if (report.findingCount > 0 || (verified && !verified.value.ok)) process.exitCode = 1;
  } finally {
    await emulator.stop();
  }
}

main().catch((error) => {
  console.error(`bench:audit failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
});
