import { withSnapshot } from '../../ledger/spanner/snapshot';
import { PreciseDate } from '@google-cloud/precise-date';
import { Transaction } from '@google-cloud/spanner';
import { GlobalPosition } from '../../ledger/core/store';
import { int64, Row, smallInt, timestampText } from '../../ledger/spanner/codec';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { runReadWrite } from '../../ledger/spanner/transaction';
import { isProjectionName, PROJECTION_NAMES, ProjectionName, PROJECTIONS } from '../core';
import { READ_JSON } from './tables';

/** Generations and checkpoints of the projections (tables Projections and ProjectionGenerations). */
export type GenerationStatus = 'building' | 'active' | 'retired';

export interface GenerationState {
  readonly projection: ProjectionName;
  readonly generation: number;
  readonly status: GenerationStatus;
  /** Last position applied; null before the first event. */
  readonly checkpoint: GlobalPosition | null;
  readonly eventsApplied: bigint;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: string | null;
  /** The version of the fold that wrote the generation's rows (see Projection.foldVersion). */
  readonly foldVersion: number;
}

export const GENERATION_COLUMNS = [
  'Projection',
  'Generation',
  'Status',
  'CheckpointCommittedAt',
  'CheckpointStreamId',
  'CheckpointStreamVersion',
  'EventsApplied',
  'LeaseOwner',
  'LeaseExpiresAt',
  'FoldVersion',
] as const;

export function generationFromRow(row: Row): GenerationState {
  const projection = String(row.Projection);
  if (!isProjectionName(projection)) throw new Error(`unknown projection ${projection} in ProjectionGenerations`);
  const status = String(row.Status);
  if (status !== 'building' && status !== 'active' && status !== 'retired') throw new Error(`projection ${projection}: unknown status ${status}`);
  const checkpoint =
    row.CheckpointCommittedAt === null || row.CheckpointCommittedAt === undefined
      ? null
      : { committedAt: timestampText(row.CheckpointCommittedAt), streamId: String(row.CheckpointStreamId), streamVersion: smallInt(row.CheckpointStreamVersion) };
  return {
    projection,
    generation: smallInt(row.Generation),
    status,
    checkpoint,
    eventsApplied: int64(row.EventsApplied),
    leaseOwner: row.LeaseOwner === null || row.LeaseOwner === undefined ? null : String(row.LeaseOwner),
    leaseExpiresAt: row.LeaseExpiresAt === null || row.LeaseExpiresAt === undefined ? null : timestampText(row.LeaseExpiresAt),
    foldVersion: row.FoldVersion === null || row.FoldVersion === undefined ? 1 : smallInt(row.FoldVersion),
  };
}

export function generationKey(projection: ProjectionName, generation: number): string[] {
  return [projection, String(generation)];
}

type Reader = Pick<Transaction, 'read' | 'run'>;

export async function readGenerationRows(reader: Reader, keys: readonly { projection: ProjectionName; generation: number }[]): Promise<Map<string, GenerationState>> {
  if (keys.length === 0) return new Map();
  const [rows] = await reader.read('ProjectionGenerations', {
    keys: keys.map((key) => generationKey(key.projection, key.generation)),
    columns: [...GENERATION_COLUMNS],
    ...READ_JSON,
  });
  const states = (rows as unknown as Row[]).map(generationFromRow);
  return new Map(states.map((state) => [`${state.projection}/${state.generation}`, state]));
}

export async function readActivePointers(reader: Reader): Promise<Map<ProjectionName, number>> {
  const [rows] = await reader.read('Projections', { keys: PROJECTION_NAMES.map((name) => [name]), columns: ['Projection', 'ActiveGeneration'], ...READ_JSON });
  const active = new Map<ProjectionName, number>();
  for (const row of rows as unknown as Row[]) {
    const name = String(row.Projection);
    if (isProjectionName(name)) active.set(name, smallInt(row.ActiveGeneration));
  }
  return active;
}

/**
 * The active generation of each projection, creating generation 1 (empty, at the start of
 * the log) for a projection that has none yet. Concurrent callers are serialised by the
 * read-write transaction: one creates, the others see its rows on retry.
 */
export async function ensureActiveGenerations(connection: SpannerConnection, names: readonly ProjectionName[]): Promise<Map<ProjectionName, number>> {
  const active = await withSnapshot(connection, { strong: true }, (snapshot) => readActivePointers(snapshot));
  if (names.every((name) => active.has(name))) return active;
  const { value } = await runReadWrite(connection, async (tx) => {
    const current = await readActivePointers(tx);
    for (const name of names) {
      if (current.has(name)) continue;
      tx.insert('Projections', { Projection: name, ActiveGeneration: '1', UpdatedAt: 'spanner.commit_timestamp()' });
      tx.insert('ProjectionGenerations', { Projection: name, Generation: '1', Status: 'active', EventsApplied: '0', FoldVersion: String(PROJECTIONS[name].foldVersion), UpdatedAt: 'spanner.commit_timestamp()' });
      current.set(name, 1);
    }
    return current;
  });
  return value;
}

export function checkpointColumns(position: GlobalPosition | null): Row {
  return {
    CheckpointCommittedAt: position?.committedAt ?? null,
    CheckpointStreamId: position?.streamId ?? null,
    CheckpointStreamVersion: position === null ? null : String(position.streamVersion),
  };
}

/** Milliseconds since the epoch of a stored timestamp (lease expiry; shell only). */
export function epochMillis(timestamp: string): number {
  return new PreciseDate(timestamp).getTime();
}

/** The active generation was folded by an older version of its projection's fold: its rows lack what the current fold writes. */
export class ProjectionOutdatedError extends Error {
  override readonly name = 'ProjectionOutdatedError';
  constructor(
    readonly projection: ProjectionName,
    readonly generation: number,
    readonly foldVersion: number,
  ) {
    super(
      `projection ${projection}: its active generation ${generation} was folded by version ${foldVersion} of its fold, this code folds version ${PROJECTIONS[projection].foldVersion}; run \`spanledger db migrate\`, which rebuilds it beside the active one`,
    );
  }
}

/** Throws ProjectionOutdatedError for the first active generation folded by an older fold. */
export function assertCurrentFolds(states: Iterable<GenerationState>): void {
  for (const state of states) {
    if (state.status === 'active' && state.foldVersion < PROJECTIONS[state.projection].foldVersion) throw new ProjectionOutdatedError(state.projection, state.generation, state.foldVersion);
  }
}
