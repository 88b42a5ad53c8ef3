/**
 * Business time. Every timestamp comes from a command's `occurredAt`, never from a clock.
 * RFC 3339 with at most microsecond precision is accepted; the canonical form is UTC with
 * exactly six fractional digits ("2026-01-02T03:04:05.000000Z") so that "Z" and "+00:00",
 * or ".5" and ".500000", are the same content, and string order equals time order.
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

function daysInMonth(year: number, month: number): number {
  const next = new Date(utcMillis(year, month, 1));
  next.setUTCMonth(next.getUTCMonth() + 1, 0);
  return next.getUTCDate();
}

/** Microseconds of 0001-01-01T00:00:00Z and of the first instant after 9999-12-31T23:59:59.999999Z. */
const MIN_MICROS = BigInt(utcMillis(1, 1, 1)) * 1000n;
const END_MICROS = BigInt(utcMillis(9999, 12, 31, 23, 59, 59)) * 1000n + 1_000_000n;

export function parseBusinessTime(text: string): TimeParseResult {
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
  if (fraction.length > 6 && !/^0+$/.test(fraction.slice(6))) {
    return { ok: false, reason: 'has more than microsecond precision' };
  }
  let offsetMinutes = 0;
  if (sign) {
    const oh = Number(offH);
    const om = Number(offM);
    if (oh > 23 || om > 59) return { ok: false, reason: 'has an invalid UTC offset' };
    offsetMinutes = (sign === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const epochMs = utcMillis(year, month, day, hour, minute, second) - offsetMinutes * 60_000;
  const micros = BigInt(epochMs) * 1000n + BigInt(fraction.slice(0, 6).padEnd(6, '0'));
  if (micros < MIN_MICROS || micros >= END_MICROS) return { ok: false, reason: 'is outside 0001-01-01 to 9999-12-31 UTC' };
  return { ok: true, time: { micros, canonical: formatMicros(micros) } };
}

/** Canonical UTC text for a microsecond instant. */
export function formatMicros(micros: bigint): string {
  const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const subMs = micros - ms * 1000n;
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ for years 0000-9999
  if (iso.length !== 24) throw new RangeError(`timestamp out of range: ${micros}µs`);
  return `${iso.slice(0, 23)}${subMs.toString().padStart(3, '0')}Z`;
}
