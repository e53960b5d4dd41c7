import { ProviderError, TransportError, type ProviderName } from './errors.ts';
import { parseJsonLossless, type Json } from './json.ts';
import { joinUrl, sleep } from './util.ts';

/** The fetch signature the clients need; inject your own for tests, proxies or instrumentation. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Paygate's default address; point `baseUrl` at the real provider host you were given instead. */
export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';

export interface ClientOptions {
  /** Base URL (scheme, host, port, optional prefix). Default {@link DEFAULT_BASE_URL}. */
  baseUrl?: string;
  /** fetch implementation. Default `globalThis.fetch`. */
  fetch?: FetchLike;
  /** Per-request timeout in milliseconds (AbortSignal.timeout). Default 30 000. */
  timeout_ms?: number;
  /**
   * How many times to retry an idempotent operation (status checks, balance, token) after a
   * transport error or an HTTP 5xx/429 answer. Non-idempotent operations are never retried.
   * Default 0.
   */
  retries?: number;
  /** Delay between retries in milliseconds. Default 200. */
  retry_delay_ms?: number;
  /** Extra headers sent with every request (e.g. tracing). */
  headers?: Record<string, string>;
}

export interface CallOptions {
  /** Abort the call (and any waiting loop). The signal's reason is thrown as-is. */
  signal?: AbortSignal;
  /** Override the client's per-request timeout for this call. */
  timeout_ms?: number;
}

export interface HttpRequest {
  operation: string;
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  /** Only idempotent operations are retried. */
  idempotent: boolean;
  /** Use a different base URL for this request (FlexPay's card host). */
  baseUrl?: string;
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed body (numbers as literal strings), or undefined if the body is not JSON. */
  json: Json | undefined;
}

function anySignal(signals: AbortSignal[]): AbortSignal {
  const A = AbortSignal as typeof AbortSignal & { any?: (s: AbortSignal[]) => AbortSignal };
  if (typeof A.any === 'function') return A.any(signals);
  const ctl = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      ctl.abort(s.reason);
      break;
    }
    s.addEventListener('abort', () => ctl.abort(s.reason), { once: true });
  }
  return ctl.signal;
}

export class HttpTransport {
  readonly provider: ProviderName;
  readonly baseUrl: string;
  private readonly fetchImpl: FetchLike;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly extraHeaders: Record<string, string>;

  constructor(provider: ProviderName, opts: ClientOptions) {
    this.provider = provider;
    this.baseUrl = opts.baseUrl ?? DEFAULT_BASE_URL;
    if (!opts.fetch && typeof globalThis.fetch !== 'function') {
      throw new Error('no fetch implementation in this runtime: pass options.fetch');
    }
    this.fetchImpl = opts.fetch ? opts.fetch : (input, init) => globalThis.fetch(input, init);
    this.timeoutMs = opts.timeout_ms ?? 30_000;
    this.retries = Math.max(0, opts.retries ?? 0);
    this.retryDelayMs = opts.retry_delay_ms ?? 200;
    this.extraHeaders = { ...(opts.headers ?? {}) };
  }

  url(path: string, query?: Record<string, string>, baseUrl?: string): string {
    let u = joinUrl(baseUrl ?? this.baseUrl, path);
    if (query && Object.keys(query).length > 0) u += (u.includes('?') ? '&' : '?') + new URLSearchParams(query).toString();
    return u;
  }

  /** Send, retrying idempotent requests; returns any HTTP answer (callers interpret status). */
  async send(req: HttpRequest, call: CallOptions = {}): Promise<HttpAnswer> {
    const attempts = req.idempotent ? this.retries + 1 : 1;
    let lastErr: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await sleep(this.retryDelayMs, call.signal);
      try {
        const answer = await this.once(req, call);
        if ((answer.status >= 500 || answer.status === 429) && attempt < attempts) {
          lastErr = answer;
          continue;
        }
        return answer;
      } catch (err) {
        if (!(err instanceof TransportError) || attempt >= attempts) throw err;
        lastErr = err;
      }
    }
    /* c8 ignore next */
    throw lastErr;
  }

  private async once(req: HttpRequest, call: CallOptions): Promise<HttpAnswer> {
    const timeoutMs = call.timeout_ms ?? this.timeoutMs;
    const timeoutSignal = AbortSignal.timeout(timeoutMs);
    const signal = call.signal ? anySignal([call.signal, timeoutSignal]) : timeoutSignal;
    const headers: Record<string, string> = { accept: 'application/json', ...this.extraHeaders, ...(req.headers ?? {}) };
    const url = this.url(req.path, req.query, req.baseUrl);
    const init: RequestInit = { method: req.method, headers, signal };
    if (req.body !== undefined) init.body = req.body;
    let res: Response;
    let text: string;
    try {
      res = await this.fetchImpl(url, init);
      text = await res.text();
    } catch (err) {
      if (call.signal?.aborted) throw call.signal.reason;
      if (timeoutSignal.aborted) {
        throw new TransportError(this.provider, req.operation, `timed out after ${timeoutMs} ms`, {
          timedOut: true,
          cause: err,
        });
      }
      throw new TransportError(this.provider, req.operation, `request to ${url} failed: ${String(err)}`, {
        cause: err,
      });
    }
    let json: Json | undefined;
    const trimmed = text.trim();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      try {
        json = parseJsonLossless(trimmed);
      } catch {
        json = undefined;
      }
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  /** A ProviderError for an answer that is unusable (non-JSON, unexpected shape). */
  unusable(operation: string, answer: HttpAnswer, why: string, code?: string): ProviderError {
    return new ProviderError({
      provider: this.provider,
      operation,
      code,
      message: why,
      httpStatus: answer.status,
      rawBody: answer.text,
      body: answer.json,
    });
  }
}
