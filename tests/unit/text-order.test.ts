import fc from 'fast-check';
import { comparePositions } from '../../ledger/core/store';
import { compareUtf8, hasLoneSurrogate } from '../../ledger/core/text-order';

/**
 * The ledger's string order must be Spanner's: UTF-8 byte order. The reference here is
 * Node's own encoder and Buffer.compare, independent of the code under test.
 */
const byUtf8Bytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const sign = (n: number) => Math.sign(n);

/** Well-formed strings that mix ASCII, the BMP below and above the surrogates, and astral characters. */
const codePoint = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0x80, max: 0xd7ff }),
  fc.integer({ min: 0xe000, max: 0xffff }),
  fc.integer({ min: 0x10000, max: 0x10ffff }),
);
const wellFormed = fc.array(codePoint, { maxLength: 8 }).map((points) => String.fromCodePoint(...points));

describe('compareUtf8', () => {
  test('the review\'s users sort as Spanner sorts them, not as JavaScript < does', () => {
    const users = ['𠮷田-1', 'ｽｽﾞｷ-2', '😀-3', 'ｚ-4', 'plain-5', '\uFFFD-6'];
    const spanner = [...users].sort(byUtf8Bytes);
    expect(spanner).toEqual(['plain-5', 'ｚ-4', 'ｽｽﾞｷ-2', '\uFFFD-6', '😀-3', '𠮷田-1']);
    expect([...users].sort(compareUtf8)).toEqual(spanner);
    // The old order (UTF-16 code units) puts the astral characters first.
    expect([...users].sort()).not.toEqual(spanner);
  });

  test('agrees with UTF-8 byte order on random well-formed strings', () => {
    fc.assert(
      fc.property(wellFormed, wellFormed, (a, b) => {
        expect(sign(compareUtf8(a, b))).toBe(sign(byUtf8Bytes(a, b)));
      }),
      { numRuns: 5000 },
    );
  });

  test('agrees on strings that share a long prefix and differ in one character', () => {
    fc.assert(
      fc.property(wellFormed, codePoint, codePoint, wellFormed, (prefix, x, y, rest) => {
        const a = prefix + String.fromCodePoint(x) + rest;
        const b = prefix + String.fromCodePoint(y);
        expect(sign(compareUtf8(a, b))).toBe(sign(byUtf8Bytes(a, b)));
        expect(sign(compareUtf8(b, a))).toBe(sign(byUtf8Bytes(b, a)));
      }),
      { numRuns: 2000 },
    );
  });

  test('a prefix sorts first and equal strings are equal', () => {
    expect(compareUtf8('account-a', 'account-ab')).toBeLessThan(0);
    expect(compareUtf8('😀', '😀')).toBe(0);
  });
});

describe('comparePositions orders stream IDs by UTF-8 bytes within one commit', () => {
  test('an astral stream sorts after a fullwidth one at the same commit timestamp', () => {
    const at = '2026-01-01T00:00:00.000000000Z';
    const astral = { committedAt: at, streamId: 'account-😀-3', streamVersion: 1 };
    const fullwidth = { committedAt: at, streamId: 'account-ｚ-4', streamVersion: 1 };
    expect(comparePositions(fullwidth, astral)).toBeLessThan(0);
    expect(comparePositions(astral, fullwidth)).toBeGreaterThan(0);
  });
});

describe('hasLoneSurrogate', () => {
  test.each([
    ['u\ud800', true],
    ['\udc00x', true],
    ['\ude00\ud83d', true],
    [`${'u'.repeat(60)}\ud83d`, true],
    ['😀', false],
    ['𠮷田', false],
    ['plain', false],
  ])('%j -> %s', (text, expected) => {
    expect(hasLoneSurrogate(text)).toBe(expected);
  });
});
