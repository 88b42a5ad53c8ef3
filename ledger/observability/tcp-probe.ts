import net from 'node:net';

/**
 * True when something accepts a TCP connection at host:port within `timeoutMs`. A probe
 * before a client that would retry its first connection for a minute (Spanner, kafkajs), so
 * that an endpoint nobody listens on is named in seconds.
 */
export function canConnect(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** canConnect for a "host:port" text (an IPv6 host in brackets keeps its colons). */
export function canConnectTo(endpoint: string, timeoutMs?: number): Promise<boolean> {
  const separator = endpoint.lastIndexOf(':');
  return canConnect(endpoint.slice(0, separator), Number(endpoint.slice(separator + 1)), timeoutMs);
}
