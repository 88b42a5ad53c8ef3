import { OptionError } from '../ledger/core/option-error';

/**
 * Input the library refuses: a time that is not one, a cursor it did not print, options
 * that contradict each other. The CLI reports these with exit code 2.
 */
export class LedgerInputError extends OptionError {
  override readonly name: string = 'LedgerInputError';
}

/**
 * A database the ledger cannot work on as it is: missing, lacking migrations this code needs,
 * or written by a newer spanledger. `spanledger db migrate` fixes the first two.
 */
export class LedgerSchemaError extends Error {
  override readonly name = 'LedgerSchemaError';
}
