// Races through HTTP, every dialect present: each case fires its requests at once and asserts
// exactly the allowed outcome, then `verify()` = [] (balanced, no duplicate entry, no negative
// balance). Counted in docs/reliability.md.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, startGateway, type TestGateway } from '../harness.ts';
import { call, type Creds, flexpay, ibous, intouch, json, kess, kessToken, payUrlToken, qrToken, quickPayBody, walletCode, walletLogin, walletPay } from './clients.ts';

let t: TestGateway;
let creds: Creds;
let merchantId: string;
const PIN = '1357';
const ROUNDS = 3; // each race runs this many times
const KP_WALLETS = ['85512300001', '85512300002'];

before(async () => {
  t = await startGateway();
  const m = await t.createMerchant('Race Shop');
  creds = m.credentials;
  merchantId = m.id;
  for (const p of ['50932000001', '50932000002']) await t.createPayer('wallet', { phone: p, pin: PIN, currency: 'HTG', balance: '100000' });
  await t.createPayer('subscriber', { phone: '250788300001', pin: PIN, currency: 'RWF', balance: '1000000' });
  await t.createPayer('subscriber', { phone: '243990300001', pin: PIN, currency: 'USD', balance: '100000' });
  for (const p of KP_WALLETS) await t.createPayer('wallet', { phone: p, pin: PIN, currency: 'USD', balance: '100000' });
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
  assert.equal(count(res, (x) => x.status === 200 && x.body?.success === false && x.body?.responsecode === '1108'), 8 - ok);
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

// ---- KessPay (seed 001) -------------------------------------------------------------------

let kpSeq = 0;
const kpOrder = (tag: string) => `KP-${tag}-${++kpSeq}`;
const kpTok = () => kessToken(t.url, creds.kesspay!);
const kpBase = (over: Record<string, unknown> = {}) => ({ service_id: 30, store_id: creds.kesspay!.store_id, sub_store_name: 'Race Store', amount: 0.5, out_trade_no: kpOrder('x'), ...over });

async function kpWalletBalance(phone: string): Promise<bigint> {
  const s = await walletLogin(t.url, phone, PIN, 'USD');
  const b = await call(`${t.url}/wallet/api/balance`, { headers: { authorization: `Bearer ${s}` } });
  return BigInt(b.body.wallets.find((w: any) => w.currency === 'USD').balance_minor);
}

/** A Native Pay order paid by a wallet through the wallet JSON API. */
async function kpPaid(amount: number): Promise<{ out_trade_no: string; token: string }> {
  const token = await kpTok();
  const out_trade_no = kpOrder('paid');
  const n = await kess(t.url, token, 'native-pay', kpBase({ amount, out_trade_no }));
  assert.equal(n.status, 200, n.text);
  const s = await walletLogin(t.url, KP_WALLETS[0]!, PIN, 'USD');
  const p = await walletPay(t.url, s, payUrlToken(n.body.data.qr_code), PIN);
  assert.equal(p.status, 200, p.text);
  return { out_trade_no, token };
}

test('KessPay: one payment code used by two Quick Pays at once: exactly one succeeds, the other AUTH_CODE_USED, the wallet debited once', async () => {
  for (let r = 0; r < ROUNDS; r++) {
    const phone = KP_WALLETS[1]!;
    const before = await kpWalletBalance(phone);
    const code = await walletCode(t.url, await walletLogin(t.url, phone, PIN, 'USD'), 'USD');
    const token = await kpTok();
    const orders = [kpOrder('code'), kpOrder('code')];
    const res = await Promise.all(orders.map((o) => kess(t.url, token, 'quick-pay', quickPayBody(kpBase({ service_id: 2, amount: 1.25, out_trade_no: o }), code))));
    const won = res.filter((x) => x.status === 200 && x.body?.data?.result_code === 'SUCCESS');
    assert.equal(won.length, 1, JSON.stringify(res.map((x) => x.body)));
    const lost = res.find((x) => x !== won[0])!;
    assert.deepEqual([lost.status, lost.body?.success, lost.body?.code], [409, false, 'AUTH_CODE_USED'], lost.text);
    assert.equal(await kpWalletBalance(phone), before - 125n);
    // The winner's order reads paid; the loser's is unknown (refused before it was written) or failed.
    const st = await Promise.all(orders.map((o) => kess(t.url, token, 'check-payment', { store_id: creds.kesspay!.store_id, out_trade_no: o })));
    assert.equal(st.filter((x) => x.body?.data?.trade_state === 'SUCCESS').length, 1, JSON.stringify(st.map((x) => x.body)));
    assert.ok(st.every((x) => x.body?.data?.trade_state === 'SUCCESS' || x.body?.data?.trade_state === 'PAYERROR' || x.body?.code === 'ORDER_NOT_EXIST'), JSON.stringify(st.map((x) => x.body)));
  }
  assert.deepEqual(await t.verify(), []);
});

test('KessPay: the same out_trade_no at once, identical parameters: one order (Native: the same qr_code for all; Quick Pay: one debit)', async () => {
  for (let r = 0; r < ROUNDS; r++) {
    const token = await kpTok();
    const nat = kpBase({ out_trade_no: kpOrder('same-n'), amount: 2.5, fee_rate: 2 });
    const n = await all(6, () => kess(t.url, token, 'native-pay', nat));
    assert.ok(n.every((x) => x.status === 200 && x.body?.success === true), JSON.stringify(n.map((x) => x.body)));
    assert.equal(new Set(n.map((x) => x.body.data.transaction_id)).size, 1);
    assert.equal(new Set(n.map((x) => x.body.data.qr_code)).size, 1);
    const js = kpBase({ out_trade_no: kpOrder('same-j'), amount: 3 });
    const j = await all(6, () => kess(t.url, token, 'jsapi-pay', js));
    assert.ok(j.every((x) => x.status === 200 && x.body?.success === true), JSON.stringify(j.map((x) => x.body)));
    assert.equal(new Set(j.map((x) => x.body.data.prepay_id)).size, 1);

    const phone = KP_WALLETS[1]!;
    const before = await kpWalletBalance(phone);
    const code = await walletCode(t.url, await walletLogin(t.url, phone, PIN, 'USD'), 'USD');
    const body = quickPayBody(kpBase({ service_id: 2, out_trade_no: kpOrder('same-q'), amount: 0.75 }), code);
    const q = await all(6, () => kess(t.url, token, 'quick-pay', body));
    // The first answers SUCCESS; a retry that overtakes the charge reads the order as it is (USERPAYING).
    assert.ok(q.every((x) => x.status === 200 && ['SUCCESS', 'USERPAYING'].includes(x.body?.data?.result_code)), JSON.stringify(q.map((x) => x.body)));
    assert.ok(q.some((x) => x.body.data.result_code === 'SUCCESS'));
    assert.equal(new Set(q.map((x) => x.body.data.transaction_id)).size, 1);
    assert.equal(await kpWalletBalance(phone), before - 75n);
    const again = await kess(t.url, token, 'quick-pay', body);
    assert.deepEqual([again.status, again.body?.data?.result_code], [200, 'SUCCESS'], again.text);
  }
  assert.deepEqual(await t.verify(), []);
});

test('KessPay Quick Pay: a request that finds its code spent by the order a twin created meanwhile answers from that order, never AUTH_CODE_USED', async (c) => {
  // The interleaving needs two connections at once; PGlite has one, so there it cannot happen.
  if (t.db.engine !== 'postgres') return c.skip('needs concurrent database connections');
  const token = await kpTok();
  const code = await walletCode(t.url, await walletLogin(t.url, KP_WALLETS[0]!, PIN, 'USD'), 'USD');
  const out_trade_no = kpOrder('twin');
  let answer!: ReturnType<typeof kess>;
  await t.db.tx(async (q) => {
    await q.query('lock table wallet_payment_codes in access exclusive mode');
    answer = kess(t.url, token, 'quick-pay', quickPayBody(kpBase({ service_id: 2, amount: 0.75, out_trade_no }), code));
    // The request has found no order and waits to read its code.
    await eventually(async () => (await t.db.query(`select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%from wallet_payment_codes where code_hash%'`)).length > 0);
    // Meanwhile its twin: the order created (other parameters, so not a replay) and the code spent.
    await t.gw.payments.create({ merchant_id: merchantId, dialect: 'kesspay', rail: 'wallet', merchant_ref: out_trade_no, amount_minor: 75n, currency: 'USD' });
    await q.query(`update wallet_payment_codes set used_at = now() where used_at is null and account_id = (select id from accounts where kind = 'wallet' and phone = $1)`, [KP_WALLETS[0]]);
  });
  const r = await answer;
  assert.deepEqual([r.status, r.body?.code], [409, 'ORDER_EXISTS'], r.text);
});

test('KessPay: the same out_trade_no at once, different parameters: exactly one order, the others ORDER_EXISTS (409)', async () => {
  for (let r = 0; r < ROUNDS; r++) {
    const token = await kpTok();
    const o = kpOrder('diff');
    const res = await all(6, (i) => kess(t.url, token, i % 2 ? 'jsapi-pay' : 'native-pay', kpBase({ out_trade_no: o, amount: 1 + i })));
    assert.equal(count(res, (x) => x.status === 200 && x.body?.success === true), 1, JSON.stringify(res.map((x) => x.body)));
    assert.equal(count(res, (x) => x.status === 409 && x.body?.success === false && x.body?.code === 'ORDER_EXISTS'), 5);
    const winner = res.find((x) => x.status === 200)!;
    const st = await kess(t.url, token, 'check-payment', { store_id: creds.kesspay!.store_id, out_trade_no: o });
    assert.equal(st.body.data.amount, winner.body.data.amount);
    assert.equal(st.body.data.transaction_id, winner.body.data.transaction_id);
  }
  assert.deepEqual(await t.verify(), []);
});

test('KessPay: concurrent partial refunds beyond the paid amount: exactly amount / refund succeed, the rest REFUND_AMOUNT_EXCEEDED', async () => {
  for (let r = 0; r < ROUNDS; r++) {
    const { out_trade_no, token } = await kpPaid(1);
    const res = await all(6, (i) => kess(t.url, token, 'refund', { service_id: 30, store_id: creds.kesspay!.store_id, refund_amount: 0.4, out_trade_no, out_refund_no: `${out_trade_no}-R${i}` }));
    assert.equal(count(res, (x) => x.status === 200 && x.body?.data?.result_code === 'SUCCESS'), 2, JSON.stringify(res.map((x) => x.body)));
    assert.equal(count(res, (x) => x.status === 409 && x.body?.success === false && x.body?.code === 'REFUND_AMOUNT_EXCEEDED'), 4);
    const st = await kess(t.url, token, 'check-payment', { store_id: creds.kesspay!.store_id, out_trade_no });
    assert.deepEqual([st.body.data.trade_state, st.body.data.refunded_amount], ['REFUND', 0.8], st.text);
  }
  assert.deepEqual(await t.verify(), []);
});

test('KessPay: the same out_refund_no at once: one refund (identical: the same refund_id for all; different: REFUND_NO_EXISTS)', async () => {
  for (let r = 0; r < ROUNDS; r++) {
    const { out_trade_no, token } = await kpPaid(2);
    const store_id = creds.kesspay!.store_id;
    const same = await all(6, () => kess(t.url, token, 'refund', { service_id: 30, store_id, refund_amount: 0.5, out_trade_no, out_refund_no: `${out_trade_no}-S`, reason: 'race' }));
    assert.ok(same.every((x) => x.status === 200 && x.body?.data?.result_code === 'SUCCESS'), JSON.stringify(same.map((x) => x.body)));
    assert.equal(new Set(same.map((x) => x.body.data.refund_id)).size, 1);
    const diff = await all(6, (i) => kess(t.url, token, 'refund', { service_id: 30, store_id, refund_amount: (i + 1) / 10, out_trade_no, out_refund_no: `${out_trade_no}-D` }));
    assert.equal(count(diff, (x) => x.status === 200 && x.body?.data?.result_code === 'SUCCESS'), 1, JSON.stringify(diff.map((x) => x.body)));
    assert.equal(count(diff, (x) => x.status === 409 && x.body?.code === 'REFUND_NO_EXISTS'), 5);
    const won = diff.find((x) => x.status === 200)!.body.data.refund_amount as number;
    const st = await kess(t.url, token, 'check-payment', { store_id, out_trade_no });
    assert.equal(Math.round(st.body.data.refunded_amount * 100), Math.round((0.5 + won) * 100), st.text);
  }
  assert.deepEqual(await t.verify(), []);
});
