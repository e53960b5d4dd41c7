import { toDecimalAmount, type Amount } from '../core/amount.ts';
import { ProviderError, ValidationError } from '../core/errors.ts';
import { HttpTransport, type CallOptions, type ClientOptions, type HttpAnswer } from '../core/http.ts';
import { asBool, asString, isObject, type JsonObject } from '../core/json.ts';
import { requireString, sha256hex } from '../core/util.ts';

/** IntouchPay endpoints (all POST, form-encoded, trailing slash). */
export interface IntouchPayPaths {
  requestPayment: string;
  requestDeposit: string;
  getTransactionStatus: string;
  getBalance: string;
}

export const INTOUCHPAY_DEFAULT_PATHS: Readonly<IntouchPayPaths> = {
  requestPayment: '/api/requestpayment/',
  requestDeposit: '/api/requestdeposit/',
  getTransactionStatus: '/api/gettransactionstatus/',
  getBalance: '/api/getbalance/',
};

export interface IntouchPayClientOptions extends ClientOptions {
  username: string;
  accountno: string;
  /** The partner password; it never travels, only the SHA-256 password derived from it. */
  partnerpassword: string;
  paths?: Partial<IntouchPayPaths>;
  /** Clock for the timestamp (tests). Default `() => new Date()`. */
  now?: () => Date;
}

/** UTC `yyyymmddhhmmss`. */
export function intouchPayTimestamp(date: Date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    p(date.getUTCFullYear(), 4) +
    p(date.getUTCMonth() + 1) +
    p(date.getUTCDate()) +
    p(date.getUTCHours()) +
    p(date.getUTCMinutes()) +
    p(date.getUTCSeconds())
  );
}

/** Lowercase hex SHA-256 of `username + accountno + partnerpassword + timestamp`. */
export function intouchPayPassword(input: {
  username: string;
  accountno: string;
  partnerpassword: string;
  timestamp: string;
}): Promise<string> {
  return sha256hex(input.username + input.accountno + input.partnerpassword + input.timestamp);
}

export interface RequestPaymentInput {
  /** Whole RWF: "1500" or 1500n. */
  amount: Amount;
  /** Payer's phone, e.g. "250788123456" (a leading "+" is accepted and dropped). */
  mobilephone: string;
  /** Your id for this request, unique per merchant (reuse is code 2400). */
  requesttransactionid: string;
  /** Where IntouchPay posts the final status. */
  callbackurl?: string;
}

export interface RequestDepositInput {
  amount: Amount;
  mobilephone: string;
  requesttransactionid: string;
  /** Whether the withdraw charge is added (0/1). */
  withdrawcharge?: 0 | 1 | boolean;
  reason?: string;
  sid?: string;
  callbackurl?: string;
}

export interface GetTransactionStatusInput {
  requesttransactionid: string;
  transactionid: string;
}

/** Common fields of IntouchPay answers; codes are strings with their leading zeros. */
export interface IntouchPayResult {
  success: boolean;
  responsecode: string | undefined;
  message: string | undefined;
  raw: JsonObject;
}

export interface RequestPaymentResult extends IntouchPayResult {
  /** "Pending" while the subscriber confirms (responsecode "1000"). */
  status: string | undefined;
  requesttransactionid: string | undefined;
  transactionid: string | undefined;
}

export interface RequestDepositResult extends IntouchPayResult {
  requesttransactionid: string | undefined;
  referenceid: string | undefined;
}

export interface TransactionStatusResult extends IntouchPayResult {
  /** e.g. "Successfull" (sic), "Pending", "Failed". */
  status: string | undefined;
  /** responsecode "01". */
  successful: boolean;
  /** responsecode "1000". */
  pending: boolean;
}

export interface BalanceResult extends IntouchPayResult {
  /** Decimal string exactly as sent ("100000.0"). */
  balance: string;
}

/** Codes meaning the status request itself was rejected (auth, missing or unknown ids). */
const STATUS_REQUEST_ERRORS = new Set(['0002', '0003', '0004', '0005', '0006', '0007', '0008', '3000', '3100', '3200']);

const s = asString;

function phone(v: unknown, field: string): string {
  const p = requireString(v, field).replace(/[\s-]/g, '');
  if (!/^\+?\d{8,15}$/.test(p)) throw new ValidationError(field, 'expected an international number like 250788123456');
  return p.replace(/^\+/, '');
}

export class IntouchPayClient {
  readonly http: HttpTransport;
  readonly paths: IntouchPayPaths;
  private readonly username: string;
  private readonly accountno: string;
  private readonly partnerpassword: string;
  private readonly now: () => Date;

  constructor(opts: IntouchPayClientOptions) {
    this.http = new HttpTransport('intouchpay', opts);
    this.username = requireString(opts.username, 'username');
    this.accountno = requireString(opts.accountno, 'accountno');
    this.partnerpassword = requireString(opts.partnerpassword, 'partnerpassword');
    this.paths = { ...INTOUCHPAY_DEFAULT_PATHS, ...(opts.paths ?? {}) };
    this.now = opts.now ?? (() => new Date());
  }

  /** The authentication fields sent with every request, for the current time. */
  async authFields(date: Date = this.now()): Promise<{ username: string; accountno: string; timestamp: string; password: string }> {
    const timestamp = intouchPayTimestamp(date);
    const password = await intouchPayPassword({
      username: this.username,
      accountno: this.accountno,
      partnerpassword: this.partnerpassword,
      timestamp,
    });
    return { username: this.username, accountno: this.accountno, timestamp, password };
  }

  private async post(
    operation: keyof IntouchPayPaths,
    fields: Record<string, string | undefined>,
    idempotent: boolean,
    call: CallOptions,
  ): Promise<{ answer: HttpAnswer; json: JsonObject }> {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...(await this.authFields()), ...fields })) {
      if (v !== undefined) form.append(k, v);
    }
    const answer = await this.http.send(
      {
        operation,
        method: 'POST',
        path: this.paths[operation],
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        idempotent,
      },
      call,
    );
    if (!isObject(answer.json)) throw this.http.unusable(operation, answer, `expected a JSON object (HTTP ${answer.status})`);
    return { answer, json: answer.json };
  }

  private error(operation: string, answer: HttpAnswer, json: JsonObject): ProviderError {
    return new ProviderError({
      provider: 'intouchpay',
      operation,
      code: s(json.responsecode) ?? (answer.status >= 400 ? `http_${answer.status}` : undefined),
      message: s(json.message) ?? s(json.status) ?? 'request failed',
      httpStatus: answer.status,
      rawBody: answer.text,
      body: json,
    });
  }

  private base(json: JsonObject): IntouchPayResult {
    return { success: asBool(json.success) === true, responsecode: s(json.responsecode), message: s(json.message), raw: json };
  }

  /**
   * RequestPayment: push a payment request to the subscriber's phone. Answers "Pending"
   * (responsecode "1000"); the outcome arrives on `callbackurl` (see parseIntouchPayCallback)
   * or through getTransactionStatus. `success: false` throws ProviderError with the code.
   */
  async requestPayment(input: RequestPaymentInput, call: CallOptions = {}): Promise<RequestPaymentResult> {
    const fields = {
      amount: toDecimalAmount(input.amount, 'amount', { currency: 'RWF', integerOnly: true }),
      mobilephone: phone(input.mobilephone, 'mobilephone'),
      requesttransactionid: requireString(input.requesttransactionid, 'requesttransactionid'),
      callbackurl: input.callbackurl,
    };
    const { answer, json } = await this.post('requestPayment', fields, false, call);
    if (asBool(json.success) !== true || answer.status >= 400) throw this.error('requestPayment', answer, json);
    return {
      ...this.base(json),
      status: s(json.status),
      requesttransactionid: s(json.requesttransactionid),
      transactionid: s(json.transactionid),
    };
  }

  /** RequestDeposit: pay out to a subscriber. Success is responsecode "2001" with a `referenceid`. */
  async requestDeposit(input: RequestDepositInput, call: CallOptions = {}): Promise<RequestDepositResult> {
    const wc = input.withdrawcharge;
    const fields = {
      amount: toDecimalAmount(input.amount, 'amount', { currency: 'RWF', integerOnly: true }),
      mobilephone: phone(input.mobilephone, 'mobilephone'),
      requesttransactionid: requireString(input.requesttransactionid, 'requesttransactionid'),
      withdrawcharge: wc === undefined ? undefined : wc === true || wc === 1 ? '1' : '0',
      reason: input.reason,
      sid: input.sid,
      callbackurl: input.callbackurl,
    };
    const { answer, json } = await this.post('requestDeposit', fields, false, call);
    if (asBool(json.success) !== true || answer.status >= 400) throw this.error('requestDeposit', answer, json);
    return { ...this.base(json), requesttransactionid: s(json.requesttransactionid), referenceid: s(json.referenceid) };
  }

  /**
   * GetTransactionStatus. A transaction that failed is an answer (returned, `successful`
   * false, with its responsecode); a rejected request (auth codes 0002-0008, 3000, 3100
   * unknown transaction, 3200) throws ProviderError.
   */
  async getTransactionStatus(input: GetTransactionStatusInput, call: CallOptions = {}): Promise<TransactionStatusResult> {
    const fields = {
      requesttransactionid: requireString(input.requesttransactionid, 'requesttransactionid'),
      transactionid: requireString(input.transactionid, 'transactionid'),
    };
    const { answer, json } = await this.post('getTransactionStatus', fields, true, call);
    const code = s(json.responsecode);
    if (answer.status >= 400 || code === undefined || STATUS_REQUEST_ERRORS.has(code)) {
      throw this.error('getTransactionStatus', answer, json);
    }
    return { ...this.base(json), status: s(json.status), successful: code === '01', pending: code === '1000' };
  }

  /** GetBalance: the account balance as a decimal string. */
  async getBalance(call: CallOptions = {}): Promise<BalanceResult> {
    const { answer, json } = await this.post('getBalance', {}, true, call);
    const balance = s(json.balance);
    if (asBool(json.success) !== true || balance === undefined || answer.status >= 400) throw this.error('getBalance', answer, json);
    return { ...this.base(json), balance };
  }
}
