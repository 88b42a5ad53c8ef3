import { RetryClock } from './core/retry';

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
