/**
 * A strict JSON reader for command input. JSON.parse is not enough for money:
 * it silently keeps the last of duplicate keys, turns 1e3 and 5.0 into integers, and
 * rounds 9007199254740993. This reader rejects duplicate keys, and returns every number
 * as a `JsonNumber` holding its exact source text, so schemas decide what is an integer.
 */
export class JsonNumber {
  constructor(readonly text: string) {}
  /** The value as a safe integer, or undefined when the text is not a plain integer that fits. */
  toSafeInteger(): number | undefined {
    if (!/^-?(0|[1-9][0-9]*)$/.test(this.text)) return undefined;
    const value = Number(this.text);
    return Number.isSafeInteger(value) ? value : undefined;
  }
}

export type StrictJson = string | boolean | null | JsonNumber | StrictJson[] | { [key: string]: StrictJson };

export class StrictJsonError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} at character ${offset + 1}`);
  }
}

const MAX_DEPTH = 32;

export function parseStrictJson(text: string): StrictJson {
  let at = 0;
  const fail = (message: string): never => {
    throw new StrictJsonError(message, at);
  };
  const skipSpace = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at]!)) at++;
  };
  const value = (depth: number): StrictJson => {
    if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
    skipSpace();
    const ch = text[at];
    if (ch === undefined) return fail('unexpected end of input');
    if (ch === '{') return object(depth);
    if (ch === '[') return array(depth);
    if (ch === '"') return string();
    if (ch === '-' || (ch >= '0' && ch <= '9')) return number();
    for (const [word, result] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return result;
      }
    }
    return fail(`unexpected character ${JSON.stringify(ch)}`);
  };
  const object = (depth: number): StrictJson => {
    at++;
    const out: Record<string, StrictJson> = Object.create(null);
    skipSpace();
    if (text[at] === '}') {
      at++;
      return { ...out };
    }
    for (;;) {
      skipSpace();
      if (text[at] !== '"') fail('expected a quoted key');
      const keyAt = at;
      const key = string();
      if (Object.prototype.hasOwnProperty.call(out, key)) {
        at = keyAt;
        fail(`duplicate key ${JSON.stringify(key)}`);
      }
      skipSpace();
      if (text[at] !== ':') fail('expected ":"');
      at++;
      out[key] = value(depth + 1);
      skipSpace();
      if (text[at] === ',') {
        at++;
        continue;
      }
      if (text[at] === '}') {
        at++;
        return { ...out };
      }
      fail('expected "," or "}"');
    }
  };
  const array = (depth: number): StrictJson => {
    at++;
    const out: StrictJson[] = [];
    skipSpace();
    if (text[at] === ']') {
      at++;
      return out;
    }
    for (;;) {
      out.push(value(depth + 1));
      skipSpace();
      if (text[at] === ',') {
        at++;
        continue;
      }
      if (text[at] === ']') {
        at++;
        return out;
      }
      fail('expected "," or "]"');
    }
  };
  const string = (): string => {
    const start = at;
    at++;
    for (;;) {
      const ch = text[at];
      if (ch === undefined) return fail('unterminated string');
      if (ch === '"') break;
      if (ch < ' ') fail('control character in string');
      at += ch === '\\' ? 2 : 1;
    }
    at++;
    try {
      return JSON.parse(text.slice(start, at)) as string;
    } catch {
      at = start;
      return fail('invalid escape in string');
    }
  };
  const number = (): JsonNumber => {
    const match = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(at));
    if (!match) return fail('invalid number');
    at += match[0].length;
    return new JsonNumber(match[0]);
  };
  const result = value(0);
  skipSpace();
  if (at !== text.length) fail('unexpected text after the JSON value');
  return result;
}
