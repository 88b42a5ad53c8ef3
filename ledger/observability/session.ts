import type { Logger } from 'pino';
import { createLogger, LogLevel } from './logger';
import { createMetrics, LedgerMetrics } from './metrics';
import { MetricsServer, startMetricsServer } from './metrics-server';

/**
 * What a long-running command opens at start and closes at the end: a logger (stderr), a
 * metrics registry of its own, and, only when a port was given, the /metrics server.
 */
export interface ObservabilitySession {
  readonly logger: Logger;
  readonly metrics: LedgerMetrics;
  readonly server: MetricsServer | undefined;
  close(): Promise<void>;
}

export interface ObservabilityOptions {
  readonly component: string;
  readonly level: LogLevel;
  readonly destination: NodeJS.WritableStream;
  readonly metricsPort?: number;
  readonly metricsHost?: string;
}

export async function openObservability(options: ObservabilityOptions): Promise<ObservabilitySession> {
  const logger = createLogger({ level: options.level, destination: options.destination, name: options.component });
  const metrics = createMetrics(undefined, { processMetrics: options.metricsPort !== undefined });
  let server: MetricsServer | undefined;
  if (options.metricsPort !== undefined) {
    server = await startMetricsServer(metrics.registry, { port: options.metricsPort, host: options.metricsHost });
    logger.info({ url: server.url, host: server.host, port: server.port }, 'metrics server listening');
  }
  return {
    logger,
    metrics,
    server,
    async close() {
      await server?.close();
    },
  };
}
