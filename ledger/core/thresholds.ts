import { EVENT_SCHEMA_VERSION, NewEvent } from './events';
import { accountStreamId, eventIds } from './ids';
import { LIMITS } from './limits';
import { MicroUsd } from './money';

/**
 * Balance thresholds, edge-triggered (Storj upgrades a user once their balance reaches $10):
 * a command whose whole effect takes the available balance from below a threshold to at or
 * above it crosses it `up`, from at or above to below crosses it `down`. A command that
 * leaves the balance on the same side appends nothing, however often the condition holds.
 * The balance is compared before and after everything the command appends, payments
 * included, so a deposit that an invoice takes straight back crosses nothing.
 */
export type Thresholds = readonly MicroUsd[];

/** Sorted, distinct, positive thresholds; throws RangeError with the reason otherwise. */
export function checkThresholds(thresholds: readonly MicroUsd[]): Thresholds {
  if (thresholds.length > LIMITS.balanceThresholdsMax) throw new RangeError(`at most ${LIMITS.balanceThresholdsMax} balance thresholds, got ${thresholds.length}`);
  const sorted = [...thresholds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i]! <= 0n) throw new RangeError(`balance thresholds must be positive, got ${sorted[i]}`);
    if (i > 0 && sorted[i] === sorted[i - 1]) throw new RangeError(`balance threshold ${sorted[i]} is given twice`);
  }
  return sorted;
}

export interface CrossingContext {
  readonly userId: string;
  readonly occurredAt: string;
  readonly causationEventId: string;
}

/** The crossings from `before` to `after`, in threshold order (ascending up, descending down). */
export function thresholdCrossings(before: MicroUsd, after: MicroUsd, thresholds: Thresholds, context: CrossingContext): NewEvent[] {
  const crossed: { threshold: MicroUsd; direction: 'up' | 'down' }[] = [];
  if (after > before) for (const threshold of thresholds) if (before < threshold && threshold <= after) crossed.push({ threshold, direction: 'up' });
  if (after < before) for (const threshold of [...thresholds].reverse()) if (after < threshold && threshold <= before) crossed.push({ threshold, direction: 'down' });
  return crossed.map(({ threshold, direction }) => ({
    type: 'BalanceThresholdCrossed',
    eventId: eventIds.threshold(context.causationEventId, threshold.toString(), direction),
    streamId: accountStreamId(context.userId),
    occurredAt: context.occurredAt,
    schemaVersion: EVENT_SCHEMA_VERSION.BalanceThresholdCrossed,
    payload: {
      userId: context.userId,
      thresholdMicroUsd: threshold.toString(),
      direction,
      balanceMicroUsd: after.toString(),
      causationEventId: context.causationEventId,
      occurredAt: context.occurredAt,
    },
  }));
}
