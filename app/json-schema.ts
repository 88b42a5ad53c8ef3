import { z } from 'zod';
import { Command } from '../ledger/core/commands';
import { EVENT_SCHEMA_VERSION, EVENT_TYPES, eventPayloadSchemas } from '../ledger/core/events';

/**
 * JSON Schema (draft 2020-12) of the wire formats, generated from the zod schemas, for
 * producers and consumers in other languages: a Go or Python producer validates a command
 * before it puts it on Kafka; a consumer of the events topic validates what it reads.
 *
 * The zod schemas normalise as they validate (amounts to canonical decimal strings, times to
 * UTC microseconds); the schema describes what they accept (their input), with each field's
 * rule said in JSON Schema where it can be. What JSON Schema cannot say, and only the
 * ledger checks: duplicate keys in one object, a JSON number's exact text (1.0 and 1e3 are
 * integers to JSON Schema, not to the ledger), a decimal string outside INT64 (19 digits
 * above 9223372036854775807), and calendar validity (February 30th, hour 24, offsets).
 */
const SCHEMA = 'https://json-schema.org/draft/2020-12/schema';

export const SCHEMA_KINDS = ['commands', 'events'] as const;
export type SchemaKind = (typeof SCHEMA_KINDS)[number];

function generated(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _schema, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** One payment command, as `submit` and `consume` take it (a line, or a Kafka message value). */
export function commandsJsonSchema(): Record<string, unknown> {
  return {
    $schema: SCHEMA,
    $id: 'https://spanledger.dev/schemas/command.json',
    title: 'spanledger command',
    description: 'One payment command: a submit line, or the value of a message on the commands topic (keyed by its userId).',
    ...generated(Command),
  };
}

const hex = (digits: number) => ({ type: 'string', pattern: `^[0-9a-f]{${digits}}$` });
const decimal = { type: 'string', pattern: '^-?(0|[1-9][0-9]*)$' };

/** One ledger event, as `events export` writes it and `publish` sends it. */
export function eventsJsonSchema(): Record<string, unknown> {
  return {
    $schema: SCHEMA,
    $id: 'https://spanledger.dev/schemas/event.json',
    title: 'spanledger event',
    description: 'One ledger event: an `events export` line, or the value of a message on the events topic (keyed by its userId, header event-id).',
    oneOf: EVENT_TYPES.map((type) => ({
      type: 'object',
      properties: {
        eventId: hex(32),
        type: { const: type },
        schemaVersion: { const: EVENT_SCHEMA_VERSION[type] },
        streamId: { type: 'string', minLength: 1 },
        streamVersion: { type: 'integer', minimum: 1 },
        userId: { type: 'string', minLength: 1 },
        occurredAt: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$' },
        committedAt: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z$' },
        contentDigest: hex(64),
        chainHash: { anyOf: [hex(64), { type: 'null' }] },
        postings: {
          type: 'array',
          items: { type: 'object', properties: { debit: { type: 'string' }, credit: { type: 'string' }, amountMicroUsd: decimal }, required: ['debit', 'credit', 'amountMicroUsd'], additionalProperties: false },
        },
        payload: generated(eventPayloadSchemas[type]),
      },
      required: ['eventId', 'type', 'schemaVersion', 'streamId', 'streamVersion', 'userId', 'occurredAt', 'committedAt', 'contentDigest', 'chainHash', 'postings', 'payload'],
      additionalProperties: false,
    })),
  };
}

export function jsonSchemaOf(kind: SchemaKind): Record<string, unknown> {
  return kind === 'commands' ? commandsJsonSchema() : eventsJsonSchema();
}
