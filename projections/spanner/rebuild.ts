import { PreciseDate } from '@google-cloud/precise-date';
import type { Transaction } from '@google-cloud/spanner';
import { StoredEvent } from '../../ledger/core/events';
import { comparePositions, LedgerStore } from '../../ledger/core/store';
import { storedEventFromRow, Row, smallInt, timestampText } from '../../ledger/spanner/codec';
import { scanLogRows } from '../../ledger/spanner/store';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { deleteKeyPrefix } from '../../ledger/spanner/range-delete';
import { runReadWrite } from '../../ledger/spanner/transaction';
import { PROJECTION_NAMES, ProjectionName, PROJECTIONS } from '../core';
import { ensureActiveGenerations, readActivePointers, readGenerationRows } from './generations';
import { advance, applyChunk, DEFAULT_CHUNK_SIZE, newOwnerId, releaseLease, Target } from './runtime';
import { READ_JSON, tablesOf } from './tables';

/** Rebuilding views online: new generations built from a pinned read, caught up, then switched to in one transaction. */

export interface RebuildReport {
  readonly projections: { projection: ProjectionName; previousGeneration: number; generation: number }[];
  /** The pinned read timestamp the new generations were built from. */
  readTimestamp: string;
  /** Events applied (summed over projections) while building and catching up. */
  readonly applied: number;
  /** Events in the log when the rebuild started (each rebuilt view reads all of them). */
  readonly events: number;
  /** Switch transactions tried: more than one when projectors moved the old generations on meanwhile. */
  readonly switchAttempts: number;
}

/** Runs one step of a long operation, riding out an outage of Spanner (the library's seam). */
type Riding = <T>(what: string, step: () => Promise<T>) => Promise<T>;

export interface RebuildOptions {
  readonly projections?: readonly ProjectionName[];
  readonly owner?: string;
  readonly chunkSize?: number;
  /** Called before building with the number of events to fold, then after every chunk. */
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * A seam for tests: runs after each catch-up, right before the switch transaction, so a
   * test can move the active generation on in exactly the window a concurrent projector would.
   */
  readonly beforeSwitch?: (attempt: number) => Promise<void>;
  /**
   * Runs each step again while Spanner does not answer (the shell's retry, up to its
   * deadline); every step is safe to repeat: chunks apply only past their checkpoint, the
   * generations are found again by this rebuild's owner, a switch already made is seen as made.
   */
  readonly riding?: Riding;
  /** Whether a failure is Spanner not answering (then the pinned phase gives way to catch-up). */
  readonly isTransient?: (error: unknown) => boolean;
  /** Told when the pinned read of the log failed so and the rebuild goes on by catching up. */
  readonly onPinnedReadLost?: (error: unknown) => void;
}

async function countEventsAt(connection: SpannerConnection, readTimestamp: string): Promise<number> {
  const [snapshot] = await connection.database.getSnapshot({ readTimestamp: new PreciseDate(readTimestamp) });
  try {
    const [rows] = await snapshot.run({ sql: 'SELECT COUNT(*) AS N FROM Events', ...READ_JSON, ...connection.queryOptions });
    return smallInt((rows as unknown as Row[])[0]?.N ?? 0);
  } finally {
    snapshot.end();
  }
}

/**
 * Deletes every row of one generation of a projection: one range-delete mutation per table,
 * whatever the number of rows; tables interleaved in others (the later kinds) first.
 */
function deleteGeneration(tx: object, projection: ProjectionName, generation: number): void {
  for (const table of tablesOf(projection).reverse()) deleteKeyPrefix(tx, table.table, [String(generation)]);
}

/**
 * The whole log at a pinned read timestamp, in the global order, in chunks of `chunkSize`
 * (each shard read a large page at a time: see scanLogRows); a transaction of view writes is
 * best kept smaller than a page of reads.
 */
async function* logAt(connection: SpannerConnection, readTimestamp: string, chunkSize: number): AsyncGenerator<StoredEvent[]> {
  let chunk: StoredEvent[] = [];
  for await (const row of scanLogRows(connection, readTimestamp)) {
    chunk.push(storedEventFromRow(row));
    if (chunk.length < chunkSize) continue;
    yield chunk;
    chunk = [];
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * Builds new generations of the views beside the active ones, from the log at a pinned read
 * timestamp (the commit timestamp of the transaction that created them), catches them up to
 * now, then switches the active pointers in one transaction. Readers read the pointer first,
 * so they see the old view or the complete new one. Old rows are deleted afterwards.
 */
export async function rebuild(connection: SpannerConnection, store: LedgerStore, options: RebuildOptions = {}): Promise<RebuildReport> {
  const names = options.projections ?? PROJECTION_NAMES;
  const owner = options.owner ?? newOwnerId('rebuild');
  const riding = options.riding ?? (<T>(_what: string, step: () => Promise<T>) => step());
  await riding('rebuild: starting', () => ensureActiveGenerations(connection, names));
  const created = await riding('rebuild: creating the new generations', () => createGenerations(connection, names, owner));
  const readTimestamp = timestampText(created.commitTimestamp);
  const plan = created.value;
  const building: Target[] = plan.map(({ projection, generation }) => ({ projection, generation, expectedStatus: 'building' }));
  const total = await riding('rebuild: counting the events', () => countEventsAt(connection, readTimestamp));
  options.onProgress?.(0, total);
  // Every projection folds every event; progress counts events of the slowest (the sum / n).
  let applied = 0;
  const progress = (events: number) => {
    applied += events;
    options.onProgress?.(Math.min(Math.floor(applied / names.length), total), total);
  };
  const build = async (readAt: string | undefined) => {
    const result = await riding('rebuild: catching up', () => advance(connection, store, building, {
      owner,
      chunkSize: options.chunkSize,
      ...(readAt ? { readTimestamp: readAt } : {}),
      onChunk: progress,
    }));
    // Only this rebuild writes the building generations: being fenced or retired means an operator interfered.
    if (result.status !== 'caught_up') throw new Error(`rebuild: building the new generation ended with ${result.status}`);
  };
  await applyPinned(connection, readTimestamp, building, owner, options, riding, progress);
  await build(undefined);

  const switchAttempts = await switchReaders(connection, plan, options, riding, () => build(undefined));
  // Close the gap between the last catch-up and the switch, then let others take over.
  const active: Target[] = plan.map(({ projection, generation }) => ({ projection, generation, expectedStatus: 'active' }));
  const tail = await riding('rebuild: catching up after the switch', () => advance(connection, store, active, { owner, chunkSize: options.chunkSize }));
  applied += tail.events;
  await riding('rebuild: releasing the lease', () => releaseLease(connection, active, owner));
  // Readers no longer look at the old generations: drop their rows (one range delete per table).
  await riding('rebuild: dropping the old generations', () =>
    runReadWrite(connection, async (tx) => {
      for (const { projection, previousGeneration } of plan) deleteGeneration(tx, projection, previousGeneration);
    }),
  );
  options.onProgress?.(total, total);
  return { projections: plan, readTimestamp, applied, events: total, switchAttempts };
}

/** The generations a rebuild (by its owner) created and is still building, per projection. */
async function readBuildingGenerationsOf(tx: Transaction, owner: string): Promise<Map<string, number>> {
  const [rows] = await tx.run({
    sql: "SELECT Projection, Generation FROM ProjectionGenerations WHERE Status = 'building' AND LeaseOwner = @owner",
    params: { owner },
    ...READ_JSON,
  });
  return new Map((rows as unknown as Row[]).map((row) => [String(row.Projection), smallInt(row.Generation)]));
}

/** Catch-ups a rebuild tries before it gives up on reaching the active generation's checkpoint. */
const SWITCH_ATTEMPTS_MAX = 20;

/** Another rebuild switched the readers first: this one's generations were dropped. */
export class RebuildSupersededError extends Error {
  override readonly name = 'RebuildSupersededError';
}

type RebuildPlan = RebuildReport['projections'];

type SwitchOutcome =
  | { kind: 'switched' }
  /** The new generation's checkpoint is before the active one's: catch up and try again. */
  | { kind: 'behind'; projection: ProjectionName }
  /** The active pointer no longer names the generation this rebuild replaces. */
  | { kind: 'superseded'; projection: ProjectionName; active: number; generation: number };

/**
 * Flips every pointer of the plan in one transaction, if for each projection the pointer
 * still names the generation the rebuild started from and the new generation has applied
 * at least everything the old one has. Serializable: a projector that advances the old
 * generation after this read conflicts with the switch and, once it commits, finds its
 * generation retired.
 */
async function trySwitch(connection: SpannerConnection, plan: RebuildPlan): Promise<SwitchOutcome> {
  const { value } = await runReadWrite(connection, async (tx): Promise<SwitchOutcome> => {
    const pointers = await readActivePointers(tx);
    const states = await readGenerationRows(
      tx,
      plan.flatMap(({ projection, generation, previousGeneration }) => [
        { projection, generation },
        { projection, generation: previousGeneration },
      ]),
    );
    // A retry after a lost commit reply: the switch already happened.
    if (plan.every(({ projection, generation }) => pointers.get(projection) === generation && states.get(`${projection}/${generation}`)?.status === 'active')) return { kind: 'switched' };
    for (const { projection, generation, previousGeneration } of plan) {
      const active = pointers.get(projection);
      if (active !== previousGeneration) return { kind: 'superseded', projection, active: active ?? 0, generation };
      const next = states.get(`${projection}/${generation}`);
      if (!next || next.status !== 'building') throw new Error(`rebuild: generation ${generation} of ${projection} is no longer building`);
      const previous = states.get(`${projection}/${previousGeneration}`)?.checkpoint ?? null;
      if (previous !== null && (next.checkpoint === null || comparePositions(next.checkpoint, previous) < 0)) return { kind: 'behind', projection };
    }
    for (const { projection, generation, previousGeneration } of plan) {
      tx.update('Projections', { Projection: projection, ActiveGeneration: String(generation), UpdatedAt: 'spanner.commit_timestamp()' });
      tx.update('ProjectionGenerations', { Projection: projection, Generation: String(generation), Status: 'active', UpdatedAt: 'spanner.commit_timestamp()' });
      tx.update('ProjectionGenerations', { Projection: projection, Generation: String(previousGeneration), Status: 'retired', LeaseOwner: null, LeaseExpiresAt: null, UpdatedAt: 'spanner.commit_timestamp()' });
    }
    return { kind: 'switched' };
  });
  return value;
}

/** Retires the plan's building generations and drops their rows (a superseded rebuild). */
async function abandon(connection: SpannerConnection, plan: RebuildPlan): Promise<void> {
  await runReadWrite(connection, async (tx) => {
    const states = await readGenerationRows(tx, plan);
    for (const { projection, generation } of plan) {
      if (states.get(`${projection}/${generation}`)?.status !== 'building') continue;
      tx.update('ProjectionGenerations', { Projection: projection, Generation: String(generation), Status: 'retired', LeaseOwner: null, LeaseExpiresAt: null, UpdatedAt: 'spanner.commit_timestamp()' });
      deleteGeneration(tx, projection, generation);
    }
  });
}

/** Creates a building generation of each projection, one past its highest; a retry after a lost reply finds its own. */
function createGenerations(connection: SpannerConnection, names: readonly ProjectionName[], owner: string) {
  return runReadWrite(connection, async (tx) => {
    const active = await readActivePointers(tx);
    // A retry after a lost commit reply finds the generations this rebuild already created.
    const mine = await readBuildingGenerationsOf(tx, owner);
    if (names.every((projection) => mine.has(projection))) {
      return names.map((projection) => {
        tx.update('ProjectionGenerations', { Projection: projection, Generation: String(mine.get(projection)), UpdatedAt: 'spanner.commit_timestamp()' });
        return { projection, previousGeneration: active.get(projection)!, generation: mine.get(projection)! };
      });
    }
    const [rows] = await tx.run({
      sql: 'SELECT Projection, MAX(Generation) AS G FROM ProjectionGenerations GROUP BY Projection',
      ...READ_JSON,
      ...connection.queryOptions,
    });
    const maxGeneration = new Map((rows as unknown as Row[]).map((row) => [String(row.Projection), smallInt(row.G)]));
    return names.map((projection) => {
      const generation = (maxGeneration.get(projection) ?? 0) + 1;
      tx.insert('ProjectionGenerations', {
        Projection: projection,
        Generation: String(generation),
        Status: 'building',
        EventsApplied: '0',
        FoldVersion: String(PROJECTIONS[projection].foldVersion),
        LeaseOwner: owner,
        LeaseExpiresAt: null,
        UpdatedAt: 'spanner.commit_timestamp()',
      });
      return { projection, previousGeneration: active.get(projection)!, generation };
    });
  });
}

/**
 * The pinned phase: every event at T, in the global order; the next chunk is read while the
 * current one commits. Spanner not answering ends it early: the catch-up after it goes on
 * from the generations' checkpoints, which the chunks applied so far moved.
 */
async function applyPinned(connection: SpannerConnection, readTimestamp: string, building: Target[], owner: string, options: RebuildOptions, riding: Riding, onApplied: (events: number) => void): Promise<void> {
  const chunks = logAt(connection, readTimestamp, options.chunkSize ?? DEFAULT_CHUNK_SIZE)[Symbol.asyncIterator]();
  try {
    let next = chunks.next();
    for (;;) {
      const current = await next;
      if (current.done) break;
      next = chunks.next();
      next.catch(() => undefined);
      const outcome = await riding('rebuild: applying a chunk', () => applyChunk(connection, building, current.value, { owner, chunkSize: options.chunkSize }));
      if (outcome.kind !== 'applied') throw new Error(`rebuild: building the new generation ended with ${outcome.kind}`);
      onApplied(outcome.applied);
    }
  } catch (error) {
    await chunks.return(undefined).catch(() => undefined);
    if (!options.isTransient?.(error)) throw error;
    options.onPinnedReadLost?.(error);
  }
}

/**
 * The switch: one transaction flips every pointer and retires the old generations, but only
 * when nothing moved under it. A projector following the old generation may have applied
 * events after our last catch-up (readers of --stale views would see rows vanish if we
 * switched to a generation behind it), and a second rebuild may have switched first.
 * Returns the attempts it took.
 */
async function switchReaders(connection: SpannerConnection, plan: RebuildReport['projections'], options: RebuildOptions, riding: Riding, catchUp: () => Promise<void>): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    await options.beforeSwitch?.(attempt);
    const outcome = await riding('rebuild: switching the readers', () => trySwitch(connection, plan));
    if (outcome.kind === 'switched') return attempt;
    if (outcome.kind === 'superseded') {
      await riding('rebuild: abandoning', () => abandon(connection, plan));
      throw new RebuildSupersededError(
        `rebuild: ${outcome.projection} was switched to generation ${outcome.active} by another rebuild while this one built generation ${outcome.generation}; this one was abandoned`,
      );
    }
    if (attempt >= SWITCH_ATTEMPTS_MAX) {
      throw new Error(`rebuild: the new generation of ${outcome.projection} was still behind the active one after ${attempt} catch-ups; a projector is applying events faster than the rebuild catches up`);
    }
    await catchUp();
  }
}
