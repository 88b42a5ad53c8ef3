import { EXIT, ExitCode } from './errors';

/**
 * Stopping a command gracefully. SIGTERM/SIGINT abort the signal: a long-running command
 * stops after the batch in flight commits (a consumer then leaves its group), and `submit`
 * stops before its next chunk of lines. A second signal exits at once, like an unhandled
 * one would (130 for SIGINT, 143 for SIGTERM).
 */
export interface StopSignal {
  readonly signal: AbortSignal;
  /** The signal that asked to stop, if one did. */
  readonly received: () => NodeJS.Signals | undefined;
  dispose(): void;
}

export function stopOnSignals(): StopSignal {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(exitCodeOfSignal(name));
    received = name;
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    signal: controller.signal,
    received: () => received,
    dispose() {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}

/** The shell's convention: 128 + the signal's number. */
export function exitCodeOfSignal(name: NodeJS.Signals): ExitCode {
  return name === 'SIGINT' ? EXIT.interrupted : EXIT.terminated;
}
