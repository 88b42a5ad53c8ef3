import type { EventType, StoredEvent } from '../../ledger/core/events';
import { compareUtf8 } from '../../ledger/core/text-order';

/**
 * A projection is a pure fold from ledger events to view rows. It declares the event types
 * it handles and, per event, the keys of the rows it needs to see; the runtime (shell) reads
 * those rows (one read per kind per batch), calls `apply` in the global order and writes the
 * changed rows together with the checkpoint. Nothing here knows about Spanner, clocks or I/O.
 *
 * A projection may keep rows of several kinds (a user's balance, its history, its monthly
 * totals...), each kind in a table of its own but under the projection's one checkpoint:
 * whatever the kinds say, they say it about the same point of the log.
 */

/** A view row's key without the generation: e.g. [userId] or [userId, eventId]. */
export type ViewKey = readonly string[];

/** The key of a row of one kind. */
export interface RowKey {
  readonly kind: string;
  readonly key: ViewKey;
}

export function keyText(rowKey: RowKey): string {
  return JSON.stringify([rowKey.kind, ...rowKey.key]);
}

export interface Projection<Row> {
  readonly name: ProjectionName;
  readonly handles: ReadonlySet<EventType>;
  /**
   * Bumped whenever the fold changes what it writes for the same events: a generation
   * records the version that folded it, and one folded by an older version is rebuilt by
   * `db migrate` instead of being continued (its old rows would disagree with its new ones).
   */
  readonly foldVersion: number;
  /** The kinds of rows it keeps (each has its table). */
  readonly kinds: readonly string[];
  /**
   * The kinds whose rows fold events of many streams in the global order (a system account's
   * totals); every other kind belongs to one user and is a fold of that user's stream alone.
   */
  readonly globalKinds: readonly string[];
  /** Keys of the existing rows `apply` may look at for this event. */
  keysOf(event: StoredEvent): RowKey[];
  /** The rows this event creates or changes, given a lookup of the current rows. */
  apply(lookup: (key: RowKey) => Row | undefined, event: StoredEvent): Row[];
  keyOf(row: Row): RowKey;
  /** A canonical, comparable text of a row (money as decimal strings); used by verify and tests. */
  render(row: Row): string;
}

export const PROJECTION_NAMES = ['balances', 'transactions', 'invoices'] as const;
export type ProjectionName = (typeof PROJECTION_NAMES)[number];

export function isProjectionName(name: string): name is ProjectionName {
  return (PROJECTION_NAMES as readonly string[]).includes(name);
}

/**
 * Applies `events` (already in the global order) on top of `current` (the rows the batch
 * read, by key text) and returns only the rows that changed, by key text.
 */
export function foldBatch<Row>(projection: Projection<Row>, current: ReadonlyMap<string, Row>, events: readonly StoredEvent[]): Map<string, Row> {
  const working = new Map(current);
  const changed = new Map<string, Row>();
  for (const event of events) {
    if (!projection.handles.has(event.type)) continue;
    for (const row of projection.apply((key) => working.get(keyText(key)), event)) {
      const key = keyText(projection.keyOf(row));
      working.set(key, row);
      changed.set(key, row);
    }
  }
  return changed;
}

/** Every key the batch needs to read, deduplicated. */
export function keysOfBatch<Row>(projection: Projection<Row>, events: readonly StoredEvent[]): RowKey[] {
  const keys = new Map<string, RowKey>();
  for (const event of events) {
    if (!projection.handles.has(event.type)) continue;
    for (const key of projection.keysOf(event)) keys.set(keyText(key), key);
  }
  return [...keys.values()];
}

/** The whole view folded from scratch (an in-memory rebuild): verify and the tests use it. */
export function foldAll<Row>(projection: Projection<Row>, events: Iterable<StoredEvent>, into: Map<string, Row> = new Map()): Map<string, Row> {
  for (const event of events) {
    if (!projection.handles.has(event.type)) continue;
    for (const row of projection.apply((key) => into.get(keyText(key)), event)) into.set(keyText(projection.keyOf(row)), row);
  }
  return into;
}

/** Only the rows of one kind, by key text. */
export function rowsOfKind<Row>(projection: Projection<Row>, rows: ReadonlyMap<string, Row>, kind: string): Row[] {
  return [...rows.values()].filter((row) => projection.keyOf(row).kind === kind);
}

/** Differences between two views (by key), described for people: at most `limit`. */
export interface ViewDifference {
  readonly key: string;
  readonly expected: string | null;
  readonly actual: string | null;
}

export function diffViews<Row>(projection: Projection<Row>, expected: ReadonlyMap<string, Row>, actual: ReadonlyMap<string, Row>): ViewDifference[] {
  const differences: ViewDifference[] = [];
  const keys = new Set([...expected.keys(), ...actual.keys()]);
  for (const key of [...keys].sort(compareUtf8)) {
    const want = expected.get(key);
    const got = actual.get(key);
    const wantText = want === undefined ? null : projection.render(want);
    const gotText = got === undefined ? null : projection.render(got);
    if (wantText !== gotText) differences.push({ key, expected: wantText, actual: gotText });
  }
  return differences;
}
