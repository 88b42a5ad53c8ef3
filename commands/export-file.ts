import { z } from 'zod';
import { parseCommitTimestamp } from '../ledger/core/time';
import { EVENT_TYPES, eventUserId, NewEvent, parseEventPayload, StoredEvent } from '../ledger/core/events';
import { accountStreamId, derivedEventId } from '../ledger/core/ids';
import { postingJson, postingsOf } from '../ledger/core/postings';
import { digestOf, InboxOffset } from '../ledger/core/store';
import { toExportRecord } from '../ledger/kafka/records';

/**
 * The export file's lines: a header (sealed files), one line per event in the global order
 * (the record `publish` sends), one `{"inbox":{...}}` line per Kafka consumer position, and
 * an end line (sealed files; see export-seal.ts). Each line is parsed and checked on its own
 * here (shape, payload, digest, postings, an ID its natural key derives); the file as a
 * whole is checked by import-check.ts.
 */
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
  // Absent in files exported before streams were chained; null for an event the upgrade had not chained yet.
  chainHash: z.string().regex(/^[0-9a-f]{64}$/).nullable().optional(),
  postings: z.array(z.strictObject({ debit: z.string(), credit: z.string(), amountMicroUsd: z.string() })).optional(),
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
  readonly chainHash: string | null;
}

/** One line of the file as JSON, checked against its schema: the value, or what is wrong, naming the line and fields. */
function parseJsonLine<T>(text: string, line: number, schema: z.ZodType<T>): { ok: true; value: T } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `line ${line}: not JSON: ${(error as Error).message}` };
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) return { ok: false, message: `line ${line}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'line'}: ${issue.message}`).join('; ')}` };
  return { ok: true, value: parsed.data };
}

/** Validates one export line completely: shape, payload schema, user/stream agreement and the digest. */
export function parseExportLine(text: string, line: number): { ok: true; value: ImportedEvent } | { ok: false; message: string } {
  const parsed = parseJsonLine(text, line, ExportLine);
  if (!parsed.ok) return parsed;
  const data = parsed.value;
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
  if (digestOf(event) !== data.contentDigest) return { ok: false, message: `line ${line}: event ${data.eventId}: contentDigest does not match the content (edited or corrupt line)` };
  const derived = derivedEventId(event);
  if (derived !== data.eventId) return { ok: false, message: `line ${line}: event ${data.eventId}: its ID is not the one its natural key derives (${derived}): the line was edited` };
  const committed = parseCommitTimestamp(data.committedAt);
  if (!committed.ok || committed.canonical !== data.committedAt) return { ok: false, message: `line ${line}: committedAt ${data.committedAt} is not a commit timestamp that exists` };
  if (data.postings !== undefined && JSON.stringify(data.postings) !== JSON.stringify(postingsOf(event).map(postingJson))) {
    return { ok: false, message: `line ${line}: event ${data.eventId}: its postings are not what a ${data.type} with this payload posts (edited line)` };
  }
  return { ok: true, value: { line, event, streamVersion: data.streamVersion, committedAt: data.committedAt, chainHash: data.chainHash ?? null } };
}

export function parseInboxLine(text: string, line: number): { ok: true; value: InboxOffset } | { ok: false; message: string } {
  const parsed = parseJsonLine(text, line, InboxLine);
  return parsed.ok ? { ok: true, value: parsed.value.inbox } : parsed;
}


/**
 * A sealed export (format 2) starts with a header line and ends with an end line that
 * counts what is between them and digests it: the events, the consumer positions, the
 * streams with their heads, and every line's text. A file cut anywhere (before a commit,
 * inside one, before the positions) or edited anywhere without recomputing the digests no
 * longer matches its end line. Files written before sealing (no header) are still read;
 * see ExportFileCheck for what can then be checked.
 */
export const EXPORT_FORMAT = 2;

const HeaderLine = z.strictObject({ export: z.strictObject({ format: z.literal(EXPORT_FORMAT), readTimestamp: z.string() }) });
const count = z.number().int().min(0);
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const EndLine = z.strictObject({ end: z.strictObject({ events: count, positions: count, streams: count, headsDigest: hex64, linesDigest: hex64 }) });
export type EndLineValue = z.infer<typeof EndLine>['end'];

export function headerLine(readTimestamp: string): string {
  return JSON.stringify({ export: { format: EXPORT_FORMAT, readTimestamp } });
}

export function endLine(value: EndLineValue): string {
  return JSON.stringify({ end: value });
}

/** One line of an export file, recognised: the header, an event, a position, the end line, or what is wrong with it. */
export type ExportFileLine =
  | { kind: 'header'; line: number }
  | { kind: 'event'; line: number; value: ImportedEvent }
  | { kind: 'position'; line: number; value: InboxOffset }
  | { kind: 'end'; line: number; value: EndLineValue }
  | { kind: 'invalid'; line: number; message: string };

export function parseFileLine(text: string, line: number): ExportFileLine {
  if (text.startsWith('{"inbox":')) {
    const position = parseInboxLine(text, line);
    return position.ok ? { kind: 'position', line, value: position.value } : { kind: 'invalid', line, message: position.message };
  }
  if (text.startsWith('{"export":')) {
    const header = parseJsonLine(text, line, HeaderLine);
    return header.ok ? { kind: 'header', line } : { kind: 'invalid', line, message: header.message };
  }
  if (text.startsWith('{"end":')) {
    const end = parseJsonLine(text, line, EndLine);
    return end.ok ? { kind: 'end', line, value: end.value.end } : { kind: 'invalid', line, message: end.message };
  }
  const parsed = parseExportLine(text, line);
  return parsed.ok ? { kind: 'event', line, value: parsed.value } : { kind: 'invalid', line, message: parsed.message };
}
