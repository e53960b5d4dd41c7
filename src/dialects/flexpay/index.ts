// FlexPay (seed 003 + provider notes): card payments on the hosted checkout page
// (POST /v1.1/pay JSON, POST /v1/pay legacy browser form), check transaction, mobile money
// (paymentService) and payouts (merchantPayOutService). Wire ⇄ core only; see docs/flexpay.md.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { callbackUrlError, callbackUrlSyntaxError } from '../../delivery/ssrf.ts';
import { CoreError, isCoreError } from '../../errors.ts';
import type { GatewayContext } from '../../gateway.ts';
import type { CredentialRow } from '../../merchants/service.ts';
import type { GatewayModule } from '../../modules.ts';
import { applyRateBps } from '../../money/index.ts';
import type { PaymentRecord } from '../../payments/model.ts';
import { checkoutUrl } from '../../rails/card/index.ts';
import { esc, newNonce, page, securityHeaders } from '../../rails/card/html.ts';
import { findSubscriber, mobileMoneyRail, type RequestPaymentInput } from '../../rails/mobile-money/service.ts';
import { normalizePhone } from '../../rails/payers.ts';
import {
  bearer, buildCallback, codeOf, DESCRIPTION_MAX, newOrderNumber, optionalText, paymentTransaction, payoutIdOf,
  payoutOrderNumber, payoutTransaction, requireAmount, requireCurrency, requireReference, str, WireError,
} from './wire.ts';

const tags = ['FlexPay'];
const REDIRECT_FIELDS = ['approve_url', 'cancel_url', 'decline_url', 'home_url'] as const;

type Body = Record<string, unknown>;

function bodyOf(req: FastifyRequest): Body {
  const b = req.body;
  if (b === undefined || b === null || b === '') return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw new WireError(400, 'Le corps de la requête doit être un objet JSON');
  return b as Body;
}

const ERR_MESSAGES: Record<number, string> = {
  400: 'Requête invalide',
  401: "Token d'autorisation invalide",
  404: 'Ressource introuvable',
  409: 'Conflit',
  413: 'Requête trop volumineuse',
  415: 'Type de contenu non supporté (JSON ou formulaire attendu)',
};

const mod: GatewayModule = {
  name: 'flexpay',
  async register(app: FastifyInstance, ctx: GatewayContext) {
    const payoutKey = ctx.sealer.derive('flexpay-payout-order');
    ctx.payments.registerCallbacks('flexpay', buildCallback(payoutKey));

    /** Every present token (header, body field) must authenticate, to the same merchant. */
    async function authenticate(req: FastifyRequest, body: Body | null): Promise<CredentialRow> {
      const candidates = [bearer(req.headers.authorization), body ? bearer(body.authorization) : null].filter((t): t is string => t !== null);
      // Brute force against one merchant's token (the body's merchant code) is blocked per
      // merchant code; the app counts 401s per IP itself.
      const rb = req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? (req.body as Body) : null;
      const m = rb && typeof rb.merchant === 'string' && rb.merchant.length <= 64 ? 'flexpay:' + rb.merchant : undefined;
      const wait_s = m ? ctx.limits.blocked(req.ip, m) : null;
      if (wait_s !== null) {
        throw Object.assign(new WireError(429, `Trop de tentatives d'authentification échouées : réessayez dans ${wait_s} s`), { retry_after_s: wait_s });
      }
      const fail = (message: string) => {
        if (m) ctx.limits.credentialFailed(m);
        return new WireError(401, message);
      };
      if (!candidates.length) throw fail("Token d'autorisation manquant");
      let cred: CredentialRow | null = null;
      for (const t of candidates) {
        const c = await ctx.merchants.authenticateToken('flexpay', t);
        if (!c || (cred && cred.merchant_id !== c.merchant_id)) throw fail("Token d'autorisation invalide");
        cred = c;
      }
      return cred!;
    }

    function requireMerchant(cred: CredentialRow, v: unknown): void {
      const m = str(v);
      if (!m) throw new WireError(400, 'Le champ merchant est obligatoire');
      if (m !== cred.identifier) throw new WireError(400, 'Le code marchand ne correspond pas au token');
    }

    async function callbackUrl(v: unknown, field: string): Promise<string | null> {
      if (v === undefined || v === null || v === '') return null;
      const err = await callbackUrlError(v, ctx.config.allowPrivateCallbacks);
      if (err) throw new WireError(400, `${field} invalide: ${err}`);
      return v as string;
    }

    function redirectUrl(v: unknown, field: string): string | null {
      if (v === undefined || v === null || v === '') return null;
      const err = callbackUrlSyntaxError(v);
      if (err) throw new WireError(400, `${field} invalide: ${err}`);
      return v as string;
    }

    function coreToWire(e: unknown): never {
      if (e instanceof WireError) throw e;
      if (isCoreError(e, 'reference_conflict')) throw new WireError(409, 'Cette référence a déjà été utilisée avec des paramètres différents');
      if (isCoreError(e, 'invalid_request')) throw new WireError(400, e.message);
      throw e;
    }

    /** Shared by /v1.1/pay and /v1/pay: validates and creates (or replays) the card payment. */
    async function createCard(req: FastifyRequest): Promise<PaymentRecord> {
      const b = bodyOf(req);
      const cred = await authenticate(req, b);
      requireMerchant(cred, b.merchant);
      const reference = requireReference(b.reference);
      const currency = requireCurrency(b.currency);
      const amount_minor = requireAmount(b.amount, currency);
      const description = optionalText(b.description, 'description', DESCRIPTION_MAX);
      const callback_url = await callbackUrl(b.callback_url, 'callback_url');
      const redirects: Record<string, string | null> = {};
      for (const f of REDIRECT_FIELDS) redirects[f] = redirectUrl(b[f], f);
      const merchant = await ctx.merchants.get(cred.merchant_id);
      // Optional surcharge paid by the customer on top of the amount (amountCustomer).
      const bps = Number(merchant?.settings?.flexpay_card_surcharge_bps ?? 0);
      const surcharge_minor = Number.isInteger(bps) && bps > 0 && bps <= 10_000 ? applyRateBps(amount_minor, BigInt(bps)) : 0n;
      try {
        const { payment } = await ctx.payments.create({
          merchant_id: cred.merchant_id,
          dialect: 'flexpay',
          rail: 'card',
          merchant_ref: reference,
          amount_minor,
          surcharge_minor,
          currency,
          description,
          callback_url,
          public_ref: newOrderNumber(),
          details: { ...redirects, merchant_code: cred.identifier },
          fingerprint: { callback_url, ...redirects },
        });
        return payment;
      } catch (e) {
        coreToWire(e);
      }
    }

    function jsonError(reply: FastifyReply, status: number, message: string, extra: Record<string, unknown>) {
      return reply.code(status).send({ code: '1', message, ...extra });
    }

    const PAY_ERR = { orderNumber: null, url: null };
    const CHECK_ERR = { transaction: null };
    const MM_ERR = { orderNumber: null, provider_reference: null, url: null };
    const PAYOUT_ERR = { orderNumber: null };

    function errorExtra(req: FastifyRequest): Record<string, unknown> {
      const u = req.routeOptions?.url ?? '';
      if (u.startsWith('/api/rest/v1/check')) return CHECK_ERR;
      if (u === '/api/rest/v1/paymentService') return MM_ERR;
      if (u === '/api/rest/v1/merchantPayOutService') return PAYOUT_ERR;
      return PAY_ERR;
    }

    function htmlError(reply: FastifyReply, status: number, message: string) {
      const nonce = newNonce();
      securityHeaders(reply, nonce);
      return reply.code(status).send(page({ lang: 'fr', nonce, title: 'Paiement impossible', body: `<div class="card"><h1>Paiement impossible</h1><p class="error" id="error">${esc(message)}</p></div>` }));
    }

    // Every error in FlexPay's shape; never 5xx for client input; bodies are never logged
    // (a JSON parse error message quotes the body, so err.message of 4xx is not logged).
    app.setErrorHandler((err: FastifyError | WireError, req, reply) => {
      let status: number;
      let message: string;
      if (err instanceof WireError) {
        status = err.status;
        message = err.message;
        const retry = (err as WireError & { retry_after_s?: number }).retry_after_s;
        if (retry) reply.header('retry-after', String(retry));
      } else if ('statusCode' in err && err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
        status = err.statusCode;
        message = ERR_MESSAGES[status] ?? 'Requête invalide';
      } else {
        req.log.error({ code: (err as FastifyError).code ?? 'internal', name: err.name }, 'flexpay error');
        status = 500;
        message = 'Erreur interne';
      }
      if (req.routeOptions?.url === '/v1/pay') return htmlError(reply, status, message);
      return jsonError(reply, status, message, errorExtra(req));
    });

    // ---- card -----------------------------------------------------------------------------

    app.post('/v1.1/pay', {
      schema: {
        tags, summary: 'Card payment (JSON): returns the hosted checkout URL',
        description: 'Fields: authorization (or Authorization header, with or without "Bearer "), merchant, reference (≤25), amount, currency (CDF|USD), description, callback_url, approve_url, cancel_url, decline_url, home_url. Success: `{"code":0,"message":"Redirection en cours","orderNumber","url"}`.',
      },
    }, async (req, reply) => {
      const p = await createCard(req);
      return reply.code(200).send({ code: 0, message: 'Redirection en cours', orderNumber: p.public_ref, url: checkoutUrl(ctx, p) });
    });

    app.post('/v1/pay', {
      schema: {
        tags, summary: 'Card payment (legacy browser form post): lands the payer on the checkout page',
        description: 'Form-encoded fields as /v1.1/pay (authorization in the body). Answers 303 to the hosted checkout page; errors are an HTML page.',
      },
    }, async (req, reply) => {
      const p = await createCard(req);
      const lang = (req.query as Record<string, unknown>)?.lang === 'en' ? 'en' : undefined;
      return reply.code(303).header('location', checkoutUrl(ctx, p, lang)).header('cache-control', 'no-store').send();
    });

    // ---- check ----------------------------------------------------------------------------

    // Any other method on a known path: 405 in the FlexPay shape of that path.
    for (const [url, allow] of [
      ['/v1.1/pay', 'POST'], ['/v1/pay', 'POST'], ['/api/rest/v1/paymentService', 'POST'], ['/api/rest/v1/merchantPayOutService', 'POST'], ['/api/rest/v1/check/:orderNumber', 'GET, HEAD'],
    ] as const) {
      app.route({
        method: allow === 'POST' ? ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] : ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url, schema: { hide: true },
        handler: async (_req, reply) => {
          reply.header('allow', allow);
          throw new WireError(405, `Méthode non autorisée : utilisez ${allow.split(',')[0]}`);
        },
      });
    }

    app.get('/api/rest/v1/check/:orderNumber', {
      schema: {
        tags, summary: 'Check transaction',
        description: '`code` "0": found; `transaction.status` "0" succeeded, "1" not (yet) succeeded; `transaction.state` carries the finer state (pending, succeeded, failed, cancelled, expired, partially_refunded, refunded).',
      },
    }, async (req, reply) => {
      const cred = await authenticate(req, null);
      const on = (req.params as { orderNumber: string }).orderNumber;
      const notFound = { code: '1', message: 'Aucune transaction trouvée', transaction: null };
      if (typeof on !== 'string' || !/^[A-Za-z0-9]{1,40}$/.test(on)) return reply.send(notFound);
      const p = await ctx.payments.getByPublicRef(on);
      if (p && p.dialect === 'flexpay' && p.merchant_id === cred.merchant_id) {
        return reply.send({ code: '0', message: 'Une transaction trouvée', transaction: paymentTransaction(p) });
      }
      const payoutId = payoutIdOf(payoutKey, on);
      if (payoutId) {
        const po = await ctx.payments.getPayout(payoutId);
        if (po && po.dialect === 'flexpay' && po.merchant_id === cred.merchant_id) {
          return reply.send({ code: '0', message: 'Une transaction trouvée', transaction: payoutTransaction(po, on) });
        }
      }
      return reply.send(notFound);
    });

    // ---- mobile money ---------------------------------------------------------------------

    async function mobileFields(req: FastifyRequest) {
      const b = bodyOf(req);
      // Token in the header and/or the body field `authorization`, as on /v1.1/pay.
      const cred = await authenticate(req, b);
      requireMerchant(cred, b.merchant);
      const type = b.type === undefined || b.type === null || b.type === '' ? '1' : codeOf(b.type);
      if (type !== '1') throw new WireError(400, 'Le champ type doit valoir 1 (mobile money)');
      const reference = requireReference(b.reference);
      const rawPhone = str(b.phone);
      if (!rawPhone) throw new WireError(400, 'Le champ phone est obligatoire');
      const phone = normalizePhone(rawPhone);
      if (!phone || !/^243\d{9}$/.test(phone)) throw new WireError(400, 'Numéro de téléphone invalide (format 243XXXXXXXXX)');
      const currency = requireCurrency(b.currency);
      const amount_minor = requireAmount(b.amount, currency);
      const callback_url = await callbackUrl(b.callbackUrl ?? b.callback_url, 'callbackUrl');
      return { cred, reference, phone, currency, amount_minor, callback_url };
    }

    app.post('/api/rest/v1/paymentService', {
      schema: { tags, summary: 'Mobile money payment: push prompt to the subscriber', description: 'Fields: merchant, type (1), reference, phone (243XXXXXXXXX), amount, currency, callbackUrl.' },
    }, async (req, reply) => {
      const f = await mobileFields(req);
      let payment: PaymentRecord;
      try {
        // public_ref: the seed-style orderNumber, as for card payments.
        const input: RequestPaymentInput = {
          merchant_id: f.cred.merchant_id,
          dialect: 'flexpay',
          merchant_ref: f.reference,
          phone: f.phone,
          amount_minor: f.amount_minor,
          currency: f.currency,
          callback_url: f.callback_url,
          details: { merchant_code: f.cred.identifier },
          fingerprint: { callback_url: f.callback_url },
          public_ref: newOrderNumber(),
        };
        ({ payment } = await mobileMoneyRail(ctx).requestPayment(input));
      } catch (e) {
        if (e instanceof CoreError && (e.detail as { reason?: string }).reason === 'unknown_subscriber') throw new WireError(400, 'Aucun compte mobile money pour ce numéro dans cette devise');
        if (e instanceof CoreError && (e.detail as { reason?: string }).reason === 'unsupported_network') throw new WireError(400, 'Opérateur mobile non pris en charge pour ce numéro');
        if (e instanceof CoreError && (e.detail as { reason?: string }).reason === 'invalid_phone') throw new WireError(400, 'Numéro de téléphone invalide (format 243XXXXXXXXX)');
        coreToWire(e);
      }
      return reply.send({ code: '0', message: 'Transaction envoyée avec succès. Veuillez valider le push message', orderNumber: payment.public_ref, provider_reference: null, url: null });
    });

    app.post('/api/rest/v1/merchantPayOutService', {
      schema: { tags, summary: "Payout from the merchant's balance to a mobile money subscriber", description: 'Same fields as paymentService. `code` "0" paid out, "1" refused (e.g. insufficient merchant balance).' },
    }, async (req, reply) => {
      const f = await mobileFields(req);
      const sub = await findSubscriber(ctx, f.phone, f.currency);
      if (!sub) throw new WireError(400, 'Aucun compte mobile money pour ce numéro dans cette devise');
      let out;
      try {
        out = await ctx.payments.payout({
          merchant_id: f.cred.merchant_id,
          dialect: 'flexpay',
          rail: 'mobile-money',
          merchant_ref: f.reference,
          payee_account_id: sub.id,
          amount_minor: f.amount_minor,
          currency: f.currency,
          callback_url: f.callback_url,
          details: { phone: f.phone, merchant_code: f.cred.identifier },
          fingerprint: { callback_url: f.callback_url },
        });
      } catch (e) {
        coreToWire(e);
      }
      const orderNumber = payoutOrderNumber(payoutKey, out.payout.id);
      if (out.payout.state === 'succeeded') return reply.send({ code: '0', message: 'Transaction envoyée avec succès', orderNumber });
      const why = out.payout.failure_code === 'insufficient_funds' ? 'Solde marchand insuffisant' : 'Transaction échouée';
      return reply.code(402).send({ code: '1', message: why, orderNumber });
    });
  },
};

export default mod;
