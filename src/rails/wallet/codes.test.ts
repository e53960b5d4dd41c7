// Payment codes and in-app confirmation in a real browser: the wallet app shows the one-time
// code (digits + QR that decodes to them), a merchant's Quick Pay above the limit waits, the
// payer approves it with the PIN on the code page; a JSAPI order is confirmed in-app.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import jsqrModule from 'jsqr';
import { PNG } from 'pngjs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { startGateway, type TestGateway } from '../../../test/harness.ts';

// jsqr is CommonJS: at runtime the default import is the function, its types say namespace.
type JsQR = typeof jsqrModule extends { default: infer F } ? F : typeof jsqrModule;
const jsQR = ((jsqrModule as any).default ?? jsqrModule) as JsQR;

let t: TestGateway;
let browser: Browser;
let page: Page;
let kess: { user: string; password: string; store_id: string };
const PHONE = '85598765432';
const PIN = '4321';

async function post(path: string, body: unknown, token?: string) {
  const res = await fetch(t.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function kessToken(): Promise<string> {
  return (await post('/kesspay/api/token', { user: kess.user, password: kess.password })).body.data.token;
}

before(async () => {
  t = await startGateway();
  kess = (await t.createMerchant('Kess Shop')).credentials.kesspay;
  await t.createPayer('wallet', { name: 'Sokha Chan', phone: PHONE, currency: 'USD', balance: '500.00', pin: PIN });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  page = await (await browser.newContext({ viewport: { width: 360, height: 740 } })).newPage();
  mkdirSync('test-artifacts', { recursive: true });
});

after(async () => {
  await browser?.close();
  assert.deepEqual(await t.verify(), []);
  await t.close();
});

test('the code page needs the wallet session and links to the login', async () => {
  const res = await page.goto(t.url + '/wallet/code');
  assert.equal(res!.status(), 401);
  assert.equal(await page.locator('#login').getAttribute('href'), '/wallet/?next=%2Fwallet%2Fcode');
  await page.click('#login');
  await page.fill('#phone', PHONE);
  await page.fill('#pin', PIN);
  // After login the payer is back on the code page.
  await Promise.all([page.waitForURL(t.url + '/wallet/code'), page.click('button[type=submit]')]);
});

test('the wallet app shows the payment code; a PIN-required Quick Pay is approved on the page', async () => {
  let res = await page.goto(t.url + '/wallet/code');
  assert.equal(res!.status(), 200);
  const h = res!.headers();
  assert.match(h['content-security-policy']!, /default-src 'none'/);
  assert.match(h['content-security-policy']!, /frame-ancestors 'none'/);
  assert.equal(h['cache-control'], 'no-store');
  assert.equal(h['x-frame-options'], 'DENY');
  assert.equal(h['referrer-policy'], 'no-referrer');
  const code = (await page.locator('#code').getAttribute('data-code'))!;
  assert.match(code, /^28\d{16}$/);
  assert.equal((await page.locator('#code').textContent())!.replace(/\s/g, ''), code);
  // the QR image decodes to the same digits
  const src = (await page.locator('#qr').getAttribute('src'))!;
  const png = PNG.sync.read(Buffer.from(src.replace(/^data:image\/png;base64,/, ''), 'base64'));
  assert.equal(jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data, code);

  // the cashier scans it: 75.00 is above the 50.00 USD limit
  const tok = await kessToken();
  const order = { service_id: 2, store_id: kess.store_id, sub_store_id: 123, sub_store_name: 'Foo Bar', amount: 75, fee_rate: 2, out_trade_no: 'ORDER-4339-B1' };
  const q = await post('/kesspay/api/quick-pay', JSON.stringify(order).replace(/}$/, `,"auth_code":${code}}`), tok);
  assert.equal(q.status, 200);
  assert.equal(q.body.data.result_code, 'USERPAYING');

  res = await page.goto(t.url + '/wallet/code');
  const form = page.locator('form.confirmation');
  assert.equal(await form.count(), 1);
  assert.equal(await form.locator('.payee').textContent(), 'Foo Bar');
  assert.match((await form.locator('.amount').textContent())!, /76\.50 USD/);
  assert.notEqual(await page.locator('#code').getAttribute('data-code'), code, 'a new code after the used one');
  await page.screenshot({ path: 'test-artifacts/kesspay-code.png', fullPage: true });

  // a wrong PIN keeps it waiting; the right one pays
  await form.locator('.pin').fill('0000');
  await Promise.all([page.waitForLoadState('load'), form.locator('.approve').click()]);
  assert.match((await page.locator('.msg.err').textContent())!, /wrong PIN/i);
  await page.locator('form.confirmation .pin').fill(PIN);
  await Promise.all([page.waitForSelector('#result'), page.locator('form.confirmation .approve').click()]);
  assert.equal(await page.locator('#result').textContent(), 'Payment successful');
  assert.match((await page.locator('#balance').textContent())!, /423\.50 USD/);

  const c = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: order.out_trade_no }, tok);
  assert.deepEqual([c.body.data.is_success, c.body.data.message], [true, 'Payment Successful!']);
});

test('confirm form posts need the CSRF token', async () => {
  const cookies = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const res = await fetch(t.url + '/wallet/code/confirm', {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies }, body: 'payment_id=1&pin=4321&action=approve',
  });
  assert.equal(res.status, 403);
});

test('JSAPI: the in-app page shows payee and amount and pays with the PIN', async () => {
  const tok = await kessToken();
  const order = { service_id: 30, store_id: kess.store_id, sub_store_name: 'Foo Bar', amount: 0.01, fee_rate: 2, out_trade_no: 'ORDER-4339-J1' };
  const r = await post('/kesspay/api/jsapi-pay', order, tok);
  assert.equal(r.status, 200);
  await page.goto(r.body.data.pay_url);
  assert.equal(await page.locator('#payee').textContent(), 'Foo Bar');
  assert.match((await page.locator('#amount').textContent())!, /0\.01 USD/);
  await page.fill('#pin', PIN);
  await page.screenshot({ path: 'test-artifacts/kesspay-jsapi.png', fullPage: true });
  await Promise.all([page.waitForSelector('#result'), page.click('#pay')]);
  assert.equal(await page.locator('#result').textContent(), 'Payment successful');
  const c = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: order.out_trade_no }, tok);
  assert.equal(c.body.data.is_success, true);
});
