import { withSnapshot } from '../../ledger/spanner/snapshot';
import { LIMITS } from '../../ledger/core/limits';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { StoredEvent } from '../../ledger/core/events';
import { comparePositions, GlobalPosition, LedgerStore, positionOf } from '../../ledger/core/store';
import { Row } from '../../ledger/spanner/codec';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { runReadWrite, TransactionObserver } from '../../ledger/spanner/transaction';
import { foldBatch, keysOfBatch, keyText, Projection, PROJECTION_NAMES, ProjectionName, PROJECTIONS, RowKey } from '../core';
import { assertCurrentFolds, checkpointColumns, ensureActiveGenerations, epochMillis, GenerationState, readGenerationRows } from './generations';
import { READ_JSON, viewTable, ViewTable } from './tables';

/**
 * The projector runtime (shell). It reads the log in the global order with `readAll` in
 * pages, and applies each chunk of events in ONE read-write transaction that
 *   1. re-reads the checkpoint (and status, lease) of every target generation,
 *   2. skips events at or before that checkpoint (fencing: whoever committed first wins,
 *      a concurrent projector's late chunk becomes a no-op, never a double apply),
 *   3. reads the view rows the chunk needs by key (one read per view),
 *   4. writes the changed rows and the new checkpoint as mutations.
 * The callback has no outside effects, so runReadWrite may re-run it after ABORTED.
 *
 * The lease (owner + expiry) is advisory: it makes a second projector wait instead of
 * doing the same work only to have it discarded. Correctness never depends on it (clocks
 * may be skewed); it comes from the checkpoint read in the transaction.
 */
export interface Target {
  readonly projection: ProjectionName;
  readonly generation: number;
  /** The status the generation must have for this projector to write it. */
  readonly expectedStatus: 'active' | 'building';
}

export interface AdvanceOptions {
  readonly owner: string;
  /** Events per read-write transaction (mutations stay far below Spanner's limit). */
  readonly chunkSize?: number;
  /** Events per readAll page. */
  readonly pageSize?: number;
  /** Read the log at this timestamp (a rebuild's pinned snapshot) instead of strongly. */
  readonly readTimestamp?: string;
  readonly leaseMs?: number;
  readonly shouldStop?: () => boolean;
  readonly onChunk?: (applied: number) => void;
  /** Reports retries of the chunk transactions (metrics). */
  readonly transactionObserver?: TransactionObserver;
}

export type AdvanceResult =
  | { readonly status: 'caught_up' | 'stopped'; readonly events: number; readonly wrote: boolean }
  /** Another live owner holds the lease: nothing written by this chunk. */
  | { readonly status: 'fenced'; readonly events: number; readonly wrote: boolean; readonly holder: string }
  /** A target generation no longer has the expected status (a rebuild switched it). */
  | { readonly status: 'retired'; readonly events: number; readonly wrote: boolean; readonly projection: ProjectionName };

export const DEFAULT_CHUNK_SIZE = 200;
export const DEFAULT_PAGE_SIZE = 1000;
export const DEFAULT_LEASE_MS = LIMITS.leaseDefaultMs;

export function newOwnerId(label = 'projector'): string {
  return `${label}:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

function stateKey(target: { projection: ProjectionName; generation: number }): string {
  return `${target.projection}/${target.generation}`;
}

function minCheckpoint(states: readonly GenerationState[]): GlobalPosition | null {
  let min: GlobalPosition | null | undefined;
  for (const state of states) {
    if (state.checkpoint === null) return null;
    if (min === undefined || comparePositions(state.checkpoint, min!) < 0) min = state.checkpoint;
  }
  return min ?? null;
}

export type ChunkOutcome =
  | { kind: 'applied'; states: GenerationState[]; applied: number; wrote: boolean }
  | { kind: 'fenced'; holder: string }
  | { kind: 'retired'; projection: ProjectionName };

function checkTargets(targets: readonly Target[], states: Map<string, GenerationState>, owner: string, nowMs: number): ChunkOutcome | GenerationState[] {
  const out: GenerationState[] = [];
  for (const target of targets) {
    const state = states.get(stateKey(target));
    if (!state || state.status !== target.expectedStatus) return { kind: 'retired', projection: target.projection };
    if (state.leaseOwner !== null && state.leaseOwner !== owner && state.leaseExpiresAt !== null && epochMillis(state.leaseExpiresAt) > nowMs) {
      return { kind: 'fenced', holder: state.leaseOwner };
    }
    out.push(state);
  }
  return out;
}

/** The rows behind `keys`, one read per kind (table), by key text. */
async function readViewRows(tx: Parameters<Parameters<typeof runReadWrite>[1]>[0], projection: ProjectionName, generation: number, keys: readonly RowKey[]): Promise<Map<string, unknown>> {
  const byKind = new Map<string, RowKey[]>();
  for (const key of keys) byKind.set(key.kind, [...(byKind.get(key.kind) ?? []), key]);
  const reads = [...byKind].map(async ([kind, kindKeys]) => {
    const table = viewTable(projection, kind) as ViewTable<unknown>;
    const [rows] = await tx.read(table.table, { keys: kindKeys.map((key) => [String(generation), ...key.key]), columns: [...table.columns], ...READ_JSON });
    return (rows as unknown as Row[]).map((row) => [keyText(table.keyOfRow(row)), table.fromRow(row)] as const);
  });
  return new Map((await Promise.all(reads)).flat());
}

/**
 * Writes changed rows, one upsert per table, in the order of the projection's kinds: a
 * parent table (a user's balance) before the tables interleaved in it (its history).
 */
function writeViewRows(tx: { upsert(table: string, rows: Row[]): void }, projection: Projection<unknown>, generation: number, changed: ReadonlyMap<string, unknown>): void {
  for (const kind of projection.kinds) {
    const rows = [...changed.values()].filter((row) => projection.keyOf(row).kind === kind);
    if (rows.length === 0) continue;
    const table = viewTable(projection.name, kind) as ViewTable<unknown>;
    tx.upsert(table.table, rows.map((row) => table.toRow(generation, row)));
  }
}

export async function applyChunk(connection: SpannerConnection, targets: readonly Target[], chunk: readonly StoredEvent[], options: AdvanceOptions): Promise<ChunkOutcome> {
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const { value } = await runReadWrite(connection, async (tx): Promise<ChunkOutcome> => {
    // Shell time: only for the advisory lease, never for what the views contain.
    const nowMs = Date.now();
    const states = await readGenerationRows(tx, targets);
    const checked = checkTargets(targets, states, options.owner, nowMs);
    if (!Array.isArray(checked)) return checked;
    const last = chunk[chunk.length - 1]!;
    const work = targets.map((target, index) => {
      const state = checked[index]!;
      const events = chunk.filter((event) => state.checkpoint === null || comparePositions(positionOf(event), state.checkpoint) > 0);
      return { target, state, events };
    });
    // One read per view for the whole chunk, all targets in parallel.
    const currents = await Promise.all(
      work.map(({ target, events }) => {
        const projection = PROJECTIONS[target.projection] as Projection<unknown>;
        return readViewRows(tx, target.projection, target.generation, keysOfBatch(projection, events));
      }),
    );
    let applied = 0;
    let wrote = false;
    const next: GenerationState[] = [];
    work.forEach(({ target, state, events }, index) => {
      if (events.length === 0) {
        next.push(state);
        return;
      }
      const projection = PROJECTIONS[target.projection] as Projection<unknown>;
      const changed = foldBatch(projection, currents[index]!, events);
      writeViewRows(tx, projection, target.generation, changed);
      const handled = events.filter((event) => projection.handles.has(event.type)).length;
      const checkpoint = positionOf(last);
      const leaseExpiresAt = new Date(nowMs + leaseMs).toISOString();
      tx.update('ProjectionGenerations', {
        Projection: target.projection,
        Generation: String(target.generation),
        ...checkpointColumns(checkpoint),
        EventsApplied: (state.eventsApplied + BigInt(handled)).toString(),
        LeaseOwner: options.owner,
        LeaseExpiresAt: leaseExpiresAt,
        UpdatedAt: 'spanner.commit_timestamp()',
      });
      applied += handled;
      wrote = true;
      next.push({ ...state, checkpoint, eventsApplied: state.eventsApplied + BigInt(handled), leaseOwner: options.owner, leaseExpiresAt });
    });
    return { kind: 'applied', states: next, applied, wrote };
  }, options.transactionObserver);
  return value;
}

/** Current states of the targets, read strongly outside any transaction. */
export async function readTargetStates(connection: SpannerConnection, targets: readonly Target[]): Promise<Map<string, GenerationState>> {
  return withSnapshot(connection, { strong: true }, async (snapshot) => {
    return await readGenerationRows(snapshot, targets);
  });
}

/**
 * Applies events to the targets until the log (at the pinned timestamp, or now) has nothing
 * after their checkpoints, or until fenced, retired or stopped.
 */
export async function advance(connection: SpannerConnection, store: LedgerStore, targets: readonly Target[], options: AdvanceOptions): Promise<AdvanceResult> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const initial = await readTargetStates(connection, targets);
  let states: GenerationState[] = [];
  for (const target of targets) {
    const state = initial.get(stateKey(target));
    if (!state || state.status !== target.expectedStatus) return { status: 'retired', events: 0, wrote: false, projection: target.projection };
    states.push(state);
  }
  // An active generation folded by an older fold is rebuilt, never continued.
  assertCurrentFolds(states);
  let events = 0;
  let wrote = false;
  for (;;) {
    if (options.shouldStop?.()) return { status: 'stopped', events, wrote };
    const page = await store.readAll(minCheckpoint(states), pageSize, options.readTimestamp ? { readTimestamp: options.readTimestamp } : {});
    if (page.events.length === 0) return { status: 'caught_up', events, wrote };
    for (let start = 0; start < page.events.length; start += chunkSize) {
      const outcome = await applyChunk(connection, targets, page.events.slice(start, start + chunkSize), options);
      if (outcome.kind === 'fenced') return { status: 'fenced', events, wrote, holder: outcome.holder };
      if (outcome.kind === 'retired') return { status: 'retired', events, wrote, projection: outcome.projection };
      states = outcome.states;
      events += outcome.applied;
      wrote ||= outcome.wrote;
      options.onChunk?.(outcome.applied);
      if (options.shouldStop?.()) return { status: 'stopped', events, wrote };
    }
  }
}

/** Gives the lease up (when this owner holds it) so another projector need not wait for expiry. */
export async function releaseLease(connection: SpannerConnection, targets: readonly Target[], owner: string): Promise<void> {
  await runReadWrite(connection, async (tx) => {
    const states = await readGenerationRows(tx, targets);
    for (const state of states.values()) {
      if (state.leaseOwner !== owner) continue;
      tx.update('ProjectionGenerations', {
        Projection: state.projection,
        Generation: String(state.generation),
        LeaseOwner: null,
        LeaseExpiresAt: null,
        UpdatedAt: 'spanner.commit_timestamp()',
      });
    }
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface RunProjectorOptions {
  readonly projections?: readonly ProjectionName[];
  /** Keep following the log after catching up. */
  readonly follow?: boolean;
  /** Poll interval while following, and wait between attempts while fenced. */
  readonly pollMs?: number;
  readonly owner?: string;
  readonly chunkSize?: number;
  readonly leaseMs?: number;
  readonly shouldStop?: () => boolean;
  readonly onChunk?: (applied: number) => void;
  /** Reports retries of the chunk transactions (metrics). */
  readonly transactionObserver?: TransactionObserver;
  /** After each pass over the log (caught up, or fenced by another projector). */
  readonly onPass?: (status: AdvanceResult['status']) => void;
}

export interface RunProjectorReport {
  /** Events this run applied (summed over projections). */
  readonly applied: number;
  readonly stopped: boolean;
}

/**
 * Catches the active generations up to the head of the log (and with `follow`, keeps doing
 * so every `pollMs` until `shouldStop`). Fenced by another live projector, it waits and
 * re-reads the checkpoints: it returns once the views are caught up, whoever did the work;
 * so a reader that calls this after its own write reads its write.
 */
export async function runProjector(connection: SpannerConnection, store: LedgerStore, options: RunProjectorOptions = {}): Promise<RunProjectorReport> {
  const names = options.projections ?? PROJECTION_NAMES;
  const owner = options.owner ?? newOwnerId();
  const pollMs = options.pollMs ?? 500;
  const fencedWaitMs = Math.min(pollMs, 100);
  let applied = 0;
  let wroteLease = false;
  let targets: Target[] = [];
  const resolve = async () => {
    const active = await ensureActiveGenerations(connection, names);
    targets = names.map((projection) => ({ projection, generation: active.get(projection)!, expectedStatus: 'active' as const }));
  };
  await resolve();
  try {
    for (;;) {
      const result = await advance(connection, store, targets, {
        owner,
        chunkSize: options.chunkSize,
        leaseMs: options.leaseMs,
        shouldStop: options.shouldStop,
        onChunk: options.onChunk,
        transactionObserver: options.transactionObserver,
      });
      applied += result.events;
      options.onPass?.(result.status);
      wroteLease ||= result.wrote;
      if (result.status === 'stopped') return { applied, stopped: true };
      if (result.status === 'retired') {
        if (wroteLease) await releaseLease(connection, targets, owner);
        wroteLease = false;
        await resolve();
        continue;
      }
      if (result.status === 'fenced') {
        await sleep(fencedWaitMs);
        continue;
      }
      if (!options.follow) return { applied, stopped: false };
      if (options.shouldStop?.()) return { applied, stopped: true };
      await sleep(pollMs);
      // A rebuild may have switched generations meanwhile.
      await resolve();
    }
  } finally {
    if (wroteLease) await releaseLease(connection, targets, owner).catch(() => undefined);
  }
}
