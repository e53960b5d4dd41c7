import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KessPayClient, type KessPayClientOptions } from './client.ts';
import { ProviderError, ValidationError } from '../core/errors.ts';
import { FakeFetch, fixture, type RecordedRequest } from '../testing/fake-fetch.ts';

const SEED_TOKEN = 'eyJ0eXA iOiJKV1Q***';

function client(ff: FakeFetch, extra: Partial<KessPayClientOptions> = {}) {
  return new KessPayClient({ user: 'merchant', password: 's3cret', baseUrl: 'http://pg.test', fetch: ff.fetch, ...extra });
}

function jwt(payload: object): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ typ: 'JWT', alg: 'HS256' })}.${b64(payload)}.sig`;
}

/** Route by path: token answers from `token`, everything else from the queue handler. */
function routed(answers: Record<string, string[]>, tokenBody = fixture('kesspay/token.success.json')) {
  const ff = new FakeFetch();
  ff.always((req) => {
    const path = new URL(req.url).pathname;
    if (path === '/kesspay/api/token') return { body: tokenBody };
    const q = answers[path];
    const next = q?.shift();
    if (next === undefined) return new Error(`unexpected ${path}`);
    return { body: next };
  });
  return ff;
}

const ops = (ff: FakeFetch) => ff.requests.map((r) => new URL(r.url).pathname);
const bodyOf = (r: RecordedRequest) => r.body;

test('token: fetched with user/password JSON, cached, sent as Bearer', async () => {
  const ff = routed({ '/kesspay/api/check-payment': [fixture('kesspay/check-payment.success.json'), fixture('kesspay/check-payment.success.json')] });
  const c = client(ff);
  await c.checkPayment({ store_id: 109038, out_trade_no: 'ORDER-433***' });
  await c.checkPayment({ store_id: 109038, out_trade_no: 'ORDER-433***' });
  assert.deepEqual(ops(ff), ['/kesspay/api/token', '/kesspay/api/check-payment', '/kesspay/api/check-payment']);
  const tok = ff.requests[0]!;
  assert.equal(tok.method, 'POST');
  assert.equal(tok.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(tok.body), { user: 'merchant', password: 's3cret' });
  assert.equal(tok.headers.authorization, undefined);
  assert.equal(ff.requests[1]!.headers.authorization, `Bearer ${SEED_TOKEN}`);
  assert.equal(bodyOf(ff.requests[1]!), '{"store_id":109038,"out_trade_no":"ORDER-433***"}');
});

test('token: refreshed before the 60 s expiry (refresh margin), using the injected clock', async () => {
  let now = 1_000_000;
  const ff = routed({ '/kesspay/api/check-refund': Array(3).fill(fixture('kesspay/check-refund.success.json')) });
  const c = client(ff, { now: () => now });
  await c.checkRefund({ store_id: '109038', out_trade_no: 'ORDER-433***' });
  now += 49_000; // 11 s left > 10 s margin: cached
  await c.checkRefund({ store_id: '109038', out_trade_no: 'ORDER-433***' });
  now += 2_000; // 9 s left: refresh
  await c.checkRefund({ store_id: '109038', out_trade_no: 'ORDER-433***' });
  assert.deepEqual(ops(ff).filter((p) => p.endsWith('/token')).length, 2);
});

test('token: a JWT exp shorter than 60 s wins; concurrent calls share one token request', async () => {
  let now = 1_700_000_000_000;
  const token = jwt({ exp: now / 1000 + 20 });
  const ff = routed(
    { '/kesspay/api/check-payment': Array(4).fill(fixture('kesspay/check-payment.success.json')) },
    JSON.stringify({ success: true, data: { message: 'SUCCESS', token } }),
  );
  const c = client(ff, { now: () => now });
  await Promise.all([1, 2, 3].map(() => c.checkPayment({ store_id: 1, out_trade_no: 'o' })));
  assert.equal(ops(ff).filter((p) => p.endsWith('/token')).length, 1);
  assert.equal(ff.last.headers.authorization, `Bearer ${token}`);
  now += 11_000; // 9 s left of the JWT's 20 s
  await c.checkPayment({ store_id: 1, out_trade_no: 'o' });
  assert.equal(ops(ff).filter((p) => p.endsWith('/token')).length, 2);
});

test('token: older API generation {"status":"SUCCESS","msg":"<jwt>"} accepted', async () => {
  const ff = routed({ '/kesspay/api/check-payment': [fixture('kesspay/check-payment.success.json')] }, fixture('kesspay/token.legacy.json'));
  await client(ff).checkPayment({ store_id: 1, out_trade_no: 'o' });
  assert.equal(ff.last.headers.authorization, 'Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.legacy.sig');
});

test('token: failure is a ProviderError', async () => {
  const ff = new FakeFetch().reply('{"success":false,"message":"Invalid credentials"}', 401);
  await assert.rejects(client(ff).getToken(), (e: unknown) => e instanceof ProviderError && e.operation === 'token' && e.providerMessage === 'Invalid credentials');
});

test('expired-token answer: token refreshed and the call retried once', async () => {
  const ff = new FakeFetch()
    .reply(fixture('kesspay/token.success.json'))
    .reply('{"success":false,"message":"Token has expired"}', 401)
    .replyJson({ success: true, data: { message: 'SUCCESS', token: 'fresh' } })
    .reply(fixture('kesspay/native-pay.success.json'));
  const r = await client(ff).nativePay({ service_id: 30, store_id: '123**', amount: '0.01', out_trade_no: 'ORDER-4339***' });
  assert.equal(r.result_code, 'SUCCESS');
  assert.deepEqual(ops(ff), ['/kesspay/api/token', '/kesspay/api/native-pay', '/kesspay/api/token', '/kesspay/api/native-pay']);
  assert.equal(ff.requests[3]!.headers.authorization, 'Bearer fresh');
  assert.equal(ff.requests[1]!.body, ff.requests[3]!.body);
});

test('expired-token answer twice: no third attempt, ProviderError', async () => {
  const expired = '{"success":false,"message":"Token expired"}';
  const ff = new FakeFetch()
    .reply(fixture('kesspay/token.success.json'))
    .reply(expired, 200)
    .reply(fixture('kesspay/token.success.json'))
    .reply(expired, 200);
  await assert.rejects(client(ff).checkPayment({ store_id: 1, out_trade_no: 'o' }), ProviderError);
  assert.equal(ff.requests.length, 4);
});

test('nativePay: seed request (amount as the JSON number 0.01, exactly), recorded answer', async () => {
  const ff = routed({ '/kesspay/api/native-pay': [fixture('kesspay/native-pay.success.json')] });
  const r = await client(ff).nativePay({
    service_id: 30,
    store_id: '123**',
    sub_store_id: 123,
    sub_store_name: 'Test Store',
    amount: '0.01',
    fee_rate: 2,
    out_trade_no: 'ORDER-4339***',
  });
  assert.equal(r.qr_code, 'weixin://wxpay/bizpayurl?pr=6E4ptwz');
  assert.equal(r.amount, '0.01');
  assert.equal(r.out_trade_no, 'ORDER-433***');
  assert.equal(r.result_code, 'SUCCESS');
  const req = ff.last;
  assert.equal(req.url, 'http://pg.test/kesspay/api/native-pay');
  assert.equal(req.headers['content-type'], 'application/json');
  assert.equal(
    req.body,
    '{"service_id":30,"store_id":"123**","sub_store_id":123,"sub_store_name":"Test Store","amount":0.01,"fee_rate":2,"out_trade_no":"ORDER-4339***"}',
  );
});

test('nativePay: bigint cents, validation before sending', async () => {
  const ff = routed({ '/kesspay/api/native-pay': [fixture('kesspay/native-pay.success.json')] });
  const c = client(ff);
  await c.nativePay({ service_id: '2', store_id: 10, amount: 1050n, out_trade_no: 'A-1' });
  assert.equal(ff.last.body, '{"service_id":2,"store_id":10,"amount":10.5,"out_trade_no":"A-1"}');
  const n = ff.requests.length;
  await assert.rejects(c.nativePay({ service_id: 30, store_id: 1, amount: 0.01 as unknown as string, out_trade_no: 'x' }), ValidationError);
  await assert.rejects(c.nativePay({ service_id: 30, store_id: 1, amount: '0.001', out_trade_no: 'x' }), ValidationError);
  await assert.rejects(c.nativePay({ service_id: 'wechat', store_id: 1, amount: '1', out_trade_no: 'x' }), ValidationError);
  await assert.rejects(c.nativePay({ service_id: 30, store_id: 1, amount: '1', out_trade_no: '' }), ValidationError);
  assert.equal(ff.requests.length, n);
});

test('quickPay: immediate SUCCESS; auth_code sent as a string (18 digits survive)', async () => {
  const ff = routed({ '/kesspay/api/quick-pay': [fixture('kesspay/quick-pay.success.json')] });
  const r = await client(ff).quickPay({
    service_id: 2,
    store_id: '10***',
    sub_store_id: '123***',
    sub_store_name: 'Foo Bar',
    amount: '0.01',
    fee_rate: '2',
    auth_code: '284957123456789012',
    out_trade_no: 'ORDER-433***',
  });
  assert.equal(r.outcome, 'success');
  assert.equal(r.pay.transaction_id, '4200***');
  assert.equal(r.pay.currency, 'USD');
  assert.equal(r.check, undefined);
  assert.equal(JSON.parse(ff.last.body).auth_code, '284957123456789012');
  assert.match(ff.last.body, /"amount":0\.01,/);
  await assert.rejects(
    client(ff).quickPay({ service_id: 2, store_id: 1, amount: '1', out_trade_no: 'x', auth_code: undefined as unknown as string }),
    ValidationError,
  );
});

const userpaying = '{"success":true,"data":{"amount":0.01,"currency":"USD","out_trade_no":"ORDER-433***","result_code":"USERPAYING"}}';
const notYet = '{"success":true,"data":{"is_success":false,"out_trade_no":"ORDER-433***","message":"Payment Pending"}}';

test('quickPay: USERPAYING then checkPayment every interval until success', async () => {
  const ff = routed({
    '/kesspay/api/quick-pay': [userpaying],
    '/kesspay/api/check-payment': [notYet, notYet, fixture('kesspay/check-payment.success.json')],
  });
  const times: number[] = [];
  const origFetch = ff.fetch;
  const c = client(ff, {
    fetch: (u, i) => {
      times.push(Date.now());
      return origFetch(u, i);
    },
  });
  const r = await c.quickPay(
    { service_id: 2, store_id: 109038, amount: '0.01', auth_code: '284957', out_trade_no: 'ORDER-433***' },
    { confirm_interval_ms: 30, confirm_timeout_ms: 2000 },
  );
  assert.equal(r.outcome, 'success');
  assert.equal(r.pay.result_code, 'USERPAYING');
  assert.equal(r.check?.is_success, true);
  assert.equal(r.check?.message, 'Payment Successful!');
  assert.deepEqual(ops(ff), ['/kesspay/api/token', '/kesspay/api/quick-pay', '/kesspay/api/check-payment', '/kesspay/api/check-payment', '/kesspay/api/check-payment']);
  assert.equal(ff.last.body, '{"store_id":109038,"out_trade_no":"ORDER-433***"}');
  for (let i = 3; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 25, 'interval respected');
});

test('quickPay: defaults are the seed 3 s / 45 s (checked with an injected clock)', async () => {
  // the clock jumps 3 s per check so the 45 s window closes after 15 checks
  let now = 0;
  const ff = routed({ '/kesspay/api/quick-pay': [userpaying], '/kesspay/api/check-payment': Array(40).fill(notYet) });
  const orig = ff.fetch;
  const c2 = new KessPayClient({
    user: 'merchant',
    password: 's3cret',
    baseUrl: 'http://pg.test',
    now: () => now,
    fetch: async (u, i) => {
      if (u.endsWith('/check-payment')) now += 3_000;
      return orig(u, i);
    },
  });
  // the interval is real time, so shrink it; the 45 s window is measured on the injected clock
  const r = await c2.quickPay(
    { service_id: 2, store_id: 1, amount: '1', auth_code: '1', out_trade_no: 'o' },
    { confirm_interval_ms: 1 },
  );
  assert.equal(r.outcome, 'timeout');
  assert.equal(r.check?.is_success, false);
  assert.equal(ops(ff).filter((p) => p.endsWith('/check-payment')).length, 15);
});

test('quickPay: another result_code or success:false is a ProviderError with the code', async () => {
  const ff = routed({
    '/kesspay/api/quick-pay': [
      '{"success":true,"data":{"out_trade_no":"o","result_code":"FAIL","message":"Auth code expired"}}',
      '{"success":false,"error":{"code":"AUTH_CODE_INVALID","message":"invalid auth_code"}}',
    ],
  });
  const c = client(ff);
  const input = { service_id: 2, store_id: 1, amount: '1', auth_code: '1', out_trade_no: 'o' };
  await assert.rejects(c.quickPay(input), (e: unknown) => e instanceof ProviderError && e.code === 'FAIL' && e.providerMessage === 'Auth code expired');
  await assert.rejects(c.quickPay(input), (e: unknown) => e instanceof ProviderError && e.code === 'AUTH_CODE_INVALID');
});

test('jsapiPay: seed request and answer', async () => {
  const ff = routed({ '/kesspay/api/jsapi-pay': [fixture('kesspay/jsapi-pay.success.json')] });
  const r = await client(ff).jsapiPay({ service_id: 30, store_id: '10***', amount: '0.01', fee_rate: 2, out_trade_no: 'ORDER-433***' });
  assert.equal(r.result_code, 'SUCCESS');
  assert.equal(r.transaction_id, '4200***');
  assert.equal(ff.last.url, 'http://pg.test/kesspay/api/jsapi-pay');
});

test('refund: seed request (refund_amount literal) and answer', async () => {
  const ff = routed({ '/kesspay/api/refund': [fixture('kesspay/refund.success.json')] });
  const r = await client(ff).refund({
    service_id: 30,
    store_id: '109038',
    refund_amount: '0.01',
    out_trade_no: 'ORDER-433***',
    out_refund_no: 'REFUND-433***-1',
    reason: '....',
  });
  assert.equal(r.result_code, 'SUCCESS');
  assert.equal(r.amount, '0.01');
  assert.equal(r.data.store_id, '109038');
  assert.equal(r.data.out_refund_no, 'REFUND-433***-1');
  assert.equal(
    ff.last.body,
    '{"service_id":30,"store_id":"109038","refund_amount":0.01,"out_trade_no":"ORDER-433***","out_refund_no":"REFUND-433***-1","reason":"...."}',
  );
});

test('checkPayment / checkRefund: seed answers (duplicate keys tolerated), not-yet is an answer', async () => {
  const ff = routed({
    '/kesspay/api/check-payment': [fixture('kesspay/check-payment.success.json'), notYet],
    '/kesspay/api/check-refund': [fixture('kesspay/check-refund.success.json')],
  });
  const c = client(ff);
  const p = await c.checkPayment({ store_id: 109038, out_trade_no: 'ORDER-433***' });
  assert.deepEqual(
    { ok: p.is_success, m: p.message, a: p.amount, sid: p.service_id, r: p.out_refund_no },
    { ok: true, m: 'Payment Successful!', a: '0.01', sid: '30', r: 'REFUND-433***' },
  );
  assert.equal((await c.checkPayment({ store_id: 109038, out_trade_no: 'ORDER-433***' })).is_success, false);
  const rf = await c.checkRefund({ store_id: 109038, out_trade_no: 'ORDER-433***', out_refund_no: 'REFUND-433***' });
  assert.equal(rf.is_success, true);
  assert.equal(rf.message, 'Refund Successful!');
  assert.equal(ff.last.url, 'http://pg.test/kesspay/api/check-refund');
  assert.equal(ff.last.body, '{"store_id":109038,"out_trade_no":"ORDER-433***","out_refund_no":"REFUND-433***"}');
});

test('paths are configurable', async () => {
  const ff = new FakeFetch().reply(fixture('kesspay/token.success.json')).reply(fixture('kesspay/check-payment.success.json'));
  const c = client(ff, { baseUrl: 'https://api.kess.example/v1/', paths: { token: '/get-token', checkPayment: 'payment/check' } });
  await c.checkPayment({ store_id: 1, out_trade_no: 'o' });
  assert.deepEqual(
    ff.requests.map((r) => r.url),
    ['https://api.kess.example/v1/get-token', 'https://api.kess.example/v1/payment/check'],
  );
});
