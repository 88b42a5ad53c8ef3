import { eventUserId, StoredEvent } from '../core/events';

/**
 * The wire form of a stored event: one `events export` line, and the value of every
 * message the publisher sends. Money stays in decimal strings inside `payload`.
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
    payload: event.payload,
  };
}
