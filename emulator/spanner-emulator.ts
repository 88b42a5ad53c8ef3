/**
 * The local Cloud Spanner emulator (`emulator_main`, gRPC only), started and supervised so
 * that it never outlives the process that started it (see ./process.ts).
 */
import os from 'node:os';
import path from 'node:path';
import { canConnect } from '../ledger/observability/tcp-probe';
import { loopbackPortOwner, pickFreePort } from './loopback-ports';
import { awaitReady, isExecutableFile, StartupError, supervise } from './process';

/** Where the Debian package `google-cloud-cli-spanner-emulator` installs the emulator. */
export const SYSTEM_EMULATOR_DIRS: readonly string[] = ['/usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator'];
/** The emulator usually listens within a few ms; 20 s covers a loaded CI machine. */
export const EMULATOR_READY_TIMEOUT_MS = 20_000;
/** A picked port can be taken before the emulator binds it; that many fresh ports are tried. */
const PORT_ATTEMPTS = 3;
const LOOPBACK = '127.0.0.1';

export class EmulatorNotFoundError extends Error {
  constructor(readonly checked: readonly string[]) {
    super(
      [
        `Cloud Spanner emulator not found (no executable emulator_main in: ${checked.join(', ')}).`,
        'Install it with one of:',
        '  gcloud components install cloud-spanner-emulator',
        '  apt-get install google-cloud-cli-spanner-emulator   (Debian/Ubuntu, Google Cloud CLI apt repository)',
        '  docker run -p 9010:9010 gcr.io/cloud-spanner-emulator/emulator   (container image)',
        'or set SPANNER_EMULATOR_BIN_DIR to the folder that holds emulator_main,',
        'or set SPANNER_EMULATOR_HOST=host:port to use an emulator that is already running.',
      ].join('\n'),
    );
    this.name = 'EmulatorNotFoundError';
  }
}

/**
 * The folder holding `emulator_main`: $SPANNER_EMULATOR_BIN_DIR, then `systemDirs` (the
 * Debian package layout by default; tests pass their own), then the gcloud SDK under $HOME.
 */
export function findEmulatorBinDir(env: NodeJS.ProcessEnv = process.env, systemDirs: readonly string[] = SYSTEM_EMULATOR_DIRS): string {
  const home = env.HOME || os.homedir();
  const candidates = [env.SPANNER_EMULATOR_BIN_DIR, ...systemDirs, path.join(home, 'google-cloud-sdk/bin/cloud_spanner_emulator')].filter(
    (dir): dir is string => !!dir,
  );
  const found = candidates.find((dir) => isExecutableFile(path.join(dir, 'emulator_main')));
  if (found === undefined) throw new EmulatorNotFoundError(candidates);
  return found;
}

export interface StartEmulatorOptions {
  /** Defaults to `findEmulatorBinDir()`. */
  binDir?: string;
  /** Defaults to a free loopback port. */
  port?: number;
  /** Survive this process (for `spanledger dev up`); stop it later with `stopProcessGroup(pid)`. */
  detached?: boolean;
  /** Append the emulator's output here; without it the output is discarded (attached) or kept in a temp file (detached). */
  logFile?: string;
}

export interface RunningEmulator {
  /** "127.0.0.1:PORT", the value for SPANNER_EMULATOR_HOST. */
  host: string;
  /** Also the emulator's process group id. */
  pid: number;
  /** SIGTERM, SIGKILL after 5 s; idempotent. */
  stop(): Promise<void>;
}

/** Starts `emulator_main` on a loopback port and resolves once it accepts connections. */
export async function startSpannerEmulator(options: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  const binDir = options.binDir ?? findEmulatorBinDir();
  if (!isExecutableFile(path.join(binDir, 'emulator_main'))) throw new EmulatorNotFoundError([binDir]);
  const attempts = options.port === undefined ? PORT_ATTEMPTS : 1;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await pickFreePort());
    try {
      return await startOnPort(binDir, port, options);
    } catch (error) {
      if (attempt >= attempts || !isPortClash(error)) throw error;
    }
  }
}

async function startOnPort(binDir: string, port: number, options: StartEmulatorOptions): Promise<RunningEmulator> {
  const child = supervise({
    name: 'Cloud Spanner emulator',
    command: path.join(binDir, 'emulator_main'),
    args: ['--host_port', `${LOOPBACK}:${port}`],
    detached: options.detached,
    logFile: options.logFile,
  });
  await awaitReady(child, () => listening(child.pid, port), EMULATOR_READY_TIMEOUT_MS);
  return { host: `${LOOPBACK}:${port}`, pid: child.pid, stop: () => child.stop() };
}

/**
 * True once the emulator itself listens on `port` and accepts a connection. The gRPC server
 * listens only after its services are registered, so that means calls will be served.
 */
async function listening(pid: number, port: number): Promise<true | undefined> {
  const owner = loopbackPortOwner(pid, port);
  // gRPC binds with SO_REUSEPORT, so a second emulator on a taken port does not fail: both
  // listen and the kernel splits connections between them. Never share.
  if (owner === 'shared') throw new PortInUseError(port);
  // 'foreign': someone else holds the port; the emulator will fail to bind and exit.
  if (owner !== 'ours' && owner !== 'unknown') return undefined;
  return (await canConnect(LOOPBACK, port)) ? true : undefined;
}

/** The emulator could not have its port to itself. */
export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`Cloud Spanner emulator: port ${port} on ${LOOPBACK} is in use by another process`);
    this.name = 'PortInUseError';
  }
}

function isPortClash(error: unknown): boolean {
  if (error instanceof PortInUseError) return true;
  return error instanceof StartupError && /EADDRINUSE|Address already in use|Failed to bind/i.test(error.output);
}
