import { ChildProcess, spawn } from 'node:child_process';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { BIN, runSpanledger } from '../support/cli';
import { depositWire, jsonLines } from '../support/commands';
import { cliEnv, freshConnection, freshDatabaseId } from '../support/spanner';

/** Observability as operators use it: `doctor`, and a following projector's /metrics. Real processes. */
interface DoctorJson {
  ok: boolean;
  checks: { name: string; status: 'ok' | 'warn' | 'fail'; detail: string; hint: string }[];
}

const ALL_CHECKS = [
  'spanner.reachable',
  'spanner.instance',
  'spanner.database',
  'schema.version',
  'projections.balances',
  'projections.transactions',
  'projections.invoices',
  'views.accounts',
  'kafka.brokers',
  'kafka.inbox',
  'kafka.publishers',
];

const connections: SpannerConnection[] = [];
afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.close()));
});

async function fresh(prefix: string): Promise<SpannerConnection> {
  const connection = await freshConnection(prefix);
  connections.push(connection);
  return connection;
}

function check(report: DoctorJson, name: string) {
  const found = report.checks.find((entry) => entry.name === name);
  if (!found) throw new Error(`no check ${name} in ${JSON.stringify(report)}`);
  return found;
}

describe('doctor', () => {
  test('a migrated fresh database: every check listed and ok, exit 0; human output is a table', async () => {
    const connection = await fresh('doc');
    const run = await runSpanledger(['doctor', '--json'], { env: cliEnv(connection) });
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as DoctorJson;
    expect(report.checks.map((entry) => entry.name)).toEqual(ALL_CHECKS);
    expect(report.checks.filter((entry) => entry.status !== 'ok')).toEqual([]);
    expect(report.ok).toBe(true);
    for (const entry of report.checks) expect(Object.keys(entry).sort()).toEqual(['detail', 'hint', 'name', 'status']);

    const human = await runSpanledger(['doctor'], { env: cliEnv(connection, { COLUMNS: '80' }) });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^OK {4}spanner\.reachable/);
    expect(human.stdout).toMatch(/\nOK {4}schema\.version +all \d+ migrations applied/);
    // Wrapped to the terminal's width, never one 250-column table.
    for (const line of human.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(human.stdout).toMatch(new RegExp(`OK: ${ALL_CHECKS.length} ok, 0 warning\\(s\\), 0 failed`));
  });

  test('events not yet projected are a warning (exit 0) that says to run the projector', async () => {
    const connection = await fresh('dol');
    const submit = await runSpanledger(['submit'], { env: cliEnv(connection, { SPANLEDGER_BONUS_BPS: '0' }), input: jsonLines([depositWire('doc-user', 1), depositWire('doc-user', 2)]) });
    expect(submit.code).toBe(0);
    const run = await runSpanledger(['doctor', '--json'], { env: cliEnv(connection) });
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as DoctorJson;
    expect(check(report, 'projections.balances')).toMatchObject({ status: 'warn', hint: expect.stringContaining('spanledger projections run') });
    expect(check(report, 'projections.balances').detail).toMatch(/2 event\(s\) not projected/);
    expect(report.ok).toBe(true);

    expect((await runSpanledger(['projections', 'run'], { env: cliEnv(connection) })).code).toBe(0);
    const after = JSON.parse((await runSpanledger(['doctor', '--json'], { env: cliEnv(connection) })).stdout) as DoctorJson;
    expect(check(after, 'projections.balances')).toMatchObject({ status: 'ok' });
    expect(check(after, 'views.accounts')).toMatchObject({ status: 'ok', detail: expect.stringContaining('1 account(s), balances sum to 2000000') });
  });

  test('a database that does not exist: a failed check with the migrate hint, exit 1', async () => {
    const connection = await fresh('dom');
    const env = cliEnv(connection, { SPANNER_DATABASE_ID: freshDatabaseId('nodb') });
    const run = await runSpanledger(['doctor', '--json'], { env });
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as DoctorJson;
    expect(report.ok).toBe(false);
    expect(check(report, 'spanner.reachable').status).toBe('ok');
    expect(check(report, 'spanner.database')).toMatchObject({ status: 'fail', hint: expect.stringContaining('spanledger db migrate') });
    expect(check(report, 'schema.version').status).toBe('warn');
    expect(report.checks.map((entry) => entry.name)).toEqual(ALL_CHECKS);
  });

  test('a schema behind the latest version fails with the migrate hint', async () => {
    const connection = await fresh('dov');
    await connection.database.runTransactionAsync(async (tx) => {
      await tx.runUpdate({ sql: 'DELETE FROM SchemaMigrations WHERE Version = (SELECT MAX(Version) FROM SchemaMigrations)' });
      await tx.commit();
    });
    const run = await runSpanledger(['doctor', '--json'], { env: cliEnv(connection) });
    expect(run.code).toBe(1);
    expect(check(JSON.parse(run.stdout) as DoctorJson, 'schema.version')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^\d+ of \d+ migrations applied \(pending: \d+\)$/), hint: expect.stringMatching(/^run `spanledger db migrate --database \S+`$/) });
  });

  test('an unreachable emulator is a failed check, not a preflight abort', async () => {
    const connection = await fresh('dou');
    const run = await runSpanledger(['doctor', '--json'], { env: cliEnv(connection, { SPANNER_EMULATOR_HOST: '127.0.0.1:1' }) });
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as DoctorJson;
    expect(check(report, 'spanner.reachable')).toMatchObject({ status: 'fail', hint: expect.stringContaining('spanledger dev up') });
    expect(report.checks.map((entry) => entry.name)).toEqual(ALL_CHECKS);
  });
});

describe('projections run --follow with metrics', () => {
  interface Follower {
    readonly child: ChildProcess;
    readonly stderr: () => string;
    readonly stdout: () => string;
    readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  }

  function follow(env: NodeJS.ProcessEnv, args: string[]): Follower {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    return { child, stderr: () => stderr, stdout: () => stdout, exited };
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const giveUp = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > giveUp) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  function sample(text: string, name: string, labels = ''): number | undefined {
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  test('serves /metrics until the lag gauges read 0, logs JSON on stderr only, and exits 0 on SIGTERM', async () => {
    const connection = await fresh('obf');
    const env = cliEnv(connection, { SPANLEDGER_BONUS_BPS: '0' });
    const users = ['m-1', 'm-2', 'm-3'];
    const first = await runSpanledger(['submit'], { env, input: jsonLines(users.flatMap((user) => [depositWire(user, 1), depositWire(user, 2)])) });
    expect(first.code).toBe(0);

    const follower = follow(env, ['projections', 'run', '--follow', '--poll-ms', '100', '--metrics-port', '0']);
    try {
      const url = await until('the metrics server address on stderr', async () => {
        const line = follower.stderr().split('\n').find((candidate) => candidate.includes('metrics server listening'));
        return line ? (JSON.parse(line) as { url: string }).url : undefined;
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const scrape = async () => {
        const response = await fetch(url);
        return response.ok ? response.text() : undefined;
      };
      const caughtUp = (wantApplied: number) => async () => {
        const text = await scrape();
        if (!text) return undefined;
        const lags = ['balances', 'transactions', 'invoices'].map((projection) => sample(text, 'spanledger_projection_lag_events', `projection="${projection}"`));
        const applied = sample(text, 'spanledger_projection_events_applied_total');
        return lags.every((lag) => lag === 0) && applied === wantApplied ? text : undefined;
      };
      // 6 events, applied by two projections.
      const text = await until('lag 0 after the first 6 events', caughtUp(12));
      for (const name of ['spanledger_commands_total', 'spanledger_transaction_retries_total', 'spanledger_batch_size', 'spanledger_dead_letters_total', 'spanledger_consumer_lag_messages']) {
        expect(text).toContain(`# TYPE ${name} `);
      }
      expect(sample(text, 'spanledger_transaction_retries_total')).toBe(0);
      expect(text).toContain('spanledger_process_cpu_user_seconds_total');

      // New events while it follows: the gauges go back to 0 once they are applied.
      const second = await runSpanledger(['submit'], { env, input: jsonLines(users.map((user) => depositWire(user, 3))) });
      expect(second.code).toBe(0);
      await until('lag 0 after 3 more events', caughtUp(18));
    } finally {
      follower.child.kill('SIGTERM');
    }
    const exit = await follower.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(follower.stdout().trim()).toMatch(/^stopped: applied 18 event\(s\)/);
    const lines = follower.stderr().trim().split('\n').map((line) => JSON.parse(line) as { level: string; msg: string; name: string });
    expect(lines.every((line) => line.name === 'projections' && typeof line.level === 'string')).toBe(true);
    expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['metrics server listening', 'following the event log', 'projector stopped']));
    expect(lines.some((line) => /^applied \d+ event\(s\)$/.test(line.msg))).toBe(true);
  });

  test('--log-level warn keeps the info lines out; a bad level is a usage error (exit 2)', async () => {
    const connection = await fresh('obl');
    const env = cliEnv(connection);
    const quiet = await runSpanledger(['--log-level', 'warn', 'projections', 'run', '--metrics-port', '0'], { env });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    const viaEnv = await runSpanledger(['projections', 'run', '--metrics-port', '0'], { env: { ...env, SPANLEDGER_LOG_LEVEL: 'debug' } });
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.stderr).toContain('"level":"debug"');
    expect((await runSpanledger(['projections', 'run', '--log-level', 'loud'], { env })).code).toBe(2);
    expect((await runSpanledger(['projections', 'run', '--follow'], { env: { ...env, SPANLEDGER_LOG_LEVEL: 'loud' } })).code).toBe(2);
  });
});
