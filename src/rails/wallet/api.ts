// The wallet's JSON API for a mobile app: log in (phone + PIN → bearer session token),
// resolve a scanned QR code, pay (PIN again), decline, balance, history. Only the bearer
// token is accepted here (never the page cookie), so these routes need no CSRF token.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CoreError, isCoreError } from '../../errors.ts';
import type { GatewayContext } from '../../gateway.ts';
import { tokenFromScan } from './links.ts';
import { currencyParam, HISTORY_MAX, walletJson, type WalletService } from './service.ts';
import { type WalletSession, WALLET_SESSION_TTL_MS, type WalletSessions } from './session.ts';

/** HTTP status of each core error in the wallet API. */
export const API_STATUS: Record<string, number> = {
  invalid_request: 400,
  unauthorized: 401,
  insufficient_funds: 402,
  not_found: 404,
  invalid_state: 409,
  currency_mismatch: 409,
  reference_conflict: 409,
  expired: 410,
  locked: 423,
};

export function apiError(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ error: { code, message } });
}

const tags = ['wallet'];
const bearer = [{ walletSession: [] }];

export async function registerWalletApi(app: FastifyInstance, ctx: GatewayContext, wallet: WalletService, sessions: WalletSessions): Promise<void> {
  const body = (req: FastifyRequest) => (req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : {});

  function session(req: FastifyRequest): WalletSession {
    const h = req.headers.authorization;
    const s = h?.startsWith('Bearer ') ? sessions.verify(h.slice(7).trim()) : null;
    if (!s) throw new CoreError('unauthorized', 'log in first: Authorization: Bearer <token from POST /wallet/api/login>');
    return s;
  }

  async function paymentOf(b: Record<string, unknown>) {
    const token = tokenFromScan(b.token ?? b.qr ?? b.url);
    if (!token) throw new CoreError('invalid_request', 'give the scanned QR text (qr), the pay URL (url) or the payment token (token)');
    const p = await wallet.payment(token);
    if (!p) throw new CoreError('not_found', 'payment not found');
    return p;
  }

  app.post('/wallet/api/login', {
    schema: {
      tags,
      summary: 'Log in with phone + PIN',
      description: 'Body `{"phone": "50937000000", "pin": "1234"}` (optional `currency` to check the PIN of that wallet). Answer `{"token", "token_type": "Bearer", "expires_in", "phone", "name", "wallets"}`. Wrong PINs count toward a 15-minute lockout after 5 in a row (HTTP 423).',
      body: { type: 'object', properties: { phone: { type: 'string' }, pin: { type: 'string' }, currency: { type: 'string' } } },
    },
  }, async (req) => {
    const b = body(req);
    const { phone, account, wallets } = await wallet.authenticate(b.phone, b.pin, currencyParam(b.currency));
    return { token: sessions.issue(phone), token_type: 'Bearer', expires_in: WALLET_SESSION_TTL_MS / 1000, phone, name: account.name, wallets: wallets.map(walletJson) };
  });

  app.get('/wallet/api/balance', {
    schema: { tags, security: bearer, summary: 'Balances of the logged-in phone', description: 'Answer `{"phone", "name", "wallets": [{"account_id", "currency", "balance", "balance_minor"}]}`.' },
  }, async (req) => {
    const s = session(req);
    const ws = await wallet.wallets(s.phone);
    return { phone: s.phone, name: ws[0]?.name ?? null, wallets: ws.map(walletJson) };
  });

  app.get('/wallet/api/history', {
    schema: {
      tags, security: bearer, summary: 'Recent movements of the logged-in phone',
      description: `Query: optional \`currency\`, \`limit\` (1–${HISTORY_MAX}, default 20). Items newest first: \`{"entry_id", "kind": "payment|refund|payout|funding", "amount" (signed), "currency", "created_at", "payment_id"}\`.`,
      querystring: { type: 'object', properties: { currency: { type: 'string' }, limit: { type: 'string' } } },
    },
  }, async (req) => {
    const s = session(req);
    const q = req.query as Record<string, unknown>;
    const limit = q.limit === undefined ? 20 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > HISTORY_MAX) throw new CoreError('invalid_request', `limit must be 1–${HISTORY_MAX}`);
    const items = await wallet.history(s.phone, currencyParam(q.currency), limit);
    return { items: items.map(({ account_id, ...h }) => ({ ...h, account_id })) };
  });

  app.post('/wallet/api/resolve', {
    schema: {
      tags, security: bearer, summary: 'What a scanned QR code asks to pay',
      description: 'Body `{"qr": "<scanned text>"}` (or `url`, or `token`). Answer: `{"token", "payment_id", "merchant", "item", "amount", "amount_minor", "currency", "state", "payable", "expires_at"}`.',
      body: { type: 'object', properties: { qr: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' } } },
    },
  }, async (req) => {
    session(req);
    return wallet.view(await paymentOf(body(req)));
  });

  app.post('/wallet/api/pay', {
    schema: {
      tags, security: bearer, summary: 'Pay a scanned payment from the wallet in its currency',
      description: 'Body `{"qr" | "url" | "token", "pin"}`: the PIN confirms each payment. Answer `{"payment": <resolve answer>, "wallet": {...balance}}`. 402 insufficient_funds (the payment stays payable), 409 invalid_state (already paid or closed), 410 expired, 401 wrong PIN, 423 locked.',
      body: { type: 'object', properties: { qr: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' }, pin: { type: 'string' } } },
    },
  }, async (req) => {
    const s = session(req);
    const b = body(req);
    const p = await paymentOf(b);
    const { payment, account } = await wallet.pay(p, s.phone, b.pin);
    return { payment: await wallet.view(payment), wallet: walletJson(account) };
  });

  app.post('/wallet/api/decline', {
    schema: {
      tags, security: bearer, summary: 'Decline a scanned payment',
      description: 'Body `{"qr" | "url" | "token"}`. The merchant sees payment status 3. Answer `{"payment": <resolve answer>}`.',
      body: { type: 'object', properties: { qr: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' } } },
    },
  }, async (req) => {
    session(req);
    const p = await paymentOf(body(req));
    return { payment: await wallet.view(await wallet.decline(p)) };
  });

  void ctx; // kept for symmetry with the page routes
}

/** Error handler of the wallet API routes: `{"error": {"code", "message"}}`, 4xx for anything a client sends. */
export function apiErrorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply) {
  if (isCoreError(err)) {
    const msg = err.code === 'expired' ? 'this payment has expired' : err.code === 'insufficient_funds' ? 'insufficient balance: top up the wallet and try again' : err.message;
    return apiError(reply, API_STATUS[err.code] ?? 400, err.code, msg);
  }
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return apiError(reply, e.statusCode, e.code ?? 'bad_request', e.message ?? 'bad request');
  req.log.error({ err }, 'wallet api error');
  return apiError(reply, 500, 'internal_error', 'internal error');
}
