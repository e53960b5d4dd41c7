// Secrets: what the gateway only verifies is stored as a SHA-256 (the secrets are random and
// long, so a slow hash adds nothing); what a protocol needs in plain is sealed with
// AES-256-GCM under PAYGATE_SECRET_KEY. Comparisons are constant-time.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  // Hash both sides first so the lengths match and nothing leaks through early exits.
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

export function randomSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

export class Sealer {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('secret key must be 32 bytes');
  }
  seal(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return ['v1', iv.toString('base64url'), c.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }
  open(sealed: string): string {
    const [v, iv, tag, body] = sealed.split('.');
    if (v !== 'v1' || !iv || !tag || body === undefined) throw new Error('bad sealed secret');
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
  }
  /** A key for one purpose (JWT signing, CSRF tokens) derived from the master key. */
  derive(purpose: string): Buffer {
    return createHmac('sha256', this.key).update('paygate:' + purpose).digest();
  }
}

/**
 * PINs are short: a salted scrypt, so a database dump does not hand them out directly (the
 * real protection of a 4–6 digit PIN is the lockout). Asynchronous: it runs on libuv's thread
 * pool, not on the event loop that serves every other request.
 */
const PIN_SCRYPT = { N: 1024, r: 8, p: 1 } as const;
const PIN_HASH_BYTES = 32;

function scryptAsync(pin: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(pin, salt, PIN_HASH_BYTES, PIN_SCRYPT, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPin(pin: string): Promise<string> {
  const salt = randomBytes(16);
  const h = await scryptAsync(pin, salt);
  return `s1$${salt.toString('base64url')}$${h.toString('base64url')}`;
}

export async function verifyPin(pin: string, stored: string): Promise<boolean> {
  const [v, salt, hash] = stored.split('$');
  if (v !== 's1' || !salt || !hash) return false;
  const h = await scryptAsync(pin, Buffer.from(salt, 'base64url'));
  const want = Buffer.from(hash, 'base64url');
  return want.length === h.length && timingSafeEqual(h, want);
}
