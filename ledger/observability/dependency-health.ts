import type { Logger } from 'pino';
import type { OutageObserver } from '../core/retry';
import type { LedgerMetrics } from './metrics';

export type Dependency = 'spanner' | 'kafka';

/**
 * What a long-running command says about one dependency riding out an outage: one log line
 * when it stops answering (warn), one when it answers again (info), and the gauge
 * spanledger_dependency_up{dependency} at 0 in between. The gauge starts at 1.
 */
export function dependencyHealth(dependency: Dependency, logger: Logger, metrics: LedgerMetrics | undefined, outageMaxMs: number): OutageObserver {
  metrics?.dependencyUp.set({ dependency }, 1);
  return {
    onDown(error) {
      metrics?.dependencyUp.set({ dependency }, 0);
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
      logger.warn({ event: 'dependency_down', dependency, error: message, outageMaxS: outageMaxMs / 1000 }, `${dependency} is not answering (${message}); riding it out for up to ${outageMaxMs / 1000} s`);
    },
    onUp(outageMs) {
      metrics?.dependencyUp.set({ dependency }, 1);
      logger.info({ event: 'dependency_up', dependency, outageMs: Math.round(outageMs) }, `${dependency} answers again, after ${(outageMs / 1000).toFixed(1)} s`);
    },
  };
}
