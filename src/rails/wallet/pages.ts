// Page helpers of the wallet web app (also used by the payment-code pages): HTML escaping,
// one tiny mobile-first layout with inline CSS under a per-response CSP nonce, security
// headers, and CSRF tokens for form posts. Keep these exports stable.
import type { FastifyReply } from 'fastify';
import { isCoreError } from '../../errors.ts';
import { Csrf as PageCsrf, escapeHtml, html, newNonce, raw, type RawHtml, setPageHeaders } from '../../http/pages.ts';
import type { Sealer } from '../../merchants/secrets.ts';

export { addCookie, escapeHtml, html, newNonce, raw, RawHtml, readCookie, setPageHeaders } from '../../http/pages.ts';

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
a.link{display:block;color:#17324d;font-weight:600;text-decoration:none}
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

/** The wallet app's CSRF tokens (src/http/pages.ts Csrf), cookie scoped to /wallet. */
export class Csrf extends PageCsrf {
  constructor(sealer: Sealer, secureCookies: () => boolean) {
    super(sealer.derive('csrf'), { cookie: CSRF_COOKIE, path: '/wallet', secure: secureCookies });
  }
}

// ---- messages -------------------------------------------------------------------------

export function capitalize(s: string): string {
  return s ? s[0]!.toUpperCase() + s.slice(1) : s;
}

/** Core errors → what a payer reads, with the page's HTTP status. */
export function payerMessage(e: unknown): { status: number; text: string } {
  if (!isCoreError(e)) throw e;
  switch (e.code) {
    case 'insufficient_funds': return { status: 402, text: 'Insufficient balance: top up your wallet and try again.' };
    case 'expired': return { status: 410, text: 'This payment has expired.' };
    case 'unauthorized': return { status: 401, text: capitalize(e.message) + '.' };
    case 'locked': return { status: 423, text: capitalize(e.message) + '.' };
    case 'not_found': return { status: 404, text: capitalize(e.message) + '.' };
    case 'invalid_state':
    case 'currency_mismatch': return { status: 409, text: capitalize(e.message) + '.' };
    default: return { status: 400, text: capitalize(e.message) + '.' };
  }
}

/** A message box (error or confirmation) of a wallet page. */
export function msgHtml(text: string | null, kind: 'err' | 'ok' = 'err'): RawHtml {
  return text ? html`<p class="msg ${kind}" role="${kind === 'err' ? 'alert' : 'status'}">${text}</p>` : raw('');
}
