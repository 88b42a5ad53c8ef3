import type { Snapshot } from '@google-cloud/spanner';
import type { TimestampBounds } from '@google-cloud/spanner/build/src/transaction';
import { SpannerConnection } from './connection';

/**
 * Runs `read` in one read-only snapshot and always ends it, so its session goes back to the
 * pool whether the read succeeds or throws (a snapshot left open holds a session until the
 * process ends).
 */
export async function withSnapshot<T>(connection: SpannerConnection, bounds: TimestampBounds, read: (snapshot: Snapshot) => Promise<T>): Promise<T> {
  const [snapshot] = await connection.database.getSnapshot(bounds);
  try {
    return await read(snapshot);
  } finally {
    snapshot.end();
  }
}
