import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';

/**
 * Loopback ports for the local emulator: one that is free, and who listens on one (from
 * /proc, on Linux), so a port taken by someone else is never mistaken for our emulator's.
 */

/**
 * A loopback port that was free a moment ago: bind port 0, read it, close. Another process
 * can take it before the child binds it, so callers retry on a bind failure.
 */
export function pickFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => (port === undefined ? reject(new Error('could not read the picked port')) : resolve(port)));
    });
  });
}

/**
 * Who listens on 127.0.0.1:`port`, judged from /proc (Linux): only `pid`, `pid` and someone
 * else, only someone else, nobody, or 'unknown' where /proc cannot tell.
 * A TCP connect alone cannot tell: it succeeds just as well against another process's socket.
 */
export type PortOwner = 'ours' | 'shared' | 'foreign' | 'none' | 'unknown';

export function loopbackPortOwner(pid: number, port: number): PortOwner {
  const listeners = loopbackListenerInodes(port);
  const own = socketInodesOf(pid);
  if (listeners === undefined || own === undefined) return 'unknown';
  const ours = listeners.filter((inode) => own.has(inode)).length;
  const foreign = listeners.length - ours;
  if (ours > 0) return foreign > 0 ? 'shared' : 'ours';
  return foreign > 0 ? 'foreign' : 'none';
}

/**
 * Inodes of the sockets listening on 127.0.0.1:`port`. gRPC listens on an IPv6 socket with
 * the IPv4-mapped address (::ffff:127.0.0.1), so both tables are read.
 */
function loopbackListenerInodes(port: number): string[] | undefined {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  // Addresses are little-endian hex per 32-bit word: 0100007F is 127.0.0.1.
  const tables = [
    { file: '/proc/net/tcp', local: `0100007F:${portHex}` },
    { file: '/proc/net/tcp6', local: `0000000000000000FFFF00000100007F:${portHex}` },
  ];
  const inodes: string[] = [];
  for (const { file, local } of tables) {
    const table = readIfPresent(file);
    if (table === undefined) return undefined;
    inodes.push(...listenersIn(table, local));
  }
  return inodes;
}

/** Columns: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode; st 0A is LISTEN. */
function listenersIn(table: string, local: string): string[] {
  return table
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((columns) => columns[1] === local && columns[3] === '0A')
    .map((columns) => columns[9] ?? '');
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Inodes of the sockets `pid` holds open, from its /proc/PID/fd links ("socket:[INODE]"). */
function socketInodesOf(pid: number): Set<string> | undefined {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  const inodes = new Set<string>();
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // closed while we looked
    }
  }
  return inodes;
}
