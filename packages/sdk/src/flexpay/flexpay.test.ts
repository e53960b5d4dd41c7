import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlexPayClient, parseFlexPayCallback, escapeHtml, type FlexPayClientOptions } from './client.ts';
import { ProviderError, ValidationError } from '../core/errors.ts';
import { FakeFetch, fixture } from '../testing/fake-fetch.ts';

const TOKEN = 'tok_abc';

function client(ff: FakeFetch, extra: Partial<FlexPayClientOptions> = {}) {
  return new FlexPayClient({ token: TOKEN, merchant: 'ZANDO', baseUrl: 'http://41.0.0.1:8081', fetch: ff.fetch, ...extra });
}

const card = {
  reference: 'MM0000XXFFR159',
  amount: '100',
  currency: 'USD' as const,
  description: 'payment transaction description',
  callback_url: 'https://abcd.efgh.cd/callback',
  approve_url: 'https://abcd.efgh.cd/approve',
  cancel_url: 'https://abcd.efgh.cd/cancel',
  decline_url: 'https://abcd.efgh.cd/decline',
  home_url: 'https://abcd.efgh.cd/',
};

test('cardPay: POST /v1.1/pay on the card host, token in header and body; code 0 (number) is success', async () => {
  const ff = new FakeFetch().reply(fixture('flexpay/card-pay.success.json'));
  const r = await client(ff, { cardBaseUrl: 'https://cardpayment.example.cd' }).cardPay(card);
  assert.equal(r.code, '0');
  assert.equal(r.orderNumber, '9bsTX7qXdpQe243815877848');
  assert.equal(r.url, 'https://cardpayment.example.cd/checkout/9bsTX7qXdpQe243815877848');
  assert.equal(r.message, 'Redirection en cours');
  const req = ff.last;
  assert.equal(req.method, 'POST');
  assert.equal(req.url, 'https://cardpayment.example.cd/v1.1/pay');
  assert.equal(req.headers.authorization, `Bearer ${TOKEN}`);
  assert.equal(req.headers['content-type'], 'application/json');
  assert.equal(
    req.body,
    '{"authorization":"Bearer tok_abc","merchant":"ZANDO","reference":"MM0000XXFFR159","amount":100,"currency":"USD",' +
      '"description":"payment transaction description","callback_url":"https://abcd.efgh.cd/callback",' +
      '"approve_url":"https://abcd.efgh.cd/approve","cancel_url":"https://abcd.efgh.cd/cancel",' +
      '"decline_url":"https://abcd.efgh.cd/decline","home_url":"https://abcd.efgh.cd/"}',
  );
});

test('cardPay: code "1" error answer is a ProviderError; default card host is baseUrl', async () => {
  const ff = new FakeFetch().reply(fixture('flexpay/card-pay.error.json'));
  await assert.rejects(client(ff).cardPay(card), (e: unknown) => {
    assert.ok(e instanceof ProviderError);
    assert.equal(e.code, '1');
    assert.equal(e.providerMessage, "Le marchand n'existe pas");
    assert.equal(e.rawBody, fixture('flexpay/card-pay.error.json'));
    return true;
  });
  assert.equal(ff.last.url, 'http://41.0.0.1:8081/v1.1/pay');
});

test('cardPay: validation (reference <= 25 chars, currency, amount) before sending', async () => {
  const ff = new FakeFetch();
  const c = client(ff);
  await assert.rejects(c.cardPay({ ...card, reference: 'X'.repeat(26) }), (e: unknown) => e instanceof ValidationError && e.field === 'reference');
  await assert.rejects(c.cardPay({ ...card, currency: 'EUR' as 'USD' }), ValidationError);
  await assert.rejects(c.cardPay({ ...card, amount: 100 as unknown as string }), ValidationError);
  await assert.rejects(c.cardPay({ ...card, amount: '1.005' }), ValidationError);
  assert.equal(ff.requests.length, 0);
  const ok = new FakeFetch().reply(fixture('flexpay/card-pay.success.json'));
  await client(ok).cardPay({ ...card, reference: 'X'.repeat(25), amount: 1250n, currency: 'CDF' });
  assert.match(ok.last.body, /"amount":12\.5,"currency":"CDF"/);
});

test('legacyPayForm: auto-submitting form to /v1/pay with every value HTML-escaped', () => {
  const c = client(new FakeFetch(), { cardBaseUrl: 'https://cardpayment.example.cd/' });
  const html = c.legacyPayForm({ ...card, description: `<script>alert("x")</script> & 'q'` });
  assert.match(html, /<form method="POST" action="https:\/\/cardpayment\.example\.cd\/v1\/pay">/);
  assert.match(html, /document\.forms\[0\]\.submit\(\)/);
  const fields = Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)].map((m) => [m[1], m[2]]),
  );
  assert.deepEqual(Object.keys(fields), [
    'authorization',
    'merchant',
    'reference',
    'amount',
    'currency',
    'description',
    'callback_url',
    'approve_url',
    'cancel_url',
    'decline_url',
    'home_url',
  ]);
  assert.equal(fields.authorization, 'Bearer tok_abc');
  assert.equal(fields.amount, '100');
  assert.equal(fields.description, '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;');
  assert.ok(!html.includes('<script>alert'));
  assert.equal(escapeHtml(`a&b<c>"d'`), 'a&amp;b&lt;c&gt;&quot;d&#39;');
  // optional fields left out are not rendered
  const small = c.legacyPayForm({ reference: 'R1', amount: '5', currency: 'CDF' });
  assert.ok(!small.includes('callback_url'));
});

test('mobilePay: POST /api/rest/v1/paymentService, camelCase fields, type 1', async () => {
  const ff = new FakeFetch().reply(fixture('flexpay/mobile-pay.success.json'));
  const r = await client(ff).mobilePay({
    reference: 'MLOPN5472452',
    phone: '+243 812 345 678',
    amount: '5000',
    currency: 'CDF',
    callbackUrl: 'https://shop.example/flexpay/cb',
  });
  assert.equal(r.code, '0');
  assert.equal(r.orderNumber, 'Qrk6ZaXts5Mv243850237175');
  assert.equal(r.provider_reference, undefined);
  assert.equal(r.url, undefined);
  assert.match(r.message ?? '', /Veuillez valider le push message/);
  assert.equal(ff.last.url, 'http://41.0.0.1:8081/api/rest/v1/paymentService');
  assert.equal(ff.last.headers.authorization, `Bearer ${TOKEN}`);
  assert.equal(
    ff.last.body,
    '{"merchant":"ZANDO","type":1,"reference":"MLOPN5472452","phone":"243812345678","amount":5000,"currency":"CDF","callbackUrl":"https://shop.example/flexpay/cb"}',
  );
  await assert.rejects(client(ff).mobilePay({ reference: 'r', phone: '0812345678', amount: '1', currency: 'CDF' }), ValidationError);
});

test('payout: POST /api/rest/v1/merchantPayOutService; failure code kept', async () => {
  const ff = new FakeFetch()
    .reply(fixture('flexpay/payout.success.json'))
    .reply('{"code":"1","message":"Solde insuffisant","orderNumber":null}');
  const c = client(ff);
  const input = { reference: 'PO-1', phone: '243812345678', amount: '10', currency: 'USD' as const, callbackUrl: 'https://s.example/cb' };
  const r = await c.payout(input);
  assert.deepEqual({ code: r.code, on: r.orderNumber }, { code: '0', on: 'Pk2AbCdEf3Gh243850237999' });
  assert.equal(ff.last.url, 'http://41.0.0.1:8081/api/rest/v1/merchantPayOutService');
  assert.deepEqual(JSON.parse(ff.last.body), { merchant: 'ZANDO', type: 1, reference: 'PO-1', phone: '243812345678', amount: 10, currency: 'USD', callbackUrl: 'https://s.example/cb' });
  await assert.rejects(c.payout(input), (e: unknown) => e instanceof ProviderError && e.code === '1' && e.providerMessage === 'Solde insuffisant');
});

test('check: GET with Bearer; found transaction, status kept as string', async () => {
  const ff = new FakeFetch().reply(fixture('flexpay/check.found.json'));
  const r = await client(ff).check('9bsTX7qXdpQe243815877848');
  assert.equal(ff.last.method, 'GET');
  assert.equal(ff.last.url, 'http://41.0.0.1:8081/api/rest/v1/check/9bsTX7qXdpQe243815877848');
  assert.equal(ff.last.headers.authorization, `Bearer ${TOKEN}`);
  assert.equal(ff.last.body, '');
  assert.equal(r.found, true);
  assert.equal(r.code, '0');
  assert.equal(r.message, 'Une transaction trouvée');
  const t = r.transaction!;
  assert.deepEqual(
    [t.orderNumber, t.reference, t.amount, t.amountCustomer, t.currency, t.createdAt, t.status, t.succeeded],
    ['9bsTX7qXdpQe243815877848', 'MMO00012', '50.0', '51.0', 'CDF', '06-02-2021 17:32:46', '0', true],
  );
});

test('check: not found is an answer (found:false), also with HTTP 404; status "1" is not succeeded', async () => {
  const nf = fixture('flexpay/check.not-found.json');
  const ff = new FakeFetch()
    .reply(nf)
    .reply(nf, 404)
    .replyJson({ code: 0, message: 'Une transaction trouvée', transaction: { orderNumber: 'A', reference: 'R', status: 1, amount: '5.0', currency: 'USD' } })
    .reply('{"code":"0","message":"x","transaction":null}')
    .reply('Unauthorized', 401);
  const c = client(ff);
  for (let i = 0; i < 2; i++) {
    const r = await c.check('Qrk6ZaXts5Mv243850237175');
    assert.equal(r.found, false);
    assert.equal(r.code, '1');
    assert.equal(r.transaction, null);
    assert.equal(r.message, 'Aucune transaction trouvée');
  }
  const failed = await c.check('A');
  assert.equal(failed.code, '0', 'numeric code 0 read as "0"');
  assert.equal(failed.transaction?.status, '1');
  assert.equal(failed.transaction?.succeeded, false);
  await assert.rejects(c.check('B'), ProviderError);
  await assert.rejects(c.check('C'), (e: unknown) => e instanceof ProviderError && e.httpStatus === 401 && e.rawBody === 'Unauthorized');
  await assert.rejects(c.check(''), ValidationError);
});

test('check: orderNumber is URL-encoded into the path; retried when idempotent retries are on', async () => {
  const ff = new FakeFetch().fail().reply(fixture('flexpay/check.found.json'));
  const c = client(ff, { retries: 1, retry_delay_ms: 1 });
  await c.check('a/b c');
  assert.equal(ff.requests.length, 2);
  assert.equal(ff.last.url, 'http://41.0.0.1:8081/api/rest/v1/check/a%2Fb%20c');
});

test('card/mobile pay are never retried', async () => {
  const ff = new FakeFetch().fail().reply(fixture('flexpay/card-pay.success.json'));
  await assert.rejects(client(ff, { retries: 3 }).cardPay(card), (e: unknown) => (e as Error).name === 'TransportError');
  assert.equal(ff.requests.length, 1);
});

test('callback parser: seed result, notes shape with numeric code 0, failures', () => {
  const seed = parseFlexPayCallback(fixture('flexpay/callback.json'));
  assert.deepEqual(
    [seed.code, seed.succeeded, seed.reference, seed.provider_reference, seed.orderNumber],
    ['0', true, 'MLOPN5472452', '7KI81020PHS', '9bsTX7qXdpQe243815877848'],
  );
  const notes = parseFlexPayCallback(new TextEncoder().encode(fixture('flexpay/callback.notes.json')));
  assert.equal(notes.code, '0');
  assert.equal(notes.succeeded, true);
  assert.deepEqual(
    [notes.amount, notes.amountCustomer, notes.phone, notes.currency, notes.createdAt, notes.channel],
    ['50.0', '51.0', '243812345678', 'CDF', '06-02-2021 17:32:46', 'MPESA'],
  );
  const parsedByFramework = parseFlexPayCallback({ code: 0, reference: 'R', orderNumber: 'O' });
  assert.equal(parsedByFramework.code, '0');
  assert.equal(parsedByFramework.succeeded, true);
  const failed = parseFlexPayCallback('{"code":"1","reference":"R","provider_reference":null,"orderNumber":"O"}');
  assert.equal(failed.succeeded, false);
  assert.equal(failed.provider_reference, undefined);
  assert.throws(() => parseFlexPayCallback('{"reference":"R"}'), ValidationError);
  assert.throws(() => parseFlexPayCallback('not json'), ValidationError);
});
