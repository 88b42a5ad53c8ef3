import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { EVENT_TYPES, eventUserId, NewEvent, parseEventPayload, StoredEvent } from '../ledger/core/events';
import { accountStreamId } from '../ledger/core/ids';
import { appendToStream, digestOf, GlobalPosition, InboxOffset, LedgerStore } from '../ledger/core/store';
import { ConnectionFlags, explainSpannerError, openStore, resolveSettings } from './context';
import { CliError, EXIT, ExitCode } from './errors';
import { CliIo, writeLine } from './io';
import { toExportRecord } from '../ledger/kafka/records';

/** The export line: one event with its place in the original log (the same record `publish` sends). */
export function exportLine(event: StoredEvent): string {
  return JSON.stringify(toExportRecord(event));
}

const ExportLine = z.strictObject({
  eventId: z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lower-case hex digits'),
  type: z.enum(EVENT_TYPES as [string, ...string[]]),
  schemaVersion: z.number().int().positive(),
  streamId: z.string().min(1),
  streamVersion: z.number().int().positive(),
  userId: z.string().min(1),
  occurredAt: z.string(),
  committedAt: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/, 'must be canonical UTC with nanoseconds'),
  contentDigest: z.string().regex(/^[0-9a-f]{64}$/),
  payload: z.unknown(),
});

/**
 * After the events, an export carries the Kafka consumers' positions read at the same
 * timestamp, one `{"inbox":{...}}` line per partition: a restore then resumes each consumer
 * where the exported database stood, instead of deciding every command of the topic again.
 */
const InboxLine = z.strictObject({
  inbox: z.strictObject({
    group: z.string().min(1),
    topic: z.string().min(1),
    partition: z.number().int().min(0),
    nextOffset: z.string().regex(/^(0|[1-9][0-9]*)$/, 'must be a decimal offset'),
    lastMessage: z.strictObject({ offset: z.string().regex(/^(0|[1-9][0-9]*)$/), digest: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
  }),
});

export function inboxLine(offset: InboxOffset): string {
  const { group, topic, partition, nextOffset, lastMessage } = offset;
  return JSON.stringify({ inbox: { group, topic, partition, nextOffset, ...(lastMessage ? { lastMessage } : {}) } });
}

export interface ImportedEvent {
  readonly line: number;
  readonly event: NewEvent;
  readonly streamVersion: number;
  readonly committedAt: string;
}

/** Validates one export line completely: shape, payload schema, user/stream agreement and the digest. */
export function parseExportLine(text: string, line: number): { ok: true; value: ImportedEvent } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `line ${line}: not JSON: ${(error as Error).message}` };
  }
  const parsed = ExportLine.safeParse(value);
  if (!parsed.success) {
    return { ok: false, message: `line ${line}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'line'}: ${issue.message}`).join('; ')}` };
  }
  const data = parsed.data;
  let ledgerEvent;
  try {
    ledgerEvent = parseEventPayload(data.type, data.schemaVersion, data.payload);
  } catch (error) {
    const message = error instanceof z.ZodError ? error.issues.map((issue) => `payload.${issue.path.join('.')}: ${issue.message}`).join('; ') : (error as Error).message;
    return { ok: false, message: `line ${line}: ${message}` };
  }
  const event = { ...ledgerEvent, eventId: data.eventId, streamId: data.streamId, occurredAt: data.occurredAt, schemaVersion: data.schemaVersion } as NewEvent;
  if (eventUserId(event) !== data.userId) return { ok: false, message: `line ${line}: userId ${data.userId} differs from the payload's ${eventUserId(event)}` };
  if (data.streamId !== accountStreamId(data.userId)) return { ok: false, message: `line ${line}: streamId ${data.streamId} is not the account stream of ${data.userId}` };
  if (event.payload.occurredAt !== data.occurredAt) return { ok: false, message: `line ${line}: occurredAt differs from the payload's` };
  if (digestOf(event) !== data.contentDigest) return { ok: false, message: `line ${line}: contentDigest does not match the content (edited or corrupt line)` };
  return { ok: true, value: { line, event, streamVersion: data.streamVersion, committedAt: data.committedAt } };
}

async function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
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
    let position: GlobalPosition | null = null;
    for (;;) {
      const page = await store.readAll(position, 1000, { readTimestamp });
      if (page.events.length === 0) break;
      let chunk = '';
      for (const event of page.events) chunk += `${exportLine(event)}\n`;
      await write(output, chunk);
      count += page.events.length;
      position = page.position;
    }
    const { listInbox } = await import('../ledger/kafka/inbox-admin');
    const inbox = await listInbox(store.connection, {}, readTimestamp);
    if (inbox.length > 0) await write(output, inbox.map((row) => `${inboxLine(row)}\n`).join(''));
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

/**
 * `events import FILE`: streams the file, validates each line, groups consecutive lines of
 * the same original commit (committedAt) and stream, and appends each group with
 * appendToStream at its original stream version: identical → duplicate, different →
 * conflict; so importing twice changes nothing. Memory: one group at a time.
 */
export async function eventsImport(io: CliIo, file: string, flags: ImportFlags): Promise<ExitCode> {
  const input = file === '-' ? io.stdin : createReadStream(file, 'utf8');
  const store = openStore(io, flags);
  const counts = { appended: 0, duplicate: 0, conflicts: 0, invalid: 0, groups: 0, positions: 0 };
  const positions: { line: number; offset: InboxOffset }[] = [];
  const problems: string[] = [];
  let group: ImportedEvent[] = [];
  const flush = async () => {
    if (group.length === 0) return;
    const first = group[0]!;
    const events = group.map((entry) => entry.event);
    group = [];
    counts.groups++;
    const result = await appendToStream(store, first.event.streamId, first.streamVersion - 1, events);
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
    const reader = createInterface({ input, crlfDelay: Infinity });
    let line = 0;
    for await (const text of reader) {
      line++;
      if (text.trim() === '') continue;
      if (text.startsWith('{"inbox":')) {
        const position = parseInboxLine(text, line);
        if (position.ok) positions.push({ line, offset: position.value });
        else {
          counts.invalid++;
          writeLine(io.stderr, position.message);
        }
        continue;
      }
      const parsed = parseExportLine(text, line);
      if (!parsed.ok) {
        counts.invalid++;
        writeLine(io.stderr, parsed.message);
        continue;
      }
      const last = group[group.length - 1];
      const sameGroup =
        last !== undefined &&
        last.committedAt === parsed.value.committedAt &&
        last.event.streamId === parsed.value.event.streamId &&
        last.streamVersion + 1 === parsed.value.streamVersion &&
        group.length < GROUP_EVENTS_MAX;
      if (!sameGroup) await flush();
      group.push(parsed.value);
    }
    await flush();
    for (const { line: at, offset } of positions) {
      const result = await restorePosition(store, offset);
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
  if (flags.json) writeLine(io.stdout, JSON.stringify({ ...counts, problems: problems.slice(0, 20) }));
  else {
    writeLine(
      io.stdout,
      `imported: ${counts.appended} appended, ${counts.duplicate} duplicate, ${counts.positions} consumer position(s) restored, ${counts.conflicts} conflict(s), ${counts.invalid} invalid line(s)`,
    );
  }
  if (counts.invalid > 0) return EXIT.invalid;
  if (counts.conflicts > 0) return EXIT.rejected;
  return EXIT.ok;
}

function parseInboxLine(text: string, line: number): { ok: true; value: InboxOffset } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `line ${line}: not JSON: ${(error as Error).message}` };
  }
  const parsed = InboxLine.safeParse(value);
  if (!parsed.success) return { ok: false, message: `line ${line}: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}` };
  return { ok: true, value: parsed.data.inbox };
}

/**
 * Writes a consumer position where the target has none. The same position again is fine;
 * another one is a conflict, reported and left alone: that database's consumer has moved on.
 */
async function restorePosition(store: LedgerStore, offset: InboxOffset): Promise<'restored' | 'same' | string> {
  const { value } = await store.transact(async (tx) => {
    const stored = (await tx.readInboxOffsets(offset.group, offset.topic)).find((row) => row.partition === offset.partition);
    if (stored === undefined) {
      tx.write({ events: [], accounts: [], charges: [], inbox: [offset] });
      return 'restored';
    }
    if (stored.nextOffset === offset.nextOffset) return 'same';
    return `inbox of ${offset.group} ${offset.topic}/${offset.partition} is at ${stored.nextOffset} here, the file says ${offset.nextOffset}: left as it is`;
  });
  return value;
}
