/**
 * Process supervision shared by the Spanner emulator and the kcat mock broker.
 *
 * The promise this module keeps: an attached child (the default) never outlives the node
 * process that started it, however that process dies. Three layers give that:
 *   1. `stop()` — the orderly path: SIGTERM to the child's process group, SIGKILL after a grace period.
 *   2. 'exit' / SIGINT / SIGTERM handlers — the parent is going down but still runs JS.
 *   3. a watchdog shell — the parent was SIGKILLed (or crashed in native code) and runs nothing:
 *      a tiny `sh` in its own session polls the parent and kills the group once it is gone.
 * A detached child (`spanledger dev up`) opts out of all three and is stopped later by pid.
 */
import { ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** How long `stop()` waits after SIGTERM before it sends SIGKILL. */
export const STOP_GRACE_MS = 5_000;
/** Poll interval for readiness and exit checks. */
export const POLL_INTERVAL_MS = 50;
/** How much of a child's output error messages quote. */
const OUTPUT_TAIL_CHARS = 4_000;
/** Attached children keep at most this much output in memory; the rest is discarded. */
const OUTPUT_BUFFER_CHARS = 64_000;

export interface SuperviseOptions {
  /** Display name used in error messages ("Cloud Spanner emulator", "kcat mock broker"). */
  name: string;
  command: string;
  args: readonly string[];
  /** Survive the parent: no watchdog, no exit handlers, unref'ed, output to a file. */
  detached?: boolean;
  /** Where stdout and stderr go (appended). Without it, output is kept only in a bounded buffer. */
  logFile?: string;
}

export interface Supervised {
  readonly name: string;
  readonly pid: number;
  /** The child's output so far (stdout and stderr interleaved; the last 64 KB when attached without a log file). */
  output(): string;
  /** Set once the child exited; `describeExit()` words it. */
  exited(): boolean;
  describeExit(): string;
  /** SIGTERM the group, SIGKILL after `STOP_GRACE_MS`; also ends the watchdog. Idempotent. */
  stop(): Promise<void>;
  /** Startup is over and `output()` no longer needed: a temp log file is unlinked (the child writes on into the void). */
  releaseOutput(): void;
}

/** Starts `command` as the leader of a new process group and supervises it. */
export function supervise(options: SuperviseOptions): Supervised {
  const sink = options.detached ? fileSink(options.logFile ?? tempLogFile(options.name)) : attachedSink(options.logFile);
  let child: ChildProcess;
  try {
    // detached: true puts the child in its own session and process group, so a group signal
    // also reaches anything it forks, and a terminal's Ctrl-C does not hit it behind our back.
    child = spawn(options.command, options.args, { detached: true, stdio: sink.stdio });
  } finally {
    sink.afterSpawn();
  }
  const status = watchStatus(child);
  const pid = child.pid;
  if (pid === undefined) {
    sink.dispose();
    throw new Error(`${options.name}: could not start ${options.command}`);
  }
  sink.attach(child);
  // Never keep the parent's event loop alive for the child: a detached child is on its own,
  // and an attached one is killed by the 'exit' handler when the parent ends.
  child.unref();

  if (options.detached) return handle(options.name, pid, sink, status, () => stopProcessGroup(pid));
  const watchdog = startWatchdog(pid);
  liveGroups.add(pid);
  installExitHandlers();
  child.on('exit', () => onGroupGone(pid, watchdog));
  return handle(options.name, pid, sink, status, async () => {
    await stopProcessGroup(pid);
    // Dead is not yet reaped, and output may still sit in the pipes: wait for 'close' (reaped,
    // pipes drained) so the pid is free and the output complete when stop() resolves.
    await waitUntil(status.closed, STOP_GRACE_MS);
    onGroupGone(pid, watchdog);
  });
}

interface ChildStatus {
  /** How the child ended, in words; undefined while it runs. */
  exit(): string | undefined;
  closed(): boolean;
}

function watchStatus(child: ChildProcess): ChildStatus {
  let exit: string | undefined;
  let closed = false;
  // Listen at once: an 'error' event (ENOENT, EACCES) that nobody hears crashes the process.
  child.on('error', (error) => (exit ??= `failed to start: ${error.message}`));
  child.on('exit', (code, signal) => (exit ??= signal ? `was killed by ${signal}` : `exited with code ${code}`));
  child.on('close', () => (closed = true));
  return { exit: () => exit, closed: () => closed };
}

function handle(name: string, pid: number, sink: OutputSink, status: ChildStatus, stopOnce: () => Promise<unknown>): Supervised {
  let stopping: Promise<void> | undefined;
  return {
    name,
    pid,
    output: () => sink.output(),
    exited: () => status.exit() !== undefined,
    describeExit: () => status.exit() ?? 'is still running',
    stop: () => (stopping ??= stopOnce().then(() => undefined)),
    releaseOutput: () => sink.dispose(),
  };
}

// ---------------------------------------------------------------------------------------
// Output: attached children are drained into a bounded buffer (a pipe nobody reads would
// fill and block the child); detached ones write to a file, since a pipe to a parent that
// has gone away would kill them with SIGPIPE.

interface OutputSink {
  stdio: ['ignore', 'pipe' | number, 'pipe' | number];
  afterSpawn(): void;
  attach(child: ChildProcess): void;
  output(): string;
  dispose(): void;
}

function attachedSink(logFile: string | undefined): OutputSink {
  if (logFile !== undefined) return fileSink(logFile);
  let buffer = '';
  const append = (chunk: Buffer) => {
    buffer = (buffer + chunk.toString('utf8')).slice(-OUTPUT_BUFFER_CHARS);
  };
  return {
    stdio: ['ignore', 'pipe', 'pipe'],
    afterSpawn: () => undefined,
    attach: (child) => {
      child.stdout?.on('data', append);
      child.stderr?.on('data', append);
      // The pipes must not keep the parent's event loop alive; the exit handlers own the child's fate.
      for (const stream of [child.stdout, child.stderr]) (stream as net.Socket | null)?.unref();
    },
    output: () => buffer,
    dispose: () => undefined,
  };
}

/** Output appended to a file; `output()` reads only what this child wrote (from the offset at open). */
function fileSink(file: string): OutputSink {
  const fd = openSync(file, 'a');
  const start = fstatSync(fd).size;
  return {
    stdio: ['ignore', fd, fd],
    afterSpawn: () => closeSync(fd), // the child holds its own copy of the descriptor
    attach: () => undefined,
    output: () => readFrom(file, start),
    dispose: () => (isTempLog(file) ? rmSync(path.dirname(file), { recursive: true, force: true }) : undefined),
  };
}

function readFrom(file: string, start: number): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const length = Math.max(0, fstatSync(fd).size - start);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, start);
    return buffer.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

const TEMP_LOG_PREFIX = 'spanledger-log-';
/**
 * A detached child without a logFile still needs somewhere to write (kcat's address line is
 * parsed from it). Once started, the file is unlinked: the child keeps writing to the open
 * inode and the space is freed when it exits, so nothing piles up in the temp folder.
 */
function tempLogFile(name: string): string {
  return path.join(mkdtempSync(path.join(os.tmpdir(), TEMP_LOG_PREFIX)), `${name.replace(/\W+/g, '-')}.log`);
}
function isTempLog(file: string): boolean {
  return path.basename(path.dirname(file)).startsWith(TEMP_LOG_PREFIX);
}

// ---------------------------------------------------------------------------------------
// The watchdog: `sh` in its own session, so neither a SIGKILL of the parent nor a Ctrl-C to
// the parent's process group takes it down with the parent. It also leaves on its own once
// the group is gone, so a crashed child does not leave it polling forever.

/**
 * $1 = parent pid, $2 = child pgid. A dead parent lingers as a zombie until its own parent
 * reaps it, and `kill -0` still succeeds on a zombie, so the state letter in /proc counts too.
 */
const WATCHDOG_SCRIPT = [
  'while kill -0 "$1" 2>/dev/null && kill -0 -"$2" 2>/dev/null; do',
  '  if [ -r "/proc/$1/stat" ]; then { read -r s < "/proc/$1/stat"; } 2>/dev/null; case "$s" in *") Z "*) break;; esac; fi',
  '  sleep 0.5',
  'done',
  '# Left the loop because the group is gone: nothing to do. Otherwise the parent is.',
  'kill -0 -"$2" 2>/dev/null || exit 0',
  'kill -TERM -"$2" 2>/dev/null; sleep 2; kill -KILL -"$2" 2>/dev/null',
].join('\n');

function startWatchdog(childPgid: number): ChildProcess {
  const watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'spanledger-watchdog', String(process.pid), String(childPgid)], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  return watchdog;
}

function stopWatchdog(watchdog: ChildProcess): void {
  // Its group holds the `sleep` it may be waiting on; both go.
  if (watchdog.pid !== undefined && watchdog.exitCode === null && watchdog.signalCode === null) signalGroup(watchdog.pid, 'SIGKILL');
}

// ---------------------------------------------------------------------------------------
// Exit handlers: one set for all live attached groups, installed only while there are any,
// so this module changes nothing about signal handling when it supervises nothing.

const liveGroups = new Set<number>();
const HANDLED_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function onGroupGone(pgid: number, watchdog: ChildProcess): void {
  liveGroups.delete(pgid);
  stopWatchdog(watchdog);
  if (liveGroups.size === 0) removeExitHandlers();
}

function killAllGroupsNow(): void {
  // Only synchronous work is possible here; SIGTERM is enough for both children, and the
  // watchdogs follow up with SIGKILL if it is not.
  for (const pgid of liveGroups) signalGroup(pgid, 'SIGTERM');
  liveGroups.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killAllGroupsNow();
  removeExitHandlers();
  // Our listener replaced node's default (exit) for this signal. When nobody else listens,
  // re-raise it so the process dies of the signal as it would have; otherwise the other
  // listeners decide, as they would have without us.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllGroupsNow);
  for (const signal of HANDLED_SIGNALS) process.on(signal, onSignal);
}
function removeExitHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.removeListener('exit', killAllGroupsNow);
  for (const signal of HANDLED_SIGNALS) process.removeListener(signal, onSignal);
}

// ---------------------------------------------------------------------------------------
// Process-group helpers, also used by `spanledger dev down` on a recorded pid.

/**
 * Stops the process group led by `pid` (as started by `supervise`): SIGTERM, then SIGKILL
 * after `graceMs`. Resolves to false when the process was already gone.
 */
export async function stopProcessGroup(pid: number, graceMs = STOP_GRACE_MS): Promise<boolean> {
  if (!isAlive(pid)) return false;
  signalGroup(pid, 'SIGTERM');
  if (!(await waitUntil(() => !isAlive(pid), graceMs))) {
    signalGroup(pid, 'SIGKILL');
    await waitUntil(() => !isAlive(pid), graceMs);
  }
  // Sweep anything else the leader left in its group.
  signalGroup(pid, 'SIGKILL');
  return true;
}

/**
 * True while `pid` names a running process. A zombie (exited, not yet reaped — this
 * machine's init reaps orphans only every second or two) counts as dead: it holds no port,
 * no memory, and will never run again.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // Format: "pid (comm) S ..."; comm may itself hold spaces or parentheses, so split at the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false; // no /proc (not Linux) or already reaped between the two checks
  }
}

/** Sends `signal` to every process in group `pgid`; a group that is already gone is fine. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Polls `condition` every `POLL_INTERVAL_MS`; resolves to whether it held before `timeoutMs`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(POLL_INTERVAL_MS);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------
// Finding binaries, ports and readiness.

export function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Raised when a supervised child exits or times out before it is ready; the child is stopped. */
export class StartupError extends Error {
  constructor(
    message: string,
    /** The child's output up to the failure, for deciding whether a retry can help. */
    readonly output: string,
  ) {
    super(message);
    this.name = 'StartupError';
  }
}

/**
 * Waits until `ready()` yields a value, failing early when the child exits. On failure
 * (including `ready()` throwing) the child is stopped; a timeout or exit error quotes the
 * tail of the child's output.
 */
export async function awaitReady<T>(child: Supervised, ready: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await readyOrStop(child, ready);
    if (value !== undefined) {
      child.releaseOutput();
      return value;
    }
    const problem = child.exited() ? child.describeExit() : Date.now() >= deadline ? `was not ready after ${timeoutMs} ms` : undefined;
    if (problem !== undefined) {
      await child.stop();
      const output = child.output();
      child.releaseOutput();
      throw new StartupError(`${child.name} (pid ${child.pid}) ${problem}.${formatTail(output)}`, output);
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

async function readyOrStop<T>(child: Supervised, ready: () => Promise<T | undefined>): Promise<T | undefined> {
  if (child.exited()) return undefined;
  try {
    return await ready();
  } catch (error) {
    await child.stop();
    child.releaseOutput();
    throw error;
  }
}

function formatTail(output: string): string {
  const text = output.slice(-OUTPUT_TAIL_CHARS).trim();
  return text ? `\nIts last output:\n${text}` : ' It printed nothing.';
}
