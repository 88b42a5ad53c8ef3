import { withSnapshot } from '../../ledger/spanner/snapshot';
import { businessTimeMicros, Row } from '../../ledger/spanner/codec';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { keyText, Projection, ProjectionName, PROJECTIONS, InvoiceRow, TransactionRow, transactionAsOf } from '../core';
import { readActivePointers } from './generations';
import { invoiceTable, READ_JSON, tablesOf, transactionTable } from './tables';

/** Reads of the views' active generations: a user's transactions and invoices, and every view row (tests and tooling). */

/** Every row of one generation of a projection (all its tables), by key text. */
async function readGenerationView(reader: { run: SnapshotRun }, connection: SpannerConnection, projection: ProjectionName, generation: number): Promise<Map<string, unknown>> {
  const rows = new Map<string, unknown>();
  for (const table of tablesOf(projection)) {
    const [found] = await reader.run({
      sql: `SELECT ${table.columns.join(', ')} FROM ${table.table} WHERE Generation = @generation`,
      params: { generation: String(generation) },
      types: { generation: 'int64' },
      ...READ_JSON,
      ...connection.queryOptions,
    });
    for (const row of found as unknown as Row[]) rows.set(keyText(table.keyOfRow(row)), table.fromRow(row));
  }
  return rows;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type SnapshotRun = (query: any) => Promise<any>;

export interface TransactionsPage {
  /** The generation read; null when the projection has never run. */
  readonly generation: number | null;
  readonly rows: TransactionRow[];
  /** Where the next page starts, when more rows match. */
  readonly next?: TransactionCursor;
}

/** A place in the order of a user's transactions: after the row with this business time and stream version. */
export interface TransactionCursor {
  readonly occurredAtMicros: string;
  readonly streamVersion: number;
}

export interface TransactionFilter {
  /** A canonical business time: rows as they stood then, of events that occurred by then. */
  readonly asOf?: string;
  /** occurredAt at or after (canonical business time). */
  readonly since?: string;
  /** occurredAt before (canonical business time). */
  readonly until?: string;
  readonly type?: TransactionRow['type'];
  readonly source?: TransactionRow['source'];
  /** The status (as of `asOf`, when given). */
  readonly status?: TransactionRow['status'];
  /** Rows after this place in the order (the `next` of a previous page). */
  readonly after?: TransactionCursor;
}

/**
 * A user's transactions from the active generation, newest first (occurredAt DESC, then
 * stream version DESC: see transaction-view.ts), read in one strong snapshot, at most `limit`
 * of them, filtered in the query. With `asOf`: only rows that occurred at or before it, each
 * with the status it had then (a charge settled or failed later is still pending).
 */
export async function readTransactions(connection: SpannerConnection, userId: string, limit: number, filter: TransactionFilter = {}): Promise<TransactionsPage> {
  return withSnapshot(connection, { strong: true }, async (snapshot) => {
    const generation = (await readActivePointers(snapshot)).get('transactions');
    if (generation === undefined) return { generation: null, rows: [] };
    const micros = (time: string | undefined) => (time === undefined ? null : businessTimeMicros(time));
    const asOf = micros(filter.asOf);
    // The status a row had at asOf: its first one while the settle or fail came later.
    const statusThen = '(CASE WHEN @asOf IS NOT NULL AND StatusChangedAtMicros IS NOT NULL AND StatusChangedAtMicros > @asOf THEN InitialStatus ELSE Status END)';
    const [rows] = await snapshot.run({
      sql: `SELECT ${transactionTable.columns.join(', ')} FROM TransactionView
            WHERE Generation = @generation AND UserId = @userId
              AND (@asOf IS NULL OR OccurredAtMicros <= @asOf)
              AND (@since IS NULL OR OccurredAtMicros >= @since)
              AND (@until IS NULL OR OccurredAtMicros < @until)
              AND (@type IS NULL OR Type = @type)
              AND (@source IS NULL OR Source = @source)
              AND (@status IS NULL OR ${statusThen} = @status)
              AND (@afterMicros IS NULL OR OccurredAtMicros < @afterMicros OR (OccurredAtMicros = @afterMicros AND StreamVersion < @afterVersion))
            ORDER BY OccurredAtMicros DESC, StreamVersion DESC LIMIT @limit`,
      params: {
        generation: String(generation),
        userId,
        limit: String(limit + 1),
        asOf,
        since: micros(filter.since),
        until: micros(filter.until),
        type: filter.type ?? null,
        source: filter.source ?? null,
        status: filter.status ?? null,
        afterMicros: filter.after?.occurredAtMicros ?? null,
        afterVersion: filter.after === undefined ? null : String(filter.after.streamVersion),
      },
      types: { generation: 'int64', userId: 'string', limit: 'int64', asOf: 'int64', since: 'int64', until: 'int64', type: 'string', source: 'string', status: 'string', afterMicros: 'int64', afterVersion: 'int64' },
      ...READ_JSON,
      ...connection.queryOptions,
    });
    const found = (rows as unknown as Row[]).map(transactionTable.fromRow);
    const page = found.slice(0, limit).map((row) => (filter.asOf === undefined ? row : transactionAsOf(row, filter.asOf)));
    const last = page[page.length - 1];
    const next = found.length > limit && last ? { occurredAtMicros: businessTimeMicros(last.occurredAt), streamVersion: last.streamVersion } : undefined;
    return { generation, rows: page, ...(next ? { next } : {}) };
  });
}

export interface InvoicesPage {
  readonly generation: number | null;
  readonly rows: InvoiceRow[];
}

/** A user's invoices from the active generation of the invoices view, oldest first (opened at, then invoice ID). */
export async function readInvoices(connection: SpannerConnection, userId: string, status?: InvoiceRow['status']): Promise<InvoicesPage> {
  return withSnapshot(connection, { strong: true }, async (snapshot) => {
    const generation = (await readActivePointers(snapshot)).get('invoices');
    if (generation === undefined) return { generation: null, rows: [] };
    const [rows] = await snapshot.run({
      sql: `SELECT ${invoiceTable.columns.join(', ')} FROM InvoiceView
            WHERE Generation = @generation AND UserId = @userId AND (@status IS NULL OR Status = @status)
            ORDER BY OpenedAtMicros, InvoiceId`,
      params: { generation: String(generation), userId, status: status ?? null },
      types: { generation: 'int64', userId: 'string', status: 'string' },
      ...READ_JSON,
      ...connection.queryOptions,
    });
    return { generation, rows: (rows as unknown as Row[]).map(invoiceTable.fromRow) };
  });
}

/** Every row of the active generation of each view, rendered (tests and tooling). */
export async function readActiveViews(connection: SpannerConnection): Promise<{ generations: Map<ProjectionName, number>; views: Map<ProjectionName, Map<string, string>> }> {
  return withSnapshot(connection, { strong: true }, async (snapshot) => {
    const generations = await readActivePointers(snapshot);
    const views = new Map<ProjectionName, Map<string, string>>();
    for (const [projection, generation] of generations) {
      const rows = await readGenerationView(snapshot, connection, projection, generation);
      const projectionDef = PROJECTIONS[projection] as Projection<unknown>;
      views.set(projection, new Map([...rows].map(([key, row]) => [key, projectionDef.render(row)])));
    }
    return { generations, views };
  });
}
