import { createHash } from 'node:crypto';
import { compareUtf8 } from '../ledger/core/text-order';
import type { EndLineValue } from './export-file';

/** What an end line seals, counted as the lines go by (the same on both sides: export and import). */
export class ExportSeal {
  private readonly lines = createHash('sha256');
  private readonly heads = new Map<string, { version: number; hash: string | null }>();
  private events = 0;
  private positions = 0;

  /** Every line between the header (included) and the end line, as written. */
  addLine(text: string): void {
    this.lines.update(`${text}\n`);
  }

  addEvent(streamId: string, streamVersion: number, chainHash: string | null): void {
    this.events++;
    this.heads.set(streamId, { version: streamVersion, hash: chainHash });
  }

  addPosition(): void {
    this.positions++;
  }

  /** The end line's content; the seal is spent. */
  end(): EndLineValue {
    const heads = createHash('sha256');
    for (const streamId of [...this.heads.keys()].sort(compareUtf8)) {
      const head = this.heads.get(streamId)!;
      heads.update(`${streamId}\t${head.version}\t${head.hash ?? 'null'}\n`);
    }
    return { events: this.events, positions: this.positions, streams: this.heads.size, headsDigest: heads.digest('hex'), linesDigest: this.lines.digest('hex') };
  }
}
