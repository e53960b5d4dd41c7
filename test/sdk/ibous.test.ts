// @paygate/sdk IbousClient against a started Paygate (both engines): every method, one full
// payment (QR → payer pays in the wallet app → waitForPayment → refund), polling and long-poll.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../harness.ts';
import { IbousClient, ProviderError, ValidationError, WaitTimeoutError } from '../../packages/sdk/src/index.ts';
import { decodeQrPng, walletSession } from './payer.ts';

let t: TestGateway;
let ibous: IbousClient;
let creds: { api_key: string; api_secret: string };
let payer: Awaited<ReturnType<typeof walletSession>>;
const PHONE = '50937001234';
const PIN = '2468';

before(async () => {
  t = await startGateway();
  const m = await t.createMerchant('Boutique Rosier');
  creds = m.credentials.ibous;
  ibous = new IbousClient({ baseUrl: t.url, apiKey: creds.api_key, apiSecret: creds.api_secret });
  await t.createPayer('wallet', { name: 'Rood Jhon', phone: PHONE, pin: PIN, currency: 'HTG', balance: '1000' });
  payer = await walletSession(t, PHONE, PIN);
});

after(async () => {
  assert.deepEqual(await t.verify(), []);
  await t.close();
});

test('seed flow: createPaymentQRCode → the payer pays the decoded QR in the wallet → waitForPayment (polling) → paymentRefund', async () => {
  const before = await payer.balance('HTG');
  const qr = await ibous.createPaymentQRCode({ qrcode_size: 8, amount: '60', currency: 'HTG', item: 'Coca Cola' });
  assert.equal(qr.status, 'QRcode Payment generated successfully');
  assert.match(qr.qrcode_id, /^\d{14}$/);
  const payUrl = await decodeQrPng(qr.qrcode_img);
  assert.match(payUrl, new RegExp(`^${t.url}/wallet/pay/`));

  const pending = await ibous.paymentProcess(qr.qrcode_id);
  assert.deepEqual([pending.payment_status, pending.pending, pending.paid, pending.error, pending.status], ['1', true, false, true, 'Payment Pending']);

  const resolved = await payer.resolve(payUrl);
  assert.deepEqual([resolved.amount, resolved.currency, resolved.item, resolved.payable], ['60.00', 'HTG', 'Coca Cola', true]);

  const waiting = ibous.waitForPayment(qr.qrcode_id, { timeout_ms: 10_000, interval_ms: 20 });
  await payer.pay(payUrl);
  const paid = await waiting;
  assert.deepEqual(
    [paid.payment_status, paid.paid, paid.error, paid.user, paid.item, paid.amount, paid.currency, paid.status],
    ['2', true, false, 'Rood Jhon', 'Coca Cola', '60', 'HTG', 'Successful Payment!'],
  );
  assert.equal(paid.payment_id, qr.qrcode_id, 'Paygate uses one number for qrcode_id and payment.id');
  assert.equal(await payer.balance('HTG'), before - 6000n);

  const refund = await ibous.paymentRefund(paid.payment_id!);
  assert.equal(refund.refunded, true);
  assert.equal(refund.transaction_status, '1');
  assert.deepEqual(
    [refund.transaction.user_sender, refund.transaction.user_recipient, refund.transaction.amount, refund.transaction.currency, refund.transaction.fees, refund.transaction.system],
    ['Boutique Rosier', 'Rood Jhon', '60', 'HTG', '0', 'ibous'],
  );
  assert.equal(await payer.balance('HTG'), before);

  // a second refund is the seed's failed-refund answer (error:false, status "0"), not an exception
  const again = await ibous.paymentRefund(paid.payment_id!);
  assert.equal(again.refunded, false);
  assert.equal(again.transaction_status, '0');
  assert.match(again.status, /already refunded/);
  // PaymentProcess still reads 2 after the refund
  assert.equal((await ibous.paymentProcess(qr.qrcode_id)).payment_status, '2');
});

test('waitForPayment with the wait_ms long-poll: one held request sees status 2', async () => {
  const bodies: string[] = [];
  const recording = new IbousClient({
    baseUrl: t.url,
    apiKey: creds.api_key,
    apiSecret: creds.api_secret,
    fetch: (input, init) => {
      if (String(input).includes('PaymentProcess')) bodies.push(String(init?.body));
      return fetch(input, init);
    },
  });
  const qr = await recording.createPaymentQRCode({ qrcode_size: 4, amount: 25n * 100n, currency: 'HTG', item: 'Pen' });
  const payUrl = await decodeQrPng(qr.qrcode_img);
  const waiting = recording.waitForPayment(qr.qrcode_id, { timeout_ms: 20_000, longPoll: true, long_poll_ms: 15_000 });
  // pay once the first (held) PaymentProcess request is on its way
  while (bodies.length === 0) await new Promise((r) => setTimeout(r, 5));
  await payer.pay(payUrl);
  const paid = await waiting;
  assert.deepEqual([paid.payment_status, paid.amount, paid.item], ['2', '25', 'Pen']);
  assert.equal(bodies.length, 1, `one long-poll request answered the change (got ${bodies.length})`);
  assert.match(bodies[0]!, /wait_ms/);
  assert.equal((await recording.paymentRefund(paid.payment_id!)).refunded, true);
});

test('a declined payment ends waitForPayment with status 3; a refund of it fails; an unpaid one times out', async () => {
  const qr = await ibous.createPaymentQRCode({ qrcode_size: '6', amount: '15', currency: 'HTG', item: 'Soap' });
  const payUrl = await decodeQrPng(qr.qrcode_img);
  await payer.decline(payUrl);
  const failed = await ibous.waitForPayment(qr.qrcode_id, { timeout_ms: 5_000, longPoll: true });
  assert.deepEqual([failed.payment_status, failed.failed, failed.error, failed.status], ['3', true, true, 'Payment Failed']);
  const refund = await ibous.paymentRefund(qr.qrcode_id);
  assert.equal(refund.refunded, false);
  assert.match(refund.status, /has not been paid/);

  const unpaid = await ibous.createPaymentQRCode({ qrcode_size: 4, amount: '5', currency: 'HTG', item: 'Gum' });
  await assert.rejects(ibous.waitForPayment(unpaid.qrcode_id, { timeout_ms: 60, interval_ms: 20 }), (e: unknown) => {
    assert.ok(e instanceof WaitTimeoutError);
    assert.equal((e.last as any)?.payment_status, '1');
    return true;
  });
});

test('errors: provider errors carry the HTTP status and message; bad input never leaves the client', async () => {
  await assert.rejects(ibous.paymentProcess('49999999999999'), (e: unknown) => {
    assert.ok(e instanceof ProviderError);
    assert.equal(e.httpStatus, 404);
    assert.match(e.providerMessage, /not found/i);
    return true;
  });
  const wrong = new IbousClient({ baseUrl: t.url, apiKey: 'nope', apiSecret: 'nope' });
  await assert.rejects(wrong.createPaymentQRCode({ qrcode_size: 4, amount: '60', currency: 'HTG', item: 'x' }), (e: unknown) => e instanceof ProviderError && e.httpStatus === 401);
  await assert.rejects(ibous.createPaymentQRCode({ qrcode_size: 4, amount: '60.50', currency: 'HTG', item: 'x' }), ValidationError);
  await assert.rejects(ibous.createPaymentQRCode({ qrcode_size: 5 as any, amount: '60', currency: 'HTG', item: 'x' }), ValidationError);
  await assert.rejects(ibous.createPaymentQRCode({ qrcode_size: 4, amount: 60 as any, currency: 'HTG', item: 'x' }), ValidationError);
});
