import { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSpannerEmulator, RunningEmulator } from '../../emulator';
import { emptyAccount } from '../../ledger/core/account';
import { decideBatch } from '../../ledger/core/batch';
import { Command, parseCommandText } from '../../ledger/core/commands';
import { CommandHandler } from '../../ledger/core/handler';
import { LedgerStore, LedgerTransaction } from '../../ledger/core/store';
import { accountToRow } from '../../ledger/spanner/codec';
import { connect, settingsFromEnv, SpannerConnection } from '../../ledger/spanner/connection';
import { migrate } from '../../ledger/spanner/migrate';
import { MIGRATIONS } from '../../app/schema';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { runReadWrite } from '../../ledger/spanner/transaction';
import { adjustWire, depositWire } from '../support/commands';
import { ensureCliBuilt } from '../support/kafka';
import { spawnSpanledger } from '../support/cli';
import { emulatorHost, freshConnection, freshDatabaseId } from '../support/spanner';

/**
 * Spanner faults: a transaction callback that throws, ABORTED re-runs under contention,
 * and the emulator dying under a running `submit`.
 */
jest.setTimeout(120_000);

async function countRows(connection: SpannerConnection, sql: string, params: Record<string, string> = {}): Promise<number> {
  const [rows] = await connection.database.run({ sql: `SELECT CAST(COUNT(*) AS STRING) AS N FROM ${sql}`, params, json: true });
  return Number((rows as { N: string }[])[0]!.N);
}

function command(wire: unknown): Command {
  const parsed = parseCommandText(JSON.stringify(wire));
  if (!parsed.ok) throw new Error(`test command is invalid: ${parsed.message}`);
  return parsed.command;
}

describe('a transaction callback that throws', () => {
  let connection: SpannerConnection;
  let store: SpannerLedgerStore;
  beforeAll(async () => {
    connection = await freshConnection('ft');
    store = new SpannerLedgerStore(connection);
  });
  afterAll(async () => store?.close());

  test('store.transact: reads, buffered writes, then a throw -> nothing written, the error surfaces, the next transaction works', async () => {
    const user = 'throw-transact-user';
    const deposit = command(depositWire(user, 1, '7000000'));
    let invocations = 0;
    let buffered = 0;
    const failure = store.transact(async (tx: LedgerTransaction) => {
      invocations++;
      const { decisions, writes } = await decideBatch(tx, [deposit], { bonusRateBps: 1000, thresholds: [] });
      expect(decisions.map((decision) => decision.outcome)).toEqual(['accepted']);
      tx.write(writes);
      buffered = writes.events.length;
      throw new Error('boom after buffering');
    });
    await expect(failure).rejects.toThrow('boom after buffering');
    // A plain error is not retried: the callback ran once, with a deposit and its bonus buffered.
    expect(invocations).toBe(1);
    expect(buffered).toBe(2);
    expect(await countRows(connection, 'Events')).toBe(0);
    expect(await countRows(connection, 'Accounts')).toBe(0);
    expect(await store.readAccount(user)).toBeUndefined();

    // The same command afterwards: accepted (its key was not reserved), exact amounts.
    const handler = new CommandHandler(store, { bonusRateBps: 1000 });
    const [outcome] = await handler.handle([deposit]);
    expect(outcome?.status).toBe('accepted');
    expect(outcome?.eventIds).toHaveLength(2);
    expect(await countRows(connection, 'Events')).toBe(2);
    expect((await store.readAccount(user))?.balanceMicroUsd).toBe(7_700_000n);
  });

  test('runReadWrite: a read, buffered insert/upsert mutations, then a throw -> nothing written; a fake ABORTED re-runs and only the last attempt commits', async () => {
    const user = 'throw-rw-user';
    let invocations = 0;
    const failure = runReadWrite(connection, async (tx) => {
      invocations++;
      await tx.run({ sql: 'SELECT COUNT(*) FROM Accounts', json: true });
      tx.insert('Accounts', accountToRow({ ...emptyAccount(user), version: 1, balanceMicroUsd: 5n, adjustmentsMicroUsd: 5n }));
      tx.upsert('KafkaInbox', { ConsumerGroup: 'g', Topic: 't', KafkaPartition: '0', NextOffset: '99', UpdatedAt: 'spanner.commit_timestamp()' });
      throw new TypeError('callback bug');
    });
    await expect(failure).rejects.toThrow(TypeError);
    expect(invocations).toBe(1);
    expect(await countRows(connection, 'Accounts WHERE UserId = @user', { user })).toBe(0);
    expect(await countRows(connection, 'KafkaInbox')).toBe(0);

    // An ABORTED-coded failure (what Spanner throws on contention) re-runs the callback:
    // each attempt buffers a different offset, only the committed attempt's survives.
    invocations = 0;
    const retries: number[] = [];
    const result = await runReadWrite(
      connection,
      async (tx) => {
        invocations++;
        tx.upsert('KafkaInbox', { ConsumerGroup: 'g', Topic: 't', KafkaPartition: '0', NextOffset: String(invocations), UpdatedAt: 'spanner.commit_timestamp()' });
        if (invocations < 3) throw Object.assign(new Error('fake abort'), { code: 10 });
        return invocations;
      },
      { onTransactionRetry: (attempt) => retries.push(attempt) },
    );
    expect(result.value).toBe(3);
    expect(retries).toEqual([1, 2]);
    const [rows] = await connection.database.run({ sql: 'SELECT ConsumerGroup, CAST(NextOffset AS STRING) AS NextOffset FROM KafkaInbox', json: true });
    expect(rows).toEqual([{ ConsumerGroup: 'g', NextOffset: '3' }]);

    // The connection is usable for normal work afterwards.
    const handler = new CommandHandler(store, { bonusRateBps: 1000 });
    const [outcome] = await handler.handle([command(adjustWire(user, 'after-throw', '3000000'))]);
    expect(outcome?.status).toBe('accepted');
    expect((await store.readAccount(user))?.balanceMicroUsd).toBe(3_000_000n);
  });
});

/** Wraps a store so that every run of a transaction callback is counted. */
function countingStore(inner: SpannerLedgerStore, counter: { callbacks: number }): LedgerStore {
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'transact') {
        return <T>(work: (tx: LedgerTransaction) => Promise<T>) =>
          target.transact(async (tx) => {
            counter.callbacks++;
            return work(tx);
          });
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

describe('ABORTED re-runs under contention', () => {
  const stores: SpannerLedgerStore[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });

  test('4 connections hammering one account: every command applied exactly once although callbacks re-ran', async () => {
    const first = await freshConnection('fa');
    const settings = first.settings;
    const connections = [first, connect(settings), connect(settings), connect(settings)];
    const counter = { callbacks: 0 };
    let retries = 0;
    for (const connection of connections) stores.push(new SpannerLedgerStore(connection, { onTransactionRetry: () => retries++ }));
    const user = 'contended-user';
    const perConnection = 30;
    // Each connection: 30 adjusts of +1 $ and 30 charges of 0.5 $, one command per transaction.
    // A charge re-decided or applied twice would move the balance or the event count.
    const outcomes = await Promise.all(
      stores.map(async (store, writer) => {
        const handler = new CommandHandler(countingStore(store, counter), { bonusRateBps: 1000, batchSize: 1 });
        const statuses: string[] = [];
        for (let i = 0; i < perConnection; i++) {
          const [adjust] = await handler.handle([command(adjustWire(user, `w${writer}-a${i}`, '1000000'))]);
          const [charge] = await handler.handle([command({ type: 'charge', userId: user, invoiceId: `w${writer}-inv${i}`, amountMicroUsd: '500000', occurredAt: '2026-03-02T00:00:00Z' })]);
          statuses.push(adjust!.status, charge!.status);
        }
        return statuses;
      }),
    );
    const commands = stores.length * perConnection * 2;
    expect(outcomes.flat()).toEqual(Array(commands).fill('accepted'));
    expect(await countRows(first, 'Events')).toBe(commands);
    const account = await stores[0]!.readAccount(user);
    expect(account?.balanceMicroUsd).toBe(BigInt(stores.length * perConnection) * 500_000n);
    expect(account?.chargesMicroUsd).toBe(BigInt(stores.length * perConnection) * 500_000n);
    expect(account?.version).toBe(commands);
    // Each callback run is either the committed attempt of one command or a retried one.
    expect(counter.callbacks).toBe(commands + retries);
    process.stderr.write(`ABORTED contention: ${commands} commands, ${counter.callbacks} callback runs, ${retries} re-runs\n`);
    expect(retries).toBeGreaterThan(0);
  });
});


/**
 * The emulator is in-memory: killing it loses every database. A variant "the emulator dies
 * and comes back WITH the data" (what a real Spanner outage looks like: commits are durable,
 * a half-finished submit is re-run and answers `duplicate` for what had committed) cannot be
 * built on the emulator; the duplicate-on-replay half of it is covered by tests/int (submit
 * twice), the crash half here.
 */
/**
 * connect({ emulatorHost }) is not enough for a second emulator in a process whose
 * SPANNER_EMULATOR_HOST names another one: the Spanner client constructor reads the variable
 * and it overrides the host passed in (reported as a product issue). The variable is read
 * only in the constructor, so it is swapped around that call.
 */
function connectToPrivate(host: string): SpannerConnection {
  const shared = process.env.SPANNER_EMULATOR_HOST;
  process.env.SPANNER_EMULATOR_HOST = host;
  try {
    return connect(settingsFromEnv({}, { emulatorHost: host, databaseId: freshDatabaseId('fk') }));
  } finally {
    process.env.SPANNER_EMULATOR_HOST = shared;
  }
}

describe('the emulator killed under a running submit', () => {
  const emulators: RunningEmulator[] = [];
  const connections: SpannerConnection[] = [];
  const children: ChildProcess[] = [];
  let dir: string;
  beforeAll(() => {
    ensureCliBuilt();
    dir = mkdtempSync(path.join(os.tmpdir(), 'spanledger-faults-'));
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.allSettled(connections.map((connection) => connection.close()));
    await Promise.allSettled(emulators.map((emulator) => emulator.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function privateEmulator(): Promise<{ emulator: RunningEmulator; connection: SpannerConnection }> {
    const emulator = await startSpannerEmulator();
    emulators.push(emulator);
    expect(emulator.host).not.toBe(emulatorHost());
    const connection = connectToPrivate(emulator.host);
    connections.push(connection);
    await migrate(connection, MIGRATIONS);
    return { emulator, connection };
  }

  function envFor(emulator: RunningEmulator, connection: SpannerConnection): NodeJS.ProcessEnv {
    return {
      ...process.env,
      SPANNER_EMULATOR_HOST: emulator.host,
      SPANNER_PROJECT_ID: connection.settings.projectId,
      SPANNER_INSTANCE_ID: connection.settings.instanceId,
      SPANNER_DATABASE_ID: connection.settings.databaseId,
      SPANLEDGER_BONUS_BPS: '1000',
    };
  }

  function crashFile(): { file: string; lines: string[]; users: string[]; expected: Map<string, bigint> } {
    const users = Array.from({ length: 40 }, (_, i) => `crash-user-${i}`);
    const lines: string[] = [];
    const expected = new Map<string, bigint>();
    for (let n = 0; n < 4000; n++) {
      const user = users[n % users.length]!;
      const amount = BigInt(1_000_000 + ((n * 7919) % 999_983)); // varied, so the bonus floor matters
      lines.push(JSON.stringify(depositWire(user, n, amount.toString())));
      expected.set(user, (expected.get(user) ?? 0n) + amount + (amount * 1000n) / 10000n);
    }
    const file = path.join(dir, 'deposits.jsonl');
    writeFileSync(file, lines.join('\n') + '\n');
    return { file, lines, users, expected };
  }

  test('SIGKILL of the emulator mid-submit: submit rides it out for --deadline-s, then exits 1 saying what was not applied; what it printed is valid JSON lines', async () => {
    const { file, lines } = crashFile();

    const first = await privateEmulator();
    const child = spawnSpanledger(['submit', file, '--deadline-s', '5'], envFor(first.emulator, first.connection));
    children.push(child.process);
    // Kill once the first chunk (1,000 lines) is reported: the second is in flight.
    const deadline = Date.now() + 60_000;
    while (child.stdout() === '' && Date.now() < deadline) {
      const early = await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 20)).then(() => undefined)]);
      if (early) throw new Error(`submit ended before the emulator was killed: ${JSON.stringify(early).slice(0, 500)}`);
    }
    process.kill(-first.emulator.pid, 'SIGKILL');
    const killedAt = Date.now();
    // Bounded: it rides out a dead emulator for --deadline-s (5 s), then stops; 45 s is generous.
    const exitedInTime = await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 45_000)).then(() => undefined)]);
    const exitSeconds = (Date.now() - killedAt) / 1000;
    if (!exitedInTime) child.process.kill('SIGKILL');
    const end = await child.exited;
    process.stderr.write(`emulator killed: submit ${exitedInTime ? `exited ${end.code}` : 'still running, SIGKILLed'} after ${exitSeconds.toFixed(1)} s: ${end.stderr.trim()}\n`);
    await first.emulator.stop();
    expect(exitedInTime).toBeDefined();
    expect(end.code).toBe(1);
    expect(exitSeconds).toBeLessThan(5 + 10);
    expect(end.stderr).toMatch(/^spanledger: Spanner is not answering \(.*\); retrying for up to 5 s\n/);
    expect(end.stderr).toMatch(/\nspanledger: no answer from .* for \d+\.\d s \(last error: .*\); .*not applied\n {2}hint: submitting the same input again is safe/);
    expect(end.stderr).not.toMatch(/unexpected failure/);
    expect(end.stderr.trim().split('\n').length).toBe(3);
    // What it printed before dying: whole JSON lines, in order, all accepted, fewer than all.
    expect(end.stdout.endsWith('\n')).toBe(true);
    const printed = end.stdout.trim().split('\n').map((line) => JSON.parse(line) as { line: number; status: string });
    expect(printed.length).toBeGreaterThan(0);
    expect(printed.length).toBeLessThan(lines.length);
    // Whole batches: the batches of the chunk in flight that committed are answered too.
    expect(printed.length % 100).toBe(0);
    expect(printed.map((entry) => entry.line)).toEqual(Array.from({ length: printed.length }, (_, i) => i + 1));
    expect(printed.every((entry) => entry.status === 'accepted')).toBe(true);
  });

  test('after the crash, the same file on a fresh (empty) emulator applies in full with exact balances', async () => {
    const { file, lines, users, expected } = crashFile();

    // A fresh emulator knows nothing: the whole file applies again.
    const second = await privateEmulator();
    const rerun = spawnSpanledger(['submit', file], envFor(second.emulator, second.connection));
    children.push(rerun.process);
    const done = await rerun.exited;
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    const outcomes = done.stdout.trim().split('\n').map((line) => JSON.parse(line) as { status: string });
    expect(outcomes).toHaveLength(lines.length);
    expect(outcomes.every((outcome) => outcome.status === 'accepted')).toBe(true);
    const store = new SpannerLedgerStore(second.connection);
    expect(await countRows(second.connection, 'Events')).toBe(lines.length * 2);
    for (const user of users) expect((await store.readAccount(user))?.balanceMicroUsd).toBe(expected.get(user));
    await second.emulator.stop();
  });
});
