// Text the database cannot store (a NUL character) is the client's error in every dialect:
// a 4xx in the dialect's shape, never a 500, and nothing is written. Found by review: FlexPay
// answered 500 for a NUL in `reference` or `description`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../harness.ts';
import { call, type Creds, flexpay, ibous, intouch, json, kess, kessToken } from './clients.ts';

let t: TestGateway;
let creds: Creds;
before(async () => {
  t = await startGateway();
  creds = (await t.createMerchant('Nul Shop')).credentials;
  await t.createPayer('subscriber', { phone: '250788700001', currency: 'RWF', balance: '1000' });
});
after(async () => { await t.close(); });

const NUL = 'a\u0000b';
const count = async () => (await t.db.query('select (select count(*) from payments)::int as p, (select count(*) from payouts)::int as po'))[0];

test('a NUL in any text field is a 4xx in the dialect shape, and nothing is written', async () => {
  const before = await count();
  const c = creds.flexpay;
  const base = { merchant: c.merchant, amount: '5', currency: 'USD', callback_url: 'http://127.0.0.1:9/cb', approve_url: 'http://127.0.0.1:9/a', decline_url: 'http://127.0.0.1:9/d' };
  const answers = [
    ['flexpay reference', await flexpay(t.url, c, '/v1.1/pay', { ...base, reference: NUL })],
    ['flexpay description', await flexpay(t.url, c, '/v1.1/pay', { ...base, reference: 'N1', description: NUL })],
    ['flexpay mobile reference', await flexpay(t.url, c, '/api/rest/v1/paymentService', { merchant: c.merchant, type: 1, reference: NUL, phone: '243810000001', amount: '5', currency: 'USD', callbackUrl: 'http://127.0.0.1:9/cb' })],
    ['ibous item', await ibous(t.url, creds.ibous, 'CreatePaymentQRcode', { qrcode_size: '4', amount: '60', currency: 'HTG', item: NUL })],
    ['intouchpay requesttransactionid', await intouch(t.url, creds.intouchpay, 'requestpayment', { amount: '500', mobilephone: '250788700001', requesttransactionid: NUL }, t.clock.now())],
    ['kesspay out_trade_no', await kess(t.url, await kessToken(t.url, creds.kesspay!), 'native-pay', { service_id: 30, store_id: creds.kesspay!.store_id, amount: 0.01, out_trade_no: NUL })],
    ['operator merchant name', await call(`${t.url}/admin/merchants`, { ...json({ name: NUL }), headers: { 'content-type': 'application/json', authorization: 'Bearer test-admin-token' } })],
  ] as const;
  for (const [what, a] of answers) {
    assert.ok(a.status >= 400 && a.status < 500, `${what}: ${a.status} ${a.text}`);
    assert.doesNotMatch(a.text, /stack|at \//, what);
  }
  // Each keeps its own shape.
  assert.equal(answers[0][1].body.code, '1');
  assert.equal(answers[3][1].body.error, true);
  assert.equal(answers[4][1].body.success, false);
  assert.equal(answers[5][1].body.success, false);
  assert.deepEqual(await count(), before);
});

test('operator list cursors that are not ids are ignored, not a 500', async () => {
  const r = await call(`${t.url}/admin/merchants?after=abc`, { headers: { authorization: 'Bearer test-admin-token' } });
  assert.equal(r.status, 200);
});
