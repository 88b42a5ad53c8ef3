import { LIMITS } from '../ledger/core/limits';
import type { Admin } from 'kafkajs';
import { canConnectTo } from '../ledger/observability/tcp-probe';
import { runningDevStack } from './dev-stack';
import type { KafkaSettings } from '../ledger/kafka/client';
import type { SpannerConnection } from '../ledger/spanner/connection';
import type { SpannerLedgerStore } from '../ledger/spanner/store';
import { PROJECTION_NAMES } from '../projections/core/projection';
import { kafkaSettings } from './consume';
import { ConnectionFlags, openConnection, resolveSettings, targetFlags } from './context';
import { CliError, EXIT, ExitCode } from './errors';
import { CliIo, writeLine } from './io';

/**
 * `spanledger doctor`: what is wrong with this installation, and what to do about it.
 * Every check ends as ok, warn or fail with one "what to do" line; a check that cannot run
 * because an earlier one failed is listed as a warning saying so. Exit 1 when any failed.
 * Each check has a time limit, so an unreachable service never hangs the doctor.
 */
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** What to do; empty when there is nothing to do. */
  readonly hint: string;
}

export interface DoctorReport {
  readonly ok: boolean;
  readonly checks: CheckResult[];
}

export interface DoctorFlags extends ConnectionFlags {
  readonly json?: boolean;
  readonly timeoutMs?: number;
}

/** Topics looked up on the broker for the inbox lag, at most. */
const INBOX_TOPICS_MAX = 20;

class CheckTimeout extends Error {}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = text.split('\n')[0]!.trim();
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

const ok = (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail, hint: '' });
const warn = (name: string, detail: string, hint: string): CheckResult => ({ name, status: 'warn', detail, hint });
const fail = (name: string, detail: string, hint: string): CheckResult => ({ name, status: 'fail', detail, hint });
const skipped = (name: string, because: string): CheckResult => warn(name, `not checked: ${because}`, 'fix the failed check above first');



export async function runDoctor(io: CliIo, flags: DoctorFlags): Promise<DoctorReport> {
  const timeoutMs = flags.timeoutMs ?? 10_000;
  const checks: CheckResult[] = [];
  const settings = resolveSettings(io, flags);
  const target = settings.emulatorHost ? `emulator ${settings.emulatorHost}` : 'Cloud Spanner';
  const dbPath = `${settings.projectId}/${settings.instanceId}/${settings.databaseId}`;
  // Hints repeat the flags that name this target, so following one acts on the same database.
  const again = targetFlags(settings);
  const MIGRATE_HINT = `run \`spanledger db migrate${again}\``;

  const spannerChecks = ['spanner.reachable', 'spanner.instance', 'spanner.database', 'schema.version', ...PROJECTION_NAMES.map((name) => `projections.${name}`), 'views.accounts', 'kafka.inbox', 'kafka.publishers'];
  let connection: SpannerConnection | undefined;
  let store: SpannerLedgerStore | undefined;
  let blocked: string | undefined;
  const skipRest = (because: string) => {
    blocked = because;
    for (const name of spannerChecks) if (!checks.some((check) => check.name === name) && !name.startsWith('kafka.')) checks.push(skipped(name, because));
  };

  // 1. Reachability: a TCP connect to the emulator; for Cloud Spanner, the instance lookup below.
  if (settings.emulatorHost) {
    const reachable = await canConnectTo(settings.emulatorHost, Math.min(timeoutMs, 2_000));
    checks.push(reachable ? ok('spanner.reachable', `${target} accepts connections`) : fail('spanner.reachable', `cannot connect to ${target}`, 'start one with `spanledger dev up`, or fix SPANNER_EMULATOR_HOST'));
    if (!reachable) skipRest('Spanner unreachable');
  }

  if (!blocked) {
    connection = openConnection(io, flags);
    try {
      const [instanceExists] = await withTimeout(connection.instance.exists(), timeoutMs, 'instance lookup');
      if (!settings.emulatorHost) checks.push(ok('spanner.reachable', `${target} answers (project ${settings.projectId})`));
      checks.push(
        instanceExists
          ? ok('spanner.instance', `instance ${settings.instanceId} exists`)
          : fail('spanner.instance', `instance ${settings.instanceId} does not exist on ${target}`, settings.emulatorHost ? MIGRATE_HINT : 'create the instance in Cloud Spanner (or fix SPANNER_INSTANCE_ID / --instance)'),
      );
      if (!instanceExists) skipRest('no instance');
    } catch (error) {
      checks.push(fail(settings.emulatorHost ? 'spanner.instance' : 'spanner.reachable', `${target}: ${firstLine(error)}`, settings.emulatorHost ? 'is the emulator healthy? restart it with `spanledger dev down && spanledger dev up`' : 'check network access and application-default credentials (`gcloud auth application-default login`)'));
      skipRest('Spanner did not answer');
    }
  }

  if (!blocked && connection) {
    try {
      const [databaseExists] = await withTimeout(connection.database.exists(), timeoutMs, 'database lookup');
      if (databaseExists) checks.push(ok('spanner.database', `database ${dbPath} exists`));
      else {
        checks.push(fail('spanner.database', `database ${dbPath} does not exist`, `${MIGRATE_HINT} to create it and its schema`));
        skipRest('no database');
      }
    } catch (error) {
      checks.push(fail('spanner.database', `${dbPath}: ${firstLine(error)}`, MIGRATE_HINT));
      skipRest('database lookup failed');
    }
  }

  if (!blocked && connection) {
    const { schemaStateOf } = await import('../ledger/spanner/migrate');
    const { MIGRATIONS } = await import('../app/schema');
    try {
      const state = await withTimeout(schemaStateOf(connection, MIGRATIONS), timeoutMs, 'schema version');
      if (state.pending.length > 0) {
        checks.push(fail('schema.version', `${state.applied.length} of ${MIGRATIONS.length} migrations applied (pending: ${state.pending.join(', ')})`, MIGRATE_HINT));
        skipRest('schema not current');
      } else if (state.unknown.length > 0) {
        checks.push(warn('schema.version', `the database has migrations this spanledger does not know (${state.unknown.join(', ')}): a newer version migrated it`, 'upgrade spanledger to the version that migrated this database'));
      } else {
        checks.push(ok('schema.version', `all ${MIGRATIONS.length} migrations applied`));
      }
    } catch (error) {
      checks.push(fail('schema.version', firstLine(error), MIGRATE_HINT));
      skipRest('schema unreadable');
    }
  }

  if (!blocked && connection) {
    const { SpannerLedgerStore } = await import('../ledger/spanner/store');
    store = new SpannerLedgerStore(connection);
    const projections = await projectionChecks(connection, store, timeoutMs);
    checks.push(...projections.results);
    checks.push(await viewsCheck(connection, projections.balancesCaughtUp, timeoutMs));
  }

  // Kafka: only when configured (KAFKA_BROKERS, or the broker `dev up` started).
  const kafka = await kafkaCheck(io, timeoutMs);
  checks.push(kafka.result);
  if (!blocked && connection && store) {
    checks.push(...(await relayChecks(connection, store, kafka.admin, timeoutMs)));
  } else {
    checks.push(skipped('kafka.inbox', blocked ?? 'no database'), skipped('kafka.publishers', blocked ?? 'no database'));
  }
  await kafka.admin?.disconnect().catch(() => undefined);
  await connection?.close().catch(() => undefined);
  return { ok: checks.every((check) => check.status !== 'fail'), checks };
}

/**
 * Per projection: a generation behind the log is normal when no projector follows it (every
 * read catches its view up first), so that is ok, said as such; behind while a projector holds
 * the lease, or a rebuild left half-way, is a warning.
 */
async function projectionChecks(connection: SpannerConnection, store: SpannerLedgerStore, timeoutMs: number): Promise<{ results: CheckResult[]; balancesCaughtUp: boolean }> {
  const again = targetFlags(connection.settings);
  const { projectionStatus } = await import('../projections/spanner/projection-status');
  const { PROJECTION_NAMES } = await import('../projections/core');
  try {
    const [statuses, head] = await withTimeout(Promise.all([projectionStatus(connection, store), store.readAll(null, 1)]), timeoutMs, 'projection status');
    const logEmpty = head.events.length === 0;
    const balancesCaughtUp = statuses.some((status) => status.projection === 'balances' && status.generation !== null && status.lag === 0);
    const results = statuses.map((status) => {
      const name = `projections.${status.projection}`;
      const lag = status.lagIsLowerBound ? `>=${status.lag}` : String(status.lag);
      if (status.generation === null) {
        return logEmpty
          ? ok(name, 'no generation yet and the log is empty (created on the first run)')
          : warn(name, `no active generation; ${lag} event(s) not projected`, `run \`spanledger projections run${again}\` (or keep \`spanledger projections run --follow${again}\` running)`);
      }
      const building = status.building.length > 0 ? `; building generation(s) ${status.building.join(',')}` : '';
      if (status.lag > 0 && status.leaseOwner === null && !building) {
        return ok(name, `generation ${status.generation}: ${lag} event(s) not projected yet, as expected with no projector following the log (reads catch their views up first; \`projections run --follow\` keeps them current)`);
      }
      if (status.lag > 0) {
        return warn(name, `generation ${status.generation} is ${lag} event(s) behind the log (${status.eventsApplied} applied)${building}`, `run \`spanledger projections run${again}\`, or keep \`spanledger projections run --follow${again}\` running`);
      }
      if (building) {
        return warn(name, `generation ${status.generation} caught up${building}`, `a rebuild is running or was interrupted: let it finish, or run \`spanledger projections rebuild${again}\` again`);
      }
      return ok(name, `generation ${status.generation} caught up (${status.eventsApplied} applied)`);
    });
    return { results, balancesCaughtUp };
  } catch (error) {
    const results = PROJECTION_NAMES.map((projection) => fail(`projections.${projection}`, firstLine(error), `run \`spanledger projections rebuild${again}\` if the status tables are damaged; \`spanledger projections status${again}\` shows more`));
    return { results, balancesCaughtUp: false };
  }
}

/**
 * Quick write-side vs view check: the number of accounts and the sum of their balances,
 * in Accounts and in the active balance view, read in one snapshot. Only meaningful when
 * the balances projection is caught up; a mismatch can also be a write that landed just
 * now, so it is a warning that points at `projections verify`.
 */
async function viewsCheck(connection: SpannerConnection, balancesCaughtUp: boolean, timeoutMs: number): Promise<CheckResult> {
  const again = targetFlags(connection.settings);
  const name = 'views.accounts';
  if (!balancesCaughtUp) return ok(name, `not compared: the balances view has not applied the latest events yet (\`spanledger projections run${again}\`, then doctor, compares them)`);
  try {
    const { readBalanceTotals } = await import('../projections/spanner/books');
    const { accounts, accountsSum, viewRows, viewSum } = await withTimeout(readBalanceTotals(connection), timeoutMs, 'views check');
    if (accounts === viewRows && accountsSum === viewSum) return ok(name, `${accounts} account(s), balances sum to ${accountsSum} micro-USD in both`);
    return warn(name, `Accounts: ${accounts} row(s), sum ${accountsSum}; balance view: ${viewRows} row(s), sum ${viewSum}`, `run \`spanledger projections verify${again}\` (a write that just landed also explains it)`);
  } catch (error) {
    return warn(name, `not compared: ${firstLine(error)}`, `run \`spanledger projections verify${again}\``);
  }
}

/** The Kafka settings when Kafka is configured (env or dev state), else undefined. */
async function configuredKafka(io: CliIo): Promise<KafkaSettings | undefined> {
  if (!io.env.KAFKA_BROKERS) {
    try {
      if (!runningDevStack(io.env, io.cwd).kafkaBrokers) return undefined;
    } catch {
      return undefined;
    }
  }
  return kafkaSettings(io);
}

async function kafkaCheck(io: CliIo, timeoutMs: number): Promise<{ result: CheckResult; admin?: Admin }> {
  const name = 'kafka.brokers';
  let settings: KafkaSettings | undefined;
  try {
    settings = await configuredKafka(io);
  } catch (error) {
    return { result: fail(name, firstLine(error), error instanceof CliError && error.suggestion ? error.suggestion : 'fix the KAFKA_* settings') };
  }
  if (!settings) return { result: ok(name, 'not configured (KAFKA_BROKERS unset, no `dev up` broker): skipped') };
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({
    clientId: `${settings.clientId}-doctor`,
    brokers: settings.brokers,
    ssl: settings.ssl,
    ...(settings.sasl ? { sasl: settings.sasl } : {}),
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(3_000, timeoutMs),
    requestTimeout: Math.min(5_000, timeoutMs),
    retry: { retries: 1, initialRetryTime: 100 },
  });
  const admin = kafka.admin();
  try {
    await withTimeout(admin.connect(), timeoutMs, 'broker connect');
    const cluster = await withTimeout(admin.describeCluster(), timeoutMs, 'describeCluster');
    return { result: ok(name, `${cluster.brokers.length} broker(s) at ${settings.brokers.join(',')}, controller ${cluster.controller ?? 'unknown'}`), admin };
  } catch (error) {
    await admin.disconnect().catch(() => undefined);
    // Never echo the settings themselves: they may carry the SASL password.
    return { result: fail(name, `cannot reach ${settings.brokers.join(',')}: ${firstLine(error)}`, 'is the broker running? check KAFKA_BROKERS (and KAFKA_SSL / KAFKA_SASL_*); `spanledger dev up` starts a local one') };
  }
}

/** Inbox (consumed offsets) and publisher checkpoints: a summary, with lag where it can be known. */
async function relayChecks(connection: SpannerConnection, store: SpannerLedgerStore, admin: Admin | undefined, timeoutMs: number): Promise<CheckResult[]> {
  return [await inboxCheck(connection, admin, timeoutMs), await publishersCheck(connection, store, admin, timeoutMs)];
}

/** The consumers' inbox per group and topic, with its lag behind the broker (a few topics at most). */
async function inboxCheck(connection: SpannerConnection, admin: Admin | undefined, timeoutMs: number): Promise<CheckResult> {
  const again = targetFlags(connection.settings);
  try {
    const { listInbox } = await import('../ledger/kafka/inbox-admin');
    const rows = await withTimeout(listInbox(connection), timeoutMs, 'inbox');
    const groups = new Map<string, { group: string; topic: string; offsets: Map<number, bigint> }>();
    for (const row of rows) {
      const key = `${row.group}\u0000${row.topic}`;
      const entry = groups.get(key) ?? { group: row.group, topic: row.topic, offsets: new Map<number, bigint>() };
      entry.offsets.set(row.partition, BigInt(row.nextOffset));
      groups.set(key, entry);
    }
    if (groups.size === 0) return ok('kafka.inbox', 'no consumer has committed yet');
    else {
      const { partitionLag } = await import('../ledger/kafka/inbox');
      const parts: string[] = [];
      let behind: { group: string; topic: string } | undefined;
      let otherLog: { group: string; topic: string; partition: number; detail: string } | undefined;
      let looked = 0;
      for (const { group, topic, offsets } of groups.values()) {
        let lagText = 'lag unknown (broker not checked)';
        if (admin && looked < INBOX_TOPICS_MAX) {
          looked++;
          try {
            const ends = await withTimeout(admin.fetchTopicOffsets(topic), Math.min(timeoutMs, 5_000), `offsets of ${topic}`);
            let lag = 0n;
            for (const end of ends) {
              const next = offsets.get(end.partition);
              const partitionOffsets = { partition: end.partition, low: BigInt(end.low), high: BigInt(end.high) };
              if (next !== undefined && partitionOffsets.high < next) {
                otherLog ??= { group, topic, partition: end.partition, detail: `${topic}/${end.partition} ends at ${end.high}, below its inbox offset ${next}` };
              }
              lag += partitionLag(next === undefined ? undefined : { group, topic, partition: end.partition, nextOffset: next.toString() }, partitionOffsets);
            }
            lagText = `lag ${lag}`;
            if (lag > 0n) behind ??= { group, topic };
          } catch (error) {
            lagText = `lag unknown (${firstLine(error)})`;
          }
        }
        parts.push(`${group}/${topic}: ${offsets.size} partition(s), ${lagText}`);
      }
      const detail = parts.join('; ');
      if (otherLog) {
        return fail(
          'kafka.inbox',
          `${otherLog.detail}: not the log the inbox of group ${otherLog.group} was written from (recreated topic or another cluster); ${detail}`,
          `if the new log is the one to apply: \`spanledger inbox reset --group ${otherLog.group} --topic ${otherLog.topic} --partition ${otherLog.partition}${again}\``,
        );
      }
      return behind
        ? warn('kafka.inbox', detail, `a consumer is behind (or stopped): run \`spanledger consume --topic ${behind.topic} --group ${behind.group}${again}\``)
        : ok('kafka.inbox', detail);
    }
  } catch (error) {
    return fail('kafka.inbox', firstLine(error), `run \`spanledger db migrate${again}\``);
  }
}

/** Each publisher's checkpoint, with how far it is behind the log and whether its topic kept what it sent. */
async function publishersCheck(connection: SpannerConnection, store: SpannerLedgerStore, admin: Admin | undefined, timeoutMs: number): Promise<CheckResult> {
  const again = targetFlags(connection.settings);
  try {
    const { listPublisherCheckpoints } = await import('../ledger/kafka/publisher-checkpoint');
    const list = await withTimeout(listPublisherCheckpoints(connection), timeoutMs, 'publisher checkpoints');
    if (list.length === 0) return ok('kafka.publishers', 'no publisher has published yet');
    else {
      const { readCheckpoint } = await import('../ledger/kafka/publisher');
      const { shrunkPartitions } = await import('../ledger/kafka/publisher-checkpoint');
      const parts: string[] = [];
      let behind: { publisher: string; topic: string } | undefined;
      let shrunk: { publisher: string; topic: string; detail: string } | undefined;
      for (const row of list) {
        const checkpoint = await withTimeout(readCheckpoint(connection, row.publisher, row.topic), timeoutMs, 'publisher checkpoint');
        const page = await withTimeout(store.readAll(checkpoint.position, LIMITS.lagCountMax), timeoutMs, 'publisher lag');
        const lag = page.events.length === LIMITS.lagCountMax ? `>=${LIMITS.lagCountMax}` : String(page.events.length);
        if (page.events.length > 0) behind ??= { publisher: row.publisher, topic: row.topic };
        if (admin) {
          try {
            const highs = new Map((await withTimeout(admin.fetchTopicOffsets(row.topic), Math.min(timeoutMs, 5_000), `offsets of ${row.topic}`)).map((end) => [end.partition, BigInt(end.high)]));
            const lost = shrunkPartitions(checkpoint, highs);
            if (lost.length > 0) shrunk ??= { publisher: row.publisher, topic: row.topic, detail: lost.map((entry) => `partition ${entry.partition} ends at ${entry.high}, ${entry.wrote} were written`).join(', ') };
          } catch {
            // The lag above is still worth reporting; the broker check is best effort here.
          }
        }
        parts.push(`${row.publisher}->${row.topic}: ${checkpoint.publishedEvents} published, ${lag} behind`);
      }
      const detail = parts.join('; ');
      if (shrunk) {
        return fail('kafka.publishers', `${shrunk.topic} lost what publisher ${shrunk.publisher} sent (${shrunk.detail}): recreated or truncated; ${detail}`, `publish the history again: \`spanledger publish --topic ${shrunk.topic} --name ${shrunk.publisher} --from-start${again}\``);
      } else {
        return behind ? warn('kafka.publishers', detail, `run \`spanledger publish --topic ${behind.topic} --name ${behind.publisher}${again}\``) : ok('kafka.publishers', detail);
      }
    }
  } catch (error) {
    return fail('kafka.publishers', firstLine(error), `run \`spanledger db migrate${again}\``);
  }
}

/** Words of `text` in lines of at most `width` characters (a longer word gets a line of its own). */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.length > 0 ? lines : [''];
}

/**
 * One check per block, its detail and what to do wrapped to the terminal's width (COLUMNS,
 * else 100), so the report reads in any terminal rather than as one 250-column table.
 */
export function renderDoctor(report: DoctorReport, width = 100): string {
  const nameWidth = Math.max(...report.checks.map((check) => check.name.length));
  const indent = 6 + nameWidth + 2;
  const textWidth = Math.max(30, width - indent);
  const lines: string[] = [];
  for (const check of report.checks) {
    const detail = wrapText(check.detail, textWidth);
    lines.push(`${check.status.toUpperCase().padEnd(6)}${check.name.padEnd(nameWidth + 2)}${detail[0]}`);
    for (const more of detail.slice(1)) lines.push(`${' '.repeat(indent)}${more}`);
    if (check.hint) for (const [index, hint] of wrapText(`→ ${check.hint}`, textWidth).entries()) lines.push(`${' '.repeat(indent)}${index === 0 ? '' : '  '}${hint}`);
  }
  const count = (status: CheckStatus) => report.checks.filter((check) => check.status === status).length;
  return `${lines.join('\n')}\n\n${report.ok ? 'OK' : 'FAILED'}: ${count('ok')} ok, ${count('warn')} warning(s), ${count('fail')} failed`;
}

/** The width to wrap to: the terminal's, else COLUMNS, else 100. */
function outputWidth(io: CliIo): number {
  const columns = (io.stdout as { columns?: number }).columns ?? Number(io.env.COLUMNS);
  return Number.isInteger(columns) && columns >= 40 ? columns : 100;
}

export async function doctor(io: CliIo, flags: DoctorFlags): Promise<ExitCode> {
  const report = await runDoctor(io, flags);
  writeLine(io.stdout, flags.json ? JSON.stringify(report) : renderDoctor(report, outputWidth(io)));
  return report.ok ? EXIT.ok : EXIT.failure;
}
