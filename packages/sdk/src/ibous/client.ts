import { toDecimalAmount, type Amount } from '../core/amount.ts';
import { ProviderError, TransportError, ValidationError, WaitTimeoutError } from '../core/errors.ts';
import { HttpTransport, type CallOptions, type ClientOptions, type HttpAnswer } from '../core/http.ts';
import { asBool, asString, isObject, stringifyJson, type JsonObject } from '../core/json.ts';
import { requireString, sleep } from '../core/util.ts';

/** Paths of the ibous operations, relative to `baseUrl` (seed: https://ibous.com/api/...). */
export interface IbousPaths {
  createPaymentQRCode: string;
  paymentProcess: string;
  paymentRefund: string;
}

export const IBOUS_DEFAULT_PATHS: Readonly<IbousPaths> = {
  createPaymentQRCode: '/api/CreatePaymentQRcode',
  paymentProcess: '/api/PaymentProcess',
  paymentRefund: '/api/PaymentRefund',
};

export interface IbousClientOptions extends ClientOptions {
  /** API-TOKEN-KEY header. */
  apiKey: string;
  /** API-TOKEN-SECRET header. */
  apiSecret: string;
  paths?: Partial<IbousPaths>;
}

export type QrcodeSize = 4 | 6 | 8 | 10 | '4' | '6' | '8' | '10';

export interface CreatePaymentQRCodeInput {
  /** 4, 6, 8 or 10. */
  qrcode_size: QrcodeSize;
  /** Whole amount (the seed's type is INT): "60" or 6000n (HTG minor units). */
  amount: Amount;
  /** ISO 4217, e.g. "HTG". */
  currency: string;
  /** Name of the product. */
  item: string;
}

export interface CreatePaymentQRCodeResult {
  qrcode_id: string;
  qrcode_img: string;
  /** The provider's message, e.g. "QRcode Payment generated successfully". */
  status: string;
  raw: JsonObject;
}

/** Payment status: "1" pending, "2" successful, "3" failed (other values passed through). */
export type IbousPaymentStatus = '1' | '2' | '3' | (string & {});

export interface PaymentProcessResult {
  /** "1" pending, "2" paid, "3" failed. */
  payment_status: IbousPaymentStatus;
  pending: boolean;
  paid: boolean;
  failed: boolean;
  /** The `error` flag as sent: false on success, true while pending and on failure. */
  error: boolean;
  /** Payment id (present once paid): use it for {@link IbousClient.paymentRefund}. */
  payment_id?: string;
  user?: string;
  item?: string;
  amount?: string;
  currency?: string;
  /** The provider's message, e.g. "Payment Pending". */
  status: string;
  raw: JsonObject;
}

export interface PaymentRefundResult {
  /** True when `transaction.status` is "1". A failed refund answers `error: false` with status "0". */
  refunded: boolean;
  transaction_status: string;
  transaction: {
    user_sender?: string;
    user_recipient?: string;
    type?: string;
    amount?: string;
    currency?: string;
    fees?: string;
    system?: string;
    date_time?: string;
  };
  status: string;
  raw: JsonObject;
}

export interface WaitForPaymentOptions {
  signal?: AbortSignal;
  /** Give up after this many milliseconds (throws WaitTimeoutError). Default 300 000. */
  timeout_ms?: number;
  /** Poll interval (the seed asks for 100 ms). Default 100. */
  interval_ms?: number;
  /**
   * Use Paygate's long-poll: each PaymentProcess carries `wait_ms`, and Paygate holds the
   * request until the status changes or `wait_ms` passes. Against a server that ignores
   * `wait_ms` this degrades to plain polling at `interval_ms`. Default false.
   */
  longPoll?: boolean;
  /** Upper bound of one long-poll hold. Default 25 000. */
  long_poll_ms?: number;
}

function str(v: unknown): string | undefined {
  return asString(v);
}

export class IbousClient {
  readonly http: HttpTransport;
  readonly paths: IbousPaths;
  private readonly apiKey: string;
  private readonly apiSecret: string;

  constructor(opts: IbousClientOptions) {
    this.http = new HttpTransport('ibous', opts);
    this.apiKey = requireString(opts.apiKey, 'apiKey').trim();
    this.apiSecret = requireString(opts.apiSecret, 'apiSecret').trim();
    this.paths = { ...IBOUS_DEFAULT_PATHS, ...(opts.paths ?? {}) };
  }

  private async post(
    operation: keyof IbousPaths,
    body: Record<string, string>,
    idempotent: boolean,
    call: CallOptions,
  ): Promise<{ answer: HttpAnswer; json: JsonObject }> {
    const answer = await this.http.send(
      {
        operation,
        method: 'POST',
        path: this.paths[operation],
        headers: {
          'content-type': 'application/json',
          'API-TOKEN-KEY': this.apiKey,
          'API-TOKEN-SECRET': this.apiSecret,
        },
        body: stringifyJson(body),
        idempotent,
      },
      call,
    );
    if (!isObject(answer.json)) {
      throw this.http.unusable(operation, answer, `expected a JSON object (HTTP ${answer.status})`);
    }
    return { answer, json: answer.json };
  }

  private fail(operation: string, answer: HttpAnswer, json: JsonObject): ProviderError {
    return new ProviderError({
      provider: 'ibous',
      operation,
      code: str(json.code) ?? (answer.status >= 400 ? `http_${answer.status}` : undefined),
      message: str(json.status) ?? str(json.message) ?? 'request failed',
      httpStatus: answer.status,
      rawBody: answer.text,
      body: json,
    });
  }

  /** CreatePaymentQRcode: create a payment QR code for the payer to scan in the ibous app. */
  async createPaymentQRCode(input: CreatePaymentQRCodeInput, call: CallOptions = {}): Promise<CreatePaymentQRCodeResult> {
    const size = String(input.qrcode_size);
    if (!['4', '6', '8', '10'].includes(size)) throw new ValidationError('qrcode_size', 'must be 4, 6, 8 or 10');
    const currency = requireString(input.currency, 'currency', { pattern: /^[A-Za-z]{3}$/ }).toUpperCase();
    const amount = toDecimalAmount(input.amount, 'amount', { currency, integerOnly: true });
    const item = requireString(input.item, 'item');
    const { answer, json } = await this.post(
      'createPaymentQRCode',
      { qrcode_size: size, amount, currency, item },
      false,
      call,
    );
    const qrcode_id = str(json.qrcode_id);
    if (asBool(json.error) !== false || answer.status >= 400 || !qrcode_id) throw this.fail('createPaymentQRCode', answer, json);
    return { qrcode_id, qrcode_img: str(json.qrcode_img) ?? '', status: str(json.status) ?? '', raw: json };
  }

  /**
   * PaymentProcess: the payment result for a QR code. Pending ("1") and failed ("3") are
   * answers, not errors (even though ibous marks them `error: true`); an answer without a
   * payment status (unknown QR code, bad credentials) throws ProviderError.
   */
  async paymentProcess(
    qrcode_id: string,
    call: CallOptions & { wait_ms?: number } = {},
  ): Promise<PaymentProcessResult> {
    const id = requireString(qrcode_id, 'qrcode_id');
    const body: Record<string, string> = { qrcode_id: id };
    if (call.wait_ms !== undefined) {
      if (!Number.isSafeInteger(call.wait_ms) || call.wait_ms < 0) throw new ValidationError('wait_ms', 'must be a non-negative integer');
      body.wait_ms = String(call.wait_ms);
    }
    const { answer, json } = await this.post('paymentProcess', body, true, call);
    const payment = isObject(json.payment) ? json.payment : undefined;
    const ps = payment ? str(payment.status) : undefined;
    const error = asBool(json.error);
    if (ps === undefined || error === undefined || answer.status >= 400) throw this.fail('paymentProcess', answer, json);
    const result: PaymentProcessResult = {
      payment_status: ps,
      pending: ps === '1',
      paid: ps === '2',
      failed: ps === '3',
      error,
      status: str(json.status) ?? '',
      raw: json,
    };
    if (payment) {
      const id2 = str(payment.id);
      if (id2 !== undefined) result.payment_id = id2;
      for (const k of ['user', 'item', 'amount', 'currency'] as const) {
        const v = str(payment[k]);
        if (v !== undefined) result[k] = v;
      }
    }
    return result;
  }

  /** PaymentRefund: refund a successful payment. Check `refunded`: a failed refund is `error: false`. */
  async paymentRefund(payment_id: string, call: CallOptions = {}): Promise<PaymentRefundResult> {
    const id = requireString(payment_id, 'payment_id');
    const { answer, json } = await this.post('paymentRefund', { payment_id: id }, false, call);
    const tx = isObject(json.transaction) ? json.transaction : undefined;
    const ts = tx ? str(tx.status) : undefined;
    if (asBool(json.error) !== false || ts === undefined || answer.status >= 400) throw this.fail('paymentRefund', answer, json);
    const transaction: PaymentRefundResult['transaction'] = {};
    for (const k of ['user_sender', 'user_recipient', 'type', 'amount', 'currency', 'fees', 'system', 'date_time'] as const) {
      const v = str(tx![k]);
      if (v !== undefined) transaction[k] = v;
    }
    return { refunded: ts === '1', transaction_status: ts, transaction, status: str(json.status) ?? '', raw: json };
  }

  /**
   * Poll PaymentProcess until the payment is successful ("2") or failed ("3"), and return
   * that final result. Transport errors while polling are tolerated until the deadline.
   * Throws WaitTimeoutError (with the last answer) at `timeout_ms`, or the signal's reason.
   */
  async waitForPayment(qrcode_id: string, opts: WaitForPaymentOptions = {}): Promise<PaymentProcessResult> {
    const id = requireString(qrcode_id, 'qrcode_id');
    const timeoutMs = opts.timeout_ms ?? 300_000;
    const interval = opts.interval_ms ?? 100;
    const longPollMax = opts.long_poll_ms ?? 25_000;
    const deadline = Date.now() + timeoutMs;
    let last: PaymentProcessResult | undefined;
    let lastError: unknown;
    for (;;) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new WaitTimeoutError(`ibous payment ${id} still pending after ${timeoutMs} ms`, last, lastError);
      }
      const started = Date.now();
      try {
        const call: CallOptions & { wait_ms?: number } = {};
        if (opts.signal) call.signal = opts.signal;
        if (opts.longPoll) {
          const wait = Math.max(0, Math.min(longPollMax, remaining));
          call.wait_ms = wait;
          // the server may hold the request for wait_ms: allow for it on top of the normal timeout
          call.timeout_ms = wait + 10_000;
        }
        last = await this.paymentProcess(id, call);
        if (last.paid || last.failed) return last;
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        lastError = err;
      }
      const elapsed = Date.now() - started;
      const pause = opts.longPoll ? interval - elapsed : interval;
      if (pause > 0) await sleep(Math.min(pause, Math.max(0, deadline - Date.now())), opts.signal);
    }
  }
}
