import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { CommandHandler, CommandOutcome } from '../ledger/core/handler';
import { LIMITS } from '../ledger/core/limits';
import { bonusRateFromEnv } from './config';
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

async function* nonEmptyLines(input: NodeJS.ReadableStream): AsyncGenerator<SubmitLine> {
  const reader = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const text of reader) {
    line++;
    if (text.trim() !== '') yield { line, text };
  }
}

export async function submit(io: CliIo, file: string | undefined, flags: SubmitFlags): Promise<ExitCode> {
  const handler = new CommandHandler(openStore(io, flags), { bonusRateBps: bonusRateFromEnv(io.env), batchSize: flags.batchSize });
  const input = file === undefined || file === '-' ? io.stdin : createReadStream(file, 'utf8');
  const statuses = new Set<CommandOutcome['status']>();
  let chunk: SubmitLine[] = [];
  const flush = async () => {
    const outcomes = await handler.handleTexts(chunk.map((entry) => entry.text));
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
