import { sha256Hex } from './canonical';

/**
 * Tamper evidence: each event carries a chain hash over its stream's previous chain hash,
 * its own content digest and its stream version, and the stream's head is kept beside the
 * account row. Editing a payload breaks its digest; editing the digest too breaks the chain
 * from that event on; deleting or swapping events breaks a link or leaves the head pointing
 * at an event that is not the last. Only a rewrite of every later link and of the head goes
 * unnoticed, which is why the heads are worth keeping outside the database too (the events
 * topic carries every chain hash).
 */
export const GENESIS = '0'.repeat(64);

export function chainHash(previous: string, contentDigest: string, streamVersion: number): string {
  return sha256Hex(`${previous}:${contentDigest}:${streamVersion}`);
}

/** One event of a stream as stored, with the digest its content hashes to now. */
export interface ChainLink {
  readonly streamVersion: number;
  /** The digest stored with the event. */
  readonly storedDigest: string;
  /** The digest of the event's content as it is now. */
  readonly contentDigest: string;
  /** Null for an event the upgrade has not chained yet. */
  readonly chainHash: string | null;
}

export interface ChainBreak {
  /** Index of the first link that does not hold. */
  readonly at: number;
  readonly reason: string;
}

const short = (hash: string) => `${hash.slice(0, 12)}…`;

/**
 * Walks a stream's links in order from GENESIS and returns the first that does not hold:
 * a version out of place (an event missing or moved), content that no longer hashes to its
 * digest (edited in place), no chain hash (not chained yet), or a hash that does not follow
 * from the link before and this content (digest edited too, or links swapped). Returns the
 * head (the last hash) when every link holds.
 */
export function walkChain(links: readonly ChainLink[]): { readonly break: ChainBreak } | { readonly head: string } {
  let previous = GENESIS;
  for (const [at, link] of links.entries()) {
    const version = at + 1;
    if (link.streamVersion !== version) return { break: { at, reason: `stream version ${link.streamVersion} where ${version} belongs: the event before it is missing or out of place` } };
    if (link.contentDigest !== link.storedDigest) {
      return { break: { at, reason: `the content no longer matches its digest (stored ${short(link.storedDigest)}, content hashes to ${short(link.contentDigest)}): the event was edited` } };
    }
    if (link.chainHash === null) return { break: { at, reason: 'no chain hash: the upgrade has not chained this stream yet; run `spanledger db migrate`' } };
    const expected = chainHash(previous, link.contentDigest, link.streamVersion);
    if (link.chainHash !== expected) {
      return { break: { at, reason: `the chain hash does not follow from the link before it and this event's content (stored ${short(link.chainHash)}, expected ${short(expected)})` } };
    }
    previous = expected;
  }
  return { head: previous };
}
