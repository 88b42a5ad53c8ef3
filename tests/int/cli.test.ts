import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { jsonOutputLines, runSpanledger } from '../support/cli';
import { chargeWire, depositWire, jsonLines, settleWire } from '../support/commands';
import { uniqueName } from '../support/events';
import { cliEnv, freshConnection } from '../support/spanner';

/** The `spanledger` CLI contract, as scripts outside the project use it: real processes. */
let connection: SpannerConnection;
let env: NodeJS.ProcessEnv;
const scratch = mkdtempSync(path.join(tmpdir(), 'spanledger-cli-'));

beforeAll(async () => {
  connection = await freshConnection('cli');
  env = cliEnv(connection);
});
afterAll(() => connection.close());

function file(name: string, text: string): string {
  const target = path.join(scratch, name);
  writeFileSync(target, text);
  return target;
}

test('--help lists the commands and the exit codes, and every command has its own help with examples', async () => {
  const help = await runSpanledger(['--help'], { env });
  expect(help.code).toBe(0);
  for (const command of ['submit', 'balance', 'db', 'dev']) expect(help.stdout).toContain(command);
  expect(help.stdout).toMatch(/Exit codes:[\s\S]*3 +a command was rejected/);
  const submitHelp = await runSpanledger(['submit', '--help'], { env });
  expect(submitHelp.code).toBe(0);
  expect(submitHelp.stdout).toContain('Examples:');
});

test('an unknown command or bad flag is a usage error (exit 2)', async () => {
  expect((await runSpanledger(['frobnicate'], { env })).code).toBe(2);
  expect((await runSpanledger(['submit', '--batch-size', 'zero'], { env })).code).toBe(2);
});

test('db migrate is a no-op the second time', async () => {
  const second = await runSpanledger(['db', 'migrate', '--json'], { env });
  expect(second.code).toBe(0);
  expect(JSON.parse(second.stdout)).toMatchObject({ createdInstance: false, createdDatabase: false, applied: [] });
});

test('submit prints one JSON line per non-empty input line, in order; bad lines are invalid (exit 2) and valid ones beside them applied', async () => {
  const user = uniqueName('mixed');
  const input = [
    JSON.stringify(depositWire(user, 1, '2000000')),
    '',
    '{"type":"deposit","userId":', // truncated
    JSON.stringify(depositWire(user, 2, 1.5)), // float amount
    JSON.stringify({ ...depositWire(user, 3), amountMicroUsd: '9223372036854775808' }), // beyond INT64
    JSON.stringify({ type: 'refund', userId: user }), // unknown type
    '{"type":"adjust","type":"adjust"}', // duplicate keys
    JSON.stringify(chargeWire(user, `${user}-inv`, '1000000')),
    JSON.stringify(depositWire(user, 1, '2000000')), // replay
    '   ',
    JSON.stringify(chargeWire(user, `${user}-too-much`, '99000000')),
  ].join('\n');
  const run = await runSpanledger(['submit', file('mixed.jsonl', input)], { env });
  expect(run.code).toBe(2);
  const lines = jsonOutputLines(run.stdout);
  expect(lines.map((line) => [line.line, line.status])).toEqual([
    [1, 'accepted'],
    [3, 'invalid'],
    [4, 'invalid'],
    [5, 'invalid'],
    [6, 'invalid'],
    [7, 'invalid'],
    [8, 'accepted'],
    [9, 'duplicate'],
    [11, 'rejected'],
  ]);
  expect(lines[2]).toMatchObject({ code: 'INVALID_COMMAND', message: expect.stringContaining('amountMicroUsd') });
  expect(lines[3]!.message).toContain('64-bit');
  expect(lines[8]).toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
  expect(lines[7]!.eventIds).toEqual(lines[0]!.eventIds);

  const balance = await runSpanledger(['balance', user, '--json'], { env });
  expect(balance.code).toBe(0);
  expect(JSON.parse(balance.stdout)).toMatchObject({ userId: user, balanceMicroUsd: '1200000' });
});

test('exit 3 when a valid command is rejected and none is invalid; stdin is read when FILE is -', async () => {
  const user = uniqueName('rej');
  const run = await runSpanledger(['submit', '-'], { env, input: jsonLines([settleWire(user, `${user}-nothing`)]) });
  expect(run.code).toBe(3);
  expect(jsonOutputLines(run.stdout)[0]).toMatchObject({ line: 1, status: 'rejected', code: 'CHARGE_NOT_FOUND' });
});

test('4 concurrent submit processes of the same file: exactly one accepted per command, the rest duplicates', async () => {
  const users = [uniqueName('conc-a'), uniqueName('conc-b')];
  const commands = Array.from({ length: 40 }, (_, i) => depositWire(users[i % 2]!, i, '1000000'));
  const shared = file('concurrent.jsonl', jsonLines(commands));
  const runs = await Promise.all(Array.from({ length: 4 }, () => runSpanledger(['submit', shared], { env })));
  for (const run of runs) expect(run.code).toBe(0);
  const outputs = runs.map((run) => jsonOutputLines(run.stdout));
  for (let line = 0; line < commands.length; line++) {
    const statuses = outputs.map((lines) => lines[line]!.status);
    expect(statuses.filter((status) => status === 'accepted')).toHaveLength(1);
    expect(statuses.filter((status) => status === 'duplicate')).toHaveLength(3);
    expect(new Set(outputs.map((lines) => JSON.stringify(lines[line]!.eventIds))).size).toBe(1);
  }
  for (const user of users) {
    const balance = JSON.parse((await runSpanledger(['balance', user, '--json'], { env })).stdout);
    expect(balance.balanceMicroUsd).toBe('22000000'); // 20 deposits of 1 USD + 10 % bonus
  }
});

test('balance of an unknown user is "0"; the human form is a table with dollars to six decimals', async () => {
  const json = await runSpanledger(['balance', uniqueName('nobody'), '--json'], { env });
  expect(JSON.parse(json.stdout)).toMatchObject({ balanceMicroUsd: '0' });
  const user = uniqueName('human');
  await runSpanledger(['submit'], { env, input: jsonLines([depositWire(user, 1, '1234567')]) });
  const human = await runSpanledger(['balance', user], { env });
  expect(human.stdout).toContain('$1.358023'); // 1,234,567 + 123,456 bonus
});

test('an unreachable Spanner is an infrastructure failure: exit 1 with the reason on stderr', async () => {
  const run = await runSpanledger(['balance', 'someone', '--json'], { env: { ...env, SPANNER_EMULATOR_HOST: '127.0.0.1:1' } });
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/spanledger: .*127\.0\.0\.1:1/);
  expect(run.stdout).toBe('');
}, 90_000);

test('dev up starts a detached emulator that later commands find through the state file; dev down stops it', async () => {
  // A state folder that does not exist yet: dev up must create it (its logs go there).
  const stateDir = path.join(mkdtempSync(path.join(tmpdir(), 'spanledger-dev-')), 'state');
  const devEnv: NodeJS.ProcessEnv = { ...process.env, SPANLEDGER_STATE_DIR: stateDir };
  delete devEnv.SPANNER_EMULATOR_HOST;
  delete devEnv.SPANNER_DATABASE_ID;
  const up = await runSpanledger(['dev', 'up', '--no-kafka', '--json'], { env: devEnv });
  expect(up.code).toBe(0);
  const status = await runSpanledger(['dev', 'status', '--json'], { env: devEnv });
  const { spanner } = JSON.parse(status.stdout) as { spanner: { host: string; pid: number } };
  try {
    expect(JSON.parse(up.stdout)).toMatchObject({ spannerEmulatorHost: spanner.host, kafkaBrokers: null });
    // No SPANNER_EMULATOR_HOST: the CLI finds the emulator in the state file, already migrated.
    const user = uniqueName('dev');
    expect((await runSpanledger(['submit'], { env: devEnv, input: jsonLines([depositWire(user, 1, '1000000')]) })).code).toBe(0);
    expect(JSON.parse((await runSpanledger(['balance', user, '--json'], { env: devEnv })).stdout)).toMatchObject({ balanceMicroUsd: '1100000' });
  } finally {
    expect((await runSpanledger(['dev', 'down'], { env: devEnv })).code).toBe(0);
  }
  expect((await runSpanledger(['dev', 'status'], { env: devEnv })).code).toBe(1);
  const gone = await new Promise<boolean>((resolve) => {
    const started = Date.now();
    const poll = () => {
      try {
        process.kill(spanner.pid, 0);
        if (Date.now() - started > 10_000) resolve(false);
        else setTimeout(poll, 100);
      } catch {
        resolve(true);
      }
    };
    poll();
  });
  expect(gone).toBe(true);
}, 90_000);
