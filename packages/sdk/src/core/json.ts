/**
 * Lossless JSON: parse numbers as their literal text (so `0.01`, `0002`-like strings and
 * 18-digit ids survive), and serialize decimal literals without going through a float.
 */
export type Json = string | boolean | null | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** A JSON number written exactly as the given literal (e.g. an amount `0.01`). */
export class JsonNumber {
  readonly literal: string;
  constructor(literal: string) {
    if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(literal)) {
      throw new TypeError(`not a JSON number literal: ${literal}`);
    }
    this.literal = literal;
  }
  toJSON(): string {
    return this.literal;
  }
}

export type JsonInput =
  | string
  | boolean
  | null
  | undefined
  | number
  | JsonNumber
  | JsonInput[]
  | { [key: string]: JsonInput };

/** Serialize; `undefined` members are dropped, numbers must be safe integers. */
export function stringifyJson(value: JsonInput): string {
  if (value === null) return 'null';
  if (value instanceof JsonNumber) return value.literal;
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new TypeError(`refusing to serialize non-integer number ${value}`);
      return String(value);
    case 'undefined':
      return 'null';
  }
  if (Array.isArray(value)) return '[' + value.map((v) => stringifyJson(v === undefined ? null : v)).join(',') + ']';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    parts.push(JSON.stringify(k) + ':' + stringifyJson(v));
  }
  return '{' + parts.join(',') + '}';
}

/** Parse JSON keeping every number as its literal source text (a string). */
export function parseJsonLossless(text: string): Json {
  let i = 0;
  const n = text.length;
  const fail = (what: string): never => {
    throw new SyntaxError(`invalid JSON at ${i}: ${what}`);
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0xfeff) i++;
      else break;
    }
  };
  const value = (): Json => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: JsonObject = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected key');
        const k = str();
        ws();
        if (text[i] !== ':') fail('expected :');
        i++;
        const v = value();
        Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail('expected , or }');
      }
    }
    if (c === '[') {
      i++;
      const arr: Json[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail('expected , or ]');
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail('unexpected token');
    i += m[0].length;
    return m[0];
  };
  const str = (): string => {
    const start = i;
    i++;
    let simple = true;
    while (i < n) {
      const c = text[i];
      if (c === '"') break;
      if (c === '\\') {
        simple = false;
        i += 2;
        continue;
      }
      if (text.charCodeAt(i) < 0x20) fail('control character in string');
      i++;
    }
    if (i >= n) fail('unterminated string');
    i++;
    const lit = text.slice(start, i);
    return simple ? lit.slice(1, -1) : (JSON.parse(lit) as string);
  };
  const v = value();
  ws();
  if (i !== n) fail('trailing characters');
  return v;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A field as a string: strings as-is, booleans as "true"/"false", absent/null as undefined. */
export function asString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return undefined;
}

/** A truthy flag as providers send it: true, "true", "1", 1. */
export function asBool(v: unknown): boolean | undefined {
  if (v === true || v === 'true' || v === '1' || v === 1) return true;
  if (v === false || v === 'false' || v === '0' || v === 0) return false;
  return undefined;
}
