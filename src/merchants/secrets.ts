// Secrets: what the gateway only verifies is stored as a SHA-256 (the secrets are random and
// long, so a slow hash adds nothing); what a protocol needs in plain is sealed with
// AES-256-GCM under PAYGATE_SECRET_KEY. Comparisons are constant-time.
import { createCipheriv, createDecipheriv, createHash, createHmac, hash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

/**
 * Whether `secret` hashes to `hashHex` (a stored SHA-256), in constant time: one hash of the
 * secret and a fixed-length compare (no second hash of either side; this runs on every
 * authenticated request). A malformed stored hash never matches.
 */
export function sha256Matches(secret: string, hashHex: string | null): boolean {
  const got = hash('sha256', secret, 'buffer'); // one-shot: no Hash object per request
  const want = hashHex !== null && SHA256_HEX.test(hashHex) ? Buffer.from(hashHex, 'hex') : NO_HASH;
  return timingSafeEqual(got, want) && want !== NO_HASH;
}
const SHA256_HEX = /^[0-9a-f]{64}$/;
const NO_HASH = Buffer.alloc(32);

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
 * PINs: 4–6 digits, so at most a million candidates. No slow hash protects so few against
 * someone holding the table (scrypt at a millisecond a guess falls in minutes), so the
 * protection is a server key: a PIN is stored as HMAC-SHA256(key, account id + PIN), the key
 * derived from PAYGATE_SECRET_KEY and never stored; without it a dump of the table gives
 * nothing to try PINs against. Online guessing is stopped by the lockout (Payers.checkPin).
 * The HMAC costs microseconds, so a check is one UPDATE that compares and counts in the
 * database. Hashes from before ("s1$", salted scrypt) are still verified and replaced by the
 * keyed form on the first right PIN.
 */
export class PinHasher {
  constructor(private readonly key: Buffer) {
    if (key.length < 32) throw new Error('PIN key must be at least 32 bytes');
  }
  /** The stored form: "h1$" + hex HMAC. Bound to the account, so equal PINs differ. */
  hash(account_id: string, pin: string): string {
    return 'h1$' + createHmac('sha256', this.key).update(`pin:${account_id}:${pin}`, 'utf8').digest('hex');
  }
}

const LEGACY_PIN_SCRYPT = { N: 1024, r: 8, p: 1 } as const;

/** Verifies a legacy "s1$salt$hash" scrypt PIN hash (asynchronous: libuv's pool). */
export async function verifyLegacyPin(pin: string, stored: string): Promise<boolean> {
  const [v, salt, hash] = stored.split('$');
  if (v !== 's1' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64url');
  const h = await new Promise<Buffer>((resolve, reject) =>
    scrypt(pin, Buffer.from(salt, 'base64url'), want.length || 32, LEGACY_PIN_SCRYPT, (err, key) => (err ? reject(err) : resolve(key))),
  );
  return want.length === h.length && timingSafeEqual(h, want);
}

/** A legacy hash, for tests of the upgrade path only. */
export async function legacyPinHash(pin: string): Promise<string> {
  const salt = randomBytes(16);
  const h = await new Promise<Buffer>((resolve, reject) => scrypt(pin, salt, 32, LEGACY_PIN_SCRYPT, (err, key) => (err ? reject(err) : resolve(key))));
  return `s1$${salt.toString('base64url')}$${h.toString('base64url')}`;
}
