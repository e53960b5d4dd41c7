// The handset simulator page in a real browser (Chromium via playwright-core), phone-sized:
// a prompt pushed by an IntouchPay requestpayment appears without a reload, the subscriber
// enters the PIN and approves; plus headers, CSRF and escaping checks over plain HTTP.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { startGateway, type TestGateway } from '../../../test/harness.ts';

let t: TestGateway;
let browser: Browser;
let cred: { username: string; accountno: string; partner_password: string };
const PHONE = '250788123456';

function ts(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

async function requestPayment(rid: string, amount: string, phone = PHONE) {
  const timestamp = ts(t.clock.now());
  const password = createHash('sha256').update(cred.username + cred.accountno + cred.partner_password + timestamp).digest('hex');
  const res = await fetch(t.url + '/api/requestpayment/', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: cred.username, accountno: cred.accountno, timestamp, password, amount, mobilephone: phone, requesttransactionid: rid }).toString(),
  });
  const body = await res.json();
  assert.equal(body.responsecode, '1000');
  return body.transactionid as string;
}

async function paymentState(id: string): Promise<string> {
  return (await t.admin('GET', `/admin/payments/${id}`)).body.state;
}

before(async () => {
  t = await startGateway();
  const m = await t.createMerchant('Kigali <Coffee> & Co');
  cred = m.credentials.intouchpay;
  await t.createPayer('subscriber', { name: 'Aline Uwase', phone: PHONE, pin: '1234', currency: 'RWF', balance: '50000' });
  mkdirSync('test-artifacts', { recursive: true });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
after(async () => {
  await browser?.close();
  await t?.close();
});

test('a prompt appears on the open page without reloading; approving with the PIN pays', async () => {
  const page = await browser.newPage({ viewport: { width: 360, height: 740 } });
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${t.url}/handset/${PHONE}`);
  await page.getByText('No pending requests').waitFor();
  let navigations = 0;
  page.on('framenavigated', () => navigations++);

  const tid = await requestPayment('4522233', '1000');
  const prompt = page.locator('section.ussd');
  await prompt.waitFor({ timeout: 10_000 });
  assert.equal(navigations, 0, 'the prompt arrived without a reload');
  assert.equal((await prompt.locator('p').first().textContent())!.trim(), 'Pay 1,000 RWF to Kigali <Coffee> & Co? Enter PIN');

  // a wrong PIN first: counted, the payment stays pending
  await prompt.locator('input[name=pin]').fill('9999');
  await prompt.getByRole('button', { name: 'Send' }).click();
  await page.getByText('Wrong PIN. 4 tries left.').waitFor();
  assert.equal(await paymentState(tid), 'pending');

  await page.locator('section.ussd input[name=pin]').fill('1234');
  await page.screenshot({ path: 'test-artifacts/handset.png', fullPage: true });
  await page.locator('section.ussd').getByRole('button', { name: 'Send' }).click();
  await page.getByText('Payment approved. Thank you.').waitFor();
  assert.equal(await page.locator('section.ussd').count(), 0);
  assert.equal((await page.locator('.bal .v').textContent())!.trim(), '49,000 RWF');
  assert.equal(await paymentState(tid), 'succeeded');
  await page.screenshot({ path: 'test-artifacts/handset-approved.png', fullPage: true });
  assert.deepEqual(errors, [], 'no CSP violations or script errors');
  await page.close();
});

test('cancel on the page declines the payment', async () => {
  const tid = await requestPayment('cancel-1', '300');
  const page = await browser.newPage({ viewport: { width: 360, height: 740 } });
  await page.goto(`${t.url}/handset/${PHONE}`);
  await page.locator('section.ussd').getByRole('button', { name: 'Cancel' }).click();
  await page.getByText('Payment request declined.').waitFor();
  assert.equal(await paymentState(tid), 'failed');
  await page.close();
});

test('security headers, CSRF, escaping, unknown numbers', async () => {
  const tid = await requestPayment('csrf-1', '200');
  const res = await fetch(`${t.url}/handset/${PHONE}`);
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy')!;
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /script-src 'nonce-/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  const html = await res.text();
  assert.ok(html.includes('Kigali &#60;Coffee&#62; &#38; Co'));
  assert.ok(!html.includes('<Coffee>'));
  const id = /data-prompt-id="(\d+)"/.exec(html)![1];
  const token = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  // The right token without the browser's cookie, or a forged token with it: refused.
  const noCookie = await fetch(`${t.url}/handset/${PHONE}/prompts/${id}/approve`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf: token, pin: '1234' }).toString(),
  });
  assert.equal(noCookie.status, 303);
  assert.match(noCookie.headers.get('location')!, /r=csrf/);
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  const forged = await fetch(`${t.url}/handset/${PHONE}/prompts/${id}/reject`, {
    method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf: 'x'.repeat(43) }).toString(),
  });
  assert.match(forged.headers.get('location')!, /r=csrf/);
  assert.equal(await paymentState(tid), 'pending');
  // JSON API refuses form posts (no CSRF through HTML forms)
  const form = await fetch(`${t.url}/handset/api/${PHONE}/prompts/${id}/reject`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
  assert.equal(form.status, 415);
  assert.equal(await paymentState(tid), 'pending');
  // with cookie + token the form works
  const okRes = await fetch(`${t.url}/handset/${PHONE}/prompts/${id}/reject`, {
    method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf: token }).toString(),
  });
  assert.match(okRes.headers.get('location')!, /r=declined/);
  assert.equal(await paymentState(tid), 'failed');

  assert.equal((await fetch(`${t.url}/handset/250788000000`)).status, 404);
  assert.equal((await fetch(`${t.url}/handset/abc`)).status, 404);
  assert.equal((await fetch(`${t.url}/handset/api/250788000000/prompts`)).status, 404);
  const idx = await fetch(`${t.url}/handset/`);
  assert.equal(idx.status, 200);
  const tx = await (await fetch(`${t.url}/handset/api/${PHONE}/transactions`)).json();
  assert.ok(tx.transactions.some((x: any) => x.kind === 'payment' && x.amount_minor === '-1000'));
  assert.deepEqual(await t.verify(), []);
});
