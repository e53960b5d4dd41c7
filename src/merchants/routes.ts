// The operator API (/admin/*), guarded by the operator token.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CoreError, isCoreError } from '../errors.ts';
import type { GatewayContext } from '../gateway.ts';
import { ACCOUNT_SELECT, type AccountRow, toAccount } from '../ledger/ledger.ts';
import { formatAmount } from '../money/index.ts';
import type { PaymentRecord } from '../payments/model.ts';
import type { PayerKind } from '../rails/payers.ts';
import type { GatewayModule } from '../modules.ts';
import { snapshot } from '../store/db.ts';
import { constantTimeEqual } from './secrets.ts';

const STATUS_OF: Record<string, number> = {
  not_found: 404, reference_conflict: 409, invalid_state: 409, insufficient_funds: 402, invalid_request: 400, unauthorized: 401, locked: 423,
};

export function accountJson(a: AccountRow) {
  return { id: a.id, kind: a.kind, name: a.name, phone: a.phone, network: a.network, currency: a.currency, balance: formatAmount(a.balance_minor, a.currency, 'fixed'), balance_minor: a.balance_minor.toString(), merchant_id: a.merchant_id, created_at: a.created_at };
}

export function paymentJson(p: PaymentRecord) {
  return {
    id: p.id, merchant_id: p.merchant_id, dialect: p.dialect, rail: p.rail, merchant_ref: p.merchant_ref, public_ref: p.public_ref, state: p.state,
    failure_code: p.failure_code, currency: p.currency, amount: formatAmount(p.amount_minor, p.currency, 'fixed'), amount_minor: p.amount_minor.toString(),
    surcharge_minor: p.surcharge_minor.toString(), fee_minor: p.fee_minor.toString(), refunded_minor: p.refunded_minor.toString(),
    description: p.description, payer_account_id: p.payer_account_id, payer_name: p.payer_name, callback_url: p.callback_url,
    created_at: p.created_at, updated_at: p.updated_at, expires_at: p.expires_at, completed_at: p.completed_at,
  };
}

const limitOf = (v: unknown) => Math.min(Math.max(Number(v) || 50, 1), 500);

const mod: GatewayModule = {
  name: 'admin',
  prefix: '/admin',
  async register(app: FastifyInstance, ctx: GatewayContext) {
    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      const h = req.headers.authorization ?? '';
      const token = h.startsWith('Bearer ') ? h.slice(7) : '';
      if (!token || !constantTimeEqual(token, ctx.config.adminToken)) {
        return reply.code(401).send({ error: { code: 'unauthorized', message: 'operator token required: Authorization: Bearer <PAYGATE_ADMIN_TOKEN>' } });
      }
    });
    app.setErrorHandler((err, req, reply) => {
      if (isCoreError(err)) return reply.code(STATUS_OF[err.code] ?? 400).send({ error: { code: err.code, message: err.message } });
      const e = err as { statusCode?: number; code?: string; message: string };
      if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ error: { code: e.code ?? 'bad_request', message: e.message } });
      req.log.error({ err }, 'admin error');
      return reply.code(500).send({ error: { code: 'internal_error', message: 'internal error' } });
    });
    const tags = ['operator'];
    const body = (req: FastifyRequest) => (req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {});

    const feesOf = (b: Record<string, unknown>) => {
      if (b.fee_bps === undefined) return undefined;
      if (!b.fee_bps || typeof b.fee_bps !== 'object' || Array.isArray(b.fee_bps)) throw new CoreError('invalid_request', 'fee_bps maps wallet|mobile-money|card to 0–10000');
      const fee = b.fee_bps as Record<string, unknown>;
      for (const [rail, v] of Object.entries(fee)) {
        if (!['wallet', 'mobile-money', 'card'].includes(rail) || !Number.isInteger(v) || (v as number) < 0 || (v as number) > 10000) throw new CoreError('invalid_request', 'fee_bps maps wallet|mobile-money|card to 0–10000');
      }
      return fee as Record<string, number>;
    };
    app.post('/merchants', { schema: { tags, summary: 'Create a merchant with credentials for every dialect', description: '`{"name", "fee_bps"?: {"wallet"|"mobile-money"|"card": 0–10000}}`' } }, async (req, reply) => {
      const b = body(req);
      const { merchant, credentials, webhook_secret } = await ctx.merchants.create(b.name as string, { fee_bps: feesOf(b) });
      return reply.code(201).send({ id: merchant.id, name: merchant.name, credentials, webhook_secret, created_at: merchant.created_at });
    });
    app.patch('/merchants/:id', { schema: { tags, summary: 'Change a merchant\'s settings and fee rates', description: '`{"settings"?: {…merged…}, "fee_bps"?: {rail: bps}}`. Settings used by dialects: `currencies` (ibous accepted currencies), `flexpay_card_surcharge_bps`.' } }, async (req) => {
      const b = body(req);
      if (b.settings !== undefined && (!b.settings || typeof b.settings !== 'object' || Array.isArray(b.settings))) throw new CoreError('invalid_request', 'settings must be an object');
      const id = (req.params as { id: string }).id;
      if (!/^\d{1,18}$/.test(id)) throw new CoreError('not_found', 'merchant not found');
      return ctx.merchants.update(id, { settings: b.settings as Record<string, unknown> | undefined, fee_bps: feesOf(b) });
    });
    app.get('/merchants', { schema: { tags, summary: 'List merchants (cursor: after=<id>)' } }, async (req) => {
      const q = req.query as Record<string, string>;
      const items = await ctx.merchants.list(limitOf(q.limit), q.after && /^\d{1,18}$/.test(q.after) ? q.after : undefined);
      return { items, next_after: items.length ? items[items.length - 1]!.id : null };
    });
    app.get('/merchants/:id', { schema: { tags, summary: 'Get a merchant' } }, async (req) => {
      const m = await ctx.merchants.get((req.params as { id: string }).id);
      if (!m) throw new CoreError('not_found', 'merchant not found');
      const accounts = await ctx.db.query(`${ACCOUNT_SELECT} where a.merchant_id = $1 order by a.id`, [m.id]);
      return { ...m, accounts: accounts.map((a) => accountJson(toAccount(a))) };
    });

    const createPayer = (kind: PayerKind) => async (req: FastifyRequest, reply: FastifyReply) => {
      const a = await ctx.payers.create(kind, body(req) as any);
      return reply.code(201).send(accountJson(a));
    };
    app.post('/wallets', { schema: { tags, summary: 'Create a wallet {name, phone, pin, currency, balance}' } }, createPayer('wallet'));
    app.post('/subscribers', { schema: { tags, summary: 'Create a mobile-money subscriber {name, phone, pin, currency, balance}' } }, createPayer('subscriber'));

    app.get('/accounts', { schema: { tags, summary: 'List accounts (kind, after, limit)' } }, async (req) => {
      const q = req.query as Record<string, string>;
      const rows = await ctx.db.query(`${ACCOUNT_SELECT} where ($1::text is null or a.kind = $1) and ($2::bigint is null or a.id > $2) order by a.id limit $3`, [q.kind ?? null, q.after && /^\d+$/.test(q.after) ? q.after : null, limitOf(q.limit)]);
      const items = rows.map((r) => accountJson(toAccount(r)));
      return { items, next_after: items.length ? items[items.length - 1]!.id : null };
    });
    app.get('/accounts/:id', { schema: { tags, summary: 'Get an account' } }, async (req) => {
      const a = await ctx.payers.get((req.params as { id: string }).id);
      if (!a) throw new CoreError('not_found', 'account not found');
      return accountJson(a);
    });

    app.get('/payments', { schema: { tags, summary: 'List payments (merchant_id, state, after, limit), newest first' } }, async (req) => {
      const q = req.query as Record<string, string>;
      const rows = await ctx.db.query(
        `select * from payments where ($1::bigint is null or merchant_id = $1) and ($2::text is null or state = $2) and ($3::bigint is null or id < $3) order by id desc limit $4`,
        [q.merchant_id && /^\d+$/.test(q.merchant_id) ? q.merchant_id : null, q.state ?? null, q.after && /^\d+$/.test(q.after) ? q.after : null, limitOf(q.limit)],
      );
      const items = rows.map((r) => paymentJson({ ...r, id: String(r.id), merchant_id: String(r.merchant_id) } as PaymentRecord));
      return { items, next_after: items.length ? items[items.length - 1]!.id : null };
    });
    app.get('/payments/:id', { schema: { tags, summary: 'Get a payment with its refunds and callbacks' } }, async (req) => {
      // One snapshot: a refund commits the payment's new state, the refund and its callback together.
      const view = await snapshot(ctx.db, async (q) => {
        const p = await ctx.payments.get((req.params as { id: string }).id, q);
        if (!p) return null;
        const refunds = await ctx.payments.refundsOf(p.id, q);
        const outbox = await q.query('select id, event, url, state, attempts, next_attempt_at, delivered_at from outbox where payment_id = $1 order by id', [p.id]);
        return { ...paymentJson(p), refunds, callbacks: outbox };
      });
      if (!view) throw new CoreError('not_found', 'payment not found');
      return view;
    });

    app.get('/callbacks', { schema: { tags, summary: 'List callbacks (state, payment_id)' } }, async (req) => {
      const q = req.query as Record<string, string>;
      return {
        items: await ctx.db.query(
          `select id, merchant_id, event, payment_id, payout_id, url, state, attempts, next_attempt_at, delivered_at, created_at from outbox
            where ($1::text is null or state = $1) and ($2::bigint is null or payment_id = $2) order by id desc limit $3`,
          [q.state ?? null, q.payment_id && /^\d+$/.test(q.payment_id) ? q.payment_id : null, limitOf(q.limit)],
        ),
      };
    });
    app.get('/callbacks/:id', { schema: { tags, summary: 'A callback with its delivery log' } }, async (req) => {
      const id = (req.params as { id: string }).id;
      if (!/^\d{1,18}$/.test(id)) throw new CoreError('not_found', 'callback not found');
      // One snapshot: the dispatcher commits an attempt's log line and the row's new state
      // together, and two reads on their own could straddle that commit (a row still pending
      // beside a logged 2xx that delivered it).
      const view = await snapshot(ctx.db, async (q) => {
        const rows = await q.query('select * from outbox where id = $1', [id]);
        if (!rows.length) return null;
        const attempts = await q.query('select attempt, status_code, latency_ms, error, response_excerpt, created_at from delivery_attempts where outbox_id = $1 order by id', [id]);
        return { ...rows[0], attempts };
      });
      if (!view) throw new CoreError('not_found', 'callback not found');
      return view;
    });
    app.post('/callbacks/:id/redeliver', { schema: { tags, summary: 'Deliver a callback again now' } }, async (req, reply) => {
      const id = (req.params as { id: string }).id;
      if (!/^\d{1,18}$/.test(id) || !(await ctx.dispatcher.redeliver(id))) throw new CoreError('not_found', 'callback not found');
      return reply.code(202).send({ id, state: 'pending' });
    });
  },
};
export default mod;
