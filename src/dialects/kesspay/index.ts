// KessPay legacy "Alipay & WeChat" API (seed 001) on the wallet rail: API token (JWT),
// Native Pay (merchant-presented QR), Quick Pay (payer's payment code), JSAPI Pay (in-app),
// refunds, payment and refund status. Wire ⇄ core only; see docs/kesspay.md.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import { isCoreError } from '../../errors.ts';
import type { GatewayContext } from '../../gateway.ts';
import type { CredentialRow, Merchant } from '../../merchants/service.ts';
import type { GatewayModule } from '../../modules.ts';
import { applyRateBps } from '../../money/index.ts';
import type { PaymentRecord } from '../../payments/model.ts';
import type { CreatePaymentInput } from '../../payments/service.ts';
import { PaymentCodes, QUICK_PAY_TTL_MS } from '../../rails/wallet/codes.ts';
import { jsapiPayUrl } from '../../rails/wallet/jsapi.ts';
import { walletPayUrl } from '../../rails/wallet/links.ts';
import {
  amount, amounts, authCode, type Body, CREDENTIAL_MAX, Dec, feeRateBps, idOut, KessError, type KessCode, money, ok,
  OUT_REFUND_NO_MAX, OUT_TRADE_NO_MAX, paymentStatus, quoteNumbers, REASON_MAX, reference, refundStatus, required, schemeOf,
  serviceId, storeCurrency, SUB_STORE_ID_MAX, SUB_STORE_NAME_MAX, text, TOKEN_TTL_S, wireJson,
} from './wire.ts';

const tags = ['KessPay'];
const security = [{ kesspayToken: [] }];
const ISSUER = 'paygate';
const AUDIENCE = 'kesspay';
const DIALECT = 'kesspay';

export const KESSPAY_PATHS = {
  token: '/kesspay/api/token',
  nativePay: '/kesspay/api/native-pay',
  quickPay: '/kesspay/api/quick-pay',
  jsapiPay: '/kesspay/api/jsapi-pay',
  refund: '/kesspay/api/refund',
  checkPayment: '/kesspay/api/check-payment',
  checkRefund: '/kesspay/api/check-refund',
} as const;

function send(reply: FastifyReply, status: number, body: unknown) {
  return reply.code(status).type('application/json; charset=utf-8').header('cache-control', 'no-store').send(wireJson(body));
}

function bodyOf(req: FastifyRequest): Body {
  const b = req.body;
  if (b === undefined || b === null || b === '') return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw new KessError(400, 'INVALID_JSON', 'the body must be a JSON object');
  return b as Body;
}

/** Core error codes a client can cause → wire codes (call sites refine refunds). */
function fromCore(err: { code: string; message: string; detail: Record<string, unknown> }): KessError {
  switch (err.code) {
    case 'reference_conflict': return new KessError(409, 'ORDER_EXISTS', 'out_trade_no was already used with different parameters');
    case 'not_found': return new KessError(404, 'ORDER_NOT_EXIST', err.message);
    case 'insufficient_funds': return new KessError(402, 'INSUFFICIENT_BALANCE', "the buyer's wallet balance is too low");
    case 'refund_exceeds_payment': return new KessError(409, 'REFUND_AMOUNT_EXCEEDED', err.message);
    case 'invalid_state': return new KessError(409, 'ORDER_NOT_PAID', err.message);
    case 'expired': return new KessError(409, 'ORDER_CLOSED', 'the order has expired');
    case 'invalid_request': {
      const reason = err.detail.reason;
      if (reason === 'auth_code_invalid') return new KessError(400, 'AUTH_CODE_INVALID', err.message);
      if (reason === 'auth_code_used') return new KessError(409, 'AUTH_CODE_USED', err.message);
      if (reason === 'auth_code_expired') return new KessError(400, 'AUTH_CODE_EXPIRED', err.message);
      if (reason === 'auth_code_currency') return new KessError(400, 'AUTH_CODE_CURRENCY', err.message);
      return new KessError(400, 'INVALID_PARAM', err.message);
    }
    default: return new KessError(400, 'INVALID_PARAM', err.message);
  }
}

const mod: GatewayModule = {
  name: 'kesspay',
  async register(app: FastifyInstance, ctx: GatewayContext) {
    const key = new Uint8Array(ctx.sealer.derive('kesspay-jwt'));
    const codes = new PaymentCodes(ctx);

    // JSON parsed with the numeric fields kept as their exact text (see quoteNumbers).
    // Lenient: some integrations send the JSON body as text/plain.
    app.removeContentTypeParser(['application/json', 'text/plain']);
    app.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'string', bodyLimit: ctx.config.bodyLimit_bytes }, (_req, raw, done) => {
      const s = String(raw);
      if (!s.trim()) return done(new KessError(400, 'INVALID_JSON', 'the body must be a JSON object'), undefined);
      try {
        done(null, JSON.parse(quoteNumbers(s)));
      } catch {
        done(new KessError(400, 'INVALID_JSON', 'the body is not valid JSON'), undefined);
      }
    });

    app.setErrorHandler((err, req, reply) => {
      let e: KessError;
      if (err instanceof KessError) e = err;
      else if (isCoreError(err)) e = fromCore(err);
      else {
        const f = err as { statusCode?: number; code?: string };
        if (f.statusCode === 413) e = new KessError(413, 'BODY_TOO_LARGE', 'the body is too large');
        else if (f.statusCode === 415) e = new KessError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send Content-Type: application/json');
        else if (f.statusCode && f.statusCode >= 400 && f.statusCode < 500) e = new KessError(400, 'INVALID_JSON', 'the request could not be read');
        else {
          req.log.error({ err }, 'kesspay error');
          e = new KessError(500, 'INTERNAL_ERROR', 'internal error');
        }
      }
      return send(reply, e.status, { success: false, code: e.code, message: e.message });
    });

    // ---- auth ---------------------------------------------------------------------------

    async function issueToken(cred: CredentialRow): Promise<string> {
      const iat = Math.floor(ctx.clock.now().getTime() / 1000);
      return new SignJWT({ usr: cred.identifier, store_id: String(cred.extra.store_id ?? '') })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(cred.merchant_id)
        .setIssuedAt(iat)
        .setExpirationTime(iat + TOKEN_TTL_S)
        .setJti(randomBytes(9).toString('base64url'))
        .sign(key);
    }

    /** `Authorization: Bearer <token from /kesspay/api/token>` → the merchant's credential. */
    async function authenticate(req: FastifyRequest): Promise<{ cred: CredentialRow; merchant: Merchant }> {
      const h = req.headers.authorization;
      if (!h || !h.trim()) throw new KessError(401, 'TOKEN_MISSING', 'token missing: send Authorization: Bearer <token from /kesspay/api/token>');
      const m = /^\s*Bearer\s+([A-Za-z0-9_.-]{1,2048})\s*$/i.exec(h);
      if (!m) throw new KessError(401, 'TOKEN_INVALID', 'invalid token: malformed Authorization header (expected Bearer <token>)');
      let payload: Record<string, unknown>;
      try {
        payload = (await jwtVerify(m[1]!, key, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, currentDate: ctx.clock.now() })).payload;
      } catch (e) {
        if (e instanceof joseErrors.JWTExpired) throw new KessError(401, 'TOKEN_EXPIRED', 'token expired: get a new token from /kesspay/api/token (tokens last 60 seconds)');
        throw new KessError(401, 'TOKEN_INVALID', 'invalid token: get a token from /kesspay/api/token');
      }
      const cred = typeof payload.usr === 'string' ? await ctx.merchants.credential(DIALECT, payload.usr) : null;
      const merchant = cred && cred.merchant_id === payload.sub ? await ctx.merchants.get(cred.merchant_id) : null;
      if (!cred || !merchant) throw new KessError(401, 'TOKEN_INVALID', 'invalid token: unknown merchant');
      return { cred, merchant };
    }

    function checkStore(b: Body, cred: CredentialRow): string {
      const store = required(b, 'store_id', 32);
      if (store !== String(cred.extra.store_id)) throw new KessError(403, 'STORE_ID_MISMATCH', 'store_id does not belong to this token\'s merchant');
      return store;
    }

    async function orderOf(merchant_id: string, b: Body): Promise<PaymentRecord> {
      const out_trade_no = reference(b, 'out_trade_no', OUT_TRADE_NO_MAX);
      const p = await ctx.payments.getByRef(merchant_id, DIALECT, out_trade_no);
      if (!p) throw new KessError(404, 'ORDER_NOT_EXIST', `no order ${out_trade_no} in this store`);
      return p;
    }

    // ---- pay operations -----------------------------------------------------------------

    type Op = 'native' | 'quick' | 'jsapi';

    /** Validates an order request and creates (or replays) its pending wallet payment. */
    async function createOrder(req: FastifyRequest, op: Op) {
      const b = bodyOf(req);
      const { cred, merchant } = await authenticate(req);
      const store_id = checkStore(b, cred);
      const service_id = serviceId(b);
      schemeOf(merchant.settings, service_id);
      const currency = storeCurrency(merchant.settings);
      const out_trade_no = reference(b, 'out_trade_no', OUT_TRADE_NO_MAX);
      const amount_minor = amount(b, 'amount', currency);
      const fee_bps = feeRateBps(b);
      // fee_rate: the buyer pays amount + fee, rounded half up to the cent (applyRateBps).
      const surcharge_minor = applyRateBps(amount_minor, fee_bps);
      const sub_store_id = text(b, 'sub_store_id', SUB_STORE_ID_MAX);
      const sub_store_name = text(b, 'sub_store_name', SUB_STORE_NAME_MAX);
      // Native and JSAPI accept the seed's auth_code and ignore it; Quick Pay needs it.
      const code = op === 'quick' ? authCode(b) : null;
      const input: CreatePaymentInput = {
        merchant_id: merchant.id,
        dialect: DIALECT,
        rail: 'wallet',
        merchant_ref: out_trade_no,
        amount_minor,
        surcharge_minor,
        currency,
        description: `Order ${out_trade_no}`,
        details: {
          kind: op, service_id, store_id, sub_store_id, sub_store_name,
          // The payer sees the sub-store's name, or the store's (merchant's) name.
          payee_name: sub_store_name ?? merchant.name,
          item: `Order ${out_trade_no}`,
          fee_rate_bps: Number(fee_bps),
        },
        ttl_ms: op === 'quick' ? QUICK_PAY_TTL_MS : undefined,
        fingerprint: { op, service_id, sub_store_id, sub_store_name, fee_bps: String(fee_bps), code: code ? codes.hash(code) : null },
      };
      return { b, merchant, store_id, code, input };
    }

    // Any other method on a known path: 405 METHOD_NOT_ALLOWED in the KessPay shape.
    for (const url of Object.values(KESSPAY_PATHS)) {
      app.route({
        method: ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url, schema: { hide: true },
        handler: async (_req, reply) => {
          reply.header('allow', 'POST');
          throw new KessError(405, 'METHOD_NOT_ALLOWED', 'method not allowed: use POST');
        },
      });
    }

    // Any other path under /kesspay/: 404 NOT_FOUND in the KessPay shape.
    app.route({
      method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url: '/kesspay/*', schema: { hide: true },
      handler: async () => {
        throw new KessError(404, 'NOT_FOUND', 'no such KessPay operation');
      },
    });

    app.post(KESSPAY_PATHS.token, {
      schema: {
        tags, summary: 'Get API token',
        description: 'Body `{"user", "password"}` (the merchant\'s KessPay credentials). Answer `{"success": true, "data": {"message": "SUCCESS", "token": "<JWT>", "expires_in": 60}}`. ' +
          'The token (HS256 JWT) lasts 60 seconds; send it as `Authorization: Bearer <token>` on every other operation. Wrong credentials: HTTP 401 `INVALID_CREDENTIALS`.',
      },
    }, async (req, reply) => {
      const b = bodyOf(req);
      const user = required(b, 'user', CREDENTIAL_MAX);
      const password = b.password;
      if (typeof password !== 'string' || !password) throw new KessError(400, 'MISSING_PARAM', 'password is required');
      if (password.length > CREDENTIAL_MAX) throw new KessError(401, 'INVALID_CREDENTIALS', 'wrong user or password');
      // Brute force: failures count per IP (the app's 401 hook) and per user (here).
      const wait_s = ctx.limits.blocked(req.ip, 'kesspay:' + user);
      if (wait_s !== null) {
        reply.header('retry-after', String(wait_s));
        throw new KessError(429, 'RATE_LIMITED', `too many failed logins: retry in ${wait_s} s`);
      }
      const cred = await ctx.merchants.authenticate(DIALECT, user, password);
      if (!cred) {
        // '' is no client's IP: this counts the user only (the IP is counted on the 401).
        ctx.limits.credentialFailed('kesspay:' + user);
        throw new KessError(401, 'INVALID_CREDENTIALS', 'wrong user or password');
      }
      return send(reply, 200, ok({ message: 'SUCCESS', token: await issueToken(cred), expires_in: TOKEN_TTL_S }));
    });

    app.post(KESSPAY_PATHS.nativePay, {
      schema: {
        tags, security, summary: 'Native Pay: dynamic QR code for the buyer to scan',
        description: 'Bearer token. Body `{"service_id": 30, "store_id", "sub_store_id"?, "sub_store_name"?, "amount": 0.01, "fee_rate"?: 2, "auth_code"? (ignored), "out_trade_no"}`. ' +
          'Answer `{"success": true, "data": {"qr_code": "<wallet pay URL>", "amount", "out_trade_no", "result_code": "SUCCESS", "currency", "transaction_id", "fee_amount", "total_amount"}}`. ' +
          'The buyer scans qr_code with the Paygate wallet (or opens it) and pays amount + fee; poll check-payment for the result.',
      },
    }, async (req, reply) => {
      const { input } = await createOrder(req, 'native');
      const { payment: p } = await ctx.payments.create(input);
      return send(reply, 200, ok({
        qr_code: walletPayUrl(ctx, p.token), amount: money(p.amount_minor, p.currency), out_trade_no: p.merchant_ref, result_code: 'SUCCESS',
        currency: p.currency, transaction_id: p.public_ref, ...amounts(p),
      }));
    });

    /** The answer to a Quick Pay from the payment's current state (first answer and replays). */
    function quickAnswer(reply: FastifyReply, p: PaymentRecord) {
      const base = { amount: money(p.amount_minor, p.currency), currency: p.currency, out_trade_no: p.merchant_ref, transaction_id: p.public_ref };
      if (p.state === 'succeeded' || p.state === 'partially_refunded' || p.state === 'refunded') {
        return send(reply, 200, ok({ ...base, result_code: 'SUCCESS', ...amounts(p) }));
      }
      const expired = p.expires_at !== null && p.expires_at <= ctx.clock.now();
      if (p.state === 'pending' && !expired) {
        return send(reply, 200, ok({
          ...base, result_code: 'USERPAYING', ...amounts(p),
          message: 'Waiting for the buyer to confirm with PIN in the wallet app: call check-payment every 3 s for up to 45 s',
        }));
      }
      const code: KessCode = p.failure_code === 'insufficient_funds' ? 'INSUFFICIENT_BALANCE' : p.failure_code === 'auth_code_used' ? 'AUTH_CODE_USED'
        : p.failure_code === 'auth_code_expired' ? 'AUTH_CODE_EXPIRED' : p.failure_code === 'auth_code_invalid' ? 'AUTH_CODE_INVALID' : 'ORDER_CLOSED';
      const status = code === 'INSUFFICIENT_BALANCE' ? 402 : code === 'AUTH_CODE_INVALID' || code === 'AUTH_CODE_EXPIRED' ? 400 : 409;
      const msg = code === 'ORDER_CLOSED' ? `the order is closed (${expired ? 'expired' : p.failure_code === 'declined' ? 'declined by the buyer' : p.state})` : `the order failed (${p.failure_code})`;
      return send(reply, status, { success: false, code, message: msg });
    }

    app.post(KESSPAY_PATHS.quickPay, {
      schema: {
        tags, security, summary: "Quick Pay: charge the buyer's payment code",
        description: 'Bearer token. Body as Native Pay plus `"auth_code"`: the 18-digit one-time code the buyer\'s wallet app shows (/wallet/code). ' +
          'Below the wallet\'s quick-pay limit (default 50.00 USD) the wallet is debited at once: `result_code` "SUCCESS" with `transaction_id`. ' +
          'Above it the buyer must approve with the PIN in the wallet app: `result_code` "USERPAYING"; call check-payment every 3 s for up to 45 s until `is_success` is true ' +
          '(unconfirmed payments close after 120 s). Used, expired or unknown codes: `AUTH_CODE_USED` (409), `AUTH_CODE_EXPIRED` / `AUTH_CODE_INVALID` (400). Low balance: `INSUFFICIENT_BALANCE` (402).',
      },
    }, async (req, reply) => {
      const { merchant, code, input } = await createOrder(req, 'quick');
      const existing = await ctx.payments.getByRef(merchant.id, DIALECT, input.merchant_ref!);
      if (!existing) {
        // Refuse a bad code before anything is written: the out_trade_no stays free. Unless a
        // twin of this request created the order and spent the code since the read above:
        // then create() below replays it (same code in the fingerprint) or answers ORDER_EXISTS.
        const account = await codes.lookup(code!).catch(async (err: unknown) => {
          if (await ctx.payments.getByRef(merchant.id, DIALECT, input.merchant_ref!)) return null;
          throw err;
        });
        if (account && account.currency !== input.currency) throw new KessError(400, 'AUTH_CODE_CURRENCY', `the buyer's code is for a ${account.currency} wallet, the order is in ${input.currency}`);
      }
      const { payment, replayed } = await ctx.payments.create(input);
      if (existing || replayed) return quickAnswer(reply, payment);
      const charged = await codes.charge(payment, code!);
      return quickAnswer(reply, charged.payment);
    });

    app.post(KESSPAY_PATHS.jsapiPay, {
      schema: {
        tags, security, summary: "JSAPI Pay: payment inside the wallet app's in-app browser",
        description: 'Bearer token. Body as Native Pay (`auth_code` ignored). Creates the order and answers what the in-app page needs: ' +
          '`{"success": true, "data": {"amount", "currency", "out_trade_no", "transaction_id", "result_code": "SUCCESS", "prepay_id", "pay_url", "fee_amount", "total_amount"}}`. ' +
          'Open `pay_url` (/wallet/jsapi/<prepay_id>) in the wallet app\'s browser: the logged-in payer confirms with the PIN; the app can also call POST /wallet/api/jsapi/<prepay_id>/confirm. Poll check-payment for the result.',
      },
    }, async (req, reply) => {
      const { input } = await createOrder(req, 'jsapi');
      const { payment: p } = await ctx.payments.create(input);
      return send(reply, 200, ok({
        amount: money(p.amount_minor, p.currency), currency: p.currency, out_trade_no: p.merchant_ref, transaction_id: p.public_ref, result_code: 'SUCCESS',
        prepay_id: p.token, pay_url: jsapiPayUrl(ctx, p.token), ...amounts(p),
      }));
    });

    // ---- refunds and status ---------------------------------------------------------------

    app.post(KESSPAY_PATHS.refund, {
      schema: {
        tags, security, summary: 'Refund to buyer (partial refunds allowed)',
        description: 'Bearer token. Body `{"service_id", "store_id", "refund_amount", "out_trade_no", "out_refund_no", "reason"?}`. Each out_refund_no is idempotent (same body → same answer; ' +
          'different → `REFUND_NO_EXISTS` 409). The sum of refunds never exceeds the amount (`REFUND_AMOUNT_EXCEEDED` 409); the fee_rate surcharge is not refunded. ' +
          'Answer `{"success": true, "data": {"service_id", "store_id", "refund_amount", "currency", "out_trade_no", "out_refund_no", "transaction_id", "result_code": "SUCCESS", "refund_id", "refunded_amount"}}`.',
      },
    }, async (req, reply) => {
      const b = bodyOf(req);
      const { cred, merchant } = await authenticate(req);
      const store_id = checkStore(b, cred);
      const service_id = serviceId(b);
      schemeOf(merchant.settings, service_id);
      const out_refund_no = reference(b, 'out_refund_no', OUT_REFUND_NO_MAX);
      const reason = text(b, 'reason', REASON_MAX);
      const p = await orderOf(merchant.id, b);
      if (String(p.details.service_id) !== service_id) throw new KessError(400, 'INVALID_SERVICE_ID', `service_id does not match the order (${p.details.service_id})`);
      const refund_minor = amount(b, 'refund_amount', p.currency);
      let out;
      try {
        out = await ctx.payments.refund({ payment_id: p.id, merchant_id: merchant.id, merchant_ref: out_refund_no, amount_minor: refund_minor, reason });
      } catch (e) {
        if (isCoreError(e, 'reference_conflict')) throw new KessError(409, 'REFUND_NO_EXISTS', 'out_refund_no was already used with different parameters');
        if (isCoreError(e, 'invalid_state')) throw new KessError(409, 'ORDER_NOT_PAID', `the order is not paid (${p.state})`);
        if (isCoreError(e, 'refund_exceeds_payment')) {
          const left = BigInt(String(e.detail.refundable_minor ?? '0'));
          throw new KessError(409, 'REFUND_AMOUNT_EXCEEDED', `refunds would exceed the amount paid: at most ${money(left, p.currency).text} ${p.currency} can still be refunded`);
        }
        throw e;
      }
      const { refund, payment } = out;
      return send(reply, 200, ok({
        service_id: new Dec(service_id), store_id: idOut(store_id), refund_amount: money(refund.amount_minor, refund.currency), currency: refund.currency,
        out_trade_no: payment.merchant_ref, out_refund_no: refund.merchant_ref, transaction_id: payment.public_ref, result_code: 'SUCCESS',
        refund_id: refund.id, refunded_amount: money(payment.refunded_minor, payment.currency), reason: refund.reason,
      }));
    });

    app.post(KESSPAY_PATHS.checkPayment, {
      schema: {
        tags, security, summary: 'Check payment status',
        description: 'Bearer token. Body `{"store_id", "out_trade_no"}`. Answer `{"success": true, "data": {"is_success", "service_id", "out_trade_no", "amount", "out_refund_no", "currency", "message", "trade_state", ...}}`. ' +
          '`is_success` true with "Payment Successful!" once paid (also after refunds); false while pending ("Waiting for the buyer to pay", or "Waiting for the buyer to confirm with PIN" with trade_state USERPAYING) ' +
          'and when closed (trade_state PAYERROR: "Payment failed…" / "Payment declined by the buyer"; CLOSED: "Payment expired" / "Payment cancelled"). Unknown order: `ORDER_NOT_EXIST` 404.',
      },
    }, async (req, reply) => {
      const b = bodyOf(req);
      const { cred, merchant } = await authenticate(req);
      checkStore(b, cred);
      const p = await orderOf(merchant.id, b);
      const refunds = p.refunded_minor > 0n ? await ctx.payments.refundsOf(p.id) : [];
      return send(reply, 200, ok(paymentStatus(p, refunds, ctx.clock.now())));
    });

    app.post(KESSPAY_PATHS.checkRefund, {
      schema: {
        tags, security, summary: 'Check refund status',
        description: 'Bearer token. Body `{"store_id", "out_trade_no", "out_refund_no"?}`: that refund, or the order\'s latest. Answer as check-payment with the refund\'s `amount`, `out_refund_no`, ' +
          '`message` "Refund Successful!", `refund_state` SUCCESS, `refunded_amount` (all refunds), `reason`. An order without refunds: `is_success` false, "No refund for this order", refund_state NOTREFUND. ' +
          'Unknown out_refund_no: `REFUND_NOT_EXIST` 404.',
      },
    }, async (req, reply) => {
      const b = bodyOf(req);
      const { cred, merchant } = await authenticate(req);
      checkStore(b, cred);
      const p = await orderOf(merchant.id, b);
      const out_refund_no = text(b, 'out_refund_no', OUT_REFUND_NO_MAX);
      let r = null;
      if (out_refund_no !== null) {
        r = await ctx.payments.getRefundByRef(merchant.id, out_refund_no);
        if (!r || r.payment_id !== p.id) throw new KessError(404, 'REFUND_NOT_EXIST', `no refund ${out_refund_no} for this order`);
      } else {
        const all = await ctx.payments.refundsOf(p.id);
        r = all.length ? all[all.length - 1]! : null;
      }
      return send(reply, 200, ok(refundStatus(p, r)));
    });
  },
};
export default mod;
