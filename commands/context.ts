import { devStateDir, isAlive, readDevState } from '../emulator/dev-state';
import { canConnect } from '../emulator/process';
import { connect, describeTarget, SpannerConnection, SpannerSettings, settingsFromEnv } from '../ledger/spanner/connection';
import { SpannerLedgerStore } from '../ledger/spanner/store';
import { CliError, EXIT } from './errors';
import { CliIo } from './io';

/** The connection flags every Spanner-backed command takes. */
export interface ConnectionFlags {
  readonly project?: string;
  readonly instance?: string;
  readonly database?: string;
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
  let emulatorHost = io.env.SPANNER_EMULATOR_HOST || undefined;
  if (!emulatorHost) {
    const state = readDevState(devStateDir(io.env, io.cwd));
    if (state?.spanner && isAlive(state.spanner.pid)) emulatorHost = state.spanner.host;
  }
  return settingsFromEnv(io.env, {
    projectId: flags.project,
    instanceId: flags.instance,
    databaseId: flags.database,
    emulatorHost,
  });
}

export function openConnection(io: CliIo, flags: ConnectionFlags): SpannerConnection {
  return connect(resolveSettings(io, flags));
}

export function openStore(io: CliIo, flags: ConnectionFlags): SpannerLedgerStore {
  return new SpannerLedgerStore(openConnection(io, flags));
}

/**
 * Fails fast, with a clear message, when the emulator named by the settings is not
 * listening: the client would otherwise retry for a minute before giving up.
 */
export async function preflight(io: CliIo, flags: ConnectionFlags): Promise<void> {
  const settings = resolveSettings(io, flags);
  if (!settings.emulatorHost) return;
  const separator = settings.emulatorHost.lastIndexOf(':');
  const host = settings.emulatorHost.slice(0, separator);
  const port = Number(settings.emulatorHost.slice(separator + 1));
  if (!(await canConnect(host, port, 2_000))) {
    throw new CliError(`cannot reach the Spanner emulator at ${settings.emulatorHost} (SPANNER_EMULATOR_HOST)`, EXIT.failure, 'start one with `spanledger dev up`, or fix SPANNER_EMULATOR_HOST');
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

/** Turns a Spanner fault into a one-line CLI error with what to do about it. */
export function explainSpannerError(error: unknown, settings: SpannerSettings): CliError {
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  const target = describeTarget(settings);
  if (code === NOT_FOUND || /Database not found|Instance not found|Table not found/i.test(message)) {
    return new CliError(`${target}: ${oneLine(message)}`, EXIT.failure, 'run `spanledger db migrate` to create the database and schema');
  }
  if (code === UNAVAILABLE || code === DEADLINE_EXCEEDED) {
    return new CliError(
      `cannot reach ${target}: ${oneLine(message)}`,
      EXIT.failure,
      settings.emulatorHost ? 'is the emulator running? `spanledger dev up` starts one' : 'check network access and credentials',
    );
  }
  return new CliError(`${target}: ${oneLine(message)}`, EXIT.failure);
}
