// IntouchPay (seed 002): requestpayment (a USSD/PIN push to a mobile-money subscriber, the
// outcome posted to `callbackurl`), requestdeposit (a synchronous payout to a subscriber),
// gettransactionstatus and getbalance. Payments run on the mobile-money rail. See
// docs/intouchpay.md for every code and choice.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { callbackUrlError } from '../../delivery/ssrf.ts';
import { isCoreError } from '../../errors.ts';
import type { GatewayContext } from '../../gateway.ts';
import type { CredentialRow } from '../../merchants/service.ts';
import type { GatewayModule } from '../../modules.ts';
import { applyRateBps, formatAmount } from '../../money/index.ts';
import { networkOf } from '../../rails/payers.ts';
import { findSubscriber, mobileMoneyRail } from '../../rails/mobile-money/service.ts';
import {
  type AmountLimits, authenticate, checkPhone, CODES, CURRENCY, DEFAULT_TIMESTAMP_WINDOW_S, type Fields, INTOUCHPAY_DIALECT, IntouchError, LIMITS,
  parseDepositAmount, parsePaymentAmount, paymentCallbackBody, paymentOutcome, payoutCallbackBody, payoutOutcome, pendingAnswer, readFields,
  statusAnswer, validRequestId,
} from './wire.ts';

export interface IntouchSettings {
  timestamp_window_s: number;
  payment: AmountLimits;
  deposit: AmountLimits;
  /** Charged to the merchant on a deposit with withdrawcharge=1, in basis points of the amount. */
  withdraw_charge_bps: bigint;
}

function envInt(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${v}"`);
  return n;
}

/** Limits from the environment (documented in docs/intouchpay.md). */
export function intouchSettings(env: NodeJS.ProcessEnv = process.env): IntouchSettings {
  return {
    timestamp_window_s: envInt(env, 'PAYGATE_INTOUCHPAY_TIMESTAMP_WINDOW_S', DEFAULT_TIMESTAMP_WINDOW_S),
    payment: {
      min_minor: BigInt(envInt(env, 'PAYGATE_INTOUCHPAY_PAYMENT_MIN', 100)),
      max_minor: BigInt(envInt(env, 'PAYGATE_INTOUCHPAY_PAYMENT_MAX', 5_000_000)),
    },
    deposit: {
      min_minor: BigInt(envInt(env, 'PAYGATE_INTOUCHPAY_DEPOSIT_MIN', 100)),
      max_minor: BigInt(envInt(env, 'PAYGATE_INTOUCHPAY_DEPOSIT_MAX', 5_000_000)),
    },
    withdraw_charge_bps: BigInt(envInt(env, 'PAYGATE_INTOUCHPAY_WITHDRAW_CHARGE_BPS', 100)),
  };
}

const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON: 'Request body is not valid JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'Request body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'Request body is empty but Content-Type is application/json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'Request body is too large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Unsupported Content-Type: send an HTTP form post (application/x-www-form-urlencoded) or JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Invalid Content-Length',
};

function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof IntouchError) {
    const retry = (err as IntouchError & { retry_after_s?: number }).retry_after_s;
    if (retry) reply.header('retry-after', String(retry));
    return reply.code(err.http_status).send(err.body());
  }
  const fe = err as FastifyError;
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return reply.code(fe.statusCode).send({ success: false, responsecode: CODES.unknownException, message: FASTIFY_MESSAGES[fe.code] ?? fe.message });
  }
  req.log.error({ err }, 'intouchpay: unhandled error');
  return reply.code(500).send({ success: false, responsecode: CODES.unknownException, message: 'Unknown exception' });
}

const tags = ['intouchpay'];
const authDoc =
  'HTTP form post (or JSON) with `username`, `accountno`, `timestamp` (UTC yyyymmddhhmmss, within ±5 minutes of the server clock) and ' +
  '`password` = lowercase hex SHA-256 of username + accountno + partner password + timestamp. ' +
  'Failures: `{"success":false,"responsecode":"0002".."0008","message":...}` with HTTP 401. Response codes are strings (leading zeros kept). See docs/intouchpay.md.';

const mod: GatewayModule = {
  name: 'intouchpay',
  async register(app: FastifyInstance, ctx: GatewayContext) {
    const settings = intouchSettings();
    const rail = mobileMoneyRail(ctx);
    app.setErrorHandler(errorHandler);

    ctx.payments.registerCallbacks(INTOUCHPAY_DIALECT, (ev) => {
      if (ev.kind === 'payment') {
        const p = ev.payment;
        if (!p.callback_url || !['succeeded', 'failed', 'expired', 'cancelled'].includes(p.state)) return null;
        return { event: `intouchpay.payment.${p.state}`, url: p.callback_url, body: paymentCallbackBody(p), ack: 'json_success' };
      }
      if (ev.kind === 'payout' && ev.payout.callback_url) {
        return { event: `intouchpay.deposit.${ev.payout.state}`, url: ev.payout.callback_url, body: payoutCallbackBody(ev.payout), ack: 'json_success' };
      }
      return null;
    });

    /** Authenticates; failures count per username too (brute force on one account is blocked: 429). */
    async function auth(f: Fields, req: FastifyRequest): Promise<CredentialRow> {
      const key = 'intouchpay:' + (f.username ?? '').slice(0, LIMITS.username_max);
      const wait_s = f.username ? ctx.limits.blocked(req.ip, key) : null;
      if (wait_s !== null) {
        throw Object.assign(new IntouchError(429, CODES.authFailed, `Too many failed authentications: retry in ${wait_s} s`), { retry_after_s: wait_s });
      }
      try {
        return await authenticate(f, {
          credential: (u) => ctx.merchants.credential('intouchpay', u),
          plainSecret: (c) => ctx.merchants.plainSecret(c),
          now: () => ctx.clock.now(),
          window_s: settings.timestamp_window_s,
        });
      } catch (e) {
        // '' is no client's IP: this counts the username only (the app counts the IP on the 401).
        if (e instanceof IntouchError && e.http_status === 401 && f.username) ctx.limits.credentialFailed(key);
        throw e;
      }
    }

    /** Optional callbackurl: http(s), bounded, not pointing inside the network (SSRF guard). */
    async function callbackUrl(v: string | undefined, code: string, extra: Record<string, unknown>): Promise<string | null> {
      if (v === undefined || v === '') return null;
      if (v.length > LIMITS.callbackurl_max) throw new IntouchError(400, code, `Invalid callbackurl: longer than ${LIMITS.callbackurl_max} characters`, extra);
      const e = await callbackUrlError(v, ctx.config.allowPrivateCallbacks);
      if (e) throw new IntouchError(400, code, `Invalid callbackurl: ${e}`, extra);
      return v;
    }

    app.post('/api/requestpayment', {
      schema: {
        tags,
        summary: 'RequestPayment: push a payment request to a mobile-money subscriber',
        description:
          authDoc +
          ' Fields: `amount` (whole RWF), `mobilephone` (2507XXXXXXXX or +2507XXXXXXXX), `requesttransactionid` (unique per merchant, 1–50 characters), optional `callbackurl`. ' +
          'Answer: `{"status":"Pending","requesttransactionid":"...","success":true,"responsecode":"1000","transactionid":"...","message":"Transaction Pending"}`. ' +
          'The subscriber approves with the PIN on the handset; the outcome is posted to `callbackurl` as `{"jsonpayload":{...}}` (01 success, 1005 insufficient funds, 2700 declined or expired). ' +
          'Errors: 2100/2200/2300 amount, 1200 invalid number, 1100 network not supported, 1002 number not on mobile money, 2400 duplicate requesttransactionid, 3200 missing requesttransactionid, 2600 invalid callbackurl.',
      },
    }, async (req) => {
      const f = readFields(req.body);
      const cred = await auth(f, req);
      const rid = f.requesttransactionid;
      if (!rid) throw new IntouchError(400, CODES.missingRequestTransactionId, 'Missing requesttransactionid');
      if (!validRequestId(rid)) throw new IntouchError(400, CODES.missingRequestTransactionId, `Invalid requesttransactionid: 1–${LIMITS.requesttransactionid_max} printable characters without spaces`);
      const amount_minor = parsePaymentAmount(f.amount, settings.payment);
      const ph = checkPhone(f.mobilephone, networkOf);
      if (!ph.ok) {
        throw ph.reason === 'invalid'
          ? new IntouchError(400, CODES.invalidNumber, 'Invalid mobile number: expected 2507XXXXXXXX')
          : new IntouchError(400, CODES.unsupportedNetwork, 'Number not supported on this network');
      }
      const callback_url = await callbackUrl(f.callbackurl, '2600', {});
      const dup = () => new IntouchError(409, CODES.duplicate, 'Duplicate requesttransactionid', { requesttransactionid: rid });
      if (await ctx.payments.getByRef(cred.merchant_id, INTOUCHPAY_DIALECT, rid)) throw dup();
      try {
        const { payment, replayed } = await rail.requestPayment({
          merchant_id: cred.merchant_id,
          dialect: INTOUCHPAY_DIALECT,
          merchant_ref: rid,
          phone: ph.phone,
          amount_minor,
          currency: CURRENCY,
          callback_url,
          details: { mobilephone: f.mobilephone },
          fingerprint: { callback_url },
        });
        // A reuse is 2400 even with the same parameters (the reference's rule); the original stays as it was.
        if (replayed) throw dup();
        return pendingAnswer(rid, payment);
      } catch (e) {
        if (isCoreError(e, 'reference_conflict')) throw dup();
        if (isCoreError(e, 'not_found')) throw new IntouchError(404, CODES.notOnMobileMoney, 'Number not registered on mobile money');
        if (isCoreError(e, 'invalid_request') && e.detail.reason === 'invalid_phone') throw new IntouchError(400, CODES.invalidNumber, 'Invalid mobile number');
        if (isCoreError(e, 'invalid_request') && e.detail.reason === 'unsupported_network') throw new IntouchError(400, CODES.unsupportedNetwork, 'Number not supported on this network');
        throw e;
      }
    });

    app.post('/api/requestdeposit', {
      schema: {
        tags,
        summary: 'RequestDeposit: pay out from the merchant balance to a subscriber (synchronous)',
        description:
          authDoc +
          ' Fields: `amount` (whole RWF, minimum 100), `mobilephone`, `requesttransactionid` (unique per merchant), optional `withdrawcharge` (0/1: 1 charges the withdraw fee to the merchant on top of the amount), `reason` (≤ 200), `sid` (≤ 32), `callbackurl`. ' +
          'Answer: `{"requesttransactionid":"...","referenceid":"...","responsecode":"2001","success":true}`; failures `{"requesttransactionid":"...","success":false,"responsecode":"...","message":"..."}`: ' +
          '1100 error in request, 1101 sid, 1102 invalid phone, 1103 above max, 1104 below min, 1105 network not supported, 1108 insufficient account balance, 1110 duplicate id, 2105 non-existent mobile account, 2107 invalid amount format.',
      },
    }, async (req, reply) => {
      const f = readFields(req.body);
      const rid = f.requesttransactionid;
      const x = { requesttransactionid: rid ?? '' };
      // The deposit failure shape carries requesttransactionid, authentication failures included.
      const cred = await auth(f, req).catch((e: unknown) => {
        if (e instanceof IntouchError && !('requesttransactionid' in e.extra)) throw Object.assign(new IntouchError(e.http_status, e.responsecode, e.message, { ...x, ...e.extra }), { retry_after_s: (e as IntouchError & { retry_after_s?: number }).retry_after_s });
        throw e;
      });
      if (!rid) throw new IntouchError(400, CODES.depositBadRequest, 'Error in request: missing requesttransactionid', x);
      if (!validRequestId(rid)) throw new IntouchError(400, CODES.depositBadRequest, `Error in request: requesttransactionid must be 1–${LIMITS.requesttransactionid_max} printable characters`, x);
      const amount_minor = parseDepositAmount(f.amount, settings.deposit, x);
      const ph = checkPhone(f.mobilephone, networkOf);
      if (!ph.ok) {
        throw ph.reason === 'invalid'
          ? new IntouchError(400, CODES.depositInvalidPhone, 'Invalid phone number: expected 2507XXXXXXXX', x)
          : new IntouchError(400, CODES.depositNetwork, 'Network not supported', x);
      }
      const wc = f.withdrawcharge ?? '0';
      if (!['0', '1', 'true', 'false', ''].includes(wc.toLowerCase())) throw new IntouchError(400, CODES.depositBadRequest, 'Error in request: withdrawcharge must be 0 or 1', x);
      const withdrawcharge = wc === '1' || wc.toLowerCase() === 'true';
      const reason = f.reason ?? null;
      if (reason !== null && reason.length > LIMITS.reason_max) throw new IntouchError(400, CODES.depositBadRequest, `Error in request: reason longer than ${LIMITS.reason_max} characters`, x);
      const sid = f.sid || null;
      if (sid !== null && !/^[A-Za-z0-9_.-]{1,32}$/.test(sid)) throw new IntouchError(400, CODES.depositServiceId, 'Service id not recognized', x);
      const callback_url = await callbackUrl(f.callbackurl, CODES.depositBadRequest, x);
      const dup = () => new IntouchError(409, CODES.depositDuplicate, 'Duplicate requesttransactionid (remit id)', x);
      if (await ctx.payments.getPayoutByRef(cred.merchant_id, INTOUCHPAY_DIALECT, rid)) throw dup();
      const sub = await findSubscriber(ctx, ph.phone, CURRENCY);
      if (!sub) throw new IntouchError(404, CODES.depositNoAccount, 'Non-existent mobile account', x);
      const fee_minor = withdrawcharge ? applyRateBps(amount_minor, settings.withdraw_charge_bps) : 0n;
      try {
        const { payout, replayed } = await ctx.payments.payout({
          merchant_id: cred.merchant_id,
          dialect: INTOUCHPAY_DIALECT,
          rail: 'mobile-money',
          merchant_ref: rid,
          payee_account_id: sub.id,
          amount_minor,
          fee_minor,
          currency: CURRENCY,
          callback_url,
          details: { phone: ph.phone, withdrawcharge: withdrawcharge ? 1 : 0, reason, sid },
          fingerprint: { withdrawcharge, reason, sid, callback_url },
        });
        if (replayed) throw dup();
        if (payout.state !== 'succeeded') {
          // The seed answers a processed-but-failed deposit with HTTP 200 and the failure shape.
          return reply.code(200).send({ requesttransactionid: rid, success: false, responsecode: CODES.depositShortBalance, message: 'Insufficient account balance' });
        }
        return { requesttransactionid: rid, referenceid: payout.id, responsecode: CODES.depositSuccess, success: true };
      } catch (e) {
        if (isCoreError(e, 'reference_conflict')) throw dup();
        throw e;
      }
    });

    app.post('/api/gettransactionstatus', {
      schema: {
        tags,
        summary: 'GetTransactionStatus of a payment or a deposit',
        description:
          authDoc +
          ' Fields: `requesttransactionid` and `transactionid` (a payment\'s transactionid or a deposit\'s referenceid). ' +
          'Answer: `{"success":true,"responsecode":"01","status":"Successfull","message":"Transaction Successful"}`; pending `1000`/`Pending`; ' +
          'failed: `success:false` with 1005 (insufficient funds), 2700 (declined or expired) or 1108 (deposit, insufficient balance). ' +
          'Errors: 3200 missing requesttransactionid, 3000 missing transactionid, 3100 no such transaction (HTTP 404).',
      },
    }, async (req) => {
      const f = readFields(req.body);
      const cred = await auth(f, req);
      const rid = f.requesttransactionid;
      const tid = f.transactionid;
      if (!rid) throw new IntouchError(400, CODES.missingRequestTransactionId, 'Missing requesttransactionid');
      if (!tid) throw new IntouchError(400, CODES.missingTransactionId, 'Missing transactionid');
      const notFound = () => new IntouchError(404, CODES.noSuchTransaction, 'Transaction does not exist');
      if (rid.length > LIMITS.requesttransactionid_max || tid.length > 40) throw notFound();
      const p = await ctx.payments.getByRef(cred.merchant_id, INTOUCHPAY_DIALECT, rid);
      if (p && p.public_ref === tid) {
        // The status cache is current to the change feed; fall back to the row just read.
        const fresh = (await ctx.status.get(p.id)) ?? p;
        return statusAnswer(paymentOutcome(fresh.version >= p.version ? fresh : p));
      }
      const po = await ctx.payments.getPayoutByRef(cred.merchant_id, INTOUCHPAY_DIALECT, rid);
      if (po && po.id === tid) return statusAnswer(payoutOutcome(po));
      throw notFound();
    });

    // Any other method on a known path: 405 with 2500 (route not found) in the IntouchPay shape.
    for (const url of ['/api/requestpayment', '/api/requestdeposit', '/api/gettransactionstatus', '/api/getbalance']) {
      app.route({
        method: ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url, schema: { hide: true },
        handler: async (_req, reply) => {
          reply.header('allow', 'POST');
          throw new IntouchError(405, CODES.routeNotFound, 'Route not found: use POST');
        },
      });
    }

    app.post('/api/getbalance', {
      schema: {
        tags,
        summary: "GetBalance: the merchant's available RWF balance",
        description: authDoc + ' Answer: `{"balance":"100000.0","success":true}` (at least one decimal).',
      },
    }, async (req) => {
      const cred = await auth(readFields(req.body), req);
      const bal = await ctx.payments.merchantBalance(cred.merchant_id, CURRENCY);
      return { balance: formatAmount(bal, CURRENCY, 'min1'), success: true };
    });
  },
};
export default mod;
