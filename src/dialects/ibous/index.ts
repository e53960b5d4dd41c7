// ibous (seed 000): CreatePaymentQRcode, PaymentProcess (polled every 100 ms, answered from
// memory), PaymentRefund, and the QR image they hand out. Payments run on the wallet rail:
// the QR code encodes the wallet app's pay page of the payment.
import QRCode from 'qrcode';
import type { FastifyInstance } from 'fastify';
import { isCoreError } from '../../errors.ts';
import type { GatewayContext } from '../../gateway.ts';
import type { GatewayModule } from '../../modules.ts';
import type { PaymentRecord } from '../../payments/model.ts';
import { TOKEN_RE, walletPayUrl } from '../../rails/wallet/links.ts';
import { IbousError, ibousErrorHandler } from './errors.ts';
import { paymentStatus, parseId, parseQrRequest, parseWait, processAnswer, qrCreatedAnswer, readCredentials, readParams, refundAnswer, refundFailedAnswer } from './wire.ts';
import { makeRoom } from '../../bounded-map.ts';

export const IBOUS_DIALECT = 'ibous';
/** Rendered QR images kept in memory (a merchant's screen may reload the image). */
const PNG_CACHE_MAX = 500;

export function qrcodeImageUrl(ctx: GatewayContext, token: string): string {
  return `${ctx.publicUrl()}/qrcd/${token}.png`;
}

/** A QR code this merchant created (another merchant's is "not found" to it). */
function ownQr(p: PaymentRecord | null, merchant_id: string): p is PaymentRecord {
  return !!p && p.merchant_id === merchant_id && p.dialect === IBOUS_DIALECT;
}

const tags = ['ibous'];
const headerDoc =
  'Headers `API-TOKEN-KEY` and `API-TOKEN-SECRET` (surrounding spaces in values are ignored). ' +
  'Parameters may come as query string, JSON body or form body; keys with stray spaces ("payment_id ") are accepted. ' +
  'Errors: `{"error": true, "status": "<message>"}` with HTTP 400 (bad parameter), 401 (credentials), 404 (unknown id). See docs/ibous.md.';

const mod: GatewayModule = {
  name: 'ibous',
  async register(app: FastifyInstance, ctx: GatewayContext) {
    app.setErrorHandler(ibousErrorHandler);

    // Parameters may come in the query string while the client still says Content-Type JSON
    // (the seed's "Data format: JSON") with an empty body: read that as "no body", not an error.
    const jsonParser = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
      if ((body as string).trim() === '') return done(null, undefined);
      jsonParser(req, body as string, done);
    });

    // Long-polls end early when the server shuts down, so close() does not wait for them.
    let closing = false;
    const closeWaiters = new Set<() => void>();
    app.addHook('preClose', async () => {
      closing = true;
      for (const w of closeWaiters) w();
      closeWaiters.clear();
    });

    const pngCache = new Map<string, Buffer>();

    async function merchantOf(req: Parameters<typeof readCredentials>[0]) {
      const { key, secret } = readCredentials(req);
      // Brute force on one API key is blocked per key (the app counts 401s per IP itself).
      const wait_s = ctx.limits.blocked(req.ip, 'ibous:' + key);
      if (wait_s !== null) throw new IbousError(429, `Too many failed authentications: retry in ${wait_s} s`, wait_s);
      const cred = await ctx.merchants.authenticate('ibous', key, secret);
      if (!cred) {
        ctx.limits.credentialFailed('ibous:' + key);
        throw new IbousError(401, 'Invalid API-TOKEN-KEY or API-TOKEN-SECRET');
      }
      return cred;
    }

    app.post('/api/CreatePaymentQRcode', {
      schema: {
        tags,
        summary: 'Create a payment QR code',
        description:
          headerDoc +
          ' Parameters: `qrcode_size` 4|6|8|10 (pixels per QR module), `amount` whole number of the currency, `currency` ISO 4217 (default HTG), `item` 1–100 characters. ' +
          'Answer: `{"error": false, "status": "QRcode Payment generated successfully", "qrcode_img": "<absolute PNG URL>", "qrcode_id": "<14 digits>"}`. ' +
          'The QR code encodes the wallet pay page of the payment.',
      },
    }, async (req) => {
      const cred = await merchantOf(req);
      const params = readParams(req);
      const merchant = await ctx.merchants.get(cred.merchant_id);
      const accepted = Array.isArray(merchant?.settings?.currencies) ? (merchant!.settings.currencies as string[]) : null;
      const q = parseQrRequest(params, accepted);
      const { payment } = await ctx.payments.create({
        merchant_id: cred.merchant_id,
        dialect: IBOUS_DIALECT,
        rail: 'wallet',
        merchant_ref: null,
        amount_minor: q.amount_minor,
        currency: q.currency,
        description: q.item,
        details: { item: q.item, qrcode_size: Number(q.qrcode_size) },
      });
      return qrCreatedAnswer(payment, qrcodeImageUrl(ctx, payment.token));
    });

    app.post('/api/PaymentProcess', {
      schema: {
        tags,
        summary: 'Payment result of a QR code (poll, or long-poll with wait_ms)',
        description:
          headerDoc +
          ' Parameters: `qrcode_id`; optional `wait_ms` (0–30000, Paygate extension): while the payment is pending, hold the request until its status changes or wait_ms passes. ' +
          'Answers from memory. payment.status "1" pending (error true), "2" paid (also after a refund), "3" failed, declined, expired or cancelled (error true).',
      },
    }, async (req) => {
      const cred = await merchantOf(req);
      const params = readParams(req);
      const id = parseId(params, 'qrcode_id');
      const wait_ms = parseWait(params);
      let p = await ctx.status.get(id);
      if (!ownQr(p, cred.merchant_id)) throw new IbousError(404, 'QRcode not found');
      if (wait_ms > 0 && !closing && paymentStatus(p, ctx.clock.now()) === '1') {
        let stop!: () => void;
        const closed = new Promise<null>((resolve) => {
          stop = () => resolve(null);
          closeWaiters.add(stop);
        });
        const changed = await Promise.race([ctx.status.waitForChange(id, p.version, wait_ms), closed]);
        closeWaiters.delete(stop);
        if (ownQr(changed, cred.merchant_id)) p = changed;
      }
      return processAnswer(p, ctx.clock.now());
    });

    app.post('/api/PaymentRefund', {
      schema: {
        tags,
        summary: 'Refund a paid payment in full, once',
        description:
          headerDoc +
          ' Parameters: `payment_id` (the payment.id from PaymentProcess, equal to the qrcode_id). ' +
          'Success: `transaction.status "1"`. A payment that cannot be refunded (not paid, already refunded) answers HTTP 200 `{"error": false, "transaction": {"status": "0"}, "status": " Process failed: <reason>"}` as the seed does.',
      },
    }, async (req) => {
      const cred = await merchantOf(req);
      const params = readParams(req);
      const id = parseId(params, 'payment_id', 'qrcode_id');
      const p = await ctx.payments.get(id);
      if (!p || p.merchant_id !== cred.merchant_id || p.dialect !== IBOUS_DIALECT) throw new IbousError(404, 'Payment not found');
      if (p.state === 'refunded' || p.state === 'partially_refunded') return refundFailedAnswer('payment already refunded');
      if (p.state !== 'succeeded') return refundFailedAnswer('payment has not been paid');
      try {
        const out = await ctx.payments.refund({
          payment_id: p.id,
          merchant_id: cred.merchant_id,
          // One refund per payment: a second call (or a concurrent duplicate) finds this reference.
          merchant_ref: `ibous-refund:${p.id}`,
          amount_minor: p.amount_minor,
          reason: 'ibous PaymentRefund',
        });
        if (out.replayed) return refundFailedAnswer('payment already refunded');
        const merchant = await ctx.merchants.get(cred.merchant_id);
        return refundAnswer(out.payment, out.refund, merchant?.name ?? '');
      } catch (e) {
        if (isCoreError(e, 'insufficient_funds')) return refundFailedAnswer('merchant balance too low for this refund');
        if (isCoreError(e, 'invalid_state') || isCoreError(e, 'refund_exceeds_payment')) return refundFailedAnswer('payment already refunded');
        throw e;
      }
    });

    // Any other method on a known path: 405 in the ibous shape (not the app's generic 404).
    for (const [url, allow] of [['/api/CreatePaymentQRcode', 'POST'], ['/api/PaymentProcess', 'POST'], ['/api/PaymentRefund', 'POST'], ['/qrcd/:file', 'GET, HEAD']] as const) {
      const methods = allow === 'POST' ? ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] : ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
      app.route({
        method: methods, url, schema: { hide: true },
        handler: async (_req, reply) => {
          reply.header('allow', allow);
          throw new IbousError(405, `Method not allowed: use ${allow.split(',')[0]}`);
        },
      });
    }

    // The QR image: a real PNG under the payment's unguessable token.
    app.get('/qrcd/:file', {
      schema: { tags, summary: 'QR code image (PNG) of a payment', description: 'The URL handed out as `qrcode_img`. The QR code encodes the wallet pay page `/wallet/pay/<token>`.' },
    }, async (req, reply) => {
      const file = (req.params as { file: string }).file;
      const token = file.endsWith('.png') ? file.slice(0, -4) : '';
      if (!TOKEN_RE.test(token)) throw new IbousError(404, 'QRcode image not found');
      let png = pngCache.get(token);
      if (!png) {
        const p = await ctx.payments.getByToken(token);
        if (!p || p.dialect !== IBOUS_DIALECT) throw new IbousError(404, 'QRcode image not found');
        const scale = [4, 6, 8, 10].includes(Number(p.details.qrcode_size)) ? Number(p.details.qrcode_size) : 8;
        png = await QRCode.toBuffer(walletPayUrl(ctx, token), { type: 'png', scale, margin: 4, errorCorrectionLevel: 'M' });
        makeRoom(pngCache, PNG_CACHE_MAX).set(token, png);
      }
      return reply
        .header('content-type', 'image/png')
        .header('cache-control', 'private, max-age=600')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .send(png);
    });
  },
};
export default mod;
