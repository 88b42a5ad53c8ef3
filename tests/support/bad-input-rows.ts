import { depositWire } from './commands';

/** Bad input, table-driven: every row is one class of bad command line, valid JSON or not. */
const deposit = (extra: Record<string, unknown> = {}) => ({ ...depositWire('bad-user', 1, '1000000'), ...extra });
const json = (value: unknown) => JSON.stringify(value);
/** A deposit's JSON with `field` replaced by raw JSON text (for numbers JSON.stringify cannot write). */
const rawField = (field: string, raw: string) => json(deposit()).replace(new RegExp(`"${field}":("[^"]*"|[0-9]+)`), `"${field}":${raw}`);
const { type: _type, ...depositWithoutType } = deposit();
const { occurredAt: _occurredAt, ...depositWithoutTime } = deposit();

export interface BadRow {
  readonly name: string;
  readonly value: string | Buffer;
  /** What the `invalid` message (and the dead letter's error-message) must match. */
  readonly message: RegExp;
  /** The dead letter's error-code; INVALID_COMMAND unless said otherwise. */
  readonly dlqCode?: 'INVALID_COMMAND' | 'INVALID_ENCODING' | 'EMPTY_MESSAGE';
  /** submit reads text: what its `invalid` message must match when it differs from Kafka's. */
  readonly submitMessage?: RegExp;
}

/** One row per class of bad line: all go through submit and Kafka (tests/faults/bad-input.test.ts) and the JSON Schema (tests/unit/json-schema.test.ts). */
export const BAD_INPUT_ROWS: readonly BadRow[] = [
  { name: 'truncated JSON', value: json(deposit()).slice(0, 60), message: /^json: (unterminated string|unexpected end|expected)/ },
  { name: 'empty object', value: '{}', message: /^type: is required$/ },
  { name: 'missing type', value: json(depositWithoutType), message: /^type: is required$/ },
  { name: 'unknown type', value: json(deposit({ type: 'refund' })), message: /^type: must be one of "deposit", "charge"/ },
  { name: 'type of the wrong JSON type', value: json(deposit({ type: 7 })), message: /^type: / },
  { name: 'amount of the wrong type (boolean)', value: json(deposit({ amountMicroUsd: true })), message: /^amountMicroUsd: must be a decimal integer string$/ },
  { name: 'amount as a float number', value: rawField('amountMicroUsd', '1.5'), message: /^amountMicroUsd: must be an integer; 1\.5 is not a safe integer/ },
  { name: 'amount as a float string', value: json(deposit({ amountMicroUsd: '1000000.0' })), message: /^amountMicroUsd: must be a decimal integer \(canonical/ },
  { name: 'amount with an exponent', value: rawField('amountMicroUsd', '1e6'), message: /^amountMicroUsd: must be an integer; 1e6 is not a safe integer/ },
  { name: 'negative amount', value: json(deposit({ amountMicroUsd: '-5' })), message: /^amountMicroUsd: must be at least 1$/ },
  { name: 'zero deposit', value: json(deposit({ amountMicroUsd: '0' })), message: /^amountMicroUsd: must be at least 1$/ },
  { name: 'amount overflowing INT64', value: json(deposit({ amountMicroUsd: '9223372036854775808' })), message: /^amountMicroUsd: is outside the signed 64-bit range$/ },
  { name: 'huge JSON number', value: rawField('amountMicroUsd', '123456789012345678901234567890'), message: /^amountMicroUsd: must be an integer; 123456789012345678901234567890 is not a safe integer/ },
  { name: 'unsafe JSON integer (2^53 + 1)', value: rawField('amountMicroUsd', '9007199254740993'), message: /^amountMicroUsd: must be an integer; 9007199254740993 is not a safe integer/ },
  { name: 'leading zeros in an amount string', value: json(deposit({ amountMicroUsd: '0100' })), message: /^amountMicroUsd: must be a decimal integer \(canonical: no fraction, no leading zeros/ },
  { name: 'leading zeros in a JSON number', value: rawField('amountMicroUsd', '0100'), message: /^json: expected "," or "}" at character/ },
  { name: 'hex JSON number', value: rawField('amountMicroUsd', '0x10'), message: /^json: expected "," or "}" at character/ },
  { name: 'hex amount string', value: json(deposit({ amountMicroUsd: '0x10' })), message: /^amountMicroUsd: must be a decimal integer/ },
  { name: '+5 as a JSON number', value: rawField('amountMicroUsd', '+5'), message: /^json: unexpected character "\+"/ },
  { name: '+5 as a string', value: json(deposit({ amountMicroUsd: '+5' })), message: /^amountMicroUsd: must be a decimal integer/ },
  { name: 'NaN literal', value: rawField('amountMicroUsd', 'NaN'), message: /^json: unexpected character "N"/ },
  { name: 'Infinity literal', value: rawField('amountMicroUsd', 'Infinity'), message: /^json: unexpected character "I"/ },
  { name: 'oversize line (> 64 KiB)', value: json(deposit({ wallet: 'x'.repeat(70 * 1024) })), message: /^command: longer than 65536 characters$/ },
  { name: 'invalid calendar date', value: json(deposit({ occurredAt: '2026-02-30T00:00:00Z' })), message: /^occurredAt: is not a valid calendar date$/ },
  { name: 'timestamp not RFC 3339', value: json(deposit({ occurredAt: 'yesterday' })), message: /^occurredAt: must be an RFC 3339 timestamp/ },
  { name: 'timestamp with nanoseconds', value: json(deposit({ occurredAt: '2026-03-01T10:00:00.123456789Z' })), message: /^occurredAt: has more than microsecond precision$/ },
  { name: 'timestamp as a number', value: json(deposit({ occurredAt: 1767225600 })), message: /^occurredAt: must be an RFC 3339 string$/ },
  { name: 'missing occurredAt', value: json(depositWithoutTime), message: /^occurredAt: is required$/ },
  { name: 'empty userId', value: json(deposit({ userId: '' })), message: /^userId: must not be empty$/ },
  { name: 'whitespace-padded userId', value: json(deposit({ userId: ' bad-user ' })), message: /^userId: must not start or end with white space$/ },
  { name: 'raw control character in a string', value: json(deposit()).replace('"bad-user"', '"bad\u0001user"'), message: /^json: control character in string/ },
  { name: 'escaped control character in userId', value: json(deposit({ userId: 'bad\u0007user' })), message: /^userId: must not contain control characters$/ },
  { name: 'invalid escape in a string', value: json(deposit()).replace('"bad-user"', '"bad\\xuser"'), message: /^json: invalid escape in string/ },
  { name: 'duplicate keys', value: json(deposit()).replace('{', '{"amountMicroUsd":"1",'), message: /^json: duplicate key "amountMicroUsd"/ },
  { name: 'array of commands', value: `[${json(deposit())}]`, message: /^command: must be a JSON object$/ },
  { name: 'null', value: 'null', message: /^command: must be a JSON object$/ },
  { name: 'bare string', value: '"deposit"', message: /^command: must be a JSON object$/ },
  { name: 'trailing comma', value: json(deposit()).replace(/}$/, ',}'), message: /^json: expected a quoted key/ },
  { name: 'single quotes', value: "{'type':'deposit'}", message: /^json: expected a quoted key/ },
  { name: 'comment', value: `/* note */ ${json(deposit())}`, message: /^json: unexpected character "\/"/ },
  { name: 'trailing text after the object', value: `${json(deposit())} // note`, message: /^json: unexpected text after the JSON value/ },
  { name: 'nested object for a string', value: json(deposit({ userId: { id: 'bad-user' } })), message: /^userId: must be a string \(user id\)$/ },
  { name: 'nesting deeper than 32', value: `{"type":"deposit","x":${'['.repeat(40)}${']'.repeat(40)}}`, message: /^json: nesting deeper than 32/ },
  { name: 'extra unknown field', value: json(deposit({ memo: 'hi' })), message: /^memo: unknown field$/ },
  { name: 'unknown source enum', value: json(deposit({ source: 'bitcoin' })), message: /^source: must be "ethereum" or "zksync"$/ },
  { name: 'short txHash', value: json(deposit({ txHash: '0xabc' })), message: /^txHash: must be 0x followed by 64 hex digits$/ },
  { name: 'flag of the wrong type', value: json({ type: 'charge', userId: 'bad-user', invoiceId: 'i1', amountMicroUsd: '1', occurredAt: '2026-03-01T00:00:00Z', allowPartial: 'yes' }), message: /^allowPartial: must be true or false$/ },
  { name: 'settleCharge without invoiceId', value: json({ type: 'settleCharge', userId: 'bad-user', occurredAt: '2026-03-01T00:00:00Z' }), message: /^invoiceId: is required$/ },
  { name: 'failCharge without userId', value: json({ type: 'failCharge', invoiceId: 'i1', reason: 'r', occurredAt: '2026-03-01T00:00:00Z' }), message: /^userId: is required$/ },
  { name: 'adjust with 0', value: json({ type: 'adjust', userId: 'bad-user', amountMicroUsd: '0', reason: 'r', idempotencyKey: 'k0', occurredAt: '2026-03-01T00:00:00Z' }), message: /^amountMicroUsd: must not be zero$/ },
  // JSON escapes can spell a lone UTF-16 surrogate, which has no UTF-8 form: Spanner refuses
  // the short ones (failing the whole batch) and the client turns long ones into U+FFFD.
  { name: 'lone high surrogate in userId', value: json(deposit({ userId: 'bad-user\ud800' })), message: /^userId: must be well-formed Unicode/ },
  { name: 'lone surrogate in a 45-character userId', value: json(deposit({ userId: `${'u'.repeat(44)}\udbff` })), message: /^userId: must be well-formed Unicode/ },
  {
    name: 'lone low surrogate in an adjustment reason',
    value: json({ type: 'adjust', userId: 'bad-user', amountMicroUsd: '5', reason: 'r\udc00', idempotencyKey: 'k-surrogate', occurredAt: '2026-03-01T00:00:00Z' }),
    message: /^reason: must be well-formed Unicode/,
  },
  { name: 'two bad fields at once', value: json(deposit({ amountMicroUsd: '-1', userId: '' })), message: /^userId: must not be empty; amountMicroUsd: must be at least 1$/ },
  {
    name: 'BOM-prefixed line',
    value: `\uFEFF${json(deposit())}`,
    message: /^json: unexpected character "\uFEFF"/,
  },
  {
    name: 'invalid UTF-8 bytes',
    // 0xff inside the userId: not UTF-8. Text decoders that replace it with U+FFFD would turn
    // the line into a valid deposit for the user "bad-\uFFFDuser".
    value: Buffer.concat([Buffer.from(json(deposit()).split('bad-user')[0]!), Buffer.from('bad-'), Buffer.from([0xff]), Buffer.from('user'), Buffer.from(json(deposit()).split('bad-user')[1]!)]),
    message: /^message value is not valid UTF-8$/,
    dlqCode: 'INVALID_ENCODING',
    submitMessage: /UTF-8/,
  },
];
