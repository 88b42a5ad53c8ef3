import { withSnapshot } from '../ledger/spanner/snapshot';
import { LedgerStore } from '../ledger/core/store';
import { SpannerConnection } from '../ledger/spanner/connection';
import { migrate, MigrateReport } from '../ledger/spanner/migrate';
import { PROJECTION_NAMES, PROJECTIONS, ProjectionName } from '../projections/core';
import { ensureActiveGenerations, readGenerationRows } from '../projections/spanner/generations';
import { rebuild } from '../projections/spanner/rebuild';
import { MIGRATIONS } from './schema';

/**
 * `db migrate`: everything that brings a database to what this code expects, in order, each
 * step idempotent and resumable:
 * 1. the schema migrations (with their data steps, such as chaining existing streams);
 * 2. a first, empty generation of every projection, so a fresh database is healthy before
 *    any projector has run;
 * 3. a rebuild of every view whose active generation an older fold wrote: built beside the
 *    active one from the log and switched to when caught up, so readers keep reading the old
 *    generation meanwhile (they see its old shape, never a half-built new one).
 */
export interface MigrateAllReport extends MigrateReport {
  /** Projections rebuilt because their fold changed. */
  readonly rebuilt: ProjectionName[];
}

export async function migrateAll(connection: SpannerConnection, store: LedgerStore, report: (line: string) => void = () => undefined): Promise<MigrateAllReport> {
  const schema = await migrate(connection, MIGRATIONS, report);
  const active = await ensureActiveGenerations(connection, PROJECTION_NAMES);
  const states = await withSnapshot(connection, { strong: true }, (snapshot) => readGenerationRows(snapshot, [...active].map(([projection, generation]) => ({ projection, generation }))));
  const outdated = [...states.values()].filter((state) => state.foldVersion < PROJECTIONS[state.projection].foldVersion).map((state) => state.projection);
  if (outdated.length > 0) {
    report(`rebuilding ${outdated.join(', ')}: folded by an older version of their fold`);
    await rebuild(connection, store, { projections: outdated });
  }
  return { ...schema, rebuilt: outdated };
}
