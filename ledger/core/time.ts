/**
 * Time as text, parsed exactly. Two axes use it:
 * - business time (`occurredAt`, `--as-of`): RFC 3339 with at most microsecond precision;
 *   the canonical form is UTC with exactly six fractional digits
 *   ("2026-01-02T03:04:05.000000Z"), so "Z" and "+00:00", or ".5" and ".500000", are the same
 *   content, and string order equals time order;
 * - commit time (`--at`, `committedAt`): RFC 3339 with at most nanosecond precision, the
 *   precision of Spanner's commit timestamps; canonical with nine fractional digits.
 * Every instant is computed with integers (no Date parsing), so an offset never costs a
 * digit, and a date that does not exist (February 30) is refused, never rolled over.
 */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|([+-])(\d{2}):(\d{2}))$/;

export interface BusinessTime {
  /** Microseconds since the Unix epoch. */
  readonly micros: bigint;
  /** Canonical RFC 3339 UTC text with six fractional digits. */
  readonly canonical: string;
}

export type TimeParseResult = { ok: true; time: BusinessTime } | { ok: false; reason: string };

/** Milliseconds since the epoch of a UTC calendar time; years 0-99 are taken literally (Date.UTC maps them to 19xx). */
function utcMillis(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  date.setUTCFullYear(year);
  return date.getTime();
}

/** Days of a month of the proleptic Gregorian calendar (as JavaScript's Date counts them). */
function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Nanoseconds of 0001-01-01T00:00:00Z and of the first instant after 9999-12-31T23:59:59.999999999Z. */
const MIN_NANOS = BigInt(utcMillis(1, 1, 1)) * 1_000_000n;
const END_NANOS = BigInt(utcMillis(9999, 12, 31, 23, 59, 59)) * 1_000_000n + 1_000_000_000n;

/** The earliest business time: what an account's "latest credit" is before it has any. */
export const BUSINESS_TIME_MIN = '0001-01-01T00:00:00.000000Z';

/**
 * Nanoseconds since the epoch of an RFC 3339 timestamp with at most `fractionDigitsMax`
 * significant fractional digits (trailing zeros beyond them are fine), or why it is not one.
 */
function parseInstantNanos(text: string, fractionDigitsMax: number): { ok: true; nanos: bigint } | { ok: false; reason: string } {
  const match = RFC3339.exec(text);
  if (!match) return { ok: false, reason: 'must be an RFC 3339 timestamp such as 2026-01-31T12:00:00.000000Z' };
  const [, y, mo, d, h, mi, s, fraction = '', , sign, offH, offM] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return { ok: false, reason: 'is not a valid calendar date' };
  }
  if (hour > 23 || minute > 59 || second > 59) return { ok: false, reason: 'is not a valid time of day' };
  if (fraction.length > fractionDigitsMax && !/^0+$/.test(fraction.slice(fractionDigitsMax))) {
    return { ok: false, reason: `has more than ${fractionDigitsMax === 6 ? 'microsecond' : 'nanosecond'} precision` };
  }
  let offsetMinutes = 0;
  if (sign) {
    const oh = Number(offH);
    const om = Number(offM);
    if (oh > 23 || om > 59) return { ok: false, reason: 'has an invalid UTC offset' };
    offsetMinutes = (sign === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const epochMs = utcMillis(year, month, day, hour, minute, second) - offsetMinutes * 60_000;
  const nanos = BigInt(epochMs) * 1_000_000n + BigInt(fraction.slice(0, 9).padEnd(9, '0'));
  if (nanos < MIN_NANOS || nanos >= END_NANOS) return { ok: false, reason: 'is outside 0001-01-01 to 9999-12-31 UTC' };
  return { ok: true, nanos };
}

export function parseBusinessTime(text: string): TimeParseResult {
  const parsed = parseInstantNanos(text, 6);
  if (!parsed.ok) return parsed;
  const micros = parsed.nanos / 1000n - (parsed.nanos % 1000n < 0n ? 1n : 0n);
  return { ok: true, time: { micros, canonical: formatMicros(micros) } };
}

const CANONICAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{6}Z$/;

/**
 * True when `text` is a business time in its canonical form (what every stored event
 * carries): UTC, six fractional digits, and a date that exists. Every stored event is read
 * through this, so it is plain arithmetic, no Date objects.
 */
export function isCanonicalBusinessTime(text: string): boolean {
  const match = CANONICAL.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && hour <= 23 && minute <= 59 && second <= 59;
}

/**
 * A commit timestamp (`--at`, an export's `committedAt`): canonical UTC text with nine
 * fractional digits, exact for any offset, or why it is not one.
 */
export function parseCommitTimestamp(text: string): { ok: true; canonical: string } | { ok: false; reason: string } {
  const parsed = parseInstantNanos(text, 9);
  if (!parsed.ok) return parsed;
  return { ok: true, canonical: formatNanos(parsed.nanos) };
}

/** Canonical UTC text for a microsecond instant. */
export function formatMicros(micros: bigint): string {
  return formatNanos(micros * 1000n).slice(0, 26) + 'Z';
}

/** Canonical UTC text for a nanosecond instant (nine fractional digits). */
export function formatNanos(nanos: bigint): string {
  const ms = nanos / 1_000_000n - (nanos % 1_000_000n < 0n ? 1n : 0n);
  const subMs = nanos - ms * 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ for years 0000-9999
  if (iso.length !== 24) throw new RangeError(`timestamp out of range: ${nanos}ns`);
  return `${iso.slice(0, 23)}${subMs.toString().padStart(6, '0')}Z`;
}

/** The later of two canonical business times (canonical text sorts as time does). */
export function laterOf(a: string, b: string): string {
  return a >= b ? a : b;
}
