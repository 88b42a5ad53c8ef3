/**
 * The stored history is not what the ledger wrote: a stream with a gap or a doubled
 * version, an event row that no longer parses, a write-side row that names an event the
 * log does not hold. Raised by whatever meets it first (a projector, a read, a decision);
 * `spanledger audit` names every such place. The CLI exits 5, as for an audit finding.
 */
export class DamagedHistoryError extends Error {
  override readonly name = 'DamagedHistoryError';

  constructor(
    /** The stream (or row) where the damage was met. */
    readonly where: string,
    detail: string,
    readonly eventId?: string,
  ) {
    super(`${where} is damaged: ${detail}; run \`spanledger audit\` to see every finding`);
  }
}
