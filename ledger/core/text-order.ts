/**
 * The one string order of the ledger: Spanner's. Spanner sorts STRING keys by their UTF-8
 * bytes, which is Unicode code point order. JavaScript's `<` compares UTF-16 code units,
 * which disagrees with it whenever a character outside the BMP (stored as a surrogate pair,
 * units U+D800–U+DFFF) meets a BMP character at or above U+E000 (fullwidth forms, U+FFFD):
 * '😀' < 'ｚ' in JavaScript, but 'ｚ' < '😀' in Spanner. Every comparison of key text that
 * must agree with a Spanner key range (log positions, cursors, listings) goes through here.
 */

/**
 * Moves surrogate units above U+E000–U+FFFF and those down by 0x800, so that comparing two
 * mapped units gives code point order at the first unit where two well-formed strings differ.
 */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/** Negative, zero or positive as `a` sorts before, with or after `b` in UTF-8 byte order. */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** True when the text has a lone UTF-16 surrogate, which has no UTF-8 form at all. */
export function hasLoneSurrogate(text: string): boolean {
  // With the `u` flag a well-formed pair is one code point outside this class; only a lone
  // surrogate matches it.
  return /[\uD800-\uDFFF]/u.test(text);
}
