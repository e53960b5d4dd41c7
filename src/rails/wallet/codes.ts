// Wallet payment codes (the payer-presented side of KessPay Quick Pay): the wallet app shows
// a one-time numeric code; a merchant scans it and asks Paygate to charge it. Codes are
// random, bound to one wallet account, valid PAYMENT_CODE_TTL_MS, single use, and only
// the newest one of a wallet is live. Only a keyed hash is stored (a database dump does not
// give live codes away). Below the wallet's quick-pay limit the charge is immediate; above
// it the payment waits until the payer approves it with the PIN in the wallet app.
// Money moves only through the core (ctx.payments.pay / fail).
import { createHmac, randomInt } from 'node:crypto';
import { CoreError, isCoreError } from '../../errors.ts';
import type { GatewayContext } from '../../gateway.ts';
import type { AccountRow } from '../../ledger/ledger.ts';
import { type Currency, exponentOf } from '../../money/index.ts';
import type { PaymentRecord } from '../../payments/model.ts';

/** How long one code is valid; the app shows a new one when it runs out. */
export const PAYMENT_CODE_TTL_MS = 60_000;
/** 18 digits: "28" (the first digits scanners expect of a wallet payment code) + 16 random. */
export const PAYMENT_CODE_PREFIX = '28';
export const PAYMENT_CODE_DIGITS = 18;
export const PAYMENT_CODE_RE = /^\d{18}$/;
/** Quick Pay payments waiting for the payer's PIN expire after this (the merchant polls 45 s). */
export const QUICK_PAY_TTL_MS = 120_000;
/** Default quick-pay limit without PIN: 50 major units of the wallet's currency (50.00 USD). */
export const DEFAULT_QUICK_PAY_LIMIT_MAJOR = 50n;
/** Pending confirmations listed at once. */
export const CONFIRMATIONS_MAX = 20;

/** Why a code was refused (the dialect maps these to its wire codes). */
export type CodeRefusal = 'auth_code_invalid' | 'auth_code_used' | 'auth_code_expired' | 'auth_code_currency';

function refuse(reason: CodeRefusal, message: string): CoreError {
  return new CoreError('invalid_request', message, { reason });
}

/** The wallet's limit for payments without PIN, in minor units: `accounts.settings.quick_pay_limit_minor`. */
export function quickPayLimit(account: Pick<AccountRow, 'settings' | 'currency'>): bigint {
  const v = account.settings?.quick_pay_limit_minor;
  if ((typeof v === 'string' && /^\d{1,15}$/.test(v)) || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) return BigInt(v);
  return DEFAULT_QUICK_PAY_LIMIT_MAJOR * 10n ** BigInt(exponentOf(account.currency as Currency));
}

export interface IssuedCode {
  code: string;
  account_id: string;
  currency: Currency;
  expires_at: Date;
}

export interface Confirmation {
  payment: PaymentRecord;
  account: AccountRow;
}

export class PaymentCodes {
  private readonly key: Buffer;
  constructor(private readonly ctx: GatewayContext) {
    this.key = ctx.sealer.derive('wallet-payment-code');
  }

  hash(code: string): string {
    return createHmac('sha256', this.key).update(code).digest('hex');
  }

  /** A new code for a wallet account; older unused codes of that wallet stop working. */
  async issue(account: AccountRow): Promise<IssuedCode> {
    if (account.kind !== 'wallet') throw new CoreError('invalid_request', 'payment codes are for wallets');
    let code = PAYMENT_CODE_PREFIX;
    while (code.length < PAYMENT_CODE_DIGITS) code += String(randomInt(0, 10));
    const now = this.ctx.clock.now();
    const expires_at = new Date(now.getTime() + PAYMENT_CODE_TTL_MS);
    await this.ctx.db.tx(async (q) => {
      await q.query('update wallet_payment_codes set expires_at = $2 where account_id = $1 and used_at is null and expires_at > $2', [account.id, now]);
      await q.query('insert into wallet_payment_codes (code_hash, account_id, created_at, expires_at) values ($1, $2, $3, $4)', [this.hash(code), account.id, now, expires_at]);
    });
    return { code, account_id: account.id, currency: account.currency, expires_at };
  }

  /** The wallet a live code belongs to; refuses unknown, used and expired codes (nothing changes). */
  async lookup(code: string): Promise<AccountRow> {
    if (!PAYMENT_CODE_RE.test(code)) throw refuse('auth_code_invalid', 'auth_code is not a valid payment code');
    const rows = await this.ctx.db.query('select account_id, expires_at, used_at from wallet_payment_codes where code_hash = $1', [this.hash(code)]);
    if (!rows.length) throw refuse('auth_code_invalid', 'unknown payment code: ask the buyer to show the code again');
    const r = rows[0]!;
    if (r.used_at) throw refuse('auth_code_used', 'this payment code was already used: ask the buyer for a new one');
    if (new Date(r.expires_at) <= this.ctx.clock.now()) throw refuse('auth_code_expired', 'this payment code has expired: ask the buyer for a new one');
    const account = await this.ctx.payers.get(String(r.account_id));
    if (!account) throw refuse('auth_code_invalid', 'unknown payment code');
    return account;
  }

  /**
   * Spends `code` on the pending `payment` (created by the dialect with the code's wallet in
   * mind). Below the wallet's limit it pays at once; above it, it waits for the payer's PIN.
   * A code that another request spent first fails the payment ('auth_code_used').
   */
  async charge(payment: PaymentRecord, code: string): Promise<{ payment: PaymentRecord; status: 'paid' | 'awaiting_pin' }> {
    let account: AccountRow;
    try {
      account = await this.lookup(code);
      if (account.currency !== payment.currency) throw refuse('auth_code_currency', `the buyer's code is for a ${account.currency} wallet, the order is in ${payment.currency}`);
    } catch (e) {
      // The code went bad between the dialect's check and now: the payment cannot complete.
      if (isCoreError(e)) await this.ctx.payments.fail(payment.id, 'failed', String(e.detail.reason ?? 'auth_code_invalid')).catch(() => {});
      throw e;
    }
    const now = this.ctx.clock.now();
    const total = payment.amount_minor + payment.surcharge_minor;
    const needsPin = total > quickPayLimit(account);
    const used = await this.ctx.db.query(
      `update wallet_payment_codes set used_at = $2, payment_id = $3, needs_pin = $4
        where code_hash = $1 and used_at is null and expires_at > $2 returning account_id`,
      [this.hash(code), now, payment.id, needsPin],
    );
    if (!used.length) {
      await this.ctx.payments.fail(payment.id, 'failed', 'auth_code_used').catch(() => {});
      throw refuse('auth_code_used', 'this payment code was already used: ask the buyer for a new one');
    }
    if (needsPin) return { payment, status: 'awaiting_pin' };
    try {
      const paid = await this.ctx.payments.pay(payment.id, { kind: 'account', account_id: account.id }, { wallet_phone_last4: account.phone?.slice(-4) ?? null, quick_pay: 'no_pin' });
      return { payment: paid, status: 'paid' };
    } catch (e) {
      // Nobody is there to top up and retry: the merchant sees a failed payment.
      if (isCoreError(e, 'insufficient_funds')) await this.ctx.payments.fail(payment.id, 'failed', 'insufficient_funds').catch(() => {});
      throw e;
    }
  }

  /** Quick Pay payments of this phone's wallets that wait for its PIN, newest first. */
  async confirmations(phone: string): Promise<Confirmation[]> {
    const accounts = await this.ctx.payers.byPhone('wallet', phone);
    if (!accounts.length) return [];
    const rows = await this.ctx.db.query(
      `select payment_id, account_id from wallet_payment_codes where account_id = any($1::bigint[]) and needs_pin order by id desc limit $2`,
      [accounts.map((a) => a.id), CONFIRMATIONS_MAX],
    );
    const now = this.ctx.clock.now();
    const out: Confirmation[] = [];
    for (const r of rows) {
      const p = await this.ctx.payments.get(String(r.payment_id));
      const account = accounts.find((a) => a.id === String(r.account_id));
      if (!p || !account) continue;
      if (p.state !== 'pending' || (p.expires_at && p.expires_at <= now)) {
        await this.ctx.db.query('update wallet_payment_codes set needs_pin = false where payment_id = $1', [p.id]);
        continue;
      }
      out.push({ payment: p, account });
    }
    return out;
  }

  private async confirmation(phone: string, payment_id: unknown): Promise<Confirmation> {
    if (typeof payment_id !== 'string' || !/^\d{1,18}$/.test(payment_id)) throw new CoreError('not_found', 'no such payment waiting for you');
    const rows = await this.ctx.db.query('select account_id from wallet_payment_codes where payment_id = $1 and needs_pin', [payment_id]);
    const account = rows.length ? await this.ctx.payers.get(String(rows[0]!.account_id)) : null;
    // Someone else's payment looks exactly like a missing one.
    if (!account || account.phone !== phone) throw new CoreError('not_found', 'no such payment waiting for you');
    const p = await this.ctx.payments.get(payment_id);
    if (!p) throw new CoreError('not_found', 'no such payment waiting for you');
    if (p.state !== 'pending') throw new CoreError('invalid_state', `this payment is already ${p.state}`, { state: p.state });
    return { payment: p, account };
  }

  /** The payer approves a waiting payment with the PIN of the wallet the code came from. */
  async approve(phone: string, payment_id: unknown, pin: unknown): Promise<Confirmation> {
    const c = await this.confirmation(phone, payment_id);
    await this.ctx.payers.checkPin(c.account.id, pin);
    let paid: PaymentRecord;
    try {
      paid = await this.ctx.payments.pay(c.payment.id, { kind: 'account', account_id: c.account.id }, { wallet_phone_last4: c.account.phone?.slice(-4) ?? null, quick_pay: 'pin' });
    } finally {
      const p = await this.ctx.payments.get(c.payment.id);
      if (p && p.state !== 'pending') await this.ctx.db.query('update wallet_payment_codes set needs_pin = false where payment_id = $1', [c.payment.id]);
    }
    return { payment: paid, account: (await this.ctx.payers.get(c.account.id))! };
  }

  /** The payer refuses a waiting payment (the merchant's status check says it failed). */
  async decline(phone: string, payment_id: unknown): Promise<Confirmation> {
    const c = await this.confirmation(phone, payment_id);
    const p = await this.ctx.payments.fail(c.payment.id, 'failed', 'declined');
    await this.ctx.db.query('update wallet_payment_codes set needs_pin = false where payment_id = $1', [c.payment.id]);
    return { payment: p, account: c.account };
  }
}
