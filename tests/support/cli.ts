import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { CliIo } from '../../commands/io';
import { runCli } from '../../commands/main';

export const ROOT = path.resolve(__dirname, '../..');
export const BIN = path.join(ROOT, 'bin', 'spanledger.js');

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built CLI (`npm test` builds dist/ first) as a real child process. */
export function runSpanledger(args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: options.env ?? process.env, cwd: options.cwd ?? ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

export function jsonOutputLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export interface CliChild {
  readonly process: ChildProcess;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

const started = new Set<ChildProcess>();

/** Starts the built CLI as a long-running child (consume, publish, projections run --follow). */
export function spawnSpanledger(args: readonly string[], env: NodeJS.ProcessEnv): CliChild {
  const child = spawn(process.execPath, [BIN, ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => {
      started.delete(child);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { process: child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** SIGKILLs every child spawnSpanledger started that still runs (a test file's afterAll). */
export function killSpawned(): void {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** A CliIo for runCli in this process, capturing what the command writes (fast: no child process, no build). */
export function capturedIo(env: NodeJS.ProcessEnv, stdinText = ''): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (chunk) => (out += String(chunk)));
  stderr.on('data', (chunk) => (err += String(chunk)));
  const io: CliIo = { stdout, stderr, stdin: Readable.from([stdinText]), env, isTerminal: false, cwd: process.cwd() };
  return { io, out: () => out, err: () => err };
}

/** Runs the CLI in this process: its exit code and output. */
export async function runCliCaptured(args: readonly string[], env: NodeJS.ProcessEnv, stdinText = ''): Promise<CliRun> {
  const captured = capturedIo(env, stdinText);
  const code = await runCli([...args], captured.io);
  return { code, stdout: captured.out(), stderr: captured.err() };
}
