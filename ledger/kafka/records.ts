import { eventUserId, StoredEvent } from '../core/events';
import { postingJson, postingsOf } from '../core/postings';

/**
 * The wire form of a stored event: one `events export` line, and the value of every
 * message the publisher sends. Money stays in decimal strings inside `payload` and
 * `postings`. `chainHash` is the stream's hash chain after the event (see core/chain.ts):
 * a consumer that keeps the last one per stream can tell later whether history was edited.
 */
export interface ExportRecord {
  readonly eventId: string;
  readonly type: StoredEvent['type'];
  readonly schemaVersion: number;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly userId: string;
  readonly occurredAt: string;
  readonly committedAt: string;
  readonly contentDigest: string;
  readonly chainHash: string | null;
  /** The transfers the event posts to the books (none for events that move no money). */
  readonly postings: ReturnType<typeof postingJson>[];
  readonly payload: StoredEvent['payload'];
}

/** Field order is fixed (it is the order of the JSON text). */
export function toExportRecord(event: StoredEvent): ExportRecord {
  return {
    eventId: event.eventId,
    type: event.type,
    schemaVersion: event.schemaVersion,
    streamId: event.streamId,
    streamVersion: event.streamVersion,
    userId: eventUserId(event),
    occurredAt: event.occurredAt,
    committedAt: event.committedAt,
    contentDigest: event.contentDigest,
    chainHash: event.chainHash,
    postings: postingsOf(event).map(postingJson),
    payload: event.payload,
  };
}
