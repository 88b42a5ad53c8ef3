import { sha256Hex } from './sha256';

export { sha256Hex };

/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped.
 * Digests and content comparisons use it so that key order never makes two equal
 * payloads look different.
 */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (member !== undefined) out[key] = sortKeys(member);
    }
    return out;
  }
  if (typeof value === 'bigint') throw new TypeError('bigint must be turned into a decimal string before JSON');
  return value;
}

/** SHA-256 of the canonical JSON, hex: the stored content digest of an event. */
export function contentDigest(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

/** Names the top-level members whose canonical values differ, sorted; empty when equal. */
export function differingFields(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((key) => canonicalJson(a[key] ?? null) !== canonicalJson(b[key] ?? null)).sort();
}
