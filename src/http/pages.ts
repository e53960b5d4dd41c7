// What every server-rendered payer page needs (wallet app, handset simulator, card checkout):
// HTML escaping, a per-response CSP nonce with the security headers, cookies, and CSRF tokens.
// Each rail keeps its own look (CSS, layout); the safety rules live here, once.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Escapes text for HTML element content and quoted attributes. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Tagged template that escapes every interpolated value except `raw(...)` ones. */
export class RawHtml {
  constructor(readonly html: string) {}
}
export function raw(html: string): RawHtml {
  return new RawHtml(html);
}
export function html(strings: TemplateStringsArray, ...values: unknown[]): RawHtml {
  let out = strings[0]!;
  values.forEach((v, i) => {
    const part = Array.isArray(v) ? v.map((x) => (x instanceof RawHtml ? x.html : escapeHtml(x))).join('') : v instanceof RawHtml ? v.html : escapeHtml(v);
    out += part + strings[i + 1]!;
  });
  return new RawHtml(out);
}

export function newNonce(): string {
  return randomBytes(16).toString('base64');
}

/**
 * Security headers of every payer page. Pages carry PIN or card forms: nothing is cached,
 * nothing external loads, inline CSS and script run only under this response's nonce, the
 * page cannot be framed. `formTargets`: extra origins a form post may end on (the merchant's
 * return URLs after a 303).
 */
export function setPageHeaders(reply: FastifyReply, nonce: string, opts: { formTargets?: string[] } = {}): FastifyReply {
  const formAction = ["'self'", ...new Set(opts.formTargets ?? [])].join(' ');
  return reply
    .header('content-type', 'text/html; charset=utf-8')
    .header(
      'content-security-policy',
      `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; ` +
        `form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    )
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
}

/** A cookie value of the request, or undefined. */
export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const cookie = req.headers.cookie ?? '';
  for (const part of cookie.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** Appends a Set-Cookie without dropping ones already set on this reply. */
export function addCookie(reply: FastifyReply, cookie: string): void {
  const prev = reply.getHeader('set-cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev.map(String) : [String(prev)];
  reply.header('set-cookie', [...list, cookie]);
}

/** HMAC(key, purpose) as a form token, and its constant-time check. */
export function formToken(key: Buffer, purpose: string): string {
  return createHmac('sha256', key).update(purpose).digest('base64url');
}
export function formTokenValid(key: Buffer, purpose: string, given: unknown): boolean {
  if (typeof given !== 'string' || given.length > 128) return false;
  const want = Buffer.from(formToken(key, purpose));
  const got = Buffer.from(given);
  return got.length === want.length && timingSafeEqual(got, want);
}

export interface CsrfOptions {
  cookie: string;
  path: string;
  secure: () => boolean;
}

/**
 * Double-submit CSRF: a random per-browser cookie (HttpOnly, SameSite=Strict) and, in each
 * form, HMAC(key, cookie + purpose). Another site can neither read the cookie nor compute
 * the token, and a token only fits the form (purpose) it was made for.
 */
export class Csrf {
  constructor(private readonly key: Buffer, private readonly o: CsrfOptions) {}

  /** The token for a form of `purpose`; sets the browser cookie when it has none. */
  issue(req: FastifyRequest, reply: FastifyReply, purpose: string): string {
    let seed = readCookie(req, this.o.cookie);
    if (!seed || !/^[A-Za-z0-9_-]{22,64}$/.test(seed)) {
      seed = randomBytes(18).toString('base64url');
      addCookie(reply, `${this.o.cookie}=${seed}; Path=${this.o.path}; HttpOnly; SameSite=Strict${this.o.secure() ? '; Secure' : ''}`);
      // Remember it for this request, so several forms on one page share it.
      req.headers.cookie = `${req.headers.cookie ? req.headers.cookie + '; ' : ''}${this.o.cookie}=${seed}`;
    }
    return formToken(this.key, seed + '\0' + purpose);
  }

  check(req: FastifyRequest, purpose: string, token: unknown): boolean {
    const seed = readCookie(req, this.o.cookie);
    return !!seed && formTokenValid(this.key, seed + '\0' + purpose, token);
  }
}
