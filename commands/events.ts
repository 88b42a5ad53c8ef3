import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { appendToStream, bookkeepingOnly, GlobalPosition, InboxOffset, LedgerStore } from '../ledger/core/store';
import { ConnectionFlags, explainSpannerError, openStore, outageLines, resolveSettings } from './context';
import { rideOut } from '../ledger/system-clock';
import { CliError, EXIT, ExitCode } from './errors';
import { endLine, ExportFileLine, exportLine, headerLine, ImportedEvent, inboxLine, parseFileLine } from './export-file';
import { ExportSeal } from './export-seal';
import { ExportFileCheck } from './import-check';
import { CliIo, writeLine } from './io';

/** Writes with back-pressure; false once the stream is closed (a reader that went away). */
async function write(stream: NodeJS.WritableStream, text: string): Promise<boolean> {
  if ((stream as { destroyed?: boolean }).destroyed) return false;
  if (!stream.write(text)) await Promise.race([once(stream, 'drain'), once(stream, 'close')]);
  return !(stream as { destroyed?: boolean }).destroyed;
}

/** `events export [FILE]`: every event at one read timestamp, in the global order. */
export async function eventsExport(io: CliIo, file: string | undefined, flags: ConnectionFlags): Promise<ExitCode> {
  const store = openStore(io, flags);
  const toFile = file !== undefined && file !== '-';
  const output = toFile ? createWriteStream(file) : io.stdout;
  let count = 0;
  let positions = 0;
  try {
    // Pin one read timestamp so the export is one consistent cut of the log.
    const [snapshot] = await store.connection.database.getSnapshot({ strong: true, returnReadTimestamp: true });
    let readTimestamp: string;
    try {
      await snapshot.run({ sql: 'SELECT 1', ...store.connection.queryOptions });
      const { timestampText } = await import('../ledger/spanner/codec');
      readTimestamp = timestampText(snapshot.readTimestamp);
    } finally {
      snapshot.end();
    }
    // Sealed: a header, the events, the positions, and an end line that counts and digests them.
    const seal = new ExportSeal();
    const sealed = (text: string) => {
      seal.addLine(text);
      return `${text}\n`;
    };
    if (!(await write(output, sealed(headerLine(readTimestamp))))) return EXIT.ok;
    let position: GlobalPosition | null = null;
    for (;;) {
      const page = await store.readAll(position, 1000, { readTimestamp });
      if (page.events.length === 0) break;
      let chunk = '';
      for (const event of page.events) {
        chunk += sealed(exportLine(event));
        seal.addEvent(event.streamId, event.streamVersion, event.chainHash);
      }
      // Nobody reads any more (`events export | head`): stop reading the log.
      if (!(await write(output, chunk))) return EXIT.ok;
      count += page.events.length;
      position = page.position;
    }
    const { listInbox } = await import('../ledger/kafka/inbox-admin');
    const inbox = await listInbox(store.connection, {}, readTimestamp);
    const positionLines = inbox.map((row) => {
      seal.addPosition();
      return sealed(inboxLine(row));
    });
    if (positionLines.length > 0) await write(output, positionLines.join(''));
    await write(output, `${endLine(seal.end())}\n`);
    positions = inbox.length;
  } catch (error) {
    throw explainSpannerError(error, resolveSettings(io, flags));
  } finally {
    if (toFile) {
      output.end();
      await once(output, 'finish').catch(() => undefined);
    }
    await store.close();
  }
  if (toFile) writeLine(io.stderr, `exported ${count} event(s) and ${positions} consumer position(s) to ${file}`);
  return EXIT.ok;
}

export interface ImportFlags extends ConnectionFlags {
  readonly json?: boolean;
  readonly projector?: boolean;
}

/** Events of one original commit on one stream, which must be appended together. */
const GROUP_EVENTS_MAX = 1000;

/** The lines of an export file, recognised one by one, with their text. */
async function* exportFileLines(path: string): AsyncGenerator<{ entry: ExportFileLine; text: string }> {
  const reader = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  for await (const text of reader) {
    line++;
    if (text.trim() === '') continue;
    yield { entry: parseFileLine(text, line), text };
  }
}

/** Problems printed on stderr before the count of the rest (a cut file can have one per stream). */
const PROBLEMS_PRINTED_MAX = 20;

/** The file to read twice: the file itself, or stdin copied to a temporary file. */
async function stagedInput(io: CliIo, file: string): Promise<{ path: string; cleanup: () => void }> {
  if (file !== '-') return { path: file, cleanup: () => undefined };
  const dir = mkdtempSync(join(tmpdir(), 'spanledger-import-'));
  const path = join(dir, 'stdin.jsonl');
  await pipeline(io.stdin, createWriteStream(path));
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * `events import FILE`, in two passes over the file.
 *
 * 1. Check the whole file before writing anything (ExportFileCheck): every line (shape,
 *    payload, digest, postings, an ID its natural key derives), every stream's chain and
 *    rules, every commit whole, and a sealed file's end line. Any problem refuses the file,
 *    exit 2, naming the line and event: a restore is all or nothing, and the target is left
 *    as it was.
 * 2. Write: group consecutive lines of the same original commit (committedAt) and stream,
 *    and append each group with appendToStream at its original stream version: identical →
 *    duplicate, different → conflict; so importing twice changes nothing. Then restore the
 *    consumer positions.
 * Memory: one group at a time, and the last version and hash of each stream while checking.
 */
export async function eventsImport(io: CliIo, file: string, flags: ImportFlags): Promise<ExitCode> {
  const counts = { appended: 0, duplicate: 0, conflicts: 0, invalid: 0, groups: 0, positions: 0 };
  const problems: string[] = [];
  const report = () => {
    if (flags.json) writeLine(io.stdout, JSON.stringify({ ...counts, problems: problems.slice(0, 20) }));
    else {
      writeLine(
        io.stdout,
        `imported: ${counts.appended} appended, ${counts.duplicate} duplicate, ${counts.positions} consumer position(s) restored, ${counts.conflicts} conflict(s), ${counts.invalid} invalid line(s)`,
      );
    }
  };
  const input = await stagedInput(io, file);
  try {
    const check = new ExportFileCheck();
    const refuse = (problem: string) => {
      counts.invalid++;
      if (counts.invalid > PROBLEMS_PRINTED_MAX) return;
      problems.push(problem);
      writeLine(io.stderr, problem);
    };
    for await (const { entry, text } of exportFileLines(input.path)) for (const problem of check.check(entry, text)) refuse(problem);
    for (const problem of check.finish()) refuse(problem);
    const name = file === '-' ? 'stdin' : file;
    if (counts.invalid > 0) {
      if (counts.invalid > PROBLEMS_PRINTED_MAX) writeLine(io.stderr, `... and ${counts.invalid - PROBLEMS_PRINTED_MAX} more`);
      writeLine(io.stderr, `refused: ${counts.invalid} problem(s) in ${name}; nothing was written`);
      report();
      return EXIT.invalid;
    }
    if (!check.isSealed) {
      writeLine(io.stderr, `note: ${name} has no end line (it was exported before spanledger sealed its exports): its lines, chains, rules and commits were checked, but a file cut between two commits cannot be told from a whole one`);
    }
    await writeExportFile(io, input.path, flags, counts, problems);
  } finally {
    input.cleanup();
  }
  report();
  return counts.conflicts > 0 ? EXIT.rejected : EXIT.ok;
}

async function writeExportFile(io: CliIo, path: string, flags: ImportFlags, counts: Record<'appended' | 'duplicate' | 'conflicts' | 'groups' | 'positions', number>, problems: string[]): Promise<void> {
  const store = openStore(io, flags);
  const positions: { line: number; offset: InboxOffset }[] = [];
  let group: ImportedEvent[] = [];
  // Spanner not answering is ridden out up to --deadline-s: appends are idempotent, so a
  // group whose commit reply was lost is found on the retry (and counted as a duplicate).
  const deadlineS = flags.deadlineS ?? 60;
  const riding = rideOut((error) => store.isTransient(error), deadlineS * 1000, outageLines(io, 'Spanner', deadlineS));
  const flush = async () => {
    if (group.length === 0) return;
    const first = group[0]!;
    const events = group.map((entry) => entry.event);
    group = [];
    counts.groups++;
    const result = await riding('importing events', () => appendToStream(store, first.event.streamId, first.streamVersion - 1, events));
    const lines = `lines ${first.line}-${first.line + events.length - 1}`;
    switch (result.status) {
      case 'appended':
        counts.appended += events.length;
        return;
      case 'duplicate':
        counts.duplicate += events.length;
        return;
      default:
        counts.conflicts++;
        problems.push(`${lines}: ${result.status}: ${result.message}`);
        writeLine(io.stderr, `${lines}: ${result.status}: ${result.message}`);
    }
  };
  try {
    for await (const { entry } of exportFileLines(path)) {
      if (entry.kind === 'position') positions.push({ line: entry.line, offset: entry.value });
      if (entry.kind !== 'event') continue;
      const last = group[group.length - 1];
      const sameGroup =
        last !== undefined &&
        last.committedAt === entry.value.committedAt &&
        last.event.streamId === entry.value.event.streamId &&
        last.streamVersion + 1 === entry.value.streamVersion &&
        group.length < GROUP_EVENTS_MAX;
      if (!sameGroup) await flush();
      group.push(entry.value);
    }
    await flush();
    for (const { line: at, offset } of positions) {
      const result = await riding('restoring a consumer position', () => restorePosition(store, offset));
      if (result === 'restored') counts.positions++;
      if (result !== 'restored' && result !== 'same') {
        counts.conflicts++;
        problems.push(`line ${at}: ${result}`);
        writeLine(io.stderr, `line ${at}: ${result}`);
      }
    }
    if (flags.projector !== false) {
      const { runProjector } = await import('../projections/spanner/runtime');
      await runProjector(store.connection, store);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || error instanceof CliError) throw error;
    throw explainSpannerError(error, resolveSettings(io, flags));
  } finally {
    await store.close();
  }
}

/**
 * Writes a consumer position where the target has none. The same position again is fine;
 * another one is a conflict, reported and left alone: that database's consumer has moved on.
 */
async function restorePosition(store: LedgerStore, offset: InboxOffset): Promise<'restored' | 'same' | string> {
  const { value } = await store.transact(async (tx) => {
    const stored = (await tx.readInboxOffsets(offset.group, offset.topic)).find((row) => row.partition === offset.partition);
    if (stored === undefined) {
      tx.write(bookkeepingOnly({ inbox: [offset] }));
      return 'restored';
    }
    if (stored.nextOffset === offset.nextOffset) return 'same';
    return `inbox of ${offset.group} ${offset.topic}/${offset.partition} is at ${stored.nextOffset} here, the file says ${offset.nextOffset}: left as it is`;
  });
  return value;
}
