import { comparePositions, positionOf } from '../../ledger/core/store';
import { StoredEvent } from '../../ledger/core/events';
import { accountStreamId } from '../../ledger/core/ids';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { foldAll, PROJECTION_NAMES, PROJECTIONS, Projection, ProjectionName } from '../../projections/core';

/** Views of a database in the shape readActiveViews returns: per projection, rendered rows by key text. */
export type RenderedViews = Map<ProjectionName, Map<string, string>>;

export function foldedViews(events: StoredEvent[]): RenderedViews {
  const out: RenderedViews = new Map();
  for (const name of PROJECTION_NAMES) {
    const projection = PROJECTIONS[name] as Projection<unknown>;
    const rows = foldAll(projection, events);
    out.set(name, new Map([...rows].map(([key, row]) => [key, projection.render(row)])));
  }
  return out;
}

/**
 * The views expected from what was submitted, without the global reader the projector uses
 * (readAll over EventsByCommit): each user's stream is read through EventsByStream, in stream
 * order, and folded on its own. A defect in readAll then shows up on one side only.
 */
export async function expectedViews(store: SpannerLedgerStore, users: readonly string[]): Promise<RenderedViews> {
  const streams = await Promise.all(users.map((user) => store.readStream(accountStreamId(user))));
  // System accounts' history is a running total in the global order: fold in that order.
  return foldedViews(streams.flat().sort((a, b) => comparePositions(positionOf(a), positionOf(b))));
}

/**
 * Views with the commit timestamps taken out, to compare two databases that hold the same
 * events committed at other times (an export imported elsewhere): history rows lose their
 * committedAt, system history rows are keyed by the event instead.
 */
export function withoutCommitTimes(views: RenderedViews): RenderedViews {
  const balances = new Map<string, string>();
  for (const [key, text] of views.get('balances')!) {
    const [kind] = JSON.parse(key) as string[];
    const row = JSON.parse(text) as Record<string, unknown>;
    if (kind === 'history') balances.set(key, JSON.stringify({ ...row, committedAt: undefined }));
    else if (kind === 'system-history') balances.set(JSON.stringify([kind, row.account, row.streamId, row.streamVersion]), JSON.stringify({ ...row, committedAt: undefined }));
    else balances.set(key, text);
  }
  return new Map([...views, ['balances', balances]]);
}

