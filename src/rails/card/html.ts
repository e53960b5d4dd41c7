// The card rail's page frame (CSS, layout). Escaping, headers and form tokens come from
// src/http/pages.ts.
import type { FastifyReply } from 'fastify';
import { escapeHtml as esc, formToken, formTokenValid, setPageHeaders } from '../../http/pages.ts';

export { escapeHtml as esc, newNonce } from '../../http/pages.ts';

/** Headers for every card page; `formTargets`: origins a form post may end on (merchant return URLs). */
export function securityHeaders(reply: FastifyReply, nonce: string, formTargets: string[] = []): void {
  setPageHeaders(reply, nonce, { formTargets });
}

/** CSRF token bound to one checkout (the payment's unguessable token). */
export function csrfToken(key: Buffer, bind: string): string {
  return formToken(key, 'card-checkout:' + bind);
}
export function csrfValid(key: Buffer, bind: string, got: unknown): boolean {
  return formTokenValid(key, 'card-checkout:' + bind, got);
}

const CSS = `
*{box-sizing:border-box}body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#eef1f5;color:#1c2430}
main{max-width:440px;margin:0 auto;padding:16px}
.card{background:#fff;border-radius:14px;box-shadow:0 1px 4px rgba(0,0,0,.08);padding:18px;margin-bottom:14px}
h1{font-size:1.15rem;margin:0 0 4px}.muted{color:#5b6575;font-size:.9rem}
.amount{font-size:1.8rem;font-weight:700;margin:8px 0 0}
label{display:block;font-weight:600;font-size:.9rem;margin:12px 0 4px}
input{width:100%;font-size:1.05rem;padding:11px 12px;border:1px solid #c4cbd6;border-radius:9px;background:#fff}
input:focus{outline:2px solid #2463eb;border-color:#2463eb}
.row{display:flex;gap:12px}.row>div{flex:1}
.hint{font-size:.85rem;min-height:1.2em;margin-top:4px;color:#5b6575}.hint.bad{color:#b42318}.hint.ok{color:#067647}
button,.btn{display:block;width:100%;text-align:center;font-size:1.05rem;font-weight:600;padding:13px;border-radius:10px;border:0;margin-top:14px;cursor:pointer;text-decoration:none}
.primary{background:#2463eb;color:#fff}.secondary{background:#e4e8ef;color:#1c2430}
.error{background:#fef3f2;color:#b42318;border:1px solid #fecdca;border-radius:10px;padding:12px;margin-bottom:12px}
.ok{color:#067647}.lang{text-align:right;font-size:.85rem}.lang a{color:#2463eb}
.brand{font-weight:700;letter-spacing:.03em}
`;

export function page(o: { lang: 'fr' | 'en'; title: string; nonce: string; body: string; script?: string }): string {
  return `<!DOCTYPE html>
<html lang="${o.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${esc(o.title)}</title>
<style nonce="${o.nonce}">${CSS}</style>
</head>
<body>
<main>
${o.body}
</main>
${o.script ? `<script nonce="${o.nonce}">${o.script}</script>` : ''}
</body>
</html>`;
}
