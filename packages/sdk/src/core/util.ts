import { ValidationError } from './errors.ts';

/** Sleep that rejects with the signal's reason when aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function requireString(v: unknown, field: string, opts: { maxLength?: number; pattern?: RegExp } = {}): string {
  if (typeof v === 'bigint') v = v.toString();
  if (typeof v !== 'string' || v.trim() === '') {
    throw new ValidationError(field, typeof v === 'number' ? 'pass identifiers as strings, not numbers' : 'required');
  }
  if (opts.maxLength !== undefined && v.length > opts.maxLength) {
    throw new ValidationError(field, `at most ${opts.maxLength} characters`);
  }
  if (opts.pattern && !opts.pattern.test(v)) throw new ValidationError(field, `does not match ${opts.pattern}`);
  return v;
}

export function optionalString(v: unknown, field: string, opts: { maxLength?: number } = {}): string | undefined {
  if (v === undefined || v === null) return undefined;
  return requireString(v, field, opts);
}

export function hex(bytes: ArrayBuffer | Uint8Array): string {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (const b of u8) s += b.toString(16).padStart(2, '0');
  return s;
}

export function utf8(s: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new TextEncoder().encode(s));
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('Web Crypto (globalThis.crypto.subtle) is not available in this runtime');
  return s;
}

export async function sha256hex(s: string): Promise<string> {
  return hex(await subtle().digest('SHA-256', utf8(s)));
}

export async function hmacSha256Key(secret: string, usages: KeyUsage[]): Promise<CryptoKey> {
  return subtle().importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, usages);
}

export { subtle };

export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + '/' + path.replace(/^\/+/, '');
}
