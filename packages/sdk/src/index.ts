/**
 * @paygate/sdk: merchant clients for the ibous, KessPay, IntouchPay and FlexPay APIs,
 * usable against Paygate (default http://127.0.0.1:8080) and the real providers alike.
 * Runtime needs only `fetch` and Web Crypto (Node 20+, Deno, Bun, edge runtimes).
 */
export {
  PaygateSdkError,
  ValidationError,
  TransportError,
  ProviderError,
  WaitTimeoutError,
  type ProviderName,
} from './core/errors.ts';
export { DEFAULT_BASE_URL, type ClientOptions, type CallOptions, type FetchLike } from './core/http.ts';
export { toDecimalAmount, CURRENCY_EXPONENTS, type Amount, type AmountRules } from './core/amount.ts';
export { parseJsonLossless, stringifyJson, JsonNumber, type Json, type JsonObject } from './core/json.ts';

export {
  verifyPaygateSignature,
  checkPaygateSignature,
  signPaygatePayload,
  timingSafeEqual,
  type VerifyOptions,
  type VerifyResult,
  type VerifyFailure,
} from './signature/signature.ts';

export * from './ibous/client.ts';
export * from './kesspay/client.ts';
export * from './intouchpay/client.ts';
export * from './intouchpay/callback.ts';
export * from './flexpay/client.ts';
