import { OutageObserver, RetryClock, retryTransient } from './core/retry';

/** The process's clock for riding out outages (the core's RetryClock, with real timers). */
export const SYSTEM_CLOCK: RetryClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: () => Math.random(),
  after(ms) {
    let timer: NodeJS.Timeout | undefined;
    const elapsed = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    });
    return { elapsed, cancel: () => clearTimeout(timer) };
  },
};

/** A step runner that rides out `isTransient` failures for up to `outageMaxMs` of silence, on the process's clock. */
export function rideOut(isTransient: (error: unknown) => boolean, outageMaxMs: number, observer: OutageObserver = {}): <T>(what: string, step: () => Promise<T>) => Promise<T> {
  return (what, step) => retryTransient(what, step, isTransient, { outageMaxMs }, observer, SYSTEM_CLOCK);
}
