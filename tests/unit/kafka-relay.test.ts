import { KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaMessage } from 'kafkajs';
import { planBatch } from '../../ledger/kafka/batch-plan';
import { checkpointAfter, planPoll } from '../../ledger/kafka/publish-plan';
import type { GlobalPosition } from '../../ledger/core/store';
import { isIdle } from '../../ledger/kafka/idle-watch';
import { brokerErrorType, explainSendFailure, messageCommand } from '../../ledger/kafka/dead-letters';
import { consumedTo, messageDigest, partitionLag, partitionStart } from '../../ledger/kafka/inbox';
import { checkTopics, ConsumeSettingsError } from '../../ledger/kafka/consumer';
import { shrunkPartitions } from '../../ledger/kafka/publisher-checkpoint';
import { createKafka, kafkaSettingsFromEnv } from '../../ledger/kafka/client';
import { depositWire, toJsonText } from './support/fixtures';

/** The relays' decisions that need no broker: where a partition starts, idleness, keys, causes. */
const row = (nextOffset: string, lastMessage?: { offset: string; digest: string }) => ({ group: 'g', topic: 't', partition: 2, nextOffset, ...(lastMessage ? { lastMessage } : {}) });
const offsets = (low: bigint, high: bigint) => ({ partition: 2, low, high });

describe('partitionStart', () => {
  test('no inbox row: from the first offset the partition still has (a new database, a restore into one)', () => {
    expect(partitionStart(undefined, offsets(3n, 10n))).toEqual({ kind: 'from', offset: 3n, why: 'no-inbox' });
  });

  test('the partition ends below the inbox: another log, whatever is on it', () => {
    expect(partitionStart(row('4'), offsets(0n, 2n))).toMatchObject({ kind: 'different-log', reason: expect.stringMatching(/ends at offset 2, but its inbox says offsets up to 3/) });
  });

  test('the last applied message still there: find it again first', () => {
    expect(partitionStart(row('4', { offset: '3', digest: 'd' }), offsets(0n, 9n))).toEqual({ kind: 'verify', offset: 3n, digest: 'd', next: 4n });
  });

  test('retention moved the log start past the inbox: go on from there, and say what was lost', () => {
    expect(partitionStart(row('4', { offset: '3', digest: 'd' }), offsets(7n, 9n))).toEqual({ kind: 'from', offset: 7n, why: 'gap', gap: { from: 4n, to: 7n } });
  });

  test('a row written before the fingerprint existed: from the inbox offset', () => {
    expect(partitionStart(row('4'), offsets(0n, 4n))).toEqual({ kind: 'from', offset: 4n, why: 'inbox' });
  });
});

describe('idleness and lag are measured against what can still be fetched', () => {
  test.each([
    ['caught up', row('10'), offsets(0n, 10n), 0n],
    ['behind', row('7'), offsets(0n, 10n), 3n],
    ['no row, empty partition', undefined, offsets(0n, 0n), 0n],
    ['no row, messages waiting', undefined, offsets(0n, 5n), 5n],
    ['retention truncated everything after the inbox', row('4'), offsets(10n, 10n), 0n],
    ['retention truncated part of it', row('4'), offsets(8n, 10n), 2n],
  ])('%s', (_name, inbox, partition, lag) => {
    expect(partitionLag(inbox, partition)).toBe(lag);
    expect(consumedTo(inbox, partition) >= partition.high).toBe(lag === 0n);
  });
});

describe('messageDigest', () => {
  test('tells key and value apart, and null from empty', () => {
    const digests = [
      messageDigest({ key: Buffer.from('ab'), value: Buffer.from('c') }),
      messageDigest({ key: Buffer.from('a'), value: Buffer.from('bc') }),
      messageDigest({ key: null, value: Buffer.from('abc') }),
      messageDigest({ key: Buffer.from(''), value: Buffer.from('abc') }),
    ];
    expect(new Set(digests).size).toBe(4);
    expect(messageDigest({ key: Buffer.from('a'), value: Buffer.from('bc') })).toBe(digests[1]);
  });
});

describe('messageCommand: the keying rule', () => {
  const value = Buffer.from(toJsonText(depositWire({ userId: 'user-1' })));
  test('keyed by its userId: a command', () => {
    expect(messageCommand({ key: Buffer.from('user-1'), value })).toMatchObject({ ok: true, command: { userId: 'user-1' } });
  });
  test.each([
    ['another key', Buffer.from('inv-1'), /^message has key "inv-1"; it must be keyed by the command's userId "user-1"/],
    ['no key', null, /^message has no key/],
    ['a key that is not UTF-8', Buffer.from([0xff]), /^message has a key that is not UTF-8/],
  ])('%s: KEY_MISMATCH', (_name, key, message) => {
    expect(messageCommand({ key, value })).toEqual({ ok: false, reason: { code: 'KEY_MISMATCH', message: expect.stringMatching(message) } });
  });
  test('an invalid command is INVALID_COMMAND whatever its key', () => {
    expect(messageCommand({ key: null, value: Buffer.from('{"type":"deposit"') })).toMatchObject({ ok: false, reason: { code: 'INVALID_COMMAND' } });
  });
});

describe('a failed send names its cause', () => {
  // kafkajs builds these from the broker's error table entry ({ type, code, retriable, message }).
  const protocolError = (type: string) => new KafkaJSProtocolError(Object.assign(new Error(`broker says ${type}`), { type, code: 3, retriable: false }));

  test('through kafkajs\'s retry wrapper, the broker\'s error type is found', () => {
    const wrapped = new KafkaJSNumberOfRetriesExceeded(protocolError('UNKNOWN_TOPIC_OR_PARTITION'), { retryCount: 5, retryTime: 100 });
    expect(brokerErrorType(wrapped)).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    expect(explainSendFailure('payments.dlq', wrapped)).toMatch(/^topic payments.dlq does not exist and the brokers do not create topics on first use/);
  });

  test.each([
    ['TOPIC_AUTHORIZATION_FAILED', /not allowed to write to topic t.dlq/],
    ['CLUSTER_AUTHORIZATION_FAILED', /KAFKA_IDEMPOTENT=false/],
    ['MESSAGE_TOO_LARGE', /too large/],
    ['SOME_OTHER_ERROR', /^SOME_OTHER_ERROR: broker says SOME_OTHER_ERROR$/],
  ])('%s', (type, message) => {
    expect(explainSendFailure('t.dlq', protocolError(type))).toMatch(message);
  });

  test('a connection failure has no broker error type: the caller calls it unreachable', () => {
    expect(brokerErrorType(new Error('connect ECONNREFUSED'))).toBeUndefined();
  });
});

describe('checkTopics', () => {
  test.each([
    ['payments', 'payments', undefined, /dead-letter topic must differ from the command topic/],
    ['payments', 'payments.dlq', 'payments', /outcomes topic must differ from the command topic/],
    ['payments', 'payments.dlq', 'payments.dlq', /outcomes topic must differ from the dead-letter topic/],
  ])('%s / %s / %s is refused', (topic, dlq, outcomes, message) => {
    expect(() => checkTopics(topic, dlq, outcomes)).toThrow(ConsumeSettingsError);
    expect(() => checkTopics(topic, dlq, outcomes)).toThrow(message);
  });
  test('three different topics are fine', () => {
    expect(() => checkTopics('payments', 'payments.dlq', 'payments.outcomes')).not.toThrow();
  });
});

describe('shrunkPartitions: a recreated events topic', () => {
  test('a partition whose end is below what the publisher wrote there is named', () => {
    const checkpoint = { position: null, publishedEvents: 9, partitionEnds: { '0': '5', '1': '4' } };
    expect(shrunkPartitions(checkpoint, new Map([[0, 5n], [1, 0n]]))).toEqual([{ partition: 1, high: 0n, wrote: 4n }]);
    expect(shrunkPartitions(checkpoint, new Map([[0, 7n], [1, 4n]]))).toEqual([]);
  });
});

describe("kafkajs' own log", () => {
  test('goes to the given sink as JSON lines, never to stdout (where a relay prints its --json summary)', () => {
    const lines: string[] = [];
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const consoleInfo = jest.spyOn(console, 'info').mockImplementation(() => undefined);
    const consoleLog = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const kafka = createKafka(kafkaSettingsFromEnv({ KAFKA_BROKERS: '127.0.0.1:1', KAFKA_LOG_LEVEL: 'debug' }), (line) => lines.push(line));
      kafka.logger().info('joined the group', { groupId: 'ledger' });
      kafka.logger().debug('fetching');
      expect(stdout).not.toHaveBeenCalled();
      expect(consoleInfo).not.toHaveBeenCalled();
      expect(consoleLog).not.toHaveBeenCalled();
    } finally {
      stdout.mockRestore();
      consoleInfo.mockRestore();
      consoleLog.mockRestore();
    }
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ kafkajs: 'INFO', message: 'joined the group', groupId: 'ledger' }),
      expect.objectContaining({ kafkajs: 'DEBUG', message: 'fetching' }),
    ]);
    expect(lines.every((line) => line.endsWith('\n'))).toBe(true);
  });
});

describe('planBatch: what the consumer does with a fetched batch, decided without a broker', () => {
  const message = (offset: number, value = `m${offset}`) => ({ offset: String(offset), key: Buffer.from('u'), value: Buffer.from(value), timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage;
  const batch = (...offsetsIn: number[]) => offsetsIn.map((offset) => message(offset));
  const offsetsOf = (plan: ReturnType<typeof planBatch>) => (plan.step.kind === 'decide' ? plan.step.messages.map((m) => Number(m.offset)) : []);

  test('a batch wholly below the floor is applied already: skipped, with a seek to the floor when it ends below it', () => {
    expect(planBatch({ floor: 10n }, batch(3, 4, 5), 5n)).toEqual({ step: { kind: 'applied-already', seekTo: 10n }, position: { floor: 10n }, skipped: 3 });
    // Its last record (a marker at 9) ends just below the floor: no seek needed.
    expect(planBatch({ floor: 10n }, batch(7, 8), 9n)).toEqual({ step: { kind: 'applied-already' }, position: { floor: 10n }, skipped: 2 });
  });

  test('a batch across the floor decides from the floor on and counts the rest as skipped', () => {
    const plan = planBatch({ floor: 5n }, batch(3, 4, 5, 6), 6n);
    expect(plan.step.kind).toBe('decide');
    expect(offsetsOf(plan)).toEqual([5, 6]);
    expect(plan.skipped).toBe(2);
    expect(plan.lost).toBeUndefined();
  });

  test('a batch past the floor: seek back once; the same offsets again are gone, counted as lost, and decided', () => {
    const first = planBatch({ floor: 5n }, batch(8, 9), 9n);
    expect(first).toEqual({ step: { kind: 'seek-back', to: 5n }, position: { floor: 5n, soughtTo: 5n }, skipped: 0 });
    const again = planBatch(first.position, batch(8, 9), 9n);
    expect(again.step.kind).toBe('decide');
    expect(offsetsOf(again)).toEqual([8, 9]);
    expect(again.lost).toEqual({ from: 5n, to: 8n });
    expect(again.position.floor).toBe(8n);
  });

  test('the last applied message found again at its offset: the same log; it is dropped, not counted as skipped', () => {
    const last = message(4, 'applied');
    const plan = planBatch({ floor: 5n, verify: { offset: 4n, digest: messageDigest(last) } }, [last, message(5)], 5n);
    expect(offsetsOf(plan)).toEqual([5]);
    expect(plan.skipped).toBe(0);
    expect(plan.position.verify).toBeUndefined();
  });

  test('another message at that offset: another log, and nothing is decided', () => {
    const plan = planBatch({ floor: 5n, verify: { offset: 4n, digest: messageDigest(message(4, 'applied')) } }, [message(4, 'other'), message(5)], 5n);
    expect(plan.step).toEqual({ kind: 'different-log', reason: 'the message at offset 4 is not the one the inbox applied there' });
  });

  test('the last applied message gone (the batch starts past it): said once, then decided', () => {
    const plan = planBatch({ floor: 5n, verify: { offset: 4n, digest: 'x' } }, batch(5, 6), 6n);
    expect(plan.unverified).toBe(4n);
    expect(plan.position.verify).toBeUndefined();
    expect(offsetsOf(plan)).toEqual([5, 6]);
  });

  test('a batch that starts before the last applied message keeps looking for it', () => {
    const verify = { offset: 4n, digest: 'x' };
    const plan = planBatch({ floor: 5n, verify }, batch(2, 3), 3n);
    expect(plan.position.verify).toEqual(verify);
    expect(plan.step).toEqual({ kind: 'applied-already', seekTo: 5n });
  });
});

describe('isIdle', () => {
  const partitionOffsets = (...entries: [number, bigint, bigint][]) => new Map(entries.map(([partition, low, high]) => [partition, { partition, low, high }]));
  const inboxRow = (partition: number, nextOffset: string) => ({ group: 'g', topic: 't', partition, nextOffset });

  test('idle only when every partition is consumed up to its end; lags are told on the way', () => {
    const lags: [number, number][] = [];
    expect(isIdle(partitionOffsets([0, 0n, 3n], [1, 0n, 2n]), [inboxRow(0, '3'), inboxRow(1, '1')], (partition, lag) => lags.push([partition, lag]))).toBe(false);
    expect(lags).toEqual([
      [0, 0],
      [1, 1],
    ]);
    expect(isIdle(partitionOffsets([0, 0n, 3n], [1, 0n, 0n]), [inboxRow(0, '3')])).toBe(true);
  });

  test('a partition that ends below its inbox is another log, not idle; no partitions is not idle', () => {
    expect(isIdle(partitionOffsets([0, 0n, 2n]), [inboxRow(0, '5')])).toBe(false);
    expect(isIdle(new Map(), [])).toBe(false);
  });
});

describe('planPoll: what the publisher does after a read of the log', () => {
  const at = { commitTimestamp: '2026-12-02T00:00:00.000000001Z', shard: 0, eventId: 'e1' } as unknown as GlobalPosition;
  const state = (sinceRenewalMs: number, untilIdle = false) => ({ untilIdle, sinceRenewalMs, leaseMs: 10_000 });

  test('a page to send: sent, after renewing the lease once half of it has passed', () => {
    expect(planPoll({ events: 3, position: at }, state(4_000))).toEqual({ kind: 'send', renewFirst: false });
    expect(planPoll({ events: 3, position: at }, state(5_001))).toEqual({ kind: 'send', renewFirst: true });
  });

  test('nothing to send: stop when idle is the goal, else wait (renewing when due)', () => {
    expect(planPoll({ events: 0, position: null }, state(9_000, true))).toEqual({ kind: 'stop-idle' });
    expect(planPoll({ events: 0, position: null }, state(9_000))).toEqual({ kind: 'wait', renewFirst: true });
    expect(planPoll({ events: 0, position: null }, state(1_000))).toEqual({ kind: 'wait', renewFirst: false });
  });
});

describe('checkpointAfter', () => {
  test('counts the page and keeps the highest end each partition reached (base offset + 1)', () => {
    const before = { position: null, publishedEvents: 10, partitionEnds: { '0': '7', '1': '3' } };
    const position = { commitTimestamp: '2026-12-02T00:00:00.000000001Z', shard: 0, eventId: 'e9' } as unknown as GlobalPosition;
    const sent = [
      { topicName: 't', partition: 0, errorCode: 0, baseOffset: '4' },
      { topicName: 't', partition: 2, errorCode: 0, baseOffset: '0' },
    ];
    expect(checkpointAfter(before, 5, position, sent)).toEqual({ position, publishedEvents: 15, partitionEnds: { '0': '7', '1': '3', '2': '1' } });
  });
});
