import net from 'node:net';
import { Kafka, logLevel } from 'kafkajs';

/**
 * Appends one transaction control record (a COMMIT or ABORT marker) to a partition of the
 * embedded broker (librdkafka's mock cluster), as a transactional producer's commit would:
 * a hand-encoded Produce v3 request over a raw socket to the partition leader.
 *
 * The mock writes no markers for its own transactions (its EndTxn only answers), but it
 * stores a produced record batch as it is, so a marker can be put there directly. A real
 * broker refuses control batches from clients: this is for tests on the mock only.
 */
// kafkajs's own encoders for the parts that need them (CRC32C, varint records); they cannot set the control bit.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C') as (buffer: Buffer) => number;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (record: { offsetDelta: number; timestampDelta: number; key: Buffer; value: Buffer }) => { buffer: Buffer };

const CONTROL_TYPES = { ABORT: 0, COMMIT: 1 } as const;
const ATTRIBUTE_TRANSACTIONAL = 0x10;
const ATTRIBUTE_CONTROL = 0x20;

/** A RecordBatch (magic 2) holding one control record. */
function controlBatch(type: keyof typeof CONTROL_TYPES): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0); // control record key version
  key.writeInt16BE(CONTROL_TYPES[type], 2);
  const value = Buffer.alloc(6); // version 0, coordinator epoch 0
  const record = Record({ offsetDelta: 0, timestampDelta: 0, key, value }).buffer;
  const now = BigInt(Date.now());
  const head = Buffer.alloc(2 + 4 + 8 + 8 + 8 + 2 + 4 + 4);
  let at = 0;
  at = head.writeInt16BE(ATTRIBUTE_TRANSACTIONAL | ATTRIBUTE_CONTROL, at);
  at = head.writeInt32BE(0, at); // last offset delta
  at = head.writeBigInt64BE(now, at); // first timestamp
  at = head.writeBigInt64BE(now, at); // max timestamp
  at = head.writeBigInt64BE(0n, at); // producer id
  at = head.writeInt16BE(0, at); // producer epoch
  at = head.writeInt32BE(-1, at); // base sequence
  head.writeInt32BE(1, at); // records
  const body = Buffer.concat([head, record]);
  const prefix = Buffer.alloc(8 + 4 + 4 + 1 + 4);
  prefix.writeBigInt64BE(0n, 0); // base offset: the broker assigns it
  prefix.writeInt32BE(4 + 1 + 4 + body.length, 8); // batch length, from the leader epoch on
  prefix.writeInt32BE(-1, 12); // partition leader epoch
  prefix.writeInt8(2, 16); // magic
  prefix.writeUInt32BE(crc32C(body), 17);
  return Buffer.concat([prefix, body]);
}

const int16 = (value: number) => {
  const buffer = Buffer.alloc(2);
  buffer.writeInt16BE(value);
  return buffer;
};
const int32 = (value: number) => {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
};
const text = (value: string) => Buffer.concat([int16(Buffer.byteLength(value)), Buffer.from(value)]);

function produceRequest(topic: string, partition: number, records: Buffer): Buffer {
  const header = Buffer.concat([int16(0) /* Produce */, int16(3), int32(1), text('spanledger-test-control')]);
  const body = Buffer.concat([int16(-1) /* no transactional id */, int16(-1) /* acks=all */, int32(5000), int32(1), text(topic), int32(1), int32(partition), int32(records.length), records]);
  return Buffer.concat([int32(header.length + body.length), header, body]);
}

function roundTrip(host: string, port: number, frame: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${host}:${port}`));
    }, 5000);
    socket.on('connect', () => socket.write(frame));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 4 && received.length >= 4 + received.readInt32BE(0)) {
        clearTimeout(timer);
        socket.end();
        resolve(received.subarray(4, 4 + received.readInt32BE(0)));
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Appends a marker; resolves with the offset it took. */
export async function appendControlRecord(brokers: string, topic: string, partition: number, type: keyof typeof CONTROL_TYPES = 'COMMIT'): Promise<bigint> {
  const kafka = new Kafka({ clientId: 'spanledger-test-control', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  let leader: { host: string; port: number };
  try {
    const [cluster, metadata] = await Promise.all([admin.describeCluster(), admin.fetchTopicMetadata({ topics: [topic] })]);
    const partitionLeader = metadata.topics[0]!.partitions.find((entry) => entry.partitionId === partition)!.leader;
    leader = cluster.brokers.find((broker) => broker.nodeId === partitionLeader)!;
  } finally {
    await admin.disconnect();
  }
  const response = await roundTrip(leader.host, leader.port, produceRequest(topic, partition, controlBatch(type)));
  // correlation id, topics(1), name, partitions(1), partition, error code, base offset
  let at = 8;
  at += 2 + response.readInt16BE(at) + 4 + 4;
  const errorCode = response.readInt16BE(at);
  if (errorCode !== 0) throw new Error(`the broker refused the control record: error code ${errorCode}`);
  return response.readBigInt64BE(at + 2);
}
