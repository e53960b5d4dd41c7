import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import jsqrModule from 'jsqr';
import { PNG } from 'pngjs';

// jsqr is CommonJS: at runtime the default import is the function, its types say namespace.
type JsQR = typeof jsqrModule extends { default: infer F } ? F : typeof jsqrModule;
const jsQR = ((jsqrModule as any).default ?? jsqrModule) as JsQR;
import { chromium } from 'playwright-core';
import { holdTable, startGateway, type TestGateway } from '../../../test/harness.ts';

const SEED_QR = { qrcode_size: '8', amount: '60', currency: 'HTG', item: 'Coca Cola' };

describe('wallet rail', () => {
  let t: TestGateway;
  let m: any;
  let phoneSeq = 50938100000;

  before(async () => {
    t = await startGateway();
    m = await t.createMerchant('Rood Jhon');
  });
  after(async () => { await t.close(); });

  async function createQr(params: Record<string, string> = SEED_QR) {
    const res = await fetch(`${t.url}/api/CreatePaymentQRcode`, {
      method: 'POST',
      headers: { 'API-TOKEN-KEY': m.credentials.ibous.api_key, 'API-TOKEN-SECRET': m.credentials.ibous.api_secret, 'content-type': 'application/json' },
      body: JSON.stringify(params),
    });
    const body = await res.json() as any;
    assert.equal(res.status, 200, JSON.stringify(body));
    const png = PNG.sync.read(Buffer.from(await (await fetch(body.qrcode_img)).arrayBuffer()));
    const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
    assert.ok(code);
    return { qrcode_id: body.qrcode_id as string, url: code.data };
  }
  async function processStatus(qrcode_id: string) {
    const res = await fetch(`${t.url}/api/PaymentProcess`, {
      method: 'POST',
      headers: { 'API-TOKEN-KEY': m.credentials.ibous.api_key, 'API-TOKEN-SECRET': m.credentials.ibous.api_secret, 'content-type': 'application/json' },
      body: JSON.stringify({ qrcode_id }),
    });
    return (await res.json() as any).payment;
  }
  async function newWallet(name: string, balance: string, pin = '1234', currency = 'HTG') {
    const phone = String(phoneSeq++);
    await t.createPayer('wallet', { name, phone, pin, currency, balance });
    return { phone, pin };
  }
  async function api(path: string, body?: unknown, token?: string, extra: Record<string, string> = {}) {
    const r = await fetch(`${t.url}/wallet/api/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...extra },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() as any };
  }
  /** A cookie-keeping form client for the pages. */
  function browserless() {
    const jar = new Map<string, string>();
    const keep = (res: Response) => {
      for (const c of res.headers.getSetCookie()) {
        const [kv] = c.split(';');
        const i = kv!.indexOf('=');
        jar.set(kv!.slice(0, i), kv!.slice(i + 1));
      }
    };
    const cookie = () => [...jar].filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join('; ');
    return {
      jar,
      async get(path: string) {
        const res = await fetch(t.url + path, { headers: { cookie: cookie() }, redirect: 'manual' });
        keep(res);
        return { res, text: await res.text() };
      },
      async post(path: string, form: Record<string, string>) {
        const res = await fetch(t.url + path, { method: 'POST', headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString(), redirect: 'manual' });
        keep(res);
        return { res, text: await res.text() };
      },
    };
  }
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;

  test('JSON API: login, resolve, balance, history; bearer only; bad input is 4xx', async () => {
    const w = await newWallet('Ana Api', '250.50');
    const bad = await api('login', { phone: w.phone, pin: '9999' });
    assert.equal(bad.status, 401);
    assert.match(bad.body.error.message, /wrong PIN \(4 tries left\)/);
    const unknown = await api('login', { phone: '50930000001', pin: '1234' });
    assert.equal(unknown.status, 401);
    assert.equal(unknown.body.error.message, 'wrong phone number or PIN');
    assert.equal((await api('login', { phone: 'abc', pin: '1234' })).status, 400);
    assert.equal((await api('login', { phone: w.phone })).status, 400);
    const ok = await api('login', { phone: '+' + w.phone, pin: w.pin });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.token_type, 'Bearer');
    assert.deepEqual(ok.body.wallets.map((x: any) => [x.currency, x.balance]), [['HTG', '250.50']]);
    const token = ok.body.token as string;

    assert.equal((await api('balance')).status, 401);
    assert.equal((await api('balance', undefined, 'forged.token')).status, 401);
    // The page cookie is not a credential for the API (no CSRF exposure).
    assert.equal((await api('balance', undefined, undefined, { cookie: `pg_wallet=${token}` })).status, 401);
    const bal = await api('balance', undefined, token);
    assert.equal(bal.body.wallets[0].balance, '250.50');

    const qr = await createQr();
    assert.equal((await api('resolve', { qr: 'https://example.com/nothing' }, token)).status, 400);
    assert.equal((await api('resolve', { token: 'AAAAAAAAAAAAAAAAAAAAAAAA' }, token)).status, 404);
    const r = await api('resolve', { qr: qr.url }, token);
    assert.equal(r.status, 200);
    assert.deepEqual({ ...r.body, token: undefined, expires_at: undefined }, {
      token: undefined, expires_at: undefined, payment_id: qr.qrcode_id, merchant: 'Rood Jhon', item: 'Coca Cola', amount: '60.00', amount_minor: '6000', currency: 'HTG', state: 'pending', payable: true,
    });
    assert.equal((await api('pay', { qr: qr.url, pin: '0000' }, token)).status, 401);
    assert.equal((await processStatus(qr.qrcode_id)).status, '1');
    const paid = await api('pay', { qr: qr.url, pin: w.pin }, token);
    assert.equal(paid.status, 200);
    assert.equal(paid.body.wallet.balance, '190.50');
    const again = await api('pay', { qr: qr.url, pin: w.pin }, token);
    assert.equal(again.status, 409);
    assert.match(again.body.error.message, /already been paid/);
    const h = await api('history?limit=5', undefined, token);
    assert.equal(h.status, 200);
    assert.deepEqual(h.body.items.map((i: any) => [i.kind, i.amount]), [['payment', '-60.00'], ['funding', '250.50']]);
    assert.equal((await api('history?limit=500', undefined, token)).status, 400);
    assert.equal((await api('history?currency=ZZZ', undefined, token)).status, 400);
    assert.deepEqual(await t.verify(), []);
  });

  test('the wallet of the payment currency pays; wrong PINs lock the wallet', async () => {
    const phone = String(phoneSeq++);
    await t.createPayer('wallet', { name: 'Two Pockets', phone, pin: '1111', currency: 'USD', balance: '5' });
    await t.createPayer('wallet', { name: 'Two Pockets', phone, pin: '1111', currency: 'HTG', balance: '100' });
    const token = (await api('login', { phone, pin: '1111' })).body.token;
    const qr = await createQr();
    const paid = await api('pay', { qr: qr.url, pin: '1111' }, token);
    assert.equal(paid.status, 200);
    assert.equal(paid.body.wallet.currency, 'HTG');
    assert.equal(paid.body.wallet.balance, '40.00');

    const noEur = await createQr({ ...SEED_QR, currency: 'EUR', amount: '1' });
    const mismatch = await api('pay', { qr: noEur.url, pin: '1111' }, token);
    assert.equal(mismatch.status, 409);
    assert.match(mismatch.body.error.message, /no EUR wallet/);

    const w = await newWallet('Forgetful', '100', '2468');
    const wt = (await api('login', { phone: w.phone, pin: w.pin })).body.token;
    const qr2 = await createQr();
    for (let i = 4; i >= 1; i--) {
      const r = await api('pay', { qr: qr2.url, pin: '0000' }, wt);
      assert.equal(r.status, 401);
      assert.match(r.body.error.message, new RegExp(`${i} tr`));
    }
    const locked = await api('pay', { qr: qr2.url, pin: '0000' }, wt);
    assert.equal(locked.status, 423);
    const lockedRight = await api('pay', { qr: qr2.url, pin: w.pin }, wt);
    assert.equal(lockedRight.status, 423, 'even the right PIN waits for the lock to pass');
    t.clock.advance(15 * 60_000 + 1);
    const freshToken = (await api('login', { phone: w.phone, pin: w.pin })).body.token;
    const qr3 = await createQr();
    assert.equal((await api('pay', { qr: qr3.url, pin: w.pin }, freshToken)).status, 200);
    assert.equal((await processStatus(qr2.qrcode_id)).status, '3', 'qr2 expired meanwhile');
  });

  test('concurrent PIN guesses cannot get past the lockout: at most 5 PINs are ever compared', async () => {
    const w = await newWallet('Burst Target', '100', '9753');
    const wt = (await api('login', { phone: w.phone, pin: w.pin })).body.token;
    const qr = await createQr();
    const guesses = Array.from({ length: 30 }, (_, i) => String(1000 + i));
    const answers = await Promise.all(guesses.map((pin) => api('pay', { qr: qr.url, pin }, wt)));
    const counts = answers.reduce((m, a) => m.set(a.status, (m.get(a.status) ?? 0) + 1), new Map<number, number>());
    assert.equal(counts.get(401) ?? 0, 4, JSON.stringify([...counts]));
    assert.equal(counts.get(423) ?? 0, 26, 'the fifth wrong PIN locks; every later guess is refused unchecked');
    assert.equal((await api('pay', { qr: qr.url, pin: w.pin }, wt)).status, 423, 'even the right PIN now waits');
    assert.equal((await processStatus(qr.qrcode_id)).status, '1');
  });

  test('PIN checks arriving one by one while PIN statements are running go together in the next one', async () => {
    const ws = await Promise.all(Array.from({ length: 12 }, (_, i) => newWallet(`One by one ${i}`, '0', String(6000 + i))));
    const ids = await Promise.all(ws.map(async (w) => (await t.gw.payers.byPhone('wallet', w.phone))[0]!.id));
    // The accounts table is held, so the checks in flight wait in the database; the ones that
    // arrive meanwhile (one per event-loop turn, as logins do) must queue and share a statement.
    const held = await holdTable(t.db, 'accounts');
    const before = t.gw.payers.batching().pin_check;
    const pending = [];
    for (const [i, id] of ids.entries()) {
      pending.push(t.gw.payers.checkPin(id, ws[i]!.pin));
      await new Promise((r) => setImmediate(r));
    }
    await held.release();
    const accounts = await Promise.all(pending);
    assert.deepEqual(accounts.map((a) => a.id), ids);
    const after = t.gw.payers.batching().pin_check;
    assert.equal(after.items - before.items, 12);
    // Two statements in flight at most (each alone, held by the lock), then one for the ten
    // that queued meanwhile: more in flight would starve the event loop on a shared machine.
    assert.ok(after.batches - before.batches <= 3, `12 PIN checks took ${after.batches - before.batches} statements`);
  });

  test('pays of many payers at once, right and wrong PINs mixed: PIN and payment in one statement, each its own answer', async () => {
    const ws = await Promise.all(Array.from({ length: 12 }, (_, i) => newWallet(`Mixed ${i}`, '100', String(5000 + i))));
    const tokens = await Promise.all(ws.map(async (w) => (await api('login', { phone: w.phone, pin: w.pin })).body.token as string));
    const qrs = await Promise.all(ws.map(() => createQr()));
    const pinChecksBefore = t.gw.payers.batching().pin_check.items;
    const wrong = (i: number) => i % 3 === 0;
    const answers = await Promise.all(ws.map((w, i) => api('pay', { qr: qrs[i]!.url, pin: wrong(i) ? '0000' : w.pin }, tokens[i])));
    assert.deepEqual(answers.map((a) => a.status), ws.map((_, i) => (wrong(i) ? 401 : 200)));
    for (const [i, a] of answers.entries()) {
      if (wrong(i)) assert.match(a.body.error.message, /4 tries left/);
      else assert.equal(a.body.wallet.balance, '40.00');
    }
    // No PIN check ran on its own: each was compared inside the paying statement.
    assert.equal(t.gw.payers.batching().pin_check.items, pinChecksBefore);
    const rows = await t.db.query('select phone, pin_failures, balance_minor from accounts where phone = any($1::text[])', [ws.map((w) => w.phone)]);
    const byPhone = new Map(rows.map((r) => [r.phone as string, [Number(r.pin_failures), BigInt(r.balance_minor)]]));
    assert.deepEqual(ws.map((w) => byPhone.get(w.phone)), ws.map((_, i) => (wrong(i) ? [1, 10000n] : [0, 4000n])));
    assert.deepEqual(await Promise.all(qrs.map(async (q) => (await processStatus(q.qrcode_id)).status)), ws.map((_, i) => (wrong(i) ? '1' : '2')));
    assert.deepEqual(await t.verify(), []);
  });

  test('a right PIN resets the count even when the payment cannot be made (short balance), and a paid right PIN resets it too', async () => {
    const w = await newWallet('Short Payer', '50', '8642');
    const wt = (await api('login', { phone: w.phone, pin: w.pin })).body.token;
    const count = async () => Number((await t.db.query('select pin_failures from accounts where phone = $1', [w.phone]))[0]!.pin_failures);
    const qr = await createQr(); // 60.00 from 50.00
    assert.equal((await api('pay', { qr: qr.url, pin: '0000' }, wt)).status, 401);
    assert.equal((await api('pay', { qr: qr.url, pin: '1111' }, wt)).status, 401);
    assert.equal(await count(), 2);
    const short = await api('pay', { qr: qr.url, pin: w.pin }, wt);
    assert.equal(short.status, 402);
    assert.equal(await count(), 0, 'the right PIN was counted as right');
    assert.equal((await processStatus(qr.qrcode_id)).status, '1', 'still payable');

    const small = await createQr({ ...SEED_QR, amount: '20' });
    assert.equal((await api('pay', { qr: small.url, pin: '0000' }, wt)).status, 401);
    assert.equal(await count(), 1);
    const paid = await api('pay', { qr: small.url, pin: w.pin }, wt);
    assert.equal(paid.status, 200);
    assert.equal(paid.body.wallet.balance, '30.00');
    assert.equal(await count(), 0);
    assert.deepEqual(await t.verify(), []);
  });

  test('PIN checks of many payers at once (one statement): each gets its own answer and its own count', async () => {
    const ws = await Promise.all(Array.from({ length: 12 }, (_, i) => newWallet(`Burst ${i}`, '100', String(4000 + i))));
    const answers = await Promise.all(ws.map((w, i) => api('login', { phone: w.phone, pin: i % 3 === 0 ? '0000' : w.pin })));
    assert.deepEqual(answers.map((a) => a.status), ws.map((_, i) => (i % 3 === 0 ? 401 : 200)));
    const rows = await t.db.query('select phone, pin_failures from accounts where phone = any($1::text[])', [ws.map((w) => w.phone)]);
    const failures = new Map(rows.map((r) => [r.phone as string, Number(r.pin_failures)]));
    assert.deepEqual(ws.map((w) => failures.get(w.phone)), ws.map((_, i) => (i % 3 === 0 ? 1 : 0)));
  });

  test('PINs are stored as keyed hashes bound to the account; a PIN stored as scrypt before still works and is replaced on the first right PIN', async () => {
    const a = await newWallet('Keyed One', '100', '2468');
    const b = await newWallet('Keyed Two', '100', '2468');
    const rows = await t.db.query('select phone, pin_hash from accounts where phone = any($1::text[]) order by phone', [[a.phone, b.phone]]);
    assert.match(rows[0]!.pin_hash, /^h1\$[0-9a-f]{64}$/);
    assert.notEqual(rows[0]!.pin_hash, rows[1]!.pin_hash, 'the same PIN differs between accounts');

    const { legacyPinHash } = await import('../../merchants/secrets.ts');
    const old = await newWallet('Legacy Payer', '100', '1357');
    const legacy = await legacyPinHash('1357');
    await t.db.query('update accounts set pin_hash = $2 where phone = $1', [old.phone, legacy]);
    const wrong = await api('login', { phone: old.phone, pin: '7531' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error?.tries_left ?? wrong.body.tries_left ?? 4, 4);
    assert.equal((await t.db.query('select pin_hash, pin_failures from accounts where phone = $1', [old.phone]))[0]!.pin_failures, 1);
    // Two right PINs at once: one replaces the hash while the other is between its two steps.
    const [right, alsoRight] = await Promise.all([api('login', { phone: old.phone, pin: '1357' }), api('login', { phone: old.phone, pin: '1357' })]);
    assert.deepEqual([right.status, alsoRight.status], [200, 200], JSON.stringify(alsoRight.body));
    const after = (await t.db.query('select pin_hash, pin_failures from accounts where phone = $1', [old.phone]))[0]!;
    assert.match(after.pin_hash, /^h1\$/, 'upgraded on the right PIN');
    // Concurrent legacy checks each give back only their own attempt, so the earlier wrong PIN
    // may still count until the next right PIN.
    assert.ok(after.pin_failures <= 1, String(after.pin_failures));
    const qr = await createQr();
    assert.equal((await api('pay', { qr: qr.url, pin: '1357' }, right.body.token)).status, 200, 'the upgraded hash checks the same PIN');
    assert.equal((await t.db.query('select pin_failures from accounts where phone = $1', [old.phone]))[0]!.pin_failures, 0, 'a right PIN resets the count');
    assert.equal((await api('login', { phone: old.phone, pin: '7531' })).status, 401);
  });

  test('pages: security headers, escaping, CSRF, decline and pay by form', async () => {
    const w = await newWallet('Page Payer', '100');
    const hostile = await createQr({ ...SEED_QR, item: '<script>alert(1)</script>"' });
    const b = browserless();
    const page = await b.get(new URL(hostile.url).pathname);
    assert.equal(page.res.status, 200);
    const h = page.res.headers;
    assert.match(h.get('content-security-policy')!, /default-src 'none'/);
    assert.match(h.get('content-security-policy')!, /frame-ancestors 'none'/);
    assert.equal(h.get('cache-control'), 'no-store');
    assert.equal(h.get('x-frame-options'), 'DENY');
    assert.equal(h.get('referrer-policy'), 'no-referrer');
    assert.ok(!page.text.includes('<script>alert(1)'), 'item is escaped');
    assert.ok(page.text.includes('&#60;script&#62;alert(1)&#60;/script&#62;&#34;'));
    assert.ok(page.text.includes('Rood Jhon') && page.text.includes('60.00 HTG'));
    assert.ok(page.text.length < 8_000, 'light page');

    // Without the CSRF token nothing happens.
    const forged = await b.post(new URL(hostile.url).pathname, { phone: w.phone, pin: w.pin, action: 'pay' });
    assert.equal(forged.res.status, 403);
    const otherBrowser = browserless();
    const stolen = await otherBrowser.post(new URL(hostile.url).pathname, { phone: w.phone, pin: w.pin, action: 'pay', csrf: csrfOf(page.text) });
    assert.equal(stolen.res.status, 403, 'a token only works with its own browser cookie');
    assert.equal((await processStatus(hostile.qrcode_id)).status, '1');

    // Decline needs the PIN when not logged in.
    const noPin = await b.post(new URL(hostile.url).pathname, { phone: w.phone, pin: '', action: 'decline', csrf: csrfOf(page.text) });
    assert.equal(noPin.res.status, 400);
    assert.equal((await processStatus(hostile.qrcode_id)).status, '1');
    const declined = await b.post(new URL(hostile.url).pathname, { phone: w.phone, pin: w.pin, action: 'decline', csrf: csrfOf(page.text) });
    assert.equal(declined.res.status, 200);
    assert.match(declined.text, /You declined this payment/);
    assert.equal((await processStatus(hostile.qrcode_id)).status, '3');

    // Pay by form; insufficient balance keeps it payable.
    const big = await createQr({ ...SEED_QR, amount: '150' });
    const bp = await b.get(new URL(big.url).pathname);
    const short = await b.post(new URL(big.url).pathname, { phone: w.phone, pin: w.pin, action: 'pay', csrf: csrfOf(bp.text) });
    assert.equal(short.res.status, 402);
    assert.match(short.text, /Insufficient balance/);
    assert.equal((await processStatus(big.qrcode_id)).status, '1');
    const qr = await createQr();
    const p = await b.get(new URL(qr.url).pathname);
    const ok = await b.post(new URL(qr.url).pathname, { phone: w.phone, pin: w.pin, action: 'pay', csrf: csrfOf(p.text) });
    assert.equal(ok.res.status, 200);
    assert.match(ok.text, /Payment successful/);
    assert.match(ok.text, /40\.00 HTG/);
    assert.equal((await processStatus(qr.qrcode_id)).user, 'Page Payer');
    // Paying made the browser logged in: the home page shows balance and history.
    const home = await b.get('/wallet/');
    assert.match(home.text, /40\.00 HTG/);
    assert.match(home.text, /Payment/);
    const again = await b.get(new URL(qr.url).pathname);
    assert.match(again.text, /already been paid/);
    assert.equal((await b.get('/wallet/pay/AAAAAAAAAAAAAAAAAAAAAAAA')).res.status, 404);
    assert.deepEqual(await t.verify(), []);
  });

  test('login returns to the wallet page that asked for it, never to another site', async () => {
    const w = await newWallet('Next Payer', '10');
    const b = browserless();
    const code = await b.get('/wallet/code');
    assert.equal(code.res.status, 401);
    const link = /href="(\/wallet\/\?next=[^"]+)"/.exec(code.text)![1]!;
    const login = await b.get(link.replace(/&amp;/g, '&'));
    assert.match(login.text, /name="next" value="\/wallet\/code"/);
    const r = await b.post('/wallet/login', { phone: w.phone, pin: w.pin, next: '/wallet/code', csrf: csrfOf(login.text) });
    assert.equal(r.res.status, 303);
    assert.equal(r.res.headers.get('location'), '/wallet/code');
    const home = await b.get('/wallet/');
    assert.match(home.text, /href="\/wallet\/code"/, 'the home page links to the payment code');
    for (const evil of ['https://evil.example/', '//evil.example/wallet/', '/wallet//evil.example', '/admin/merchants']) {
      const b2 = browserless();
      const l2 = await b2.get('/wallet/?next=' + encodeURIComponent(evil));
      assert.match(l2.text, /name="next" value="\/wallet\/"/, evil);
      const r2 = await b2.post('/wallet/login', { phone: w.phone, pin: w.pin, next: evil, csrf: csrfOf(l2.text) });
      assert.equal(r2.res.headers.get('location'), '/wallet/', evil);
    }
  });

  test('browser: open the decoded QR URL, log in, pay, see the confirmation', async () => {
    const w = await newWallet('Olriche Rosier', '500');
    const qr = await createQr();
    mkdirSync('test-artifacts', { recursive: true });
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    try {
      const page = await browser.newPage({ viewport: { width: 360, height: 740 } });
      const errors: string[] = [];
      page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
      // The phone's camera opens the decoded URL; phone + PIN log in and pay in one step.
      await page.goto(qr.url);
      assert.equal(await page.textContent('#merchant'), 'Rood Jhon');
      assert.equal(await page.textContent('#item'), 'Coca Cola');
      await page.fill('#phone', w.phone);
      await page.fill('#pin', w.pin);
      await page.screenshot({ path: 'test-artifacts/wallet-pay.png', fullPage: true });
      await Promise.all([page.waitForSelector('#result'), page.click('#pay')]);
      assert.equal(await page.textContent('#result'), 'Payment successful');
      assert.match(await page.textContent('body') ?? '', /440\.00 HTG/);
      await page.screenshot({ path: 'test-artifacts/wallet-paid.png', fullPage: true });
      // Now logged in: the wallet home shows the balance and the payment.
      await page.goto(t.url + '/wallet/');
      assert.match(await page.textContent('body') ?? '', /440\.00 HTG[\s\S]*Payment[\s\S]*-60\.00 HTG/);
      await page.goto(qr.url);
      assert.match(await page.textContent('body') ?? '', /already been paid/);
      assert.deepEqual(errors, [], 'no CSP violations or script errors');
    } finally {
      await browser.close();
    }
    const st = await processStatus(qr.qrcode_id);
    assert.equal(st.status, '2');
    assert.equal(st.user, 'Olriche Rosier');
  });
});
