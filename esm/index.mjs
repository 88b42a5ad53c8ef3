// ES module entry of spanledger: the same API as the CommonJS build (dist/index.js).
import spanledger from '../dist/index.js';

export const {
  openLedger,
  Ledger,
  CursorError,
  SubmitIncompleteError,
  OutageError,
  DamagedHistoryError,
  LedgerInputError,
  LedgerSchemaError,
  LedgerSettingsError,
  CutTimeError,
  ProjectionBehindError,
  ProjectionOutdatedError,
  commandSchema,
  parseCommand,
  commandsJsonSchema,
  eventsJsonSchema,
} = spanledger;
export default spanledger;
