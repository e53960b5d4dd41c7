import { toDecimalAmount, type Amount } from '../core/amount.ts';
import { ProviderError, ValidationError } from '../core/errors.ts';
import { HttpTransport, type CallOptions, type ClientOptions, type HttpAnswer } from '../core/http.ts';
import { JsonNumber, asBool, asString, isObject, stringifyJson, type JsonInput, type JsonObject } from '../core/json.ts';
import { requireString, sleep } from '../core/util.ts';

/**
 * KessPay's legacy "Alipay & WeChat" API names operations, not paths. These are Paygate's
 * paths (POST, JSON); override them with what your KessPay account manager gave you.
 */
export interface KessPayPaths {
  token: string;
  nativePay: string;
  quickPay: string;
  jsapiPay: string;
  refund: string;
  checkPayment: string;
  checkRefund: string;
}

export const KESSPAY_DEFAULT_PATHS: Readonly<KessPayPaths> = {
  token: '/kesspay/api/token',
  nativePay: '/kesspay/api/native-pay',
  quickPay: '/kesspay/api/quick-pay',
  jsapiPay: '/kesspay/api/jsapi-pay',
  refund: '/kesspay/api/refund',
  checkPayment: '/kesspay/api/check-payment',
  checkRefund: '/kesspay/api/check-refund',
};

export interface KessPayClientOptions extends ClientOptions {
  /** "Get API token" `user`. */
  user: string;
  /** "Get API token" `password`. */
  password: string;
  paths?: Partial<KessPayPaths>;
  /** Token lifetime assumed when the JWT carries no `exp`. Default 60 000 (one minute). */
  token_ttl_ms?: number;
  /** Refresh the token this long before it expires. Default 10 000. */
  token_refresh_margin_ms?: number;
  /** Clock in ms (tests). Default Date.now. */
  now?: () => number;
}

/** Store / sub-store ids appear as strings ("123**") and numbers (109038) in the seed: sent as given. */
export type KessId = string | number;

export interface KessPayOrderInput {
  /** Payment scheme: 2 = Alipay, 30 = WeChat Pay in KessPay's docs. */
  service_id: number | string;
  store_id: KessId;
  sub_store_id?: KessId;
  sub_store_name?: string;
  /** Decimal USD ("0.01") or cents as bigint (1n). Sent as the JSON number 0.01, exactly. */
  amount: Amount;
  /** Buyer over-charge in percent (2 = 2% on top of amount). */
  fee_rate?: number | string;
  /** Merchant order number, unique per store. */
  out_trade_no: string;
}

export interface QuickPayInput extends KessPayOrderInput {
  /** The buyer's one-time payment code, scanned by the merchant. Digits; keep it a string. */
  auth_code: string;
}

export interface JsapiPayInput extends KessPayOrderInput {
  auth_code?: string;
}

export interface RefundInput {
  service_id: number | string;
  store_id: KessId;
  /** Decimal USD or cents as bigint. */
  refund_amount: Amount;
  out_trade_no: string;
  /** Merchant refund number, unique per refund. */
  out_refund_no: string;
  reason?: string;
}

export interface CheckInput {
  store_id: KessId;
  out_trade_no: string;
}

export interface CheckRefundInput extends CheckInput {
  /** Not in the seed's request; sent only when given, to pick one of several refunds. */
  out_refund_no?: string;
}

/** `data` of a KessPay answer, numbers kept as their literal strings ("0.01", "30"). */
export interface KessPayData extends JsonObject {}

export interface KessPayPayResult {
  result_code: string;
  out_trade_no: string | undefined;
  /** Amount as a decimal string exactly as sent ("0.01"). */
  amount: string | undefined;
  currency: string | undefined;
  transaction_id: string | undefined;
  /** Native Pay: the code to render as a QR image. */
  qr_code: string | undefined;
  data: KessPayData;
  raw: JsonObject;
}

export interface KessPayCheckResult {
  is_success: boolean;
  message: string | undefined;
  service_id: string | undefined;
  out_trade_no: string | undefined;
  out_refund_no: string | undefined;
  amount: string | undefined;
  currency: string | undefined;
  data: KessPayData;
  raw: JsonObject;
}

export interface QuickPayOptions extends CallOptions {
  /** How often to call checkPayment while the buyer enters the PIN. Default 3 000 (seed). */
  confirm_interval_ms?: number;
  /** How long to keep confirming. Default 45 000 (seed). */
  confirm_timeout_ms?: number;
}

export interface QuickPayResult {
  /**
   * "success": paid (at once, or confirmed by checkPayment while the buyer entered a PIN).
   * "timeout": the buyer did not confirm within `confirm_timeout_ms`; check again or refund.
   */
  outcome: 'success' | 'timeout';
  /** The Quick Pay answer (result_code "SUCCESS" or "USERPAYING"). */
  pay: KessPayPayResult;
  /** The last checkPayment answer, when confirmation was needed. */
  check?: KessPayCheckResult;
}

const RESULT_SUCCESS = 'SUCCESS';
const RESULT_USERPAYING = 'USERPAYING';

function decodeJwtExpMs(token: string): number | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const payload: unknown = JSON.parse(atob(b64));
    if (isObject(payload) && typeof (payload as Record<string, unknown>).exp === 'number') {
      return ((payload as Record<string, unknown>).exp as number) * 1000;
    }
  } catch {
    /* not a JWT we can read: fall back to the TTL */
  }
  return undefined;
}

function idValue(v: unknown, field: string): string | JsonNumber {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new ValidationError(field, 'must be a non-negative integer');
    return new JsonNumber(String(v));
  }
  return requireString(v, field);
}

function intLiteral(v: unknown, field: string): JsonNumber {
  const s = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v;
  if (typeof s !== 'string' || !/^(0|[1-9]\d*)$/.test(s)) throw new ValidationError(field, 'must be an integer');
  return new JsonNumber(s);
}

function decimalLiteral(v: unknown, field: string): JsonNumber {
  const s = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v;
  if (typeof s !== 'string' || !/^(0|[1-9]\d*)(\.\d+)?$/.test(s)) throw new ValidationError(field, 'must be a decimal');
  return new JsonNumber(s);
}

const s = asString;

export class KessPayClient {
  readonly http: HttpTransport;
  readonly paths: KessPayPaths;
  private readonly user: string;
  private readonly password: string;
  private readonly ttlMs: number;
  private readonly marginMs: number;
  private readonly now: () => number;
  private token: { value: string; expiresAt: number } | undefined;
  private tokenInFlight: Promise<string> | undefined;

  constructor(opts: KessPayClientOptions) {
    this.http = new HttpTransport('kesspay', opts);
    this.user = requireString(opts.user, 'user');
    this.password = requireString(opts.password, 'password');
    this.paths = { ...KESSPAY_DEFAULT_PATHS, ...(opts.paths ?? {}) };
    this.ttlMs = opts.token_ttl_ms ?? 60_000;
    this.marginMs = opts.token_refresh_margin_ms ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  private error(operation: string, answer: HttpAnswer, json: JsonObject | undefined): ProviderError {
    const data = json && isObject(json.data) ? json.data : undefined;
    const err = json && isObject(json.error) ? json.error : undefined;
    const code =
      s(data?.result_code) ?? s(err?.code) ?? s(json?.code) ?? s(json?.status) ?? (answer.status >= 400 ? `http_${answer.status}` : undefined);
    const message =
      s(data?.message) ?? s(err?.message) ?? s(json?.message) ?? s(json?.msg) ?? s(json?.error) ?? `HTTP ${answer.status}`;
    return new ProviderError({
      provider: 'kesspay',
      operation,
      code,
      message,
      httpStatus: answer.status,
      rawBody: answer.text,
      body: answer.json,
    });
  }

  /** Forget the cached token (the next call fetches a new one). */
  clearToken(): void {
    this.token = undefined;
  }

  /**
   * "Get API token": returns a cached token while it is valid for more than the refresh
   * margin, otherwise fetches one (concurrent callers share the request).
   */
  async getToken(opts: CallOptions & { force?: boolean } = {}): Promise<string> {
    if (!opts.force && this.token && this.now() < this.token.expiresAt - this.marginMs) return this.token.value;
    if (!this.tokenInFlight) {
      this.tokenInFlight = this.fetchToken(opts).finally(() => {
        this.tokenInFlight = undefined;
      });
    }
    return this.tokenInFlight;
  }

  private async fetchToken(call: CallOptions): Promise<string> {
    const fetchedAt = this.now();
    const answer = await this.http.send(
      {
        operation: 'token',
        method: 'POST',
        path: this.paths.token,
        headers: { 'content-type': 'application/json' },
        body: stringifyJson({ user: this.user, password: this.password }),
        idempotent: true,
      },
      call,
    );
    const json = isObject(answer.json) ? answer.json : undefined;
    let token: string | undefined;
    if (json && asBool(json.success) === true && isObject(json.data)) token = s(json.data.token);
    // older generation of the API: {"status":"SUCCESS","msg":"<jwt>"}
    if (!token && json && s(json.status) === 'SUCCESS') token = s(json.msg);
    if (!token || answer.status >= 400) throw this.error('token', answer, json);
    const exp = decodeJwtExpMs(token);
    const ttlEnd = fetchedAt + this.ttlMs;
    this.token = { value: token, expiresAt: exp !== undefined ? Math.min(exp, ttlEnd) : ttlEnd };
    return token;
  }

  private static looksLikeExpiredToken(answer: HttpAnswer): boolean {
    if (answer.status === 401) return true;
    const json = answer.json;
    if (!isObject(json) || asBool(json.success) === true) return false;
    const text = [json.message, json.msg, json.error, json.code, json.status, isObject(json.error) ? json.error.message : undefined]
      .map((v) => s(v) ?? '')
      .join(' ')
      .toLowerCase();
    return /token/.test(text) && /(expire|invalid|unauthori[sz]ed|unauthenticated)/.test(text);
  }

  /** POST with the Bearer token; on an expired-token answer, refresh the token and retry once. */
  private async authed(
    operation: Exclude<keyof KessPayPaths, 'token'>,
    body: Record<string, JsonInput>,
    idempotent: boolean,
    call: CallOptions,
  ): Promise<{ answer: HttpAnswer; json: JsonObject; data: KessPayData }> {
    let answer: HttpAnswer | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const token = await this.getToken({ ...call, force: attempt > 0 });
      answer = await this.http.send(
        {
          operation,
          method: 'POST',
          path: this.paths[operation],
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: stringifyJson(body),
          idempotent,
        },
        call,
      );
      if (!KessPayClient.looksLikeExpiredToken(answer)) break;
      this.token = undefined;
    }
    const a = answer!;
    const json = isObject(a.json) ? a.json : undefined;
    if (!json || asBool(json.success) !== true || !isObject(json.data) || a.status >= 400) throw this.error(operation, a, json);
    return { answer: a, json, data: json.data };
  }

  private orderBody(input: KessPayOrderInput & { auth_code?: string }, withAuthCode: boolean): Record<string, JsonInput> {
    const body: Record<string, JsonInput> = {
      service_id: intLiteral(input.service_id, 'service_id'),
      store_id: idValue(input.store_id, 'store_id'),
      sub_store_id: input.sub_store_id === undefined ? undefined : idValue(input.sub_store_id, 'sub_store_id'),
      sub_store_name: input.sub_store_name,
      amount: new JsonNumber(toDecimalAmount(input.amount, 'amount', { currency: 'USD' })),
      fee_rate: input.fee_rate === undefined ? undefined : decimalLiteral(input.fee_rate, 'fee_rate'),
      out_trade_no: requireString(input.out_trade_no, 'out_trade_no'),
    };
    if (withAuthCode && input.auth_code !== undefined) {
      body.auth_code = requireString(input.auth_code, 'auth_code', { pattern: /^\d+$/ });
    }
    return body;
  }

  private payResult(operation: string, answer: HttpAnswer, json: JsonObject, data: KessPayData, accepted: string[]): KessPayPayResult {
    const result_code = s(data.result_code);
    if (result_code === undefined || !accepted.includes(result_code)) throw this.error(operation, answer, json);
    return {
      result_code,
      out_trade_no: s(data.out_trade_no),
      amount: s(data.amount),
      currency: s(data.currency),
      transaction_id: s(data.transaction_id),
      qr_code: s(data.qr_code),
      data,
      raw: json,
    };
  }

  private checkResult(json: JsonObject, data: KessPayData): KessPayCheckResult {
    return {
      is_success: asBool(data.is_success) === true,
      message: s(data.message),
      service_id: s(data.service_id),
      out_trade_no: s(data.out_trade_no),
      out_refund_no: s(data.out_refund_no),
      amount: s(data.amount),
      currency: s(data.currency),
      data,
      raw: json,
    };
  }

  /** Native Pay: a dynamic QR code (`qr_code`) for the buyer to scan. */
  async nativePay(input: KessPayOrderInput, call: CallOptions = {}): Promise<KessPayPayResult> {
    const body = this.orderBody(input, false);
    const { answer, json, data } = await this.authed('nativePay', body, false, call);
    return this.payResult('nativePay', answer, json, data, [RESULT_SUCCESS]);
  }

  /**
   * Quick Pay: charge the buyer's payment code. When the buyer must confirm with a PIN
   * (`result_code` "USERPAYING"), calls checkPayment every `confirm_interval_ms` (3 s) for up
   * to `confirm_timeout_ms` (45 s) until it reports success.
   */
  async quickPay(input: QuickPayInput, opts: QuickPayOptions = {}): Promise<QuickPayResult> {
    const body = this.orderBody(input, true);
    if (body.auth_code === undefined) throw new ValidationError('auth_code', 'required for Quick Pay');
    const call: CallOptions = {};
    if (opts.signal) call.signal = opts.signal;
    if (opts.timeout_ms !== undefined) call.timeout_ms = opts.timeout_ms;
    const { answer, json, data } = await this.authed('quickPay', body, false, call);
    const pay = this.payResult('quickPay', answer, json, data, [RESULT_SUCCESS, RESULT_USERPAYING]);
    if (pay.result_code === RESULT_SUCCESS) return { outcome: 'success', pay };
    const interval = opts.confirm_interval_ms ?? 3_000;
    const deadline = this.now() + (opts.confirm_timeout_ms ?? 45_000);
    let check: KessPayCheckResult | undefined;
    while (this.now() < deadline) {
      await sleep(Math.min(interval, Math.max(0, deadline - this.now())), opts.signal);
      check = await this.checkPayment({ store_id: input.store_id, out_trade_no: input.out_trade_no }, call);
      if (check.is_success) return { outcome: 'success', pay, check };
    }
    const result: QuickPayResult = { outcome: 'timeout', pay };
    if (check) result.check = check;
    return result;
  }

  /** JSAPI Pay: in-app payment. */
  async jsapiPay(input: JsapiPayInput, call: CallOptions = {}): Promise<KessPayPayResult> {
    const body = this.orderBody(input, true);
    const { answer, json, data } = await this.authed('jsapiPay', body, false, call);
    return this.payResult('jsapiPay', answer, json, data, [RESULT_SUCCESS]);
  }

  /** Refund to buyer. */
  async refund(input: RefundInput, call: CallOptions = {}): Promise<KessPayPayResult> {
    const body: Record<string, JsonInput> = {
      service_id: intLiteral(input.service_id, 'service_id'),
      store_id: idValue(input.store_id, 'store_id'),
      refund_amount: new JsonNumber(toDecimalAmount(input.refund_amount, 'refund_amount', { currency: 'USD' })),
      out_trade_no: requireString(input.out_trade_no, 'out_trade_no'),
      out_refund_no: requireString(input.out_refund_no, 'out_refund_no'),
      reason: input.reason,
    };
    const { answer, json, data } = await this.authed('refund', body, false, call);
    const r = this.payResult('refund', answer, json, data, [RESULT_SUCCESS]);
    if (r.amount === undefined) r.amount = s(data.refund_amount);
    return r;
  }

  /** Check payment status: `is_success` true once paid. */
  async checkPayment(input: CheckInput, call: CallOptions = {}): Promise<KessPayCheckResult> {
    const body = { store_id: idValue(input.store_id, 'store_id'), out_trade_no: requireString(input.out_trade_no, 'out_trade_no') };
    const { json, data } = await this.authed('checkPayment', body, true, call);
    return this.checkResult(json, data);
  }

  /** Check refund status: `is_success` true once refunded. */
  async checkRefund(input: CheckRefundInput, call: CallOptions = {}): Promise<KessPayCheckResult> {
    const body = {
      store_id: idValue(input.store_id, 'store_id'),
      out_trade_no: requireString(input.out_trade_no, 'out_trade_no'),
      out_refund_no: input.out_refund_no === undefined ? undefined : requireString(input.out_refund_no, 'out_refund_no'),
    };
    const { json, data } = await this.authed('checkRefund', body, true, call);
    return this.checkResult(json, data);
  }
}
