// The mobile-money rail's payer side: a handset simulator. One mobile-first page per phone
// number shows the pending push prompts ("Pay 1,000 RWF to Shop? Enter PIN"), takes the PIN,
// approves or rejects, and shows the balance and recent transactions; new prompts appear
// without a reload (the page polls an HTML fragment). The same as a JSON API under
// /handset/api/<phone>/. Holding the page is holding the phone: approving needs the PIN.
// See docs/mobile-money.md.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type CoreError, isCoreError } from '../../errors.ts';
import type { GatewayContext } from '../../gateway.ts';
import type { GatewayModule } from '../../modules.ts';
import { formatAmount } from '../../money/index.ts';
import { normalizePhone } from '../payers.ts';
import { Csrf, CSRF_COOKIE, esc, layout, moneyText, newNonce, pageHeaders } from './html.ts';
import { mobileMoneyRail, type Prompt } from './service.ts';

export { mobileMoneyRail } from './service.ts';

/** How often the page asks for new prompts. */
export const POLL_MS = 2000;

const tags = ['mobile-money'];

type Wallet = NonNullable<Awaited<ReturnType<ReturnType<typeof mobileMoneyRail>['wallet']>>>;

const FLASH: Record<string, [boolean, string]> = {
  approved: [true, 'Payment approved. Thank you.'],
  declined: [true, 'Payment request declined.'],
  insufficient_funds: [false, 'Payment failed: insufficient balance.'],
  wrong_pin: [false, 'Wrong PIN.'],
  locked: [false, 'Too many wrong PINs: your account is locked for 15 minutes.'],
  expired: [false, 'This request has expired.'],
  closed: [false, 'This request is no longer pending.'],
  csrf: [false, 'The form has expired; please try again.'],
};

const KIND_LABEL: Record<string, string> = { payment: 'Payment', payout: 'Deposit received', funding: 'Top-up', refund: 'Refund' };

function promptJson(p: Prompt) {
  return {
    id: p.id,
    payment_id: p.payment_id,
    merchant: p.merchant_name,
    amount: formatAmount(p.amount_minor, p.currency),
    amount_minor: p.amount_minor,
    currency: p.currency,
    description: p.description,
    text: `Pay ${moneyText(p.amount_minor, p.currency)} to ${p.merchant_name}? Enter PIN`,
    expires_at: p.expires_at.toISOString(),
  };
}

function apiError(reply: FastifyReply, status: number, code: string, message: string, extra: Record<string, unknown> = {}) {
  return reply.code(status).send({ error: { code, message, ...extra } });
}

const CORE_STATUS: Record<string, number> = { not_found: 404, unauthorized: 401, locked: 423, invalid_state: 409, expired: 410, invalid_request: 400 };

const mod: GatewayModule = {
  name: 'mobile-money',
  async register(app: FastifyInstance, ctx: GatewayContext) {
    const rail = mobileMoneyRail(ctx);
    const csrf = new Csrf(ctx.sealer.derive('csrf'), { cookie: CSRF_COOKIE, path: '/handset', secure: () => ctx.publicUrl().startsWith('https:') });

    app.setErrorHandler((err: FastifyError | CoreError | Error, req, reply) => {
      if (isCoreError(err)) {
        const code = err.code === 'unauthorized' ? 'wrong_pin' : err.code;
        return apiError(reply, CORE_STATUS[err.code] ?? 409, code, err.message, err.detail);
      }
      const fe = err as FastifyError;
      if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return apiError(reply, fe.statusCode, fe.code ?? 'bad_request', fe.message);
      req.log.error({ err }, 'handset: unhandled error');
      return apiError(reply, 500, 'internal_error', 'internal error');
    });

    function phoneOf(req: FastifyRequest): string | null {
      return normalizePhone((req.params as { phone?: string }).phone ?? '');
    }
    function promptIdOf(req: FastifyRequest): string {
      const id = (req.params as { id?: string }).id ?? '';
      return /^\d{1,18}$/.test(id) ? id : '0';
    }
    /** JSON posts only: a cross-site HTML form cannot send application/json without CORS. */
    function requireJson(req: FastifyRequest, reply: FastifyReply): boolean {
      const ct = String(req.headers['content-type'] ?? '');
      if (!/^application\/json\b/i.test(ct)) {
        apiError(reply, 415, 'unsupported_media_type', 'send Content-Type: application/json');
        return false;
      }
      return true;
    }

    // ---- HTML --------------------------------------------------------------------------

    function header(w: Wallet | null, phone: string): string {
      const sub = w?.subscribers[0];
      return `<div class="net">${esc(sub?.network ?? 'MOBILE MONEY')} · ${esc(phone)}</div><h1>${esc(sub?.name ?? 'Handset')}</h1>`;
    }

    function dynamicPart(phone: string, w: Wallet, prompts: Prompt[], tokenFor: (prompt_id: string) => string): string {
      const bal = w.subscribers
        .map((s) => `<div class="bal"><div class="n">Balance (${esc(s.currency)})</div><div class="v" data-currency="${esc(s.currency)}">${esc(moneyText(s.balance_minor, s.currency))}</div></div>`)
        .join('');
      const ps = prompts.length
        ? prompts
            .map((p) => {
              const base = `/handset/${esc(phone)}/prompts/${esc(p.id)}`;
              const tok = esc(tokenFor(p.id));
              return `<section class="ussd" data-prompt-id="${esc(p.id)}">
<p>Pay ${esc(moneyText(p.amount_minor, p.currency))} to ${esc(p.merchant_name)}? Enter PIN</p>${p.description ? `<p class="d">${esc(p.description)}</p>` : ''}
<form method="post" action="${base}/approve"><input type="hidden" name="csrf" value="${tok}">
<label for="pin${esc(p.id)}">PIN</label><input id="pin${esc(p.id)}" name="pin" type="password" inputmode="numeric" pattern="[0-9]*" minlength="4" maxlength="6" autocomplete="off" required>
<button class="ok" type="submit">Send</button></form>
<form method="post" action="${base}/reject"><input type="hidden" name="csrf" value="${tok}"><button class="no" type="submit">Cancel</button></form>
</section>`;
            })
            .join('')
        : '<p class="empty">No pending requests. New payment requests appear here.</p>';
      const tx = w.history.length
        ? `<ul class="tx">${w.history
            .map((h) => `<li><span>${esc(KIND_LABEL[h.kind] ?? h.kind)} <small>${esc(h.created_at.toISOString().slice(0, 16).replace('T', ' '))}</small></span><span class="${h.amount_minor < 0n ? 'out' : 'in'}">${h.amount_minor < 0n ? '' : '+'}${esc(moneyText(h.amount_minor, h.currency as never))}</span></li>`)
            .join('')}</ul>`
        : '<p class="empty">No transactions yet.</p>';
      return `${bal}<h2>Requests</h2>${ps}<h2>Recent transactions</h2>${tx}`;
    }

    async function notFoundPage(reply: FastifyReply, what: string) {
      const nonce = newNonce();
      return pageHeaders(reply.code(404), nonce).send(
        layout({ title: 'Handset', nonce, header: '<h1>Handset</h1>', body: `<p class="msg bad">${esc(what)}</p><p><a href="/handset/">Open another number</a></p>` }),
      );
    }

    app.get('/handset', { schema: { tags, summary: 'Handset simulator: choose a phone number', hide: false } }, async (_req, reply) => {
      const nonce = newNonce();
      return pageHeaders(reply, nonce).send(
        layout({
          title: 'Handset simulator',
          nonce,
          header: '<div class="net">MOBILE MONEY</div><h1>Handset simulator</h1>',
          body: `<form class="find" method="get" action="/handset/go"><label for="phone">Subscriber phone number</label>
<input id="phone" name="phone" inputmode="tel" placeholder="250788123456" maxlength="16" required><button class="ok" type="submit">Open handset</button></form>
<p class="empty">Each subscriber (created with the operator API or <code>paygate subscriber</code>) has a handset at /handset/&lt;phone&gt;.</p>`,
        }),
      );
    });

    app.get('/handset/go', { schema: { hide: true } }, async (req, reply) => {
      const p = normalizePhone((req.query as { phone?: string }).phone ?? '');
      return reply.redirect(p ? `/handset/${p}` : '/handset/', 303);
    });

    app.get('/handset/:phone', { schema: { tags, summary: 'Handset page of a phone: pending prompts, balance, recent transactions' } }, async (req, reply) => {
      const phone = phoneOf(req);
      if (!phone) return notFoundPage(reply, 'Not a phone number.');
      const w = await rail.wallet(phone);
      if (!w) return notFoundPage(reply, 'No mobile-money subscriber with this number.');
      const prompts = await rail.prompts(phone);
      const tokenFor = (id: string) => csrf.issue(req, reply, `${phone}\0${id}`);
      const nonce = newNonce();
      const r = String((req.query as { r?: string }).r ?? '');
      const flash = FLASH[r];
      const tries = Number((req.query as { n?: string }).n);
      const flashHtml = flash
        ? `<p class="msg ${flash[0] ? 'good' : 'bad'}" role="status">${esc(flash[1])}${r === 'wrong_pin' && Number.isInteger(tries) && tries >= 0 && tries < 10 ? ` ${tries} ${tries === 1 ? 'try' : 'tries'} left.` : ''}</p>`
        : '';
      const src = `/handset/${phone}/live`;
      const script = `(function(){var el=document.getElementById('live');var last=null;
function busy(){var a=document.activeElement;if(a&&a.tagName==='INPUT'&&el.contains(a))return true;var i=el.querySelectorAll('input[name=pin]');for(var k=0;k<i.length;k++)if(i[k].value)return true;return false}
function tick(){fetch(${JSON.stringify(src)},{credentials:'same-origin',cache:'no-store'}).then(function(r){return r.ok?r.text():null}).then(function(h){if(h!==null&&h!==last&&!busy()){el.innerHTML=h;last=h}}).catch(function(){}).then(function(){setTimeout(tick,${POLL_MS})})}
setTimeout(tick,${POLL_MS})})();`;
      return pageHeaders(reply, nonce).send(
        layout({ title: `Handset ${phone}`, nonce, header: header(w, phone), body: `${flashHtml}<div id="live">${dynamicPart(phone, w, prompts, tokenFor)}</div>`, script }),
      );
    });

    app.get('/handset/:phone/live', { schema: { hide: true } }, async (req, reply) => {
      const phone = phoneOf(req);
      const w = phone ? await rail.wallet(phone) : null;
      if (!phone || !w) return reply.code(404).header('cache-control', 'no-store').type('text/plain').send('not found');
      const tokenFor = (id: string) => csrf.issue(req, reply, `${phone}\0${id}`);
      const prompts = await rail.prompts(phone);
      return reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; frame-ancestors 'none'")
        .send(dynamicPart(phone, w, prompts, tokenFor));
    });

    async function formAction(req: FastifyRequest, reply: FastifyReply, act: 'approve' | 'reject') {
      const phone = phoneOf(req);
      if (!phone) return notFoundPage(reply, 'Not a phone number.');
      const id = promptIdOf(req);
      const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
      const back = (r: string, n?: number) => reply.redirect(`/handset/${phone}?r=${r}${n === undefined ? '' : `&n=${n}`}`, 303);
      if (!csrf.check(req, `${phone}\0${id}`, body.csrf)) return back('csrf');
      try {
        const out = act === 'approve' ? await rail.approve(phone, id, body.pin) : await rail.reject(phone, id);
        return back(out.payment.state === 'succeeded' ? 'approved' : out.payment.failure_code === 'insufficient_funds' ? 'insufficient_funds' : 'declined');
      } catch (e) {
        if (isCoreError(e, 'unauthorized')) return back('wrong_pin', Number(e.detail.tries_left ?? 0));
        if (isCoreError(e, 'locked')) return back('locked');
        if (isCoreError(e, 'expired')) return back('expired');
        if (isCoreError(e, 'invalid_state') || isCoreError(e, 'not_found')) return back('closed');
        throw e;
      }
    }

    app.post('/handset/:phone/prompts/:id/approve', { schema: { tags, summary: 'Approve a prompt with the PIN (form post, CSRF token)' } }, (req, reply) => formAction(req, reply, 'approve'));
    app.post('/handset/:phone/prompts/:id/reject', { schema: { tags, summary: 'Reject a prompt (form post, CSRF token)' } }, (req, reply) => formAction(req, reply, 'reject'));

    // ---- JSON API ----------------------------------------------------------------------

    async function walletOr404(req: FastifyRequest, reply: FastifyReply): Promise<{ phone: string; w: Wallet } | null> {
      const phone = phoneOf(req);
      const w = phone ? await rail.wallet(phone) : null;
      if (!phone || !w) {
        apiError(reply, 404, 'not_found', 'no mobile-money subscriber with this number');
        return null;
      }
      reply.header('cache-control', 'no-store');
      return { phone, w };
    }

    app.get('/handset/api/:phone/prompts', { schema: { tags, summary: 'Pending prompts of a phone', description: '`{"phone","prompts":[{"id","payment_id","merchant","amount","amount_minor","currency","description","text","expires_at"}]}`' } }, async (req, reply) => {
      const x = await walletOr404(req, reply);
      if (!x) return reply;
      return { phone: x.phone, prompts: (await rail.prompts(x.phone)).map(promptJson) };
    });

    app.post('/handset/api/:phone/prompts/:id/approve', {
      schema: {
        tags,
        summary: 'Approve a prompt with the PIN',
        description:
          'JSON body `{"pin":"1234"}` (Content-Type application/json). Answer `{"result":"approved"|"insufficient_funds","payment_id","payment_state"}`. ' +
          'Errors `{"error":{"code","message"}}`: 401 wrong_pin (tries_left), 423 locked, 404 not_found, 409 invalid_state, 410 expired.',
      },
    }, async (req, reply) => {
      if (!requireJson(req, reply)) return reply;
      const phone = phoneOf(req);
      if (!phone) return apiError(reply, 404, 'not_found', 'not a phone number');
      const pin = (req.body as Record<string, unknown> | null)?.pin;
      const out = await rail.approve(phone, promptIdOf(req), typeof pin === 'number' ? String(pin) : pin);
      return { result: out.payment.state === 'succeeded' ? 'approved' : out.payment.failure_code, payment_id: out.payment.id, payment_state: out.payment.state };
    });

    app.post('/handset/api/:phone/prompts/:id/reject', { schema: { tags, summary: 'Reject a prompt', description: 'Content-Type application/json (body `{}`). Answer `{"result":"declined","payment_id","payment_state":"failed"}`.' } }, async (req, reply) => {
      if (!requireJson(req, reply)) return reply;
      const phone = phoneOf(req);
      if (!phone) return apiError(reply, 404, 'not_found', 'not a phone number');
      const out = await rail.reject(phone, promptIdOf(req));
      return { result: 'declined', payment_id: out.payment.id, payment_state: out.payment.state };
    });

    app.get('/handset/api/:phone/balance', { schema: { tags, summary: 'Balances of a phone (one per currency)', description: '`{"phone","name","network","balances":[{"currency","balance","balance_minor"}]}`' } }, async (req, reply) => {
      const x = await walletOr404(req, reply);
      if (!x) return reply;
      const s0 = x.w.subscribers[0]!;
      return {
        phone: x.phone,
        name: s0.name,
        network: s0.network,
        balances: x.w.subscribers.map((s) => ({ currency: s.currency, balance: formatAmount(s.balance_minor, s.currency), balance_minor: s.balance_minor })),
      };
    });

    app.get('/handset/api/:phone/transactions', { schema: { tags, summary: 'Recent transactions of a phone (newest first, at most 10)' } }, async (req, reply) => {
      const x = await walletOr404(req, reply);
      if (!x) return reply;
      return {
        phone: x.phone,
        transactions: x.w.history.map((h) => ({ kind: h.kind, amount_minor: h.amount_minor, currency: h.currency, payment_id: h.payment_id, created_at: h.created_at.toISOString() })),
      };
    });
  },
};
export default mod;
