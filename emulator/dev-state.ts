/**
 * The state file of `spanledger dev up|down|status`: which detached emulator and broker
 * `dev up` started, so that `dev down` can stop them from another process later.
 * It lives in `.spanledger/dev.json` under the current directory, or in $SPANLEDGER_STATE_DIR.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export { isAlive } from './process';

const pid = z.number().int().positive();
export const DevStateSchema = z.object({
  spanner: z.object({ host: z.string().min(1), pid }).optional(),
  kafka: z.object({ brokers: z.string().min(1), pid }).optional(),
  /** ISO-8601 time `dev up` finished. */
  startedAt: z.string().min(1),
});
export type DevState = z.infer<typeof DevStateSchema>;

export class DevStateError extends Error {
  constructor(file: string, reason: string) {
    super(`${file} is not a valid dev state file (${reason}); delete it if no dev stack is running`);
    this.name = 'DevStateError';
  }
}

export function devStateDir(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  return env.SPANLEDGER_STATE_DIR || path.join(cwd, '.spanledger');
}

export function devStateFile(dir: string = devStateDir()): string {
  return path.join(dir, 'dev.json');
}

/** The recorded state, or undefined when `dev up` has not run (or `dev down` cleared it). */
export function readDevState(dir: string = devStateDir()): DevState | undefined {
  const file = devStateFile(dir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DevStateError(file, (error as Error).message);
  }
  const parsed = DevStateSchema.safeParse(json);
  if (!parsed.success) throw new DevStateError(file, parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
  return parsed.data;
}

/** Writes via a temp file and rename, so a reader never sees half a file. */
export function writeDevState(state: DevState, dir: string = devStateDir()): void {
  const valid = DevStateSchema.parse(state);
  mkdirSync(dir, { recursive: true });
  const file = devStateFile(dir);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(valid, null, 2)}\n`);
  renameSync(temp, file);
}

export function clearDevState(dir: string = devStateDir()): void {
  rmSync(devStateFile(dir), { force: true });
}
