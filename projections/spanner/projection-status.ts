import { withSnapshot } from '../../ledger/spanner/snapshot';
import { LIMITS } from '../../ledger/core/limits';
import { LedgerStore } from '../../ledger/core/store';
import { Row } from '../../ledger/spanner/codec';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { PROJECTION_NAMES, ProjectionName } from '../core';
import { GENERATION_COLUMNS, generationFromRow, GenerationState, readActivePointers } from './generations';
import { READ_JSON } from './tables';

/** Where each projection stands: its active generation, checkpoint, lease and lag behind the log (counted up to a cap). */

export interface ProjectionStatus {
  readonly projection: ProjectionName;
  readonly generation: number | null;
  readonly checkpoint: GenerationState['checkpoint'];
  readonly eventsApplied: string;
  /** Events in the log after the checkpoint, counted up to `lagCap`. */
  readonly lag: number;
  readonly lagIsLowerBound: boolean;
  readonly leaseOwner: string | null;
  readonly building: number[];
}

export async function projectionStatus(connection: SpannerConnection, store: LedgerStore, lagCap: number = LIMITS.lagCountMax): Promise<ProjectionStatus[]> {
  const { active, all } = await withSnapshot(connection, { strong: true }, async (snapshot) => {
    const [rows] = await snapshot.run({ sql: `SELECT ${GENERATION_COLUMNS.join(', ')} FROM ProjectionGenerations`, ...READ_JSON, ...connection.queryOptions });
    return { active: await readActivePointers(snapshot), all: (rows as unknown as Row[]).map(generationFromRow) };
  });
  const out: ProjectionStatus[] = [];
  for (const projection of PROJECTION_NAMES) {
    const generation = active.get(projection) ?? null;
    const state = all.find((candidate) => candidate.projection === projection && candidate.generation === generation);
    const checkpoint = state?.checkpoint ?? null;
    // Bounded: one page of at most lagCap events after the checkpoint.
    const page = await store.readAll(checkpoint, lagCap);
    out.push({
      projection,
      generation,
      checkpoint,
      eventsApplied: (state?.eventsApplied ?? 0n).toString(),
      lag: page.events.length,
      lagIsLowerBound: page.events.length === lagCap,
      leaseOwner: state?.leaseOwner ?? null,
      building: all.filter((candidate) => candidate.projection === projection && candidate.status === 'building').map((candidate) => candidate.generation),
    });
  }
  return out;
}
