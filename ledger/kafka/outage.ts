/**
 * Which kafkajs failures are the brokers not answering (a dropped or refused connection, a
 * request that timed out, no broker reachable), which a long-running relay rides out, rather
 * than an answer (a protocol error: a missing topic, an ACL, a feature the broker lacks),
 * which retrying would only hide. kafkajs wraps the last failure of its own retries in
 * KafkaJSNumberOfRetriesExceeded: its cause decides.
 */
// Not KafkaJSBrokerNotFound: kafkajs retries stale metadata itself, and what reaches the
// caller is a cluster that will not answer as asked (kcat's mock broker under an idempotent
// producer), not one that is away.
const OUTAGE_ERRORS = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError', 'BrokerSilenceError']);

export function isKafkaOutage(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    if (OUTAGE_ERRORS.has(current.name)) return true;
    if (current.name !== 'KafkaJSNumberOfRetriesExceeded') return false;
  }
  return false;
}
