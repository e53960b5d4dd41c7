// Races through HTTP, every dialect present: each case fires its requests at once and asserts
// exactly the allowed outcome, then `verify()` = [] (balanced, no duplicate entry, no negative
// balance). Counted in docs/reliability.md.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../harness.ts';
import { call, type Creds, flexpay, ibous, intouch, json, qrToken, walletLogin, walletPay } from './clients.ts';

let t: TestGateway;
let creds: Creds;
const PIN = '1357';
const ROUNDS = 3; // each race runs this many times

before(async () => {
  t = await startGateway();
  creds = (await t.createMerchant('Race Shop')).credentials;
  for (const p of ['50932000001', '50932000002']) await t.createPayer('wallet', { phone: p, pin: PIN, currency: 'HTG', balance: '100000' });
  await t.createPayer('subscriber', { phone: '250788300001', pin: PIN, currency: 'RWF', balance: '1000000' });
  await t.createPayer('subscriber', { phone: '243990300001', pin: PIN, currency: 'USD', balance: '100000' });
});
after(() => t.close());

const all = <T>(n: number, f: (i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, (_, i) => f(i)));
const count = <T>(xs: T[], f: (x: T) => boolean) => xs.filter(f).length;

async function paidIbous(amount: string): Promise<string> {
  const q = await ibous(t.url, creds.ibous, 'CreatePaymentQRcode', { qrcode_size: '4', amount, currency: 'HTG', item: 'race' });
  const s = await walletLogin(t.url, '50932000001', PIN, 'HTG');
  assert.equal((await walletPay(t.url, s, qrToken(q.body.qrcode_img), PIN)).status, 200);
  return q.body.qrcode_id;
}

async function approveOn(phone: string) {
  const p = await call(`${t.url}/handset/api/${phone}/prompts`);
  for (const pr of p.body.prompts) assert.equal((await call(`${t.url}/handset/api/${phone}/prompts/${pr.id}/approve`, json({ pin: PIN }))).status, 200);
}

test('ibous: the same QR paid by two wallets at once: exactly one pays', async () => {
  for (let r = 0; r < ROUNDS; r++) {
    const q = await ibous(t.url, creds.ibous, 'CreatePaymentQRcode', { qrcode_size: '4', amount: '60', currency: 'HTG', item: 'race' });
    const token = qrToken(q.body.qrcode_img);
    const sessions = await Promise.all(['50932000001', '50932000002'].map((p) => walletLogin(t.url, p, PIN, 'HTG')));
    const res = await Promise.all(sessions.map((s) => walletPay(t.url, s, token, PIN)));
    assert.deepEqual(res.map((x) => x.status).sort(), [200, 409], JSON.stringify(res.map((x) => x.body)));
    const p = await t.admin('GET', `/admin/payments/${q.body.qrcode_id}`);
    assert.equal(p.body.state, 'succeeded');
  }
  assert.deepEqual(await t.verify(), []);
});

test('ibous: concurrent refunds beyond the paid amount: exactly one refund', async () => {
  for (let r = 0; r < ROUNDS; r++) {
    const id = await paidIbous('80');
    const res = await all(6, () => ibous(t.url, creds.ibous, 'PaymentRefund', { payment_id: id }));
    assert.equal(count(res, (x) => x.body?.status === 'Payment refund successfully'), 1, JSON.stringify(res.map((x) => x.body)));
    assert.ok(res.every((x) => x.status === 200), 'the failed ones answer the seed\'s failed-refund shape');
    const p = await t.admin('GET', `/admin/payments/${id}`);
    assert.equal(p.body.state, 'refunded');
    assert.equal(p.body.refunds.filter((f: any) => f.state === 'succeeded').length, 1);
  }
  assert.deepEqual(await t.verify(), []);
});

test('IntouchPay: concurrent deposits beyond the merchant balance: exactly balance / amount succeed, the rest 1108', async () => {
  const c = creds.intouchpay;
  const bal0 = BigInt((await intouch(t.url, c, 'getbalance', {}, t.clock.now())).body.balance.replace(/\.0$/, ''));
  const fund = await intouch(t.url, c, 'requestpayment', { amount: '1000', mobilephone: '250788300001', requesttransactionid: 'fund-rw' }, t.clock.now());
  assert.equal(fund.status, 200);
  await approveOn('250788300001');
  const bal = BigInt((await intouch(t.url, c, 'getbalance', {}, t.clock.now())).body.balance.replace(/\.0$/, ''));
  assert.equal(bal, bal0 + 1000n);
  const res = await all(8, (i) => intouch(t.url, c, 'requestdeposit', { amount: '300', mobilephone: '250788300001', requesttransactionid: `dep-race-${i}` }, t.clock.now()));
  const ok = count(res, (x) => x.body?.responsecode === '2001');
  assert.equal(ok, Number(bal / 300n), JSON.stringify(res.map((x) => x.body)));
  assert.equal(count(res, (x) => x.status === 402 && x.body?.responsecode === '1108'), 8 - ok);
  const after = BigInt((await intouch(t.url, c, 'getbalance', {}, t.clock.now())).body.balance.replace(/\.0$/, ''));
  assert.equal(after, bal - 300n * BigInt(ok));
  assert.deepEqual(await t.verify(), []);
});

test('FlexPay: concurrent payouts beyond the merchant balance: exactly balance / amount succeed, the rest 402', async () => {
  const c = creds.flexpay;
  const mm = await flexpay(t.url, c, '/api/rest/v1/paymentService', { merchant: c.merchant, type: 1, reference: 'fund-usd', phone: '243990300001', amount: '10.00', currency: 'USD' });
  assert.equal(mm.status, 200, mm.text);
  await approveOn('243990300001');
  const res = await all(8, (i) => flexpay(t.url, c, '/api/rest/v1/merchantPayOutService', { merchant: c.merchant, type: 1, reference: `po-race-${i}`, phone: '243990300001', amount: '3.00', currency: 'USD' }));
  assert.equal(count(res, (x) => x.status === 200 && x.body?.code === '0'), 3, JSON.stringify(res.map((x) => [x.status, x.body])));
  assert.equal(count(res, (x) => x.status === 402), 5);
  assert.deepEqual(await t.verify(), []);
});

test('the same merchant reference at once, identical parameters: one payment (IntouchPay: one 1000, the rest 2400; FlexPay: the same orderNumber for all)', async () => {
  for (let r = 0; r < ROUNDS; r++) {
    const rid = `same-${r}`;
    const it = await all(6, () => intouch(t.url, creds.intouchpay, 'requestpayment', { amount: '500', mobilephone: '250788300001', requesttransactionid: rid }, t.clock.now()));
    assert.equal(count(it, (x) => x.status === 200 && x.body.responsecode === '1000'), 1, JSON.stringify(it.map((x) => x.body)));
    assert.equal(count(it, (x) => x.status === 409 && x.body.responsecode === '2400'), 5);
    const c = creds.flexpay;
    const fx = await all(6, () => flexpay(t.url, c, '/api/rest/v1/paymentService', { merchant: c.merchant, type: 1, reference: `same-fx-${r}`, phone: '243990300001', amount: '1.00', currency: 'USD' }));
    assert.ok(fx.every((x) => x.status === 200 && x.body.code === '0'), JSON.stringify(fx.map((x) => x.body)));
    assert.equal(new Set(fx.map((x) => x.body.orderNumber)).size, 1);
    const po = await all(6, () => flexpay(t.url, c, '/api/rest/v1/merchantPayOutService', { merchant: c.merchant, type: 1, reference: `same-po-${r}`, phone: '243990300001', amount: '0.01', currency: 'USD' }));
    assert.ok(po.every((x) => x.status === 200 || x.status === 402), JSON.stringify(po.map((x) => x.body)));
    assert.equal(new Set(po.map((x) => x.body.orderNumber)).size, 1, 'one payout, the same orderNumber for every retry');
    const dep = await all(6, () => intouch(t.url, creds.intouchpay, 'requestdeposit', { amount: '100', mobilephone: '250788300001', requesttransactionid: `same-dep-${r}` }, t.clock.now()));
    assert.equal(count(dep, (x) => x.body.responsecode === '2001' || x.body.responsecode === '1108'), 1, JSON.stringify(dep.map((x) => x.body)));
    assert.equal(count(dep, (x) => x.status === 409 && x.body.responsecode === '1110'), 5);
  }
  assert.deepEqual(await t.verify(), []);
});

test('the same merchant reference at once, different parameters: exactly one payment, the others refused (409)', async () => {
  for (let r = 0; r < ROUNDS; r++) {
    const c = creds.flexpay;
    const fx = await all(6, (i) => flexpay(t.url, c, '/api/rest/v1/paymentService', { merchant: c.merchant, type: 1, reference: `diff-fx-${r}`, phone: '243990300001', amount: `${i + 1}.00`, currency: 'USD' }));
    assert.equal(count(fx, (x) => x.status === 200), 1, JSON.stringify(fx.map((x) => x.body)));
    assert.equal(count(fx, (x) => x.status === 409 && x.body.code === '1'), 5);
    const it = await all(6, (i) => intouch(t.url, creds.intouchpay, 'requestpayment', { amount: String(200 + i), mobilephone: '250788300001', requesttransactionid: `diff-${r}` }, t.clock.now()));
    assert.equal(count(it, (x) => x.status === 200), 1);
    assert.equal(count(it, (x) => x.status === 409 && x.body.responsecode === '2400'), 5);
  }
  assert.deepEqual(await t.verify(), []);
});
