import { createHash } from 'node:crypto';
import { z } from 'zod';
import { StreamRules } from '../ledger/core/history-rules';
import { compareUtf8 } from '../ledger/core/text-order';
import { parseCommitTimestamp } from '../ledger/core/time';
import { chainHash, GENESIS } from '../ledger/core/chain';
import { EVENT_TYPES, eventUserId, NewEvent, parseEventPayload, StoredEvent } from '../ledger/core/events';
import { accountStreamId, derivedEventId } from '../ledger/core/ids';
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

/** What an end line seals, counted as the lines go by (the same on both sides: export and import). */
export class ExportSeal {
  private readonly lines = createHash('sha256');
  private readonly heads = new Map<string, { version: number; hash: string | null }>();
  private events = 0;
  private positions = 0;

  /** Every line between the header (included) and the end line, as written. */
  addLine(text: string): void {
    this.lines.update(`${text}\n`);
  }

  addEvent(streamId: string, streamVersion: number, chainHash: string | null): void {
    this.events++;
    this.heads.set(streamId, { version: streamVersion, hash: chainHash });
  }

  addPosition(): void {
    this.positions++;
  }

  /** The end line's content; the seal is spent. */
  end(): EndLineValue {
    const heads = createHash('sha256');
    for (const streamId of [...this.heads.keys()].sort(compareUtf8)) {
      const head = this.heads.get(streamId)!;
      heads.update(`${streamId}\t${head.version}\t${head.hash ?? 'null'}\n`);
    }
    return { events: this.events, positions: this.positions, streams: this.heads.size, headsDigest: heads.digest('hex'), linesDigest: this.lines.digest('hex') };
  }
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
  if (text.startsWith('{"export":') || text.startsWith('{"end":')) {
    const header = text.startsWith('{"export":');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return { kind: 'invalid', line, message: `line ${line}: not JSON: ${(error as Error).message}` };
    }
    const parsed = (header ? HeaderLine : EndLine).safeParse(value);
    if (!parsed.success) return { kind: 'invalid', line, message: `line ${line}: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}` };
    return header ? { kind: 'header', line } : { kind: 'end', line, value: (parsed.data as z.infer<typeof EndLine>).end };
  }
  const parsed = parseExportLine(text, line);
  return parsed.ok ? { kind: 'event', line, value: parsed.value } : { kind: 'invalid', line, message: parsed.message };
}

/** One stream of the file as read so far. */
interface StreamSoFar {
  version: number;
  hash: string | null;
  /** A chained line was seen: an unchained one after it never comes from an export. */
  chained: boolean;
  rules: StreamRules;
  /** A link did not hold: its rules are not judged further (every later line would seem wrong). */
  broken: boolean;
}

/**
 * Checks an export file as a whole, line by line, before anything is written; memory holds
 * each stream's last link and the state its rules need (its account, charges and invoices).
 * - each stream's lines run from version 1 without a gap, each chain hash follows from the
 *   line before it, and no unchained line follows a chained one;
 * - each stream's events follow the ledger's rules (history-rules.ts), and each commit of a
 *   stream leaves no invoice open beside a whole cent (so a file cut inside a commit, after
 *   a deposit and before the payment it made, is caught even without an end line);
 * - a sealed file (it starts with a header) ends with its end line, and that line matches
 *   what is between: a cut anywhere, or a line edited, added or removed, is caught.
 * A file without a header was written before sealing: every check but the last applies,
 * and a cut between two commits cannot be told from a whole file.
 */
export class ExportFileCheck {
  private readonly streams = new Map<string, StreamSoFar>();
  private readonly seal = new ExportSeal();
  private group: { streamId: string; committedAt: string; line: number } | undefined;
  private sealed = false;
  private ended = false;
  private lines = 0;

  /** Whether the file started with a header (and so must end with its end line). */
  get isSealed(): boolean {
    return this.sealed;
  }

  /** The problems of one line (empty when none). */
  check(entry: ExportFileLine, text: string): string[] {
    this.lines++;
    if (this.ended) return [`line ${entry.line}: a line after the end line: the file was appended to`];
    if (entry.kind === 'header') {
      if (this.lines !== 1) return [`line ${entry.line}: a header that is not the first line`];
      this.sealed = true;
      this.seal.addLine(text);
      return [];
    }
    if (entry.kind === 'end') return this.checkEnd(entry);
    if (this.sealed) this.seal.addLine(text);
    if (entry.kind === 'invalid') return [entry.message];
    if (entry.kind === 'position') {
      this.seal.addPosition();
      return [...this.endGroup()];
    }
    return this.checkEvent(entry.value);
  }

  /** The problems only the end of the file shows. */
  finish(): string[] {
    const problems = this.endGroup();
    if (this.sealed && !this.ended) problems.push('the file ends without its end line: it was cut short (a sealed export always ends with one); nothing was written');
    return problems;
  }

  private checkEnd(entry: Extract<ExportFileLine, { kind: 'end' }>): string[] {
    this.ended = true;
    if (!this.sealed) return [`line ${entry.line}: an end line in a file without a header`];
    const problems = this.endGroup();
    const want = this.seal.end();
    const differing = (Object.keys(want) as (keyof EndLineValue)[]).filter((key) => want[key] !== entry.value[key]);
    if (differing.length > 0) {
      problems.push(`line ${entry.line}: the end line does not match the file (${differing.map((key) => `${key}: ${String(entry.value[key])} in the end line, ${String(want[key])} in the file`).join('; ')}): lines were cut, added or edited`);
    }
    return problems;
  }

  private checkEvent(imported: ImportedEvent): string[] {
    const { event, streamVersion, line, committedAt } = imported;
    const problems: string[] = [];
    if (this.group && (this.group.streamId !== event.streamId || this.group.committedAt !== committedAt)) problems.push(...this.endGroup());
    this.group ??= { streamId: event.streamId, committedAt, line };
    this.seal.addEvent(event.streamId, streamVersion, imported.chainHash);
    const stream = this.streams.get(event.streamId) ?? { version: 0, hash: GENESIS, chained: false, rules: new StreamRules(eventUserId(event)), broken: false };
    this.streams.set(event.streamId, stream);
    const link = linkProblem(stream, imported);
    stream.version = streamVersion;
    stream.hash = imported.chainHash;
    stream.chained ||= imported.chainHash !== null;
    if (link) {
      stream.broken = true;
      return [...problems, link];
    }
    if (stream.broken) return problems;
    const broken = stream.rules.next(event);
    if (broken.length > 0) problems.push(`line ${line}: event ${event.eventId}: ${event.type} breaks the ledger's rules: ${broken.join('; ')}`);
    return problems;
  }

  /** The commit group that just ended (one stream, one commit timestamp): what every commit leaves must hold. */
  private endGroup(): string[] {
    const group = this.group;
    this.group = undefined;
    if (!group) return [];
    const stream = this.streams.get(group.streamId)!;
    if (stream.broken) return [];
    return stream.rules.commitEnd().map((problem) => `line ${group.line}: the commit of stream ${group.streamId} at ${group.committedAt}: ${problem} (the file was cut inside that commit, or a line of it removed)`);
  }
}

/** The problem with this event's place in its stream's chain, if any. */
function linkProblem(previous: StreamSoFar, imported: ImportedEvent): string | undefined {
  const { event, streamVersion, line } = imported;
  if (streamVersion !== previous.version + 1) {
    return previous.version === 0
      ? `line ${line}: event ${event.eventId}: stream ${event.streamId} starts at version ${streamVersion}; an export holds every event of a stream from version 1`
      : `line ${line}: event ${event.eventId}: version ${streamVersion} of stream ${event.streamId} follows version ${previous.version}: a line is missing or out of order`;
  }
  if (imported.chainHash === null) {
    // An unchained event (exported before the upgrade chained its stream) is checked by its
    // digest alone; after a chained one it never comes from an export.
    return previous.chained ? `line ${line}: event ${event.eventId}: has no chain hash, but the line before it in stream ${event.streamId} has one: an export never unchains a stream (the line was edited)` : undefined;
  }
  if (previous.hash === null) return `line ${line}: event ${event.eventId}: carries a chain hash, but the line before it in stream ${event.streamId} has none: the chain cannot be followed`;
  const expected = chainHash(previous.hash, digestOf(event), streamVersion);
  if (imported.chainHash !== expected) return `line ${line}: event ${event.eventId}: its chain hash does not follow from the line before it in stream ${event.streamId} and its content: the file was edited`;
  return undefined;
}
