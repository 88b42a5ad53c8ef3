import fc from 'fast-check';
import { JsonNumber, parseStrictJson, StrictJson, StrictJsonError } from '../../ledger/core/strict-json';

/** The parse error, or a failure when the text parsed. */
function errorOf(text: string): StrictJsonError {
  try {
    parseStrictJson(text);
  } catch (error) {
    if (error instanceof StrictJsonError) return error;
    throw new Error(`expected a StrictJsonError for ${JSON.stringify(text)}, got ${String(error)}`);
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

/** Turns JsonNumbers back into their text so results compare with plain values. */
function plain(value: StrictJson): unknown {
  if (value instanceof JsonNumber) return { number: value.text };
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

describe('strict JSON: duplicate keys', () => {
  it('rejects a duplicate top-level key and points at the second one', () => {
    const error = errorOf('{"a":1,"a":2}');
    expect(error.message).toMatch(/duplicate key "a"/);
    expect(error.offset).toBe(7);
    expect(error.message).toMatch(/at character 8$/);
  });

  it.each([
    ['nested object', '{"outer":{"x":1,"y":2,"x":3}}', 'x'],
    ['object inside an array', '[{"k":true},{"k":1,"k":2}]', 'k'],
    ['deeply nested', '{"a":{"b":{"c":{"d":1,"d":1}}}}', 'd'],
    ['same value repeated', '{"amountMicroUsd":"5","amountMicroUsd":"5"}', 'amountMicroUsd'],
    ['the same key spelled with an escape', '{"a":1,"\\u0061":2}', 'a'],
    ['empty key twice', '{"":1,"":2}', ''],
  ])('rejects a duplicate key in a %s', (_name, text, key) => {
    expect(errorOf(text).message).toContain(`duplicate key ${JSON.stringify(key)}`);
  });

  it('allows the same key in sibling objects and keys differing only by case', () => {
    expect(plain(parseStrictJson('{"a":{"x":1},"b":{"x":2},"A":3}'))).toEqual({ a: { x: { number: '1' } }, b: { x: { number: '2' } }, A: { number: '3' } });
  });

  it('a "__proto__" key is plain data: it neither changes the prototype nor pollutes Object.prototype', () => {
    const value = parseStrictJson('{"__proto__":{"polluted":"yes"}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(value, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(errorOf('{"__proto__":1,"__proto__":2}').message).toContain('duplicate key "__proto__"');
  });
});

describe('strict JSON: numbers', () => {
  it.each(['0', '-0', '5', '5.0', '1.50', '1e3', '1E+3', '2.5e-7', '-12', '9007199254740993', '123456789012345678901234567890'])(
    'keeps %s as a JsonNumber with its exact text',
    (text) => {
      const value = parseStrictJson(text);
      expect(value).toBeInstanceOf(JsonNumber);
      expect((value as JsonNumber).text).toBe(text);
    },
  );

  it('keeps number text inside objects and arrays', () => {
    expect(plain(parseStrictJson('{"a":[1.0, -0, 9007199254740993],"b":1e2}'))).toEqual({
      a: [{ number: '1.0' }, { number: '-0' }, { number: '9007199254740993' }],
      b: { number: '1e2' },
    });
  });

  it.each([
    ['5', 5],
    ['0', 0],
    ['-5', -5],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
    ['-9007199254740991', Number.MIN_SAFE_INTEGER],
  ])('toSafeInteger(%s) = %p', (text, expected) => {
    expect(new JsonNumber(text).toSafeInteger()).toBe(expected);
  });

  it.each([
    ['5.0', 'a fraction, even a zero one'],
    ['1e3', 'an exponent'],
    ['1E3', 'an upper-case exponent'],
    ['9007199254740992', '2^53 (not safe)'],
    ['9007199254740993', '2^53 + 1 (would round)'],
    ['-9007199254740992', '-2^53'],
    ['0.5', 'a fraction'],
    ['01', 'a leading zero'],
  ])('toSafeInteger(%s) is undefined: %s', (text) => {
    expect(new JsonNumber(text).toSafeInteger()).toBeUndefined();
  });

  it('toSafeInteger(-0) is zero', () => {
    const value = new JsonNumber('-0').toSafeInteger();
    expect(value).toBeDefined();
    expect(value === 0).toBe(true); // -0 === 0; the sign of zero is not a money fact
  });

  it('toSafeInteger agrees with Number for every safe integer text, and refuses every unsafe one', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }), (n) => {
        const result = new JsonNumber(n.toString()).toSafeInteger();
        const safe = n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER);
        return safe ? result === Number(n) : result === undefined;
      }),
    );
  });

  it.each([
    ['leading zero', '01'],
    ['plus sign', '+1'],
    ['bare fraction', '.5'],
    ['dot without digits', '1.'],
    ['minus alone', '-'],
    ['exponent without digits', '1e'],
    ['double minus', '--1'],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['negative Infinity', '-Infinity'],
    ['hex', '0x10'],
  ])('rejects an invalid number: %s (%s)', (_name, text) => {
    errorOf(text);
    errorOf(`{"a":${text}}`);
  });
});

describe('strict JSON: truncated input and trailing garbage', () => {
  it.each(['', '   ', '{', '{"a"', '{"a":', '{"a":1', '{"a":1,', '[', '[1,', '"abc', '"abc\\', 't', 'tru', 'nul', 'fals', '{"a":"b'])(
    'rejects truncated %j',
    (text) => {
      errorOf(text);
    },
  );

  it('says where the input ended', () => {
    expect(errorOf('{"a":').message).toMatch(/unexpected end of input/);
    expect(errorOf('"abc').message).toMatch(/unterminated string/);
  });

  it.each(['{} x', '{}{}', '1 2', '{},', '[1]]', '{"a":1}}', 'nulll', 'truex', '"a""b"', '{} // comment'])('rejects trailing garbage %j', (text) => {
    expect(errorOf(text).message).toMatch(/unexpected|expected/);
  });

  it.each([
    ['trailing comma in object', '{"a":1,}'],
    ['trailing comma in array', '[1,]'],
    ['missing comma', '{"a":1 "b":2}'],
    ['single quotes', "{'a':1}"],
    ['unquoted key', '{a:1}'],
    ['missing colon', '{"a" 1}'],
    ['upper-case literal', 'True'],
    ['undefined', 'undefined'],
    ['byte-order mark', '\uFEFF{}'],
    ['non-JSON white space (NBSP)', '{\u00a0}'],
    ['form feed as white space', '\f{}'],
  ])('rejects %s', (_name, text) => {
    errorOf(text);
  });

  it('accepts the four JSON white-space characters anywhere between tokens', () => {
    expect(plain(parseStrictJson(' \t\r\n{ \n"a" \t: \r[ 1 , true ,null ] }\n '))).toEqual({ a: [{ number: '1' }, true, null] });
  });
});

describe('strict JSON: strings', () => {
  it.each([
    ['newline', '\n'],
    ['tab', '\t'],
    ['carriage return', '\r'],
    ['NUL', '\u0000'],
    ['unit separator', '\u001f'],
  ])('rejects a raw %s inside a string', (_name, ch) => {
    expect(errorOf(`{"a":"x${ch}y"}`).message).toMatch(/control character/);
    expect(errorOf(`{"x${ch}":1}`).message).toMatch(/control character/);
  });

  it('accepts DEL and non-ASCII characters raw (JSON only forbids U+0000–U+001F)', () => {
    expect(parseStrictJson('"a\u007fé€😀"')).toBe('a\u007fé€😀');
  });

  it.each([
    ['\\"', '"'],
    ['\\\\', '\\'],
    ['\\/', '/'],
    ['\\b', '\b'],
    ['\\f', '\f'],
    ['\\n', '\n'],
    ['\\r', '\r'],
    ['\\t', '\t'],
    ['\\u00e9', 'é'],
    ['\\u00E9', 'é'],
    ['\\u0000', '\u0000'],
    ['\\ud83d\\ude00', '😀'],
    ['a\\"b\\\\c', 'a"b\\c'],
  ])('decodes the escape %s', (escaped, decoded) => {
    expect(parseStrictJson(`"${escaped}"`)).toBe(decoded);
    expect(parseStrictJson(`{"${escaped}":true}`)).toEqual({ [decoded]: true });
  });

  it.each(['\\x41', '\\u12', '\\u12G4', '\\a', '\\0', "\\'", '\\U00e9'])('rejects the invalid escape %s', (escaped) => {
    expect(errorOf(`"${escaped}"`).message).toMatch(/invalid escape|unterminated/);
  });

  it('an escaped quote does not end the string', () => {
    errorOf('"abc\\"');
    expect(parseStrictJson('["abc\\"", 1]')).toEqual(['abc"', expect.any(JsonNumber)]);
  });

  it('round-trips any string JSON.stringify writes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(parseStrictJson(JSON.stringify(text))).toBe(text);
      }),
    );
  });
});

describe('strict JSON: nesting limit', () => {
  const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
  const nestedObjects = (depth: number) => '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);

  it('accepts 33 levels of arrays (depth 0 to 32) and objects', () => {
    expect(() => parseStrictJson(nested(33))).not.toThrow();
    expect(() => parseStrictJson(nestedObjects(33))).not.toThrow();
  });

  it('rejects a 34th level', () => {
    expect(errorOf(nested(34)).message).toMatch(/nesting deeper than 32/);
    expect(errorOf(nestedObjects(34)).message).toMatch(/nesting deeper than 32/);
  });

  it('rejects hostile nesting with a parse error, not a stack overflow', () => {
    expect(errorOf('['.repeat(100_000)).message).toMatch(/nesting deeper than 32/);
    expect(errorOf('{"a":'.repeat(100_000)).message).toMatch(/nesting deeper than 32/);
  });
});

describe('strict JSON: agreement with JSON.parse on plain documents', () => {
  const toPlain = (value: StrictJson): unknown => {
    if (value instanceof JsonNumber) return Number(value.text);
    if (Array.isArray(value)) return value.map(toPlain);
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlain(v)]));
    return value;
  };

  it('gives the same value as JSON.parse for documents without duplicate keys', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const text = JSON.stringify(value);
        expect(toPlain(parseStrictJson(text))).toEqual(JSON.parse(text));
      }),
    );
  });
});
