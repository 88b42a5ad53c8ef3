import { createReadStream } from 'node:fs';
import { CommandHandler, CommandOutcome } from '../ledger/core/handler';
import { LIMITS } from '../ledger/core/limits';
import { balanceThresholdsFromEnv, bonusRateFromEnv } from './config';
import { ConnectionFlags, explainSpannerError, openStore, resolveSettings } from './context';
import { EXIT, ExitCode } from './errors';
import { CliIo, writeLine } from './io';

/** Lines read before a group of transactions is sent: bounds memory on huge inputs. */
const LINES_PER_CHUNK = LIMITS.commandsPerTransactionMax * 10;

export interface SubmitFlags extends ConnectionFlags {
  readonly batchSize?: number;
}

export interface SubmitLine {
  readonly line: number;
  readonly text: string;
  /** The line's bytes are not valid UTF-8: reported as invalid, never decided. */
  readonly invalidEncoding?: boolean;
}

/** One JSON line per outcome: the `submit` output contract (see README). */
export function renderOutcome(line: number, outcome: CommandOutcome): string {
  const base = { line, status: outcome.status, eventIds: outcome.eventIds ?? [] };
  return JSON.stringify(outcome.code ? { ...base, code: outcome.code, message: outcome.message } : base);
}

/** 2 if any line was invalid, else 3 if any was rejected, else 0. */
export function exitCodeFor(statuses: ReadonlySet<CommandOutcome['status']>): ExitCode {
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

export async function submit(io: CliIo, file: string | undefined, flags: SubmitFlags): Promise<ExitCode> {
  const handler = new CommandHandler(openStore(io, flags), { bonusRateBps: bonusRateFromEnv(io.env), balanceThresholdsMicroUsd: balanceThresholdsFromEnv(io.env), batchSize: flags.batchSize });
  const input = file === undefined || file === '-' ? io.stdin : createReadStream(file);
  const statuses = new Set<CommandOutcome['status']>();
  let chunk: SubmitLine[] = [];
  const flush = async () => {
    const decided = await handler.handleTexts(chunk.filter((entry) => !entry.invalidEncoding).map((entry) => entry.text));
    let next = 0;
    const outcomes = chunk.map(
      (entry): CommandOutcome =>
        entry.invalidEncoding ? { status: 'invalid', code: 'INVALID_COMMAND', message: 'line: is not valid UTF-8' } : decided[next++]!,
    );
    outcomes.forEach((outcome, index) => {
      statuses.add(outcome.status);
      writeLine(io.stdout, renderOutcome(chunk[index]!.line, outcome));
    });
    chunk = [];
  };
  try {
    for await (const entry of nonEmptyLines(input)) {
      chunk.push(entry);
      if (chunk.length >= LINES_PER_CHUNK) await flush();
    }
    if (chunk.length > 0) await flush();
  } catch (error) {
    if ((error as NodeJS.ErrnoException)?.code === 'ENOENT') throw error;
    throw explainSpannerError(error, resolveSettings(io, flags));
  } finally {
    await handler.store.close();
  }
  return exitCodeFor(statuses);
}
