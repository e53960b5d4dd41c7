// @paygate/sdk IntouchPayClient against a started Paygate (both engines): requestPayment →
// the subscriber approves on the handset JSON API → the signed callback reaches a receiver that
// parses it with parseIntouchPayCallback, verifies Paygate-Signature with the merchant's
// webhook_secret and answers the SDK's replyBody (which Paygate accepts as delivered) →
// getTransactionStatus "01"; requestDeposit; getBalance; typed errors with string codes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, startGateway, startReceiver, type TestGateway } from '../harness.ts';
import {
  IntouchPayClient,
  ProviderError,
  ValidationError,
  checkPaygateSignature,
  parseIntouchPayCallback,
  verifyPaygateSignature,
  type IntouchPayCallback,
} from '../../packages/sdk/src/index.ts';
import { handset } from './payer.ts';

let t: TestGateway;
let merchant: any;
let client: IntouchPayClient;
let rx: Awaited<ReturnType<typeof startReceiver>>;
/** What the receiver made of each callback, in arrival order. */
const parsed: { cb: IntouchPayCallback; body: string }[] = [];
/** RWF has no minor unit: "1485.0" → 1485n (exact, no float). */
const rwf = (s: string) => BigInt(/^(\d+)(?:\.0+)?$/.exec(s)![1]!);
const PHONE = '250788123456';
const PIN = '1234';

before(async () => {
  t = await startGateway();
  merchant = await t.createMerchant('Kigali Coffee');
  const c = merchant.credentials.intouchpay;
  client = new IntouchPayClient({ baseUrl: t.url, username: c.username, accountno: c.accountno, partnerpassword: c.partner_password, now: () => t.clock.now() });
  await t.createPayer('subscriber', { name: 'Aline Uwase', phone: PHONE, pin: PIN, currency: 'RWF', balance: '50000' });
  // a merchant callback endpoint written with the SDK: answers the reply IntouchPay expects
  rx = await startReceiver((_n, body) => {
    try {
      const cb = parseIntouchPayCallback(body);
      parsed.push({ cb, body });
      return { status: 200, body: cb.replyBody };
    } catch {
      return { status: 400, body: '{"success":false}' };
    }
  });
});

after(async () => {
  await rx.close();
  assert.deepEqual(await t.verify(), []);
  await t.close();
});

test('full payment: requestPayment → handset approval → signed callback parsed, verified, acknowledged → status "01"', async () => {
  const balanceBefore = (await client.getBalance()).balance;
  const req = await client.requestPayment({ amount: '1500', mobilephone: `+${PHONE}`, requesttransactionid: '4522233', callbackurl: rx.url });
  assert.deepEqual([req.success, req.status, req.responsecode, req.requesttransactionid, req.message], [true, 'Pending', '1000', '4522233', 'Transaction Pending']);
  assert.match(req.transactionid!, /^\d+$/);

  const pending = await client.getTransactionStatus({ requesttransactionid: '4522233', transactionid: req.transactionid! });
  assert.deepEqual([pending.pending, pending.successful, pending.responsecode], [true, false, '1000']);

  const phone = handset(t, PHONE, PIN);
  const before = await phone.balance('RWF');
  const { prompt } = await phone.approve((p) => p.payment_id === req.transactionid);
  assert.equal(prompt.amount_minor, '1500');
  assert.equal(await phone.balance('RWF'), before - 1500n);

  const [got] = await rx.waitFor(1);
  const header = got!.headers['paygate-signature'] as string;
  assert.ok(header, 'Paygate signs the callback');
  assert.equal(await verifyPaygateSignature(got!.body, header, merchant.webhook_secret, { tolerance_s: 300 }), true);
  assert.deepEqual(await checkPaygateSignature(got!.body, header, 'whsec_wrong'), { ok: false, timestamp: Number(/t=(\d+)/.exec(header)![1]), reason: 'signature_mismatch' });
  assert.equal(await verifyPaygateSignature(got!.body.replace('01', '02'), header, merchant.webhook_secret), false);

  const cb = parsed[0]!.cb;
  assert.deepEqual(
    [cb.requesttransactionid, cb.transactionid, cb.responsecode, cb.status, cb.statusdesc, cb.referenceno, cb.successful],
    ['4522233', req.transactionid, '01', 'Successfull', 'Successfully Processed Transaction', req.transactionid, true],
  );
  assert.equal(cb.replyBody, '{"message":"success","success":true,"request_id":"4522233"}');
  // Paygate accepted the SDK's reply: the callback is delivered, not retried
  await eventually(async () => {
    const l = await t.admin('GET', `/admin/callbacks?payment_id=${req.transactionid}`);
    const items = l.body.items ?? l.body;
    return items.length === 1 && items[0].state === 'delivered';
  });
  assert.equal(rx.received.length, 1);

  const done = await client.getTransactionStatus({ requesttransactionid: '4522233', transactionid: req.transactionid! });
  assert.deepEqual([done.successful, done.pending, done.responsecode, done.status, done.success], [true, false, '01', 'Successfull', true]);

  const balanceAfter = (await client.getBalance()).balance;
  assert.match(balanceAfter, /^\d+\.\d+$/, 'balance text as sent, at least one decimal');
  assert.ok(rwf(balanceAfter) > rwf(balanceBefore), `${balanceBefore} → ${balanceAfter}`);
});

test('requestDeposit pays out from the merchant balance; getTransactionStatus on its referenceid; getBalance drops by the amount (+1 % with withdrawcharge)', async () => {
  const phone = handset(t, PHONE, PIN);
  const b0 = (await client.getBalance()).balance;
  const sub0 = await phone.balance('RWF');
  const dep = await client.requestDeposit({ amount: '500', mobilephone: PHONE, requesttransactionid: '1201', withdrawcharge: 0, reason: 'refund of order 17', sid: '1' });
  assert.deepEqual([dep.success, dep.responsecode, dep.requesttransactionid], [true, '2001', '1201']);
  assert.match(dep.referenceid!, /^\d+$/);
  assert.equal(await phone.balance('RWF'), sub0 + 500n);
  const b1 = (await client.getBalance()).balance;
  assert.equal(rwf(b0) - rwf(b1), 500n);

  const st = await client.getTransactionStatus({ requesttransactionid: '1201', transactionid: dep.referenceid! });
  assert.deepEqual([st.success, st.successful, st.pending, st.responsecode], [true, true, false, '01']);

  const dep2 = await client.requestDeposit({ amount: 200n, mobilephone: PHONE, requesttransactionid: '1202', withdrawcharge: true });
  assert.equal(dep2.responsecode, '2001');
  const b2 = (await client.getBalance()).balance;
  assert.equal(rwf(b1) - rwf(b2), 202n, '200 + 1 % charge');

  // over the balance: a ProviderError with the string code 1108; the id is then used (1110)
  await assert.rejects(client.requestDeposit({ amount: '4000000', mobilephone: PHONE, requesttransactionid: '1203' }), (e: unknown) => e instanceof ProviderError && e.code === '1108' && e.httpStatus === 200);
  await assert.rejects(client.requestDeposit({ amount: '100', mobilephone: PHONE, requesttransactionid: '1203' }), (e: unknown) => e instanceof ProviderError && e.code === '1110');
});

test('errors keep their leading zeros; bad input never leaves the client', async () => {
  const c = merchant.credentials.intouchpay;
  const wrong = new IntouchPayClient({ baseUrl: t.url, username: c.username, accountno: c.accountno, partnerpassword: 'wrong' });
  await assert.rejects(wrong.getBalance(), (e: unknown) => e instanceof ProviderError && e.code === '0005' && e.httpStatus === 401);
  await assert.rejects(client.requestPayment({ amount: '1500', mobilephone: PHONE, requesttransactionid: '4522233' }), (e: unknown) => e instanceof ProviderError && e.code === '2400');
  await assert.rejects(client.requestPayment({ amount: '1500', mobilephone: '250788999999', requesttransactionid: 'nobody-1' }), (e: unknown) => e instanceof ProviderError && e.code === '1002');
  await assert.rejects(client.getTransactionStatus({ requesttransactionid: 'nope', transactionid: '49999999999999' }), (e: unknown) => e instanceof ProviderError && e.code === '3100');
  await assert.rejects(client.requestPayment({ amount: '15.5', mobilephone: PHONE, requesttransactionid: 'x' }), ValidationError);
  await assert.rejects(client.requestPayment({ amount: 1500 as any, mobilephone: PHONE, requesttransactionid: 'x' }), ValidationError);
});
