import { PassThrough } from 'node:stream';
import { Registry } from 'prom-client';
import { createLogger, LogLevelError, parseLogLevel, resolveLogLevel } from '../../ledger/observability/logger';
import { createMetrics } from '../../ledger/observability/metrics';
import { startMetricsServer } from '../../ledger/observability/metrics-server';

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return undefined;
  const { values } = await metric.get();
  const match = values.find((value) => Object.entries(labels).every(([key, wanted]) => String((value.labels as Record<string, unknown>)[key]) === wanted) && Object.keys(value.labels).length === Object.keys(labels).length);
  return match?.value;
}

describe('metrics registry', () => {
  test('counts command outcomes per outcome and code, and nothing else', async () => {
    const metrics = createMetrics();
    metrics.recordOutcome({ status: 'accepted' });
    metrics.recordOutcome({ status: 'accepted' });
    metrics.recordOutcome({ status: 'duplicate' });
    metrics.recordOutcome({ status: 'rejected', code: 'INSUFFICIENT_FUNDS' });
    metrics.recordOutcome({ status: 'invalid', code: 'EMPTY_MESSAGE' });
    const registry = metrics.registry;
    expect(await metricValue(registry, 'spanledger_commands_total', { outcome: 'accepted', code: '' })).toBe(2);
    expect(await metricValue(registry, 'spanledger_commands_total', { outcome: 'duplicate', code: '' })).toBe(1);
    expect(await metricValue(registry, 'spanledger_commands_total', { outcome: 'rejected', code: 'INSUFFICIENT_FUNDS' })).toBe(1);
    expect(await metricValue(registry, 'spanledger_commands_total', { outcome: 'invalid', code: 'EMPTY_MESSAGE' })).toBe(1);
    expect(await metricValue(registry, 'spanledger_commands_total', { outcome: 'rejected', code: '' })).toBeUndefined();
  });

  test('the transaction observer counts every retry; registries are independent', async () => {
    const a = createMetrics();
    const b = createMetrics();
    expect(await metricValue(a.registry, 'spanledger_transaction_retries_total')).toBe(0);
    a.transactionObserver.onTransactionRetry?.(1, new Error('aborted'));
    a.transactionObserver.onTransactionRetry?.(2, new Error('aborted'));
    expect(await metricValue(a.registry, 'spanledger_transaction_retries_total')).toBe(2);
    expect(await metricValue(b.registry, 'spanledger_transaction_retries_total')).toBe(0);
  });

  test('gauges, dead letters, published events and batch sizes', async () => {
    const metrics = createMetrics();
    metrics.consumerLag.set({ topic: 'payments', partition: '3' }, 42);
    metrics.projectionLag.set({ projection: 'balances' }, 7);
    metrics.deadLetters.inc({ code: 'INVALID_COMMAND' });
    metrics.eventsPublished.inc({ topic: 'events' }, 500);
    metrics.batchSize.observe({ stage: 'consume' }, 100);
    metrics.batchSize.observe({ stage: 'consume' }, 3);
    const registry = metrics.registry;
    expect(await metricValue(registry, 'spanledger_consumer_lag_messages', { topic: 'payments', partition: '3' })).toBe(42);
    expect(await metricValue(registry, 'spanledger_projection_lag_events', { projection: 'balances' })).toBe(7);
    expect(await metricValue(registry, 'spanledger_dead_letters_total', { code: 'INVALID_COMMAND' })).toBe(1);
    expect(await metricValue(registry, 'spanledger_events_published_total', { topic: 'events' })).toBe(500);
    const text = await registry.metrics();
    expect(text).toContain('spanledger_batch_size_count{stage="consume"} 2');
    expect(text).toContain('spanledger_batch_size_sum{stage="consume"} 103');
    expect(text).toContain('spanledger_batch_size_bucket{le="5",stage="consume"} 1');
  });

  test('uses its own registry, never the prom-client global one', async () => {
    const { register } = await import('prom-client');
    createMetrics();
    expect(register.getSingleMetric('spanledger_commands_total')).toBeUndefined();
  });
});

describe('log level', () => {
  test('parses every pino level, case-insensitively, and rejects others', () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) expect(parseLogLevel(level)).toBe(level);
    expect(parseLogLevel(' DEBUG ')).toBe('debug');
    expect(() => parseLogLevel('verbose')).toThrow(LogLevelError);
    expect(() => parseLogLevel('')).toThrow(/must be one of fatal, error, warn, info, debug, trace, silent/);
  });

  test('the flag wins over SPANLEDGER_LOG_LEVEL, which wins over the default', () => {
    expect(resolveLogLevel(undefined, {})).toBe('info');
    expect(resolveLogLevel(undefined, { SPANLEDGER_LOG_LEVEL: 'warn' })).toBe('warn');
    expect(resolveLogLevel(undefined, { SPANLEDGER_LOG_LEVEL: '' })).toBe('info');
    expect(resolveLogLevel('trace', { SPANLEDGER_LOG_LEVEL: 'warn' })).toBe('trace');
    expect(() => resolveLogLevel(undefined, { SPANLEDGER_LOG_LEVEL: 'loud' })).toThrow(/SPANLEDGER_LOG_LEVEL must be one of/);
  });

  test('the logger writes JSON lines at or above its level and censors secrets', () => {
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (chunk) => (text += String(chunk)));
    const logger = createLogger({ level: 'warn', destination: stream, name: 'consume' });
    logger.info('not shown');
    logger.warn({ event: 'x', sasl: { password: 'hunter2' }, password: 'hunter2', KAFKA_SASL_PASSWORD: 'hunter2' }, 'shown');
    const lines = text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', name: 'consume', msg: 'shown', event: 'x', password: '[redacted]', sasl: '[redacted]', KAFKA_SASL_PASSWORD: '[redacted]' });
    expect(text).not.toContain('hunter2');
  });
});

describe('metrics server', () => {
  test('serves /metrics as Prometheus text on a free port, 404 elsewhere, and closes', async () => {
    const metrics = createMetrics();
    metrics.recordOutcome({ status: 'accepted' });
    const server = await startMetricsServer(metrics.registry, { port: 0 });
    try {
      expect(server.host).toBe('127.0.0.1');
      expect(server.port).toBeGreaterThan(0);
      const response = await fetch(server.url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain');
      const text = await response.text();
      for (const name of [
        'spanledger_commands_total',
        'spanledger_batch_size',
        'spanledger_transaction_retries_total',
        'spanledger_dead_letters_total',
        'spanledger_events_published_total',
        'spanledger_projection_lag_events',
        'spanledger_consumer_lag_messages',
      ]) {
        expect(text).toContain(`# TYPE ${name} `);
      }
      expect(text).toContain('spanledger_commands_total{outcome="accepted",code=""} 1');
      expect((await fetch(`http://127.0.0.1:${server.port}/nope`)).status).toBe(404);
    } finally {
      await server.close();
    }
    await expect(fetch(server.url)).rejects.toThrow();
  });
});
