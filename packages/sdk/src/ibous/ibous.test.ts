import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IbousClient } from './client.ts';
import { ProviderError, ValidationError, WaitTimeoutError } from '../core/errors.ts';
import { FakeFetch, fixture } from '../testing/fake-fetch.ts';

const KEY = '5d09355370b8b5d09355370bcf';
const SECRET = '5d09355370b8b5d09355370bcf';

function client(ff: FakeFetch, extra: Partial<ConstructorParameters<typeof IbousClient>[0]> = {}) {
  return new IbousClient({ apiKey: KEY, apiSecret: SECRET, baseUrl: 'https://ibous.example', fetch: ff.fetch, ...extra });
}

test('createPaymentQRCode: request per seed, recorded answer parsed', async () => {
  const ff = new FakeFetch().reply(fixture('ibous/create-qrcode.success.json'));
  const r = await client(ff).createPaymentQRCode({ qrcode_size: 8, amount: '60', currency: 'HTG', item: 'Coca Cola' });
  assert.equal(r.qrcode_id, '45541560985041');
  assert.match(r.qrcode_img, /^https:\/\/www\.ibous\.com\/qrcd\//);
  assert.equal(r.status, 'QRcode Payment generated successfully');
  const req = ff.last;
  assert.equal(req.method, 'POST');
  assert.equal(req.url, 'https://ibous.example/api/CreatePaymentQRcode');
  assert.equal(req.headers['api-token-key'], KEY);
  assert.equal(req.headers['api-token-secret'], SECRET);
  assert.equal(req.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(req.body), { qrcode_size: '8', amount: '60', currency: 'HTG', item: 'Coca Cola' });
});

test('createPaymentQRCode: bigint minor units, default base URL is Paygate', async () => {
  const ff = new FakeFetch().reply(fixture('ibous/create-qrcode.success.json'));
  const c = new IbousClient({ apiKey: ` ${KEY} `, apiSecret: SECRET, fetch: ff.fetch });
  await c.createPaymentQRCode({ qrcode_size: '4', amount: 20000n, currency: 'htg', item: 'Soda' });
  assert.equal(ff.last.url, 'http://127.0.0.1:8080/api/CreatePaymentQRcode');
  assert.equal(ff.last.headers['api-token-key'], KEY, 'stray spaces trimmed');
  assert.deepEqual(JSON.parse(ff.last.body), { qrcode_size: '4', amount: '200', currency: 'HTG', item: 'Soda' });
});

test('createPaymentQRCode: validation before sending', async () => {
  const ff = new FakeFetch();
  const c = client(ff);
  const base = { qrcode_size: 8 as const, amount: '60', currency: 'HTG', item: 'x' };
  await assert.rejects(c.createPaymentQRCode({ ...base, amount: 60 as unknown as string }), (e: unknown) => e instanceof ValidationError && e.field === 'amount');
  await assert.rejects(c.createPaymentQRCode({ ...base, amount: '60.5' }), ValidationError);
  await assert.rejects(c.createPaymentQRCode({ ...base, amount: '0' }), ValidationError);
  await assert.rejects(c.createPaymentQRCode({ ...base, qrcode_size: 5 as unknown as 4 }), ValidationError);
  await assert.rejects(c.createPaymentQRCode({ ...base, item: '' }), ValidationError);
  assert.equal(ff.requests.length, 0);
});

test('createPaymentQRCode: error:true answer is a ProviderError with the message and raw body', async () => {
  const body = '{"error":true,"status":"Invalid API credentials"}';
  const ff = new FakeFetch().reply(body, 401);
  await assert.rejects(client(ff).createPaymentQRCode({ qrcode_size: 8, amount: '60', currency: 'HTG', item: 'x' }), (e: unknown) => {
    assert.ok(e instanceof ProviderError);
    assert.equal(e.provider, 'ibous');
    assert.equal(e.providerMessage, 'Invalid API credentials');
    assert.equal(e.httpStatus, 401);
    assert.equal(e.rawBody, body);
    return true;
  });
});

test('paymentProcess: success, pending (error:true) and failed (error:true) are answers', async () => {
  const ff = new FakeFetch()
    .reply(fixture('ibous/payment-process.success.json'))
    .reply(fixture('ibous/payment-process.pending.json'))
    .reply(fixture('ibous/payment-process.failed.json'));
  const c = client(ff);
  const ok = await c.paymentProcess('40001561506926');
  assert.deepEqual(
    { s: ok.payment_status, paid: ok.paid, pending: ok.pending, failed: ok.failed, error: ok.error },
    { s: '2', paid: true, pending: false, failed: false, error: false },
  );
  assert.equal(ok.payment_id, '45281561507392');
  assert.equal(ok.user, 'Olriche Rosier');
  assert.equal(ok.amount, '200');
  assert.equal(ok.currency, 'HTG');
  assert.equal(ok.status, 'Successful Payment!');
  const pending = await c.paymentProcess('40001561506926');
  assert.equal(pending.pending, true);
  assert.equal(pending.error, true);
  assert.equal(pending.payment_id, undefined);
  const failed = await c.paymentProcess('40001561506926');
  assert.equal(failed.failed, true);
  assert.equal(failed.status, 'Payment Failed');
  for (const r of ff.requests) {
    assert.equal(r.url, 'https://ibous.example/api/PaymentProcess');
    assert.deepEqual(JSON.parse(r.body), { qrcode_id: '40001561506926' });
    assert.equal(r.headers['api-token-secret'], SECRET);
  }
});

test('paymentProcess: an answer without payment status is a ProviderError; non-JSON too', async () => {
  const ff = new FakeFetch().reply('{"error":true,"status":"QRcode not found"}', 404).reply('<html>502</html>', 502);
  const c = client(ff);
  await assert.rejects(c.paymentProcess('1'), (e: unknown) => e instanceof ProviderError && e.providerMessage === 'QRcode not found');
  await assert.rejects(c.paymentProcess('1'), (e: unknown) => e instanceof ProviderError && e.rawBody === '<html>502</html>');
});

test('paymentProcess: passes wait_ms for long-poll', async () => {
  const ff = new FakeFetch().reply(fixture('ibous/payment-process.pending.json'));
  await client(ff).paymentProcess('40001561506926', { wait_ms: 5000 });
  assert.deepEqual(JSON.parse(ff.last.body), { qrcode_id: '40001561506926', wait_ms: '5000' });
});

test('paymentRefund: success and the failed-refund quirk (error:false, transaction.status "0")', async () => {
  const ff = new FakeFetch().reply(fixture('ibous/payment-refund.success.json')).reply(fixture('ibous/payment-refund.failed.json'));
  const c = client(ff);
  const ok = await c.paymentRefund('45281561507392');
  assert.equal(ok.refunded, true);
  assert.equal(ok.transaction_status, '1');
  assert.deepEqual(ok.transaction, {
    user_sender: 'Rood Jhon',
    user_recipient: 'Olrache Rosier',
    type: 'Payment Refund',
    amount: '200',
    currency: 'HTG',
    fees: '0',
    system: 'ibous',
    date_time: '1561768964',
  });
  const failed = await c.paymentRefund('45281561507392');
  assert.equal(failed.refunded, false);
  assert.equal(failed.transaction_status, '0');
  assert.equal(failed.status, ' Process failed');
  assert.equal(ff.requests[0]!.url, 'https://ibous.example/api/PaymentRefund');
  assert.deepEqual(JSON.parse(ff.requests[0]!.body), { payment_id: '45281561507392' });
});

test('paymentRefund: error:true is a ProviderError', async () => {
  const ff = new FakeFetch().reply('{"error":true,"status":"Payment not found"}');
  await assert.rejects(client(ff).paymentRefund('9'), ProviderError);
});

test('waitForPayment: polls every interval until status 2', async () => {
  const ff = new FakeFetch()
    .reply(fixture('ibous/payment-process.pending.json'))
    .fail()
    .reply(fixture('ibous/payment-process.pending.json'))
    .reply(fixture('ibous/payment-process.success.json'));
  const started = Date.now();
  const r = await client(ff).waitForPayment('40001561506926', { interval_ms: 20, timeout_ms: 5000 });
  assert.equal(r.paid, true);
  assert.equal(ff.requests.length, 4, 'a transport error while polling is tolerated');
  assert.ok(Date.now() - started >= 55, 'waited between polls');
});

test('waitForPayment: default interval is the seed 100 ms; stops on status 3', async () => {
  const times: number[] = [];
  const ff = new FakeFetch()
    .handle(() => (times.push(Date.now()), { body: fixture('ibous/payment-process.pending.json') }))
    .handle(() => (times.push(Date.now()), { body: fixture('ibous/payment-process.failed.json') }));
  const r = await client(ff).waitForPayment('40001561506926', { timeout_ms: 5000 });
  assert.equal(r.failed, true);
  assert.ok(times[1]! - times[0]! >= 95, `interval ${times[1]! - times[0]!} ms`);
});

test('waitForPayment: timeout throws WaitTimeoutError carrying the last answer', async () => {
  const ff = new FakeFetch().always(() => ({ body: fixture('ibous/payment-process.pending.json') }));
  await assert.rejects(client(ff).waitForPayment('1', { interval_ms: 10, timeout_ms: 80 }), (e: unknown) => {
    assert.ok(e instanceof WaitTimeoutError);
    assert.equal((e.last as { pending: boolean }).pending, true);
    return true;
  });
});

test('waitForPayment: abort signal rejects with its reason', async () => {
  const ff = new FakeFetch().always(() => ({ body: fixture('ibous/payment-process.pending.json') }));
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(new Error('stop')), 50);
  await assert.rejects(client(ff).waitForPayment('1', { signal: ctl.signal, interval_ms: 10 }), /stop/);
});

test('waitForPayment: longPoll sends wait_ms bounded by the remaining time', async () => {
  const ff = new FakeFetch()
    .handle(async () => {
      await new Promise((r) => setTimeout(r, 30)); // the server holds the request
      return { body: fixture('ibous/payment-process.pending.json') };
    })
    .reply(fixture('ibous/payment-process.success.json'));
  const r = await client(ff).waitForPayment('40001561506926', { longPoll: true, long_poll_ms: 20_000, timeout_ms: 10_000 });
  assert.equal(r.paid, true);
  const w0 = Number(JSON.parse(ff.requests[0]!.body).wait_ms);
  assert.ok(w0 > 9000 && w0 <= 10_000, `wait_ms ${w0}`);
  assert.ok(Number(JSON.parse(ff.requests[1]!.body).wait_ms) <= w0);
});
