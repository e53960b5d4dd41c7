// Page helpers of the wallet web app (also used by the payment-code pages): HTML escaping,
// one tiny mobile-first layout with inline CSS under a per-response CSP nonce, security
// headers, and CSRF tokens for form posts. Keep these exports stable.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Sealer } from '../../merchants/secrets.ts';

/** Escapes text for HTML element content and double-quoted attributes. */
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
 * Security headers of every wallet page. Pages carry PIN forms, so nothing is cached.
 * CSP: nothing external; inline CSS (and any inline script) only with this response's nonce.
 */
export function setPageHeaders(reply: FastifyReply, nonce: string): FastifyReply {
  return reply
    .header('content-type', 'text/html; charset=utf-8')
    .header(
      'content-security-policy',
      `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    )
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
}

const CSS = `
*{box-sizing:border-box}body{margin:0;font:16px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f3f5f8;color:#17202a}
main{max-width:28rem;margin:0 auto;padding:1rem}
h1{font-size:1.25rem;margin:.25rem 0 1rem}
.card{background:#fff;border-radius:12px;padding:1rem;margin:0 0 1rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.amount{font-size:2rem;font-weight:700;margin:.25rem 0}
.muted{color:#5d6d7e;font-size:.9rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input{width:100%;padding:.75rem;font-size:1.1rem;border:1px solid #aab7c4;border-radius:8px}
button{width:100%;padding:.85rem;margin-top:1rem;font-size:1.05rem;font-weight:600;border:0;border-radius:8px;background:#1a7f37;color:#fff}
button.secondary{background:#e5e8ec;color:#17202a}
.msg{padding:.75rem;border-radius:8px;margin:0 0 1rem}
.err{background:#fdecea;color:#8a1c12}.ok{background:#e6f4ea;color:#14532d}
table{width:100%;border-collapse:collapse;font-size:.9rem}td{padding:.4rem 0;border-bottom:1px solid #eef1f4}td.r{text-align:right}
header{background:#17324d;color:#fff;padding:.75rem 1rem;font-weight:700}
`;

/** The whole page: a header, the body, inline CSS under the nonce. */
export function renderPage(opts: { title: string; body: RawHtml; nonce: string }): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,"><title>${escapeHtml(opts.title)}</title><style nonce="${escapeHtml(opts.nonce)}">${CSS}</style></head>` +
    `<body><header>Paygate Wallet</header><main>${opts.body.html}</main></body></html>`;
}

/** Sends a page with the security headers. */
export function sendPage(reply: FastifyReply, status: number, title: string, body: (nonce: string) => RawHtml): FastifyReply {
  const nonce = newNonce();
  return setPageHeaders(reply, nonce).code(status).send(renderPage({ title, body: body(nonce), nonce }));
}

// ---- CSRF ---------------------------------------------------------------------------

export const CSRF_COOKIE = 'pg_csrf';
export const CSRF_FIELD = 'csrf';

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

/**
 * Double-submit CSRF: a random per-browser cookie (HttpOnly, SameSite=Strict) and, in each
 * form, HMAC(key, cookie + purpose). Another site can neither read the cookie nor compute
 * the token, and the token only fits the form (purpose) it was made for.
 */
export class Csrf {
  private readonly key: Buffer;
  constructor(sealer: Sealer, private readonly secureCookies: () => boolean) {
    this.key = sealer.derive('csrf');
  }

  /** The token for a form of `purpose`; sets the browser cookie when it has none. */
  issue(req: FastifyRequest, reply: FastifyReply, purpose: string): string {
    let seed = readCookie(req, CSRF_COOKIE);
    if (!seed || !/^[A-Za-z0-9_-]{22,64}$/.test(seed)) {
      seed = randomBytes(18).toString('base64url');
      addCookie(reply, `${CSRF_COOKIE}=${seed}; Path=/wallet; HttpOnly; SameSite=Strict${this.secureCookies() ? '; Secure' : ''}`);
      // Remember it for this request, so several forms on one page share it.
      req.headers.cookie = `${req.headers.cookie ? req.headers.cookie + '; ' : ''}${CSRF_COOKIE}=${seed}`;
    }
    return this.mac(seed, purpose);
  }

  check(req: FastifyRequest, purpose: string, token: unknown): boolean {
    const seed = readCookie(req, CSRF_COOKIE);
    if (!seed || typeof token !== 'string' || token.length > 128) return false;
    const want = Buffer.from(this.mac(seed, purpose));
    const got = Buffer.from(token);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  private mac(seed: string, purpose: string): string {
    return createHmac('sha256', this.key).update(seed + '\0' + purpose).digest('base64url');
  }
}
