import { hex, hmacSha256Key, subtle, utf8 } from '../core/util.ts';

/**
 * Paygate signs its own callbacks (in addition to the provider-shaped body, which the
 * providers themselves never sign) with a header of the form
 *
 *     t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<rawBody>">
 *
 * keyed with the merchant's callback secret. Several `v1=` entries may be present (secret
 * rotation); any one matching is enough.
 */
export interface VerifyOptions {
  /** Maximum age (and future skew) of `t`, in seconds. Default 300. */
  tolerance_s?: number;
  /** "Now" in unix seconds (tests). Default: the clock. */
  now?: number;
}

export type VerifyFailure = 'malformed_header' | 'timestamp_out_of_tolerance' | 'signature_mismatch';

export interface VerifyResult {
  ok: boolean;
  /** The header's `t` when it could be read. */
  timestamp?: number;
  reason?: VerifyFailure;
}

function toBytes(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === 'string') return utf8(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

function signedPayload(t: string, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const prefix = utf8(`${t}.`);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  return out;
}

function hexToBytes(h: string): Uint8Array | undefined {
  if (h.length === 0 || h.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(h)) return undefined;
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Constant-time comparison of two byte strings (length is not secret). */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Verify a Paygate signature header against the raw request body (the exact bytes received,
 * before any JSON or form parsing). Resolves to a result; use {@link verifyPaygateSignature}
 * for a plain boolean.
 */
export async function checkPaygateSignature(
  rawBody: string | Uint8Array | ArrayBuffer,
  header: string | null | undefined,
  secret: string,
  opts: VerifyOptions = {},
): Promise<VerifyResult> {
  const tolerance = opts.tolerance_s ?? 300;
  if (!header) return { ok: false, reason: 'malformed_header' };
  let t: string | undefined;
  const sigs: Uint8Array[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 't') t = v;
    else if (k === 'v1') {
      const b = hexToBytes(v);
      if (b) sigs.push(b);
    }
  }
  if (t === undefined || !/^\d{1,12}$/.test(t) || sigs.length === 0) return { ok: false, reason: 'malformed_header' };
  const ts = Number(t);
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - ts) > tolerance) return { ok: false, timestamp: ts, reason: 'timestamp_out_of_tolerance' };
  const key = await hmacSha256Key(secret, ['sign']);
  const expected = new Uint8Array(await subtle().sign('HMAC', key, signedPayload(t, toBytes(rawBody))));
  let match = false;
  for (const s of sigs) match = timingSafeEqual(expected, s) || match; // no early exit
  return match ? { ok: true, timestamp: ts } : { ok: false, timestamp: ts, reason: 'signature_mismatch' };
}

/**
 * True when `header` is a valid Paygate signature of `rawBody` under `secret`, made within
 * `tolerance_s` (default 300 s) of now.
 */
export async function verifyPaygateSignature(
  rawBody: string | Uint8Array | ArrayBuffer,
  header: string | null | undefined,
  secret: string,
  opts: VerifyOptions = {},
): Promise<boolean> {
  return (await checkPaygateSignature(rawBody, header, secret, opts)).ok;
}

/** Produce a Paygate signature header for `rawBody` (tests, local simulators). */
export async function signPaygatePayload(
  rawBody: string | Uint8Array | ArrayBuffer,
  secret: string,
  opts: { t?: number } = {},
): Promise<string> {
  const t = String(opts.t ?? Math.floor(Date.now() / 1000));
  const key = await hmacSha256Key(secret, ['sign']);
  const sig = await subtle().sign('HMAC', key, signedPayload(t, toBytes(rawBody)));
  return `t=${t},v1=${hex(sig)}`;
}
