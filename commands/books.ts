import { formatUsd } from '../ledger/core/money';
import { findingJson } from '../app/audit/findings';
import { BookAccount } from '../projections/spanner/books';
import { ConnectionFlags, openStore, resolveSettings } from './context';
import { EXIT, ExitCode } from './errors';
import { CliIo, writeLine } from './io';
import { explainReadError } from './read-errors';

export interface AccountsFlags extends ConnectionFlags {
  readonly at?: string;
  readonly prefix?: string;
  readonly json?: boolean;
  readonly stale?: boolean;
}

function accountJson(account: BookAccount): Record<string, string> {
  return {
    account: account.account,
    debitsMicroUsd: account.debitsMicroUsd.toString(),
    creditsMicroUsd: account.creditsMicroUsd.toString(),
    balanceMicroUsd: (account.creditsMicroUsd - account.debitsMicroUsd).toString(),
  };
}

const AMOUNT_WIDTH = 24;
const accountLine = (name: string, debits: string, credits: string, balance: string) =>
  `${name.padEnd(32)} ${debits.padStart(AMOUNT_WIDTH)} ${credits.padStart(AMOUNT_WIDTH)} ${balance.padStart(AMOUNT_WIDTH)}`;

/**
 * `accounts`: the books at one cut. The accounts are streamed (a page of users at a time)
 * and so is the output, `{"at":…,"accounts":[…],"totalMicroUsd":…}` written piece by piece:
 * a ledger with millions of users is listed in bounded memory.
 */
export async function accounts(io: CliIo, flags: AccountsFlags): Promise<ExitCode> {
  const { parseCommitTime, readBooks } = await import('../projections/spanner/books');
  const { runProjector } = await import('../projections/spanner/runtime');
  const store = openStore(io, flags);
  const settings = resolveSettings(io, flags);
  try {
    const at = flags.at === undefined ? undefined : parseCommitTime(flags.at);
    if (!flags.stale) await runProjector(store.connection, store, { projections: ['balances'] });
    let written = 0;
    const summary = await readBooks(
      store.connection,
      store,
      {
        at,
        prefix: flags.prefix,
        onCut: (cut) => {
          if (flags.json) io.stdout.write(`{"at":${JSON.stringify(cut)},"accounts":[`);
          else writeLine(io.stdout, `books at ${cut ?? '(empty ledger)'}\n${accountLine('ACCOUNT', 'DEBITS', 'CREDITS', 'BALANCE')}`);
        },
      },
      (account) => {
        if (flags.json) io.stdout.write(`${written === 0 ? '' : ','}${JSON.stringify(accountJson(account))}`);
        else writeLine(io.stdout, accountLine(account.account, formatUsd(account.debitsMicroUsd), formatUsd(account.creditsMicroUsd), formatUsd(account.creditsMicroUsd - account.debitsMicroUsd)));
        written++;
      },
    );
    if (flags.json) writeLine(io.stdout, `],"totalMicroUsd":${JSON.stringify(summary.totalMicroUsd.toString())}}`);
    else writeLine(io.stdout, `${summary.accounts} account(s); total ${formatUsd(summary.totalMicroUsd)}`);
    return EXIT.ok;
  } catch (error) {
    throw explainReadError(error, settings);
  } finally {
    await store.close();
  }
}

export interface AuditFlags extends ConnectionFlags {
  readonly at?: string;
  readonly json?: boolean;
  readonly limit?: number;
}

/** `audit`: exit 0 when clean, 5 with the findings. */
export async function audit(io: CliIo, flags: AuditFlags): Promise<ExitCode> {
  const { parseCommitTime } = await import('../projections/spanner/books');
  const { audit: runAudit } = await import('../app/audit/audit');
  const store = openStore(io, flags);
  const settings = resolveSettings(io, flags);
  let report;
  try {
    const at = flags.at === undefined ? undefined : parseCommitTime(flags.at);
    report = await runAudit(store.connection, store, { at, findingsLimit: flags.limit });
  } catch (error) {
    throw explainReadError(error, settings);
  } finally {
    await store.close();
  }
  const { findings, ok: _ok, ...rest } = report;
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify({ ok: report.ok, findings: findings.map(findingJson), ...rest }));
  } else {
    writeLine(io.stdout, `audited ${report.events} event(s) in ${report.streams} stream(s) at ${report.readTimestamp}: ${report.checks.join(', ')}`);
    for (const skipped of report.skipped) writeLine(io.stdout, `  not compared: ${skipped.projection} (${skipped.reason})`);
    if (report.lagging.length > 0) writeLine(io.stdout, `  lagging (compared up to their checkpoints): ${report.lagging.join(', ')}`);
    if (report.ok) writeLine(io.stdout, 'OK: nothing found');
    else {
      writeLine(io.stdout, `FOUND ${report.findingCount} problem(s)${findings.length < report.findingCount ? `; the first ${findings.length}` : ''}:`);
      for (const finding of findings) {
        const where = [finding.streamId && `stream ${finding.streamId}`, finding.eventId && `event ${finding.eventId}`].filter(Boolean).join(', ');
        writeLine(io.stdout, `  [${finding.check}]${where ? ` ${where}:` : ''} ${finding.detail}`);
      }
    }
  }
  return report.ok ? EXIT.ok : EXIT.mismatch;
}
