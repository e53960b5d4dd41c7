// Payment codes in the wallet app (KessPay Quick Pay) and in-app (JSAPI) confirmation:
//   /wallet/code                 page: the one-time code as digits and QR, and the Quick Pay
//                                payments waiting for the PIN (approve / decline)
//   /wallet/api/code             JSON: a fresh code for the app
//   /wallet/api/code/confirmations[/<payment_id>/approve|decline]
//   /wallet/jsapi/<token>, /wallet/api/jsapi/<token>[/confirm|/cancel]   (jsapi.ts)
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { CoreError } from '../../errors.ts';
import type { GatewayContext } from '../../gateway.ts';
import type { AccountRow } from '../../ledger/ledger.ts';
import type { GatewayModule } from '../../modules.ts';
import { formatAmount } from '../../money/index.ts';
import { apiErrorHandler } from './api.ts';
import { type Confirmation, PAYMENT_CODE_TTL_MS, PaymentCodes, quickPayLimit } from './codes.ts';
import { bearerSession, cookieSession, loginFirst, msgHtml, payeeOf, payerMessage, registerJsapi } from './jsapi.ts';
import { Csrf, CSRF_FIELD, html, raw, sendPage } from './pages.ts';
import { currencyParam, walletJson, WalletService } from './service.ts';
import { WalletSessions } from './session.ts';

const tags = ['wallet pages'];
const apiTags = ['wallet'];
const security = [{ walletSession: [] }];

/** "281234567890123456" → "2812 3456 7890 1234 56" (easier to read out to a cashier). */
export function groupDigits(code: string): string {
  return code.replace(/(\d{4})(?=\d)/g, '$1 ');
}

const CODE_CSS = `.code{font:700 1.2rem/1.3 ui-monospace,SFMono-Regular,Menlo,monospace;white-space:nowrap;text-align:center;margin:.5rem 0}
.qr{display:block;margin:0 auto;width:220px;height:220px;image-rendering:pixelated}.tabs a{margin-right:1rem}.center{text-align:center}`;

const mod: GatewayModule = {
  name: 'wallet-codes',
  async register(app: FastifyInstance, ctx: GatewayContext) {
    const codes = new PaymentCodes(ctx);
    const wallet = new WalletService(ctx);
    const sessions = new WalletSessions(ctx.sealer, ctx.clock);
    const csrf = new Csrf(ctx.sealer, () => ctx.publicUrl().startsWith('https:'));
    const form = (req: FastifyRequest) => (req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : {});

    app.setErrorHandler((err, req: FastifyRequest, reply: FastifyReply) => {
      if (req.url.startsWith('/wallet/api/')) return apiErrorHandler(err, req, reply);
      const e = err as { statusCode?: number };
      const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
      if (status === 500) req.log.error({ err }, 'wallet code page error');
      return sendPage(reply, status, 'Error', () => html`<h1>Something went wrong</h1><p class="msg err">${status === 500 ? 'Please try again.' : 'The request could not be read.'}</p>`);
    });

    /** The wallet a code is for: `currency` if given, else the USD wallet, else the first. */
    async function walletOf(phone: string, currencyInput: unknown): Promise<{ account: AccountRow; all: AccountRow[] }> {
      const all = await wallet.wallets(phone);
      if (!all.length) throw new CoreError('not_found', 'this phone has no wallet');
      const currency = currencyParam(currencyInput);
      const account = currency ? all.find((w) => w.currency === currency) : all.find((w) => w.currency === 'USD') ?? all[0];
      if (!account) throw new CoreError('not_found', `this phone has no ${currency} wallet`);
      return { account, all };
    }

    async function confirmationJson(c: Confirmation) {
      const p = c.payment;
      return {
        payment_id: p.id, payee: await payeeOf(ctx, p), item: String(p.details.item ?? p.description ?? ''),
        amount: formatAmount(p.amount_minor + p.surcharge_minor, p.currency, 'fixed'), order_amount: formatAmount(p.amount_minor, p.currency, 'fixed'),
        fee: formatAmount(p.surcharge_minor, p.currency, 'fixed'), currency: p.currency, account_id: c.account.id,
        created_at: p.created_at.toISOString(), expires_at: p.expires_at ? p.expires_at.toISOString() : null,
      };
    }

    // ---- page -----------------------------------------------------------------------------

    async function codePage(req: FastifyRequest, reply: FastifyReply, phone: string, currencyInput: unknown, status: number, msg: string | null, kind: 'err' | 'ok' = 'err') {
      const { account, all } = await walletOf(phone, currencyInput);
      const issued = await codes.issue(account);
      const qr = await QRCode.toDataURL(issued.code, { margin: 2, scale: 5, errorCorrectionLevel: 'M' });
      const pending = await Promise.all((await codes.confirmations(phone)).map(confirmationJson));
      const limit = formatAmount(quickPayLimit(account), account.currency, 'fixed');
      const seconds = Math.round(PAYMENT_CODE_TTL_MS / 1000);
      const forms = pending.map((c) => ({ c, token: csrf.issue(req, reply, 'code-confirm:' + c.payment_id) }));
      return sendPage(reply, status, 'Payment code', (nonce) => html`
        <style nonce="${nonce}">${raw(CODE_CSS)}</style>
        <h1>Pay with your code</h1>${msgHtml(msg, kind)}
        ${forms.map(({ c, token }) => html`
        <form class="card confirmation" method="post" action="/wallet/code/confirm" data-payment="${c.payment_id}">
          <div class="muted">Waiting for your PIN</div><div><strong class="payee">${c.payee}</strong></div>
          <div class="muted">${c.item}</div><div class="amount">${c.amount} ${c.currency}</div>
          ${c.fee !== formatAmount(0n, account.currency, 'fixed') ? html`<div class="muted">${c.order_amount} + ${c.fee} fee</div>` : raw('')}
          <input type="hidden" name="${CSRF_FIELD}" value="${token}"><input type="hidden" name="payment_id" value="${c.payment_id}">
          <label for="pin-${c.payment_id}">PIN</label>
          <input id="pin-${c.payment_id}" class="pin" name="pin" type="password" inputmode="numeric" autocomplete="off" maxlength="6" pattern="[0-9]{4,6}">
          <button type="submit" name="action" value="approve" class="approve">Approve ${c.amount} ${c.currency}</button>
          <button type="submit" name="action" value="decline" class="secondary decline">Decline</button>
        </form>`)}
        <div class="card center">
          <div class="muted">${account.name ?? ''} · ${account.currency} wallet</div>
          <img class="qr" id="qr" alt="Payment code QR" src="${qr}">
          <div class="code" id="code" data-code="${issued.code}">${groupDigits(issued.code)}</div>
          <div class="muted">Show this code to the cashier. It works once and changes in <span id="left">${seconds}</span> s.</div>
          <div class="muted">Payments above ${limit} ${account.currency} ask for your PIN here.</div>
        </div>
        ${all.length > 1 ? html`<p class="tabs">${all.map((w) => html`<a href="/wallet/code?currency=${w.currency}">${w.currency}</a>`)}</p>` : raw('')}
        <p><a href="/wallet/code${account.currency !== 'USD' ? `?currency=${account.currency}` : ''}" id="refresh">New code</a> · <a href="/wallet/">My wallet</a></p>
        <script nonce="${nonce}">${raw(`(function(){var n=${seconds},el=document.getElementById('left');var t=setInterval(function(){n--;if(el)el.textContent=String(Math.max(n,0));
if(n<=0){var busy=Array.prototype.some.call(document.querySelectorAll('.pin'),function(i){return i.value||i===document.activeElement});if(!busy){clearInterval(t);location.reload();}}},1000);})();`)}</script>`);
    }

    app.get('/wallet/code', {
      schema: { tags, summary: 'Payment code page (wallet session cookie): one-time code, QR, payments waiting for the PIN', querystring: { type: 'object', properties: { currency: { type: 'string' } } } },
    }, async (req, reply) => {
      const s = cookieSession(req, sessions);
      if (!s) return loginFirst(reply, 'show your payment code', '/wallet/code');
      try {
        return await codePage(req, reply, s.phone, (req.query as Record<string, unknown>).currency, 200, null);
      } catch (e) {
        const m = payerMessage(e);
        return sendPage(reply, m.status, 'Payment code', () => html`<h1>Payment code</h1>${msgHtml(m.text)}<p><a href="/wallet/">My wallet</a></p>`);
      }
    });

    app.post('/wallet/code/confirm', { schema: { tags, summary: 'Approve (with PIN) or decline a Quick Pay payment waiting for the PIN (form: payment_id, pin, action, csrf)' } }, async (req, reply) => {
      const s = cookieSession(req, sessions);
      if (!s) return loginFirst(reply, 'confirm payments', '/wallet/code');
      const b = form(req);
      const id = typeof b.payment_id === 'string' ? b.payment_id.slice(0, 20) : '';
      if (!csrf.check(req, 'code-confirm:' + id, b[CSRF_FIELD])) return codePage(req, reply, s.phone, undefined, 403, 'The form expired: please try again.');
      try {
        if (b.action === 'decline') {
          const c = await codes.decline(s.phone, id);
          return codePage(req, reply, s.phone, c.account.currency, 200, 'You declined the payment.', 'ok');
        }
        if (b.action !== 'approve') throw new CoreError('invalid_request', 'choose Approve or Decline');
        const c = await codes.approve(s.phone, id, b.pin);
        const v = await confirmationJson(c);
        return sendPage(reply, 200, 'Payment successful', () => html`
          <h1 id="result">Payment successful</h1>${msgHtml(`You paid ${v.amount} ${v.currency} to ${v.payee}.`, 'ok')}
          <div class="card"><div class="muted">New balance</div><div class="amount" id="balance">${formatAmount(c.account.balance_minor, c.account.currency, 'fixed')} ${c.account.currency}</div></div>
          <p><a href="/wallet/code">Back to my payment code</a> · <a href="/wallet/">My wallet</a></p>`);
      } catch (e) {
        const m = payerMessage(e);
        return codePage(req, reply, s.phone, undefined, m.status, m.text);
      }
    });

    // ---- JSON API -------------------------------------------------------------------------

    const issueJson = async (req: FastifyRequest, reply: FastifyReply) => {
      const s = bearerSession(req, sessions);
      const q = { ...(req.query as Record<string, unknown>), ...form(req) };
      const { account } = await walletOf(s.phone, q.currency);
      const issued = await codes.issue(account);
      const limit = quickPayLimit(account);
      reply.header('cache-control', 'no-store');
      return {
        code: issued.code, account_id: account.id, currency: account.currency,
        expires_at: issued.expires_at.toISOString(), expires_in: Math.round(PAYMENT_CODE_TTL_MS / 1000),
        quick_pay_limit: formatAmount(limit, account.currency, 'fixed'), quick_pay_limit_minor: limit,
      };
    };
    const codeSchema = {
      tags: apiTags, security, summary: 'A fresh one-time payment code for Quick Pay',
      description: 'Optional `currency` (query or body; default the USD wallet, else the first). Answer `{"code": "<18 digits>", "account_id", "currency", "expires_at", "expires_in": 60, "quick_pay_limit", "quick_pay_limit_minor"}`. ' +
        'Show the code as digits and as a QR/barcode. It works once, for 60 s; asking for a new one ends the previous one. Payments above the quick-pay limit wait for approval under /wallet/api/code/confirmations.',
    };
    app.get('/wallet/api/code', { schema: codeSchema }, issueJson);
    app.post('/wallet/api/code', { schema: { ...codeSchema, summary: 'A fresh one-time payment code for Quick Pay (same as GET)' } }, issueJson);

    app.get('/wallet/api/code/confirmations', {
      schema: { tags: apiTags, security, summary: 'Quick Pay payments waiting for the PIN', description: 'Answer `{"items": [{"payment_id", "payee", "item", "amount" (total), "order_amount", "fee", "currency", "account_id", "created_at", "expires_at"}]}`, newest first.' },
    }, async (req) => {
      const s = bearerSession(req, sessions);
      return { items: await Promise.all((await codes.confirmations(s.phone)).map(confirmationJson)) };
    });

    app.post('/wallet/api/code/confirmations/:payment_id/approve', {
      schema: {
        tags: apiTags, security, summary: 'Approve a waiting Quick Pay payment with the PIN',
        description: 'Body `{"pin"}`. Answer `{"payment": {"payment_id", "state": "succeeded", ...}, "wallet": {...balance}}`. 401 wrong PIN, 402 insufficient_funds (stays waiting), 404 not yours / unknown, 409 already settled, 410 expired, 423 locked.',
        body: { type: 'object', properties: { pin: { type: 'string' } } },
      },
    }, async (req) => {
      const s = bearerSession(req, sessions);
      const c = await codes.approve(s.phone, (req.params as { payment_id: string }).payment_id, form(req).pin);
      return { payment: { ...(await confirmationJson(c)), state: c.payment.state }, wallet: walletJson(c.account) };
    });

    app.post('/wallet/api/code/confirmations/:payment_id/decline', {
      schema: { tags: apiTags, security, summary: 'Decline a waiting Quick Pay payment', description: 'The merchant\'s check-payment then says "Payment declined by the buyer". Answer `{"payment": {"payment_id", "state": "failed", ...}}`.' },
    }, async (req) => {
      const s = bearerSession(req, sessions);
      const c = await codes.decline(s.phone, (req.params as { payment_id: string }).payment_id);
      return { payment: { ...(await confirmationJson(c)), state: c.payment.state } };
    });

    await registerJsapi(app, ctx, wallet, sessions, csrf);
  },
};
export default mod;
