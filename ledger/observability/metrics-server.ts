import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/**
 * A minimal HTTP endpoint for Prometheus: GET /metrics (text exposition format) and
 * GET /healthz. Binds 127.0.0.1 unless told otherwise; port 0 picks a free port.
 */
export interface MetricsServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export const DEFAULT_METRICS_HOST = '127.0.0.1';

export async function startMetricsServer(registry: Registry, options: { port: number; host?: string }): Promise<MetricsServer> {
  const host = options.host ?? DEFAULT_METRICS_HOST;
  const server: Server = createServer((request, response) => {
    const url = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/metrics') {
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(request.method === 'HEAD' ? undefined : text),
        (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(error)}\n`),
      );
      return;
    }
    if (url === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n');
  });
  // Scrapers keep connections alive; do not let them hold the process open at shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closed: Promise<void> | undefined;
  return {
    host: address.address,
    port: address.port,
    url: `http://${urlHost}:${address.port}/metrics`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
