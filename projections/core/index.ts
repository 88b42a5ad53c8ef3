import { balanceProjection, BooksRow } from './balance-view';
import { invoiceProjection, InvoiceRow } from './invoice-view';
import { Projection, ProjectionName } from './projection';
import { transactionProjection, TransactionRow } from './transaction-view';

export * from './projection';
export * from './balance-view';
export * from './transaction-view';
export * from './invoice-view';

export interface ProjectionRows {
  balances: BooksRow;
  transactions: TransactionRow;
  invoices: InvoiceRow;
}

export const PROJECTIONS: { [N in ProjectionName]: Projection<ProjectionRows[N]> } = {
  balances: balanceProjection,
  transactions: transactionProjection,
  invoices: invoiceProjection,
};
