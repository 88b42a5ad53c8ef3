import type { Admin } from 'kafkajs';
import type { OutageObserver } from '../core/retry';

/**
 * Broker liveness from an active probe: a metadata request through the admin client, at
 * most once a second and each bounded in time. An answered probe is the only sign of
 * life. kafkajs's own events are not used: they kept firing for a while after the brokers
 * vanished under load, and work on an already fetched batch goes on without any broker.
 */
export const BROKER_PROBE_TIMEOUT_MS = 5_000;
const PROBE_INTERVAL_MS = 1_000;

/** The brokers gave no sign of life for longer than the relay allows. */
export class BrokerSilenceError extends Error {
  override readonly name = 'BrokerSilenceError';
}

export interface BrokerLiveness {
  /** Milliseconds since the brokers last answered. */
  silentMs(): number;
  stop(): void;
}

/** Silent this long, the brokers count as down (one probe's timeout: not a slow answer). */
export const BROKERS_DOWN_AFTER_MS = BROKER_PROBE_TIMEOUT_MS;

/**
 * Probes every second; calls `onSilence(ms)` once a second while the brokers have not
 * answered for longer than `silenceLimitMs` (the caller decides whether that ends the run).
 * `health` hears once when they fall silent (BROKERS_DOWN_AFTER_MS) and once when they answer again.
 */
export function watchBrokers(admin: Pick<Admin, 'describeCluster'>, silenceLimitMs: number, onSilence: (silentMs: number) => void, health: OutageObserver = {}): BrokerLiveness {
  let lastSignOfLife = Date.now();
  let downSince: number | undefined;
  let probing = false;
  const probe = async () => {
    if (probing) return;
    probing = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      const answered = await Promise.race([
        admin.describeCluster().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), BROKER_PROBE_TIMEOUT_MS))),
      ]);
      if (answered) {
        lastSignOfLife = Date.now();
        if (downSince !== undefined) health.onUp?.(lastSignOfLife - downSince);
        downSince = undefined;
      }
    } finally {
      clearTimeout(timer);
      probing = false;
    }
  };
  const interval = setInterval(() => {
    void probe();
    const silentMs = Date.now() - lastSignOfLife;
    if (downSince === undefined && silentMs > BROKERS_DOWN_AFTER_MS) {
      downSince = lastSignOfLife;
      health.onDown?.(new Error(`no answer from the brokers for ${Math.round(silentMs / 1000)} s`));
    }
    if (silentMs > silenceLimitMs) onSilence(silentMs);
  }, PROBE_INTERVAL_MS);
  interval.unref();
  return {
    silentMs: () => Date.now() - lastSignOfLife,
    stop: () => clearInterval(interval),
  };
}
