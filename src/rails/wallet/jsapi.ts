// In-app payment (KessPay JSAPI Pay): a merchant page inside the wallet app's browser opens
// /wallet/jsapi/<token>; the logged-in payer sees payee and amount and confirms with the PIN
// (or cancels). The app can do the same through JSON: GET/POST /wallet/api/jsapi/<token>.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CoreError } from '../../errors.ts';
import type { GatewayContext } from '../../gateway.ts';
import { formatAmount } from '../../money/index.ts';
import type { PaymentRecord } from '../../payments/model.ts';
import { capitalize, type Csrf, CSRF_FIELD, html, msgHtml, payerMessage, raw, type RawHtml, sendPage } from './pages.ts';
export { msgHtml, payerMessage } from './pages.ts';
import { payeeOf, stateMessage, walletJson, type WalletService } from './service.ts';
export { payeeOf } from './service.ts';
import { WALLET_SESSION_COOKIE, type WalletSession, type WalletSessions } from './session.ts';

/** The in-app confirm page of a payment (JSAPI Pay's `pay_url`). */
export function jsapiPayUrl(ctx: Pick<GatewayContext, 'publicUrl'>, token: string): string {
  return `${ctx.publicUrl()}/wallet/jsapi/${encodeURIComponent(token)}`;
}

/** The session of a page request: the wallet cookie only (bearer headers belong to the API). */
export function cookieSession(req: FastifyRequest, sessions: WalletSessions): WalletSession | null {
  const m = new RegExp(`(?:^|;\\s*)${WALLET_SESSION_COOKIE}=([^;]+)`).exec(req.headers.cookie ?? '');
  return sessions.verify(m?.[1]);
}

/** The API session: `Authorization: Bearer` only, so the JSON routes need no CSRF token. */
export function bearerSession(req: FastifyRequest, sessions: WalletSessions): WalletSession {
  const h = req.headers.authorization;
  const s = h?.startsWith('Bearer ') ? sessions.verify(h.slice(7).trim()) : null;
  if (!s) throw new CoreError('unauthorized', 'log in first: Authorization: Bearer <token from POST /wallet/api/login>');
  return s;
}



/** A login link that brings the payer back to `back` (a /wallet/ path) afterwards. */
export function loginFirst(reply: FastifyReply, what: string, back: string): FastifyReply {
  return sendPage(reply, 401, 'Log in', () => html`<h1>Log in first</h1>
    <p class="msg err" role="alert">Log in to your wallet to ${what}.</p><p><a id="login" href="/wallet/?next=${encodeURIComponent(back)}">Log in to my wallet</a></p>`);
}

export async function registerJsapi(app: FastifyInstance, ctx: GatewayContext, wallet: WalletService, sessions: WalletSessions, csrf: Csrf): Promise<void> {
  const tags = ['wallet pages'];
  const apiTags = ['wallet'];
  const form = (req: FastifyRequest) => (req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : {});

  async function view(p: PaymentRecord) {
    const v = await wallet.view(p);
    return {
      ...v,
      payee: await payeeOf(ctx, p),
      order_amount: formatAmount(p.amount_minor, p.currency, 'fixed'),
      fee: formatAmount(p.surcharge_minor, p.currency, 'fixed'),
    };
  }
  type View = Awaited<ReturnType<typeof view>>;

  function summary(v: View): RawHtml {
    return html`<div class="card"><div class="muted">Pay to</div><div><strong id="payee">${v.payee}</strong></div>
      <div class="muted" id="item">${v.item}</div><div class="amount" id="amount">${v.amount} ${v.currency}</div>
      ${v.fee !== formatAmount(0n, v.currency, 'fixed') ? html`<div class="muted" id="fee">${v.order_amount} + ${v.fee} fee</div>` : raw('')}</div>`;
  }

  function confirmPage(req: FastifyRequest, reply: FastifyReply, v: View, status: number, msg: string | null) {
    const token = csrf.issue(req, reply, 'jsapi:' + v.token);
    return sendPage(reply, status, `Pay ${v.amount} ${v.currency}`, () => html`
      <h1>Confirm payment</h1>${msgHtml(msg)}${summary(v)}
      <form class="card" method="post" action="/wallet/jsapi/${v.token}">
        <input type="hidden" name="${CSRF_FIELD}" value="${token}">
        <label for="pin">PIN</label>
        <input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="off" maxlength="6" pattern="[0-9]{4,6}">
        <button type="submit" name="action" value="pay" id="pay">Pay ${v.amount} ${v.currency}</button>
        <button type="submit" name="action" value="cancel" id="cancel" class="secondary">Cancel</button>
      </form>`);
  }

  function closedPage(reply: FastifyReply, v: View, status: number, text: string, ok: boolean) {
    return sendPage(reply, status, ok ? 'Payment successful' : 'Payment closed', () => html`
      <h1 id="result">${ok ? 'Payment successful' : 'Payment closed'}</h1>${msgHtml(text, ok ? 'ok' : 'err')}${summary(v)}
      <p><a href="/wallet/">Go to my wallet</a></p>`);
  }

  const notFound = (reply: FastifyReply) => sendPage(reply, 404, 'Payment not found', () => html`<h1>Payment not found</h1><p class="msg err">This is not a Paygate wallet payment.</p>`);

  app.get('/wallet/jsapi/:token', { schema: { tags, summary: 'In-app confirm page of a JSAPI payment (wallet session cookie)' } }, async (req, reply) => {
    const p = await wallet.payment((req.params as { token: string }).token);
    if (!p) return notFound(reply);
    if (!cookieSession(req, sessions)) return loginFirst(reply, 'pay this order', `/wallet/jsapi/${p.token}`);
    const v = await view(p);
    if (!v.payable) return closedPage(reply, v, 200, capitalize(stateMessage(v.state)) + '.', p.state !== 'pending' && ['succeeded', 'partially_refunded', 'refunded'].includes(p.state));
    return confirmPage(req, reply, v, 200, null);
  });

  app.post('/wallet/jsapi/:token', { schema: { tags, summary: 'In-app confirm form post (pin, action=pay|cancel, csrf)' } }, async (req, reply) => {
    const p = await wallet.payment((req.params as { token: string }).token);
    if (!p) return notFound(reply);
    const s = cookieSession(req, sessions);
    if (!s) return loginFirst(reply, 'pay this order', `/wallet/jsapi/${p.token}`);
    const b = form(req);
    const v = await view(p);
    if (!csrf.check(req, 'jsapi:' + p.token, b[CSRF_FIELD])) return confirmPage(req, reply, v, 403, 'The form expired: please try again.');
    if (!v.payable) return closedPage(reply, v, 409, capitalize(stateMessage(v.state)) + '.', false);
    try {
      if (b.action === 'cancel') {
        const cancelled = await ctx.payments.fail(p.id, 'cancelled', 'cancelled_by_payer');
        return closedPage(reply, await view(cancelled), 200, 'You cancelled this payment.', false);
      }
      if (b.action !== 'pay') throw new CoreError('invalid_request', 'choose Pay or Cancel');
      const { payment } = await wallet.pay(p, s.phone, b.pin);
      const pv = await view(payment);
      return closedPage(reply, pv, 200, `You paid ${pv.amount} ${pv.currency} to ${pv.payee}.`, true);
    } catch (e) {
      const m = payerMessage(e);
      const fresh = await view((await wallet.payment(p.token)) ?? p);
      if (!fresh.payable) return closedPage(reply, fresh, m.status, m.text, false);
      return confirmPage(req, reply, fresh, m.status, m.text);
    }
  });

  const apiView = async (p: PaymentRecord) => {
    const v = await view(p);
    return { token: v.token, payment_id: v.payment_id, payee: v.payee, item: v.item, amount: v.amount, order_amount: v.order_amount, fee: v.fee, currency: v.currency, state: v.state, payable: v.payable, expires_at: v.expires_at };
  };
  const paymentOf = async (req: FastifyRequest) => {
    const p = await wallet.payment((req.params as { token: string }).token);
    if (!p) throw new CoreError('not_found', 'payment not found');
    return p;
  };

  app.get('/wallet/api/jsapi/:token', {
    schema: { tags: apiTags, security: [{ walletSession: [] }], summary: 'What an in-app (JSAPI) payment asks to pay', description: 'Answer `{"token", "payment_id", "payee", "item", "amount" (total the payer pays), "order_amount", "fee", "currency", "state", "payable", "expires_at"}`.' },
  }, async (req) => {
    bearerSession(req, sessions);
    return apiView(await paymentOf(req));
  });

  app.post('/wallet/api/jsapi/:token/confirm', {
    schema: {
      tags: apiTags, security: [{ walletSession: [] }], summary: 'Confirm an in-app (JSAPI) payment with the PIN',
      description: 'Body `{"pin"}`. Pays from the logged-in phone\'s wallet in the payment\'s currency. Answer `{"payment": <view>, "wallet": {...balance}}`. 401 wrong PIN, 402 insufficient_funds, 409 already paid or closed, 410 expired, 423 locked.',
      body: { type: 'object', properties: { pin: { type: 'string' } } },
    },
  }, async (req) => {
    const s = bearerSession(req, sessions);
    const p = await paymentOf(req);
    const { payment, account } = await wallet.pay(p, s.phone, form(req).pin);
    return { payment: await apiView(payment), wallet: walletJson(account) };
  });

  app.post('/wallet/api/jsapi/:token/cancel', {
    schema: { tags: apiTags, security: [{ walletSession: [] }], summary: 'Cancel an in-app (JSAPI) payment', description: 'The merchant\'s check-payment then says "Payment cancelled". Answer `{"payment": <view>}`.' },
  }, async (req) => {
    bearerSession(req, sessions);
    const p = await paymentOf(req);
    if (p.state !== 'pending') throw new CoreError('invalid_state', stateMessage(p.state), { state: p.state });
    return { payment: await apiView(await ctx.payments.fail(p.id, 'cancelled', 'cancelled_by_payer')) };
  });
}
