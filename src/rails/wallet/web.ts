// The wallet web app: what a phone's camera opens from a wallet QR code. Server-rendered,
// a few kilobytes, no scripts. /wallet/ (log in, balance, history) and /wallet/pay/<token>
// (merchant, item, amount; phone + PIN; pay or decline).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CoreError } from '../../errors.ts';
import type { GatewayContext } from '../../gateway.ts';
import type { AccountRow } from '../../ledger/ledger.ts';
import { formatAmount, type Currency } from '../../money/index.ts';
import { addCookie, capitalize, type Csrf, CSRF_FIELD, html, msgHtml, payerMessage, raw, type RawHtml, sendPage } from './pages.ts';
import { type PaymentView, stateMessage, type WalletService } from './service.ts';
import { WALLET_SESSION_COOKIE, WALLET_SESSION_TTL_MS, type WalletSessions } from './session.ts';

const tags = ['wallet pages'];

export async function registerWalletPages(app: FastifyInstance, ctx: GatewayContext, wallet: WalletService, sessions: WalletSessions, csrf: Csrf): Promise<void> {
  const secure = () => ctx.publicUrl().startsWith('https:');
  const form = (req: FastifyRequest) => (req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : {});
  const setSession = (reply: FastifyReply, phone: string) =>
    addCookie(reply, `${WALLET_SESSION_COOKIE}=${sessions.issue(phone)}; Path=/wallet; HttpOnly; SameSite=Lax; Max-Age=${WALLET_SESSION_TTL_MS / 1000}${secure() ? '; Secure' : ''}`);
  const pageSession = (req: FastifyRequest) => {
    // Pages use the cookie only (the bearer header belongs to the API).
    const m = new RegExp(`(?:^|;\\s*)${WALLET_SESSION_COOKIE}=([^;]+)`).exec(req.headers.cookie ?? '');
    return sessions.verify(m?.[1]);
  };

  // ---- home: log in, balance, history ------------------------------------------------

  /** Where to go after login: only a path of the wallet app (no open redirect). */
  function nextPath(v: unknown): string {
    return typeof v === 'string' && v.length <= 200 && /^\/wallet\/[A-Za-z0-9_\-/]*(\?[A-Za-z0-9_=&-]*)?$/.test(v) && !v.includes('//') ? v : '/wallet/';
  }

  function loginPage(req: FastifyRequest, reply: FastifyReply, status: number, msg: string | null, phone = '', next = '/wallet/') {
    const token = csrf.issue(req, reply, 'login');
    return sendPage(reply, status, 'Wallet login', () => html`
      <h1>Log in to your wallet</h1>${msgHtml(msg)}
      <form class="card" method="post" action="/wallet/login">
        <input type="hidden" name="${CSRF_FIELD}" value="${token}">
        <input type="hidden" name="next" value="${nextPath(next)}">
        <label for="phone">Phone number</label>
        <input id="phone" name="phone" type="tel" inputmode="tel" autocomplete="tel" maxlength="16" required value="${phone}" placeholder="50937000000">
        <label for="pin">PIN</label>
        <input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="off" maxlength="6" pattern="[0-9]{4,6}" required>
        <button type="submit">Log in</button>
      </form>`);
  }

  async function homePage(req: FastifyRequest, reply: FastifyReply, phone: string) {
    const wallets = await wallet.wallets(phone);
    const items = await wallet.history(phone, undefined, 20);
    const token = csrf.issue(req, reply, 'logout');
    return sendPage(reply, 200, 'Wallet', () => html`
      <h1>${wallets[0]?.name ?? ''}</h1>
      ${wallets.map((w) => html`<div class="card"><div class="muted">${w.currency} wallet · ${phone}</div><div class="amount" data-balance="${w.currency}">${formatAmount(w.balance_minor, w.currency, 'fixed')} ${w.currency}</div></div>`)}
      <div class="card"><div class="muted">Recent activity</div>
        ${items.length ? html`<table>${items.map((h) => html`<tr><td>${label(h.kind, h.amount_minor)}<br><span class="muted">${h.created_at.toISOString().slice(0, 16).replace('T', ' ')}</span></td><td class="r">${h.amount_minor > 0n ? '+' : ''}${h.amount} ${h.currency}</td></tr>`)}</table>` : html`<p class="muted">No activity yet.</p>`}
      </div>
      <p><a class="card link" id="code-link" href="/wallet/code">Show my payment code (pay at a shop)</a></p>
      <form method="post" action="/wallet/logout"><input type="hidden" name="${CSRF_FIELD}" value="${token}"><button class="secondary" type="submit">Log out</button></form>`);
  }

  app.get('/wallet/', { schema: { tags, summary: 'Wallet home page (log in, balance, history)' } }, async (req, reply) => {
    const s = pageSession(req);
    return s ? homePage(req, reply, s.phone) : loginPage(req, reply, 200, null, '', nextPath((req.query as Record<string, unknown>).next));
  });

  app.post('/wallet/login', { schema: { tags, summary: 'Log in form post (phone, pin, csrf)' } }, async (req, reply) => {
    const b = form(req);
    if (!csrf.check(req, 'login', b[CSRF_FIELD])) return loginPage(req, reply, 403, 'The form expired: please try again.');
    try {
      const { phone } = await wallet.authenticate(b.phone, b.pin);
      setSession(reply, phone);
      return reply.redirect(nextPath(b.next), 303);
    } catch (e) {
      const m = payerMessage(e);
      return loginPage(req, reply, m.status, m.text, typeof b.phone === 'string' ? b.phone.slice(0, 16) : '', nextPath(b.next));
    }
  });

  app.post('/wallet/logout', { schema: { tags, summary: 'Log out form post' } }, async (req, reply) => {
    if (!csrf.check(req, 'logout', form(req)[CSRF_FIELD])) return loginPage(req, reply, 403, 'The form expired: please try again.');
    addCookie(reply, `${WALLET_SESSION_COOKIE}=; Path=/wallet; HttpOnly; SameSite=Lax; Max-Age=0`);
    return reply.redirect('/wallet/', 303);
  });

  // ---- pay page ----------------------------------------------------------------------

  function summary(v: PaymentView): RawHtml {
    return html`<div class="card"><div class="muted">Pay to</div><div><strong id="merchant">${v.merchant}</strong></div>
      <div class="muted" id="item">${v.item}</div><div class="amount" id="amount">${v.amount} ${v.currency}</div></div>`;
  }

  function payPage(req: FastifyRequest, reply: FastifyReply, v: PaymentView, status: number, msg: string | null, phone: string) {
    const token = csrf.issue(req, reply, 'pay:' + v.token);
    const loggedIn = pageSession(req);
    return sendPage(reply, status, `Pay ${v.amount} ${v.currency}`, () => html`
      <h1>Confirm payment</h1>${msgHtml(msg)}${summary(v)}
      <form class="card" method="post" action="/wallet/pay/${v.token}">
        <input type="hidden" name="${CSRF_FIELD}" value="${token}">
        <label for="phone">Wallet phone number</label>
        <input id="phone" name="phone" type="tel" inputmode="tel" autocomplete="tel" maxlength="16" value="${phone || loggedIn?.phone || ''}" placeholder="50937000000">
        <label for="pin">PIN</label>
        <input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="off" maxlength="6" pattern="[0-9]{4,6}">
        <button type="submit" name="action" value="pay" id="pay">Pay ${v.amount} ${v.currency}</button>
        <button type="submit" name="action" value="decline" id="decline" class="secondary">Decline</button>
      </form>
      ${loggedIn ? raw('') : html`<p class="muted">Declining needs your PIN too. <a href="/wallet/">Log in</a></p>`}`);
  }

  function closedPage(reply: FastifyReply, v: PaymentView, status: number, text: string, ok: boolean) {
    return sendPage(reply, status, ok ? 'Payment successful' : 'Payment closed', () => html`
      <h1>${ok ? 'Payment successful' : 'Payment closed'}</h1>${msgHtml(text, ok ? 'ok' : 'err')}${summary(v)}
      <p><a href="/wallet/">Go to my wallet</a></p>`);
  }

  function notFound(reply: FastifyReply) {
    return sendPage(reply, 404, 'Payment not found', () => html`<h1>Payment not found</h1><p class="msg err">This QR code is not a Paygate wallet payment.</p>`);
  }

  app.get('/wallet/pay/:token', { schema: { tags, summary: 'Pay page of a wallet QR code' } }, async (req, reply) => {
    const p = await wallet.payment((req.params as { token: string }).token);
    if (!p) return notFound(reply);
    const v = await wallet.view(p);
    if (!v.payable) return closedPage(reply, v, 200, capitalize(stateMessage(v.state)) + '.', false);
    return payPage(req, reply, v, 200, null, '');
  });

  app.post('/wallet/pay/:token', { schema: { tags, summary: 'Pay or decline form post (phone, pin, action, csrf)' } }, async (req, reply) => {
    const p = await wallet.payment((req.params as { token: string }).token);
    if (!p) return notFound(reply);
    const b = form(req);
    const phone = typeof b.phone === 'string' ? b.phone.slice(0, 16) : '';
    const v = await wallet.view(p);
    if (!v.payable) return closedPage(reply, v, 409, capitalize(stateMessage(v.state)) + '.', false);
    if (!csrf.check(req, 'pay:' + p.token, b[CSRF_FIELD])) return payPage(req, reply, v, 403, 'The form expired: please try again.', phone);
    try {
      if (b.action === 'decline') {
        const s = pageSession(req);
        if (!s) await wallet.authenticate(b.phone, b.pin, p.currency);
        const declined = await wallet.decline(p);
        return closedPage(reply, await wallet.view(declined), 200, 'You declined this payment.', false);
      }
      if (b.action !== 'pay') throw new CoreError('invalid_request', 'choose Pay or Decline');
      const { payment, account } = await wallet.pay(p, b.phone, b.pin);
      if (account.phone) setSession(reply, account.phone);
      return paidPage(reply, await wallet.view(payment), account);
    } catch (e) {
      const m = payerMessage(e);
      const fresh = await wallet.view((await wallet.payment(p.token)) ?? p);
      if (!fresh.payable) return closedPage(reply, fresh, m.status, m.text, false);
      return payPage(req, reply, fresh, m.status, m.text, phone);
    }
  });

  function paidPage(reply: FastifyReply, v: PaymentView, account: AccountRow) {
    return sendPage(reply, 200, 'Payment successful', () => html`
      <h1 id="result">Payment successful</h1>${msgHtml(`You paid ${v.amount} ${v.currency} to ${v.merchant}.`, 'ok')}${summary(v)}
      <div class="card"><div class="muted">New balance</div><div class="amount">${formatAmount(account.balance_minor, account.currency as Currency, 'fixed')} ${account.currency}</div></div>
      <p><a href="/wallet/">Go to my wallet</a></p>`);
  }
}


function label(kind: string, amount_minor: bigint): string {
  if (kind === 'payment') return 'Payment';
  if (kind === 'refund') return 'Refund';
  if (kind === 'payout') return 'Received';
  if (kind === 'funding') return amount_minor >= 0n ? 'Top-up' : 'Adjustment';
  return kind;
}
