import { balanceProjection, BalanceRow } from './balance-view';
import { Projection, ProjectionName } from './projection';
import { transactionProjection, TransactionRow } from './transaction-view';

export * from './projection';
export * from './balance-view';
export * from './transaction-view';

export interface ProjectionRows {
  balances: BalanceRow;
  transactions: TransactionRow;
}

export const PROJECTIONS: { [N in ProjectionName]: Projection<ProjectionRows[N]> } = {
  balances: balanceProjection,
  transactions: transactionProjection,
};
