import { LedgerStore } from '../../ledger/core/store';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { ProjectionName, ViewDifference } from '../../projections/core';
import { audit, AuditReport } from './audit';

/**
 * `projections verify`: the audit's checks of the views and of Accounts against the log
 * (checks 3 and 4), reported as row differences: each view row and each Accounts row that
 * is not what folding the log (up to the view's checkpoint, at one read timestamp) gives.
 */
export interface VerifyDifference extends ViewDifference {
  readonly view: ProjectionName | 'accounts' | string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly readTimestamp: string;
  readonly events: number;
  readonly checked: Record<string, number>;
  readonly differenceCount: number;
  /** The first `limit` differences. */
  readonly differences: VerifyDifference[];
  readonly lagging: ProjectionName[];
  readonly skipped: AuditReport['skipped'];
}

export async function verify(connection: SpannerConnection, store: LedgerStore, options: { limit?: number; catchUp?: boolean } = {}): Promise<VerifyReport> {
  const report = await audit(connection, store, { checks: ['views', 'accounts'], catchUp: options.catchUp, findingsLimit: options.limit ?? 20 });
  return {
    ok: report.ok,
    readTimestamp: report.readTimestamp,
    events: report.events,
    checked: report.checked,
    differenceCount: report.findingCount,
    differences: report.findings.map((finding) => finding.difference ?? { view: finding.check, key: finding.streamId ?? '', expected: null, actual: finding.detail }),
    lagging: report.lagging,
    skipped: report.skipped,
  };
}
