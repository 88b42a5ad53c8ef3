import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { parseCommandText } from '../../ledger/core/commands';
import { CommandHandler } from '../../ledger/core/handler';
import { comparePositions } from '../../ledger/core/store';
import { SpannerConnection } from '../../ledger/spanner/connection';
import { SpannerLedgerStore } from '../../ledger/spanner/store';
import { PROJECTION_NAMES } from '../../projections/core';
import { readActivePointers, readGenerationRows } from '../../projections/spanner/generations';
import { readActiveViews } from '../../projections/spanner/view-reads';
import { rebuild, RebuildSupersededError } from '../../projections/spanner/rebuild';
import { verify } from '../../app/audit/verify';
import { runProjector } from '../../projections/spanner/runtime';
import { BIN } from '../support/cli';
import { depositWire } from '../support/commands';
import { ensureCliBuilt } from '../support/kafka';
import { cliEnv, freshConnection } from '../support/spanner';
import { viewTextsOfKind } from '../model/harness';
import { expectedViews } from '../support/views';

/**
 * The rebuild's switch: readers must never be moved to a generation that is behind the one
 * they read, and two rebuilds must never both switch.
 */
jest.setTimeout(180_000);

const deposits = (users: readonly string[], from: number, count: number) =>
  Array.from({ length: count }, (_, i) => {
    const parsed = parseCommandText(JSON.stringify(depositWire(users[(from + i) % users.length]!, from + i, String(1_000_000 + from + i))));
    if (!parsed.ok) throw new Error(parsed.message);
    return parsed.command;
  });

async function generations(connection: SpannerConnection) {
  const [rows] = await connection.database.run({ sql: 'SELECT Projection, Generation, Status FROM ProjectionGenerations ORDER BY Projection, Generation', json: true });
  return (rows as { Projection: string; Generation: number; Status: string }[]).map((row) => `${row.Projection}/${row.Generation}:${row.Status}`);
}

describe('the rebuild switch', () => {
  let connection: SpannerConnection;
  let store: SpannerLedgerStore;
  let handler: CommandHandler;
  const users = ['sw-a', 'sw-b', 'sw-c', 'sw-😀'];

  beforeAll(async () => {
    connection = await freshConnection('sw');
    store = new SpannerLedgerStore(connection);
    handler = new CommandHandler(store, { bonusRateBps: 1000 });
    await handler.handle(deposits(users, 0, 40));
    await runProjector(connection, store);
  });
  afterAll(async () => {
    await connection?.close();
  });

  test('a projector that moves the old generation on after the last catch-up makes the rebuild catch up again before it switches', async () => {
    let moved = 0;
    const report = await rebuild(connection, store, {
      beforeSwitch: async (attempt) => {
        if (attempt > 1) return;
        // What `projections run --follow` would do in this window: new events, applied to the old generation.
        await handler.handle(deposits(users, 100, 6));
        moved = (await runProjector(connection, store)).applied;
      },
    });
    expect(moved).toBe(2 * 12); // 6 deposits with bonus, folded into both views
    expect(report.switchAttempts).toBe(2);
    const [snapshot] = await connection.database.getSnapshot({ strong: true });
    try {
      const active = await readActivePointers(snapshot);
      const states = await readGenerationRows(snapshot, report.projections.flatMap(({ projection, generation, previousGeneration }) => [{ projection, generation }, { projection, generation: previousGeneration }]));
      for (const { projection, generation, previousGeneration } of report.projections) {
        expect(active.get(projection)).toBe(generation);
        const next = states.get(`${projection}/${generation}`)!;
        const previous = states.get(`${projection}/${previousGeneration}`)!;
        expect(previous.status).toBe('retired');
        expect(comparePositions(next.checkpoint!, previous.checkpoint!)).toBeGreaterThanOrEqual(0);
      }
    } finally {
      snapshot.end();
    }
    expect((await readActiveViews(connection)).views).toEqual(await expectedViews(store, users));
  });

  test('of two concurrent rebuilds exactly one switches; the other is abandoned and leaves no generation or row behind', async () => {
    const before = await readActiveViews(connection);
    const buildingRows = async () => (await generations(connection)).filter((entry) => entry.endsWith(':building')).length;
    const first = rebuild(connection, store, {
      beforeSwitch: async (attempt) => {
        if (attempt > 1) return;
        // Switch only once the second rebuild has made its own generations.
        for (let i = 0; i < 200 && (await buildingRows()) < 4; i++) await new Promise((resolve) => setTimeout(resolve, 25));
      },
    });
    const second = rebuild(connection, store, { beforeSwitch: async () => void (await first.catch(() => undefined)) });
    const results = await Promise.allSettled([first, second]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(RebuildSupersededError);
    const entries = await generations(connection);
    for (const name of PROJECTION_NAMES) {
      expect(entries.filter((entry) => entry.startsWith(`${name}/`) && entry.endsWith(':active'))).toHaveLength(1);
    }
    expect(entries.filter((entry) => entry.endsWith(':building'))).toEqual([]);
    const after = await readActiveViews(connection);
    expect(after.views).toEqual(before.views);
    const [rows] = await connection.database.run({
      sql: 'SELECT COUNT(*) AS N FROM TransactionView v WHERE NOT EXISTS (SELECT 1 FROM Projections p WHERE p.Projection = "transactions" AND p.ActiveGeneration = v.Generation)',
      json: true,
    });
    expect(Number((rows as { N: number }[])[0]!.N)).toBe(0);
  });

  test('rebuilds while submit and `projections run --follow` run: readers never see a user go back, and the views end equal to the log', async () => {
    ensureCliBuilt();
    const follower: ChildProcess = spawn(process.execPath, [BIN, 'projections', 'run', '--follow', '--poll-ms', '10', '--log-level', 'warn'], { env: cliEnv(connection), stdio: ['ignore', 'pipe', 'pipe'] });
    let followerErr = '';
    follower.stderr!.on('data', (chunk) => (followerErr += String(chunk)));
    let writing = true;
    let wentBack: string | undefined;
    const seen = new Map<string, number>();
    const writer = (async () => {
      for (let round = 0; writing && round < 200; round++) {
        await handler.handle(deposits(users, 1000 + round * 4, 4));
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    })();
    const reader = (async () => {
      while (writing) {
        const { views } = await readActiveViews(connection);
        for (const text of viewTextsOfKind(views.get('balances'), 'balance')) {
          const row = JSON.parse(text) as { userId: string; version: number };
          const last = seen.get(row.userId) ?? 0;
          if (row.version < last) wentBack ??= `${row.userId}: version ${last} then ${row.version}`;
          seen.set(row.userId, Math.max(last, row.version));
        }
      }
    })();
    try {
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        await rebuild(connection, store);
      }
    } finally {
      writing = false;
      await Promise.all([writer, reader]);
      follower.kill('SIGTERM');
      await once(follower, 'close');
    }
    expect(followerErr).not.toMatch(/"level":(50|60)/);
    expect(wentBack).toBeUndefined();
    expect(seen.size).toBe(users.length);
    const report = await verify(connection, store);
    expect(report.ok).toBe(true);
    expect((await readActiveViews(connection)).views).toEqual(await expectedViews(store, users));
  });
});
