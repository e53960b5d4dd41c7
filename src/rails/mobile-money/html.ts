// Handset simulator pages: money text and the phone-shaped layout. Escaping, headers and
// CSRF (double submit, cookie scoped to /handset) come from src/http/pages.ts.
import { type Currency, formatAmount } from '../../money/index.ts';

export { Csrf, escapeHtml as esc, newNonce, setPageHeaders as pageHeaders } from '../../http/pages.ts';
import { escapeHtml as esc } from '../../http/pages.ts';

/** "1,000 RWF", "12,500.5 CDF": exact digits from formatAmount, grouped by thousands. */
export function moneyText(minor: bigint, currency: Currency): string {
  const s = formatAmount(minor, currency, 'compact');
  const neg = s.startsWith('-');
  const [int, frac] = (neg ? s.slice(1) : s).split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${neg ? '-' : ''}${grouped}${frac ? '.' + frac : ''} ${currency}`;
}

export const CSRF_COOKIE = 'pg_handset';

const CSS = `
*{box-sizing:border-box}body{margin:0;font:16px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#e9edf1;color:#1b1f24}
.phone{max-width:420px;margin:0 auto;min-height:100vh;background:#fff;display:flex;flex-direction:column}
header{background:#0b3d5c;color:#fff;padding:14px 16px}header .net{font-size:13px;opacity:.8;letter-spacing:.05em}header h1{margin:2px 0 0;font-size:20px}
main{padding:12px 16px;flex:1}
.bal{background:#f4f7fa;border-radius:12px;padding:12px 14px;margin:4px 0 14px}.bal .v{font-size:24px;font-weight:700}.bal .n{font-size:13px;color:#56606b}
.ussd{border:2px solid #1b1f24;border-radius:14px;padding:14px;margin:0 0 14px;background:#fdfdf6;box-shadow:0 2px 8px rgba(0,0,0,.12)}
.ussd p{margin:0 0 10px;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:15px}.ussd .d{font-size:13px;color:#56606b}
.ussd input{width:100%;font-size:22px;padding:10px;border:1px solid #9aa4ae;border-radius:8px;letter-spacing:.3em;text-align:center;margin-bottom:10px}
.row{display:flex;gap:10px}.row form{flex:1;margin:0}button{width:100%;font-size:17px;padding:12px;border-radius:8px;border:0;cursor:pointer}
.ok{background:#12805c;color:#fff}.no{background:#e6e9ed;color:#1b1f24}.inline{display:inline}
.msg{padding:10px 12px;border-radius:8px;margin:0 0 12px}.msg.good{background:#e3f6ee;color:#0b5c3f}.msg.bad{background:#fdecea;color:#8a1c12}
.empty{color:#56606b;font-size:14px;margin:6px 0 16px}h2{font-size:15px;margin:16px 0 6px;color:#56606b;text-transform:uppercase;letter-spacing:.04em}
ul.tx{list-style:none;padding:0;margin:0}ul.tx li{display:flex;justify-content:space-between;border-bottom:1px solid #eef0f2;padding:8px 0;font-size:14px}
.in{color:#12805c}.out{color:#8a1c12}label{display:block;font-size:14px;margin:0 0 6px}
.find input{width:100%;font-size:18px;padding:10px;border:1px solid #9aa4ae;border-radius:8px;margin:0 0 10px}
footer{font-size:12px;color:#7a848e;padding:10px 16px}
`;

export function layout(o: { title: string; nonce: string; header: string; body: string; script?: string }): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,"><title>${esc(o.title)}</title><style nonce="${o.nonce}">${CSS}</style></head>
<body><div class="phone"><header>${o.header}</header><main>${o.body}</main><footer>Paygate handset simulator: mobile-money push prompts (USSD)</footer></div>
${o.script ? `<script nonce="${o.nonce}">${o.script}</script>` : ''}</body></html>`;
}
