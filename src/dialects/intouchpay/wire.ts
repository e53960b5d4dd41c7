// IntouchPay wire format (seed 002, API reference v1.2): field parsing, authentication,
// response codes (strings, leading zeros kept) and answer/callback bodies. No business rule
// lives here: amounts go to the core as bigint RWF, money moves only through ctx.payments.
import { createHash } from 'node:crypto';
import { constantTimeEqual } from '../../merchants/secrets.ts';
import type { CredentialRow } from '../../merchants/service.ts';
import { parseAmount } from '../../money/index.ts';
import type { PaymentRecord, PayoutRecord } from '../../payments/model.ts';

export const INTOUCHPAY_DIALECT = 'intouchpay';
export const CURRENCY = 'RWF' as const;

/** Every answer carries `responsecode` as a string; these are the ones Paygate sends. */
export const CODES = {
  pending: '1000',
  success: '01',
  missingUsername: '0002',
  missingPassword: '0003',
  missingDate: '0004',
  invalidPassword: '0005',
  noAccount: '0006',
  noSuchUser: '0007',
  authFailed: '0008',
  amountNotPositive: '2100',
  belowMin: '2200',
  aboveMax: '2300',
  duplicate: '2400',
  routeNotFound: '2500',
  failedToComplete: '2700',
  insufficientFunds: '1005',
  notOnMobileMoney: '1002',
  generalFailure: '1008',
  invalidNumber: '1200',
  unsupportedNetwork: '1100',
  unknownException: '1300',
  // requestdeposit
  depositSuccess: '2001',
  depositBadRequest: '1100',
  depositServiceId: '1101',
  depositInvalidPhone: '1102',
  depositAboveMax: '1103',
  depositBelowMin: '1104',
  depositNetwork: '1105',
  depositShortBalance: '1108',
  depositDuplicate: '1110',
  depositNoAccount: '2105',
  depositAmountFormat: '2107',
  // gettransactionstatus
  missingTransactionId: '3000',
  noSuchTransaction: '3100',
  missingRequestTransactionId: '3200',
} as const;

/** A failed answer: `{"success":false,"responsecode":"....","message":"..."}` with an HTTP 4xx. */
export class IntouchError extends Error {
  constructor(
    readonly http_status: number,
    readonly responsecode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
  body(): Record<string, unknown> {
    return { ...this.extra, success: false, responsecode: this.responsecode, message: this.message };
  }
}

export const LIMITS = {
  username_max: 64,
  accountno_max: 32,
  requesttransactionid_max: 50,
  callbackurl_max: 2048,
  reason_max: 200,
  sid_max: 32,
};

/** Request fields: form or JSON body; numbers become their decimal text. */
export type Fields = Record<string, string | undefined>;

export function readFields(body: unknown): Fields {
  const out: Fields = {};
  if (!body || typeof body !== 'object' || Array.isArray(body)) return out;
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    const key = k.trim().toLowerCase();
    if (key.length > 40) continue;
    if (typeof v === 'string') out[key] = v.trim();
    else if (typeof v === 'number' && Number.isFinite(v)) out[key] = String(v);
    else if (typeof v === 'boolean') out[key] = v ? '1' : '0';
  }
  return out;
}

// ---- authentication -----------------------------------------------------------------------

/** Timestamps are accepted within this many seconds of the gateway clock, either way. */
export const DEFAULT_TIMESTAMP_WINDOW_S = 300;

/** UTC `yyyymmddhhmmss` → Date, or null when malformed or not a real date. */
export function parseTimestamp(ts: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(ts);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d || t.getUTCHours() !== h || t.getUTCMinutes() !== mi || t.getUTCSeconds() !== s) return null;
  return t;
}

/** Lowercase hex SHA-256 of username + accountno + partner password + timestamp. */
export function intouchPassword(username: string, accountno: string, partner_password: string, timestamp: string): string {
  return createHash('sha256').update(username + accountno + partner_password + timestamp, 'utf8').digest('hex');
}

export interface AuthDeps {
  credential(username: string): Promise<CredentialRow | null>;
  plainSecret(c: CredentialRow): string;
  now(): Date;
  window_s: number;
}

/**
 * Checks the four authentication fields; the order of checks decides the code:
 * 0002 username, 0003 password, 0004 timestamp missing or malformed, 0006 accountno missing,
 * 0007 unknown username, 0006 accountno not this user's, 0008 timestamp outside the window,
 * 0005 wrong password (constant-time compare).
 */
export async function authenticate(f: Fields, deps: AuthDeps): Promise<CredentialRow> {
  const username = f.username ?? '';
  const password = (f.password ?? '').toLowerCase();
  const timestamp = f.timestamp ?? '';
  const accountno = f.accountno ?? '';
  if (!username) throw new IntouchError(401, CODES.missingUsername, 'Missing username');
  if (!password) throw new IntouchError(401, CODES.missingPassword, 'Missing password');
  if (!timestamp) throw new IntouchError(401, CODES.missingDate, 'Missing timestamp (UTC yyyymmddhhmmss)');
  const at = parseTimestamp(timestamp);
  if (!at) throw new IntouchError(401, CODES.missingDate, 'Invalid timestamp: expected UTC yyyymmddhhmmss');
  if (!accountno) throw new IntouchError(401, CODES.noAccount, 'Missing accountno: no IntouchPay account given');
  const cred = username.length <= LIMITS.username_max ? await deps.credential(username) : null;
  if (!cred) throw new IntouchError(401, CODES.noSuchUser, 'No such user');
  if (!constantTimeEqual(accountno, String(cred.extra.accountno ?? ''))) throw new IntouchError(401, CODES.noAccount, 'No IntouchPay account with this accountno for this user');
  if (Math.abs(deps.now().getTime() - at.getTime()) > deps.window_s * 1000) {
    throw new IntouchError(401, CODES.authFailed, `Failed to authenticate: timestamp is more than ${deps.window_s} seconds from the server time (UTC)`);
  }
  const want = intouchPassword(username, String(cred.extra.accountno), deps.plainSecret(cred), timestamp);
  if (!constantTimeEqual(password, want)) throw new IntouchError(401, CODES.invalidPassword, 'Invalid password');
  return cred;
}

// ---- field parsers ------------------------------------------------------------------------

export interface AmountLimits {
  min_minor: bigint;
  max_minor: bigint;
}

/** Whole RWF amount. Codes: 2100 missing/invalid/≤ 0, 2200 below min, 2300 above max. */
export function parsePaymentAmount(v: string | undefined, lim: AmountLimits): bigint {
  let amount: bigint;
  try {
    if (v === undefined || v === '') throw new Error('missing');
    amount = parseAmount(v, CURRENCY, { whole: true });
  } catch {
    throw new IntouchError(400, CODES.amountNotPositive, 'Amount must be a whole number greater than 0');
  }
  if (amount <= 0n) throw new IntouchError(400, CODES.amountNotPositive, 'Amount must be greater than 0');
  if (amount < lim.min_minor) throw new IntouchError(400, CODES.belowMin, `Amount is below the minimum of ${lim.min_minor} RWF`);
  if (amount > lim.max_minor) throw new IntouchError(400, CODES.aboveMax, `Amount is above the maximum of ${lim.max_minor} RWF`);
  return amount;
}

/** Deposit amount. Codes: 2107 invalid format, 1104 below min, 1103 above max. */
export function parseDepositAmount(v: string | undefined, lim: AmountLimits, extra: Record<string, unknown>): bigint {
  let amount: bigint;
  try {
    if (v === undefined || v === '') throw new Error('missing');
    amount = parseAmount(v, CURRENCY, { whole: true });
  } catch {
    throw new IntouchError(400, CODES.depositAmountFormat, 'Invalid amount format: expected a whole number of RWF', extra);
  }
  if (amount < lim.min_minor) throw new IntouchError(400, CODES.depositBelowMin, `Amount is below the minimum of ${lim.min_minor} RWF`, extra);
  if (amount > lim.max_minor) throw new IntouchError(400, CODES.depositAboveMax, `Amount is above the maximum of ${lim.max_minor} RWF`, extra);
  return amount;
}

export type PhoneCheck = { ok: true; phone: string } | { ok: false; reason: 'invalid' | 'unsupported' };

/**
 * IntouchPay serves Rwandan mobile numbers: `2507XXXXXXXX` (12 digits), a leading `+`
 * accepted (E.164). A well-formed number of another country or prefix is "not supported on
 * this network"; anything else is invalid.
 */
export function checkPhone(v: string | undefined, networkOf: (p: string) => string | null): PhoneCheck {
  const s = (v ?? '').replace(/^\+/, '');
  if (!/^[1-9]\d{7,14}$/.test(s)) return { ok: false, reason: 'invalid' };
  if (s.startsWith('250')) {
    if (s.length !== 12) return { ok: false, reason: 'invalid' };
    return s.startsWith('2507') && networkOf(s) ? { ok: true, phone: s } : { ok: false, reason: 'unsupported' };
  }
  return { ok: false, reason: 'unsupported' };
}

/** Printable ASCII without spaces, 1–50 characters. */
export function validRequestId(v: string | undefined): v is string {
  return typeof v === 'string' && v.length >= 1 && v.length <= LIMITS.requesttransactionid_max && /^[\x21-\x7e]+$/.test(v);
}

// ---- answers ------------------------------------------------------------------------------

export function pendingAnswer(requesttransactionid: string, p: PaymentRecord) {
  return { status: 'Pending', requesttransactionid, success: true, responsecode: CODES.pending, transactionid: p.public_ref, message: 'Transaction Pending' };
}

/** Final outcome of a payment on the wire (status answer and callback share it). */
export interface Outcome {
  success: boolean;
  responsecode: string;
  status: 'Pending' | 'Successfull' | 'Failed';
  message: string;
  statusdesc: string;
}

/**
 * Payment state → code. The reference has no code for a declined or expired request:
 * Paygate answers 2700 ("failed to complete") for both, with a statusdesc telling which.
 */
export function paymentOutcome(p: PaymentRecord): Outcome {
  switch (p.state) {
    case 'pending':
      return { success: true, responsecode: CODES.pending, status: 'Pending', message: 'Transaction Pending', statusdesc: 'Awaiting subscriber confirmation' };
    case 'succeeded':
    case 'partially_refunded':
    case 'refunded':
      return { success: true, responsecode: CODES.success, status: 'Successfull', message: 'Transaction Successful', statusdesc: 'Successfully Processed Transaction' };
    default: {
      if (p.failure_code === 'insufficient_funds') {
        return { success: false, responsecode: CODES.insufficientFunds, status: 'Failed', message: 'Insufficient funds', statusdesc: 'Insufficient funds on the subscriber account' };
      }
      const desc = p.failure_code === 'declined' ? 'Transaction declined by the subscriber'
        : p.state === 'expired' || p.failure_code === 'expired' ? 'Transaction expired: the subscriber did not confirm in time'
        : 'Failed to complete transaction';
      return { success: false, responsecode: CODES.failedToComplete, status: 'Failed', message: desc, statusdesc: desc };
    }
  }
}

export function payoutOutcome(po: PayoutRecord): Outcome {
  if (po.state === 'succeeded') return { success: true, responsecode: CODES.success, status: 'Successfull', message: 'Transaction Successful', statusdesc: 'Successfully Processed Transaction' };
  if (po.state === 'pending') return { success: true, responsecode: CODES.pending, status: 'Pending', message: 'Transaction Pending', statusdesc: 'Transaction Pending' };
  return { success: false, responsecode: CODES.depositShortBalance, status: 'Failed', message: 'Insufficient account balance', statusdesc: 'Insufficient account balance' };
}

export function statusAnswer(o: Outcome) {
  return { success: o.success, responsecode: o.responsecode, status: o.status, message: o.message };
}

/** `{"jsonpayload":{...}}`: the callback body, built once and sent byte-identical on every attempt. */
export function paymentCallbackBody(p: PaymentRecord): string {
  const o = paymentOutcome(p);
  return JSON.stringify({
    jsonpayload: {
      requesttransactionid: p.merchant_ref ?? '',
      transactionid: p.public_ref,
      responsecode: o.responsecode,
      status: o.status,
      statusdesc: o.statusdesc,
      referenceno: p.id,
    },
  });
}

export function payoutCallbackBody(po: PayoutRecord): string {
  const o = payoutOutcome(po);
  return JSON.stringify({
    jsonpayload: {
      requesttransactionid: po.merchant_ref,
      transactionid: po.id,
      responsecode: po.state === 'succeeded' ? CODES.depositSuccess : o.responsecode,
      status: o.status,
      statusdesc: o.statusdesc,
      referenceno: po.id,
    },
  });
}
