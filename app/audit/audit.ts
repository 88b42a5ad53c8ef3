import { PreciseDate } from '@google-cloud/precise-date';
import { PostingRule, postingsOf } from '../../ledger/core/postings';
import { comparePositions, LedgerStore } from '../../ledger/core/store';
import { Row, timestampText } from '../../ledger/spanner/codec';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { keyText, PROJECTION_NAMES, PROJECTIONS, ProjectionName, renderBooksRow, SystemAccountRow } from '../../projections/core';
import { readActivePointers, readGenerationRows } from '../../projections/spanner/generations';
import { readSystemAccountRows } from '../../projections/spanner/books';
import { runProjector } from '../../projections/spanner/runtime';
import { systemHistoryTable, tablesOf, READ_JSON } from '../../projections/spanner/tables';
import { AuditContext, AuditSnapshot, ComparedView } from './context';
import { countTableRows, streamsWithoutAccount } from '../../ledger/spanner/audit-reads';
import { AuditCheck, AUDIT_CHECKS, Finding, Findings } from './findings';
import { logPass, LogPassResult } from './log-pass';
import { MultisetDigest } from './multiset-digest';
import { streamPass } from './stream-pass';
import { reportUnclaimedCharges } from './write-side';
import { DamagedHistoryError } from '../../ledger/core/damaged-history';

/**
 * The audit: at one read timestamp T (now, or --at), eight checks over the whole ledger.
 *
 * 1. postings: every event's postings balance and say what its type and payload imply;
 * 2. books: all accounts sum to zero, and each account (user or system) equals the sum of
 *    its postings;
 * 3. accounts: every Accounts row is the fold of its stream, and the user's two accounts of
 *    the books equal its balance and pending amount;
 * 4. views: the views equal the log (each up to its own checkpoint at T);
 * 5. chain: every stream's hash chain holds, from GENESIS to the head beside its account;
 *    every event's ID is the one its natural key derives;
 * 6. charge-rows: every Charges row is the fold of its charge's events, and no row lacks them;
 * 7. invoice-rows: every Invoices row, and the index of open invoices, is the fold of the log;
 * 8. rules: every event is one the ledger's rules allow after the events before it (a settle
 *    or fail of a pending charge, a void refunding what was paid, exact payments and bonuses).
 *
 * It streams: one pass over the log in the global order (postings, system accounts), one
 * over the streams a page of users at a time (chains, accounts, per-user views). Memory
 * holds a page, the system accounts and at most `findingsLimit` findings, never the log.
 * `projections verify` is this audit restricted to the views and Accounts.
 */
export interface AuditOptions {
  /** Read at this commit timestamp instead of now (within the database's version retention, 1 h by default). */
  readonly at?: string;
  readonly checks?: readonly AuditCheck[];
  /** Catch the views up before reading (not with --at: the past is what it was). Default true. */
  readonly catchUp?: boolean;
  readonly findingsLimit?: number;
  readonly usersPerPage?: number;
  /** The posting rule to derive the books with: the ledger's. A test seam, to show a broken rule is caught. */
  readonly postingRule?: PostingRule;
}

export interface AuditReport {
  readonly ok: boolean;
  readonly readTimestamp: string;
  readonly checks: readonly AuditCheck[];
  readonly events: number;
  readonly streams: number;
  /** Rows compared: per view, and Accounts. */
  readonly checked: Record<string, number>;
  /** Views whose checkpoint was behind the log at T (compared up to their checkpoints). */
  readonly lagging: ProjectionName[];
  /** Views not compared, and why (never built, or folded by an older fold). */
  readonly skipped: { projection: ProjectionName; reason: string }[];
  readonly findingCount: number;
  readonly findings: readonly Finding[];
}

export async function audit(connection: SpannerConnection, store: LedgerStore, options: AuditOptions = {}): Promise<AuditReport> {
  const checks = new Set<AuditCheck>(options.checks ?? AUDIT_CHECKS);
  if (options.at === undefined && options.catchUp !== false) await catchUpUnlessDamaged(connection, store);
  const [snapshot] = options.at === undefined
    ? await connection.database.getSnapshot({ strong: true, returnReadTimestamp: true })
    : await connection.database.getSnapshot({ readTimestamp: new PreciseDate(options.at), returnReadTimestamp: true });
  try {
    // The first read fixes the timestamp of a strong snapshot: everything after reads at it.
    const pointers = await readActivePointers(snapshot);
    const readTimestamp = options.at ?? timestampText(snapshot.readTimestamp);
    const states = await readGenerationRows(snapshot, [...pointers].map(([projection, generation]) => ({ projection, generation })));
    const views = new Map<ProjectionName, ComparedView>();
    const skipped: AuditReport['skipped'] = [];
    for (const projection of PROJECTION_NAMES) {
      const generation = pointers.get(projection);
      const state = generation === undefined ? undefined : states.get(`${projection}/${generation}`);
      if (generation === undefined || !state) skipped.push({ projection, reason: 'never built: no generation is active' });
      else if (state.foldVersion < PROJECTIONS[projection].foldVersion) skipped.push({ projection, reason: `generation ${generation} was folded by version ${state.foldVersion} of its fold; run \`spanledger db migrate\`` });
      else views.set(projection, { projection, generation, checkpoint: state.checkpoint });
    }
    const findings = new Findings(options.findingsLimit ?? 1000);
    const context: AuditContext = {
      connection,
      snapshot: snapshot as unknown as AuditSnapshot,
      readTimestamp,
      checks,
      postingRule: options.postingRule ?? postingsOf,
      views,
      findings,
      usersPerPage: options.usersPerPage ?? 100,
    };
    const log = await logPass(context);
    const streams = await streamPass(context);
    if (streams.events !== log.events) await reportOrphanEvents(context, log.events - streams.events);
    if (checks.has('charge-rows') && (await countRows(context, 'Charges')) > streams.charges) await reportUnclaimedCharges(context);
    const systemTotal = await checkSystemAccounts(context, log);
    const balances = views.get('balances');
    if (checks.has('books') && balances) {
      const total = systemTotal + streams.viewUsersTotal;
      if (total !== 0n) findings.add({ check: 'books', detail: `the accounts of the books sum to ${total} µUSD, not 0` });
    }
    if (checks.has('views')) await checkUnclaimedViewRows(context, streams.checked);
    const lagging = [...views.values()].filter((view) => log.head !== null && (view.checkpoint === null || comparePositions(view.checkpoint, log.head) < 0)).map((view) => view.projection);
    return {
      ok: findings.count === 0,
      readTimestamp,
      checks: [...checks],
      events: log.events,
      streams: streams.users,
      checked: streams.checked,
      lagging,
      skipped,
      findingCount: findings.count,
      findings: findings.list,
    };
  } finally {
    snapshot.end();
  }
}

/** Rows of a table at the audit's cut; of one generation when given (the views). */
function countRows(context: AuditContext, table: string, generation?: number): Promise<number> {
  return countTableRows(context.snapshot, context.connection, table, generation);
}

/**
 * Catches the views up before the cut. Damaged history stops the projector at the damage:
 * the audit then goes on with the views where they stand (compared up to their
 * checkpoints, reported as lagging) and reports the damage itself, as findings.
 */
async function catchUpUnlessDamaged(connection: SpannerConnection, store: LedgerStore): Promise<void> {
  try {
    await runProjector(connection, store);
  } catch (error) {
    if (!(error instanceof DamagedHistoryError)) throw error;
  }
}

/** Events of streams that have no Accounts row (the stream pass never saw them). */
async function reportOrphanEvents(context: AuditContext, missing: number): Promise<void> {
  if (!context.checks.has('chain') && !context.checks.has('accounts')) return;
  const rows = await streamsWithoutAccount(context.snapshot, context.connection, 20);
  for (const row of rows) context.findings.add({ check: 'chain', streamId: row.streamId, detail: `${row.events} event(s) of this stream have no account row: the account was deleted` });
  if (rows.length === 0) context.findings.add({ check: 'chain', detail: `${missing} event(s) were read in the global order but not in their streams` });
}

/**
 * System accounts: each view row equals the log's totals (up to the balances checkpoint),
 * and the view's history of each equals the log's running totals (compared by digest, so
 * in constant memory). Returns the system accounts' total as the view has it.
 */
async function checkSystemAccounts(context: AuditContext, log: LogPassResult): Promise<bigint> {
  const balances = context.views.get('balances');
  if (!balances) return 0n;
  const rows = await readSystemAccountRows(context.snapshot, context.connection, balances.generation);
  let total = 0n;
  const actual = new Map(rows.map((row) => [row.account, row]));
  for (const row of rows) total += row.creditsMicroUsd - row.debitsMicroUsd;
  if (context.checks.has('books') || context.checks.has('views')) {
    for (const account of [...new Set([...actual.keys(), ...log.systemTotals.keys()])].sort()) {
      const totals = log.systemTotals.get(account);
      const want: SystemAccountRow | undefined = totals && { kind: 'system', account, debitsMicroUsd: totals.debits, creditsMicroUsd: totals.credits };
      const got = actual.get(account);
      const wantText = want ? renderBooksRow(want) : null;
      const gotText = got ? renderBooksRow(got) : null;
      if (wantText === gotText) continue;
      context.findings.add({
        check: 'books',
        detail: `${account} is ${gotText ?? '(no row)'} in the books, its postings sum to ${wantText ?? '(nothing)'}`,
        difference: { view: 'balances', key: keyText({ kind: 'system', key: [account] }), expected: wantText, actual: gotText },
      });
    }
  }
  if (context.checks.has('views')) {
    const history = await digestSystemHistory(context, String(balances.generation));
    for (const account of [...new Set([...history.keys(), ...log.systemHistory.keys()])].sort()) {
      const want = log.systemHistory.get(account) ?? new MultisetDigest();
      const got = history.get(account) ?? new MultisetDigest();
      if (!want.equals(got)) {
        context.findings.add({
          check: 'views',
          detail: `the balances view's history of ${account} (${got.count} row(s)) is not the log's running totals (${want.count} row(s))`,
          difference: { view: 'balances', key: keyText({ kind: 'system-history', key: [account] }), expected: `${want.count} row(s)`, actual: `${got.count} row(s), other content` },
        });
      }
    }
  }
  return total;
}

/** Digests of the system history rows of one generation, per account, read a page at a time in key order. */
async function digestSystemHistory(context: AuditContext, generation: string): Promise<Map<string, MultisetDigest>> {
  const digests = new Map<string, MultisetDigest>();
  const pageSize = 2000;
  for (let after: string[] | null = null; ; ) {
    const start = after === null ? { startClosed: [generation] } : { startOpen: [generation, ...after] };
    const [rows] = await context.snapshot.read(systemHistoryTable.table, {
      ranges: [{ ...start, endClosed: [generation] }],
      columns: [...systemHistoryTable.columns],
      limit: pageSize,
      ...READ_JSON,
      ...context.connection.queryOptions,
    });
    for (const row of rows as Row[]) {
      const history = systemHistoryTable.fromRow(row);
      const digest = digests.get(history.account) ?? digests.set(history.account, new MultisetDigest()).get(history.account)!;
      digest.add(renderBooksRow(history));
    }
    if ((rows as Row[]).length < pageSize) return digests;
    after = systemHistoryTable.keyOfRow((rows as Row[])[(rows as Row[]).length - 1]!).key.slice();
  }
}

/** Per-user view rows of users the stream pass never reached (no Accounts row): counted per table. */
async function checkUnclaimedViewRows(context: AuditContext, checked: Record<string, number>): Promise<void> {
  for (const view of context.views.values()) {
    let rows = 0;
    const projection = PROJECTIONS[view.projection];
    for (const table of tablesOf(view.projection).filter((candidate) => !projection.globalKinds.includes(candidate.kind))) {
      rows += await countRows(context, table.table, view.generation);
    }
    const compared = checked[view.projection] ?? 0;
    if (rows !== compared) context.findings.add({ check: 'views', detail: `the ${view.projection} view holds ${rows} row(s) of users, ${rows - compared} of them for users the ledger has no account for` });
  }
}
