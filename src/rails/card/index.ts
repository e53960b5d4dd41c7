// The card rail: FlexPay's hosted checkout page. The dialect creates a pending card payment
// (details: approve_url, decline_url, cancel_url, home_url) and hands the payer
// `checkoutUrl(...)`. This page collects the card, asks the Acquirer, and tells the core:
// approved → pay (card clearing → merchant), declined → fail, cancel → cancelled.
// Card numbers and CVVs live only in the request handling them: never stored, never logged
// (no body logging, no error message echoing input); only brand, last4 and an HMAC fingerprint.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isCoreError } from '../../errors.ts';
import type { GatewayContext } from '../../gateway.ts';
import type { GatewayModule } from '../../modules.ts';
import { formatAmount } from '../../money/index.ts';
import type { PaymentRecord } from '../../payments/model.ts';
import { type Acquirer, type AuthorizeResult, brandOf, type CardBrand, type CardInput, cardFingerprint, luhnValid, TestAcquirer } from './acquirer.ts';
import { csrfToken, csrfValid, esc, newNonce, page, securityHeaders } from './html.ts';

export { TestAcquirer, TEST_CARDS, TEST_3DS_CODE } from './acquirer.ts';
export type { Acquirer } from './acquirer.ts';

const TOKEN_RE = /^[A-Za-z0-9_-]{8,64}$/;
const HOLDER_MAX = 60;

/** Where the payer goes to pay a pending card payment. */
export function checkoutUrl(ctx: GatewayContext, p: PaymentRecord, lang?: 'fr' | 'en'): string {
  return `${ctx.publicUrl()}/checkout/${p.token}${lang === 'en' ? '?lang=en' : ''}`;
}

type Lang = 'fr' | 'en';
const T = {
  fr: {
    title: 'Paiement par carte', pay_to: 'Paiement à', amount: 'Montant à payer', number: 'Numéro de carte', expiry: 'Expiration (MM/AA)',
    cvv: 'CVV', holder: 'Nom du titulaire', pay: 'Payer', cancel: 'Annuler', accepted: 'Visa et Mastercard acceptées',
    only_brands: 'Seules les cartes Visa et Mastercard sont acceptées', bad_number: 'Numéro de carte invalide', bad_expiry: "Date d'expiration invalide",
    past_expiry: 'Cette carte est expirée', bad_cvv: 'Le CVV compte 3 ou 4 chiffres', bad_holder: 'Indiquez le nom du titulaire (60 caractères au plus)',
    bad_csrf: 'Session de paiement invalide, veuillez recharger la page', declined: 'Paiement refusé', continue: 'Continuer',
    paid: 'Paiement effectué', cancelled: 'Paiement annulé', expired: 'La session de paiement a expiré', not_found: 'Paiement introuvable',
    challenge_title: 'Vérification 3-D Secure', challenge_text: 'Saisissez le code reçu de votre banque pour confirmer le paiement.',
    code: 'Code de vérification', confirm: 'Confirmer', back_to_merchant: 'Retour au marchand', other_lang: 'English', other_lang_code: 'en',
    reasons: {
      insufficient_funds: 'Fonds insuffisants', do_not_honour: 'Transaction refusée par la banque émettrice', expired_card: 'Carte expirée',
      authentication_failed: "Échec de l'authentification 3-D Secure", processing_error: 'Erreur de traitement, veuillez réessayer', expired: 'La session de paiement a expiré',
      cancelled: 'Paiement annulé', failed: 'Paiement refusé',
    } as Record<string, string>,
  },
  en: {
    title: 'Card payment', pay_to: 'Payment to', amount: 'Amount to pay', number: 'Card number', expiry: 'Expiry (MM/YY)',
    cvv: 'CVV', holder: 'Cardholder name', pay: 'Pay', cancel: 'Cancel', accepted: 'Visa and Mastercard accepted',
    only_brands: 'Only Visa and Mastercard cards are accepted', bad_number: 'Invalid card number', bad_expiry: 'Invalid expiry date',
    past_expiry: 'This card has expired', bad_cvv: 'The CVV has 3 or 4 digits', bad_holder: "Enter the cardholder's name (at most 60 characters)",
    bad_csrf: 'Invalid payment session, please reload the page', declined: 'Payment declined', continue: 'Continue',
    paid: 'Payment completed', cancelled: 'Payment cancelled', expired: 'The payment session has expired', not_found: 'Payment not found',
    challenge_title: '3-D Secure verification', challenge_text: 'Enter the code you received from your bank to confirm the payment.',
    code: 'Verification code', confirm: 'Confirm', back_to_merchant: 'Back to the merchant', other_lang: 'Français', other_lang_code: 'fr',
    reasons: {
      insufficient_funds: 'Insufficient funds', do_not_honour: 'Declined by the issuing bank (do not honour)', expired_card: 'Card expired',
      authentication_failed: '3-D Secure authentication failed', processing_error: 'Processing error, please try again', expired: 'The payment session has expired',
      cancelled: 'Payment cancelled', failed: 'Payment declined',
    } as Record<string, string>,
  },
};

function langOf(req: FastifyRequest): Lang {
  const q = (req.query as Record<string, unknown>)?.lang;
  const b = (req.body as Record<string, unknown> | undefined)?.lang;
  return q === 'en' || b === 'en' ? 'en' : 'fr';
}

function originOf(u: unknown): string | null {
  if (typeof u !== 'string') return null;
  try {
    const x = new URL(u);
    return x.protocol === 'http:' || x.protocol === 'https:' ? x.origin : null;
  } catch {
    return null;
  }
}

function redirectOf(p: PaymentRecord, key: 'approve_url' | 'decline_url' | 'cancel_url' | 'home_url'): string | null {
  const u = p.details?.[key];
  return typeof u === 'string' && originOf(u) ? u : null;
}

function formTargets(p: PaymentRecord): string[] {
  return (['approve_url', 'decline_url', 'cancel_url', 'home_url'] as const).map((k) => originOf(p.details?.[k])).filter((x): x is string => !!x);
}

/** Server-side expiry: "MM/YY", "MM/YYYY", "MM / YY". Valid through the month's last day. */
function parseExpiry(v: unknown): { month: number; year: number } | null {
  if (typeof v !== 'string' || v.length > 10) return null;
  const m = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(v);
  if (!m) return null;
  const month = Number(m[1]);
  let year = Number(m[2]);
  if (year < 100) year += 2000;
  if (month < 1 || month > 12) return null;
  return { month, year };
}

export function createCardModule(acquirer: Acquirer = new TestAcquirer()): GatewayModule {
  return {
    name: 'card',
    async register(app: FastifyInstance, ctx: GatewayContext) {
      const csrfKey = ctx.sealer.derive('csrf');
      const fpKey = ctx.sealer.derive('card-fingerprint');
      const tags = ['card checkout'];

      // Never echo the request (it may hold a card number) and never log err.message of a
      // client error (JSON parse messages quote the body).
      app.setErrorHandler((err: FastifyError, req, reply) => {
        const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
        if (status === 500) req.log.error({ code: err.code ?? 'internal', name: err.name }, 'card page error');
        const lang = 'fr';
        const nonce = newNonce();
        securityHeaders(reply, nonce);
        reply.code(status).send(page({ lang, nonce, title: 'Erreur', body: `<div class="card"><h1>Erreur</h1><p>${status === 500 ? 'Erreur interne' : 'Requête invalide'}</p></div>` }));
      });

      async function load(req: FastifyRequest): Promise<PaymentRecord | null> {
        const token = (req.params as { token?: string }).token;
        if (typeof token !== 'string' || !TOKEN_RE.test(token)) return null;
        const p = await ctx.payments.getByToken(token);
        return p && p.rail === 'card' ? p : null;
      }

      function send(reply: FastifyReply, p: PaymentRecord | null, status: number, lang: Lang, title: string, body: string, script?: string) {
        const nonce = newNonce();
        securityHeaders(reply, nonce, p ? formTargets(p) : []);
        return reply.code(status).send(page({ lang, nonce, title, body, script }));
      }

      function langSwitch(p: PaymentRecord, lang: Lang, path = ''): string {
        const t = T[lang];
        return `<div class="lang"><a href="/checkout/${esc(p.token)}${path}?lang=${t.other_lang_code}" hreflang="${t.other_lang_code}">${t.other_lang}</a></div>`;
      }

      async function header(p: PaymentRecord, lang: Lang): Promise<string> {
        const t = T[lang];
        const m = await ctx.merchants.get(p.merchant_id);
        const total = p.amount_minor + p.surcharge_minor;
        return `<div class="card"><div class="muted">${t.pay_to}</div><h1 id="merchant">${esc(m?.name ?? '')}</h1>
${p.description ? `<div class="muted" id="description">${esc(p.description)}</div>` : ''}
<div class="muted">${t.amount}</div><div class="amount" id="amount">${esc(formatAmount(total, p.currency, 'fixed'))} ${esc(p.currency)}</div></div>`;
      }

      /** The page of a payment that is no longer pending (or was just declined). */
      async function statePage(reply: FastifyReply, p: PaymentRecord, lang: Lang) {
        const t = T[lang];
        let title: string;
        let text: string;
        let next: string | null;
        let cls = 'error';
        if (p.state === 'succeeded' || p.state === 'partially_refunded' || p.state === 'refunded') {
          title = t.paid; text = t.paid; next = redirectOf(p, 'approve_url'); cls = 'ok';
        } else if (p.state === 'cancelled') {
          title = t.cancelled; text = t.cancelled; next = redirectOf(p, 'cancel_url');
        } else if (p.state === 'expired') {
          title = t.expired; text = t.reasons.expired!; next = redirectOf(p, 'decline_url');
        } else {
          title = t.declined; text = t.reasons[p.failure_code ?? 'failed'] ?? t.reasons.failed!; next = redirectOf(p, 'decline_url');
        }
        next = next ?? redirectOf(p, 'home_url');
        const body = `${await header(p, lang)}<div class="card"><h1>${esc(title)}</h1><p class="${cls}" id="reason" data-code="${esc(p.failure_code ?? '')}">${esc(text)}</p>
${next ? `<a class="btn primary" id="continue" href="${esc(next)}">${t.continue}</a>` : ''}</div>`;
        return send(reply, p, 200, lang, title, body);
      }

      async function formPage(reply: FastifyReply, p: PaymentRecord, lang: Lang, error: string | null, status = 200, keep: { holder?: string } = {}) {
        const t = T[lang];
        const csrf = csrfToken(csrfKey, p.token);
        const body = `${langSwitch(p, lang)}${await header(p, lang)}
<div class="card">
${error ? `<div class="error" id="error" role="alert">${esc(error)}</div>` : ''}
<form id="payform" method="post" action="/checkout/${esc(p.token)}/pay" autocomplete="on" novalidate>
<input type="hidden" name="csrf" value="${esc(csrf)}"><input type="hidden" name="lang" value="${lang}">
<label for="card_number">${t.number}</label>
<input id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number" maxlength="23" placeholder="1234 5678 9012 3456" required>
<div class="hint" id="card_hint">${t.accepted}</div>
<div class="row"><div><label for="exp">${t.expiry}</label><input id="exp" name="exp" inputmode="numeric" autocomplete="cc-exp" maxlength="7" placeholder="MM/AA" required></div>
<div><label for="cvv">${t.cvv}</label><input id="cvv" name="cvv" inputmode="numeric" autocomplete="cc-csc" maxlength="4" placeholder="123" required></div></div>
<label for="holder">${t.holder}</label>
<input id="holder" name="holder" autocomplete="cc-name" maxlength="${HOLDER_MAX}" value="${esc(keep.holder ?? '')}" required>
<button type="submit" class="primary" id="pay">${t.pay}</button>
</form>
<form method="post" action="/checkout/${esc(p.token)}/cancel"><input type="hidden" name="csrf" value="${esc(csrf)}"><input type="hidden" name="lang" value="${lang}">
<button type="submit" class="secondary" id="cancel">${t.cancel}</button></form>
</div>`;
        return send(reply, p, status, lang, t.title, body, checkoutScript(t));
      }

      async function challengePage(reply: FastifyReply, p: PaymentRecord, lang: Lang) {
        const t = T[lang];
        const csrf = csrfToken(csrfKey, p.token);
        const body = `${await header(p, lang)}<div class="card"><h1>${t.challenge_title}</h1><p>${t.challenge_text}</p>
<form method="post" action="/checkout/${esc(p.token)}/3ds"><input type="hidden" name="csrf" value="${esc(csrf)}"><input type="hidden" name="lang" value="${lang}">
<label for="code">${t.code}</label><input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="8" required>
<button type="submit" class="primary" id="confirm">${t.confirm}</button></form></div>`;
        return send(reply, p, 200, lang, t.challenge_title, body);
      }

      function notFound(reply: FastifyReply, lang: Lang) {
        return send(reply, null, 404, lang, T[lang].not_found, `<div class="card"><h1>${T[lang].not_found}</h1></div>`);
      }

      async function pendingChallenge(p: PaymentRecord) {
        const rows = await ctx.db.query('select * from card_challenges where payment_id = $1', [p.id]);
        return rows[0] ?? null;
      }

      /** Acquirer answer → core. Returns the reply. */
      async function settle(reply: FastifyReply, p: PaymentRecord, lang: Lang, r: AuthorizeResult, card: { brand: CardBrand; last4: string; fingerprint: string }) {
        if (r.outcome === 'approved') {
          try {
            const paid = await ctx.payments.pay(p.id, { kind: 'card', details: { brand: card.brand, last4: card.last4, fingerprint: card.fingerprint, provider_reference: r.authorization_code, acquirer: acquirer.name } });
            const to = redirectOf(paid, 'approve_url');
            return to ? reply.code(303).header('location', to).send() : statePage(reply, paid, lang);
          } catch (e) {
            if (isCoreError(e, 'expired') || isCoreError(e, 'invalid_state')) return reply.code(303).header('location', `/checkout/${p.token}?lang=${lang}`).send();
            throw e;
          }
        }
        if (r.outcome === 'declined') {
          try {
            await ctx.payments.fail(p.id, 'failed', r.reason);
          } catch (e) {
            if (!isCoreError(e, 'invalid_state')) throw e;
          }
          // The reason first (on our page), then the payer continues to decline_url.
          return reply.code(303).header('location', `/checkout/${p.token}?lang=${lang}`).send();
        }
        // Processing error: nothing happened at the bank; the payment stays pending for a retry.
        return formPage(reply, p, lang, T[lang].reasons.processing_error!, 200);
      }

      app.get('/checkout/:token', {
        schema: { tags, summary: 'Hosted card checkout page', description: 'Server-rendered page (French; `?lang=en` for English). Shows the result once the payment is final.', hide: false },
      }, async (req, reply) => {
        const lang = langOf(req);
        const p = await load(req);
        if (!p) return notFound(reply, lang);
        if (p.state !== 'pending') return statePage(reply, p, lang);
        if (await pendingChallenge(p)) return reply.code(303).header('location', `/checkout/${p.token}/3ds?lang=${lang}`).send();
        return formPage(reply, p, lang, null);
      });

      app.post('/checkout/:token/pay', { schema: { tags, summary: 'Submit the card (form post from the checkout page)' } }, async (req, reply) => {
        const lang = langOf(req);
        const p = await load(req);
        if (!p) return notFound(reply, lang);
        const b = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
        const t = T[lang];
        if (!csrfValid(csrfKey, p.token, b.csrf)) return formPage(reply, p, lang, t.bad_csrf, 403);
        if (p.state !== 'pending') return statePage(reply, p, lang);
        if (await pendingChallenge(p)) return reply.code(303).header('location', `/checkout/${p.token}/3ds?lang=${lang}`).send();
        const holder = typeof b.holder === 'string' ? b.holder.trim() : '';
        const keep = { holder: holder.slice(0, HOLDER_MAX) };
        const number = typeof b.card_number === 'string' && b.card_number.length <= 40 ? b.card_number.replace(/[\s-]/g, '') : '';
        if (!/^\d{12,19}$/.test(number)) return formPage(reply, p, lang, t.bad_number, 422, keep);
        const brand = brandOf(number);
        if (!brand) return formPage(reply, p, lang, t.only_brands, 422, keep);
        if (!luhnValid(number)) return formPage(reply, p, lang, t.bad_number, 422, keep);
        const exp = parseExpiry(b.exp);
        if (!exp) return formPage(reply, p, lang, t.bad_expiry, 422, keep);
        const now = ctx.clock.now();
        if (exp.year < now.getUTCFullYear() || (exp.year === now.getUTCFullYear() && exp.month < now.getUTCMonth() + 1)) {
          return formPage(reply, p, lang, t.past_expiry, 422, keep);
        }
        if (typeof b.cvv !== 'string' || !/^\d{3,4}$/.test(b.cvv)) return formPage(reply, p, lang, t.bad_cvv, 422, keep);
        if (!holder || holder.length > HOLDER_MAX) return formPage(reply, p, lang, t.bad_holder, 422, keep);
        const card: CardInput = { number, exp_month: exp.month, exp_year: exp.year, cvv: b.cvv, holder };
        const summary = { brand, last4: number.slice(-4), fingerprint: cardFingerprint(fpKey, number) };
        const r = await acquirer.authorize({ card, brand, amount_minor: p.amount_minor + p.surcharge_minor, currency: p.currency, payment_ref: p.public_ref });
        if (r.outcome === 'challenge') {
          await ctx.db.query(
            `insert into card_challenges (payment_id, challenge_ref, brand, last4, fingerprint, created_at) values ($1, $2, $3, $4, $5, $6)
             on conflict (payment_id) do nothing`,
            [p.id, r.challenge_ref, summary.brand, summary.last4, summary.fingerprint, now],
          );
          return reply.code(303).header('location', `/checkout/${p.token}/3ds?lang=${lang}`).send();
        }
        return settle(reply, p, lang, r, summary);
      });

      app.get('/checkout/:token/3ds', { schema: { tags, summary: '3-D Secure challenge page (test acquirer)' } }, async (req, reply) => {
        const lang = langOf(req);
        const p = await load(req);
        if (!p) return notFound(reply, lang);
        if (p.state !== 'pending') return statePage(reply, p, lang);
        if (!(await pendingChallenge(p))) return reply.code(303).header('location', `/checkout/${p.token}?lang=${lang}`).send();
        return challengePage(reply, p, lang);
      });

      app.post('/checkout/:token/3ds', { schema: { tags, summary: 'Answer the 3-D Secure challenge' } }, async (req, reply) => {
        const lang = langOf(req);
        const p = await load(req);
        if (!p) return notFound(reply, lang);
        const b = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
        if (!csrfValid(csrfKey, p.token, b.csrf)) return formPage(reply, p, lang, T[lang].bad_csrf, 403);
        if (p.state !== 'pending') return statePage(reply, p, lang);
        // One answer per challenge: the row is taken (deleted) by exactly one request.
        const taken = await ctx.db.query('delete from card_challenges where payment_id = $1 returning *', [p.id]);
        if (!taken.length) return reply.code(303).header('location', `/checkout/${p.token}?lang=${lang}`).send();
        const ch = taken[0]!;
        const code = typeof b.code === 'string' ? b.code.trim().slice(0, 16) : '';
        const r = await acquirer.completeChallenge(ch.challenge_ref, code);
        return settle(reply, p, lang, r, { brand: ch.brand, last4: ch.last4, fingerprint: ch.fingerprint });
      });

      app.post('/checkout/:token/cancel', { schema: { tags, summary: 'Cancel button of the checkout page' } }, async (req, reply) => {
        const lang = langOf(req);
        const p = await load(req);
        if (!p) return notFound(reply, lang);
        const b = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
        if (!csrfValid(csrfKey, p.token, b.csrf)) return formPage(reply, p, lang, T[lang].bad_csrf, 403);
        if (p.state !== 'pending') return statePage(reply, p, lang);
        let after: PaymentRecord;
        try {
          after = await ctx.payments.fail(p.id, 'cancelled', 'cancelled');
          await ctx.db.query('delete from card_challenges where payment_id = $1', [p.id]);
        } catch (e) {
          if (!isCoreError(e, 'invalid_state')) throw e;
          return statePage(reply, (await ctx.payments.get(p.id))!, lang);
        }
        const to = redirectOf(after, 'cancel_url');
        return to ? reply.code(303).header('location', to).send() : statePage(reply, after, lang);
      });
    },
  };
}

/** Live Luhn check and brand detection; the server checks the same again. */
function checkoutScript(t: (typeof T)['fr']): string {
  const msgs = JSON.stringify({ only: t.only_brands, bad: t.bad_number, accepted: t.accepted }).replace(/</g, '\\u003c');
  return `(function(){var M=${msgs};
var n=document.getElementById('card_number'),h=document.getElementById('card_hint'),f=document.getElementById('payform'),e=document.getElementById('exp');
function luhn(d){var s=0;for(var i=0;i<d.length;i++){var x=d.charCodeAt(d.length-1-i)-48;if(i%2){x*=2;if(x>9)x-=9}s+=x}return s%10===0}
function brand(d){if(/^4/.test(d))return'visa';var p2=+d.slice(0,2),p4=+d.slice(0,4);if((p2>=51&&p2<=55)||(p4>=2221&&p4<=2720))return'mastercard';return d.length>=2?'other':null}
function full(b,d){return b==='visa'?(d.length===13||d.length===16||d.length===19):d.length===16}
function check(final){var d=n.value.replace(/\\D/g,'').slice(0,19),b=brand(d),msg='',cls='hint';
n.value=d.replace(/(\\d{4})(?=\\d)/g,'$1 ');
if(b==='other'){msg=M.only;cls+=' bad'}else if(b&&full(b,d)&&luhn(d)){msg=(b==='visa'?'Visa':'Mastercard')+' \\u2713';cls+=' ok'}
else if(d.length>=19||(b&&full(b,d))||(final&&d.length)){msg=M.bad;cls+=' bad'}else{msg=b?(b==='visa'?'Visa':'Mastercard'):M.accepted}
h.textContent=msg;h.className=cls;h.setAttribute('data-brand',b||'');n.setCustomValidity(cls.indexOf('bad')>=0?msg:'');return cls.indexOf('ok')>=0}
n.addEventListener('input',function(){check(false)});n.addEventListener('blur',function(){check(true)});
e.addEventListener('input',function(){var d=e.value.replace(/\\D/g,'').slice(0,4);e.value=d.length>2?d.slice(0,2)+'/'+d.slice(2):d});
f.addEventListener('submit',function(ev){if(!check(true)){ev.preventDefault();n.focus();return}var b=document.getElementById('pay');setTimeout(function(){b.disabled=true},0)})})();`;
}

export default createCardModule();
