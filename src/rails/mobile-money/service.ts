// The mobile-money rail: subscribers (payer accounts of kind 'subscriber', created by the
// operator API) pay merchants by approving a push prompt on their handset with their PIN.
//
// ---- API (stable; used by the IntouchPay and FlexPay dialects) --------------------------
//
//   import { mobileMoneyRail, findSubscriber } from '../../rails/mobile-money/service.ts';
//   const rail = mobileMoneyRail(ctx);            // one instance per gateway (cached per ctx)
//
//   await rail.requestPayment({ merchant_id, dialect, merchant_ref, phone, amount_minor, currency,
//                               description?, callback_url?, details?, fingerprint?, ttl_ms? })
//     → { payment, replayed }
//     Validates the phone and finds the subscriber for phone + currency, creates the payment
//     (`ctx.payments.create({ rail: 'mobile-money', ... })`, idempotent on merchant_ref: same
//     parameters → replayed: true, different → CoreError 'reference_conflict') and pushes a
//     prompt to the handset (a replay never pushes a second prompt). The payment expires at
//     its expires_at (default PAYGATE_MOBILE_MONEY_TTL_MS = 60 s; the core sweeper expires it).
//     Errors (CoreError, `detail.reason` tells the dialect which wire code to answer):
//       invalid_request {reason:'invalid_phone'}        phone is not 8–15 digits (optional '+')
//       invalid_request {reason:'unsupported_network'}  no mobile network known for the prefix
//       not_found       {reason:'unknown_subscriber'}   no subscriber with this phone in this currency
//       (a dialect may restrict countries/networks further before calling, e.g. IntouchPay: 2507…)
//
//   await findSubscriber(ctx, phone, currency) → AccountRow | null   (for payouts to phones:
//     `ctx.payments.payout({ rail: 'mobile-money', payee_account_id: sub.id, ... })`)
//     also as rail.findSubscriber(phone, currency).
//
//   Payer side (the handset simulator uses these; tests may too):
//   rail.prompts(phone)                   → pending prompts of this phone (newest first)
//   rail.approve(phone, prompt_id, pin)   → { prompt, payment }  PIN checked with lockout
//        and payment together (ctx.payers.payWithPin: CoreError 'unauthorized' wrong PIN /
//        'locked', nothing paid). Outcomes:
//          succeeded                          payment state 'succeeded'
//          insufficient funds                 payment failed, failure_code 'insufficient_funds'
//          prompt already expired             payment expired, failure_code 'expired'
//   rail.reject(phone, prompt_id)         → payment failed, failure_code 'declined'
//   rail.wallet(phone)                    → { subscribers: [{account, balance}], history }
//
// Failure codes on mobile-money payments: 'declined' (subscriber rejected the prompt),
// 'insufficient_funds' (approved but the balance was short), 'expired' (nobody answered in
// time). Dialects map these to their own wire codes.
import type { GatewayContext } from '../../gateway.ts';
import { CoreError, isCoreError } from '../../errors.ts';
import type { AccountRow } from '../../ledger/ledger.ts';
import type { Currency } from '../../money/index.ts';
import type { PaymentRecord } from '../../payments/model.ts';
import { networkOf, normalizePhone } from '../payers.ts';

export const MOBILE_MONEY_FAILURE_CODES = ['declined', 'insufficient_funds', 'expired'] as const;
export type MobileMoneyFailureCode = (typeof MOBILE_MONEY_FAILURE_CODES)[number];

/** Values of CoreError.detail.reason thrown by requestPayment. */
export type MobileMoneyRailErrorReason = 'invalid_phone' | 'unsupported_network' | 'unknown_subscriber';

export const PROMPT_LIST_MAX = 20;
export const PROMPT_DESCRIPTION_MAX = 500;

export interface RequestPaymentInput {
  merchant_id: string;
  dialect: string;
  merchant_ref: string;
  phone: string;
  amount_minor: bigint;
  currency: Currency;
  description?: string | null;
  callback_url?: string | null;
  details?: Record<string, unknown>;
  fingerprint?: Record<string, unknown>;
  /** Prompt lifetime; default the rail's (PAYGATE_MOBILE_MONEY_TTL_MS). */
  ttl_ms?: number;
  /** Wire id when the dialect shows another shape than the numeric id (FlexPay orderNumber). */
  public_ref?: string;
}

export type PromptState = 'pending' | 'approved' | 'rejected' | 'failed' | 'expired' | 'closed';

export interface Prompt {
  id: string;
  payment_id: string;
  account_id: string;
  phone: string;
  merchant_name: string;
  amount_minor: bigint;
  currency: Currency;
  description: string | null;
  state: PromptState;
  outcome: string | null;
  created_at: Date;
  expires_at: Date;
  resolved_at: Date | null;
}

function toPrompt(r: Record<string, any>): Prompt {
  const p: Prompt = {
    id: String(r.id),
    payment_id: String(r.payment_id),
    account_id: String(r.account_id),
    phone: r.phone,
    merchant_name: r.merchant_name,
    amount_minor: BigInt(r.amount_minor),
    currency: r.currency,
    description: r.description,
    state: r.state,
    outcome: r.outcome,
    created_at: new Date(r.created_at),
    expires_at: new Date(r.expires_at),
    resolved_at: r.resolved_at ? new Date(r.resolved_at) : null,
  };
  if (p.amount_minor <= 0n) throw new Error(`invariant: prompt ${p.id} amount`);
  return p;
}

/** The subscriber account of a phone in a currency, or null (also for an invalid phone). */
export async function findSubscriber(ctx: GatewayContext, phone: string, currency: Currency): Promise<AccountRow | null> {
  const p = normalizePhone(phone);
  if (!p) return null;
  const rows = await ctx.payers.byPhone('subscriber', p, currency);
  return rows[0] ?? null;
}

const PROMPT_STATE_OF: Record<string, PromptState> = { succeeded: 'approved', expired: 'expired', failed: 'failed', cancelled: 'closed' };

export class MobileMoneyRail {
  constructor(private readonly ctx: GatewayContext) {}

  findSubscriber(phone: string, currency: Currency): Promise<AccountRow | null> {
    return findSubscriber(this.ctx, phone, currency);
  }

  async requestPayment(input: RequestPaymentInput): Promise<{ payment: PaymentRecord; replayed: boolean }> {
    const phone = normalizePhone(input.phone);
    if (!phone) throw new CoreError('invalid_request', 'phone must be 8–15 digits with the country code', { reason: 'invalid_phone' });
    if (!networkOf(phone)) throw new CoreError('invalid_request', 'no mobile-money network serves this number', { reason: 'unsupported_network' });
    const sub = await findSubscriber(this.ctx, phone, input.currency);
    if (!sub) throw new CoreError('not_found', `no mobile-money subscriber ${phone} in ${input.currency}`, { reason: 'unknown_subscriber' });
    const description = input.description == null ? null : String(input.description).slice(0, PROMPT_DESCRIPTION_MAX);
    const res = await this.ctx.payments.create({
      merchant_id: input.merchant_id,
      dialect: input.dialect,
      rail: 'mobile-money',
      merchant_ref: input.merchant_ref,
      amount_minor: input.amount_minor,
      currency: input.currency,
      description,
      callback_url: input.callback_url ?? null,
      details: { ...(input.details ?? {}), phone, subscriber_account_id: sub.id, network: networkOf(phone) },
      ttl_ms: input.ttl_ms,
      public_ref: input.public_ref,
      fingerprint: { phone, ...(input.fingerprint ?? {}) },
    });
    // Also on a replay: heals a crash between the payment and its prompt (on conflict do nothing).
    if (res.payment.state === 'pending') await this.push(res.payment, sub.id, phone);
    return res;
  }

  /** Records the prompt the handset shows (the "push"); one per payment. */
  private async push(p: PaymentRecord, account_id: string, phone: string): Promise<void> {
    const m = await this.ctx.merchants.get(p.merchant_id);
    const name = (m?.name ?? 'Merchant').slice(0, 200);
    await this.ctx.db.query(
      `insert into mobile_money_prompts (payment_id, account_id, phone, merchant_name, amount_minor, currency, description, created_at, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (payment_id) do nothing`,
      [p.id, account_id, phone, name, p.amount_minor, p.currency, p.description, this.ctx.clock.now(), p.expires_at ?? this.ctx.clock.now()],
    );
  }

  /** Pending, unexpired prompts of a phone whose payment is still pending (newest first). */
  async prompts(phone: string): Promise<Prompt[]> {
    const p = normalizePhone(phone);
    if (!p) return [];
    const rows = await this.ctx.db.query(
      `select * from mobile_money_prompts where phone = $1 and state = 'pending' order by id desc limit $2`,
      [p, PROMPT_LIST_MAX],
    );
    const now = this.ctx.clock.now();
    const out: Prompt[] = [];
    for (const r of rows) {
      const pr = toPrompt(r);
      const pay = await this.ctx.status.get(pr.payment_id);
      if (!pay || pay.state !== 'pending') {
        await this.close(pr.id, pay ? PROMPT_STATE_OF[pay.state] ?? 'closed' : 'closed', pay?.failure_code ?? pay?.state ?? 'closed');
        continue;
      }
      if (pr.expires_at <= now) continue; // the sweeper will expire the payment
      out.push(pr);
    }
    return out;
  }

  async prompt(phone: string, prompt_id: string): Promise<Prompt | null> {
    const p = normalizePhone(phone);
    if (!p || !/^\d{1,18}$/.test(prompt_id)) return null;
    const rows = await this.ctx.db.query('select * from mobile_money_prompts where id = $1 and phone = $2', [prompt_id, p]);
    return rows.length ? toPrompt(rows[0]!) : null;
  }

  /** The subscriber approves with the PIN; money moves subscriber → merchant in one transaction. */
  async approve(phone: string, prompt_id: string, pin: unknown): Promise<{ prompt: Prompt; payment: PaymentRecord }> {
    const pr = await this.openPrompt(phone, prompt_id);
    try {
      // The PIN first (unauthorized / locked pay nothing), then the payment: one statement as a rule.
      const { payment } = await this.ctx.payers.payWithPin(pr.payment_id, pr.account_id, pin, { approved_on: 'handset' });
      return { prompt: await this.close(pr.id, 'approved', 'approved'), payment };
    } catch (e) {
      if (isCoreError(e, 'insufficient_funds')) {
        const payment = await this.ctx.payments.fail(pr.payment_id, 'failed', 'insufficient_funds');
        return { prompt: await this.close(pr.id, 'failed', 'insufficient_funds'), payment };
      }
      if (isCoreError(e, 'expired')) {
        await this.close(pr.id, 'expired', 'expired');
        throw new CoreError('expired', 'this request has expired');
      }
      if (isCoreError(e, 'invalid_state')) {
        const pay = await this.ctx.payments.get(pr.payment_id);
        await this.close(pr.id, pay ? PROMPT_STATE_OF[pay.state] ?? 'closed' : 'closed', pay?.failure_code ?? 'closed');
      }
      throw e;
    }
  }

  /** The subscriber declines: the payment fails with failure_code 'declined'. */
  async reject(phone: string, prompt_id: string): Promise<{ prompt: Prompt; payment: PaymentRecord }> {
    const pr = await this.openPrompt(phone, prompt_id);
    try {
      const payment = await this.ctx.payments.fail(pr.payment_id, 'failed', 'declined');
      return { prompt: await this.close(pr.id, 'rejected', 'declined'), payment };
    } catch (e) {
      if (isCoreError(e, 'invalid_state')) {
        const pay = await this.ctx.payments.get(pr.payment_id);
        await this.close(pr.id, pay ? PROMPT_STATE_OF[pay.state] ?? 'closed' : 'closed', pay?.failure_code ?? 'closed');
      }
      throw e;
    }
  }

  /** Balances of every subscriber account of a phone and its recent transactions. */
  async wallet(phone: string, limit = 10): Promise<{ phone: string; subscribers: AccountRow[]; history: { account_id: string; kind: string; amount_minor: bigint; currency: string; created_at: Date; payment_id: string | null }[] } | null> {
    const p = normalizePhone(phone);
    if (!p) return null;
    const subscribers = await this.ctx.payers.byPhone('subscriber', p);
    if (!subscribers.length) return null;
    const history = [];
    for (const s of subscribers) {
      for (const h of await this.ctx.payers.history(s.id, limit)) history.push({ account_id: s.id, ...h });
    }
    history.sort((a, b) => b.created_at.getTime() - a.created_at.getTime() || Number(BigInt(b.entry_id) - BigInt(a.entry_id)));
    return { phone: p, subscribers, history: history.slice(0, limit).map(({ entry_id: _e, ...h }) => h) };
  }

  private async openPrompt(phone: string, prompt_id: string): Promise<Prompt> {
    const pr = await this.prompt(phone, prompt_id);
    if (!pr) throw new CoreError('not_found', 'no such prompt on this phone');
    if (pr.state !== 'pending') throw new CoreError('invalid_state', `this request is already ${pr.state}`, { state: pr.state });
    if (pr.expires_at <= this.ctx.clock.now()) {
      // Expire the payment now rather than wait for the sweeper; idempotent with it.
      await this.ctx.payments.fail(pr.payment_id, 'expired', 'expired').catch(() => {});
      await this.close(pr.id, 'expired', 'expired');
      throw new CoreError('expired', 'this request has expired');
    }
    return pr;
  }

  private async close(id: string, state: PromptState, outcome: string): Promise<Prompt> {
    const rows = await this.ctx.db.query(
      `update mobile_money_prompts set state = $2, outcome = $3, resolved_at = $4 where id = $1 and state = 'pending' returning *`,
      [id, state, outcome.slice(0, 50), this.ctx.clock.now()],
    );
    if (rows.length) return toPrompt(rows[0]!);
    const cur = await this.ctx.db.query('select * from mobile_money_prompts where id = $1', [id]);
    return toPrompt(cur[0]!);
  }
}

const instances = new WeakMap<GatewayContext, MobileMoneyRail>();

/** The rail of a gateway: one instance per ctx, shared by every dialect. */
export function mobileMoneyRail(ctx: GatewayContext): MobileMoneyRail {
  let r = instances.get(ctx);
  if (!r) {
    r = new MobileMoneyRail(ctx);
    instances.set(ctx, r);
  }
  return r;
}
