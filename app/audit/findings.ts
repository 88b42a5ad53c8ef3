import { ViewDifference } from '../../projections/core';

/**
 * What the audit checks (see app/audit/audit.ts), and what it reports: one finding per
 * broken thing, naming the event or stream where it can.
 */
export const AUDIT_CHECKS = ['postings', 'books', 'accounts', 'views', 'chain', 'charge-rows', 'invoice-rows', 'rules'] as const;
export type AuditCheck = (typeof AUDIT_CHECKS)[number];

export interface Finding {
  readonly check: AuditCheck;
  readonly eventId?: string;
  readonly streamId?: string;
  readonly detail: string;
  /** For a view row or an Accounts row that differs: both sides, rendered (`projections verify` prints them). */
  readonly difference?: ViewDifference & { readonly view: string };
}

/** Findings up to a limit (the rest are counted, not kept: an audit of a broken log stays bounded). */
export class Findings {
  private readonly kept: Finding[] = [];
  private total = 0;

  constructor(private readonly limit: number) {}

  add(finding: Finding): void {
    this.total++;
    if (this.kept.length < this.limit) this.kept.push(finding);
  }

  get count(): number {
    return this.total;
  }

  get list(): readonly Finding[] {
    return this.kept;
  }
}

/** The wire shape of a finding: `{check, eventId?, streamId?, detail}`. */
export function findingJson(finding: Finding): Record<string, string> {
  return {
    check: finding.check,
    ...(finding.eventId === undefined ? {} : { eventId: finding.eventId }),
    ...(finding.streamId === undefined ? {} : { streamId: finding.streamId }),
    detail: finding.detail,
  };
}
