/**
 * spanledger: an event-sourced payment ledger on Cloud Spanner and Kafka, as a library.
 *
 * ```ts
 * import { openLedger } from 'spanledger';
 * const ledger = await openLedger();
 * const outcomes = await ledger.submit([{ type: 'deposit', ... }]);
 * const balance = await ledger.balance('user-1');
 * await ledger.close();
 * ```
 *
 * Every method returns what the CLI's `--json` prints: money as decimal strings of
 * micro-dollars. The `spanledger` CLI is built on this API.
 *
 * @packageDocumentation
 */
export { openLedger, Ledger, CursorError, SubmitIncompleteError } from './app/ledger';
export type {
  AccountsOptions,
  AuditOptions,
  AuditReportJson,
  BalanceOptions,
  BalanceReport,
  BooksAccount,
  BooksReport,
  InvoicesReport,
  SubmitOutcome,
  TransactionsOptions,
  TransactionsReport,
  UsersOptions,
  UsersReport,
} from './app/ledger';
export { LedgerInputError, LedgerSchemaError } from './app/errors';
export { LedgerSettingsError } from './app/settings';
export { OutageError } from './ledger/core/retry';
export { DamagedHistoryError } from './ledger/core/damaged-history';
export type { OutageObserver } from './ledger/core/retry';
export type { LedgerSettings } from './app/settings';
export { commandsJsonSchema, eventsJsonSchema } from './app/json-schema';
export { CutTimeError, ProjectionBehindError } from './projections/spanner/books';
export { ProjectionOutdatedError } from './projections/spanner/generations';

import { Command as CommandSchema, parseCommandText, ParseCommandResult } from './ledger/core/commands';
export type { Command, CommandType, ParseCommandResult } from './ledger/core/commands';

/** The zod schema of a payment command (what `submit` and `consume` accept), normalising as it validates. */
export const commandSchema = CommandSchema;

/**
 * Validates one command's JSON text the way the ledger does (strict JSON: no duplicate keys,
 * exact integers): `{ ok: true, command }` normalised, or `{ ok: false, message }` naming
 * every offending field.
 */
export function parseCommand(text: string): ParseCommandResult {
  return parseCommandText(text);
}
