// @paygate/sdk KessPayClient against a started Paygate (both engines). Complements the
// client test in src/dialects/kesspay/kesspay.test.ts (Native Pay, Quick Pay above the limit,
// proactive token refresh) with every other method and path: getToken, Quick Pay below the
// limit, JSAPI Pay confirmed in the wallet app, partial refunds with checkRefund per refund,
// the retry after an expired-token answer, the confirmation loop's timeout and typed errors.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../harness.ts';
import { KessPayClient, ProviderError, ValidationError } from '../../packages/sdk/src/index.ts';
import { walletSession } from './payer.ts';

let t: TestGateway;
let kess: { user: string; password: string; store_id: string };
let client: KessPayClient;
let payer: Awaited<ReturnType<typeof walletSession>>;
const PHONE = '85512340001';
const PIN = '1357';
let n = 0;
const orderNo = () => `ORDER-5339${String(++n).padStart(4, '0')}`;

before(async () => {
  t = await startGateway();
  kess = (await t.createMerchant('Kess SDK Shop')).credentials.kesspay;
  // the client's clock is the gateway's (manual) clock, so token lifetimes follow t.clock
  client = new KessPayClient({ baseUrl: t.url, user: kess.user, password: kess.password, now: () => t.clock.now().getTime() });
  await t.createPayer('wallet', { name: 'Sokha Chan', phone: PHONE, currency: 'USD', balance: '500.00', pin: PIN });
  payer = await walletSession(t, PHONE, PIN);
});

after(async () => {
  assert.deepEqual(await t.verify(), []);
  await t.close();
});

test('getToken: fetched once, cached, shared by concurrent calls, refreshed on force', async () => {
  let tokenCalls = 0;
  const counting = new KessPayClient({
    baseUrl: t.url, user: kess.user, password: kess.password, now: () => t.clock.now().getTime(),
    fetch: (input, init) => { if (String(input).endsWith('/kesspay/api/token')) tokenCalls++; return fetch(input, init); },
  });
  const [a, b] = await Promise.all([counting.getToken(), counting.getToken()]);
  assert.equal(a, b);
  assert.match(a, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.equal(tokenCalls, 1);
  await counting.checkRefund({ store_id: kess.store_id, out_trade_no: (await counting.nativePay({ service_id: 30, store_id: kess.store_id, amount: '0.01', out_trade_no: orderNo() })).out_trade_no! });
  assert.equal(tokenCalls, 1, 'calls reuse the cached token');
  const c = await counting.getToken({ force: true });
  assert.equal(tokenCalls, 2);
  assert.ok(c);
});

test('an expired-token answer (server clock past 60 s, client unaware) is refreshed and the call retried once', async () => {
  let tokenCalls = 0;
  // this client uses the real clock: it believes its token is fresh when the server does not
  const naive = new KessPayClient({
    baseUrl: t.url, user: kess.user, password: kess.password,
    fetch: (input, init) => { if (String(input).endsWith('/kesspay/api/token')) tokenCalls++; return fetch(input, init); },
  });
  const native = await naive.nativePay({ service_id: 30, store_id: kess.store_id, amount: '0.02', out_trade_no: orderNo() });
  assert.equal(tokenCalls, 1);
  t.clock.advance(61_000);
  const check = await naive.checkPayment({ store_id: kess.store_id, out_trade_no: native.out_trade_no! });
  assert.equal(check.is_success, false);
  assert.equal(check.data.trade_state, 'NOTPAY');
  assert.equal(tokenCalls, 2, 'TOKEN_EXPIRED → one new token, the call retried');
});

test('Native Pay full payment: wallet pays the qr_code, checkPayment, partial refunds, checkRefund by out_refund_no', async () => {
  const before = await payer.balance('USD');
  const native = await client.nativePay({ service_id: 30, store_id: kess.store_id, sub_store_id: 12345, sub_store_name: 'Test Store', amount: '10.00', fee_rate: 2, out_trade_no: orderNo() });
  assert.equal(native.result_code, 'SUCCESS');
  assert.equal(native.currency, 'USD');
  assert.match(native.qr_code!, new RegExp(`^${t.url}/wallet/pay/`));
  assert.equal((await client.checkPayment({ store_id: kess.store_id, out_trade_no: native.out_trade_no! })).is_success, false);
  const resolved = await payer.resolve(native.qr_code!);
  assert.equal(resolved.merchant, 'Test Store', 'the payee is the sub-store');
  await payer.pay(native.qr_code!);
  assert.equal(await payer.balance('USD'), before - 1020n, 'amount + 2% fee_rate');
  const paid = await client.checkPayment({ store_id: Number(kess.store_id), out_trade_no: native.out_trade_no! });
  assert.deepEqual([paid.is_success, paid.message, paid.amount, paid.currency, paid.service_id], [true, 'Payment Successful!', '10', 'USD', '30']);

  assert.equal((await client.checkRefund({ store_id: kess.store_id, out_trade_no: native.out_trade_no! })).is_success, false);
  const r1 = await client.refund({ service_id: 30, store_id: kess.store_id, refund_amount: 250n, out_trade_no: native.out_trade_no!, out_refund_no: `${native.out_trade_no}-R1`, reason: 'one broken' });
  assert.deepEqual([r1.result_code, r1.amount], ['SUCCESS', '2.5']);
  const r2 = await client.refund({ service_id: 30, store_id: kess.store_id, refund_amount: '1.25', out_trade_no: native.out_trade_no!, out_refund_no: `${native.out_trade_no}-R2` });
  assert.equal(r2.result_code, 'SUCCESS');
  const c1 = await client.checkRefund({ store_id: kess.store_id, out_trade_no: native.out_trade_no!, out_refund_no: `${native.out_trade_no}-R1` });
  assert.deepEqual([c1.is_success, c1.out_refund_no, c1.amount, c1.message], [true, `${native.out_trade_no}-R1`, '2.5', 'Refund Successful!']);
  const latest = await client.checkRefund({ store_id: kess.store_id, out_trade_no: native.out_trade_no! });
  assert.deepEqual([latest.out_refund_no, latest.amount, latest.data.refunded_amount], [`${native.out_trade_no}-R2`, '1.25', '3.75']);
  assert.equal(await payer.balance('USD'), before - 1020n + 375n);
  // refunding past the amount is a ProviderError with KessPay's code
  await assert.rejects(
    client.refund({ service_id: 30, store_id: kess.store_id, refund_amount: '10.00', out_trade_no: native.out_trade_no!, out_refund_no: `${native.out_trade_no}-R3` }),
    (e: unknown) => e instanceof ProviderError && e.httpStatus >= 400 && e.httpStatus < 500 && typeof e.code === 'string',
  );
});

test('Quick Pay below the PIN limit: SUCCESS at once with transaction_id; the code works once', async () => {
  const before = await payer.balance('USD');
  const code = await payer.code();
  assert.match(code, /^28\d{16}$/);
  const quick = await client.quickPay({ service_id: 2, store_id: kess.store_id, amount: '0.01', fee_rate: 2, auth_code: code, out_trade_no: orderNo() });
  assert.equal(quick.outcome, 'success');
  assert.equal(quick.pay.result_code, 'SUCCESS');
  assert.match(quick.pay.transaction_id!, /^\d+$/);
  assert.equal(quick.check, undefined, 'no confirmation loop');
  assert.equal(await payer.balance('USD'), before - 1n, '0.01 + 2% rounds to 0.01');
  await assert.rejects(
    client.quickPay({ service_id: 2, store_id: kess.store_id, amount: '0.01', auth_code: code, out_trade_no: orderNo() }),
    (e: unknown) => e instanceof ProviderError && e.code === 'AUTH_CODE_USED' && e.httpStatus === 409,
  );
});

test('Quick Pay above the PIN limit: USERPAYING, the payer approves in the wallet app, the loop sees success', async () => {
  const code = await payer.code();
  const quick = client.quickPay({ service_id: 2, store_id: kess.store_id, amount: '60.00', auth_code: code, out_trade_no: orderNo() }, { confirm_interval_ms: 20, confirm_timeout_ms: 60_000 });
  await payer.approvePending();
  const done = await quick;
  assert.equal(done.outcome, 'success');
  assert.equal(done.pay.result_code, 'USERPAYING');
  assert.deepEqual([done.check?.is_success, done.check?.amount], [true, '60']);
});

test('Quick Pay above the limit without approval: the loop ends with outcome "timeout" and the last check', async () => {
  const real = new KessPayClient({ baseUrl: t.url, user: kess.user, password: kess.password });
  const code = await payer.code();
  const out = orderNo();
  const quick = await real.quickPay({ service_id: 2, store_id: kess.store_id, amount: '75.00', auth_code: code, out_trade_no: out }, { confirm_interval_ms: 20, confirm_timeout_ms: 100 });
  assert.equal(quick.outcome, 'timeout');
  assert.equal(quick.check?.is_success, false);
  assert.equal(quick.check?.data.trade_state, 'USERPAYING');
  // the payer declines afterwards: the order reads failed
  const item = (await payer.api('GET', 'code/confirmations')).body.items[0];
  assert.equal((await payer.api('POST', `code/confirmations/${item.payment_id}/decline`, {})).status, 200);
  const check = await real.checkPayment({ store_id: kess.store_id, out_trade_no: out });
  assert.deepEqual([check.is_success, check.message], [false, 'Payment declined by the buyer']);
});

test('JSAPI Pay: prepay_id + pay_url, the payer confirms in the app, checkPayment success, full refund', async () => {
  const jsapi = await client.jsapiPay({ service_id: 30, store_id: kess.store_id, sub_store_name: 'Foo Bar', amount: '3.50', fee_rate: 2, auth_code: '284957', out_trade_no: orderNo() });
  assert.equal(jsapi.result_code, 'SUCCESS');
  const prepay_id = jsapi.data.prepay_id as string;
  assert.ok(prepay_id);
  assert.equal(jsapi.data.pay_url, `${t.url}/wallet/jsapi/${prepay_id}`);
  assert.equal((await client.checkPayment({ store_id: kess.store_id, out_trade_no: jsapi.out_trade_no! })).is_success, false);
  await payer.confirmJsapi(prepay_id);
  assert.equal((await client.checkPayment({ store_id: kess.store_id, out_trade_no: jsapi.out_trade_no! })).is_success, true);
  const refund = await client.refund({ service_id: 30, store_id: kess.store_id, refund_amount: '3.50', out_trade_no: jsapi.out_trade_no!, out_refund_no: `${jsapi.out_trade_no}-R` });
  assert.equal(refund.result_code, 'SUCCESS');
  assert.equal((await client.checkRefund({ store_id: kess.store_id, out_trade_no: jsapi.out_trade_no! })).is_success, true);
});

test('errors: unknown order, wrong credentials and bad input', async () => {
  await assert.rejects(client.checkPayment({ store_id: kess.store_id, out_trade_no: 'NO-SUCH-ORDER' }), (e: unknown) => e instanceof ProviderError && e.code === 'ORDER_NOT_EXIST' && e.httpStatus === 404);
  const wrong = new KessPayClient({ baseUrl: t.url, user: kess.user, password: 'wrong' });
  await assert.rejects(wrong.getToken(), (e: unknown) => e instanceof ProviderError && e.httpStatus === 401);
  await assert.rejects(client.nativePay({ service_id: 30, store_id: kess.store_id, amount: 0.01 as any, out_trade_no: orderNo() }), ValidationError);
  await assert.rejects(client.quickPay({ service_id: 2, store_id: kess.store_id, amount: '1', out_trade_no: orderNo() } as any), ValidationError);
});
