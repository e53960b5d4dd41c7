// ibous wire ⇄ core. Everything here is translation: reading the seed's parameters (query
// string, JSON body or form body, keys and values with stray spaces) and building the seed's
// answers from core records. No business rule lives here.
import type { FastifyRequest } from 'fastify';
import { type Currency, isCurrency, MoneyError, parseAmount, toWholeMajor } from '../../money/index.ts';
import type { PaymentRecord, RefundRecord } from '../../payments/model.ts';
import { IbousError } from './errors.ts';

/** QR module sizes in pixels the seed accepts ("accept value: 4,6,8, 10"). */
export const QRCODE_SIZES = ['4', '6', '8', '10'] as const;
export const DEFAULT_CURRENCY: Currency = 'HTG';
export const ITEM_MAX_CHARS = 100;
/** Longest hold of a PaymentProcess long-poll (`wait_ms`). */
export const WAIT_MAX_MS = 30_000;
/** Bound on the number of parameters read from one request. */
export const MAX_PARAMS = 50;
const VALUE_MAX_CHARS = 1_000;

export type Params = Record<string, string>;

/**
 * The request's parameters from the query string and the body (JSON or form), body winning.
 * Keys and values are trimmed ("payment_id " → "payment_id"); JSON numbers become their text.
 */
export function readParams(req: FastifyRequest): Params {
  const out: Params = {};
  const fromQuery = takeParams(out, req.query, 0);
  takeParams(out, req.body, fromQuery); // the body wins, and the limit counts both
  return out;
}

/** Adds src's parameters to out; answers how many were read in all. Module-level, not a closure: it runs on every ibous request. */
function takeParams(out: Params, src: unknown, count: number): number {
  if (!src || typeof src !== 'object' || Array.isArray(src)) return count;
  for (const rawKey in src as Record<string, unknown>) {
    if (!Object.hasOwn(src, rawKey)) continue;
    const rawVal = (src as Record<string, unknown>)[rawKey];
    if (++count > MAX_PARAMS) throw new IbousError(400, `too many parameters (at most ${MAX_PARAMS})`);
    const key = rawKey.trim().toLowerCase();
    if (!key) continue;
    let val: string;
    if (typeof rawVal === 'string') val = rawVal.trim();
    else if (typeof rawVal === 'number' && Number.isFinite(rawVal)) val = String(rawVal);
    else if (rawVal === null || rawVal === undefined) continue;
    else throw new IbousError(400, `${key} must be a single text or number value`);
    if (val.length > VALUE_MAX_CHARS) throw new IbousError(400, `${key} is too long`);
    out[key] = val;
  }
  return count;
}

/** API-TOKEN-KEY / API-TOKEN-SECRET from the raw headers, names and values trimmed. */
export function readCredentials(req: FastifyRequest): { key: string; secret: string } {
  let key = '';
  let secret = '';
  const raw = req.raw.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.trim().toLowerCase();
    if (name === 'api-token-key') key = raw[i + 1]!.trim();
    else if (name === 'api-token-secret') secret = raw[i + 1]!.trim();
  }
  if (!key || !secret) throw new IbousError(401, 'Missing API-TOKEN-KEY or API-TOKEN-SECRET header');
  if (key.length > 128 || secret.length > 256) throw new IbousError(401, 'Invalid API-TOKEN-KEY or API-TOKEN-SECRET');
  return { key, secret };
}

export interface QrRequest {
  qrcode_size: (typeof QRCODE_SIZES)[number];
  amount_minor: bigint;
  currency: Currency;
  item: string;
}

export function parseQrRequest(p: Params, acceptedCurrencies: readonly string[] | null): QrRequest {
  const size = p.qrcode_size;
  if (size === undefined || size === '') throw new IbousError(400, 'qrcode_size is required (4, 6, 8 or 10)');
  if (!(QRCODE_SIZES as readonly string[]).includes(size)) throw new IbousError(400, 'qrcode_size must be 4, 6, 8 or 10');
  const currencyText = (p.currency || DEFAULT_CURRENCY).toUpperCase();
  if (!/^[A-Z]{3}$/.test(currencyText) || !isCurrency(currencyText)) throw new IbousError(400, 'currency must be an ISO 4217 code, e.g. HTG');
  if (acceptedCurrencies && !acceptedCurrencies.includes(currencyText)) throw new IbousError(400, `currency ${currencyText} is not accepted for this account`);
  const currency = currencyText;
  if (p.amount === undefined || p.amount === '') throw new IbousError(400, 'amount is required');
  let amount_minor: bigint;
  try {
    amount_minor = parseAmount(p.amount, currency, { whole: true });
  } catch (e) {
    const code = e instanceof MoneyError ? e.code : 'invalid_amount';
    throw new IbousError(400, code === 'not_whole' || code === 'too_many_decimals' ? `amount must be a whole number of ${currency}` : `amount must be a whole positive number (${(e as Error).message})`);
  }
  if (amount_minor <= 0n) throw new IbousError(400, 'amount must be greater than zero');
  const item = p.item ?? '';
  if (!item) throw new IbousError(400, 'item is required');
  if ([...item].length > ITEM_MAX_CHARS) throw new IbousError(400, `item must be at most ${ITEM_MAX_CHARS} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(item)) throw new IbousError(400, 'item must not contain control characters');
  return { qrcode_size: size as QrRequest['qrcode_size'], amount_minor, currency, item };
}

/** A numeric id parameter (qrcode_id, payment_id). */
export function parseId(p: Params, name: string, fallback?: string): string {
  const v = p[name] ?? (fallback ? p[fallback] : undefined);
  if (v === undefined || v === '') throw new IbousError(400, `${name} is required`);
  if (!/^\d{1,18}$/.test(v)) throw new IbousError(400, `${name} must be a number`);
  return v.replace(/^0+(?=\d)/, '');
}

export function parseWait(p: Params): number {
  const v = p.wait_ms;
  if (v === undefined || v === '') return 0;
  if (!/^\d{1,5}$/.test(v) || Number(v) > WAIT_MAX_MS) throw new IbousError(400, `wait_ms must be a whole number of milliseconds from 0 to ${WAIT_MAX_MS}`);
  return Number(v);
}

/** Seed payment status: "1" pending, "2" paid (also once refunded: it was paid), "3" failed/expired/cancelled. */
export function paymentStatus(p: PaymentRecord, now: Date): '1' | '2' | '3' {
  switch (p.state) {
    case 'pending':
      // The sweeper expires it within a second; answer the truth at once.
      return p.expires_at && p.expires_at <= now ? '3' : '1';
    case 'succeeded':
    case 'partially_refunded':
    case 'refunded':
      return '2';
    default:
      return '3';
  }
}

export function qrCreatedAnswer(p: PaymentRecord, qrcode_img: string) {
  return { error: false, status: 'QRcode Payment generated successfully', qrcode_img, qrcode_id: p.id };
}

export function processAnswer(p: PaymentRecord, now: Date) {
  const s = paymentStatus(p, now);
  if (s === '1') return { error: true, payment: { status: '1' }, status: 'Payment Pending' };
  if (s === '3') return { error: true, payment: { status: '3' }, status: 'Payment Failed' };
  return {
    error: false,
    payment: {
      status: '2',
      id: p.id,
      user: p.payer_name ?? '',
      item: String(p.details.item ?? p.description ?? ''),
      amount: toWholeMajor(p.amount_minor, p.currency),
      currency: p.currency,
    },
    status: 'Successful Payment!',
  };
}

export function refundAnswer(p: PaymentRecord, r: RefundRecord, merchantName: string) {
  return {
    error: false,
    transaction: {
      status: '1',
      user_sender: merchantName,
      user_recipient: p.payer_name ?? '',
      type: 'Payment Refund',
      amount: toWholeMajor(r.amount_minor, r.currency),
      currency: r.currency,
      // The refund gives back the whole amount; no fee is charged on it.
      fees: '0',
      system: 'ibous',
      date_time: String(Math.floor(r.created_at.getTime() / 1000)),
    },
    status: 'Payment refund successfully',
  };
}

/** The seed's failed-refund shape (error false, transaction.status "0"), with the reason appended. */
export function refundFailedAnswer(reason: string) {
  return { error: false, transaction: { status: '0' }, status: ` Process failed: ${reason}` };
}
