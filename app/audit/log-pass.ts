import { postingProblems } from '../../ledger/core/posting-check';
import { isUserAccount } from '../../ledger/core/postings';
import { comparePositions, GlobalPosition, positionOf } from '../../ledger/core/store';
import { tryEventFromRow } from '../../ledger/spanner/codec';
import { positionOfRow, scanLogRows } from '../../ledger/spanner/store';
import { renderBooksRow } from '../../projections/core';
import { AuditContext } from './context';
import { MultisetDigest } from './multiset-digest';

/**
 * The audit's pass over the whole log in the global order, one page at a time:
 * - check 1: every event's postings (see ledger/core/posting-check.ts);
 * - the system accounts' totals (chain inflows, bonus expense, revenue, equity), which only
 *   exist in the global order, up to the balances view's checkpoint, and a digest of the
 *   running totals the view's system history should hold.
 * Memory: one page, and a few numbers per system account.
 */
export interface SystemTotals {
  debits: bigint;
  credits: bigint;
}

export interface LogPassResult {
  /** Events in the log at the read timestamp. */
  readonly events: number;
  /** The last event's position (null for an empty log). */
  readonly head: GlobalPosition | null;
  readonly systemTotals: ReadonlyMap<string, SystemTotals>;
  readonly systemHistory: ReadonlyMap<string, MultisetDigest>;
}

export async function logPass(context: AuditContext): Promise<LogPassResult> {
  const balances = context.views.get('balances');
  const systemTotals = new Map<string, SystemTotals>();
  const systemHistory = new Map<string, MultisetDigest>();
  let events = 0;
  let head: GlobalPosition | null = null;
  for await (const row of scanLogRows(context.connection, context.readTimestamp)) {
    events++;
    head = positionOfRow(row);
    const read = tryEventFromRow(row);
    // An event that does not parse is the stream pass's finding (it breaks that stream's chain).
    if (!read.ok) continue;
    const event = read.event;
    const postings = context.postingRule(event);
    if (context.checks.has('postings')) {
      const problems = postingProblems(event, postings);
      if (problems.length > 0) context.findings.add({ check: 'postings', eventId: event.eventId, streamId: event.streamId, detail: `${event.type}: ${problems.join('; ')}` });
    }
    if (!balances || balances.checkpoint === null || comparePositions(positionOf(event), balances.checkpoint) > 0) continue;
    const touched = new Set<string>();
    for (const { debit, credit, amountMicroUsd } of postings) {
      for (const [account, side] of [[debit, 'debits'], [credit, 'credits']] as const) {
        if (isUserAccount(account)) continue;
        const totals = systemTotals.get(account) ?? systemTotals.set(account, { debits: 0n, credits: 0n }).get(account)!;
        totals[side] += amountMicroUsd;
        touched.add(account);
      }
    }
    for (const account of touched) {
      const totals = systemTotals.get(account)!;
      const digest = systemHistory.get(account) ?? systemHistory.set(account, new MultisetDigest()).get(account)!;
      digest.add(
        renderBooksRow({ kind: 'system-history', account, committedAt: event.committedAt, streamId: event.streamId, streamVersion: event.streamVersion, debitsMicroUsd: totals.debits, creditsMicroUsd: totals.credits }),
      );
    }
  }
  return { events, head, systemTotals, systemHistory };
}
