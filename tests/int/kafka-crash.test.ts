import { ChildProcess, spawn } from 'node:child_process';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { chargeWire, depositWire } from '../support/commands';
import { ensureCliBuilt, kafkaBrokers, produceCommands, SPANLEDGER_BIN, uniqueTopic } from '../support/kafka';
import { cliEnv, freshConnection } from '../support/spanner';

/**
 * Effectively-once under crashes and group changes: consumers run as real child processes
 * (`node bin/spanledger.js consume`), are SIGKILLed mid-stream, restarted, and share a group.
 */
jest.setTimeout(240_000);

beforeAll(() => {
  kafkaBrokers();
  ensureCliBuilt();
});

/**
 * 15 commands per user: 12 deposits of 1 and, after every 4, a charge: 3 (accepted,
 * 1 left), 5.5 (rejected, 5 < 5.5), 9 (accepted, 0 left). Final balance 0, 14 events.
 * A charge decided twice, or out of order, would end elsewhere: the 5.5 charge re-decided
 * after the third round of deposits would be accepted and the 9 then rejected.
 */
function userScript(userId: string): string[] {
  const charges = ['3000000', '5500000', '9000000'];
  const commands: string[] = [];
  for (let round = 0; round < 3; round++) {
    for (let d = 0; d < 4; d++) commands.push(JSON.stringify(depositWire(userId, round * 4 + d, '1000000')));
    commands.push(JSON.stringify(chargeWire(userId, `${userId}-inv-${round}`, charges[round]!)));
  }
  return commands;
}

/** Round-robin over users, so every partition has work all the way through. */
function interleaved(users: string[]): string[] {
  const scripts = users.map(userScript);
  const out: string[] = [];
  for (let i = 0; i < 15; i++) for (const script of scripts) out.push(script[i]!);
  return out;
}

async function counts(connection: SpannerConnection): Promise<{ events: number; inbox: number }> {
  const [rows] = await connection.database.run({
    sql: `SELECT CAST((SELECT COUNT(*) FROM Events) AS STRING) AS Events,
                 CAST((SELECT IFNULL(SUM(NextOffset), 0) FROM KafkaInbox) AS STRING) AS Inbox`,
    json: true,
  });
  const row = (rows as { Events: string; Inbox: string }[])[0]!;
  return { events: Number(row.Events), inbox: Number(row.Inbox) };
}

async function expectExactLedger(connection: SpannerConnection, users: string[]): Promise<void> {
  const store = new SpannerLedgerStore(connection);
  expect(await counts(connection)).toEqual({ events: users.length * 14, inbox: users.length * 15 });
  const [rows] = await connection.database.run({
    sql: `SELECT UserId, CAST(BalanceMicroUsd AS STRING) AS Balance, CAST(ChargesMicroUsd AS STRING) AS Charges, CAST(Version AS STRING) AS Version FROM Accounts`,
    json: true,
  });
  const accounts = rows as { UserId: string; Balance: string; Charges: string; Version: string }[];
  expect(accounts).toHaveLength(users.length);
  for (const account of accounts) expect(account).toEqual({ UserId: account.UserId, Balance: '0', Charges: '12000000', Version: '14' });
  // Stream versions gap-free and unique per user (the unique index forbids duplicates; check the count too).
  const stream = await store.readStream(`account-${users[0]}`);
  if (stream.length > 0) expect(stream.map((event) => event.streamVersion)).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
}

interface Child {
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function startConsumer(env: NodeJS.ProcessEnv, topic: string, extra: string[] = []): Child {
  const child = spawn(
    process.execPath,
    [SPANLEDGER_BIN, 'consume', '--topic', topic, '--group', `ledger-${topic}`, '--until-idle', '--session-timeout-ms', '6000', '--json', ...extra],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { process: child, exited };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits for every child to exit; past `ms`, kills them and fails with what they logged, so a
 * member stuck in the group says where it stuck instead of the test timing out blind.
 */
async function allExitedWithin(children: Child[], ms: number, connection: SpannerConnection): Promise<Awaited<Child['exited']>[]> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const all = Promise.all(children.map((child) => child.exited));
  const first = await Promise.race([all, deadline]);
  clearTimeout(timer);
  if (first !== 'late') return first;
  const progress = await counts(connection);
  for (const child of children) child.process.kill('SIGKILL');
  const ends = await all;
  const logs = ends.map((end, index) => `--- consumer ${index + 1} (${end.signal ?? end.code}) stderr, last 6000 chars:\n${end.stderr.slice(-6000)}`);
  throw new Error(`consumers still running after ${ms / 1000} s (${JSON.stringify(progress)} so far)\n${logs.join('\n')}`);
}

describe('consumer crashes', () => {
  let connection: SpannerConnection;
  afterAll(async () => connection?.close());

  test('a consumer SIGKILLed three times mid-stream and restarted ends with exact balances and no duplicate events', async () => {
    connection = await freshConnection('kk');
    const users = Array.from({ length: 100 }, (_, i) => `kill-user-${i}`);
    const topic = uniqueTopic('kill');
    await produceCommands(topic, interleaved(users));
    const env = cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers(), SPANLEDGER_BONUS_BPS: '0' });

    const killedAt: number[] = [];
    for (const threshold of [250, 650, 1050]) {
      const child = startConsumer(env, topic, ['--batch-size', '10']);
      let killed = false;
      const giveUpAt = Date.now() + 60_000;
      let output = '';
      child.process.stderr!.on('data', (chunk: string) => (output += chunk));
      while (!killed) {
        if (Date.now() > giveUpAt) {
          child.process.kill('SIGKILL');
          throw new Error(`no progress to ${threshold} events in 60 s (at ${(await counts(connection)).events}); consumer stderr:\n${output}`);
        }
        const { events } = await counts(connection);
        if (events >= threshold) {
          child.process.kill('SIGKILL');
          killed = true;
          killedAt.push(events);
        } else {
          const early = await Promise.race([child.exited, sleep(30).then(() => undefined)]);
          if (early) throw new Error(`consumer exited before the kill at ${threshold} events: ${JSON.stringify(early)}`);
        }
      }
      const end = await child.exited;
      expect(end.signal).toBe('SIGKILL');
    }
    // Each kill landed mid-stream, with work left to do.
    expect(killedAt.every((events) => events > 0 && events < 1400)).toBe(true);

    const last = await startConsumer(env, topic, ['--session-timeout-ms', '6000']).exited;
    expect(last.stderr).not.toMatch(/unexpected failure/);
    expect(last.code).toBe(0);
    const summary = JSON.parse(last.stdout.trim()) as { duplicate: number; messages: number; stoppedBy: string };
    expect(summary.stoppedBy).toBe('idle');
    // Everything the killed runs committed was skipped, not decided again.
    expect(summary.duplicate).toBe(0);
    await expectExactLedger(connection, users);
  });
});

describe('consumer group', () => {
  let connection: SpannerConnection;
  afterAll(async () => connection?.close());

  test('two consumers in one group split the partitions and apply each payment once', async () => {
    connection = await freshConnection('kg');
    const users = Array.from({ length: 120 }, (_, i) => `group-user-${i}`);
    const topic = uniqueTopic('group');
    await produceCommands(topic, interleaved(users));
    // kafkajs logs its group joins and rebalances: what a stuck member leaves behind.
    const env = cliEnv(connection, { KAFKA_BROKERS: kafkaBrokers(), SPANLEDGER_BONUS_BPS: '0', KAFKA_LOG_LEVEL: 'info' });

    const members = [startConsumer(env, topic, ['--batch-size', '10']), startConsumer(env, topic, ['--batch-size', '10'])];
    const results = await allExitedWithin(members, 150_000, connection);
    for (const result of results) {
      expect(result.stderr).not.toMatch(/unexpected failure/);
      expect(result.code).toBe(0);
    }
    const summaries = results.map((result) => JSON.parse(result.stdout.trim()) as { messages: number; duplicate: number; accepted: number; rejected: number });
    // Each message decided by exactly one member (a fenced chunk rolls back and is not counted).
    expect(summaries[0]!.messages + summaries[1]!.messages).toBe(users.length * 15);
    expect(summaries[0]!.duplicate + summaries[1]!.duplicate).toBe(0);
    expect(summaries[0]!.accepted + summaries[1]!.accepted).toBe(users.length * 14);
    expect(summaries[0]!.rejected + summaries[1]!.rejected).toBe(users.length);
    // Both members got partitions.
    expect(summaries[0]!.messages).toBeGreaterThan(0);
    expect(summaries[1]!.messages).toBeGreaterThan(0);
    await expectExactLedger(connection, users);
  });
});
