// FlexPay dialect + card rail over HTTP against a started gateway (both engines).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { eventually, startGateway, startReceiver, type TestGateway } from '../../../test/harness.ts';
import { mobileMoneyRail } from '../../rails/mobile-money/service.ts';

const ORDER_RE = /^[A-Za-z0-9]{12}\d{12}$/;
const CVV = '8642';
const CARDS = {
  approved: '4242424242424242',
  approvedMc: '5555555555554444',
  insufficient: '4000000000009995',
  doNotHonour: '4000000000000002',
  expiredCard: '4000000000000069',
  threeDs: '4000000000003220',
  processing: '4000000000000119',
  amex: '378282246310005',
  badLuhn: '4242424242424241',
};

let t: TestGateway;
let rx: Awaited<ReturnType<typeof startReceiver>>;
let m: any; // merchant
let other: any;
let refSeq = 0;
const ref = (p = 'MM') => `${p}${process.pid % 1000}X${++refSeq}`;

before(async () => {
  t = await startGateway({ log: true });
  rx = await startReceiver();
  m = await t.createMerchant('Zando Shop');
  other = await t.createMerchant('Other Shop');
});
after(async () => {
  await rx.close();
  await t.close();
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(t.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    redirect: 'manual',
  });
  const text = await res.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* html */ }
  return { status: res.status, json, text, headers: res.headers };
}

const auth = (tok = m.credentials.flexpay.token) => ({ authorization: `Bearer ${tok}` });

function cardBody(over: Record<string, unknown> = {}) {
  return {
    authorization: m.credentials.flexpay.token,
    merchant: m.credentials.flexpay.merchant,
    reference: ref(),
    amount: 100,
    currency: 'USD',
    description: 'payment transaction description',
    callback_url: rx.url,
    approve_url: 'https://abcd.efgh.cd/approve',
    cancel_url: 'https://abcd.efgh.cd/cancel',
    decline_url: 'https://abcd.efgh.cd/decline',
    ...over,
  };
}

async function check(orderNumber: string, tok = m.credentials.flexpay.token) {
  const res = await fetch(`${t.url}/api/rest/v1/check/${orderNumber}`, { headers: auth(tok) });
  return { status: res.status, json: await res.json() as any };
}

/** Opens the checkout page like a browser, returns its csrf token and cookies-free form. */
async function openCheckout(url: string) {
  const res = await fetch(url);
  const html = await res.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  return { res, html, csrf };
}

async function submitCard(url: string, card: string, extra: Record<string, string> = {}) {
  const csrf = extra.csrf ?? (await openCheckout(url)).csrf;
  const u = new URL(url);
  const form = new URLSearchParams({ csrf: csrf!, card_number: card.replace(/(\d{4})/g, '$1 ').trim(), exp: '12/30', cvv: CVV, holder: 'Jean Mukendi', ...extra });
  return fetch(`${u.origin}${u.pathname}/pay`, { method: 'POST', body: form, redirect: 'manual' });
}

async function newCardPayment(over: Record<string, unknown> = {}) {
  const r = await post('/v1.1/pay', cardBody(over));
  assert.equal(r.status, 200, r.text);
  return r.json as { code: number; message: string; orderNumber: string; url: string };
}

async function callbackFor(orderNumber: string) {
  return eventually(() => rx.received.map((x) => JSON.parse(x.body)).find((b) => b.orderNumber === orderNumber));
}

test('POST /v1.1/pay with the seed values answers the checkout URL; retries are idempotent', async () => {
  const body = cardBody({ reference: 'MM0000XXFFR159' });
  const r = await post('/v1.1/pay', body);
  assert.equal(r.status, 200);
  assert.equal(r.json.code, 0);
  assert.equal(r.json.message, 'Redirection en cours');
  assert.match(r.json.orderNumber, ORDER_RE);
  assert.match(r.json.url, new RegExp(`^${t.url}/checkout/[A-Za-z0-9_-]+$`));
  // token only in the header, with "Bearer"; and only in the body, with "Bearer"
  const { authorization: _a, ...noAuth } = body;
  const again = await post('/v1.1/pay', noAuth, auth());
  assert.equal(again.status, 200);
  assert.equal(again.json.orderNumber, r.json.orderNumber);
  assert.equal(again.json.url, r.json.url);
  const again2 = await post('/v1.1/pay', { ...body, authorization: `Bearer ${m.credentials.flexpay.token}` }, auth());
  assert.equal(again2.json.orderNumber, r.json.orderNumber);
  // same reference, different amount → refused, nothing created
  const conflict = await post('/v1.1/pay', { ...body, amount: 101 });
  assert.equal(conflict.status, 409);
  assert.deepEqual({ ...conflict.json, message: undefined }, { code: '1', message: undefined, orderNumber: null, url: null });
  const c = await check(r.json.orderNumber);
  assert.equal(c.json.code, '0');
  assert.equal(c.json.message, 'Une transaction trouvée');
  assert.equal(c.json.transaction.reference, 'MM0000XXFFR159');
  assert.equal(c.json.transaction.amount, '100.0');
  assert.equal(c.json.transaction.amountCustomer, '100.0');
  assert.equal(c.json.transaction.currency, 'USD');
  assert.equal(c.json.transaction.status, '1');
  assert.equal(c.json.transaction.state, 'pending');
  assert.match(c.json.transaction.createdAt, /^\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}$/);
});

test('every validation error answers code "1" in FlexPay shape and creates nothing', async () => {
  const [{ n: before }] = await t.db.query(`select count(*)::int as n from payments`);
  const cases: [string, Record<string, unknown> | string, number, Record<string, string>?][] = [
    ['no token', cardBody({ authorization: undefined }), 401],
    ['wrong token', cardBody({ authorization: 'Bearer nope' }), 401],
    ['header and body tokens of different merchants', cardBody(), 401, auth(other.credentials.flexpay.token)],
    ['merchant of another token', cardBody({ merchant: other.credentials.flexpay.merchant }), 400],
    ['missing merchant', cardBody({ merchant: undefined }), 400],
    ['missing reference', cardBody({ reference: '' }), 400],
    ['reference of 26 characters', cardBody({ reference: 'R'.repeat(26) }), 400],
    ['currency EUR', cardBody({ currency: 'EUR' }), 400],
    ['missing currency', cardBody({ currency: undefined }), 400],
    ['amount 0', cardBody({ amount: 0 }), 400],
    ['negative amount', cardBody({ amount: '-5' }), 400],
    ['amount not a number', cardBody({ amount: 'abc' }), 400],
    ['three decimals in USD', cardBody({ amount: '1.001' }), 400],
    ['missing amount', cardBody({ amount: undefined }), 400],
    ['amount as exponent', cardBody({ amount: '1e3' }), 400],
    ['callback_url not http', cardBody({ callback_url: 'ftp://x.example/cb' }), 400],
    ['approve_url relative', cardBody({ approve_url: '/approve' }), 400],
    ['decline_url garbage', cardBody({ decline_url: 'not a url' }), 400],
    ['description too long', cardBody({ description: 'd'.repeat(300) }), 400],
    ['invalid JSON', '{"merchant": ', 400],
    ['JSON array', '[1,2]', 400],
    ['empty JSON body', '', 400],
  ];
  for (const [name, body, status, headers] of cases) {
    const r = await post('/v1.1/pay', body, headers);
    assert.equal(r.status, status, `${name}: ${r.text}`);
    assert.equal(r.json.code, '1', name);
    assert.equal(typeof r.json.message, 'string', name);
    assert.equal(r.json.orderNumber, null, name);
    assert.equal(r.json.url, null, name);
  }
  const unsupported = await fetch(t.url + '/v1.1/pay', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<x/>' });
  assert.equal(unsupported.status, 415);
  assert.equal(((await unsupported.json()) as any).code, '1');
  const big = await post('/v1.1/pay', JSON.stringify({ ...cardBody(), description: 'x'.repeat(70_000) }));
  assert.equal(big.status, 413);
  assert.equal(big.json.code, '1');
  // Another method on a known path: 405 in the FlexPay shape of that path.
  for (const [method, path, extra] of [
    ['GET', '/v1.1/pay', { orderNumber: null, url: null }],
    ['PUT', '/api/rest/v1/paymentService', { orderNumber: null, provider_reference: null, url: null }],
    ['DELETE', '/api/rest/v1/merchantPayOutService', { orderNumber: null }],
    ['POST', '/api/rest/v1/check/9bsTX7qXdpQe243815877848', { transaction: null }],
  ] as const) {
    const r = await fetch(t.url + path, { method, headers: auth() });
    assert.equal(r.status, 405, `${method} ${path}`);
    const j: any = await r.json();
    assert.equal(j.code, '1', `${method} ${path}`);
    for (const [k, v] of Object.entries(extra)) assert.equal(j[k], v, `${method} ${path} ${k}`);
  }
  const badCheck = await fetch(t.url + '/api/rest/v1/check/9bsTX7qXdpQe243815877848', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{bad' });
  assert.equal(badCheck.status, 400);
  assert.deepEqual(Object.keys(await badCheck.json()).sort(), ['code', 'message', 'transaction']);
  const [{ n: afterCount }] = await t.db.query(`select count(*)::int as n from payments`);
  assert.equal(afterCount, before);
});

test('CDF with a surcharge: amountCustomer includes it; check of the seed example shape', async () => {
  assert.equal((await t.admin('PATCH', `/admin/merchants/${other.id}`, { settings: { flexpay_card_surcharge_bps: 200 } })).status, 200);
  const r = await post('/v1.1/pay', {
    authorization: other.credentials.flexpay.token, merchant: other.credentials.flexpay.merchant, reference: 'MMO00012', amount: '50', currency: 'CDF',
    approve_url: 'https://abcd.efgh.cd/approve', decline_url: 'https://abcd.efgh.cd/decline', callback_url: rx.url,
  });
  assert.equal(r.status, 200, r.text);
  const c = await check(r.json.orderNumber, other.credentials.flexpay.token);
  assert.deepEqual({ ...c.json.transaction, createdAt: 'x' }, {
    orderNumber: r.json.orderNumber, reference: 'MMO00012', amount: '50.0', amountCustomer: '51.0', currency: 'CDF', createdAt: 'x',
    status: '1', state: 'pending', reason: null, channel: 'card',
  });
  const res = await submitCard(r.json.url, CARDS.approved);
  assert.equal(res.status, 303);
  const cb = await callbackFor(r.json.orderNumber);
  assert.equal(cb.amount, '50.0');
  assert.equal(cb.amountCustomer, '51.0');
  // another merchant's orderNumber is not found
  const foreign = await check(r.json.orderNumber);
  assert.deepEqual(foreign.json, { code: '1', message: 'Aucune transaction trouvée', transaction: null });
});

test('card outcomes: approved, declines, expired card, processing error, 3-D Secure, cancel — with checks and callbacks', async () => {
  // approved → 303 to approve_url; money to the merchant; callback code "0"
  const ok = await newCardPayment();
  const page = await openCheckout(ok.url);
  assert.equal(page.res.status, 200);
  assert.match(page.res.headers.get('content-security-policy')!, /frame-ancestors 'none'/);
  assert.match(page.res.headers.get('content-security-policy')!, /script-src 'nonce-/);
  assert.equal(page.res.headers.get('cache-control'), 'no-store');
  assert.equal(page.res.headers.get('x-frame-options'), 'DENY');
  assert.equal(page.res.headers.get('referrer-policy'), 'no-referrer');
  assert.match(page.html, /Zando Shop/);
  assert.match(page.html, /100\.00 USD/);
  assert.match(page.html, /payment transaction description/);
  assert.match(page.html, /<html lang="fr">/);
  const en = await openCheckout(ok.url + '?lang=en');
  assert.match(en.html, /Card number/);
  const approved = await submitCard(ok.url, CARDS.approved);
  assert.equal(approved.status, 303);
  assert.equal(approved.headers.get('location'), 'https://abcd.efgh.cd/approve');
  const c1 = await check(ok.orderNumber);
  assert.equal(c1.json.transaction.status, '0');
  assert.equal(c1.json.transaction.state, 'succeeded');
  const cb = await callbackFor(ok.orderNumber);
  assert.equal(cb.code, '0');
  assert.equal(cb.orderNumber, ok.orderNumber);
  assert.equal(cb.amount, '100.0');
  assert.equal(cb.amountCustomer, '100.0');
  assert.equal(cb.currency, 'USD');
  assert.equal(cb.channel, 'card');
  assert.equal(cb.phone, null);
  assert.match(cb.provider_reference, /^[A-Z0-9]{11}$/);
  assert.match(cb.createdAt, /^\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}$/);
  assert.ok(typeof cb.reference === 'string' && cb.reference.length > 0);
  assert.deepEqual(Object.keys(cb).sort(), ['amount', 'amountCustomer', 'channel', 'code', 'createdAt', 'currency', 'orderNumber', 'phone', 'provider_reference', 'reference']);
  const [stored] = await t.db.query(`select details from payments where public_ref = $1`, [ok.orderNumber]);
  assert.equal(stored!.details.brand, 'visa');
  assert.equal(stored!.details.last4, '4242');
  assert.match(stored!.details.fingerprint, /^[0-9a-f]{32}$/);
  // paying again after success: state page, no second charge
  const twice = await submitCard(ok.url, CARDS.approved, { csrf: page.csrf! });
  assert.equal(twice.status, 200);
  assert.match(await twice.text(), /Paiement effectué/);

  // declines: reason shown first on our page, then continue to decline_url
  for (const [card, reason, text] of [
    [CARDS.insufficient, 'insufficient_funds', 'Fonds insuffisants'],
    [CARDS.doNotHonour, 'do_not_honour', 'refusée par la banque'],
    [CARDS.expiredCard, 'expired_card', 'Carte expirée'],
  ] as const) {
    const p = await newCardPayment();
    const res = await submitCard(p.url, card);
    assert.equal(res.status, 303, reason);
    assert.equal(res.headers.get('location'), new URL(p.url).pathname + '?lang=fr');
    const shown = await openCheckout(p.url);
    assert.match(shown.html, new RegExp(text));
    assert.match(shown.html, /id="continue" href="https:\/\/abcd\.efgh\.cd\/decline"/);
    const c = await check(p.orderNumber);
    assert.equal(c.json.transaction.status, '1');
    assert.equal(c.json.transaction.state, 'failed');
    assert.equal(c.json.transaction.reason, reason);
    const cbd = await callbackFor(p.orderNumber);
    assert.equal(cbd.code, '1');
    assert.equal(cbd.provider_reference, null);
  }

  // processing error: the form again with the error; still pending; a retry can succeed
  const pe = await newCardPayment();
  const peRes = await submitCard(pe.url, CARDS.processing);
  assert.equal(peRes.status, 200);
  assert.match(await peRes.text(), /Erreur de traitement/);
  assert.equal((await check(pe.orderNumber)).json.transaction.state, 'pending');
  assert.equal((await submitCard(pe.url, CARDS.approvedMc)).status, 303);
  const peDone = await check(pe.orderNumber);
  assert.equal(peDone.json.transaction.status, '0');

  // 3-D Secure: right code approves, wrong code declines
  for (const [code, outcome] of [['123456', 'approve'], ['000000', 'decline']] as const) {
    const p = await newCardPayment();
    const res = await submitCard(p.url, CARDS.threeDs);
    assert.equal(res.status, 303);
    const challengeUrl = new URL(res.headers.get('location')!, t.url).toString();
    assert.match(challengeUrl, /\/3ds\?lang=fr$/);
    const ch = await fetch(challengeUrl);
    const html = await ch.text();
    assert.match(html, /3-D Secure/);
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const ans = await fetch(new URL(p.url).origin + new URL(p.url).pathname + '/3ds', { method: 'POST', body: new URLSearchParams({ csrf, code }), redirect: 'manual' });
    assert.equal(ans.status, 303);
    const c = await check(p.orderNumber);
    if (outcome === 'approve') {
      assert.equal(ans.headers.get('location'), 'https://abcd.efgh.cd/approve');
      assert.equal(c.json.transaction.status, '0');
    } else {
      assert.equal(c.json.transaction.state, 'failed');
      assert.equal(c.json.transaction.reason, 'authentication_failed');
    }
  }

  // cancel → cancel_url, state cancelled, callback code "1"
  const cp = await newCardPayment();
  const { csrf } = await openCheckout(cp.url);
  const cancel = await fetch(cp.url + '/cancel', { method: 'POST', body: new URLSearchParams({ csrf: csrf! }), redirect: 'manual' });
  assert.equal(cancel.status, 303);
  assert.equal(cancel.headers.get('location'), 'https://abcd.efgh.cd/cancel');
  const cc = await check(cp.orderNumber);
  assert.equal(cc.json.transaction.status, '1');
  assert.equal(cc.json.transaction.state, 'cancelled');
  assert.equal((await callbackFor(cp.orderNumber)).code, '1');

  // refused input on the page: Amex, bad Luhn, past expiry, bad CVV, no holder, bad CSRF
  const bad = await newCardPayment();
  for (const [card, extra, status, text] of [
    [CARDS.amex, {}, 422, 'Seules les cartes Visa et Mastercard'],
    [CARDS.badLuhn, {}, 422, 'Numéro de carte invalide'],
    [CARDS.approved, { exp: '01/20' }, 422, 'Cette carte est expirée'],
    [CARDS.approved, { exp: '13/30' }, 422, "Date d&#39;expiration invalide"],
    [CARDS.approved, { cvv: '12' }, 422, 'Le CVV'],
    [CARDS.approved, { holder: '' }, 422, 'Indiquez le nom'],
    [CARDS.approved, { csrf: 'forged' }, 403, 'Session de paiement invalide'],
  ] as const) {
    const res = await submitCard(bad.url, card, extra as Record<string, string>);
    assert.equal(res.status, status, text);
    const html = await res.text();
    assert.ok(html.includes(text), text);
    assert.ok(!html.includes(card), 'the card number is never echoed');
  }
  assert.equal((await check(bad.orderNumber)).json.transaction.state, 'pending');

  // expired: the payment times out (manual clock; the sweeper expires it)
  t.clock.advance(31 * 60_000);
  const ex = await eventually(async () => {
    const c = await check(bad.orderNumber);
    return c.json.transaction.state === 'expired' ? c : null;
  });
  assert.equal(ex!.json.transaction.status, '1');
  assert.equal((await callbackFor(bad.orderNumber)).code, '1');
  const exPage = await openCheckout(bad.url);
  assert.match(exPage.html, /expiré/);
});

test('POST /v1/pay legacy form post redirects to the same checkout page; errors are HTML', async () => {
  const form = new URLSearchParams({
    authorization: m.credentials.flexpay.token, merchant: m.credentials.flexpay.merchant, reference: ref('LG'), amount: '12.50', currency: 'USD',
    approve_url: 'https://abcd.efgh.cd/approve',
  });
  const res = await fetch(t.url + '/v1/pay', { method: 'POST', body: form, redirect: 'manual' });
  assert.equal(res.status, 303);
  const loc = res.headers.get('location')!;
  assert.match(loc, /\/checkout\/[A-Za-z0-9_-]+$/);
  const pageRes = await openCheckout(loc);
  assert.match(pageRes.html, /12\.50 USD/);
  form.set('currency', 'EUR');
  form.set('reference', ref('LG'));
  const bad = await fetch(t.url + '/v1/pay', { method: 'POST', body: form, redirect: 'manual' });
  assert.equal(bad.status, 400);
  assert.match(bad.headers.get('content-type')!, /text\/html/);
  assert.match(await bad.text(), /La devise doit être CDF ou USD/);
});

test('check: not found, malformed, missing token; refunded state', async () => {
  assert.deepEqual((await check('9bsTX7qXdpQe243815877848')).json, { code: '1', message: 'Aucune transaction trouvée', transaction: null });
  assert.deepEqual((await check('Qrk6ZaXts5Mv243850237175')).json, { code: '1', message: 'Aucune transaction trouvée', transaction: null });
  assert.equal((await check('x'.repeat(60))).json.code, '1');
  const noTok = await fetch(`${t.url}/api/rest/v1/check/9bsTX7qXdpQe243815877848`);
  assert.equal(noTok.status, 401);
  assert.deepEqual({ ...(await noTok.json() as any), message: 'm' }, { code: '1', message: 'm', transaction: null });
  const bad = await check('9bsTX7qXdpQe243815877848', 'wrong');
  assert.equal(bad.status, 401);
  const p = await newCardPayment();
  await submitCard(p.url, CARDS.approved);
  const [row] = await t.db.query(`select id from payments where public_ref = $1`, [p.orderNumber]);
  await t.gw.payments.refund({ payment_id: String(row!.id), merchant_id: m.id, amount_minor: 4000n });
  let c = await check(p.orderNumber);
  assert.equal(c.json.transaction.status, '0');
  assert.equal(c.json.transaction.state, 'partially_refunded');
  await t.gw.payments.refund({ payment_id: String(row!.id), merchant_id: m.id, amount_minor: 6000n });
  c = await check(p.orderNumber);
  assert.equal(c.json.transaction.status, '1');
  assert.equal(c.json.transaction.state, 'refunded');
});

test('mobile money paymentService: push prompt, approval, callback; errors', async () => {
  const phone = '243815877848';
  await t.createPayer('subscriber', { phone, currency: 'CDF', balance: '10000', pin: '4321' });
  const body = { merchant: m.credentials.flexpay.merchant, type: 1, reference: ref('MMO'), phone, amount: 5000, currency: 'CDF', callbackUrl: rx.url };
  const r = await post('/api/rest/v1/paymentService', body, auth());
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.code, '0');
  assert.match(r.json.message, /Veuillez valider le push message$/);
  assert.equal(r.json.provider_reference, null);
  assert.equal(r.json.url, null);
  assert.ok(r.json.orderNumber);
  const replay = await post('/api/rest/v1/paymentService', { ...body, type: '1' }, { authorization: m.credentials.flexpay.token });
  assert.equal(replay.json.orderNumber, r.json.orderNumber);
  // The token may also come in the body (`authorization`, with or without "Bearer "), as on /v1.1/pay.
  const inBody = await post('/api/rest/v1/paymentService', { ...body, authorization: `Bearer ${m.credentials.flexpay.token}` });
  assert.equal(inBody.status, 200, inBody.text);
  assert.equal(inBody.json.orderNumber, r.json.orderNumber);
  assert.equal((await check(r.json.orderNumber)).json.transaction.state, 'pending');
  const rail = mobileMoneyRail(t.gw);
  const [prompt] = await rail.prompts(phone);
  assert.ok(prompt);
  await rail.approve(phone, prompt!.id, '4321');
  const c = await check(r.json.orderNumber);
  assert.equal(c.json.transaction.status, '0');
  assert.equal(c.json.transaction.amount, '5000.0');
  assert.equal(c.json.transaction.channel, 'mobile_money');
  const cb = await callbackFor(r.json.orderNumber);
  assert.equal(cb.code, '0');
  assert.equal(cb.phone, phone);
  assert.equal(cb.channel, 'mobile_money');
  // declined on the handset → callback code "1"
  const d = await post('/api/rest/v1/paymentService', { ...body, reference: ref('MMO') }, auth());
  const [p2] = await rail.prompts(phone);
  await rail.reject(phone, p2!.id);
  assert.equal((await check(d.json.orderNumber)).json.transaction.reason, 'declined');
  assert.equal((await callbackFor(d.json.orderNumber)).code, '1');

  for (const [name, over, status] of [
    ['unknown subscriber', { phone: '243899999999' }, 400],
    ['bad phone', { phone: '0815877848' }, 400],
    ['type 2', { type: 2 }, 400],
    ['currency EUR', { currency: 'EUR' }, 400],
    ['three decimals', { amount: '1.001' }, 400],
    ['long reference', { reference: 'R'.repeat(26) }, 400],
    ['other merchant code', { merchant: other.credentials.flexpay.merchant }, 400],
    ['bad callbackUrl', { callbackUrl: 'javascript:alert(1)' }, 400],
  ] as const) {
    const e = await post('/api/rest/v1/paymentService', { ...body, reference: ref('E'), ...over }, auth());
    assert.equal(e.status, status, `${name}: ${e.text}`);
    assert.deepEqual({ ...e.json, message: 'm' }, { code: '1', message: 'm', orderNumber: null, provider_reference: null, url: null }, name);
  }
  const unauth = await post('/api/rest/v1/paymentService', body);
  assert.equal(unauth.status, 401);
});

test('merchantPayOutService pays out from the merchant balance; short balance is refused', async () => {
  const phone = '243975551234';
  await t.createPayer('subscriber', { phone, currency: 'USD', balance: '0' });
  // The merchant's USD balance comes from the card payments above (fee 0 by default).
  const body = { merchant: m.credentials.flexpay.merchant, type: 1, reference: ref('PO'), phone, amount: '10.5', currency: 'USD', callbackUrl: rx.url };
  const r = await post('/api/rest/v1/merchantPayOutService', body, auth());
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.code, '0');
  assert.match(r.json.orderNumber, /^[A-Za-z0-9]{12}\d{12,18}$/);
  const again = await post('/api/rest/v1/merchantPayOutService', { ...body, type: 0 + 1 }, auth());
  assert.equal(again.json.orderNumber, r.json.orderNumber);
  const c = await check(r.json.orderNumber);
  assert.equal(c.json.transaction.status, '0');
  assert.equal(c.json.transaction.amount, '10.5');
  assert.equal(c.json.transaction.channel, 'payout');
  const cb = await callbackFor(r.json.orderNumber);
  assert.equal(cb.code, '0');
  assert.equal(cb.phone, phone);
  const accounts = await t.admin('GET', '/admin/accounts?kind=subscriber');
  const acct = accounts.body.accounts?.find?.((a: any) => a.phone === phone) ?? accounts.body.find?.((a: any) => a.phone === phone);
  if (acct) assert.equal(String(acct.balance_minor), '1050');
  const short = await post('/api/rest/v1/merchantPayOutService', { ...body, reference: ref('PO'), amount: '999999' }, auth());
  assert.equal(short.status, 402);
  assert.equal(short.json.code, '1');
  assert.equal((await check(short.json.orderNumber)).json.transaction.state, 'failed');
  const conflict = await post('/api/rest/v1/merchantPayOutService', { ...body, amount: '11' }, auth());
  assert.equal(conflict.status, 409);
  assert.deepEqual({ ...conflict.json, message: 'm' }, { code: '1', message: 'm', orderNumber: null });
  const unknown = await post('/api/rest/v1/merchantPayOutService', { ...body, reference: ref('PO'), phone: '243811111111' }, auth());
  assert.equal(unknown.status, 400);
  // another merchant cannot see this payout
  assert.equal((await check(r.json.orderNumber, other.credentials.flexpay.token)).json.code, '1');
});

test('no card number or CVV in the database or the logs; ledger balanced', async () => {
  assert.deepEqual(await t.verify(), []);
  const tables = await t.db.query<{ table_name: string }>(`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`);
  assert.ok(tables.length > 5);
  let dump = '';
  for (const { table_name } of tables) {
    const rows = await t.db.query(`select * from "${table_name}"`);
    dump += JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n';
  }
  await t.close();
  await new Promise((r) => setTimeout(r, 200));
  const logs = readFileSync(t.logFile!, 'utf8');
  assert.ok(logs.length > 100, 'logs were captured');
  assert.ok(dump.includes('"last4":"4242"'), 'the dump holds the payments');
  const cvvRe = new RegExp(`(^|[^0-9A-Za-z])${CVV}([^0-9A-Za-z]|$)`);
  for (const [name, text] of [['database', dump], ['logs', logs]] as const) {
    for (const card of Object.values(CARDS)) {
      assert.ok(!text.includes(card), `${name} holds card ${card}`);
      assert.ok(!text.includes(card.replace(/(\d{4})/g, '$1 ').trim()), `${name} holds spaced card ${card}`);
      assert.ok(!text.includes(card.replace(/(\d{4})/g, '$1+').replace(/\+$/, '')), `${name} holds form-encoded card ${card}`);
    }
    assert.ok(!cvvRe.test(text), `${name} holds the CVV`);
  }
  // t.close() already ran; make the after hook's close harmless
  t.close = async () => {};
});
