import { PostingRule } from '../../ledger/core/postings';
import { GlobalPosition } from '../../ledger/core/store';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { ProjectionName } from '../../projections/core';
import { AuditCheck, Findings } from './findings';

/** One generation of a view the audit compares with the log: only the events up to its checkpoint. */
export interface ComparedView {
  readonly projection: ProjectionName;
  readonly generation: number;
  readonly checkpoint: GlobalPosition | null;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AuditSnapshot = { run(query: any): Promise<any>; read(table: string, request: any): Promise<any> };

/** What both passes of one audit share: everything is read at one timestamp. */
export interface AuditContext {
  readonly connection: SpannerConnection;
  /** A multi-use read-only snapshot at `readTimestamp`. */
  readonly snapshot: AuditSnapshot;
  readonly readTimestamp: string;
  readonly checks: ReadonlySet<AuditCheck>;
  /** The posting rule the audit derives the books with (the ledger's; a test seam). */
  readonly postingRule: PostingRule;
  readonly views: ReadonlyMap<ProjectionName, ComparedView>;
  readonly findings: Findings;
  /** Users per page of the stream pass. */
  readonly usersPerPage: number;
}
