// The hosted checkout page in a real browser (Chromium via playwright-core), phone-sized:
// approve, decline, cancel, 3-D Secure success and failure, the legacy /v1/pay form post.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type Browser, type Page, chromium } from 'playwright-core';
import { startGateway, type TestGateway } from '../../../test/harness.ts';

let t: TestGateway;
let browser: Browser;
let shop: Server;
let shopUrl: string;
let m: any;
let seq = 0;
const cspErrors: string[] = [];

before(async () => {
  mkdirSync('test-artifacts', { recursive: true });
  t = await startGateway();
  m = await t.createMerchant('Zando Shop');
  // The merchant's site: landing pages for approve/decline/cancel, and the legacy auto-submitted form.
  shop = createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    if (u.pathname === '/legacy') {
      const f = { authorization: m.credentials.flexpay.token, merchant: m.credentials.flexpay.merchant, reference: `LEG${process.pid}${++seq}`, amount: '25', currency: 'USD',
        description: 'Commande 42', approve_url: `${shopUrl}/approve`, decline_url: `${shopUrl}/decline`, cancel_url: `${shopUrl}/cancel` };
      const inputs = Object.entries(f).map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`).join('');
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!DOCTYPE html><form method="POST" action="${t.url}/v1/pay">${inputs}</form><script>document.forms[0].submit()</script>`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!DOCTYPE html><title>${u.pathname.slice(1)}</title><h1 id="landed">${u.pathname.slice(1)}</h1>`);
  });
  await new Promise<void>((r) => shop.listen(0, '127.0.0.1', r));
  shopUrl = `http://127.0.0.1:${(shop.address() as { port: number }).port}`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
after(async () => {
  await browser?.close();
  await new Promise<void>((r) => shop.close(() => r()));
  await t.close();
});

async function newPage(): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  page.on('console', (msg) => { if (/Content Security Policy/i.test(msg.text())) cspErrors.push(msg.text()); });
  return page;
}

async function checkoutUrl(amount = '100', description = 'payment transaction description'): Promise<string> {
  const res = await fetch(`${t.url}/v1.1/pay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${m.credentials.flexpay.token}` },
    body: JSON.stringify({ merchant: m.credentials.flexpay.merchant, reference: `BR${process.pid}${++seq}`, amount, currency: 'USD', description,
      approve_url: `${shopUrl}/approve`, decline_url: `${shopUrl}/decline`, cancel_url: `${shopUrl}/cancel` }),
  });
  const j = (await res.json()) as any;
  assert.equal(j.code, 0);
  return j.url;
}

async function fillCard(page: Page, number: string) {
  await page.locator('#card_number').pressSequentially(number);
  await page.locator('#exp').pressSequentially('1230');
  await page.fill('#cvv', '123');
  await page.fill('#holder', 'Jean Mukendi');
}

test('approve: live Luhn/brand check, pay, land on approve_url', async () => {
  const page = await newPage();
  await page.goto(await checkoutUrl());
  assert.equal(await page.locator('#merchant').textContent(), 'Zando Shop');
  assert.match((await page.locator('#amount').textContent())!, /100\.00 USD/);
  // Amex is refused live; a wrong check digit too
  await page.locator('#card_number').pressSequentially('3782 822463 10005');
  assert.match((await page.locator('#card_hint').textContent())!, /Visa et Mastercard/);
  assert.match((await page.locator('#card_hint').getAttribute('class'))!, /bad/);
  await page.fill('#card_number', '');
  await page.locator('#card_number').pressSequentially('4242424242424241');
  assert.match((await page.locator('#card_hint').textContent())!, /invalide/);
  await page.fill('#card_number', '');
  await fillCard(page, '4242424242424242');
  assert.equal(await page.inputValue('#card_number'), '4242 4242 4242 4242');
  assert.match((await page.locator('#card_hint').textContent())!, /Visa ✓/);
  assert.equal(await page.inputValue('#exp'), '12/30');
  await page.screenshot({ path: 'test-artifacts/card-checkout-fr.png', fullPage: true });
  await Promise.all([page.waitForURL(`${shopUrl}/approve`), page.click('#pay')]);
  assert.equal(await page.locator('#landed').textContent(), 'approve');
  await page.context().close();
});

test('English page; Mastercard detected', async () => {
  const page = await newPage();
  await page.goto((await checkoutUrl('9.99')) + '?lang=en');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  await fillCard(page, '5555555555554444');
  assert.match((await page.locator('#card_hint').textContent())!, /Mastercard ✓/);
  await page.screenshot({ path: 'test-artifacts/card-checkout-en.png', fullPage: true });
  await Promise.all([page.waitForURL(`${shopUrl}/approve`), page.click('#pay')]);
  await page.context().close();
});

test('decline: the reason first, then continue to decline_url', async () => {
  const page = await newPage();
  await page.goto(await checkoutUrl());
  await fillCard(page, '4000000000009995');
  await page.click('#pay');
  await page.waitForSelector('#reason');
  assert.equal(await page.locator('#reason').textContent(), 'Fonds insuffisants');
  await page.screenshot({ path: 'test-artifacts/card-declined.png', fullPage: true });
  await Promise.all([page.waitForURL(`${shopUrl}/decline`), page.click('#continue')]);
  await page.context().close();
});

test('cancel: land on cancel_url', async () => {
  const page = await newPage();
  await page.goto(await checkoutUrl());
  await Promise.all([page.waitForURL(`${shopUrl}/cancel`), page.click('#cancel')]);
  assert.equal(await page.locator('#landed').textContent(), 'cancel');
  await page.context().close();
});

test('3-D Secure: right code approves, wrong code declines', async () => {
  const page = await newPage();
  await page.goto(await checkoutUrl());
  await fillCard(page, '4000000000003220');
  await page.click('#pay');
  await page.waitForSelector('#code');
  await page.screenshot({ path: 'test-artifacts/card-3ds.png', fullPage: true });
  await page.fill('#code', '123456');
  await Promise.all([page.waitForURL(`${shopUrl}/approve`), page.click('#confirm')]);

  await page.goto(await checkoutUrl());
  await fillCard(page, '4000000000003220');
  await page.click('#pay');
  await page.waitForSelector('#code');
  await page.fill('#code', '111111');
  await page.click('#confirm');
  await page.waitForSelector('#reason');
  assert.match((await page.locator('#reason').textContent())!, /3-D Secure/);
  await Promise.all([page.waitForURL(`${shopUrl}/decline`), page.click('#continue')]);
  await page.context().close();
});

test('legacy /v1/pay form post lands on the same checkout page', async () => {
  const page = await newPage();
  await page.goto(`${shopUrl}/legacy`);
  await page.waitForURL(/\/checkout\/[A-Za-z0-9_-]+$/);
  assert.ok(page.url().startsWith(t.url + '/checkout/'));
  assert.match((await page.locator('#amount').textContent())!, /25\.00 USD/);
  assert.equal(await page.locator('#description').textContent(), 'Commande 42');
  await fillCard(page, '4242424242424242');
  await Promise.all([page.waitForURL(`${shopUrl}/approve`), page.click('#pay')]);
  await page.context().close();
  assert.deepEqual(cspErrors, []);
  assert.deepEqual(await t.verify(), []);
});
