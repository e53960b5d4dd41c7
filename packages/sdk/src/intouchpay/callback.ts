import { ValidationError } from '../core/errors.ts';
import { asString, isObject, parseJsonLossless, stringifyJson, type Json, type JsonObject } from '../core/json.ts';

/** The status IntouchPay (or Paygate) posts to your `callbackurl`. */
export interface IntouchPayCallback {
  requesttransactionid: string | undefined;
  transactionid: string | undefined;
  /** String, leading zeros kept: "01" success. */
  responsecode: string | undefined;
  status: string | undefined;
  statusdesc: string | undefined;
  referenceno: string | undefined;
  /** responsecode "01". Confirm with getTransactionStatus before shipping goods. */
  successful: boolean;
  /** The `jsonpayload` object. */
  payload: JsonObject;
  /** What to answer (HTTP 200, JSON): IntouchPay retries until it gets this. */
  reply: { message: 'success'; success: true; request_id: string };
  /** `reply` serialized. */
  replyBody: string;
}

export type CallbackBody = string | Uint8Array | ArrayBuffer | URLSearchParams | Record<string, unknown>;

function decode(body: Uint8Array | ArrayBuffer): string {
  return new TextDecoder().decode(body);
}

function toJsonObject(v: unknown): JsonObject | undefined {
  if (typeof v === 'string') {
    try {
      const parsed = parseJsonLossless(v.trim());
      return isObject(parsed) ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
  if (isObject(v)) return v as JsonObject;
  return undefined;
}

/** The reply body IntouchPay expects: `{"message":"success","success":true,"request_id":...}`. */
export function intouchPayCallbackReply(request_id: string): IntouchPayCallback['reply'] {
  return { message: 'success', success: true, request_id };
}

/**
 * Parse an IntouchPay callback body. Accepts
 *  - JSON `{"jsonpayload":{...}}` (raw text, bytes, or an already parsed object),
 *  - a form body (`application/x-www-form-urlencoded`, raw text or URLSearchParams, or a
 *    parsed form object) whose `jsonpayload` field is a JSON string,
 *  - and, leniently, a bare payload object without the `jsonpayload` wrapper.
 * `request_id` in the reply is the payload's `requesttransactionid` unless given.
 */
export function parseIntouchPayCallback(body: CallbackBody, opts: { request_id?: string } = {}): IntouchPayCallback {
  let outer: JsonObject | undefined;
  if (body instanceof URLSearchParams) {
    outer = {};
    for (const [k, v] of body) outer[k] = v;
  } else if (typeof body === 'string' || body instanceof Uint8Array || body instanceof ArrayBuffer) {
    const text = (typeof body === 'string' ? body : decode(body)).trim();
    if (text.startsWith('{')) {
      outer = toJsonObject(text);
    } else {
      outer = {};
      for (const [k, v] of new URLSearchParams(text)) outer[k] = v;
    }
  } else {
    outer = toJsonObject(body);
  }
  if (!outer) throw new ValidationError('body', 'not a JSON object or form body');
  let payload: JsonObject | undefined;
  if ('jsonpayload' in outer) {
    payload = toJsonObject(outer.jsonpayload as Json);
    if (!payload) throw new ValidationError('jsonpayload', 'not a JSON object');
  } else if ('requesttransactionid' in outer || 'transactionid' in outer) {
    payload = outer;
  }
  if (!payload) throw new ValidationError('jsonpayload', 'missing');
  const f = (k: string) => asString(payload![k]);
  const requesttransactionid = f('requesttransactionid');
  const request_id = opts.request_id ?? requesttransactionid ?? f('transactionid') ?? '';
  const reply = intouchPayCallbackReply(request_id);
  const responsecode = f('responsecode');
  return {
    requesttransactionid,
    transactionid: f('transactionid'),
    responsecode,
    status: f('status'),
    statusdesc: f('statusdesc'),
    referenceno: f('referenceno'),
    successful: responsecode === '01',
    payload,
    reply,
    replyBody: stringifyJson(reply),
  };
}
