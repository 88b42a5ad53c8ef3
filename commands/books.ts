import type { BooksAccount } from '../app/ledger';
import { formatUsd } from '../ledger/core/money';
import { ConnectionFlags, openLedgerFor, resolveSettings } from './context';
import { EXIT, ExitCode } from './errors';
import { CliIo, writeLine } from './io';
import { explainReadError, readLedger } from './read-errors';

export interface AccountsFlags extends ConnectionFlags {
  readonly at?: string;
  readonly prefix?: string;
  readonly json?: boolean;
  readonly stale?: boolean;
}

const AMOUNT_WIDTH = 24;
const accountLine = (name: string, debits: string, credits: string, balance: string) =>
  `${name.padEnd(32)} ${debits.padStart(AMOUNT_WIDTH)} ${credits.padStart(AMOUNT_WIDTH)} ${balance.padStart(AMOUNT_WIDTH)}`;

/**
 * `accounts`: the books at one cut (Ledger.eachAccount). The accounts are streamed (a page of
 * users at a time) and so is the output, `{"at":…,"accounts":[…],"totalMicroUsd":…}` written
 * piece by piece: a ledger with millions of users is listed in bounded memory.
 */
export async function accounts(io: CliIo, flags: AccountsFlags): Promise<ExitCode> {
  const ledger = openLedgerFor(io, flags);
  try {
    let written = 0;
    const summary = await ledger.eachAccount(
      { at: flags.at, prefix: flags.prefix, stale: flags.stale },
      (cut) => {
        if (flags.json) io.stdout.write(`{"at":${JSON.stringify(cut)},"accounts":[`);
        else writeLine(io.stdout, `books at ${cut ?? '(empty ledger)'}\n${accountLine('ACCOUNT', 'DEBITS', 'CREDITS', 'BALANCE')}`);
      },
      (account: BooksAccount) => {
        if (flags.json) io.stdout.write(`${written === 0 ? '' : ','}${JSON.stringify(account)}`);
        else writeLine(io.stdout, accountLine(account.account, formatUsd(BigInt(account.debitsMicroUsd)), formatUsd(BigInt(account.creditsMicroUsd)), formatUsd(BigInt(account.balanceMicroUsd))));
        written++;
      },
    );
    if (flags.json) writeLine(io.stdout, `],"totalMicroUsd":${JSON.stringify(summary.totalMicroUsd)}}`);
    else writeLine(io.stdout, `${summary.accounts} account(s); total ${formatUsd(BigInt(summary.totalMicroUsd))}`);
    return EXIT.ok;
  } catch (error) {
    throw explainReadError(error, resolveSettings(io, flags), io);
  } finally {
    await ledger.close();
  }
}

export interface AuditFlags extends ConnectionFlags {
  readonly at?: string;
  readonly json?: boolean;
  readonly limit?: number;
}

/** `audit` (Ledger.audit): exit 0 when clean, 5 with the findings. */
export async function audit(io: CliIo, flags: AuditFlags): Promise<ExitCode> {
  const report = await readLedger(io, flags, (ledger) => ledger.audit({ at: flags.at, limit: flags.limit }));
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify(report));
  } else {
    writeLine(io.stdout, `audited ${report.events} event(s) in ${report.streams} stream(s) at ${report.readTimestamp}: ${report.checks.join(', ')}`);
    for (const skipped of report.skipped) writeLine(io.stdout, `  not compared: ${skipped.projection} (${skipped.reason})`);
    if (report.lagging.length > 0) writeLine(io.stdout, `  lagging (compared up to their checkpoints): ${report.lagging.join(', ')}`);
    if (report.ok) writeLine(io.stdout, 'OK: nothing found');
    else {
      writeLine(io.stdout, `FOUND ${report.findingCount} problem(s)${report.findings.length < report.findingCount ? `; the first ${report.findings.length}` : ''}:`);
      for (const finding of report.findings) {
        const where = [finding.streamId && `stream ${finding.streamId}`, finding.eventId && `event ${finding.eventId}`].filter(Boolean).join(', ');
        writeLine(io.stdout, `  [${finding.check}]${where ? ` ${where}:` : ''} ${finding.detail}`);
      }
    }
  }
  return report.ok ? EXIT.ok : EXIT.mismatch;
}
