import { toDecimalAmount, type Amount } from '../core/amount.ts';
import { ProviderError, ValidationError } from '../core/errors.ts';
import { HttpTransport, type CallOptions, type ClientOptions, type HttpAnswer } from '../core/http.ts';
import { JsonNumber, asString, isObject, parseJsonLossless, stringifyJson, type JsonInput, type JsonObject } from '../core/json.ts';
import { joinUrl, optionalString, requireString } from '../core/util.ts';

export interface FlexPayPaths {
  /** Card, JSON generation (on the card host). */
  cardPay: string;
  /** Card, legacy browser form post (on the card host). */
  legacyPay: string;
  mobilePay: string;
  payout: string;
  /** `{orderNumber}` is replaced (URL-encoded). */
  check: string;
}

export const FLEXPAY_DEFAULT_PATHS: Readonly<FlexPayPaths> = {
  cardPay: '/v1.1/pay',
  legacyPay: '/v1/pay',
  mobilePay: '/api/rest/v1/paymentService',
  payout: '/api/rest/v1/merchantPayOutService',
  check: '/api/rest/v1/check/{orderNumber}',
};

export interface FlexPayClientOptions extends ClientOptions {
  /** The authorization token (sent as `Authorization: Bearer <token>`, and in the card body). */
  token: string;
  /** Your FlexPay merchant code, e.g. "ZANDO". */
  merchant: string;
  /**
   * FlexPay serves cards from a separate host (cardpayment.<...>.cd). Default: `baseUrl`
   * (Paygate serves both on one address).
   */
  cardBaseUrl?: string;
  paths?: Partial<FlexPayPaths>;
}

export type FlexPayCurrency = 'CDF' | 'USD';

export interface CardPayInput {
  /** Your transaction reference, at most 25 characters. */
  reference: string;
  /** Decimal string ("100", "12.50") or minor units as bigint. */
  amount: Amount;
  currency: FlexPayCurrency;
  description?: string;
  callback_url?: string;
  approve_url?: string;
  cancel_url?: string;
  decline_url?: string;
  home_url?: string;
}

export interface CardPayResult {
  code: '0';
  message: string | undefined;
  orderNumber: string;
  /** The hosted checkout page to send the payer to. */
  url: string;
  raw: JsonObject;
}

export interface MobilePayInput {
  reference: string;
  /** "243XXXXXXXXX" (a leading "+" is accepted and dropped). */
  phone: string;
  amount: Amount;
  currency: FlexPayCurrency;
  callbackUrl?: string;
  /** 1 = mobile money (default). */
  type?: number;
}

export interface MobilePayResult {
  code: '0';
  message: string | undefined;
  orderNumber: string | undefined;
  provider_reference: string | undefined;
  url: string | undefined;
  raw: JsonObject;
}

export interface PayoutResult {
  code: '0';
  message: string | undefined;
  orderNumber: string | undefined;
  raw: JsonObject;
}

export interface FlexPayTransaction {
  orderNumber: string | undefined;
  reference: string | undefined;
  amount: string | undefined;
  /** Total the customer pays, fees included. */
  amountCustomer: string | undefined;
  currency: string | undefined;
  /** `dd-MM-yyyy HH:mm:ss`. */
  createdAt: string | undefined;
  /** "0" successful, "1" not successful (kept as sent). */
  status: string | undefined;
  /** status "0". */
  succeeded: boolean;
  raw: JsonObject;
}

export interface CheckResult {
  /** False for `{"code":"1","message":"Aucune transaction trouvée","transaction":null}`. */
  found: boolean;
  /** "0" the lookup worked (not that the payment did: see `transaction.status`). */
  code: string;
  message: string | undefined;
  transaction: FlexPayTransaction | null;
  raw: JsonObject;
}

export interface FlexPayCallback {
  /** "0" (or 0 on the wire) = success, anything else = not successful. Always a string here. */
  code: string;
  succeeded: boolean;
  reference: string | undefined;
  provider_reference: string | undefined;
  orderNumber: string | undefined;
  amount: string | undefined;
  amountCustomer: string | undefined;
  phone: string | undefined;
  currency: string | undefined;
  createdAt: string | undefined;
  channel: string | undefined;
  raw: JsonObject;
}

const s = asString;

function currency(v: unknown): FlexPayCurrency {
  const c = requireString(v, 'currency').toUpperCase();
  if (c !== 'CDF' && c !== 'USD') throw new ValidationError('currency', 'FlexPay accepts CDF or USD');
  return c;
}

function reference(v: unknown): string {
  return requireString(v, 'reference', { maxLength: 25 });
}

function flexPhone(v: unknown): string {
  const p = requireString(v, 'phone').replace(/[\s-]/g, '').replace(/^\+/, '');
  if (!/^243\d{9}$/.test(p)) throw new ValidationError('phone', 'expected 243XXXXXXXXX');
  return p;
}

/** HTML-escape for text and attribute values. */
export function escapeHtml(v: string): string {
  return v
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function jsonObject(body: string | Record<string, unknown>): JsonObject {
  if (typeof body !== 'string') {
    if (!isObject(body)) throw new ValidationError('body', 'not a JSON object');
    return body as JsonObject;
  }
  return parseObject(body);
}

function parseObject(text: string): JsonObject {
  let v: unknown;
  try {
    v = parseJsonLossless(text.trim());
  } catch {
    throw new ValidationError('body', 'not JSON');
  }
  if (!isObject(v)) throw new ValidationError('body', 'not a JSON object');
  return v;
}

/**
 * Parse a FlexPay callback (POST JSON to `callback_url`). `code` 0 and "0" are alike.
 * FlexPay does not sign callbacks and may send duplicates: confirm with `check()` (and,
 * behind Paygate, verify its signature header with verifyPaygateSignature).
 */
export function parseFlexPayCallback(body: string | Uint8Array | Record<string, unknown>): FlexPayCallback {
  const json = body instanceof Uint8Array ? parseObject(new TextDecoder().decode(body)) : jsonObject(body);
  const code = s(json.code);
  if (code === undefined) throw new ValidationError('code', 'missing');
  return {
    code,
    succeeded: code === '0',
    reference: s(json.reference),
    provider_reference: s(json.provider_reference),
    orderNumber: s(json.orderNumber),
    amount: s(json.amount),
    amountCustomer: s(json.amountCustomer),
    phone: s(json.phone),
    currency: s(json.currency),
    createdAt: s(json.createdAt),
    channel: s(json.channel),
    raw: json,
  };
}

export class FlexPayClient {
  readonly http: HttpTransport;
  readonly paths: FlexPayPaths;
  readonly cardBaseUrl: string;
  private readonly token: string;
  private readonly merchant: string;

  constructor(opts: FlexPayClientOptions) {
    this.http = new HttpTransport('flexpay', opts);
    this.token = requireString(opts.token, 'token');
    this.merchant = requireString(opts.merchant, 'merchant');
    this.cardBaseUrl = opts.cardBaseUrl ?? this.http.baseUrl;
    this.paths = { ...FLEXPAY_DEFAULT_PATHS, ...(opts.paths ?? {}) };
  }

  private auth(): string {
    return /^bearer /i.test(this.token) ? this.token : `Bearer ${this.token}`;
  }

  private error(operation: string, answer: HttpAnswer, json: JsonObject | undefined): ProviderError {
    return new ProviderError({
      provider: 'flexpay',
      operation,
      code: s(json?.code) ?? (answer.status >= 400 ? `http_${answer.status}` : undefined),
      message: s(json?.message) ?? `HTTP ${answer.status}`,
      httpStatus: answer.status,
      rawBody: answer.text,
      body: answer.json,
    });
  }

  private async postJson(
    operation: 'cardPay' | 'mobilePay' | 'payout',
    body: Record<string, JsonInput>,
    call: CallOptions,
    baseUrl?: string,
  ): Promise<JsonObject> {
    const req = {
      operation,
      method: 'POST' as const,
      path: this.paths[operation],
      headers: { 'content-type': 'application/json', authorization: this.auth() },
      body: stringifyJson(body),
      idempotent: false,
      ...(baseUrl !== undefined ? { baseUrl } : {}),
    };
    const answer = await this.http.send(req, call);
    const json = isObject(answer.json) ? answer.json : undefined;
    if (!json || s(json.code) !== '0' || answer.status >= 400) throw this.error(operation, answer, json);
    return json;
  }

  private cardFields(input: CardPayInput): Record<string, string | undefined> {
    const cur = currency(input.currency);
    return {
      authorization: this.auth(),
      merchant: this.merchant,
      reference: reference(input.reference),
      amount: toDecimalAmount(input.amount, 'amount', { currency: cur }),
      currency: cur,
      description: optionalString(input.description, 'description'),
      callback_url: optionalString(input.callback_url, 'callback_url'),
      approve_url: optionalString(input.approve_url, 'approve_url'),
      cancel_url: optionalString(input.cancel_url, 'cancel_url'),
      decline_url: optionalString(input.decline_url, 'decline_url'),
      home_url: optionalString(input.home_url, 'home_url'),
    };
  }

  /** Card payment, JSON generation (POST /v1.1/pay): returns the hosted checkout `url`. */
  async cardPay(input: CardPayInput, call: CallOptions = {}): Promise<CardPayResult> {
    const f = this.cardFields(input);
    const body: Record<string, JsonInput> = { ...f, amount: new JsonNumber(f.amount!) };
    const json = await this.postJson('cardPay', body, call, this.cardBaseUrl);
    const orderNumber = s(json.orderNumber);
    const url = s(json.url);
    if (!orderNumber || !url) throw this.error('cardPay', { status: 200, headers: new Headers(), text: stringifyJson(json), json }, json);
    return { code: '0', message: s(json.message), orderNumber, url, raw: json };
  }

  /**
   * Card payment, legacy generation: an HTML page with a hidden form that auto-submits to
   * `/v1/pay` on the card host, landing the payer on FlexPay's checkout page. Serve it as
   * `text/html`. All values are HTML-escaped.
   */
  legacyPayForm(input: CardPayInput, opts: { title?: string } = {}): string {
    const f = this.cardFields(input);
    const action = joinUrl(this.cardBaseUrl, this.paths.legacyPay);
    const inputs = Object.entries(f)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
      .join('\n      ');
    const title = escapeHtml(opts.title ?? 'Redirecting to FlexPay…');
    return `<!DOCTYPE html>
<html>
  <head><meta charset="utf-8"><title>${title}</title></head>
  <body>
    <form method="POST" action="${escapeHtml(action)}">
      ${inputs}
      <noscript><button type="submit">Continue to payment</button></noscript>
    </form>
    <script>document.forms[0].submit();</script>
  </body>
</html>
`;
  }

  private mobileBody(input: MobilePayInput): Record<string, JsonInput> {
    const cur = currency(input.currency);
    const type = input.type ?? 1;
    if (!Number.isSafeInteger(type)) throw new ValidationError('type', 'must be an integer');
    return {
      merchant: this.merchant,
      type: new JsonNumber(String(type)),
      reference: reference(input.reference),
      phone: flexPhone(input.phone),
      amount: new JsonNumber(toDecimalAmount(input.amount, 'amount', { currency: cur })),
      currency: cur,
      callbackUrl: optionalString(input.callbackUrl, 'callbackUrl'),
    };
  }

  /** Mobile money payment (POST /api/rest/v1/paymentService): a push message to the payer's phone. */
  async mobilePay(input: MobilePayInput, call: CallOptions = {}): Promise<MobilePayResult> {
    const json = await this.postJson('mobilePay', this.mobileBody(input), call);
    return {
      code: '0',
      message: s(json.message),
      orderNumber: s(json.orderNumber),
      provider_reference: s(json.provider_reference),
      url: s(json.url),
      raw: json,
    };
  }

  /** Payout to a mobile money account (POST /api/rest/v1/merchantPayOutService). */
  async payout(input: MobilePayInput, call: CallOptions = {}): Promise<PayoutResult> {
    const json = await this.postJson('payout', this.mobileBody(input), call);
    return { code: '0', message: s(json.message), orderNumber: s(json.orderNumber), raw: json };
  }

  /**
   * Check transaction (GET /api/rest/v1/check/{orderNumber}). Not found is an answer
   * (`found: false`), not an error. `transaction.status` is kept as sent ("0" success).
   */
  async check(orderNumber: string, call: CallOptions = {}): Promise<CheckResult> {
    const on = requireString(orderNumber, 'orderNumber');
    const answer = await this.http.send(
      {
        operation: 'check',
        method: 'GET',
        path: this.paths.check.replace('{orderNumber}', encodeURIComponent(on)),
        headers: { authorization: this.auth() },
        idempotent: true,
      },
      call,
    );
    const json = isObject(answer.json) ? answer.json : undefined;
    const code = s(json?.code);
    if (!json || code === undefined || (answer.status >= 400 && answer.status !== 404)) throw this.error('check', answer, json);
    const tx = isObject(json.transaction) ? json.transaction : null;
    if (code === '0' && !tx) throw this.error('check', answer, json);
    if (code !== '0') {
      if (tx === null) return { found: false, code, message: s(json.message), transaction: null, raw: json };
      throw this.error('check', answer, json);
    }
    const status = s(tx!.status);
    return {
      found: true,
      code,
      message: s(json.message),
      transaction: {
        orderNumber: s(tx!.orderNumber),
        reference: s(tx!.reference),
        amount: s(tx!.amount),
        amountCustomer: s(tx!.amountCustomer),
        currency: s(tx!.currency),
        createdAt: s(tx!.createdAt),
        status,
        succeeded: status === '0',
        raw: tx!,
      },
      raw: json,
    };
  }
}
