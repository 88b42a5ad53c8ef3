import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { accountStreamId } from '../../ledger/core/ids';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { killSpawned, spawnSpanledger } from '../support/cli';
import { depositWire } from '../support/commands';
import { FaultProxy, startFaultProxy } from '../support/fault-proxy';
import { cliEnv, freshConnection } from '../support/spanner';

/**
 * The CLI through outages, on real processes: `spanledger` talks to the emulator through the
 * fault proxy, which partitions the network or cuts a Commit's reply in the middle of a run.
 * The truth is then read past the proxy, on a direct connection: every line applied once,
 * every answer true. SPANLEDGER_SOAK=1 uses the sizes (5,000 lines, 30 s partitions).
 */
const SOAK = process.env.SPANLEDGER_SOAK === '1';
const LINES = SOAK ? 5_000 : 2_000;
const PARTITION_MS = SOAK ? 30_000 : 8_000;
jest.setTimeout(SOAK ? 600_000 : 180_000);

interface Line {
  line: number;
  status: string;
  eventIds: string[];
}

let proxy: FaultProxy;
let connection: SpannerConnection;
let direct: SpannerLedgerStore;
let dir: string;

beforeAll(async () => {
  connection = await freshConnection('out');
  direct = new SpannerLedgerStore(connection);
  proxy = await startFaultProxy(cliEnv(connection).SPANNER_EMULATOR_HOST!);
  dir = mkdtempSync(path.join(os.tmpdir(), 'spanledger-outage-'));
});

afterAll(async () => {
  killSpawned();
  await proxy?.close();
  await direct?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A file of deposits for `users` users and the balance each must end with (no bonus). */
function depositsFile(name: string, count: number, users = 25): { file: string; expected: Map<string, bigint>; deposits: Map<string, number> } {
  const expected = new Map<string, bigint>();
  const deposits = new Map<string, number>();
  const lines: string[] = [];
  for (let n = 0; n < count; n++) {
    const user = `${name}-${n % users}`;
    const amount = BigInt(1_000_000 + n);
    lines.push(JSON.stringify(depositWire(user, n, amount.toString())));
    expected.set(user, (expected.get(user) ?? 0n) + amount);
    deposits.set(user, (deposits.get(user) ?? 0) + 1);
  }
  const file = path.join(dir, `${name}.jsonl`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return { file, expected, deposits };
}

const viaProxy = (extra: NodeJS.ProcessEnv = {}) => cliEnv(connection, { SPANNER_EMULATOR_HOST: proxy.host, SPANLEDGER_BONUS_BPS: '0', ...extra });

function parsed(stdout: string): Line[] {
  return stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Line);
}

async function whenPrinted(child: ReturnType<typeof spawnSpanledger>, lines: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (parsed(child.stdout()).length < lines) {
    if (Date.now() > deadline) throw new Error(`submit printed ${parsed(child.stdout()).length} lines in 120 s; stderr: ${child.stderr()}`);
    const ended = await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 20)).then(() => undefined)]);
    if (ended) throw new Error(`submit ended before the fault: ${JSON.stringify(ended).slice(0, 800)}`);
  }
}

/** Each user's balance, and its event count (the account's version): one event per deposit, none twice. */
/** Waits until `count` Commits went through the proxy since `before` (the child is at work). */
async function whenCommitted(child: ReturnType<typeof spawnSpanledger>, before: number, count: number): Promise<void> {
  while (proxy.stats().commits - before < count) {
    const ended = await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 10)).then(() => undefined)]);
    if (ended) throw new Error(`the command ended before the fault: ${JSON.stringify(ended).slice(0, 800)}`);
  }
}

async function expectBalances(expected: Map<string, bigint>, deposits: Map<string, number>): Promise<void> {
  for (const [user, balance] of expected) {
    const account = await direct.readAccount(user);
    expect([user, account?.balanceMicroUsd, account?.version]).toEqual([user, balance, deposits.get(user)]);
    expect(await direct.readStream(accountStreamId(user)).then((events) => events.length)).toBe(deposits.get(user));
  }
}

test(`a ${PARTITION_MS / 1000} s partition in the middle of a ${LINES}-line submit: it waits, resumes, and every line is accepted once`, async () => {
  const { file, expected, deposits } = depositsFile('part', LINES);
  const child = spawnSpanledger(['submit', file], viaProxy());
  await whenPrinted(child, 1_000);
  const partition = proxy.partitionFor(PARTITION_MS);
  const end = await child.exited;
  await partition;
  const lines = parsed(end.stdout);
  expect(end.code).toBe(0);
  expect(lines.map((line) => line.line)).toEqual(Array.from({ length: LINES }, (_, i) => i + 1));
  expect(lines.filter((line) => line.status !== 'accepted')).toEqual([]);
  // The client's own retries may absorb a short partition; when the ledger's did, it said so, both ways.
  if (/not answering/.test(end.stderr)) expect(end.stderr).toMatch(/spanledger: Spanner is not answering \(.*\); retrying for up to 60 s\n(.*\n)*spanledger: Spanner answers again, after \d+\.\d s\n/);
  else expect(end.stderr).toBe('');
  await expectBalances(expected, deposits);
});

test('Commits whose replies are cut for 4 s under submit: the retry finds its own commit, answers accepted, applies nothing twice', async () => {
  const { file, expected, deposits } = depositsFile('cut', 400, 10);
  // Every Commit is cut for 4 s, the client's own re-sends too; with a 1.5 s call deadline the
  // ledger's retry takes over, reads its commit markers, and must answer what its first run decided.
  const cuts = proxy.cutCommitsFor(4_000);
  const end = await spawnSpanledger(['submit', file, '--batch-size', '50'], viaProxy({ SPANLEDGER_SPANNER_CALL_DEADLINE_MS: '1500' })).exited;
  const fired = await cuts;
  expect(fired.length).toBeGreaterThan(1);
  expect(fired[0]!.grpcStatus).toBe(0); // the first cut Commit did land
  expect(end.code).toBe(0);
  expect(end.stderr).toMatch(/spanledger: Spanner is not answering \(.*\); retrying for up to 60 s\n/);
  const lines = parsed(end.stdout);
  expect(lines).toHaveLength(400);
  // Truthful: this run's own commit is "accepted", never "duplicate".
  expect(lines.filter((line) => line.status !== 'accepted')).toEqual([]);
  await expectBalances(expected, deposits);
  // Submitted again: now every line is a duplicate with the same event IDs.
  const again = await spawnSpanledger(['submit', file], viaProxy()).exited;
  const second = parsed(again.stdout);
  expect(second.every((line) => line.status === 'duplicate')).toBe(true);
  expect(second.map((line) => line.eventIds)).toEqual(lines.map((line) => line.eventIds));
});

test('an outage longer than --deadline-s: exit 1 within the limit + 10 s, naming what was applied and what was not; the rerun completes it', async () => {
  const { file, expected, deposits } = depositsFile('long', 1_500, 15);
  const child = spawnSpanledger(['submit', file, '--deadline-s', '4'], viaProxy());
  await whenPrinted(child, 1_000);
  const started = Date.now();
  const partition = proxy.partitionFor(60_000);
  const end = await child.exited;
  const seconds = (Date.now() - started) / 1000;
  expect(end.code).toBe(1);
  expect(seconds).toBeLessThan(4 + 10);
  const answered = parsed(end.stdout);
  expect(answered.map((line) => line.line)).toEqual(Array.from({ length: answered.length }, (_, i) => i + 1));
  expect(answered.every((line) => line.status === 'accepted')).toBe(true);
  const last = answered.length;
  expect(end.stderr).toMatch(new RegExp(`spanledger: no answer from projects/.* for \\d+\\.\\d s \\(last error: .*\\); (line\\(s\\) [0-9, -]+ may have been applied \\(the reply to their commit was lost\\); )?line\\(s\\) ${last + 1}-`));
  expect(end.stderr).toContain('hint: submitting the same input again is safe: what was applied answers "duplicate"');
  // Heal, and read the truth past the proxy: the answered lines applied, nothing half-applied.
  await proxy.endPartition();
  await partition;
  const rerun = await spawnSpanledger(['submit', file], viaProxy()).exited;
  expect(rerun.code).toBe(0);
  const after = parsed(rerun.stdout);
  expect(after.slice(0, last).every((line) => line.status === 'duplicate')).toBe(true);
  expect(after.slice(last).every((line) => line.status === 'accepted' || line.status === 'duplicate')).toBe(true);
  await expectBalances(expected, deposits);
});

test('events import across a partition: it waits, resumes, and the copy holds every event once', async () => {
  const file = path.join(dir, 'export.jsonl');
  const exported = await spawnSpanledger(['events', 'export', file], cliEnv(connection)).exited;
  expect(exported.code).toBe(0);
  const copy = await freshConnection('outcp');
  try {
    const before = proxy.stats().commits;
    const child = spawnSpanledger(['events', 'import', file, '--json', '--no-projector'], cliEnv(copy, { SPANNER_EMULATOR_HOST: proxy.host, SPANLEDGER_SPANNER_CALL_DEADLINE_MS: '1500' }));
    // Partition once it is importing (not while it starts: a start against nothing fails at once, on purpose).
    await whenCommitted(child, before, 20);
    const partition = proxy.partitionFor(5_000);
    const end = await child.exited;
    await partition;
    expect(end.code).toBe(0);
    // The partition came while it ran (the file holds the ~4,000 events of the tests above).
    expect(end.stderr).toMatch(/spanledger: Spanner is not answering .*\n(.*\n)*spanledger: Spanner answers again/);
    const report = JSON.parse(end.stdout.trim().split('\n').pop()!) as { appended: number; duplicate: number; invalid: number };
    const [rows] = await connection.database.run({ sql: 'SELECT CAST(COUNT(*) AS STRING) AS N FROM Events', json: true });
    const events = Number((rows as { N: string }[])[0]!.N);
    expect(report.appended + report.duplicate).toBe(events);
    expect(report.invalid).toBe(0);
    // The copy audits clean against its own log: every event once, chains intact.
    const audit = await spawnSpanledger(['audit', '--json'], cliEnv(copy)).exited;
    expect(audit.code).toBe(0);
    expect((JSON.parse(audit.stdout) as { events: number }).events).toBe(events);
  } finally {
    await copy.close();
  }
});

test('projections rebuild across a partition: each step waits and resumes; the views verify against the log', async () => {
  // Enough events that the rebuild commits many chunks through the proxy.
  const { file } = depositsFile('rb', 6_000, 40);
  expect((await spawnSpanledger(['submit', file], cliEnv(connection, { SPANLEDGER_BONUS_BPS: '0' })).exited).code).toBe(0);
  const before = proxy.stats().commits;
  const child = spawnSpanledger(['projections', 'rebuild', '--json'], viaProxy({ SPANLEDGER_SPANNER_CALL_DEADLINE_MS: '1500' }));
  // Partition once the rebuild has created its generations and applied a few chunks.
  await whenCommitted(child, before, 4);
  const partition = proxy.partitionFor(5_000);
  const end = await child.exited;
  await partition;
  if (end.code !== 0) throw new Error(`rebuild exited ${end.code}: ${end.stderr}`);
  // The partition was felt (5 s against a 1.5 s call deadline) and said so.
  expect(end.stderr).toMatch(/spanledger: Spanner is not answering /);
  const verify = await spawnSpanledger(['projections', 'verify', '--json'], cliEnv(connection)).exited;
  expect(verify.code).toBe(0);
  const audit = await spawnSpanledger(['audit', '--json'], cliEnv(connection)).exited;
  expect([audit.code, (JSON.parse(audit.stdout) as { findingCount: number }).findingCount]).toEqual([0, 0]);
  // One generation built: no second one left "building" by a retry.
  const [rows] = await connection.database.run({ sql: "SELECT CAST(COUNT(*) AS STRING) AS N FROM ProjectionGenerations WHERE Status = 'building'", json: true });
  expect((rows as { N: string }[])[0]!.N).toBe('0');
});
