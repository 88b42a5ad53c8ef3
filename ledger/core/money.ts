/**
 * Money is always a bigint count of micro-dollars (1 USD = 1,000,000 µUSD).
 * It crosses the wire as a decimal integer string and is stored as Spanner INT64,
 * so every amount must fit in a signed 64-bit integer: arithmetic here is checked.
 */
export type MicroUsd = bigint;

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
export const MICROS_PER_CENT = 10_000n;
export const MICROS_PER_DOLLAR = 1_000_000n;

const DECIMAL_INTEGER = /^-?(0|[1-9][0-9]*)$/;

export function isInt64(value: bigint): boolean {
  return value >= INT64_MIN && value <= INT64_MAX;
}

/** Parses a canonical decimal integer string ("-12", "0", "5"); undefined when it is not one or leaves INT64. */
export function parseInt64(text: string): bigint | undefined {
  if (!DECIMAL_INTEGER.test(text) || text === '-0') return undefined;
  const value = BigInt(text);
  return isInt64(value) ? value : undefined;
}

/** a + b, or undefined when the sum leaves INT64 (the caller turns that into AMOUNT_OVERFLOW). */
export function addInt64(a: bigint, b: bigint): bigint | undefined {
  const sum = a + b;
  return isInt64(sum) ? sum : undefined;
}

/** Rounds a non-negative amount down to whole cents (partial charges never take fractions of a cent). */
export function floorToCents(amount: MicroUsd): MicroUsd {
  return amount - (amount % MICROS_PER_CENT);
}

/** "$1,234.567890" style text for people; never parsed back. */
export function formatUsd(amount: MicroUsd): string {
  const negative = amount < 0n;
  const abs = negative ? -amount : amount;
  const dollars = (abs / MICROS_PER_DOLLAR).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const micros = (abs % MICROS_PER_DOLLAR).toString().padStart(6, '0');
  return `${negative ? '-' : ''}$${dollars}.${micros}`;
}
