import { Account } from '../core/account';
import { EventDraft, InboxOffset, KafkaOutcome, LedgerWrites } from '../core/store';
import { accountMutation, chargeToRow, invoiceToRow, Row, shardOf } from './codec';

/**
 * What a transaction's buffered writes become: the mutations the store sends, and what they
 * cost, counted from those very rows (so the figures in docs/scaling.md and the commit-limit
 * check cannot drift from what is written).
 *
 * Counting follows Spanner's rule: every cell written is a mutation (key cells included),
 * every secondary-index entry one more, a key-range delete one. `planBytes` gives the UTF-8
 * bytes of the values as the API carries them (INT64 and TIMESTAMP values travel as
 * strings); it is for the footprint figures, so the commit path does not pay for it.
 */
export interface PlannedMutation {
  readonly method: 'insert' | 'update' | 'upsert';
  readonly table: string;
  /** Rows with the same columns (one Spanner mutation carries one column list). */
  readonly rows: readonly Row[];
}

export interface PlannedRangeDelete {
  readonly table: string;
  readonly prefix: readonly string[];
  readonly from: string;
  readonly below: string;
}

export interface WritePlan {
  readonly mutations: readonly PlannedMutation[];
  readonly rangeDeletes: readonly PlannedRangeDelete[];
  /** Mutations as Spanner counts them against its 80,000-per-commit limit. */
  readonly mutationCount: number;
}

/** Secondary-index entries one row of a table adds (EventsByStream and EventsByCommit; OpenInvoicesByUser). */
const INDEX_ENTRIES_PER_ROW: Readonly<Record<string, number>> = { Events: 2, Invoices: 1 };

const COMMIT_TIMESTAMP = 'spanner.commit_timestamp()';

export function eventToRow(event: EventDraft): Row {
  return {
    EventId: event.eventId,
    StreamId: event.streamId,
    StreamVersion: String(event.streamVersion),
    Shard: String(shardOf(event.eventId)),
    EventType: event.type,
    SchemaVersion: String(event.schemaVersion),
    OccurredAt: event.occurredAt,
    Payload: JSON.stringify(event.payload),
    ContentDigest: event.contentDigest,
    CommittedAt: COMMIT_TIMESTAMP,
    ChainHash: event.chainHash,
  };
}

/** The key cells a Kafka partition's rows start with (KafkaInbox, KafkaOutcomes). */
function partitionKey(group: string, topic: string, partition: number): Row {
  return { ConsumerGroup: group, Topic: topic, KafkaPartition: String(partition) };
}

function inboxToRow(offset: InboxOffset): Row {
  return {
    ...partitionKey(offset.group, offset.topic, offset.partition),
    NextOffset: offset.nextOffset,
    LastMessageOffset: offset.lastMessage?.offset ?? null,
    LastMessageDigest: offset.lastMessage?.digest ?? null,
    UpdatedAt: COMMIT_TIMESTAMP,
  };
}

function outcomeToRow(outcome: KafkaOutcome): Row {
  return {
    ...partitionKey(outcome.group, outcome.topic, outcome.partition),
    KafkaOffset: outcome.offset,
    MessageKey: outcome.keyBase64 === null ? null : Buffer.from(outcome.keyBase64, 'base64'),
    Outcome: outcome.outcome,
    CreatedAt: COMMIT_TIMESTAMP,
  };
}

function valueBytes(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (Buffer.isBuffer(value)) return value.length;
  return Buffer.byteLength(String(value), 'utf8');
}

/**
 * The mutations of one write set. `accountsRead` holds the accounts as the transaction read
 * them: an account it read is updated in the cells that changed, one it did not find is
 * written whole; the map is moved on to what was written, so a second write set of the same
 * transaction diffs against the first.
 */
export function planWrites(writes: LedgerWrites, accountsRead: Map<string, Account>): WritePlan {
  const mutations: PlannedMutation[] = [];
  const add = (method: PlannedMutation['method'], table: string, rows: readonly Row[]) => {
    if (rows.length > 0) mutations.push({ method, table, rows });
  };
  add('insert', 'Events', writes.events.map(eventToRow));
  // One mutation per set of changed columns: a batch of deposits is one update of every account it touched.
  const accountShapes = new Map<string, { method: 'upsert' | 'update'; rows: Row[] }>();
  for (const account of writes.accounts) {
    const { method, row } = accountMutation(account, accountsRead.get(account.userId));
    const shape = `${method}:${Object.keys(row).join(',')}`;
    (accountShapes.get(shape) ?? accountShapes.set(shape, { method, rows: [] }).get(shape)!).rows.push(row);
    accountsRead.set(account.userId, account);
  }
  for (const { method, rows } of accountShapes.values()) add(method, 'Accounts', rows);
  add('upsert', 'Charges', writes.charges.map(chargeToRow));
  add('upsert', 'Invoices', (writes.invoices ?? []).map(invoiceToRow));
  add('upsert', 'KafkaInbox', (writes.inbox ?? []).map(inboxToRow));
  add('upsert', 'KafkaOutcomes', (writes.kafkaOutcomes ?? []).map(outcomeToRow));
  // An insert: two runs of one batch can never both commit (the second's would fail).
  if (writes.commitMarker) add('insert', 'CommitMarkers', [{ AttemptId: writes.commitMarker.attemptId, Run: String(writes.commitMarker.run), CommittedAt: COMMIT_TIMESTAMP }]);
  const rangeDeletes = (writes.kafkaOutcomesSent ?? []).map((sent) => ({ table: 'KafkaOutcomes', prefix: [sent.group, sent.topic, String(sent.partition)], from: '0', below: sent.belowOffset }));

  let mutationCount = rangeDeletes.length;
  for (const { table, rows } of mutations) {
    for (const row of rows) mutationCount += Object.keys(row).length + (INDEX_ENTRIES_PER_ROW[table] ?? 0);
  }
  return { mutations, rangeDeletes, mutationCount };
}

/** Bytes of the values a plan writes. */
export function planBytes(plan: WritePlan): number {
  let bytes = 0;
  for (const { rows } of plan.mutations) for (const row of rows) for (const value of Object.values(row)) bytes += valueBytes(value);
  return bytes;
}

/** Mutations one write set costs (see planWrites), given the accounts as the transaction read them. */
export function mutationCount(writes: LedgerWrites, accountsRead: ReadonlyMap<string, Account> = new Map()): number {
  return planWrites(writes, new Map(accountsRead)).mutationCount;
}
