/**
 * One key-range delete mutation on a transaction: every row whose key starts with `prefix`
 * and whose next key part is in [from, below). The client's deleteRows takes single keys
 * only, so the mutation is queued on the transaction directly: one mutation whatever the
 * number of rows, and no DML (slow on the emulator, and not allowed beside mutations on the
 * same rows). Both bounds have the same number of key parts: Spanner requires that of a
 * range whose bounds differ in their last part.
 */
export function deleteKeyRange(tx: object, table: string, prefix: readonly string[], from: string, below: string): void {
  queuedMutations(tx).push({ delete: { table, keySet: { ranges: [{ startClosed: keyValue([...prefix, from]), endOpen: keyValue([...prefix, below]) }] } } });
}

/** Every row whose key starts with `prefix` (all its parts given as strings). */
export function deleteKeyPrefix(tx: object, table: string, prefix: readonly string[]): void {
  queuedMutations(tx).push({ delete: { table, keySet: { ranges: [{ startClosed: keyValue(prefix), endClosed: keyValue(prefix) }] } } });
}

function keyValue(parts: readonly string[]): { values: { stringValue: string }[] } {
  return { values: parts.map((part) => ({ stringValue: part })) };
}

function queuedMutations(tx: object): unknown[] {
  const queued = (tx as { _queuedMutations?: unknown[] })._queuedMutations;
  if (!Array.isArray(queued)) throw new Error('this @google-cloud/spanner version does not expose queued mutations; cannot delete a key range');
  return queued;
}
