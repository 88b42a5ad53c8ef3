import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SpannerConnection } from '../ledger/spanner/connection';
import { runReadWrite } from '../ledger/spanner/transaction';
import { depositLine, insertRowsInCommits, scatteredId, seconds } from './bench-support';

/**
 * The two references `npm run bench` measures spanledger against, on the same emulator in
 * the same run, and the measurement of `spanledger submit` as users run it (the CLI process):
 *
 * - plain-row ceiling: batched insert mutations, 500 rows of ~300 B per commit, into a table
 *   with one secondary index; the most rows per second this emulator takes at all;
 * - Storj-style baseline: the design spanledger replaces, one read-write transaction per
 *   payment: read the balance row, insert a payment row keyed by a bit-reversed sequence,
 *   write the balance;
 * - `spanledger submit FILE` of the same deposits, through `node bin/spanledger.js`.
 */
const run = promisify(execFile);
const PLAIN_ROWS_PER_COMMIT = 500;
const ROOT = path.resolve(__dirname, '..', '..');

async function createTables(connection: SpannerConnection, statements: string[]): Promise<void> {
  const [operation] = await connection.database.updateSchema(statements);
  await operation.promise();
}

/** ~300 bytes of row: an ID, a user, an amount, a time and a payload like a deposit's. */
export async function plainRowCeiling(connection: SpannerConnection, rows: number): Promise<number> {
  await createTables(connection, [
    `CREATE TABLE PlainRows (Id STRING(36) NOT NULL, UserId STRING(64) NOT NULL, Amount INT64 NOT NULL, OccurredAt TIMESTAMP NOT NULL, Payload STRING(MAX) NOT NULL) PRIMARY KEY (Id)`,
    'CREATE INDEX PlainRowsByUser ON PlainRows (UserId, OccurredAt)',
  ]);
  const start = process.hrtime.bigint();
  await insertRowsInCommits(connection, 'PlainRows', 0, rows, PLAIN_ROWS_PER_COMMIT, (n) => ({
    Id: scatteredId(n),
    UserId: `user-${n % 500}`,
    Amount: String(1_000_000 + n),
    OccurredAt: '2026-01-01T00:00:00Z',
    Payload: depositLine(n).slice(0, 200),
  }));
  return rows / seconds(start);
}

/** A 64-bit sequence number with its bits reversed: Spanner's advice against a monotonic key. */
function bitReversed(n: number): string {
  let value = BigInt(n);
  let reversed = 0n;
  for (let bit = 0; bit < 63; bit++) {
    reversed = (reversed << 1n) | (value & 1n);
    value >>= 1n;
  }
  return reversed.toString();
}

/** The seed's design: a transaction per payment, balance read and written, a payment row appended. */
export async function storjBaseline(connection: SpannerConnection, payments: number): Promise<number> {
  await createTables(connection, [
    'CREATE TABLE StorjBalances (UserId STRING(64) NOT NULL, Balance INT64 NOT NULL) PRIMARY KEY (UserId)',
    'CREATE TABLE StorjPayments (Id INT64 NOT NULL, UserId STRING(64) NOT NULL, Amount INT64 NOT NULL, TxHash STRING(66) NOT NULL, CreatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true)) PRIMARY KEY (Id)',
  ]);
  const start = process.hrtime.bigint();
  for (let n = 0; n < payments; n++) {
    const deposit = JSON.parse(depositLine(n)) as { userId: string; amountMicroUsd: string; txHash: string };
    await runReadWrite(connection, async (tx) => {
      const [rows] = await tx.read('StorjBalances', { keys: [deposit.userId], columns: ['Balance'], json: true });
      const balance = BigInt((rows as { Balance?: string }[])[0]?.Balance ?? '0');
      tx.insert('StorjPayments', { Id: bitReversed(n + 1), UserId: deposit.userId, Amount: deposit.amountMicroUsd, TxHash: deposit.txHash, CreatedAt: 'spanner.commit_timestamp()' });
      tx.upsert('StorjBalances', { UserId: deposit.userId, Balance: (balance + BigInt(deposit.amountMicroUsd)).toString() });
    });
  }
  return payments / seconds(start);
}

/** `spanledger submit FILE` as a user runs it: commands per second of the whole CLI process, and its CPU seconds. */
export async function cliSubmit(connection: SpannerConnection, deposits: number, bonusBps: number): Promise<{ commandsPerSecond: number; cliCpuSeconds: number }> {
  const file = path.join(tmpdir(), `spanledger-bench-${process.pid}.jsonl`);
  writeFileSync(file, Array.from({ length: deposits }, (_, n) => depositLine(n, 500, 'cli')).join('\n') + '\n');
  const env = { ...process.env, SPANNER_EMULATOR_HOST: connection.settings.emulatorHost, SPANNER_PROJECT_ID: connection.settings.projectId, SPANNER_INSTANCE_ID: connection.settings.instanceId, SPANNER_DATABASE_ID: connection.settings.databaseId, SPANLEDGER_BONUS_BPS: String(bonusBps) };
  // `time`-like accounting from inside: the child reports its own CPU use on exit.
  const start = process.hrtime.bigint();
  const { stdout, stderr } = await run(process.execPath, ['--require', path.join(ROOT, 'scripts', 'report-cpu.js'), path.join(ROOT, 'bin', 'spanledger.js'), 'submit', file], { env, maxBuffer: 256 * 2 ** 20 });
  const elapsed = seconds(start);
  const accepted = stdout.split('\n').filter((line) => line.includes('"accepted"')).length;
  if (accepted !== deposits) throw new Error(`bench: the CLI accepted ${accepted} of ${deposits} lines: ${stderr.slice(0, 500)}`);
  const cpu = /cpu-seconds=([0-9.]+)/.exec(stderr);
  return { commandsPerSecond: deposits / elapsed, cliCpuSeconds: cpu ? Number(cpu[1]) : Number.NaN };
}
