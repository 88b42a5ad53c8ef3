/**
 * Which Spanner failures are the database not answering, rather than an answer: the ones an
 * outage produces, and a retry after it heals outlives. Everything else (a constraint, a
 * missing table, a permission) is an answer, and retrying it would only hide it.
 *
 * gRPC codes: UNAVAILABLE (connection refused or cut, server going away), DEADLINE_EXCEEDED
 * (the server or the network froze past a call's deadline, also our SpannerDeadlineError),
 * CANCELLED and INTERNAL only when the transport says it broke (an HTTP/2 stream reset or a
 * closed connection), RESOURCE_EXHAUSTED (the server sheds load), and NOT_FOUND for a
 * transaction the server dropped while it could not reach us ("Transaction not found": the
 * emulator ends a transaction left open across a partition).
 */
const CANCELLED = 1;
const DEADLINE_EXCEEDED = 4;
const RESOURCE_EXHAUSTED = 8;
const INTERNAL = 13;
const UNAVAILABLE = 14;
const NOT_FOUND = 5;

const TRANSPORT_BROKE = /RST_STREAM|GOAWAY|connection (?:closed|reset|dropped)|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|socket hang up|Call cancelled|stream (?:closed|removed)/i;
const NODE_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

export function isTransientSpannerError(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : '';
  if (code === UNAVAILABLE || code === DEADLINE_EXCEEDED || code === RESOURCE_EXHAUSTED) return true;
  if ((code === INTERNAL || code === CANCELLED) && TRANSPORT_BROKE.test(text)) return true;
  if (code === NOT_FOUND && /Transaction not found/i.test(text)) return true;
  if (typeof code === 'string' && NODE_NETWORK_CODES.has(code)) return true;
  return false;
}
