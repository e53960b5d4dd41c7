// @paygate/sdk FlexPayClient against a started Paygate (both engines): cardPay → the payer
// pays on the hosted checkout page (plain HTTP: page, CSRF token, card form) → check status
// "0" → signed callback parsed and verified; legacyPayForm's HTML posted like a browser lands
// on the checkout page; mobilePay approved on the handset API → check; payout → check.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, startGateway, startReceiver, type TestGateway } from '../harness.ts';
import { FlexPayClient, ProviderError, ValidationError, parseFlexPayCallback, verifyPaygateSignature, type FlexPayCallback } from '../../packages/sdk/src/index.ts';
import { handset, payOnCheckout } from './payer.ts';

let t: TestGateway;
let merchant: any;
let flex: FlexPayClient;
let rx: Awaited<ReturnType<typeof startReceiver>>;
const SHOP = 'https://abcd.efgh.cd';
const MM_PHONE = '243815877848';
const PAYOUT_PHONE = '243975551234';
let n = 0;
const ref = (p: string) => `${p}${Date.now().toString(36)}${++n}`;

/** The callback for `orderNumber`, parsed with the SDK after its signature was verified. */
async function callbackFor(orderNumber: string): Promise<FlexPayCallback> {
  const hit = (await eventually(() => rx.received.find((r) => r.body.includes(orderNumber))))!;
  const header = hit.headers['paygate-signature'] as string;
  assert.equal(await verifyPaygateSignature(hit.body, header, merchant.webhook_secret), true, 'Paygate-Signature verifies');
  assert.equal(await verifyPaygateSignature(hit.body, header, 'whsec_other'), false);
  return parseFlexPayCallback(hit.body);
}

before(async () => {
  t = await startGateway();
  merchant = await t.createMerchant('Zando');
  flex = new FlexPayClient({ baseUrl: t.url, token: merchant.credentials.flexpay.token, merchant: merchant.credentials.flexpay.merchant });
  rx = await startReceiver();
  await t.createPayer('subscriber', { name: 'Jean Mukendi', phone: MM_PHONE, currency: 'CDF', balance: '10000', pin: '4321' });
  await t.createPayer('subscriber', { name: 'Marie Kabila', phone: PAYOUT_PHONE, currency: 'USD', balance: '0', pin: '4321' });
});

after(async () => {
  await rx.close();
  assert.deepEqual(await t.verify(), []);
  await t.close();
});

test('cardPay → hosted checkout paid with the approved test card → check status "0" → signed callback', async () => {
  const reference = ref('CARD');
  const card = await flex.cardPay({
    reference, amount: '100', currency: 'USD', description: 'Commande 17', callback_url: rx.url,
    approve_url: `${SHOP}/approve`, cancel_url: `${SHOP}/cancel`, decline_url: `${SHOP}/decline`, home_url: SHOP,
  });
  assert.equal(card.code, '0');
  assert.match(card.url, new RegExp(`^${t.url}/checkout/`));
  assert.equal((await flex.cardPay({ reference, amount: 10000n, currency: 'USD', description: 'Commande 17', callback_url: rx.url, approve_url: `${SHOP}/approve`, cancel_url: `${SHOP}/cancel`, decline_url: `${SHOP}/decline`, home_url: SHOP })).orderNumber, card.orderNumber, 'same reference + parameters (100 USD = 10000n cents) → same order');

  const pending = await flex.check(card.orderNumber);
  assert.deepEqual([pending.found, pending.code, pending.transaction?.status, pending.transaction?.succeeded], [true, '0', '1', false]);

  const { html, answer } = await payOnCheckout(card.url, '4242 4242 4242 4242');
  assert.match(html, /Commande 17/);
  assert.equal(answer.status, 303);
  assert.equal(answer.headers.get('location'), `${SHOP}/approve`);

  const paid = await flex.check(card.orderNumber);
  assert.equal(paid.found, true);
  assert.deepEqual(
    [paid.transaction!.status, paid.transaction!.succeeded, paid.transaction!.reference, paid.transaction!.amount, paid.transaction!.currency, paid.transaction!.orderNumber],
    ['0', true, reference, '100.0', 'USD', card.orderNumber],
  );
  assert.match(paid.transaction!.createdAt!, /^\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}$/);

  const cb = await callbackFor(card.orderNumber);
  assert.deepEqual([cb.code, cb.succeeded, cb.reference, cb.orderNumber, cb.amount, cb.currency, cb.channel, cb.phone], ['0', true, reference, card.orderNumber, '100.0', 'USD', 'card', undefined]);
  assert.ok(cb.provider_reference, 'the authorization code');
});

test('a declined card: the result page leads to decline_url; check status "1"; callback code "1"', async () => {
  const card = await flex.cardPay({ reference: ref('DECL'), amount: '12.50', currency: 'USD', callback_url: rx.url, decline_url: `${SHOP}/decline` });
  const { answer } = await payOnCheckout(card.url, '4000 0000 0000 0002');
  // the reason first on the checkout's result page, whose Continue button goes to decline_url
  assert.equal(answer.status, 303);
  const result = await (await fetch(new URL(answer.headers.get('location')!, t.url))).text();
  assert.ok(result.includes(`${SHOP}/decline`), 'the result page leads on to decline_url');
  const chk = await flex.check(card.orderNumber);
  assert.deepEqual([chk.found, chk.transaction!.status, chk.transaction!.succeeded, chk.transaction!.amount], [true, '1', false, '12.5']);
  const cb = await callbackFor(card.orderNumber);
  assert.deepEqual([cb.code, cb.succeeded], ['1', false]);
});

test('legacyPayForm: the auto-submitting form, posted as a browser would, lands on the checkout page', async () => {
  const html = flex.legacyPayForm({ reference: ref('LG'), amount: '12.50', currency: 'USD', description: 'Tom & Jerry <DVD>', approve_url: `${SHOP}/approve` });
  assert.match(html, /Tom &amp; Jerry &lt;DVD&gt;/);
  const action = /<form method="POST" action="([^"]+)"/.exec(html)![1]!;
  assert.equal(action, `${t.url}/v1/pay`);
  const unescape = (v: string) => v.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const form = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) form.append(unescape(m[1]!), unescape(m[2]!));
  assert.equal(form.get('merchant'), merchant.credentials.flexpay.merchant);
  const res = await fetch(action, { method: 'POST', body: form, redirect: 'manual' });
  assert.equal(res.status, 303);
  const checkout = new URL(res.headers.get('location')!, t.url).toString();
  assert.match(checkout, /\/checkout\/[A-Za-z0-9_-]+$/);
  const { html: page, answer } = await payOnCheckout(checkout, '5555 5555 5555 4444');
  assert.match(page, /12[.,]50/);
  const shown = /id="description">([^<]*)</.exec(page)![1]!.replace(/&#(\d+);/g, (_m, d: string) => String.fromCharCode(Number(d)));
  assert.equal(unescape(shown), 'Tom & Jerry <DVD>', 'the description arrived intact (escaped once on each side)');
  assert.equal(answer.headers.get('location'), `${SHOP}/approve`);
});

test('mobilePay: push to the handset, the subscriber approves with the PIN, check "0", callback with phone', async () => {
  const phone = handset(t, MM_PHONE, '4321');
  const before = await phone.balance('CDF');
  const reference = ref('MMO');
  const push = await flex.mobilePay({ reference, phone: `+${MM_PHONE}`, amount: '5000', currency: 'CDF', callbackUrl: rx.url });
  assert.equal(push.code, '0');
  assert.match(push.message!, /Veuillez valider le push message$/);
  assert.ok(push.orderNumber);
  assert.equal(push.url, undefined);
  assert.equal((await flex.check(push.orderNumber!)).transaction!.status, '1');

  await phone.approve((p) => p.amount_minor === '500000');
  assert.equal(await phone.balance('CDF'), before - 500000n);
  const chk = await flex.check(push.orderNumber!);
  assert.deepEqual([chk.transaction!.status, chk.transaction!.succeeded, chk.transaction!.amount, chk.transaction!.currency], ['0', true, '5000.0', 'CDF']);
  const cb = await callbackFor(push.orderNumber!);
  assert.deepEqual([cb.code, cb.channel, cb.phone, cb.reference], ['0', 'mobile_money', MM_PHONE, reference]);
});

test('payout from the merchant USD balance (from the card payment) → check "0" → callback; short balance is a ProviderError', async () => {
  const phone = handset(t, PAYOUT_PHONE, '4321');
  const out = await flex.payout({ reference: ref('PO'), phone: PAYOUT_PHONE, amount: '10.5', currency: 'USD', callbackUrl: rx.url });
  assert.equal(out.code, '0');
  assert.ok(out.orderNumber);
  assert.equal(await phone.balance('USD'), 1050n);
  const chk = await flex.check(out.orderNumber!);
  assert.deepEqual([chk.found, chk.transaction!.status, chk.transaction!.succeeded, chk.transaction!.amount], [true, '0', true, '10.5']);
  const cb = await callbackFor(out.orderNumber!);
  assert.deepEqual([cb.code, cb.channel, cb.phone], ['0', 'payout', PAYOUT_PHONE]);

  await assert.rejects(flex.payout({ reference: ref('PO'), phone: PAYOUT_PHONE, amount: '100000', currency: 'USD' }), (e: unknown) => e instanceof ProviderError && e.httpStatus === 402 && e.code === '1');
});

test('check of an unknown order is an answer (found false); errors are typed', async () => {
  const none = await flex.check('9bsTX7qXdpQe243815877848');
  assert.deepEqual([none.found, none.code, none.transaction, none.message], [false, '1', null, 'Aucune transaction trouvée']);
  const wrong = new FlexPayClient({ baseUrl: t.url, token: 'fp_wrong', merchant: merchant.credentials.flexpay.merchant });
  await assert.rejects(wrong.cardPay({ reference: ref('X'), amount: '1', currency: 'USD' }), (e: unknown) => e instanceof ProviderError && e.httpStatus === 401 && e.code === '1');
  await assert.rejects(wrong.check('9bsTX7qXdpQe243815877848'), (e: unknown) => e instanceof ProviderError && e.httpStatus === 401);
  const reference = ref('DUP');
  await flex.cardPay({ reference, amount: '1', currency: 'USD' });
  await assert.rejects(flex.cardPay({ reference, amount: '2', currency: 'USD' }), (e: unknown) => e instanceof ProviderError && e.httpStatus === 409 && e.code === '1');
  await assert.rejects(flex.cardPay({ reference: 'R'.repeat(26), amount: '1', currency: 'USD' }), ValidationError);
  await assert.rejects(flex.mobilePay({ reference: ref('X'), phone: '250788123456', amount: '1', currency: 'CDF' }), ValidationError);
  await assert.rejects(flex.cardPay({ reference: ref('X'), amount: '1', currency: 'EUR' as any }), ValidationError);
});
