import { createReadStream } from 'node:fs';
import { SubmitIncompleteError, SubmitOutcome } from '../app/ledger';
import { LIMITS } from '../ledger/core/limits';
import { OutageError } from '../ledger/core/retry';
import { describeTarget } from '../ledger/spanner/connection';
import { ConnectionFlags, explainSpannerError, openLedgerFor, resolveSettings } from './context';
import { CliError, EXIT, ExitCode } from './errors';
import { CliIo, writeLine } from './io';
import { exitCodeOfSignal, stopOnSignals } from './signals';

/** Lines read before a group of transactions is sent: bounds memory on huge inputs. */
const LINES_PER_CHUNK = LIMITS.commandsPerTransactionMax * 10;

export interface SubmitFlags extends ConnectionFlags {
  readonly batchSize?: number;
  /** Decide every line against the committed state and write nothing. */
  readonly dryRun?: boolean;
  /** Accepted for uniformity with the other commands: submit always prints JSON lines. */
  readonly json?: boolean;
}

/** Lines a dry run decides in its one (rolled back) transaction. */
export const DRY_RUN_LINES_MAX = 100_000;

export interface SubmitLine {
  readonly line: number;
  readonly text: string;
  /** The line's bytes are not valid UTF-8: reported as invalid, never decided. */
  readonly invalidEncoding?: boolean;
}

/** One JSON line per outcome: the `submit` output contract (see README): the Ledger's outcome with its line. */
export function renderOutcome(line: number, outcome: SubmitOutcome): string {
  return JSON.stringify({ line, ...outcome });
}

/** 2 if any line was invalid, else 3 if any was rejected, else 0. */
export function exitCodeFor(statuses: ReadonlySet<SubmitOutcome['status']>): ExitCode {
  if (statuses.has('invalid')) return EXIT.invalid;
  if (statuses.has('rejected')) return EXIT.rejected;
  return EXIT.ok;
}

const LINE_FEED = 0x0a;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Splits raw bytes into lines and decodes each one strictly. Decoding the stream as UTF-8
 * up front (readline, setEncoding) would silently turn invalid bytes into U+FFFD and
 * accept a line the Kafka consumer dead-letters; here such a line is reported as invalid.
 */
async function* nonEmptyLines(input: NodeJS.ReadableStream): AsyncGenerator<SubmitLine> {
  let line = 0;
  let pending: Buffer[] = [];
  const emit = (bytes: Buffer): SubmitLine | undefined => {
    line++;
    const body = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, -1) : bytes;
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      return { line, text: '', invalidEncoding: true };
    }
    return text.trim() === '' ? undefined : { line, text };
  };
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    let bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    for (let at = bytes.indexOf(LINE_FEED); at !== -1; at = bytes.indexOf(LINE_FEED)) {
      const entry = emit(Buffer.concat([...pending, bytes.subarray(0, at)]));
      pending = [];
      bytes = bytes.subarray(at + 1);
      if (entry) yield entry;
    }
    if (bytes.length > 0) pending.push(bytes);
  }
  if (pending.length > 0) {
    const entry = emit(Buffer.concat(pending));
    if (entry) yield entry;
  }
}

/** Line numbers as ranges: "3-5, 9". */
export function lineRanges(lines: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < lines.length; ) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1] === lines[j]! + 1) j++;
    parts.push(i === j ? `${lines[i]}` : `${lines[i]}-${lines[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

function incompleteMessage(error: SubmitIncompleteError, decodable: readonly SubmitLine[], target: string): string {
  const lines = (indexes: readonly number[]) => indexes.map((index) => decodable[index]!.line);
  const uncertain = lines(error.uncertain);
  const notApplied = lines(error.notApplied);
  const outage = error.cause instanceof OutageError ? error.cause : undefined;
  const last = outage?.cause instanceof Error ? outage.cause.message.split('\n')[0] : String(outage?.cause ?? error.cause);
  const parts = [`no answer from ${target} for ${((outage?.outageMs ?? 0) / 1000).toFixed(1)} s (last error: ${last})`];
  if (uncertain.length > 0) parts.push(`line(s) ${lineRanges(uncertain)} may have been applied (the reply to their commit was lost)`);
  parts.push(`${notApplied.length > 0 ? `line(s) ${lineRanges(notApplied)} and every later line` : 'every later line'} not applied`);
  return parts.join('; ');
}

export async function submit(io: CliIo, file: string | undefined, flags: SubmitFlags): Promise<ExitCode> {
  const ledger = openLedgerFor(io, flags, { batchSize: flags.batchSize });
  const input = file === undefined || file === '-' ? io.stdin : createReadStream(file);
  const statuses = new Set<SubmitOutcome['status']>();
  let chunk: SubmitLine[] = [];
  const flush = async () => {
    const decodable = chunk.filter((entry) => !entry.invalidEncoding);
    let decided: SubmitOutcome[];
    let incomplete: SubmitIncompleteError | undefined;
    try {
      decided = await ledger.submit(
        decodable.map((entry) => entry.text),
        { dryRun: flags.dryRun },
      );
    } catch (error) {
      if (!(error instanceof SubmitIncompleteError)) throw error;
      // Answer what was decided, then say which lines may have been applied and which were not.
      incomplete = error;
      decided = error.outcomes;
    }
    let next = 0;
    for (const entry of chunk) {
      if (!entry.invalidEncoding && next >= decided.length) break; // the first line left undecided
      const outcome: SubmitOutcome = entry.invalidEncoding
        ? { status: 'invalid', eventIds: [], code: 'INVALID_COMMAND', message: 'line: is not valid UTF-8', ...(flags.dryRun ? { dryRun: true as const } : {}) }
        : decided[next++]!;
      statuses.add(outcome.status);
      writeLine(io.stdout, renderOutcome(entry.line, outcome));
    }
    if (incomplete) throw new CliError(incompleteMessage(incomplete, decodable, describeTarget(resolveSettings(io, flags))), EXIT.failure, 'submitting the same input again is safe: what was applied answers "duplicate"');
    chunk = [];
  };
  // SIGINT/SIGTERM stop before the next chunk: the lines answered so far were decided (their
  // transactions committed), the rest were not read; the exit code says it was interrupted.
  const stop = stopOnSignals();
  let answered = 0;
  let lastLine = 0;
  // A dry run decides the whole input in one transaction (later lines see earlier ones, as
  // they would when applied), so it reads it all first.
  const linesPerChunk = flags.dryRun ? DRY_RUN_LINES_MAX + 1 : LINES_PER_CHUNK;
  try {
    for await (const entry of nonEmptyLines(input)) {
      chunk.push(entry);
      if (flags.dryRun && chunk.length > DRY_RUN_LINES_MAX) {
        throw new CliError(`--dry-run decides at most ${DRY_RUN_LINES_MAX} lines (in one transaction that is rolled back); this input has more`, EXIT.invalid);
      }
      if (chunk.length < linesPerChunk) continue;
      answered += chunk.length;
      lastLine = entry.line;
      await flush();
      if (stop.signal.aborted) break;
    }
    if (chunk.length > 0 && !stop.signal.aborted) {
      answered += chunk.length;
      lastLine = chunk[chunk.length - 1]!.line;
      await flush();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException)?.code === 'ENOENT' || error instanceof CliError) throw error;
    throw explainSpannerError(error, resolveSettings(io, flags), io);
  } finally {
    stop.dispose();
    await ledger.close();
  }
  const signal = stop.received();
  if (signal) {
    writeLine(io.stderr, `spanledger: interrupted by ${signal}: ${answered} command(s) up to input line ${lastLine} were decided and answered; nothing after line ${lastLine} was applied`);
    return exitCodeOfSignal(signal);
  }
  return exitCodeFor(statuses);
}
