import { DamagedHistoryError } from '../ledger/core/damaged-history';
import { Ledger } from '../app/ledger';
import { LedgerSettingsError, ResolvedLedgerSettings, resolveLedgerSettings, resolveSpannerSettings } from '../app/settings';
import { canConnectTo } from '../ledger/observability/tcp-probe';
import { devStackDir, runningDevStack } from './dev-stack';
import path from 'node:path';
import { accessSync, constants, statSync } from 'node:fs';
import { connect, DEFAULT_SETTINGS, describeTarget, SpannerConnection, SpannerSettings } from '../ledger/spanner/connection';
import { SpannerLedgerStore } from '../ledger/spanner/store';
import { CliError, EXIT } from './errors';
import { CliIo, writeLine } from './io';
import type { OutageObserver } from '../ledger/core/retry';

/** The connection flags every Spanner-backed command takes. */
export interface ConnectionFlags {
  readonly project?: string;
  readonly instance?: string;
  readonly database?: string;
  /** `--deadline-s` of the one-shot commands (see withDeadline). */
  readonly deadlineS?: number;
}

/**
 * This module loads the Spanner client (hundreds of milliseconds); main.ts only imports it
 * lazily, from commands that talk to Spanner, so `--help` never pays for it.
 *
 * Where Spanner is: flags override SPANNER_* variables; without SPANNER_EMULATOR_HOST the
 * emulator started by `spanledger dev up` (remembered in .spanledger/dev.json) is used when
 * it is still running; otherwise real Cloud Spanner with application-default credentials.
 */
export function resolveSettings(io: CliIo, flags: ConnectionFlags): SpannerSettings {
  return resolveSpannerSettings(io.env, { projectId: flags.project, instanceId: flags.instance, databaseId: flags.database }, devEmulatorHost(io));
}

/** The emulator of the running `spanledger dev up` stack, looked up only when asked. */
function devEmulatorHost(io: CliIo): () => string | undefined {
  return () => runningDevStack(io.env, io.cwd).spannerHost;
}

/**
 * The library's Ledger on the target the flags and environment name: every command that
 * reads or decides goes through it, so the CLI and the library are one path. A bad setting
 * (SPANLEDGER_BONUS_BPS, thresholds) is exit 2.
 */
export function openLedgerFor(io: CliIo, flags: ConnectionFlags, options: { batchSize?: number } = {}): Ledger {
  const resolved = cliLedgerSettings(io, flags, options);
  return new Ledger(new SpannerLedgerStore(connect(resolved.spanner)), resolved);
}

/** The ledger's settings from the flags and environment; a bad one is exit 2. */
export function cliLedgerSettings(io: CliIo, flags: ConnectionFlags, options: { batchSize?: number } = {}): ResolvedLedgerSettings {
  try {
    return resolveLedgerSettings({
      env: io.env,
      localEmulatorHost: devEmulatorHost(io),
      projectId: flags.project,
      instanceId: flags.instance,
      databaseId: flags.database,
      ...(flags.deadlineS === undefined ? {} : { deadlineMs: flags.deadlineS * 1000 }),
      onOutage: outageLines(io, 'Spanner', flags.deadlineS),
      ...options,
    });
  } catch (error) {
    if (error instanceof LedgerSettingsError) throw new CliError(error.message, EXIT.invalid);
    throw error;
  }
}

/** One stderr line when a dependency stops answering, one when it answers again. */
export function outageLines(io: CliIo, dependency: string, limitS: number | undefined): OutageObserver {
  return {
    onDown: (error) => writeLine(io.stderr, `spanledger: ${dependency} is not answering (${firstLine(error)}); retrying${limitS === undefined ? '' : ` for up to ${limitS} s`}`),
    onUp: (outageMs) => writeLine(io.stderr, `spanledger: ${dependency} answers again, after ${(outageMs / 1000).toFixed(1)} s`),
  };
}

function firstLine(error: unknown): string {
  return oneLine(error instanceof Error ? error.message : String(error));
}

export function openConnection(io: CliIo, flags: ConnectionFlags): SpannerConnection {
  return connect(resolveSettings(io, flags));
}

export function openStore(io: CliIo, flags: ConnectionFlags): SpannerLedgerStore {
  return new SpannerLedgerStore(openConnection(io, flags));
}

/**
 * The flags that name the same target again, for a hint to repeat: every setting that is not
 * the default (given as a flag or by SPANNER_* variables; repeating it is harmless either way).
 */
export function targetFlags(settings: SpannerSettings): string {
  const flags: string[] = [];
  if (settings.projectId !== DEFAULT_SETTINGS.projectId) flags.push(`--project ${settings.projectId}`);
  if (settings.instanceId !== DEFAULT_SETTINGS.instanceId) flags.push(`--instance ${settings.instanceId}`);
  if (settings.databaseId !== DEFAULT_SETTINGS.databaseId) flags.push(`--database ${settings.databaseId}`);
  return flags.map((flag) => ` ${flag}`).join('');
}

/** How the CLI chose where Spanner is, for messages about the target. */
export function targetSource(io: CliIo, settings: SpannerSettings): string {
  if (io.env.SPANNER_EMULATOR_HOST) return `the emulator at ${settings.emulatorHost} (SPANNER_EMULATOR_HOST)`;
  const dir = devStackDir(io.env, io.cwd);
  if (settings.emulatorHost) return `the emulator of \`spanledger dev up\` at ${settings.emulatorHost} (${path.join(dir, 'dev.json')})`;
  return `real Cloud Spanner: SPANNER_EMULATOR_HOST is not set and no \`spanledger dev up\` stack runs for ${dir} (SPANLEDGER_STATE_DIR)`;
}

function isReadableFile(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

const POINT_AT_DEV_STACK = 'for the local stack run `spanledger dev up` here (or set SPANLEDGER_STATE_DIR to the .spanledger folder where it ran), or export SPANNER_EMULATOR_HOST=host:port';

/**
 * Fails fast, with a clear message, before a command talks to Spanner: the emulator named by
 * the settings must be listening (the client would otherwise retry for a minute), and the
 * database must exist, unless the command creates it (`db migrate`). A database that does not
 * exist is named with the ones that do, since it is more often a typo than a new ledger.
 */
export async function preflight(io: CliIo, flags: ConnectionFlags, options: { createsDatabase?: boolean } = {}): Promise<void> {
  const settings = resolveSettings(io, flags);
  if (settings.emulatorHost) {
    if (!(await canConnectTo(settings.emulatorHost, 2_000))) {
      throw new CliError(`cannot reach ${targetSource(io, settings)}`, EXIT.failure, 'start one with `spanledger dev up`, or fix SPANNER_EMULATOR_HOST');
    }
  }
  const credentials = io.env.GOOGLE_APPLICATION_CREDENTIALS;
  if (!settings.emulatorHost && credentials && !isReadableFile(path.resolve(io.cwd, credentials))) {
    // Checked here: the client would print its own stack trace for it before failing.
    throw new CliError(`no credentials for ${targetSource(io, settings)}: GOOGLE_APPLICATION_CREDENTIALS names ${credentials}, which cannot be read`, EXIT.failure, POINT_AT_DEV_STACK);
  }
  if (options.createsDatabase) return;
  const connection = connect(settings);
  try {
    const [exists] = await connection.database.exists();
    if (exists) return;
    const [instanceExists] = await connection.instance.exists();
    if (!instanceExists) {
      throw new CliError(`instance ${settings.instanceId} does not exist in project ${settings.projectId} on ${targetSource(io, settings)}`, EXIT.failure, `check --instance; \`spanledger db migrate${targetFlags(settings)}\` creates it on the emulator`);
    }
    const [databases] = await connection.instance.getDatabases();
    const names = databases.map((database) => database.formattedName_.split('/').pop()!).sort();
    throw new CliError(
      `database ${settings.databaseId} does not exist in instance ${settings.instanceId} (it has: ${names.length > 0 ? names.join(', ') : 'no database'})`,
      EXIT.failure,
      `check --database; to create a new ledger there: spanledger db migrate${targetFlags(settings)}`,
    );
  } catch (error) {
    // Some roles may read and write data but not see database metadata: the command decides.
    if ((error as { code?: unknown })?.code === PERMISSION_DENIED) return;
    throw explainSpannerError(error, settings, io);
  } finally {
    await connection.close();
  }
}

/** First line of an error message, at most 300 characters: the CLI prints one line. */
function oneLine(message: string): string {
  const first = message.split('\n')[0]!.trim();
  return first.length > 300 ? `${first.slice(0, 297)}...` : first;
}

/** gRPC status codes the CLI explains (see google.rpc.Code). */
const NOT_FOUND = 5;
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;
const PERMISSION_DENIED = 7;

/**
 * Turns a Spanner fault into a one-line CLI error with what to do about it. Hints repeat the
 * flags that name the target, so following one acts on the same database.
 */
export function explainSpannerError(error: unknown, settings: SpannerSettings, io?: CliIo): CliError {
  if (error instanceof CliError) return error;
  // Damage to the stored history is not a fault of Spanner: it is what the audit reports (exit 5).
  if (error instanceof DamagedHistoryError) return new CliError(error.message, EXIT.mismatch);
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  const target = describeTarget(settings);
  if (/default credentials|credential file/i.test(message)) {
    return new CliError(`${target}: no credentials for ${io ? targetSource(io, settings) : 'real Cloud Spanner'}`, EXIT.failure, POINT_AT_DEV_STACK);
  }
  if (/Table not found|Index not found|Column not found/i.test(message)) {
    return new CliError(`${target}: the database is not migrated to this version (${oneLine(message)})`, EXIT.failure, `run \`spanledger db migrate${targetFlags(settings)}\``);
  }
  if (code === NOT_FOUND || /Database not found|Instance not found/i.test(message)) {
    return new CliError(`${target}: ${oneLine(message)}`, EXIT.failure, `check --database and --instance; \`spanledger db migrate${targetFlags(settings)}\` creates that database`);
  }
  if (code === UNAVAILABLE || code === DEADLINE_EXCEEDED) {
    return new CliError(`cannot reach ${target}: ${oneLine(message)}`, EXIT.failure, settings.emulatorHost ? 'is the emulator running? `spanledger dev up` starts one' : 'check network access and credentials');
  }
  return new CliError(`${target}: ${oneLine(message)}`, EXIT.failure);
}
