import fc from 'fast-check';
import { nativeSha256Hex } from '../../ledger/native-sha256';
import { portableSha256Hex, sha256Hex, useSha256 } from '../../ledger/core/sha256';
import { deriveEventId } from '../../ledger/core/ids';

describe('SHA-256: the native implementation the shell installs gives the portable digests', () => {
  it('agrees with the published test vectors', () => {
    for (const hash of [portableSha256Hex, nativeSha256Hex]) {
      expect(hash('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      expect(hash('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    }
  });

  it('agrees on any text, non-ASCII and astral included (both hash the UTF-8 bytes)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.string({ minLength: 1000, maxLength: 5000 })), (text) => {
        expect(nativeSha256Hex(text)).toBe(portableSha256Hex(text));
      }),
      { numRuns: 500 },
    );
    expect(nativeSha256Hex('ünïcødé 💶')).toBe(portableSha256Hex('ünïcødé 💶'));
  });

  it('event IDs are the same whichever implementation is installed', () => {
    const before = deriveEventId('deposit', '1', '0xabc', '0');
    useSha256(nativeSha256Hex);
    try {
      expect(sha256Hex('abc')).toBe(nativeSha256Hex('abc'));
      expect(deriveEventId('deposit', '1', '0xabc', '0')).toBe(before);
    } finally {
      useSha256(portableSha256Hex);
    }
    // And the seam is real: what is installed is what the core calls.
    useSha256(() => 'f'.repeat(64));
    try {
      expect(deriveEventId('deposit', '1', '0xabc', '0')).toBe('f'.repeat(32));
    } finally {
      useSha256(portableSha256Hex);
    }
  });
});
