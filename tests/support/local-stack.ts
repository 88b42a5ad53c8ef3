/**
 * The emulator and broker the jest global setup started for the integration tier, kept on
 * globalThis: globalSetup and globalTeardown run in the same process but may not share a
 * module registry, and nothing else is passed between them.
 */
import type { RunningBroker, RunningEmulator } from '../../emulator';

export interface LocalStack {
  spanner?: RunningEmulator;
  kafka?: RunningBroker;
  /** Variables the setup set, so teardown can unset exactly those. */
  env: string[];
}

const KEY = Symbol.for('spanledger.tests.localStack');
type Holder = { [KEY]?: LocalStack };

export function takeLocalStack(): LocalStack | undefined {
  const holder = globalThis as Holder;
  const stack = holder[KEY];
  delete holder[KEY];
  return stack;
}

export function keepLocalStack(stack: LocalStack): void {
  (globalThis as Holder)[KEY] = stack;
}

/** Stops everything in `stack`; one failing stop does not keep the other running. */
export async function stopLocalStack(stack: LocalStack): Promise<void> {
  const results = await Promise.allSettled([stack.spanner?.stop(), stack.kafka?.stop()]);
  for (const name of stack.env) delete process.env[name];
  const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure) throw failure.reason;
}
