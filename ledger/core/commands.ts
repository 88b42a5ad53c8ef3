import { z } from 'zod';
import { INT64_MAX, parseInt64 } from './money';
import { parseBusinessTime } from './time';
import { JsonNumber, parseStrictJson, StrictJsonError } from './strict-json';
import { LIMITS } from './limits';
import { hasLoneSurrogate } from './text-order';

/** Identifiers in JSON Schema: no lone surrogates, no control characters, no white space at either end. */
const IDENTIFIER_PATTERN = '^(?!\\s)(?!.*\\s$)[^\\u0000-\\u001f\\u007f\\uD800-\\uDFFF]+$';
/** RFC 3339 with at most microseconds (the ranges of each part are checked by the parser). */
const BUSINESS_TIME_PATTERN = '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,6}0*)?([Zz]|[+-][0-9]{2}:[0-9]{2})$';

/**
 * Payment commands: the wire shape (one JSON object per command) and its normalisation.
 * Every schema turns wire values into canonical ones (amounts as canonical decimal strings
 * checked to fit INT64, timestamps as UTC microseconds, hex lower-cased, defaults applied),
 * so "same content" is a plain comparison of the normalised command.
 */

/**
 * An identifier: non-empty, bounded, printable (no control characters) and well-formed
 * Unicode. A lone UTF-16 surrogate (`"\ud800"` in JSON) has no UTF-8 form: Spanner refuses
 * it, or the client quietly turns it into U+FFFD, so the stored key would not be the key
 * the command named.
 */
const identifier = (what: string) =>
  z
    .string({ error: `must be a string (${what})` })
    .min(1, 'must not be empty')
    .max(LIMITS.identifierLengthMax, `must be at most ${LIMITS.identifierLengthMax} characters`)
    .refine((text) => !hasLoneSurrogate(text), 'must be well-formed Unicode (it holds a lone UTF-16 surrogate)')
    // eslint-disable-next-line no-control-regex
    .refine((text) => !/[\u0000-\u001f\u007f]/.test(text), 'must not contain control characters')
    .refine((text) => text.trim() === text, 'must not start or end with white space')
    // The refinements above, said in JSON Schema for producers in other languages (see app/json-schema.ts).
    .meta({ description: what, pattern: IDENTIFIER_PATTERN });

const freeText = identifier('free text');

/** A JSON Schema integer bound as a number, when it is one exactly. */
const safeBound = (bound: bigint | undefined) => (bound !== undefined && bound >= BigInt(Number.MIN_SAFE_INTEGER) && bound <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(bound) : undefined);

/**
 * An integer given as a decimal string or a JSON number that is a safe integer.
 * Floats, exponents and unsafe numbers are refused with the reason.
 */
function integerText(options: { min?: bigint; max?: bigint; nonZero?: boolean } = {}) {
  const minimum = safeBound(options.min);
  const maximum = safeBound(options.max);
  const nonNegative = options.min !== undefined && options.min >= 0n;
  const positive = options.min !== undefined && options.min >= 1n;
  const digits = positive ? '[1-9][0-9]{0,18}' : nonNegative ? '(0|[1-9][0-9]{0,18})' : options.nonZero ? '-?[1-9][0-9]{0,18}' : '(0|-?[1-9][0-9]{0,18})';
  const meta = {
    description: `a decimal integer string${options.min !== undefined ? ` ≥ ${options.min}` : ''}${options.nonZero ? ', not 0' : ''} (canonical: no fraction, no leading zeros, no -0; inside INT64), or a JSON number that is a safe integer`,
    anyOf: [
      { type: 'string', pattern: `^${digits}$` },
      { type: 'integer', minimum: minimum ?? Number.MIN_SAFE_INTEGER, maximum: maximum ?? Number.MAX_SAFE_INTEGER, ...(options.nonZero ? { not: { const: 0 } } : {}) },
    ],
  };
  return z.unknown().meta(meta).transform((value, ctx): string => {
    let text: string | undefined;
    if (value instanceof JsonNumber) {
      if (value.toSafeInteger() === undefined) {
        ctx.addIssue({ code: 'custom', message: `must be an integer; ${value.text} is not a safe integer (send large amounts as decimal strings)` });
        return z.NEVER;
      }
      text = value.text;
    } else if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) {
        ctx.addIssue({ code: 'custom', message: `must be a safe integer, got ${value}` });
        return z.NEVER;
      }
      text = String(value);
    } else if (typeof value === 'string') {
      text = value;
    } else {
      ctx.addIssue({ code: 'custom', message: value === undefined ? 'is required' : 'must be a decimal integer string' });
      return z.NEVER;
    }
    const parsed = parseInt64(text);
    if (parsed === undefined) {
      ctx.addIssue({
        code: 'custom',
        message:
          /^-?[1-9][0-9]*$/.test(text) ? 'is outside the signed 64-bit range' : `must be a decimal integer (canonical: no fraction, no leading zeros, no -0), got ${JSON.stringify(text)}`,
      });
      return z.NEVER;
    }
    if (options.min !== undefined && parsed < options.min) {
      ctx.addIssue({ code: 'custom', message: `must be at least ${options.min}` });
      return z.NEVER;
    }
    if (options.max !== undefined && parsed > options.max) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${options.max}` });
      return z.NEVER;
    }
    if (options.nonZero && parsed === 0n) {
      ctx.addIssue({ code: 'custom', message: 'must not be zero' });
      return z.NEVER;
    }
    return parsed.toString();
  });
}

const positiveMicroUsd = integerText({ min: 1n });
const signedMicroUsd = integerText({ nonZero: true });
const nonNegativeInteger = integerText({ min: 0n, max: INT64_MAX });

const businessTime = z
  .unknown()
  .meta({ type: 'string', format: 'date-time', pattern: BUSINESS_TIME_PATTERN, description: 'RFC 3339 with at most microseconds, from 0001-01-01 to 9999-12-31 UTC' })
  .transform((value, ctx): string => {
  if (typeof value !== 'string') {
    ctx.addIssue({ code: 'custom', message: value === undefined ? 'is required' : 'must be an RFC 3339 string' });
    return z.NEVER;
  }
  const parsed = parseBusinessTime(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.reason });
    return z.NEVER;
  }
  return parsed.time.canonical;
});

const hex = (name: string, digits: number) =>
  z
    .string({ error: `must be a 0x-prefixed hex string (${name})` })
    .regex(new RegExp(`^0[xX][0-9a-fA-F]{${digits}}$`), `must be 0x followed by ${digits} hex digits`)
    .transform((text) => text.toLowerCase());

const flag = z.boolean({ error: 'must be true or false' }).default(false);

export const DepositCommand = z.strictObject({
  type: z.literal('deposit'),
  userId: identifier('user id'),
  source: z.enum(['ethereum', 'zksync'], { error: 'must be "ethereum" or "zksync"' }),
  chainId: integerText({ min: 1n }),
  txHash: hex('transaction hash', 64),
  logIndex: nonNegativeInteger,
  blockNumber: nonNegativeInteger,
  wallet: hex('wallet address', 40),
  tokenValue: nonNegativeInteger,
  amountMicroUsd: positiveMicroUsd,
  occurredAt: businessTime,
});

export const ChargeCommand = z.strictObject({
  type: z.literal('charge'),
  userId: identifier('user id'),
  invoiceId: identifier('invoice id'),
  amountMicroUsd: positiveMicroUsd,
  occurredAt: businessTime,
  allowPartial: flag,
  pending: flag,
});

export const SettleChargeCommand = z.strictObject({
  type: z.literal('settleCharge'),
  userId: identifier('user id'),
  invoiceId: identifier('invoice id'),
  occurredAt: businessTime,
  reference: freeText.nullable().default(null),
});

export const FailChargeCommand = z.strictObject({
  type: z.literal('failCharge'),
  userId: identifier('user id'),
  invoiceId: identifier('invoice id'),
  occurredAt: businessTime,
  reason: freeText,
});

export const AdjustCommand = z.strictObject({
  type: z.literal('adjust'),
  userId: identifier('user id'),
  amountMicroUsd: signedMicroUsd,
  reason: freeText,
  idempotencyKey: identifier('idempotency key'),
  occurredAt: businessTime,
});

export const OpenInvoiceCommand = z.strictObject({
  type: z.literal('openInvoice'),
  userId: identifier('user id'),
  invoiceId: identifier('invoice id'),
  amountMicroUsd: positiveMicroUsd,
  occurredAt: businessTime,
  description: freeText.nullable().default(null),
});

export const VoidInvoiceCommand = z.strictObject({
  type: z.literal('voidInvoice'),
  userId: identifier('user id'),
  invoiceId: identifier('invoice id'),
  occurredAt: businessTime,
  reason: freeText,
});

export const Command = z.discriminatedUnion(
  'type',
  [DepositCommand, ChargeCommand, SettleChargeCommand, FailChargeCommand, AdjustCommand, OpenInvoiceCommand, VoidInvoiceCommand],
  { error: 'must be one of "deposit", "charge", "settleCharge", "failCharge", "adjust", "openInvoice", "voidInvoice"' },
);

export type Command = z.output<typeof Command>;
export type CommandType = Command['type'];
export type CommandOf<T extends CommandType> = Extract<Command, { type: T }>;

export const COMMAND_TYPES: readonly CommandType[] = ['deposit', 'charge', 'settleCharge', 'failCharge', 'adjust', 'openInvoice', 'voidInvoice'];

export type ParseCommandResult = { ok: true; command: Command } | { ok: false; message: string };

/** Human message naming every offending field: "amountMicroUsd: must be at least 1; occurredAt: is required". */
function describeIssues(error: z.ZodError, input: object): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : 'command';
      if (issue.code === 'unrecognized_keys') return `${issue.keys.join(', ')}: unknown field${issue.keys.length > 1 ? 's' : ''}`;
      const field = issue.path[0];
      const missing = issue.path.length === 1 && typeof field === 'string' && !Object.prototype.hasOwnProperty.call(input, field);
      if (issue.code === 'invalid_type' && missing) return `${path}: is required`;
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

/** Validates an already-parsed JSON value as a command. */
export function parseCommandValue(value: unknown): ParseCommandResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof JsonNumber) {
    return { ok: false, message: 'command: must be a JSON object' };
  }
  if (!('type' in value)) return { ok: false, message: 'type: is required' };
  const result = Command.safeParse(value);
  return result.success ? { ok: true, command: result.data } : { ok: false, message: describeIssues(result.error, value) };
}

/** Validates one line of JSON text (a `submit` line or a Kafka message value) as a command. */
export function parseCommandText(text: string): ParseCommandResult {
  if (text.length > LIMITS.commandTextLengthMax) {
    return { ok: false, message: `command: longer than ${LIMITS.commandTextLengthMax} characters` };
  }
  let value;
  try {
    value = parseStrictJson(text);
  } catch (error) {
    if (error instanceof StrictJsonError) return { ok: false, message: `json: ${error.message}` };
    throw error;
  }
  return parseCommandValue(value);
}
