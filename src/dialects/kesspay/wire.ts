// KessPay wire ⇄ core: field validation, the exact-number JSON the seed uses (amounts are
// JSON numbers: 0.01), error codes and the answer shapes. No business rule here.
import { formatAmount, MoneyError, parseAmount, parsePercentToBps, type Currency, isCurrency } from '../../money/index.ts';
import type { PaymentRecord, RefundRecord } from '../../payments/model.ts';

export const OUT_TRADE_NO_MAX = 64;
export const OUT_REFUND_NO_MAX = 64;
export const REASON_MAX = 256;
export const SUB_STORE_NAME_MAX = 100;
export const SUB_STORE_ID_MAX = 64;
export const CREDENTIAL_MAX = 128;
export const TOKEN_TTL_S = 60;

/** Stable error codes (docs/kesspay.md lists them with their HTTP status). */
export type KessCode =
  | 'INVALID_JSON' | 'BODY_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'NOT_FOUND' | 'METHOD_NOT_ALLOWED'
  | 'INVALID_CREDENTIALS' | 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'STORE_ID_MISMATCH'
  | 'MISSING_PARAM' | 'INVALID_PARAM' | 'INVALID_AMOUNT' | 'INVALID_FEE_RATE' | 'INVALID_SERVICE_ID'
  | 'ORDER_EXISTS' | 'ORDER_NOT_EXIST' | 'ORDER_NOT_PAID' | 'ORDER_CLOSED'
  | 'AUTH_CODE_INVALID' | 'AUTH_CODE_USED' | 'AUTH_CODE_EXPIRED' | 'AUTH_CODE_CURRENCY' | 'INSUFFICIENT_BALANCE'
  | 'REFUND_AMOUNT_EXCEEDED' | 'REFUND_NO_EXISTS' | 'REFUND_NOT_EXIST' | 'RATE_LIMITED' | 'INTERNAL_ERROR';

/** A refused request: `{"success": false, "code", "message"}` with this HTTP status. Nothing changed. */
export class KessError extends Error {
  constructor(readonly status: number, readonly code: KessCode, message: string) {
    super(message);
  }
}

/** A decimal written into the JSON as a number literal, digit for digit (never through a float). */
export class Dec {
  constructor(readonly text: string) {
    if (!/^-?\d+(\.\d+)?$/.test(text)) throw new Error(`not a decimal: ${text}`);
  }
}

export function money(minor: bigint, currency: Currency): Dec {
  return new Dec(formatAmount(minor, currency, 'compact'));
}

/** An id as the merchant sent it: a number literal when it was all digits (the seed's 109038), else a string. */
export function idOut(v: string | null): Dec | string | null {
  return v !== null && /^(0|[1-9]\d{0,17})$/.test(v) ? new Dec(v) : v;
}

const MARK = '\u0001kpdec:';
/** JSON with Dec values as number literals. Text fields never contain control characters (checked on input). */
export function wireJson(value: unknown): string {
  const s = JSON.stringify(value, (_k, v) => (v instanceof Dec ? MARK + v.text : typeof v === 'bigint' ? v.toString() : v));
  return s.replace(/"\\u0001kpdec:(-?\d+(?:\.\d+)?)"/g, '$1');
}

/**
 * The raw body with the numeric fields quoted, before JSON.parse: an 18-digit `auth_code`
 * or an amount like 0.10000000000000001 would otherwise lose digits in a float.
 */
const EXACT_FIELDS = /"(amount|refund_amount|fee_rate|auth_code|store_id|sub_store_id|service_id)"(\s*):(\s*)(-?\d[0-9.eE+-]*)/g;
export function quoteNumbers(raw: string): string {
  return raw.replace(EXACT_FIELDS, '"$1"$2:$3"$4"');
}

export type Body = Record<string, unknown>;

const CONTROL = /[\u0000-\u001f\u007f]/;

/** A scalar field as trimmed text (numbers as their literal); null when absent or empty. */
export function text(b: Body, field: string, max: number): string | null {
  const v = b[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' && typeof v !== 'number') throw new KessError(400, 'INVALID_PARAM', `${field} must be a string or a number`);
  const s = String(v).trim();
  if (!s) return null;
  if (s.length > max) throw new KessError(400, 'INVALID_PARAM', `${field} must be at most ${max} characters`);
  if (CONTROL.test(s)) throw new KessError(400, 'INVALID_PARAM', `${field} must not contain control characters`);
  return s;
}

export function required(b: Body, field: string, max: number): string {
  const s = text(b, field, max);
  if (s === null) throw new KessError(400, 'MISSING_PARAM', `${field} is required`);
  return s;
}

export function reference(b: Body, field: string, max: number): string {
  const s = required(b, field, max);
  if (!/^[\x21-\x7e]+$/.test(s)) throw new KessError(400, 'INVALID_PARAM', `${field} must be printable ASCII without spaces`);
  return s;
}

/** `service_id`: a positive integer (number or digits). */
export function serviceId(b: Body): string {
  const s = required(b, 'service_id', 10);
  if (!/^[1-9]\d{0,8}$/.test(s)) throw new KessError(400, 'INVALID_SERVICE_ID', 'service_id must be a positive integer');
  return s;
}

/** A positive amount with at most the currency's decimals. */
export function amount(b: Body, field: string, currency: Currency): bigint {
  const v = b[field];
  if (v === undefined || v === null || v === '') throw new KessError(400, 'MISSING_PARAM', `${field} is required`);
  let minor: bigint;
  try {
    if (typeof v !== 'string' && typeof v !== 'number') throw new MoneyError('invalid_amount', 'not a number');
    minor = parseAmount(v, currency);
  } catch (e) {
    if (!(e instanceof MoneyError)) throw e;
    const why = e.code === 'too_many_decimals' ? `more decimals than ${currency} allows` : e.code === 'negative' ? 'must not be negative' : e.code === 'too_large' ? 'too large' : 'not a decimal number';
    throw new KessError(400, 'INVALID_AMOUNT', `${field} is invalid: ${why}`);
  }
  if (minor <= 0n) throw new KessError(400, 'INVALID_AMOUNT', `${field} must be greater than zero`);
  return minor;
}

/** `fee_rate` percent (2 = 2 %) → basis points; absent → 0. */
export function feeRateBps(b: Body): bigint {
  const v = b.fee_rate;
  if (v === undefined || v === null || v === '') return 0n;
  if (typeof v !== 'string' && typeof v !== 'number') throw new KessError(400, 'INVALID_FEE_RATE', 'fee_rate must be a percentage between 0 and 100');
  try {
    return parsePercentToBps(v);
  } catch (e) {
    if (e instanceof MoneyError) throw new KessError(400, 'INVALID_FEE_RATE', 'fee_rate must be a percentage between 0 and 100 with at most two decimals');
    throw e;
  }
}

/** The one-time payment code of Quick Pay (digits). */
export function authCode(b: Body): string {
  const s = required(b, 'auth_code', 32);
  if (!/^\d{10,32}$/.test(s)) throw new KessError(400, 'AUTH_CODE_INVALID', 'auth_code must be the digits of the buyer\'s payment code');
  return s;
}

export function storeCurrency(settings: Record<string, any> | undefined): Currency {
  const c = settings?.kesspay?.currency;
  return isCurrency(c) ? c : 'USD';
}

/** service_id → payment scheme. 30 and 2 are the built-in wallet unless the merchant's settings say otherwise. */
export const DEFAULT_SERVICES: Record<string, string> = { '30': 'wallet', '2': 'wallet' };
export function schemeOf(settings: Record<string, any> | undefined, service_id: string): 'wallet' {
  const configured = settings?.kesspay?.services;
  const map: Record<string, unknown> = configured && typeof configured === 'object' ? { ...DEFAULT_SERVICES, ...configured } : DEFAULT_SERVICES;
  const scheme = Object.prototype.hasOwnProperty.call(map, service_id) ? map[service_id] : undefined;
  if (scheme !== 'wallet') throw new KessError(400, 'INVALID_SERVICE_ID', `service_id ${service_id} is not a payment scheme of this store`);
  return scheme;
}

// ---- answers ------------------------------------------------------------------------

export function ok(data: Record<string, unknown>) {
  return { success: true, data };
}

export function fail(code: KessCode, message: string) {
  return { success: false, code, message };
}

/** What the payment costs: the merchant's amount, the buyer's fee_rate surcharge, the total the buyer pays. */
export function amounts(p: PaymentRecord) {
  return {
    fee_amount: money(p.surcharge_minor, p.currency),
    total_amount: money(p.amount_minor + p.surcharge_minor, p.currency),
  };
}

/** Check Payment Status `data`. */
export function paymentStatus(p: PaymentRecord, refunds: RefundRecord[], now: Date) {
  const expired = p.state === 'pending' && p.expires_at !== null && p.expires_at <= now;
  const state = expired ? 'expired' : p.state;
  const paid = state === 'succeeded' || state === 'partially_refunded' || state === 'refunded';
  const last = refunds.length ? refunds[refunds.length - 1]! : null;
  const awaitingPin = state === 'pending' && p.details.kind === 'quick';
  const trade_state = paid ? (state === 'succeeded' ? 'SUCCESS' : 'REFUND') : state === 'pending' ? (awaitingPin ? 'USERPAYING' : 'NOTPAY') : state === 'failed' ? 'PAYERROR' : 'CLOSED';
  return {
    is_success: paid,
    service_id: idOut(String(p.details.service_id ?? '')),
    out_trade_no: p.merchant_ref,
    amount: money(p.amount_minor, p.currency),
    out_refund_no: last?.merchant_ref ?? null,
    currency: p.currency,
    message: paymentMessage(state, p.failure_code, awaitingPin),
    trade_state,
    transaction_id: p.public_ref,
    ...amounts(p),
    refunded_amount: money(p.refunded_minor, p.currency),
    paid_at: p.completed_at && paid ? p.completed_at.toISOString() : null,
  };
}

export function paymentMessage(state: string, failure_code: string | null, awaitingPin: boolean): string {
  switch (state) {
    case 'succeeded':
    case 'partially_refunded':
    case 'refunded':
      return 'Payment Successful!';
    case 'pending':
      return awaitingPin ? 'Waiting for the buyer to confirm with PIN' : 'Waiting for the buyer to pay';
    case 'expired':
      return 'Payment expired';
    case 'cancelled':
      return 'Payment cancelled';
    default:
      if (failure_code === 'declined') return 'Payment declined by the buyer';
      if (failure_code === 'insufficient_funds') return 'Payment failed: insufficient balance';
      if (failure_code === 'auth_code_used') return 'Payment failed: payment code already used';
      return 'Payment failed';
  }
}

/** Check Refund Status `data` for one refund, or for an order without refunds. */
export function refundStatus(p: PaymentRecord, r: RefundRecord | null) {
  return {
    is_success: r !== null && r.state === 'succeeded',
    service_id: idOut(String(p.details.service_id ?? '')),
    out_trade_no: p.merchant_ref,
    amount: r ? money(r.amount_minor, r.currency) : new Dec('0'),
    out_refund_no: r?.merchant_ref ?? null,
    currency: p.currency,
    message: r === null ? 'No refund for this order' : r.state === 'succeeded' ? 'Refund Successful!' : 'Refund failed',
    refund_state: r === null ? 'NOTREFUND' : r.state === 'succeeded' ? 'SUCCESS' : 'FAIL',
    refunded_amount: money(p.refunded_minor, p.currency),
    reason: r?.reason ?? null,
    refunded_at: r ? r.created_at.toISOString() : null,
  };
}
