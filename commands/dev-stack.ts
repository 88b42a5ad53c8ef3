import { devStateDir, isAlive, readDevState } from '../emulator/dev-state';

/**
 * The local stack `spanledger dev up` started, as the other commands find it: its endpoints,
 * only while their processes still run. With `dev.ts`, the CLI's one door to the emulator
 * tooling; the library never looks for a local stack on its own (the CLI passes it in).
 */
export interface DevStack {
  readonly spannerHost?: string;
  readonly kafkaBrokers?: string;
}

/** Where `dev up` records the stack: SPANLEDGER_STATE_DIR, else `.spanledger` under `cwd`. */
export function devStackDir(env: NodeJS.ProcessEnv, cwd: string): string {
  return devStateDir(env, cwd);
}

/** The running stack's endpoints (none when `dev up` has not run here); a corrupt dev.json throws DevStateError. */
export function runningDevStack(env: NodeJS.ProcessEnv, cwd: string): DevStack {
  const state = readDevState(devStackDir(env, cwd));
  return {
    ...(state?.spanner && isAlive(state.spanner.pid) ? { spannerHost: state.spanner.host } : {}),
    ...(state?.kafka && isAlive(state.kafka.pid) ? { kafkaBrokers: state.kafka.brokers } : {}),
  };
}
