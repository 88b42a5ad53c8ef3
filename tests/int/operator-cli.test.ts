import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { BIN, jsonOutputLines, ROOT, runSpanledger } from '../support/cli';
import { depositWire, jsonLines } from '../support/commands';
import { uniqueName } from '../support/events';
import { cliEnv, freshConnection } from '../support/spanner';

/**
 * The operator's CLI through the real process: a submit never stops half-way (a closed pipe,
 * SIGINT), which database it talks to and what to type next, the listings people expect
 * (users, filtered and paged transactions), dry runs, and the sample file.
 */
jest.setTimeout(180_000);

let connection: SpannerConnection;
let env: NodeJS.ProcessEnv;
let dir: string;

beforeAll(async () => {
  connection = await freshConnection('op');
  env = cliEnv(connection, { SPANLEDGER_BONUS_BPS: '1000' });
  dir = mkdtempSync(path.join(os.tmpdir(), 'spanledger-operator-'));
});
afterAll(async () => {
  await connection?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function eventCount(): Promise<number> {
  const [rows] = await connection.database.run({ sql: 'SELECT COUNT(*) AS N FROM Events', json: true, jsonOptions: { wrapNumbers: false } });
  return Number((rows as { N: number }[])[0]!.N);
}

function deposits(user: string, count: number, from = 0): string {
  return jsonLines(Array.from({ length: count }, (_, i) => depositWire(user, from + i, '1000000')));
}

describe('submit never stops half-way', () => {
  test('stdout closed after the first line (`| head -1`): every line is still applied, exit 0', async () => {
    const user = uniqueName('pipe');
    const file = path.join(dir, 'pipe.jsonl');
    writeFileSync(file, deposits(user, 2_500));
    const before = await eventCount();
    const child = spawn(process.execPath, [BIN, 'submit', file], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // The reader goes away after its first line, as `head -1` does.
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect((await eventCount()) - before).toBe(2 * 2_500);
    const balance = JSON.parse((await runSpanledger(['balance', user, '--json'], { env })).stdout) as { balanceMicroUsd: string };
    expect(balance.balanceMicroUsd).toBe(String(2_500 * 1_100_000));
  });

  test('SIGINT stops it before the next chunk: exit 130, every answered line applied, nothing after', async () => {
    const user = uniqueName('sigint');
    const file = path.join(dir, 'sigint.jsonl');
    writeFileSync(file, deposits(user, 6_000));
    const child = spawn(process.execPath, [BIN, 'submit', file], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout === '') child.kill('SIGINT');
      stdout += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(130);
    const answered = jsonOutputLines(stdout);
    expect(answered.length).toBeGreaterThan(0);
    expect(answered.length).toBeLessThan(6_000);
    expect(answered.every((line) => line.status === 'accepted')).toBe(true);
    expect(stderr).toContain(`interrupted by SIGINT: ${answered.length} command(s) up to input line ${answered.length} were decided and answered; nothing after line ${answered.length} was applied`);
    const balance = JSON.parse((await runSpanledger(['balance', user, '--json'], { env })).stdout) as { balanceMicroUsd: string; version: number };
    expect(balance).toMatchObject({ balanceMicroUsd: String(answered.length * 1_100_000), version: 2 * answered.length });
  });

  test('--dry-run prints the outcomes a real run would give, marked, and writes nothing', async () => {
    const user = uniqueName('dry');
    const lines = jsonLines([
      depositWire(user, 1, '5000000'),
      { type: 'charge', userId: user, invoiceId: `${user}-inv`, amountMicroUsd: '5500000', occurredAt: '2026-03-02T00:00:00Z' },
      { type: 'charge', userId: user, invoiceId: `${user}-inv2`, amountMicroUsd: '1', occurredAt: '2026-03-02T00:00:00Z' },
      'not json',
    ]);
    const before = await eventCount();
    const dry = await runSpanledger(['submit', '--dry-run'], { env, input: lines });
    expect(dry.code).toBe(2);
    const outcomes = jsonOutputLines(dry.stdout);
    // The charge sees the deposit and its bonus before it (5.5 USD), as in one real run.
    expect(outcomes.map((line) => [line.status, line.code ?? null, line.dryRun])).toEqual([
      ['accepted', null, true],
      ['accepted', null, true],
      ['rejected', 'INSUFFICIENT_FUNDS', true],
      ['invalid', 'INVALID_COMMAND', true],
    ]);
    expect(await eventCount()).toBe(before);
    const real = jsonOutputLines((await runSpanledger(['submit', '--json'], { env, input: lines })).stdout);
    expect(real.map((line) => [line.status, line.eventIds])).toEqual(outcomes.map((line) => [line.status, line.eventIds]));
  });
});

describe('which ledger, and what to type next', () => {
  test('a database that does not exist is named, with the ones that do; the hint repeats --database', async () => {
    const run = await runSpanledger(['balance', 'someone', '--database', 'nope'], { env });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`spanledger: database nope does not exist in instance ${connection.settings.instanceId} \\(it has: .*${connection.settings.databaseId}`));
    expect(run.stderr).toContain('hint: check --database; to create a new ledger there: spanledger db migrate --database nope');
    const imported = await runSpanledger(['events', 'import', path.join(dir, 'none.jsonl'), '--database', 'ledger2x'], { env });
    expect(imported.stderr).toContain('spanledger db migrate --database ledger2x');
  });

  test('a database without the schema says so, and the hint migrates that database', async () => {
    const id = uniqueName('bare').replace(/[^a-z0-9]/g, '').slice(0, 20);
    const [, operation] = await connection.instance.createDatabase(id);
    await operation.promise();
    const run = await runSpanledger(['balance', 'someone', '--database', id], { env });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/the database is not migrated/);
    expect(run.stderr).toContain(`hint: run \`spanledger db migrate --database ${id}\``);
  });

  test('no emulator configured and no dev stack: says real Cloud Spanner was tried and how to point at the local stack', async () => {
    const stateDir = mkdtempSync(path.join(dir, 'state-'));
    const { SPANNER_EMULATOR_HOST: _host, ...rest } = env;
    const run = await runSpanledger(['balance', 'someone'], { env: { ...rest, SPANLEDGER_STATE_DIR: stateDir, GOOGLE_APPLICATION_CREDENTIALS: path.join(stateDir, 'none.json') } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`real Cloud Spanner: SPANNER_EMULATOR_HOST is not set and no \`spanledger dev up\` stack runs for ${stateDir} (SPANLEDGER_STATE_DIR)`);
    expect(run.stderr).toMatch(/hint: .*spanledger dev up.*SPANLEDGER_STATE_DIR.*SPANNER_EMULATOR_HOST/);
    // Our two lines only: the client once printed its own stack trace for the missing file first.
    expect(run.stderr.trim().split('\n')).toHaveLength(2);
  });

  test('a fresh install is healthy: migrate starts every view, and a lag with no projector running is ok', async () => {
    const fresh = await freshConnection('opf');
    try {
      const freshEnv = cliEnv(fresh);
      expect((await runSpanledger(['db', 'migrate'], { env: freshEnv })).code).toBe(0);
      expect((await runSpanledger(['submit'], { env: freshEnv, input: deposits(uniqueName('fresh'), 3) })).code).toBe(0);
      const status = JSON.parse((await runSpanledger(['projections', 'status', '--json'], { env: freshEnv })).stdout) as { projections: { projection: string; generation: number | null }[] };
      expect(status.projections.map((entry) => entry.generation)).toEqual([1, 1, 1]);
      const doctor = await runSpanledger(['doctor', '--json'], { env: { ...freshEnv, KAFKA_BROKERS: '' } });
      const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks;
      expect(checks.filter((check) => check.name.startsWith('projections.') || check.name === 'views.accounts').map((check) => check.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
      expect(checks.find((check) => check.name === 'projections.balances')!.detail).toMatch(/6 event\(s\) not projected yet, as expected with no projector following/);
    } finally {
      await fresh.close();
    }
  });

  test('a broker that refuses connections fails publish and consume within seconds, naming KAFKA_BROKERS', async () => {
    for (const args of [['publish', '--topic', 'nowhere'], ['consume', '--topic', 'nowhere']]) {
      const started = Date.now();
      const run = await runSpanledger(args, { env: { ...env, KAFKA_BROKERS: '127.0.0.1:1' } });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('no Kafka broker accepts connections at 127.0.0.1:1 (KAFKA_BROKERS)');
      expect(Date.now() - started).toBeLessThan(10_000);
    }
  });
});

describe('the listings people expect', () => {
  const prefix = uniqueName('lst');
  const users = ['a', 'b', 'c', 'd', 'e'].map((letter) => `${prefix}-${letter}`);

  beforeAll(async () => {
    const lines = users.flatMap((user, n) => [
      depositWire(user, n, String((n + 1) * 1_000_000), { occurredAt: '2026-05-01T00:00:00Z' }),
      { type: 'charge', userId: user, invoiceId: `${user}-p`, amountMicroUsd: '500000', pending: true, occurredAt: '2026-05-02T00:00:00Z' },
      { type: 'adjust', userId: user, amountMicroUsd: '250000', reason: 'goodwill', idempotencyKey: `${user}-adj`, occurredAt: '2026-05-03T00:00:00Z' },
    ]);
    expect((await runSpanledger(['submit'], { env, input: jsonLines(lines) })).code).toBe(0);
  });

  test('users pages through accounts by user ID with a cursor; a prefix narrows it', async () => {
    const first = JSON.parse((await runSpanledger(['users', '--prefix', prefix, '--limit', '2', '--json'], { env })).stdout) as { users: { userId: string; balanceMicroUsd: string }[]; next?: string };
    expect(first.users.map((user) => user.userId)).toEqual(users.slice(0, 2));
    expect(first.users[0]).toMatchObject({ balanceMicroUsd: String(1_100_000 - 500_000 + 250_000), pendingMicroUsd: '-500000' });
    const seen = [...first.users.map((user) => user.userId)];
    for (let next = first.next; next; ) {
      const page = JSON.parse((await runSpanledger(['users', '--prefix', prefix, '--limit', '2', '--after', next, '--json'], { env })).stdout) as { users: { userId: string }[]; next?: string };
      seen.push(...page.users.map((user) => user.userId));
      next = page.next;
    }
    expect(seen).toEqual(users);
    const human = await runSpanledger(['users', '--prefix', prefix, '--limit', '1'], { env });
    expect(human.stdout).toMatch(/1 user; more follow: --after \S+/);
    const bad = await runSpanledger(['users', '--after', '!!'], { env });
    expect(bad.code).toBe(2);
  });

  test('an unknown user has no account: said in words, and "exists": false in JSON with zeros', async () => {
    const json = JSON.parse((await runSpanledger(['balance', `${prefix}-nobody`, '--json'], { env })).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ exists: false, balanceMicroUsd: '0', version: 0 });
    expect(JSON.parse((await runSpanledger(['balance', users[0]!, '--json'], { env })).stdout)).toMatchObject({ exists: true });
    expect((await runSpanledger(['balance', `${prefix}-nobody`], { env })).stdout).toContain('no account exists');
  });

  test('transactions filter on occurredAt (since inclusive, until exclusive), type, source and status, and page with a cursor', async () => {
    const user = users[4]!;
    const list = async (...args: string[]) => JSON.parse((await runSpanledger(['transactions', user, '--json', ...args], { env })).stdout) as { transactions: { source: string; type: string; status: string; occurredAt: string }[]; next?: string };
    expect((await list()).transactions.map((row) => row.source)).toEqual(['adjustment', 'invoice', 'bonus', 'ethereum']);
    expect((await list('--since', '2026-05-02T00:00:00Z', '--until', '2026-05-03T00:00:00Z')).transactions.map((row) => row.source)).toEqual(['invoice']);
    expect((await list('--type', 'credit')).transactions.map((row) => row.type)).toEqual(['credit', 'credit', 'credit']);
    expect((await list('--source', 'bonus')).transactions).toHaveLength(1);
    expect((await list('--status', 'pending')).transactions.map((row) => row.source)).toEqual(['invoice']);
    const first = await list('--limit', '3');
    expect(first.transactions).toHaveLength(3);
    expect(first.next).toEqual(expect.any(String));
    const rest = await list('--limit', '3', '--after', first.next!);
    expect(rest.transactions).toHaveLength(1);
    expect(rest.next).toBeUndefined();
    expect([...first.transactions, ...rest.transactions]).toEqual((await list()).transactions);
    expect((await runSpanledger(['transactions', user, '--after', 'bogus'], { env })).code).toBe(2);
  });
});

describe('sample input and help', () => {
  test('examples/payments.jsonl has one line of every command type, and every line is accepted', async () => {
    const text = readFileSync(path.join(ROOT, 'examples', 'payments.jsonl'), 'utf8');
    const types = text.trim().split('\n').map((line) => (JSON.parse(line) as { type: string }).type);
    expect(new Set(types)).toEqual(new Set(['deposit', 'charge', 'settleCharge', 'failCharge', 'adjust', 'openInvoice', 'voidInvoice']));
    const fresh = await freshConnection('opx');
    try {
      const run = await runSpanledger(['submit', path.join(ROOT, 'examples', 'payments.jsonl')], { env: cliEnv(fresh) });
      expect(run.code).toBe(0);
      expect(jsonOutputLines(run.stdout).map((line) => line.status)).toEqual(types.map(() => 'accepted'));
    } finally {
      await fresh.close();
    }
  });

  test('help shows each default once, and summaries count in good grammar', async () => {
    for (const args of [['transactions', '--help'], ['projections', 'verify', '--help'], ['audit', '--help'], ['users', '--help'], ['projections', 'run', '--help']]) {
      const help = (await runSpanledger(args)).stdout;
      expect({ args, doubled: /\(default \d+\)\s*\(default: \d+\)/.test(help) }).toEqual({ args, doubled: false });
    }
  });
});
