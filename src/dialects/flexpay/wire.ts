// FlexPay wire ⇄ core: field validation, orderNumber, dates, the check transaction shape and
// callback bodies. No business rule here; the core decides, this file only translates.
import { createHmac, randomInt } from 'node:crypto';
import { formatAmount, MoneyError, parseAmount, type Currency } from '../../money/index.ts';
import type { PaymentRecord, PayoutRecord } from '../../payments/model.ts';
import type { CallbackEvent } from '../../payments/service.ts';
import type { OutboxMessage } from '../../delivery/outbox.ts';

export const REFERENCE_MAX = 25;
export const DESCRIPTION_MAX = 255;

/** A request FlexPay refuses: answered `{"code":"1","message":...}` with this HTTP status. */
export class WireError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** "Bearer xyz", "bearer xyz" or "xyz" → "xyz"; null if absent or not a string. */
export function bearer(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const t = v.trim().replace(/^bearer\s+/i, '').trim();
  return t.length ? t : null;
}

export function str(v: unknown): string | null {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string') return null;
  const s = v.trim();
  return s.length ? s : null;
}

export function requireReference(v: unknown): string {
  const r = str(v);
  if (!r) throw new WireError(400, 'Le champ reference est obligatoire');
  if (r.length > REFERENCE_MAX) throw new WireError(400, `La reference doit compter au plus ${REFERENCE_MAX} caractères`);
  return r;
}

export function requireCurrency(v: unknown): Currency {
  const c = str(v);
  if (!c) throw new WireError(400, 'Le champ currency est obligatoire');
  if (c !== 'CDF' && c !== 'USD') throw new WireError(400, 'La devise doit être CDF ou USD');
  return c;
}

export function requireAmount(v: unknown, currency: Currency): bigint {
  if (v === undefined || v === null || v === '') throw new WireError(400, 'Le champ amount est obligatoire');
  let minor: bigint;
  try {
    minor = parseAmount(v, currency);
  } catch (e) {
    if (e instanceof MoneyError) {
      const why = e.code === 'too_many_decimals' ? `trop de décimales pour ${currency}` : e.code === 'too_large' ? 'trop grand' : e.code === 'negative' ? 'négatif' : 'non numérique';
      throw new WireError(400, `Montant invalide (${why})`);
    }
    throw e;
  }
  if (minor <= 0n) throw new WireError(400, 'Le montant doit être supérieur à zéro');
  return minor;
}

export function optionalText(v: unknown, field: string, max: number): string | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string') throw new WireError(400, `Le champ ${field} doit être un texte`);
  const s = v.trim();
  if (s.length > max) throw new WireError(400, `Le champ ${field} doit compter au plus ${max} caractères`);
  return s || null;
}

/** `code` may arrive as "0" or 0: both mean the same. */
export function codeOf(v: unknown): string | null {
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  if (typeof v === 'string' && /^\d{1,3}$/.test(v.trim())) return String(Number(v.trim()));
  return null;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** orderNumber like "9bsTX7qXdpQe243815877848": 12 random letters/digits then 12 digits. */
export function newOrderNumber(): string {
  let s = '';
  for (let i = 0; i < 12; i++) s += ALNUM[randomInt(ALNUM.length)];
  for (let i = 0; i < 12; i++) s += String(randomInt(10));
  return s;
}

/**
 * Payout orderNumbers carry the payout id in the 12 digits and an HMAC of it in the letters,
 * so the check call finds a payout without a lookup table and cannot guess one.
 */
export function payoutOrderNumber(key: Buffer, payout_id: string): string {
  const mac = createHmac('sha256', key).update('flexpay-payout:' + payout_id).digest();
  let s = '';
  for (let i = 0; i < 12; i++) s += ALNUM[mac[i]! % ALNUM.length];
  return s + payout_id.padStart(12, '0');
}

export function payoutIdOf(key: Buffer, orderNumber: string): string | null {
  if (typeof orderNumber !== 'string' || !/^[A-Za-z0-9]{12}\d{12,18}$/.test(orderNumber)) return null;
  const id = String(BigInt(orderNumber.slice(12)));
  return payoutOrderNumber(key, id) === orderNumber ? id : null;
}

/** FlexPay dates: `dd-MM-yyyy HH:mm:ss`, Kinshasa time (UTC+01:00, no DST). */
export function flexDate(d: Date): string {
  const k = new Date(d.getTime() + 3_600_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(k.getUTCDate())}-${p(k.getUTCMonth() + 1)}-${k.getUTCFullYear()} ${p(k.getUTCHours())}:${p(k.getUTCMinutes())}:${p(k.getUTCSeconds())}`;
}

export function channelOf(p: PaymentRecord): string {
  return p.rail === 'card' ? 'card' : 'mobile_money';
}

/** The check transaction of a payment. `status` keeps the seed's two values; `state` is finer. */
export function paymentTransaction(p: PaymentRecord) {
  return {
    orderNumber: p.public_ref,
    reference: p.merchant_ref,
    amount: formatAmount(p.amount_minor, p.currency, 'min1'),
    amountCustomer: formatAmount(p.amount_minor + p.surcharge_minor, p.currency, 'min1'),
    currency: p.currency,
    createdAt: flexDate(p.created_at),
    // "0" while the merchant keeps (some of) the money; fully refunded → "1" (see docs/flexpay.md).
    status: p.state === 'succeeded' || p.state === 'partially_refunded' ? '0' : '1',
    state: p.state,
    reason: p.failure_code,
    channel: channelOf(p),
  };
}

export function payoutTransaction(po: PayoutRecord, orderNumber: string) {
  return {
    orderNumber,
    reference: po.merchant_ref,
    amount: formatAmount(po.amount_minor, po.currency, 'min1'),
    amountCustomer: formatAmount(po.amount_minor, po.currency, 'min1'),
    currency: po.currency,
    createdAt: flexDate(po.created_at),
    status: po.state === 'succeeded' ? '0' : '1',
    state: po.state,
    reason: po.failure_code,
    channel: 'payout',
  };
}

const FINAL_PAYMENT_STATES = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

/** Core events → FlexPay callback POSTs (JSON) to the callback URL given at creation. */
export function buildCallback(payoutKey: Buffer) {
  return (ev: CallbackEvent): OutboxMessage | null => {
    if (ev.kind === 'payment') {
      const p = ev.payment;
      if (!p.callback_url || !FINAL_PAYMENT_STATES.has(p.state)) return null;
      const ok = p.state === 'succeeded';
      const body = {
        code: ok ? '0' : '1',
        reference: p.merchant_ref,
        provider_reference: ok ? String(p.details?.provider_reference ?? p.public_ref) : null,
        orderNumber: p.public_ref,
        amount: formatAmount(p.amount_minor, p.currency, 'min1'),
        amountCustomer: formatAmount(p.amount_minor + p.surcharge_minor, p.currency, 'min1'),
        phone: typeof p.details?.phone === 'string' ? p.details.phone : null,
        currency: p.currency,
        createdAt: flexDate(p.created_at),
        channel: channelOf(p),
      };
      return { event: `payment.${p.state}`, url: p.callback_url, body: JSON.stringify(body) };
    }
    if (ev.kind === 'payout') {
      const po = ev.payout;
      if (!po.callback_url || po.state === 'pending') return null;
      const ok = po.state === 'succeeded';
      const orderNumber = payoutOrderNumber(payoutKey, po.id);
      const body = {
        code: ok ? '0' : '1',
        reference: po.merchant_ref,
        provider_reference: ok ? orderNumber : null,
        orderNumber,
        amount: formatAmount(po.amount_minor, po.currency, 'min1'),
        amountCustomer: formatAmount(po.amount_minor, po.currency, 'min1'),
        phone: po.payee_phone,
        currency: po.currency,
        createdAt: flexDate(po.created_at),
        channel: 'payout',
      };
      return { event: `payout.${po.state}`, url: po.callback_url, body: JSON.stringify(body) };
    }
    return null; // FlexPay has no refund callback.
  };
}
