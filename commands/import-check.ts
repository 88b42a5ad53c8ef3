import { chainHash, GENESIS } from '../ledger/core/chain';
import { eventUserId } from '../ledger/core/events';
import { StreamRules } from '../ledger/core/history-rules';
import { digestOf } from '../ledger/core/store';
import { EndLineValue, ExportFileLine, ImportedEvent } from './export-file';
import { ExportSeal } from './export-seal';

/** One stream of the file as read so far. */
interface StreamSoFar {
  version: number;
  hash: string | null;
  /** A chained line was seen: an unchained one after it never comes from an export. */
  chained: boolean;
  rules: StreamRules;
  /** A link did not hold: its rules are not judged further (every later line would seem wrong). */
  broken: boolean;
}

/**
 * Checks an export file as a whole, line by line, before anything is written; memory holds
 * each stream's last link and the state its rules need (its account, charges and invoices).
 * - each stream's lines run from version 1 without a gap, each chain hash follows from the
 *   line before it, and no unchained line follows a chained one;
 * - each stream's events follow the ledger's rules (history-rules.ts), and each commit of a
 *   stream leaves no invoice open beside a whole cent (so a file cut inside a commit, after
 *   a deposit and before the payment it made, is caught even without an end line);
 * - a sealed file (it starts with a header) ends with its end line, and that line matches
 *   what is between: a cut anywhere, or a line edited, added or removed, is caught.
 * A file without a header was written before sealing: every check but the last applies,
 * and a cut between two commits cannot be told from a whole file.
 */
export class ExportFileCheck {
  private readonly streams = new Map<string, StreamSoFar>();
  private readonly seal = new ExportSeal();
  private group: { streamId: string; committedAt: string; line: number } | undefined;
  private sealed = false;
  private ended = false;
  private lines = 0;

  /** Whether the file started with a header (and so must end with its end line). */
  get isSealed(): boolean {
    return this.sealed;
  }

  /** The problems of one line (empty when none). */
  check(entry: ExportFileLine, text: string): string[] {
    this.lines++;
    if (this.ended) return [`line ${entry.line}: a line after the end line: the file was appended to`];
    if (entry.kind === 'header') {
      if (this.lines !== 1) return [`line ${entry.line}: a header that is not the first line`];
      this.sealed = true;
      this.seal.addLine(text);
      return [];
    }
    if (entry.kind === 'end') return this.checkEnd(entry);
    if (this.sealed) this.seal.addLine(text);
    if (entry.kind === 'invalid') return [entry.message];
    if (entry.kind === 'position') {
      this.seal.addPosition();
      return [...this.endGroup()];
    }
    return this.checkEvent(entry.value);
  }

  /** The problems only the end of the file shows. */
  finish(): string[] {
    const problems = this.endGroup();
    if (this.sealed && !this.ended) problems.push('the file ends without its end line: it was cut short (a sealed export always ends with one); nothing was written');
    return problems;
  }

  private checkEnd(entry: Extract<ExportFileLine, { kind: 'end' }>): string[] {
    this.ended = true;
    if (!this.sealed) return [`line ${entry.line}: an end line in a file without a header`];
    const problems = this.endGroup();
    const want = this.seal.end();
    const differing = (Object.keys(want) as (keyof EndLineValue)[]).filter((key) => want[key] !== entry.value[key]);
    if (differing.length > 0) {
      problems.push(`line ${entry.line}: the end line does not match the file (${differing.map((key) => `${key}: ${String(entry.value[key])} in the end line, ${String(want[key])} in the file`).join('; ')}): lines were cut, added or edited`);
    }
    return problems;
  }

  private checkEvent(imported: ImportedEvent): string[] {
    const { event, streamVersion, line, committedAt } = imported;
    const problems: string[] = [];
    if (this.group && (this.group.streamId !== event.streamId || this.group.committedAt !== committedAt)) problems.push(...this.endGroup());
    this.group ??= { streamId: event.streamId, committedAt, line };
    this.seal.addEvent(event.streamId, streamVersion, imported.chainHash);
    const stream = this.streams.get(event.streamId) ?? { version: 0, hash: GENESIS, chained: false, rules: new StreamRules(eventUserId(event)), broken: false };
    this.streams.set(event.streamId, stream);
    const link = linkProblem(stream, imported);
    stream.version = streamVersion;
    stream.hash = imported.chainHash;
    stream.chained ||= imported.chainHash !== null;
    if (link) {
      stream.broken = true;
      return [...problems, link];
    }
    if (stream.broken) return problems;
    const broken = stream.rules.next(event);
    if (broken.length > 0) problems.push(`line ${line}: event ${event.eventId}: ${event.type} breaks the ledger's rules: ${broken.join('; ')}`);
    return problems;
  }

  /** The commit group that just ended (one stream, one commit timestamp): what every commit leaves must hold. */
  private endGroup(): string[] {
    const group = this.group;
    this.group = undefined;
    if (!group) return [];
    const stream = this.streams.get(group.streamId)!;
    if (stream.broken) return [];
    return stream.rules.commitEnd().map((problem) => `line ${group.line}: the commit of stream ${group.streamId} at ${group.committedAt}: ${problem} (the file was cut inside that commit, or a line of it removed)`);
  }
}

/** The problem with this event's place in its stream's chain, if any. */
function linkProblem(previous: StreamSoFar, imported: ImportedEvent): string | undefined {
  const { event, streamVersion, line } = imported;
  if (streamVersion !== previous.version + 1) {
    return previous.version === 0
      ? `line ${line}: event ${event.eventId}: stream ${event.streamId} starts at version ${streamVersion}; an export holds every event of a stream from version 1`
      : `line ${line}: event ${event.eventId}: version ${streamVersion} of stream ${event.streamId} follows version ${previous.version}: a line is missing or out of order`;
  }
  if (imported.chainHash === null) {
    // An unchained event (exported before the upgrade chained its stream) is checked by its
    // digest alone; after a chained one it never comes from an export.
    return previous.chained ? `line ${line}: event ${event.eventId}: has no chain hash, but the line before it in stream ${event.streamId} has one: an export never unchains a stream (the line was edited)` : undefined;
  }
  if (previous.hash === null) return `line ${line}: event ${event.eventId}: carries a chain hash, but the line before it in stream ${event.streamId} has none: the chain cannot be followed`;
  const expected = chainHash(previous.hash, digestOf(event), streamVersion);
  if (imported.chainHash !== expected) return `line ${line}: event ${event.eventId}: its chain hash does not follow from the line before it in stream ${event.streamId} and its content: the file was edited`;
  return undefined;
}
