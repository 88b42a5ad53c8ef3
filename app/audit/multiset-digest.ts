import { sha256Hex } from '../../ledger/core/canonical';

/**
 * An order-independent digest of a multiset of texts: the sum of their SHA-256 values modulo
 * 2^256, and their count. Two sides that hold the same rows have the same digest whatever
 * order they were read in, so rows that only exist in the global order (a system account's
 * running totals) are compared in constant memory.
 */
const MODULUS = 1n << 256n;

export class MultisetDigest {
  private sum = 0n;
  private size = 0;

  add(text: string): void {
    this.sum = (this.sum + BigInt(`0x${sha256Hex(text)}`)) % MODULUS;
    this.size++;
  }

  get count(): number {
    return this.size;
  }

  equals(other: MultisetDigest): boolean {
    return this.sum === other.sum && this.size === other.size;
  }
}
