import fc from 'fast-check';
import { Command, COMMAND_TYPES, parseCommandText, parseCommandValue } from '../../ledger/core/commands';
import { LIMITS } from '../../ledger/core/limits';
import { adjustWire, chargeWire, depositWire, failWire, openInvoiceWire, raw, settleWire, T0, toJsonText, TX_HASH, voidInvoiceWire, WALLET, Wire } from './support/fixtures';

function parsed(wire: Wire | string): Command {
  const result = parseCommandText(typeof wire === 'string' ? wire : toJsonText(wire));
  if (!result.ok) throw new Error(`expected a valid command, got: ${result.message}`);
  return result.command;
}

function refused(text: string): string {
  const result = parseCommandText(text);
  if (result.ok) throw new Error(`expected ${text.slice(0, 200)} to be refused, got ${JSON.stringify(result.command)}`);
  return result.message;
}

describe('parseCommandText: valid commands', () => {
  it('deposit (all fields are required): values normalised, type kept', () => {
    expect(parsed(depositWire())).toEqual({
      type: 'deposit',
      userId: 'user-1',
      source: 'ethereum',
      chainId: '1',
      txHash: TX_HASH,
      logIndex: '0',
      blockNumber: '19000000',
      wallet: WALLET,
      tokenValue: '5000000000000000000',
      amountMicroUsd: '5000000',
      occurredAt: T0,
    });
  });

  it('deposit from zksync with JSON numbers, upper-case hex and an offset timestamp', () => {
    const command = parsed(
      depositWire({
        source: 'zksync',
        chainId: 324,
        txHash: `0X${'AB'.repeat(32)}`,
        logIndex: 7,
        blockNumber: 123,
        wallet: `0x${'Cd'.repeat(20)}`,
        tokenValue: 0,
        amountMicroUsd: 42,
        occurredAt: '2026-01-02T05:04:05.5+02:00',
      }),
    );
    expect(command).toEqual({
      type: 'deposit',
      userId: 'user-1',
      source: 'zksync',
      chainId: '324',
      txHash: `0x${'ab'.repeat(32)}`,
      logIndex: '7',
      blockNumber: '123',
      wallet: `0x${'cd'.repeat(20)}`,
      tokenValue: '0',
      amountMicroUsd: '42',
      occurredAt: '2026-01-02T03:04:05.500000Z',
    });
  });

  it('charge minimal: allowPartial and pending default to false', () => {
    expect(parsed(chargeWire())).toEqual({
      type: 'charge',
      userId: 'user-1',
      invoiceId: 'inv-1',
      amountMicroUsd: '1000000',
      occurredAt: T0,
      allowPartial: false,
      pending: false,
    });
  });

  it('charge full: flags kept', () => {
    expect(parsed(chargeWire({ allowPartial: true, pending: true }))).toMatchObject({ allowPartial: true, pending: true });
    expect(parsed(chargeWire({ allowPartial: false, pending: true }))).toMatchObject({ allowPartial: false, pending: true });
  });

  it('settleCharge minimal: reference defaults to null', () => {
    expect(parsed(settleWire())).toEqual({ type: 'settleCharge', userId: 'user-1', invoiceId: 'inv-1', occurredAt: '2026-01-02T03:05:00.000000Z', reference: null });
  });

  it('settleCharge full: reference kept; an explicit null is the same as none', () => {
    expect(parsed(settleWire({ reference: 'psp-123' }))).toMatchObject({ reference: 'psp-123' });
    expect(parsed(settleWire({ reference: null }))).toEqual(parsed(settleWire()));
  });

  it('failCharge: reason kept', () => {
    expect(parsed(failWire())).toEqual({ type: 'failCharge', userId: 'user-1', invoiceId: 'inv-1', occurredAt: '2026-01-02T03:05:00.000000Z', reason: 'card declined' });
  });

  it('openInvoice: description defaults to null; voidInvoice keeps its reason', () => {
    expect(parsed(openInvoiceWire())).toEqual({ type: 'openInvoice', userId: 'user-1', invoiceId: 'in-1', amountMicroUsd: '30000000', occurredAt: T0, description: null });
    expect(parsed(openInvoiceWire({ description: 'storage 2026-11' }))).toMatchObject({ description: 'storage 2026-11' });
    expect(parsed(voidInvoiceWire())).toEqual({ type: 'voidInvoice', userId: 'user-1', invoiceId: 'in-1', occurredAt: '2026-01-02T03:05:00.000000Z', reason: 'billing error' });
  });

  it('adjust: positive and negative amounts', () => {
    expect(parsed(adjustWire())).toEqual({
      type: 'adjust',
      userId: 'user-1',
      amountMicroUsd: '1000000',
      reason: 'goodwill credit',
      idempotencyKey: 'adj-1',
      occurredAt: T0,
    });
    expect(parsed(adjustWire({ amountMicroUsd: -250 }))).toMatchObject({ amountMicroUsd: '-250' });
    expect(parsed(adjustWire({ amountMicroUsd: '-9223372036854775808' }))).toMatchObject({ amountMicroUsd: '-9223372036854775808' });
  });

  it('every command type has a valid example here', () => {
    const examples = [depositWire(), chargeWire(), settleWire(), failWire(), adjustWire(), openInvoiceWire(), voidInvoiceWire()].map((wire) => parsed(wire).type);
    expect([...examples].sort()).toEqual([...COMMAND_TYPES].sort());
  });

  it('key order and white space do not matter', () => {
    const text = '{ "occurredAt" : "2026-01-02T03:04:05Z",\n "amountMicroUsd": 1000000, "invoiceId":"inv-1", "userId":"user-1", "type":"charge" }';
    expect(parsed(text)).toEqual(parsed(chargeWire()));
  });
});

describe('parseCommandText: normalisation ("same content" is plain equality)', () => {
  it.each([
    ['amount as JSON number vs string', { amountMicroUsd: 5000000 }, { amountMicroUsd: '5000000' }],
    ['logIndex as JSON number vs string', { logIndex: 0 }, { logIndex: '0' }],
    ['chainId as JSON number vs string', { chainId: 1 }, { chainId: '1' }],
    ['Z vs +00:00', { occurredAt: '2026-01-02T03:04:05Z' }, { occurredAt: '2026-01-02T03:04:05+00:00' }],
    ['no fraction vs .000000', { occurredAt: '2026-01-02T03:04:05Z' }, { occurredAt: '2026-01-02T03:04:05.000000Z' }],
    ['.5 vs .500', { occurredAt: '2026-01-02T03:04:05.5Z' }, { occurredAt: '2026-01-02T03:04:05.500Z' }],
    ['an offset vs the same UTC instant', { occurredAt: '2026-01-02T08:34:05+05:30' }, { occurredAt: '2026-01-02T03:04:05Z' }],
    ['upper- vs lower-case txHash', { txHash: TX_HASH.toUpperCase().replace('0X', '0x') }, { txHash: TX_HASH }],
    ['0X vs 0x prefix', { txHash: TX_HASH.replace('0x', '0X') }, { txHash: TX_HASH }],
    ['upper- vs lower-case wallet', { wallet: WALLET.toUpperCase() }, { wallet: WALLET }],
  ])('%s', (_name, a, b) => {
    expect(parsed(depositWire(a))).toEqual(parsed(depositWire(b)));
  });

  it('an explicit false flag is the same as the default', () => {
    expect(parsed(chargeWire({ allowPartial: false, pending: false }))).toEqual(parsed(chargeWire()));
  });

  it('amounts come out as canonical decimal strings and timestamps in canonical UTC', () => {
    const command = parsed(depositWire({ amountMicroUsd: 9007199254740991, occurredAt: '2026-06-01T00:00:00.000001-07:00' }));
    expect(command).toMatchObject({ amountMicroUsd: '9007199254740991', occurredAt: '2026-06-01T07:00:00.000001Z' });
  });

  it('strings carry amounts beyond 2^53 exactly, up to INT64 max', () => {
    expect(parsed(depositWire({ amountMicroUsd: '9007199254740993' }))).toMatchObject({ amountMicroUsd: '9007199254740993' });
    expect(parsed(depositWire({ amountMicroUsd: '9223372036854775807' }))).toMatchObject({ amountMicroUsd: '9223372036854775807' });
  });

  it('normalising is idempotent: a parsed command sent again parses to itself', () => {
    const wire = fc.record({
      amountMicroUsd: fc.oneof(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }).map(String)),
      logIndex: fc.oneof(fc.nat(), fc.nat().map(String)),
      txHash: fc.stringMatching(/^0[xX][0-9a-fA-F]{64}$/),
      occurredAt: fc.constantFrom('2026-01-02T03:04:05Z', '2026-01-02T03:04:05.1+01:00', '2026-01-02t03:04:05.123456z', '2030-12-31T23:59:59.999999-12:00'),
    });
    fc.assert(
      fc.property(wire, (overrides) => {
        const once = parsed(depositWire(overrides));
        expect(parsed(once as unknown as Wire)).toEqual(once);
      }),
    );
  });

  it('parseCommandValue accepts JavaScript safe integers and refuses unsafe ones and fractions', () => {
    const value = (amount: unknown) => parseCommandValue({ ...chargeWire(), amountMicroUsd: amount });
    expect(value(5)).toMatchObject({ ok: true, command: { amountMicroUsd: '5' } });
    expect(value(2 ** 53)).toMatchObject({ ok: false, message: expect.stringContaining('amountMicroUsd') });
    expect(value(1.5)).toMatchObject({ ok: false, message: expect.stringContaining('amountMicroUsd') });
    expect(value(Number.NaN)).toMatchObject({ ok: false, message: expect.stringContaining('amountMicroUsd') });
    expect(value(10n)).toMatchObject({ ok: false, message: expect.stringContaining('amountMicroUsd') });
  });
});

/**
 * One row per class of bad input: the text, and the field the message must name.
 * Rows built from a valid wire command change exactly one thing.
 */
const big = 'x'.repeat(LIMITS.commandTextLengthMax);
const badInput: Array<[string, string, string]> = [
  // JSON level
  ['truncated JSON', toJsonText(chargeWire()).slice(0, -3), 'json'],
  ['trailing garbage', `${toJsonText(chargeWire())} {}`, 'json'],
  ['raw control character in a string', toJsonText(chargeWire()).replace('inv-1', 'inv\n1'), 'json'],
  ['duplicate key', toJsonText(chargeWire()).replace('{', '{"amountMicroUsd":"1",'), 'amountMicroUsd'],
  ['nesting beyond the limit', toJsonText(chargeWire({ reason: raw('['.repeat(40) + ']'.repeat(40)) })), 'json'],
  ['oversize line (> 64 KiB)', toJsonText(chargeWire({ invoiceId: big })), 'command'],
  // not an object
  ['array instead of object', `[${toJsonText(chargeWire())}]`, 'command'],
  ['null', 'null', 'command'],
  ['a bare string', '"charge"', 'command'],
  ['a bare number', '42', 'command'],
  // type
  ['missing type', toJsonText(chargeWire({ type: undefined })), 'type'],
  ['unknown type', toJsonText(chargeWire({ type: 'refund' })), 'type'],
  ['type of the wrong case', toJsonText(chargeWire({ type: 'Charge' })), 'type'],
  ['type as a number', toJsonText(chargeWire({ type: 1 })), 'type'],
  // fields
  ['unknown field', toJsonText(chargeWire({ currency: 'USD' })), 'currency'],
  ['field of another command type', toJsonText(settleWire({ amountMicroUsd: '5' })), 'amountMicroUsd'],
  ['settle without the user it moves', toJsonText(settleWire({ userId: undefined })), 'userId'],
  ['missing required field', toJsonText(chargeWire({ invoiceId: undefined })), 'invoiceId'],
  ['missing occurredAt', toJsonText(adjustWire({ occurredAt: undefined })), 'occurredAt'],
  ['id of the wrong type', toJsonText(chargeWire({ userId: 5 })), 'userId'],
  ['id null', toJsonText(chargeWire({ invoiceId: null })), 'invoiceId'],
  ['empty id', toJsonText(chargeWire({ userId: '' })), 'userId'],
  ['escaped control character in an id', toJsonText(chargeWire({ invoiceId: 'inv\u00011' })), 'invoiceId'],
  ['DEL in an id', toJsonText(adjustWire({ idempotencyKey: 'key\u007f' })), 'idempotencyKey'],
  ['lone high surrogate in an id', toJsonText(chargeWire({ userId: 'u\ud800' })), 'userId'],
  ['lone low surrogate in an id', toJsonText(chargeWire({ invoiceId: '\udc00inv' })), 'invoiceId'],
  ['lone surrogate at the end of a long id', toJsonText(depositWire({ userId: `${'u'.repeat(60)}\ud83d` })), 'userId'],
  ['lone surrogate in free text', toJsonText(failWire({ reason: 'declined \udc00' })), 'reason'],
  ['lone surrogate in a reference', toJsonText(settleWire({ reference: 'ref\ud800' })), 'reference'],
  ['swapped surrogate pair in an id', toJsonText(adjustWire({ idempotencyKey: 'key\ude00\ud83d' })), 'idempotencyKey'],
  ['leading white space in an id', toJsonText(chargeWire({ userId: ' user-1' })), 'userId'],
  ['trailing white space in an id', toJsonText(chargeWire({ invoiceId: 'inv-1 ' })), 'invoiceId'],
  ['id longer than the limit', toJsonText(chargeWire({ userId: 'u'.repeat(LIMITS.identifierLengthMax + 1) })), 'userId'],
  ['empty free text', toJsonText(failWire({ reason: '' })), 'reason'],
  ['reference of the wrong type', toJsonText(settleWire({ reference: 7 })), 'reference'],
  // amounts
  ['float amount', toJsonText(chargeWire({ amountMicroUsd: raw('1.5') })), 'amountMicroUsd'],
  ['integral float amount (5.0)', toJsonText(chargeWire({ amountMicroUsd: raw('5.0') })), 'amountMicroUsd'],
  ['exponent amount (1e3)', toJsonText(chargeWire({ amountMicroUsd: raw('1e3') })), 'amountMicroUsd'],
  ['decimal string amount', toJsonText(chargeWire({ amountMicroUsd: '1.5' })), 'amountMicroUsd'],
  ['exponent string amount', toJsonText(chargeWire({ amountMicroUsd: '1e3' })), 'amountMicroUsd'],
  ['amount with a leading zero', toJsonText(chargeWire({ amountMicroUsd: '05' })), 'amountMicroUsd'],
  ['amount with a plus sign', toJsonText(chargeWire({ amountMicroUsd: '+5' })), 'amountMicroUsd'],
  ['amount with white space', toJsonText(chargeWire({ amountMicroUsd: ' 5' })), 'amountMicroUsd'],
  ['empty amount', toJsonText(chargeWire({ amountMicroUsd: '' })), 'amountMicroUsd'],
  ['boolean amount', toJsonText(chargeWire({ amountMicroUsd: true })), 'amountMicroUsd'],
  ['null amount', toJsonText(chargeWire({ amountMicroUsd: null })), 'amountMicroUsd'],
  ['negative charge amount', toJsonText(chargeWire({ amountMicroUsd: '-5' })), 'amountMicroUsd'],
  ['negative deposit amount (number)', toJsonText(depositWire({ amountMicroUsd: -5 })), 'amountMicroUsd'],
  ['zero charge amount', toJsonText(chargeWire({ amountMicroUsd: '0' })), 'amountMicroUsd'],
  ['zero deposit amount (number)', toJsonText(depositWire({ amountMicroUsd: 0 })), 'amountMicroUsd'],
  ['negative zero amount', toJsonText(chargeWire({ amountMicroUsd: '-0' })), 'amountMicroUsd'],
  ['amount above INT64 max (string)', toJsonText(chargeWire({ amountMicroUsd: '9223372036854775808' })), 'amountMicroUsd'],
  ['adjust below INT64 min (string)', toJsonText(adjustWire({ amountMicroUsd: '-9223372036854775809' })), 'amountMicroUsd'],
  ['unsafe JSON number amount (2^53 + 1)', toJsonText(chargeWire({ amountMicroUsd: raw('9007199254740993') })), 'amountMicroUsd'],
  ['unsafe JSON number logIndex (2^53)', toJsonText(depositWire({ logIndex: raw('9007199254740992') })), 'logIndex'],
  ['adjust with 0', toJsonText(adjustWire({ amountMicroUsd: 0 })), 'amountMicroUsd'],
  ['invoice of zero', toJsonText(openInvoiceWire({ amountMicroUsd: '0' })), 'amountMicroUsd'],
  ['negative invoice', toJsonText(openInvoiceWire({ amountMicroUsd: '-1' })), 'amountMicroUsd'],
  ['invoice without its user', toJsonText(openInvoiceWire({ userId: undefined })), 'userId'],
  ['void without a reason', toJsonText(voidInvoiceWire({ reason: undefined })), 'reason'],
  ['void with an amount', toJsonText(voidInvoiceWire({ amountMicroUsd: '5' })), 'amountMicroUsd'],
  ['adjust with "0"', toJsonText(adjustWire({ amountMicroUsd: '0' })), 'amountMicroUsd'],
  // deposit-specific
  ['non-hex txHash', toJsonText(depositWire({ txHash: `0x${'zz'.repeat(32)}` })), 'txHash'],
  ['short txHash', toJsonText(depositWire({ txHash: `0x${'ab'.repeat(31)}` })), 'txHash'],
  ['txHash without 0x', toJsonText(depositWire({ txHash: 'ab'.repeat(32) })), 'txHash'],
  ['short wallet', toJsonText(depositWire({ wallet: `0x${'cd'.repeat(19)}` })), 'wallet'],
  ['long wallet', toJsonText(depositWire({ wallet: `0x${'cd'.repeat(21)}` })), 'wallet'],
  ['wallet as a number', toJsonText(depositWire({ wallet: 12 })), 'wallet'],
  ['unknown source', toJsonText(depositWire({ source: 'bitcoin' })), 'source'],
  ['chainId zero', toJsonText(depositWire({ chainId: 0 })), 'chainId'],
  ['negative logIndex', toJsonText(depositWire({ logIndex: -1 })), 'logIndex'],
  ['negative tokenValue', toJsonText(depositWire({ tokenValue: '-1' })), 'tokenValue'],
  // flags
  ['allowPartial as a string', toJsonText(chargeWire({ allowPartial: 'true' })), 'allowPartial'],
  ['pending as a number', toJsonText(chargeWire({ pending: 1 })), 'pending'],
  ['allowPartial null', toJsonText(chargeWire({ allowPartial: null })), 'allowPartial'],
  // timestamps
  ['timestamp without offset', toJsonText(chargeWire({ occurredAt: '2026-01-02T03:04:05' })), 'occurredAt'],
  ['timestamp Feb 30', toJsonText(chargeWire({ occurredAt: '2026-02-30T00:00:00Z' })), 'occurredAt'],
  ['timestamp month 13', toJsonText(chargeWire({ occurredAt: '2026-13-01T00:00:00Z' })), 'occurredAt'],
  ['timestamp hour 24', toJsonText(chargeWire({ occurredAt: '2026-01-01T24:00:00Z' })), 'occurredAt'],
  ['timestamp with nanoseconds', toJsonText(chargeWire({ occurredAt: '2026-01-01T00:00:00.123456789Z' })), 'occurredAt'],
  ['timestamp as epoch number', toJsonText(chargeWire({ occurredAt: 1767312245 })), 'occurredAt'],
  ['date-only timestamp', toJsonText(chargeWire({ occurredAt: '2026-01-02' })), 'occurredAt'],
  ['timestamp with invalid offset', toJsonText(chargeWire({ occurredAt: '2026-01-02T03:04:05+24:00' })), 'occurredAt'],
  ['empty timestamp', toJsonText(settleWire({ occurredAt: '' })), 'occurredAt'],
];

describe('parseCommandText: bad input', () => {
  it('has at least 30 classes of bad input', () => {
    expect(badInput.length).toBeGreaterThanOrEqual(30);
  });

  it.each(badInput.map(([name, text, field]) => [name, field, text]))('%s → ok:false naming %s', (_name, field, text) => {
    const message = refused(text);
    // Names the field as a word, so "amountMicroUsd" is not satisfied by some longer name.
    expect(message).toMatch(new RegExp(`(^|[^A-Za-z])${field}([^A-Za-z]|$)`));
  });

  it('the oversize check is on the line length: exactly the limit is read, one more is refused unread', () => {
    const base = toJsonText(chargeWire({ invoiceId: 'ID' }));
    const atLimit = base.replace('ID', 'i'.repeat(LIMITS.commandTextLengthMax - base.length + 2));
    expect(atLimit).toHaveLength(LIMITS.commandTextLengthMax);
    // At the limit the line is parsed: the too-long invoice ID is what is wrong.
    expect(refused(atLimit)).toMatch(/^invoiceId:/);
    expect(refused(`${atLimit} `)).toMatch(/^command: longer than 65536 characters/);
  });

  it('names every offending field when several are wrong', () => {
    const message = refused(toJsonText(chargeWire({ userId: '', amountMicroUsd: '0', occurredAt: 'yesterday', extra: 1 })));
    for (const field of ['userId', 'amountMicroUsd', 'occurredAt', 'extra']) expect(message).toContain(field);
    expect(message).not.toContain('invoiceId');
  });

  it('says which fields are unknown', () => {
    expect(refused(toJsonText(chargeWire({ foo: 1, bar: 2 })))).toMatch(/foo, bar: unknown fields/);
  });

  it('a value above INT64 is reported as out of range, a malformed one as not an integer', () => {
    expect(refused(toJsonText(chargeWire({ amountMicroUsd: '9223372036854775808' })))).toMatch(/amountMicroUsd: .*64-bit/);
    expect(refused(toJsonText(chargeWire({ amountMicroUsd: '1.5' })))).toMatch(/amountMicroUsd: must be a decimal integer/);
  });

  it('an unsafe JSON number is refused with the advice to send a string', () => {
    expect(refused(toJsonText(chargeWire({ amountMicroUsd: raw('9007199254740993') })))).toMatch(/decimal strings/);
  });

  // The field is there; "is required" sends the client looking for the wrong problem.
  it.each([
    ['userId: 5', chargeWire({ userId: 5 })],
    ['allowPartial: "true"', chargeWire({ allowPartial: 'true' })],
    ['wallet: 12', depositWire({ wallet: 12 })],
    ['reference: 7', settleWire({ reference: 7 })],
    ['source: 1', depositWire({ source: 1 })],
  ])('a present field of the wrong type (%s) is not reported as missing', (_name, wire) => {
    expect(refused(toJsonText(wire))).not.toMatch(/is required/);
  });

  it('a timestamp an offset pushes past year 9999 is refused, not thrown', () => {
    const text = toJsonText(chargeWire({ occurredAt: '9999-12-31T23:59:59-01:00' }));
    expect(refused(text)).toBe('occurredAt: is outside 0001-01-01 to 9999-12-31 UTC');
  });

  it('any single-character corruption of a valid command is either refused or still a valid command (never a throw)', () => {
    const text = toJsonText(depositWire());
    fc.assert(
      fc.property(fc.nat({ max: text.length - 1 }), fc.string({ minLength: 0, maxLength: 1 }), (at, ch) => {
        const corrupted = text.slice(0, at) + ch + text.slice(at + 1);
        const result = parseCommandText(corrupted);
        if (result.ok) expect(result.command.type).toBe('deposit');
        else expect(result.message).toMatch(/.: ./);
      }),
      { numRuns: 500 },
    );
  });
});
