/**
 * Typed errors thrown by every client.
 *
 * - {@link ValidationError}: the input was rejected before anything was sent.
 * - {@link TransportError}: the request did not produce an HTTP answer (network failure,
 *   DNS, connection reset, timeout).
 * - {@link ProviderError}: the provider (or Paygate speaking its dialect) answered, and the
 *   answer says the operation failed, or the answer could not be understood.
 * - {@link WaitTimeoutError}: a waiting helper (`waitForPayment`) gave up at its deadline.
 */
export type ProviderName = 'ibous' | 'kesspay' | 'intouchpay' | 'flexpay';

export class PaygateSdkError extends Error {
  override name = 'PaygateSdkError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class ValidationError extends PaygateSdkError {
  override name = 'ValidationError';
  /** The input field that was rejected (e.g. `amount`). */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

export class TransportError extends PaygateSdkError {
  override name = 'TransportError';
  readonly provider: ProviderName;
  readonly operation: string;
  /** True when the request was aborted by the client's own timeout. */
  readonly timedOut: boolean;
  constructor(
    provider: ProviderName,
    operation: string,
    message: string,
    opts: { timedOut?: boolean; cause?: unknown } = {},
  ) {
    super(`${provider} ${operation}: ${message}`, { cause: opts.cause });
    this.provider = provider;
    this.operation = operation;
    this.timedOut = opts.timedOut ?? false;
  }
}

export class ProviderError extends PaygateSdkError {
  override name = 'ProviderError';
  readonly provider: ProviderName;
  readonly operation: string;
  /** The provider's own code, always a string (leading zeros kept); undefined if it sent none. */
  readonly code: string | undefined;
  /** The provider's own message (or a description of why the answer was unusable). */
  readonly providerMessage: string;
  /** HTTP status of the answer. */
  readonly httpStatus: number;
  /** The raw response body, byte for byte as text. */
  readonly rawBody: string;
  /** The parsed body when it was JSON (numbers kept as their literal strings). */
  readonly body: unknown;
  constructor(init: {
    provider: ProviderName;
    operation: string;
    code: string | undefined;
    message: string;
    httpStatus: number;
    rawBody: string;
    body?: unknown;
  }) {
    super(
      `${init.provider} ${init.operation} failed` +
        (init.code !== undefined ? ` [${init.code}]` : '') +
        `: ${init.message} (HTTP ${init.httpStatus})`,
    );
    this.provider = init.provider;
    this.operation = init.operation;
    this.code = init.code;
    this.providerMessage = init.message;
    this.httpStatus = init.httpStatus;
    this.rawBody = init.rawBody;
    this.body = init.body;
  }
}

export class WaitTimeoutError extends PaygateSdkError {
  override name = 'WaitTimeoutError';
  /** The last answer seen before the deadline, if any. */
  readonly last: unknown;
  constructor(message: string, last: unknown, cause?: unknown) {
    super(message, { cause });
    this.last = last;
  }
}
