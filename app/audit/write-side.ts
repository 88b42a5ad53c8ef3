import { Charge, Invoice } from '../../ledger/core/account';
import { FoldedRow } from '../../ledger/core/history-rules';
import { accountStreamId, eventIds } from '../../ledger/core/ids';
import { compareInvoicesByAge } from '../../ledger/core/invoice-payments';
import { CHARGE_COLUMNS, chargeToRow, INVOICE_COLUMNS, invoiceToRow, Row } from '../../ledger/spanner/codec';
import { READ_JSON } from '../../projections/spanner/tables';
import { AuditContext } from './context';

/**
 * Checks 6 and 7 of the audit: the write-side rows that decisions read besides Accounts.
 * A settle or fail trusts its Charges row (status, amount, owner); a void and every payment
 * trust the Invoices rows and the index of open invoices (what is due, how much was paid,
 * the order they are paid in). Each must be exactly what folding the log gives, at the
 * audit's cut: a row edited, deleted or inserted behind the ledger's back is a finding
 * naming the row and the last event that made it.
 *
 * Rows are compared cell by cell as stored (text of every column the ledger writes, but
 * UpdatedAt), never parsed first, so a row edited into something unreadable is a finding,
 * not an error that ends the audit.
 */
export const INVOICE_ROW_COLUMNS = [...INVOICE_COLUMNS, 'OpenSinceMicros'] as const;

/** What one user's events say the write side holds (folded by the stream's StreamRules walk): charges and invoices by invoice ID. */
export interface ExpectedWriteSide {
  readonly charges: ReadonlyMap<string, FoldedRow<Charge>>;
  readonly invoices: ReadonlyMap<string, FoldedRow<Invoice>>;
}

/** The stored rows of a page of users, read at the audit's cut. */
export interface WriteSideRows {
  /** Charges rows by invoice ID (those the page's events name). */
  readonly charges: Map<string, Row>;
  /** Invoices rows by user, then invoice ID. */
  readonly invoices: Map<string, Map<string, Row>>;
  /** The index of open invoices by user, in index order (what a decision reads). */
  readonly openIndex: Map<string, Row[]>;
}

export async function readWriteSideRows(context: AuditContext, userIds: readonly string[], chargeInvoiceIds: readonly string[]): Promise<WriteSideRows> {
  const byUser = userIds.map((userId) => ({ startClosed: [userId], endClosed: [userId] }));
  const [charges, invoices, openIndex] = await Promise.all([
    chargeInvoiceIds.length === 0 ? Promise.resolve([[]]) : context.snapshot.read('Charges', { keys: [...chargeInvoiceIds], columns: [...CHARGE_COLUMNS], ...READ_JSON }),
    context.snapshot.read('Invoices', { ranges: byUser, columns: [...INVOICE_ROW_COLUMNS], ...READ_JSON }),
    context.snapshot.read('Invoices', { index: 'OpenInvoicesByUser', ranges: byUser, columns: [...INVOICE_ROW_COLUMNS], ...READ_JSON }),
  ]);
  const rows: WriteSideRows = { charges: new Map(), invoices: new Map(), openIndex: new Map() };
  for (const row of charges[0] as Row[]) rows.charges.set(String(row.InvoiceId), row);
  for (const row of invoices[0] as Row[]) {
    const userId = String(row.UserId);
    (rows.invoices.get(userId) ?? rows.invoices.set(userId, new Map()).get(userId)!).set(String(row.InvoiceId), row);
  }
  for (const row of openIndex[0] as Row[]) {
    const userId = String(row.UserId);
    (rows.openIndex.get(userId) ?? rows.openIndex.set(userId, []).get(userId)!).push(row);
  }
  return rows;
}

/** A stored cell as text (INT64 arrives wrapped), so a stored row and an expected one compare exactly. */
function cellText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'object' && 'value' in value) return String((value as { value: unknown }).value);
  return String(value);
}

function rowText(row: Row, columns: readonly string[]): string {
  return JSON.stringify(Object.fromEntries(columns.map((column) => [column, cellText(row[column])])));
}

const chargeText = (charge: Charge) => rowText(chargeToRow(charge), CHARGE_COLUMNS);
const invoiceText = (invoice: Invoice) => rowText(invoiceToRow(invoice), INVOICE_ROW_COLUMNS);

/** Checks 6 and 7 for one user; returns the rows compared, per table. */
export function checkWriteSide(context: AuditContext, userId: string, expected: ExpectedWriteSide, rows: WriteSideRows): { charges: number; invoices: number } {
  const streamId = accountStreamId(userId);
  if (context.checks.has('charge-rows')) {
    for (const [invoiceId, { value, lastEventId }] of expected.charges) {
      const stored = rows.charges.get(invoiceId);
      const want = chargeText(value);
      const got = stored ? rowText(stored, CHARGE_COLUMNS) : null;
      if (got === want) continue;
      context.findings.add({
        check: 'charge-rows',
        eventId: lastEventId,
        streamId,
        detail: got === null ? `the Charges row of invoice ${invoiceId} is missing; event ${lastEventId} made it ${want}` : `the Charges row of invoice ${invoiceId} is ${got}, the log gives ${want} (last event ${lastEventId})`,
        difference: { view: 'Charges', key: invoiceId, expected: want, actual: got },
      });
    }
  }
  if (!context.checks.has('invoice-rows')) return { charges: expected.charges.size, invoices: 0 };
  const stored = rows.invoices.get(userId) ?? new Map<string, Row>();
  let differs = false;
  for (const invoiceId of [...new Set([...expected.invoices.keys(), ...stored.keys()])].sort()) {
    const want = expected.invoices.get(invoiceId);
    const row = stored.get(invoiceId);
    const wantText = want ? invoiceText(want.value) : null;
    const gotText = row ? rowText(row, INVOICE_ROW_COLUMNS) : null;
    if (wantText === gotText) continue;
    differs = true;
    const detail = !row
      ? `the Invoices row of ${userId}'s invoice ${invoiceId} is missing; event ${want!.lastEventId} made it ${wantText}`
      : !want
        ? `the Invoices row of ${userId}'s invoice ${invoiceId} (${gotText}) was made by no event: no InvoiceOpened of this user names it`
        : `the Invoices row of ${userId}'s invoice ${invoiceId} is ${gotText}, the log gives ${wantText} (last event ${want.lastEventId})`;
    context.findings.add({ check: 'invoice-rows', ...(want ? { eventId: want.lastEventId } : {}), streamId, detail, difference: { view: 'Invoices', key: `${userId}/${invoiceId}`, expected: wantText, actual: gotText } });
  }
  // The index follows the table; a difference there is only news when every row matched.
  if (!differs) checkOpenIndex(context, userId, expected, rows.openIndex.get(userId) ?? []);
  return { charges: expected.charges.size, invoices: stored.size };
}

/** The open invoices a decision of this user would read, in the order it would pay them. */
function checkOpenIndex(context: AuditContext, userId: string, expected: ExpectedWriteSide, indexRows: readonly Row[]): void {
  const open = [...expected.invoices.values()].map((entry) => entry.value).filter((invoice) => invoice.status === 'open').sort(compareInvoicesByAge);
  const want = open.map(invoiceText);
  const got = indexRows.map((row) => rowText(row, INVOICE_ROW_COLUMNS));
  if (JSON.stringify(want) === JSON.stringify(got)) return;
  context.findings.add({
    check: 'invoice-rows',
    streamId: accountStreamId(userId),
    detail: `the index of ${userId}'s open invoices reads ${got.length} invoice(s) [${indexRows.map((row) => String(row.InvoiceId)).join(', ')}], the log gives ${want.length} [${open.map((invoice) => invoice.invoiceId).join(', ')}]`,
  });
}

/**
 * Charges rows that no user's events made (the stream pass compares every row an event
 * names; a row nobody names is only seen here). Run when the table holds more rows than the
 * log's charges: a page of the table at a time, each row's charge event read by its
 * derived ID.
 */
export async function reportUnclaimedCharges(context: AuditContext): Promise<void> {
  const pageSize = 1000;
  for (let after: string | null = null; ; ) {
    const [found] = await context.snapshot.read('Charges', {
      ranges: [after === null ? { startClosed: [], endClosed: [] } : { startOpen: [after], endClosed: [] }],
      columns: [...CHARGE_COLUMNS],
      limit: pageSize,
      ...READ_JSON,
    });
    const rows = found as Row[];
    if (rows.length === 0) return;
    const ids = rows.map((row) => eventIds.charge(String(row.InvoiceId)));
    const [events] = await context.snapshot.read('Events', { keys: ids, columns: ['EventId'], ...READ_JSON });
    const present = new Set((events as Row[]).map((row) => String(row.EventId)));
    for (const row of rows) {
      if (present.has(eventIds.charge(String(row.InvoiceId)))) continue;
      context.findings.add({
        check: 'charge-rows',
        detail: `the Charges row of invoice ${String(row.InvoiceId)} (${rowText(row, CHARGE_COLUMNS)}) was made by no event: the log holds no charge of that invoice`,
        difference: { view: 'Charges', key: String(row.InvoiceId), expected: null, actual: rowText(row, CHARGE_COLUMNS) },
      });
    }
    if (rows.length < pageSize) return;
    after = String(rows[rows.length - 1]!.InvoiceId);
  }
}
