// Authentication under attack, through HTTP: brute force on one IntouchPay username or one
// FlexPay merchant is blocked per credential (429 + Retry-After, in the dialect's shape) while
// other merchants go on; a replayed IntouchPay request outside the timestamp window is refused;
// a subscriber's PIN locks after repeated failures (wallet lockout: src/rails/wallet/wallet.test.ts,
// per-IP blocks: src/http/rate-limit.test.ts, ibous per key: src/dialects/ibous/ibous.test.ts,
// KessPay token expiry: src/dialects/kesspay/kesspay.test.ts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../harness.ts';
import { call, flexpay, intouch, intouchAuth, json } from './clients.ts';

let t: TestGateway;
let a: any;
let b: any;

before(async () => {
  // Per-credential limit 3 in the 60 s window; the per-IP one stays out of the way.
  t = await startGateway({ env: { PAYGATE_RATE_CREDENTIAL_AUTH_FAILURES: '3', PAYGATE_RATE_IP_AUTH_FAILURES: '1000' } });
  a = await t.createMerchant('Brute A');
  b = await t.createMerchant('Brute B');
});
after(() => t.close());

describe('per-credential blocking', () => {
  test('IntouchPay: 3 wrong passwords for a username block it (429, 0008 shape) even with the right password; other usernames go on; the window passes', async () => {
    const c = a.credentials.intouchpay;
    for (let i = 0; i < 3; i++) {
      const r = await intouch(t.url, { ...c, partner_password: 'wrong' }, 'getbalance', {}, t.clock.now());
      assert.deepEqual([r.status, r.body.responsecode], [401, '0005']);
    }
    const blocked = await intouch(t.url, c, 'getbalance', {}, t.clock.now());
    assert.equal(blocked.status, 429);
    assert.equal(blocked.body.success, false);
    assert.equal(typeof blocked.body.responsecode, 'string');
    assert.match(blocked.body.message, /Too many failed authentications/);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    const other = await intouch(t.url, b.credentials.intouchpay, 'getbalance', {}, t.clock.now());
    assert.deepEqual([other.status, other.body.success], [200, true], 'another merchant is not affected');
    t.clock.advance(61_000);
    const again = await intouch(t.url, c, 'getbalance', {}, t.clock.now());
    assert.deepEqual([again.status, again.body.success], [200, true]);
  });

  test('FlexPay: 3 wrong tokens for a merchant code block it (429, FlexPay shape); other merchants go on', async () => {
    const c = a.credentials.flexpay;
    const body = { merchant: c.merchant, type: 1, reference: 'BF1', phone: '243990000001', amount: '10', currency: 'USD' };
    for (let i = 0; i < 3; i++) {
      const r = await flexpay(t.url, { ...c, token: 'wrong-token-' + i }, '/api/rest/v1/merchantPayOutService', body);
      assert.deepEqual([r.status, r.body.code], [401, '1']);
    }
    const blocked = await flexpay(t.url, c, '/api/rest/v1/merchantPayOutService', body);
    assert.equal(blocked.status, 429);
    assert.deepEqual([blocked.body.code, blocked.body.orderNumber], ['1', null]);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    const bc = b.credentials.flexpay;
    const other = await flexpay(t.url, bc, '/api/rest/v1/merchantPayOutService', { ...body, merchant: bc.merchant });
    assert.notEqual(other.status, 429, 'another merchant is not affected');
    assert.notEqual(other.status, 401);
  });
});

test('IntouchPay: a captured request replayed outside the ±300 s window is refused (0008), nothing created', async () => {
  const c = b.credentials.intouchpay;
  await t.createPayer('subscriber', { phone: '250788100001', currency: 'RWF', balance: '10000' });
  const captured = { ...intouchAuth(c, t.clock.now()), amount: '500', mobilephone: '250788100001', requesttransactionid: 'replay-1' };
  const send = () => call(`${t.url}/api/requestpayment/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(captured).toString() });
  t.clock.advance(301_000);
  const r = await send();
  assert.deepEqual([r.status, r.body.responsecode], [401, '0008']);
  const list = await t.admin('GET', `/admin/payments?merchant_id=${b.id}`);
  assert.equal(JSON.stringify(list.body).includes('replay-1'), false);
});

test('subscriber PIN lockout: 5 wrong PINs lock the handset (423), even the right PIN waits; unlocks after 15 minutes', async () => {
  const c = a.credentials.intouchpay;
  await t.createPayer('subscriber', { phone: '250788100002', pin: '4321', currency: 'RWF', balance: '10000' });
  const r = await intouch(t.url, c, 'requestpayment', { amount: '500', mobilephone: '250788100002', requesttransactionid: 'lock-1' }, t.clock.now());
  assert.equal(r.status, 200, r.text);
  const prompts = (await call(`${t.url}/handset/api/250788100002/prompts`)).body.prompts;
  const approve = (pin: string) => call(`${t.url}/handset/api/250788100002/prompts/${prompts[0].id}/approve`, json({ pin }));
  const codes: number[] = [];
  for (let i = 0; i < 5; i++) codes.push((await approve('0000')).status);
  assert.deepEqual(codes.slice(0, 4), [401, 401, 401, 401]);
  const locked = await approve('4321');
  assert.equal(locked.status, 423, locked.text);
  const st = await intouch(t.url, c, 'gettransactionstatus', { requesttransactionid: 'lock-1', transactionid: r.body.transactionid }, t.clock.now());
  assert.equal(st.body.responsecode, '1000', 'still pending: no money moved');
  assert.deepEqual(await t.verify(), []);
});
