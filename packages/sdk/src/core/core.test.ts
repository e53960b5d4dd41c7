import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseJsonLossless, stringifyJson, JsonNumber } from './json.ts';
import { toDecimalAmount } from './amount.ts';
import { ProviderError, TransportError, ValidationError } from './errors.ts';
import { IntouchPayClient } from '../intouchpay/client.ts';
import { IbousClient } from '../ibous/client.ts';

test('lossless JSON keeps number literals and leading zeros', () => {
  const v = parseJsonLossless('{"amount": 0.01, "code": 0, "id": 123456789012345678901, "s":"0002", "b":true, "n":null, "a":[1,"x"], "e":"\\u00e9\\n"}');
  assert.deepEqual(v, { amount: '0.01', code: '0', id: '123456789012345678901', s: '0002', b: true, n: null, a: ['1', 'x'], e: 'é\n' });
  assert.throws(() => parseJsonLossless('{"a":1,}'), SyntaxError);
  assert.throws(() => parseJsonLossless('{"a":1} x'), SyntaxError);
  const proto = parseJsonLossless('{"__proto__":{"x":"1"}}') as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
  assert.deepEqual(Object.keys(proto), ['__proto__']);
});

test('stringifyJson writes decimal literals exactly and refuses floats', () => {
  assert.equal(stringifyJson({ amount: new JsonNumber('0.01'), n: 30, s: 'x', u: undefined, z: null }), '{"amount":0.01,"n":30,"s":"x","z":null}');
  assert.throws(() => stringifyJson({ amount: 0.1 }), TypeError);
});

test('amounts: decimal strings and minor-unit bigints, never numbers', () => {
  assert.equal(toDecimalAmount('0.01', 'a', { currency: 'USD' }), '0.01');
  assert.equal(toDecimalAmount(1n, 'a', { currency: 'USD' }), '0.01');
  assert.equal(toDecimalAmount(6000n, 'a', { currency: 'HTG' }), '60');
  assert.equal(toDecimalAmount(1500n, 'a', { currency: 'RWF' }), '1500');
  assert.equal(toDecimalAmount('0060.50', 'a', { currency: 'USD' }), '60.5');
  assert.equal(toDecimalAmount('100.00', 'a', { currency: 'CDF', integerOnly: true }), '100');
  assert.equal(toDecimalAmount('12345678901234567890.12', 'a', { currency: 'USD' }), '12345678901234567890.12');
  assert.throws(() => toDecimalAmount(0.01, 'a', { currency: 'USD' }), ValidationError);
  assert.throws(() => toDecimalAmount('0.001', 'a', { currency: 'USD' }), ValidationError);
  assert.throws(() => toDecimalAmount('1.5', 'a', { currency: 'RWF' }), ValidationError);
  assert.throws(() => toDecimalAmount('-1', 'a'), ValidationError);
  assert.throws(() => toDecimalAmount('1e3', 'a'), ValidationError);
  assert.throws(() => toDecimalAmount('0.00', 'a', { currency: 'USD' }), ValidationError);
  assert.throws(() => toDecimalAmount(5n, 'a', { currency: 'XYZ' }), ValidationError);
  assert.throws(() => toDecimalAmount(-5n, 'a', { currency: 'USD' }), ValidationError);
});

async function withServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  fn: (base: string, hits: () => number) => Promise<void>,
): Promise<void> {
  let hits = 0;
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    await fn(`http://127.0.0.1:${port}`, () => hits);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

const creds = { username: 'testa', accountno: '250160000011', partnerpassword: 'pw' };

test('real fetch over node:http: form body and JSON answer', async () => {
  await withServer(
    (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const f = new URLSearchParams(body);
        res.setHeader('content-type', 'application/json');
        res.end(`{"balance":"100000.0","success":true,"echo":"${req.url} ${req.headers['content-type']} ${f.get('username')}"}`);
      });
    },
    async (base) => {
      const c = new IntouchPayClient({ ...creds, baseUrl: base });
      const r = await c.getBalance();
      assert.equal(r.balance, '100000.0');
      assert.equal(r.raw.echo, '/api/getbalance/ application/x-www-form-urlencoded testa');
    },
  );
});

test('timeout: a hung request becomes TransportError with timedOut', async () => {
  await withServer(
    () => {
      /* never answer */
    },
    async (base) => {
      const c = new IntouchPayClient({ ...creds, baseUrl: base, timeout_ms: 100 });
      await assert.rejects(c.getBalance(), (e: unknown) => e instanceof TransportError && e.timedOut && e.provider === 'intouchpay');
      await assert.rejects(c.getBalance({ timeout_ms: 50 }), (e: unknown) => e instanceof TransportError && e.timedOut);
    },
  );
});

test('caller abort rejects with the signal reason, not a TransportError', async () => {
  await withServer(
    () => {},
    async (base) => {
      const c = new IntouchPayClient({ ...creds, baseUrl: base, timeout_ms: 5000 });
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(new Error('user cancelled')), 50);
      await assert.rejects(c.getBalance({ signal: ctl.signal }), /user cancelled/);
    },
  );
});

test('connection refused is a TransportError', async () => {
  let port = 0;
  await withServer(() => {}, async (base) => {
    port = Number(new URL(base).port);
  });
  const c = new IntouchPayClient({ ...creds, baseUrl: `http://127.0.0.1:${port}` });
  await assert.rejects(c.getBalance(), (e: unknown) => e instanceof TransportError && !e.timedOut);
});

test('retries: idempotent operations retry on 5xx; non-idempotent ones never do', async () => {
  let n = 0;
  await withServer(
    (_req, res) => {
      n++;
      res.statusCode = n < 3 ? 503 : 200;
      res.end(n < 3 ? 'busy' : '{"balance":"1.0","success":true}');
    },
    async (base, hits) => {
      const c = new IntouchPayClient({ ...creds, baseUrl: base, retries: 2, retry_delay_ms: 5 });
      assert.equal((await c.getBalance()).balance, '1.0');
      assert.equal(hits(), 3);
    },
  );
  await withServer(
    (_req, res) => {
      res.statusCode = 503;
      res.end('busy');
    },
    async (base, hits) => {
      const c = new IntouchPayClient({ ...creds, baseUrl: base, retries: 5, retry_delay_ms: 5 });
      await assert.rejects(
        c.requestPayment({ amount: '100', mobilephone: '250788123456', requesttransactionid: 'r1' }),
        (e: unknown) => e instanceof ProviderError && e.httpStatus === 503 && e.rawBody === 'busy',
      );
      assert.equal(hits(), 1, 'requestPayment is not retried');
      const ib = new IbousClient({ apiKey: 'k', apiSecret: 's', baseUrl: base, retries: 5, retry_delay_ms: 5 });
      await assert.rejects(ib.paymentRefund('1'), ProviderError);
      assert.equal(hits(), 2, 'paymentRefund is not retried');
      await assert.rejects(ib.paymentProcess('1'), ProviderError);
      assert.equal(hits(), 8, 'paymentProcess (a status read) is retried');
    },
  );
});
