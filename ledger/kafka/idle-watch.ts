import type { InboxOffset } from '../core/store';
import { consumedTo, PartitionOffsets, partitionLag } from './inbox';

/** What the idle watch reads on every look: the topic's partitions and the inbox. */
export interface IdleWatchSources {
  readonly partitionOffsets: () => Promise<Map<number, PartitionOffsets>>;
  readonly inbox: () => Promise<InboxOffset[]>;
  /** Idleness means nothing before this member has joined and placed its partitions once. */
  readonly placedOnce: () => boolean;
  /** Told each partition's lag on every look (messages that can still be fetched and are not applied). */
  readonly onLag?: (partition: number, lag: number) => void;
}

/**
 * Idle: every partition consumed up to what can still be fetched, and none is another log
 * (a partition that ends below its inbox is not caught up: its owner stops on it).
 */
export function isIdle(offsets: ReadonlyMap<number, PartitionOffsets>, rows: readonly InboxOffset[], onLag?: (partition: number, lag: number) => void): boolean {
  let idle = offsets.size > 0;
  for (const offset of offsets.values()) {
    const row = rows.find((candidate) => candidate.partition === offset.partition);
    onLag?.(offset.partition, Number(partitionLag(row, offset)));
    if (row && offset.high < BigInt(row.nextOffset)) idle = false;
    if (consumedTo(row, offset) < offset.high) idle = false;
  }
  return idle;
}

/**
 * Looks every `everyMs` until stopped; calls `onIdle` (once, and stops) when the topic is
 * idle. A look that fails (topic not there yet, a broker hiccup) is simply taken again.
 */
export class IdleWatch {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly sources: IdleWatchSources,
    private readonly everyMs: number,
    private readonly onIdle?: () => void,
  ) {}

  start(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.look(), this.everyMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async look(): Promise<void> {
    let idle = false;
    try {
      const [offsets, rows] = await Promise.all([this.sources.partitionOffsets(), this.sources.inbox()]);
      // Lags are told on every look, before this member has placed its partitions too.
      idle = isIdle(offsets, rows, this.sources.onLag) && this.sources.placedOnce();
    } catch {
      // look again
    }
    if (idle && this.onIdle) {
      this.stopped = true;
      this.onIdle();
    } else {
      this.start();
    }
  }
}
