// Test support only (not exported from the package). May use node:* modules.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FIXTURES = fileURLToPath(new URL('../../test-fixtures/', import.meta.url));

/** The raw text of a recorded answer in packages/sdk/test-fixtures/. */
export function fixture(name: string): string {
  return readFileSync(FIXTURES + name, 'utf8');
}

export interface RecordedRequest {
  url: string;
  method: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: string;
}

export interface Reply {
  status?: number;
  body: string;
  headers?: Record<string, string>;
}

export type Handler = (req: RecordedRequest, index: number) => Reply | Error | Promise<Reply | Error>;

/**
 * A fetch that records every request and answers from a queue of replies (or handlers).
 * An Error in the queue makes fetch reject with it (a network failure).
 */
export class FakeFetch {
  readonly requests: RecordedRequest[] = [];
  private readonly queue: Array<Reply | Error | Handler> = [];
  private fallback: Handler | undefined;

  reply(body: string, status = 200, headers: Record<string, string> = {}): this {
    this.queue.push({ body, status, headers });
    return this;
  }

  replyJson(value: unknown, status = 200): this {
    return this.reply(JSON.stringify(value), status);
  }

  fail(err: Error = new TypeError('fetch failed')): this {
    this.queue.push(err);
    return this;
  }

  handle(h: Handler): this {
    this.queue.push(h);
    return this;
  }

  /** Used when the queue is empty. */
  always(h: Handler): this {
    this.fallback = h;
    return this;
  }

  get last(): RecordedRequest {
    const r = this.requests[this.requests.length - 1];
    if (!r) throw new Error('no request recorded');
    return r;
  }

  readonly fetch = async (input: string, init: RequestInit): Promise<Response> => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const req: RecordedRequest = {
      url: input,
      method: init.method ?? 'GET',
      headers,
      body: typeof init.body === 'string' ? init.body : init.body == null ? '' : String(init.body),
    };
    const index = this.requests.push(req) - 1;
    if (init.signal?.aborted) throw init.signal.reason;
    let next = this.queue.shift() ?? this.fallback;
    if (!next) throw new Error(`FakeFetch: unexpected request #${index} ${req.method} ${req.url}`);
    if (typeof next === 'function') next = await next(req, index);
    if (next instanceof Error) throw next;
    return new Response(next.body, {
      status: next.status ?? 200,
      headers: { 'content-type': 'application/json', ...(next.headers ?? {}) },
    });
  };
}
