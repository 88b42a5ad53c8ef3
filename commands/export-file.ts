import { z } from 'zod';
import { chainHash, GENESIS } from '../ledger/core/chain';
import { EVENT_TYPES, eventUserId, NewEvent, parseEventPayload, StoredEvent } from '../ledger/core/events';
import { accountStreamId } from '../ledger/core/ids';
import { postingJson, postingsOf } from '../ledger/core/postings';
import { digestOf, InboxOffset } from '../ledger/core/store';
import { toExportRecord } from '../ledger/kafka/records';

/**
 * The export file: one line per event in the global order (the record `publish` sends),
 * then one `{"inbox":{...}}` line per Kafka consumer position. Each line is checked on its
 * own (shape, payload, digest, postings), and the file as a whole: each stream's lines from
 * version 1 without a gap, each chain hash following from the line before it.
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
  if (digestOf(event) !== data.contentDigest) return { ok: false, message: `line ${line}: event ${data.eventId}: contentDigest does not match the content (edited or corrupt line)` };
  if (data.postings !== undefined && JSON.stringify(data.postings) !== JSON.stringify(postingsOf(event).map(postingJson))) {
    return { ok: false, message: `line ${line}: event ${data.eventId}: its postings are not what a ${data.type} with this payload posts (edited line)` };
  }
  return { ok: true, value: { line, event, streamVersion: data.streamVersion, committedAt: data.committedAt, chainHash: data.chainHash ?? null } };
}

export function parseInboxLine(text: string, line: number): { ok: true; value: InboxOffset } | { ok: false; message: string } {
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
 * Checks an export file's chains line by line, in constant memory per stream: the last
 * version and chain hash of each stream seen so far.
 */
export class ChainCheck {
  private readonly streams = new Map<string, { version: number; hash: string | null }>();

  /** The problem with this event's place in its stream's chain, if any. */
  check(imported: ImportedEvent): string | undefined {
    const { event, streamVersion, line } = imported;
    const previous = this.streams.get(event.streamId) ?? { version: 0, hash: GENESIS };
    this.streams.set(event.streamId, { version: streamVersion, hash: imported.chainHash });
    if (streamVersion !== previous.version + 1) {
      return previous.version === 0
        ? `line ${line}: event ${event.eventId}: stream ${event.streamId} starts at version ${streamVersion}; an export holds every event of a stream from version 1`
        : `line ${line}: event ${event.eventId}: version ${streamVersion} of stream ${event.streamId} follows version ${previous.version}: a line is missing or out of order`;
    }
    if (imported.chainHash === null) {
      // An unchained event (a file exported before the upgrade) is checked by its digest alone;
      // a chained one after it has no link to follow from.
      return undefined;
    }
    if (previous.hash === null) return `line ${line}: event ${event.eventId}: carries a chain hash, but the line before it in stream ${event.streamId} has none: the chain cannot be followed`;
    const expected = chainHash(previous.hash, digestOf(event), streamVersion);
    if (imported.chainHash !== expected) return `line ${line}: event ${event.eventId}: its chain hash does not follow from the line before it in stream ${event.streamId} and its content: the file was edited`;
    return undefined;
  }
}
