import { sha256 } from '@noble/hashes/sha256';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';

/**
 * SHA-256 of a string's UTF-8 bytes, as lowercase hex: event IDs, content digests and chain
 * hashes all go through it, so it is on the write path of every command.
 *
 * The pure core cannot import node:crypto, so it starts with @noble/hashes (plain JS, any
 * runtime) and the shell may install a native implementation that gives the same digests
 * (`useSha256`, done by ledger/native-sha256.ts): on Node 20 that is ~8x faster per call.
 */
export type Sha256Hex = (text: string) => string;

export const portableSha256Hex: Sha256Hex = (text) => bytesToHex(sha256(utf8ToBytes(text)));

let implementation: Sha256Hex = portableSha256Hex;

export function sha256Hex(text: string): string {
  return implementation(text);
}

/** Installs another implementation; it must give the same digests (tests/unit/sha256.test.ts). */
export function useSha256(next: Sha256Hex): void {
  implementation = next;
}
