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

export interface ChainLink {
  readonly streamVersion: number;
  readonly contentDigest: string;
  readonly chainHash: string;
}

export type ChainBreak = { readonly at: number; readonly reason: string };

/**
 * Checks links of one stream, in order, after `previous` (the hash before the first link,
 * GENESIS for version 1). Returns where the first break is, if any.
 */
export function firstChainBreak(links: readonly ChainLink[], previous: { hash: string; version: number } = { hash: GENESIS, version: 0 }): ChainBreak | undefined {
  let hash = previous.hash;
  let version = previous.version;
  for (const [at, link] of links.entries()) {
    if (link.streamVersion !== version + 1) return { at, reason: `stream version ${link.streamVersion} follows ${version}: an event is missing or out of place` };
    const expected = chainHash(hash, link.contentDigest, link.streamVersion);
    if (link.chainHash !== expected) return { at, reason: `chain hash ${link.chainHash.slice(0, 12)}… is not the hash of the previous link and this event's content (${expected.slice(0, 12)}…)` };
    hash = link.chainHash;
    version = link.streamVersion;
  }
  return undefined;
}
