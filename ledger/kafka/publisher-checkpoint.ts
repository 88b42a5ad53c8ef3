import { PreciseDate } from '@google-cloud/precise-date';
import type { Transaction } from '@google-cloud/spanner';
import { GlobalPosition } from '../core/store';
import { int64, timestampText } from '../spanner/codec';
import { SpannerConnection } from '../spanner/connection';
import { runReadWrite, TransactionObserver } from '../spanner/transaction';

/**
 * The publisher's checkpoint (table KafkaPublisherCheckpoints, one row per publisher name and
 * topic): the last event the broker acknowledged, how many were published, the end offset
 * each partition had reached under this publisher, and a lease.
 *
 * The lease makes "two publishers with the same name cannot both send" hold BEFORE a send,
 * not only after it: every send follows, within half a lease, a transaction that found the
 * lease this publisher's and renewed it. Lease times come from Spanner's clock
 * (CURRENT_TIMESTAMP in the same transaction), so clock skew between hosts plays no part.
 * A second publisher with the same name stands by until the lease lapses.
 */
export interface PublisherCheckpoint {
  readonly position: GlobalPosition | null;
  readonly publishedEvents: number;
  /** Per partition, an offset the partition's log reached with this publisher's messages (a lower bound of its end). */
  readonly partitionEnds: Readonly<Record<string, string>>;
}

export interface LeaseHolder {
  readonly owner: string;
  readonly expiresAt: string;
}

/** Someone else moved the checkpoint while this publisher believed it held the lease. */
export class CheckpointMoved extends Error {
  override readonly name = 'CheckpointMoved';
}

/**
 * The row's position columns are NOT NULL (schema version 20), so "nothing published yet"
 * is stored as a position before every event.
 */
const START: GlobalPosition = { committedAt: '0001-01-01T00:00:00.000000000Z', streamId: '', streamVersion: 0 };

function isStart(position: GlobalPosition): boolean {
  return position.streamId === START.streamId && position.streamVersion === START.streamVersion;
}

const ROW_SQL = `SELECT FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E9SZ', CommittedAt, 'UTC') AS CommittedAt,
  StreamId, StreamVersion, PublishedEvents, PartitionEnds, LeaseOwner,
  FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E9SZ', LeaseExpiresAt, 'UTC') AS LeaseExpiresAt
  FROM KafkaPublisherCheckpoints WHERE Publisher = @publisher AND Topic = @topic`;
const NOW_SQL = `SELECT FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E9SZ', CURRENT_TIMESTAMP(), 'UTC') AS Now`;

interface StoredRow {
  readonly checkpoint: PublisherCheckpoint;
  readonly lease: LeaseHolder | null;
}

function rowFrom(rows: unknown[]): StoredRow | undefined {
  const row = rows[0] as Record<string, unknown> | undefined;
  if (!row) return undefined;
  const position = { committedAt: String(row.CommittedAt), streamId: String(row.StreamId), streamVersion: Number(int64(row.StreamVersion)) };
  const ends = row.PartitionEnds === null || row.PartitionEnds === undefined ? {} : (JSON.parse(String(row.PartitionEnds)) as Record<string, string>);
  return {
    checkpoint: { position: isStart(position) ? null : position, publishedEvents: Number(int64(row.PublishedEvents)), partitionEnds: ends },
    lease: row.LeaseOwner === null || row.LeaseOwner === undefined || row.LeaseExpiresAt === null ? null : { owner: String(row.LeaseOwner), expiresAt: String(row.LeaseExpiresAt) },
  };
}

type Reader = Pick<Transaction, 'run'>;

async function readRow(reader: Reader, connection: SpannerConnection, publisher: string, topic: string): Promise<StoredRow | undefined> {
  const [rows] = await reader.run({ sql: ROW_SQL, params: { publisher, topic }, json: true, jsonOptions: { wrapNumbers: true }, ...connection.queryOptions });
  return rowFrom(rows);
}

/** Every publisher checkpoint, by publisher and topic (doctor's summary). */
export async function listPublisherCheckpoints(connection: SpannerConnection): Promise<{ publisher: string; topic: string }[]> {
  const [rows] = await connection.database.run({ sql: 'SELECT Publisher, Topic FROM KafkaPublisherCheckpoints ORDER BY Publisher, Topic', json: true, ...connection.queryOptions });
  return (rows as unknown as { Publisher: string; Topic: string }[]).map((row) => ({ publisher: row.Publisher, topic: row.Topic }));
}

/** The checkpoint as stored, read strongly outside any transaction (doctor, tests). */
export async function readCheckpoint(connection: SpannerConnection, publisher: string, topic: string): Promise<PublisherCheckpoint> {
  const row = await readRow(connection.database, connection, publisher, topic);
  return row?.checkpoint ?? { position: null, publishedEvents: 0, partitionEnds: {} };
}

function writeRow(tx: Transaction, publisher: string, topic: string, checkpoint: PublisherCheckpoint, lease: LeaseHolder | null): void {
  const position = checkpoint.position ?? START;
  tx.upsert('KafkaPublisherCheckpoints', {
    Publisher: publisher,
    Topic: topic,
    CommittedAt: new PreciseDate(position.committedAt),
    StreamId: position.streamId,
    StreamVersion: String(position.streamVersion),
    PublishedEvents: String(checkpoint.publishedEvents),
    PartitionEnds: JSON.stringify(checkpoint.partitionEnds),
    LeaseOwner: lease?.owner ?? null,
    LeaseExpiresAt: lease === null ? null : new PreciseDate(lease.expiresAt),
    UpdatedAt: 'spanner.commit_timestamp()',
  });
}

function samePosition(a: GlobalPosition | null, b: GlobalPosition | null): boolean {
  if (a === null || b === null) return a === b;
  return a.committedAt === b.committedAt && a.streamId === b.streamId && a.streamVersion === b.streamVersion;
}

function addMs(timestamp: string, ms: number): string {
  return timestampText(new PreciseDate(BigInt(new PreciseDate(timestamp).getFullTimeString()) + BigInt(ms) * 1_000_000n));
}

export type ClaimResult =
  | { readonly kind: 'held'; readonly checkpoint: PublisherCheckpoint; readonly lease: LeaseHolder }
  /** Another live publisher holds the lease: nothing written. */
  | { readonly kind: 'standby'; readonly holder: LeaseHolder };

/**
 * Takes (or renews) the lease, if nobody else holds a live one. With `expect`, the stored
 * checkpoint must still be that one (the fence of a publisher that holds the lease already);
 * with `fromStart`, the checkpoint goes back to the start of the log.
 */
export async function claimLease(
  connection: SpannerConnection,
  publisher: string,
  topic: string,
  owner: string,
  leaseMs: number,
  options: { expect?: PublisherCheckpoint; fromStart?: boolean; observer?: TransactionObserver } = {},
): Promise<ClaimResult> {
  const { value } = await runReadWrite(
    connection,
    async (tx): Promise<ClaimResult> => {
      const [[nowRow], stored] = await Promise.all([tx.run({ sql: NOW_SQL, json: true, ...connection.queryOptions }).then(([rows]) => rows as { Now: string }[]), readRow(tx, connection, publisher, topic)]);
      const now = nowRow!.Now;
      const holder = stored?.lease;
      if (holder && holder.owner !== owner && holder.expiresAt > now) return { kind: 'standby', holder };
      let checkpoint = stored?.checkpoint ?? { position: null, publishedEvents: 0, partitionEnds: {} };
      if (options.expect && (!samePosition(checkpoint.position, options.expect.position) || checkpoint.publishedEvents !== options.expect.publishedEvents)) {
        throw new CheckpointMoved(`publisher checkpoint ${publisher}/${topic} was moved by another publisher with the same name`);
      }
      if (options.fromStart) checkpoint = { position: null, publishedEvents: 0, partitionEnds: {} };
      const lease = { owner, expiresAt: addMs(now, leaseMs) };
      writeRow(tx, publisher, topic, checkpoint, lease);
      return { kind: 'held', checkpoint, lease };
    },
    options.observer,
  );
  return value;
}

/**
 * Moves the checkpoint from `previous` to `next` and renews the lease, in one transaction
 * that first checks this publisher still holds the lease and the checkpoint is where it
 * left it; throws CheckpointMoved otherwise.
 */
export async function saveCheckpoint(
  connection: SpannerConnection,
  publisher: string,
  topic: string,
  owner: string,
  leaseMs: number,
  previous: PublisherCheckpoint,
  next: PublisherCheckpoint,
  observer: TransactionObserver = {},
): Promise<LeaseHolder> {
  const { value } = await runReadWrite(
    connection,
    async (tx): Promise<LeaseHolder> => {
      const [[nowRow], stored] = await Promise.all([tx.run({ sql: NOW_SQL, json: true, ...connection.queryOptions }).then(([rows]) => rows as { Now: string }[]), readRow(tx, connection, publisher, topic)]);
      const checkpoint = stored?.checkpoint ?? { position: null, publishedEvents: 0, partitionEnds: {} };
      if (stored?.lease?.owner !== owner || !samePosition(checkpoint.position, previous.position) || checkpoint.publishedEvents !== previous.publishedEvents) {
        throw new CheckpointMoved(`publisher checkpoint ${publisher}/${topic} was moved by another publisher with the same name (lease now ${stored?.lease?.owner ?? 'free'})`);
      }
      const lease = { owner, expiresAt: addMs(nowRow!.Now, leaseMs) };
      writeRow(tx, publisher, topic, next, lease);
      return lease;
    },
    observer,
  );
  return value;
}

/** Gives the lease up at the end of a run, so a standby takes over at once. */
export async function releaseLease(connection: SpannerConnection, publisher: string, topic: string, owner: string): Promise<void> {
  await runReadWrite(connection, async (tx) => {
    const stored = await readRow(tx, connection, publisher, topic);
    if (!stored || stored.lease?.owner !== owner) return;
    writeRow(tx, publisher, topic, stored.checkpoint, null);
  });
}

/**
 * Partitions whose end on the broker is below what this publisher wrote there: the topic
 * was recreated or lost data, and the events this checkpoint counts as published are gone.
 */
export function shrunkPartitions(checkpoint: PublisherCheckpoint, highs: ReadonlyMap<number, bigint>): { partition: number; high: bigint; wrote: bigint }[] {
  return Object.entries(checkpoint.partitionEnds).flatMap(([partition, end]) => {
    const high = highs.get(Number(partition)) ?? 0n;
    return high < BigInt(end) ? [{ partition: Number(partition), high, wrote: BigInt(end) }] : [];
  });
}
