import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import fc from 'fast-check';
import { commandsJsonSchema, eventsJsonSchema } from '../../app/json-schema';
import { parseCommandText } from '../../ledger/core/commands';
import { EVENT_TYPES } from '../../ledger/core/events';
import { BAD_INPUT_ROWS } from '../support/bad-input-rows';
import { materialise, scenarioArb } from '../model/generators';
import { adjustWire, chargeWire, depositWire, failWire, openInvoiceWire, settleWire, toJsonText, voidInvoiceWire } from './support/fixtures';

/**
 * The JSON Schema that `spanledger schema` prints, checked with a real validator (ajv,
 * draft 2020-12) against the ledger's own parser: it accepts every valid fixture, and it
 * refuses every class of bad input the parser refuses, except the classes named here, which
 * JSON Schema cannot say (the README lists them too).
 */
const ajv = new Ajv2020({ allErrors: true, strict: true, validateFormats: false });
const validCommand = ajv.compile(commandsJsonSchema());
const validEvent = ajv.compile(eventsJsonSchema());

/** Bad-input classes JSON Schema cannot express: the ledger refuses them, a schema validator does not. */
const BEYOND_JSON_SCHEMA = new Set([
  // JSON.parse keeps the last of two equal keys; JSON Schema sees one object.
  'duplicate keys',
  // JSON Schema's integer is a value: 5e6 is the integer 5000000; the ledger wants the text exact.
  'amount with an exponent',
  // A 19-digit decimal string above INT64 matches the digits pattern.
  'amount overflowing INT64',
  // Calendar validity (February 30th) is not a pattern.
  'invalid calendar date',
]);

function jsonValue(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

describe('JSON Schema of commands', () => {
  test('accepts every valid fixture: one of each type, the sample file, and the model generator\'s valid commands', () => {
    const fixtures = [depositWire(), depositWire({ source: 'zksync', chainId: 324, logIndex: 7, amountMicroUsd: 42, occurredAt: '2026-01-02T05:04:05.5+02:00' }), chargeWire(), chargeWire({ allowPartial: true, pending: true }), settleWire(), failWire(), adjustWire(), adjustWire({ amountMicroUsd: '-5' }), openInvoiceWire(), voidInvoiceWire()].map(toJsonText);
    const sample = readFileSync(path.join(__dirname, '..', '..', 'examples', 'payments.jsonl'), 'utf8').trim().split('\n');
    for (const text of [...fixtures, ...sample]) {
      expect(parseCommandText(text).ok).toBe(true);
      const value = JSON.parse(text) as unknown;
      expect({ text, valid: validCommand(value), errors: validCommand.errors ?? null }).toEqual({ text, valid: true, errors: null });
    }
    let checked = 0;
    fc.assert(
      fc.property(scenarioArb(30), (scenario) => {
        const { texts, intents } = materialise(scenario.ops, { tag: 'js' });
        texts.forEach((text, index) => {
          if (intents[index] !== 'valid') return;
          checked++;
          expect({ text, valid: validCommand(JSON.parse(text)) }).toEqual({ text, valid: true });
        });
      }),
      { numRuns: 50, seed: 20261201 },
    );
    expect(checked).toBeGreaterThan(100);
  });

  test('refuses every class of bad input the ledger refuses, except the ones JSON Schema cannot say', () => {
    const acceptedBySchema: string[] = [];
    for (const row of BAD_INPUT_ROWS) {
      // Bytes that are not UTF-8 are refused before there is any text to validate.
      if (typeof row.value !== 'string') continue;
      const text = row.value;
      expect({ row: row.name, ledger: parseCommandText(text).ok }).toEqual({ row: row.name, ledger: false });
      const parsed = jsonValue(text);
      // Not JSON at all: refused before any schema applies (a Go or Python parser refuses it too).
      if (!parsed.ok) continue;
      if (validCommand(parsed.value)) acceptedBySchema.push(row.name);
    }
    // Exactly the named classes get through: a rule the schema should say and does not fails here.
    expect(acceptedBySchema.sort()).toEqual([...BEYOND_JSON_SCHEMA].sort());
  });

  test('names the field: an error points at the offending property', () => {
    validCommand(JSON.parse(toJsonText(depositWire({ amountMicroUsd: '-5' }))));
    expect(validCommand.errors!.some((error) => error.instancePath === '/amountMicroUsd')).toBe(true);
  });
});

describe('JSON Schema of events', () => {
  test('has one branch per event type, each with the export line\'s fields', () => {
    const schema = eventsJsonSchema() as { oneOf: { properties: { type: { const: string } }; required: string[] }[] };
    expect(schema.oneOf.map((branch) => branch.properties.type.const)).toEqual(EVENT_TYPES);
    for (const branch of schema.oneOf) expect(branch.required).toEqual(expect.arrayContaining(['eventId', 'chainHash', 'postings', 'payload']));
  });

  test('accepts an exported event and refuses one with a bad payload', () => {
    const line = {
      eventId: 'a'.repeat(32),
      type: 'BalanceAdjusted',
      schemaVersion: 1,
      streamId: 'account-u1',
      streamVersion: 3,
      userId: 'u1',
      occurredAt: '2026-01-02T03:04:05.000000Z',
      committedAt: '2026-12-01T10:00:00.123456789Z',
      contentDigest: 'b'.repeat(64),
      chainHash: 'c'.repeat(64),
      postings: [{ debit: 'equity:adjustments', credit: 'user:u1', amountMicroUsd: '5' }],
      payload: { userId: 'u1', amountMicroUsd: '5', reason: 'r', idempotencyKey: 'k', occurredAt: '2026-01-02T03:04:05.000000Z' },
    };
    expect({ valid: validEvent(line), errors: validEvent.errors ?? null }).toEqual({ valid: true, errors: null });
    expect(validEvent({ ...line, payload: { ...line.payload, amountMicroUsd: 5 } })).toBe(false);
    expect(validEvent({ ...line, chainHash: 'not a hash' })).toBe(false);
  });
});
