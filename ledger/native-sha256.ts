import * as crypto from 'node:crypto';
import { Sha256Hex, useSha256 } from './core/sha256';

/**
 * Node's own SHA-256 for the core's hashing (see core/sha256.ts): `crypto.hash` where the
 * runtime has it (Node >= 20.12), else a Hash object per call. Both encode the string as
 * UTF-8, as the portable implementation does.
 */
type OneShotHash = (algorithm: string, data: string, encoding: 'hex') => string;
const oneShot = (crypto as unknown as { hash?: OneShotHash }).hash;

export const nativeSha256Hex: Sha256Hex = oneShot
  ? (text) => oneShot('sha256', text, 'hex')
  : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/** Called by the process's entry points (the CLI, openLedger) before any command is decided. */
export function useNativeSha256(): void {
  useSha256(nativeSha256Hex);
}
