import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import jsqrModule from 'jsqr';
import { PNG } from 'pngjs';

// jsqr is CommonJS: at runtime the default import is the function, its types say namespace.
type JsQR = typeof jsqrModule extends { default: infer F } ? F : typeof jsqrModule;
const jsQR = ((jsqrModule as any).default ?? jsqrModule) as JsQR;
import { eventually, startGateway, type TestGateway } from '../../../test/harness.ts';

// The seed's own example values.
const SEED_QR = { qrcode_size: '8', amount: '60', currency: 'HTG', item: 'Coca Cola' };

describe('ibous dialect', () => {
  let t: TestGateway;
  let m: any;
  let other: any;
  let phoneSeq = 50937100000;

  before(async () => {
    t = await startGateway();
    m = await t.createMerchant('Rood Jhon');
    other = await t.createMerchant('Other Shop');
  });
  after(async () => { await t.close(); });

  const auth = (mm = m) => ({ 'API-TOKEN-KEY': mm.credentials.ibous.api_key, 'API-TOKEN-SECRET': mm.credentials.ibous.api_secret });

  async function ibous(op: string, params: Record<string, string>, opts: { as?: 'json' | 'form' | 'query'; headers?: Record<string, string> } = {}) {
    const as = opts.as ?? 'json';
    const headers: Record<string, string> = { ...(opts.headers ?? auth()) };
    let url = `${t.url}/api/${op}`;
    let body: string | undefined;
    if (as === 'json') { headers['content-type'] = 'application/json'; body = JSON.stringify(params); }
    if (as === 'form') { headers['content-type'] = 'application/x-www-form-urlencoded'; body = new URLSearchParams(params).toString(); }
    if (as === 'query') url += '?' + new URLSearchParams(params).toString();
    const res = await fetch(url, { method: 'POST', headers, body });
    return { status: res.status, body: await res.json() as any };
  }

  /** A request exactly as written (fetch trims header values; the seed's refund example has spaces). */
  function rawPost(path: string, headerLines: string[], body: string): Promise<{ status: number; body: string }> {
    const u = new URL(t.url);
    return new Promise((resolve, reject) => {
      const c = net.connect(Number(u.port), u.hostname, () => {
        c.write([`POST ${path} HTTP/1.1`, `Host: ${u.host}`, ...headerLines, `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', '', body].join('\r\n'));
      });
      let data = '';
      c.on('data', (d) => (data += d));
      c.on('error', reject);
      c.on('end', () => {
        const status = Number(data.split(' ')[1]);
        const text = data.slice(data.indexOf('\r\n\r\n') + 4);
        // chunked answers: take the JSON between the chunk sizes
        const json = text.includes('{') ? text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1) : text;
        resolve({ status, body: json });
      });
    });
  }

  async function newWallet(name: string, balance: string, pin = '1234', currency = 'HTG') {
    const phone = String(phoneSeq++);
    const w = await t.createPayer('wallet', { name, phone, pin, currency, balance });
    return { ...w, phone, pin };
  }
  async function login(w: { phone: string; pin: string }) {
    const r = await fetch(`${t.url}/wallet/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone: w.phone, pin: w.pin }) });
    assert.equal(r.status, 200);
    return ((await r.json()) as any).token as string;
  }
  async function walletApi(token: string, path: string, body?: unknown) {
    const r = await fetch(`${t.url}/wallet/api/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() as any };
  }
  async function balanceOf(token: string, currency = 'HTG') {
    const b = await walletApi(token, 'balance');
    return b.body.wallets.find((w: any) => w.currency === currency).balance as string;
  }
  async function fetchQr(img: string) {
    const res = await fetch(img);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
    const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
    assert.ok(code, 'the PNG holds a readable QR code');
    return { text: code.data, width: png.width };
  }
  async function paymentCount() {
    const r = await t.admin('GET', `/admin/payments?merchant_id=${m.id}&limit=200`);
    return r.body.items.length as number;
  }

  test('seed flow: QR → decode → pay from wallet → PaymentProcess 2 → refund → balance restored', async () => {
    const payer = await newWallet('Olriche Rosier', '500');
    const created = await ibous('CreatePaymentQRcode', SEED_QR);
    assert.equal(created.status, 200);
    assert.equal(created.body.error, false);
    assert.equal(created.body.status, 'QRcode Payment generated successfully');
    assert.match(created.body.qrcode_id, /^\d{14}$/);
    assert.ok(created.body.qrcode_img.startsWith(t.url + '/qrcd/') && created.body.qrcode_img.endsWith('.png'), created.body.qrcode_img);
    const qrcode_id = created.body.qrcode_id as string;

    const qr = await fetchQr(created.body.qrcode_img);
    assert.match(qr.text, new RegExp(`^${t.url}/wallet/pay/[A-Za-z0-9_-]{24}$`));
    assert.ok(!created.body.qrcode_img.includes(qrcode_id), 'the image path is the unguessable token, not the id');

    const pending = await ibous('PaymentProcess', { qrcode_id });
    assert.equal(pending.status, 200);
    assert.deepEqual(pending.body, { error: true, payment: { status: '1' }, status: 'Payment Pending' });

    const token = await login(payer);
    const resolved = await walletApi(token, 'resolve', { qr: qr.text });
    assert.equal(resolved.status, 200);
    assert.equal(resolved.body.merchant, 'Rood Jhon');
    assert.equal(resolved.body.item, 'Coca Cola');
    assert.equal(resolved.body.amount, '60.00');
    assert.equal(resolved.body.payable, true);
    const paid = await walletApi(token, 'pay', { qr: qr.text, pin: '1234' });
    assert.equal(paid.status, 200, JSON.stringify(paid.body));
    assert.equal(paid.body.payment.state, 'succeeded');
    assert.equal(paid.body.wallet.balance, '440.00');

    const done = await ibous('PaymentProcess', { qrcode_id });
    assert.deepEqual(done.body, {
      error: false,
      payment: { status: '2', id: qrcode_id, user: 'Olriche Rosier', item: 'Coca Cola', amount: '60', currency: 'HTG' },
      status: 'Successful Payment!',
    });

    // The seed's refund example: spaces around header values and around the parameter name and value.
    const c = m.credentials.ibous;
    const refund = await rawPost('/api/PaymentRefund', [`API-TOKEN-KEY:  ${c.api_key} `, `API-TOKEN-SECRET: ${c.api_secret} `, 'Content-Type: application/json'],
      JSON.stringify({ 'payment_id ': ` ${done.body.payment.id} ` }));
    assert.equal(refund.status, 200, refund.body);
    const rb = JSON.parse(refund.body);
    assert.equal(rb.error, false);
    assert.equal(rb.status, 'Payment refund successfully');
    const { date_time, ...tx } = rb.transaction;
    assert.deepEqual(tx, { status: '1', user_sender: 'Rood Jhon', user_recipient: 'Olriche Rosier', type: 'Payment Refund', amount: '60', currency: 'HTG', fees: '0', system: 'ibous' });
    assert.match(date_time, /^\d{10}$/);
    assert.ok(Math.abs(Number(date_time) - t.clock.now().getTime() / 1000) < 5);

    assert.equal(await balanceOf(token), '500.00');
    // A refunded payment was paid: PaymentProcess keeps answering 2.
    assert.equal((await ibous('PaymentProcess', { qrcode_id })).body.payment.status, '2');
    // Once only.
    const again = await ibous('PaymentRefund', { payment_id: qrcode_id });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, { error: false, transaction: { status: '0' }, status: ' Process failed: payment already refunded' });
    assert.equal(await balanceOf(token), '500.00');
    assert.deepEqual(await t.verify(), []);
  });

  test('form body and query string variants; qrcode_size is the pixel size of a module', async () => {
    const small = await ibous('CreatePaymentQRcode', { ...SEED_QR, qrcode_size: '4' }, { as: 'form' });
    assert.equal(small.status, 200, JSON.stringify(small.body));
    const big = await ibous('CreatePaymentQRcode', { ...SEED_QR, qrcode_size: '8' }, { as: 'query' });
    assert.equal(big.status, 200, JSON.stringify(big.body));
    const a = await fetchQr(small.body.qrcode_img);
    const b = await fetchQr(big.body.qrcode_img);
    assert.equal(b.width, a.width * 2, 'same content, twice the module size');
    assert.equal(a.width % 4, 0);
    // JSON numbers are accepted too.
    const num = await fetch(`${t.url}/api/CreatePaymentQRcode`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ qrcode_size: 10, amount: 60, item: 'Soda' }) });
    const nb = await num.json() as any;
    assert.equal(num.status, 200, JSON.stringify(nb));
    const poll = await ibous('PaymentProcess', { qrcode_id: small.body.qrcode_id }, { as: 'query' });
    assert.equal(poll.body.payment.status, '1');
    const pollForm = await ibous('PaymentProcess', { qrcode_id: nb.qrcode_id }, { as: 'form' });
    assert.equal(pollForm.body.payment.status, '1');
    // "Query Params" with the seed's "Data format: JSON" header and no body (a client-wide JSON content type).
    const q = await fetch(`${t.url}/api/PaymentProcess?qrcode_id=${nb.qrcode_id}`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '' });
    const qb = await q.json() as any;
    assert.equal(q.status, 200, JSON.stringify(qb));
    assert.deepEqual(qb, { error: true, payment: { status: '1' }, status: 'Payment Pending' });
    const refundUnpaid = await ibous('PaymentRefund', { payment_id: big.body.qrcode_id }, { as: 'form' });
    assert.equal(refundUnpaid.status, 200);
    assert.deepEqual(refundUnpaid.body, { error: false, transaction: { status: '0' }, status: ' Process failed: payment has not been paid' });
  });

  test('bad input: a clear error in the ibous shape, 4xx, nothing created', async () => {
    const before = await paymentCount();
    const cases: [string, Record<string, string>, Record<string, string> | undefined, number, RegExp][] = [
      ['CreatePaymentQRcode', SEED_QR, {}, 401, /Missing API-TOKEN-KEY/],
      ['CreatePaymentQRcode', SEED_QR, { 'API-TOKEN-KEY': m.credentials.ibous.api_key }, 401, /Missing/],
      ['CreatePaymentQRcode', SEED_QR, { 'API-TOKEN-KEY': m.credentials.ibous.api_key, 'API-TOKEN-SECRET': 'wrong' }, 401, /Invalid API-TOKEN/],
      ['CreatePaymentQRcode', SEED_QR, { 'API-TOKEN-KEY': '5d09355370b8b5d09355370bcf', 'API-TOKEN-SECRET': '5d09355370b8b5d09355370bcf' }, 401, /Invalid API-TOKEN/],
      ['CreatePaymentQRcode', { ...SEED_QR, qrcode_size: '' }, undefined, 400, /qrcode_size is required/],
      ['CreatePaymentQRcode', { ...SEED_QR, qrcode_size: '5' }, undefined, 400, /qrcode_size must be 4, 6, 8 or 10/],
      ['CreatePaymentQRcode', { ...SEED_QR, qrcode_size: '8.0' }, undefined, 400, /qrcode_size/],
      ['CreatePaymentQRcode', { ...SEED_QR, qrcode_size: '12' }, undefined, 400, /qrcode_size/],
      ['CreatePaymentQRcode', { ...SEED_QR, amount: '60.5' }, undefined, 400, /whole number of HTG/],
      ['CreatePaymentQRcode', { ...SEED_QR, amount: '0' }, undefined, 400, /greater than zero/],
      ['CreatePaymentQRcode', { ...SEED_QR, amount: '-5' }, undefined, 400, /amount/],
      ['CreatePaymentQRcode', { ...SEED_QR, amount: 'abc' }, undefined, 400, /amount/],
      ['CreatePaymentQRcode', { ...SEED_QR, amount: '1e3' }, undefined, 400, /amount/],
      ['CreatePaymentQRcode', { ...SEED_QR, amount: '9999999999999999' }, undefined, 400, /amount/],
      ['CreatePaymentQRcode', { qrcode_size: '8', currency: 'HTG', item: 'x' }, undefined, 400, /amount is required/],
      ['CreatePaymentQRcode', { ...SEED_QR, currency: 'XYZ' }, undefined, 400, /ISO 4217/],
      ['CreatePaymentQRcode', { ...SEED_QR, currency: 'HTGX' }, undefined, 400, /ISO 4217/],
      ['CreatePaymentQRcode', { qrcode_size: '8', amount: '60', currency: 'HTG' }, undefined, 400, /item is required/],
      ['CreatePaymentQRcode', { ...SEED_QR, item: '   ' }, undefined, 400, /item is required/],
      ['CreatePaymentQRcode', { ...SEED_QR, item: 'x'.repeat(101) }, undefined, 400, /at most 100/],
      ['CreatePaymentQRcode', { ...SEED_QR, ...Object.fromEntries(Array.from({ length: 47 }, (_, i) => [`extra${i}`, '1'])) }, undefined, 400, /too many parameters \(at most 50\)/],
      ['PaymentProcess', {}, undefined, 400, /qrcode_id is required/],
      ['PaymentProcess', { qrcode_id: 'abc' }, undefined, 400, /qrcode_id must be a number/],
      ['PaymentProcess', { qrcode_id: '40000000999999' }, undefined, 404, /QRcode not found/],
      ['PaymentProcess', { qrcode_id: '40000000999999' }, { 'API-TOKEN-KEY': 'nope', 'API-TOKEN-SECRET': 'nope' }, 401, /Invalid/],
      ['PaymentProcess', { qrcode_id: '1', wait_ms: '30001' }, undefined, 400, /wait_ms/],
      ['PaymentProcess', { qrcode_id: '1', wait_ms: '-1' }, undefined, 400, /wait_ms/],
      ['PaymentRefund', {}, undefined, 400, /payment_id is required/],
      ['PaymentRefund', { payment_id: '12ab' }, undefined, 400, /payment_id must be a number/],
      ['PaymentRefund', { payment_id: '40000000999999' }, undefined, 404, /Payment not found/],
    ];
    for (const [op, params, headers, status, msg] of cases) {
      const r = await ibous(op, params, headers ? { headers } : {});
      assert.equal(r.status, status, `${op} ${JSON.stringify(params)} → ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, true);
      assert.match(r.body.status, msg);
    }
    // Malformed bodies answer in the ibous shape too.
    const badJson = await fetch(`${t.url}/api/CreatePaymentQRcode`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{"amount":' });
    assert.equal(badJson.status, 400);
    assert.deepEqual(await badJson.json(), { error: true, status: 'Request body is not valid JSON' });
    const badType = await fetch(`${t.url}/api/CreatePaymentQRcode`, { method: 'POST', headers: { ...auth(), 'content-type': 'text/xml' }, body: '<a/>' });
    assert.equal(badType.status, 415);
    assert.equal(((await badType.json()) as any).error, true);
    const empty = await fetch(`${t.url}/api/CreatePaymentQRcode`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '' });
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as any).error, true);
    const huge = await fetch(`${t.url}/api/CreatePaymentQRcode`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ ...SEED_QR, pad: 'x'.repeat(70_000) }) });
    assert.equal(huge.status, 413);
    assert.deepEqual(await huge.json(), { error: true, status: 'Request body is too large' });
    // Another method on a known path: 405 in the ibous shape, not the app's generic 404.
    for (const [method, path] of [['GET', '/api/PaymentProcess'], ['PUT', '/api/CreatePaymentQRcode'], ['DELETE', '/api/PaymentRefund'], ['POST', '/qrcd/x.png']]) {
      const r = await fetch(`${t.url}${path}`, { method, headers: auth() });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(((await r.json()) as any).error, true, `${method} ${path}`);
    }
    const nested = await ibous('CreatePaymentQRcode', { ...SEED_QR }, { as: 'json' });
    assert.equal(nested.status, 200); // control: the same request is fine
    const arr = await fetch(`${t.url}/api/CreatePaymentQRcode`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ ...SEED_QR, item: ['a', 'b'] }) });
    assert.equal(arr.status, 400);
    // HTTP/1.1 forbids whitespace between a header name and its colon: Node refuses such requests itself.
    const c = m.credentials.ibous;
    const spaced = await rawPost('/api/CreatePaymentQRcode', [`API-TOKEN-KEY : ${c.api_key}`, `API-TOKEN-SECRET : ${c.api_secret}`, 'Content-Type: application/json'], JSON.stringify(SEED_QR));
    assert.equal(spaced.status, 400);
    assert.equal(await paymentCount(), before + 1, 'only the control request created a payment');

    // Another merchant's QR code is unknown to this one, for polling and refunds alike.
    const theirs = await ibous('CreatePaymentQRcode', SEED_QR, { headers: auth(other) });
    const peek = await ibous('PaymentProcess', { qrcode_id: theirs.body.qrcode_id });
    assert.equal(peek.status, 404);
    const steal = await ibous('PaymentRefund', { payment_id: theirs.body.qrcode_id });
    assert.equal(steal.status, 404);
    const img404 = await fetch(`${t.url}/qrcd/AAAAAAAAAAAAAAAAAAAAAAAA.png`);
    assert.equal(img404.status, 404);
    assert.deepEqual(await t.verify(), []);
  });

  test('decline in the wallet → status 3; refund of a declined payment fails', async () => {
    const payer = await newWallet('Marie Decline', '100');
    const created = await ibous('CreatePaymentQRcode', SEED_QR);
    const qr = await fetchQr(created.body.qrcode_img);
    const token = await login(payer);
    const d = await walletApi(token, 'decline', { url: qr.text });
    assert.equal(d.status, 200);
    assert.equal(d.body.payment.state, 'failed');
    const r = await ibous('PaymentProcess', { qrcode_id: created.body.qrcode_id });
    assert.deepEqual(r.body, { error: true, payment: { status: '3' }, status: 'Payment Failed' });
    const pay = await walletApi(token, 'pay', { url: qr.text, pin: '1234' });
    assert.equal(pay.status, 409);
    const refund = await ibous('PaymentRefund', { payment_id: created.body.qrcode_id });
    assert.equal(refund.body.transaction.status, '0');
    assert.equal(await balanceOf(token), '100.00');
  });

  test('insufficient balance: clear error, the QR code stays payable', async () => {
    const poor = await newWallet('Poor Payer', '59');
    const rich = await newWallet('Rich Payer', '1000');
    const created = await ibous('CreatePaymentQRcode', SEED_QR);
    const qr = await fetchQr(created.body.qrcode_img);
    const tp = await login(poor);
    const fail = await walletApi(tp, 'pay', { qr: qr.text, pin: '1234' });
    assert.equal(fail.status, 402);
    assert.equal(fail.body.error.code, 'insufficient_funds');
    assert.match(fail.body.error.message, /insufficient balance/);
    assert.equal((await ibous('PaymentProcess', { qrcode_id: created.body.qrcode_id })).body.payment.status, '1');
    const ok = await walletApi(await login(rich), 'pay', { qr: qr.text, pin: '1234' });
    assert.equal(ok.status, 200);
    assert.equal((await ibous('PaymentProcess', { qrcode_id: created.body.qrcode_id })).body.payment.user, 'Rich Payer');
    assert.equal(await balanceOf(tp), '59.00');
  });

  test('two payers at once: exactly one pays', async () => {
    const a = await newWallet('Racer A', '100');
    const b = await newWallet('Racer B', '100');
    const created = await ibous('CreatePaymentQRcode', SEED_QR);
    const qr = await fetchQr(created.body.qrcode_img);
    const [ta, tb] = await Promise.all([login(a), login(b)]);
    const results = await Promise.all([walletApi(ta, 'pay', { qr: qr.text, pin: '1234' }), walletApi(tb, 'pay', { qr: qr.text, pin: '1234' })]);
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 409], JSON.stringify(results.map((r) => r.body)));
    const winner = results[0]!.status === 200 ? 'Racer A' : 'Racer B';
    const done = await ibous('PaymentProcess', { qrcode_id: created.body.qrcode_id });
    assert.equal(done.body.payment.user, winner);
    const balances = [await balanceOf(ta), await balanceOf(tb)].sort();
    assert.deepEqual(balances, ['100.00', '40.00']);
    assert.deepEqual(await t.verify(), []);
  });

  test('expiry: status 3 once the QR code is past its 10 minutes, and it cannot be paid', async () => {
    const payer = await newWallet('Late Payer', '100');
    const created = await ibous('CreatePaymentQRcode', SEED_QR);
    const qr = await fetchQr(created.body.qrcode_img);
    t.clock.advance(10 * 60_000 - 1000);
    assert.equal((await ibous('PaymentProcess', { qrcode_id: created.body.qrcode_id })).body.payment.status, '1');
    t.clock.advance(1000);
    // At once, before the sweeper has run...
    assert.deepEqual((await ibous('PaymentProcess', { qrcode_id: created.body.qrcode_id })).body, { error: true, payment: { status: '3' }, status: 'Payment Failed' });
    // ...and the sweeper records it.
    await eventually(async () => (await t.admin('GET', `/admin/payments/${created.body.qrcode_id}`)).body.state === 'expired');
    const pay = await walletApi(await login(payer), 'pay', { qr: qr.text, pin: '1234' });
    assert.ok([409, 410].includes(pay.status), JSON.stringify(pay.body));
    assert.equal((await ibous('PaymentProcess', { qrcode_id: created.body.qrcode_id })).body.payment.status, '3');
  });

  test('PaymentProcess answers from memory: no database query per poll', async () => {
    const created = await ibous('CreatePaymentQRcode', SEED_QR);
    await ibous('PaymentProcess', { qrcode_id: created.body.qrcode_id });
    const db = t.gw.db as any;
    const original = db.query;
    const queries: string[] = [];
    // Background jobs keep querying: the dispatcher, the sweeper (pending and expired) and, on
    // Postgres, the status cache's catch-up pass (changed rows, once a second); count what a
    // poll would read.
    const background = /state = 'pending' and expires_at|where updated_at >= \$1 and version > 1/;
    db.query = function (sql: string, ...rest: unknown[]) {
      if (/from (payments|merchant_credentials|merchants)\b/.test(sql) && !background.test(sql)) queries.push(sql);
      return original.call(this, sql, ...rest);
    };
    try {
      for (let i = 0; i < 20; i++) assert.equal((await ibous('PaymentProcess', { qrcode_id: created.body.qrcode_id })).body.payment.status, '1');
    } finally {
      db.query = original;
    }
    assert.deepEqual(queries, []);
  });

  test('long-poll: wait_ms holds PaymentProcess until the payment changes', async () => {
    const payer = await newWallet('Patient Payer', '100');
    const created = await ibous('CreatePaymentQRcode', SEED_QR);
    const qr = await fetchQr(created.body.qrcode_img);
    // A short wait with no change answers pending.
    assert.equal((await ibous('PaymentProcess', { qrcode_id: created.body.qrcode_id, wait_ms: '20' })).body.payment.status, '1');
    let answered = false;
    const held = ibous('PaymentProcess', { qrcode_id: created.body.qrcode_id, wait_ms: '30000' }).then((r) => { answered = true; return r; });
    const token = await login(payer);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(answered, false, 'still held while pending');
    const paid = await walletApi(token, 'pay', { qr: qr.text, pin: '1234' });
    assert.equal(paid.status, 200);
    const r = await held;
    assert.equal(r.body.payment.status, '2');
    assert.equal(r.body.payment.user, 'Patient Payer');
    // Not pending: wait_ms answers at once.
    assert.equal((await ibous('PaymentProcess', { qrcode_id: created.body.qrcode_id, wait_ms: '30000' })).body.payment.status, '2');
  });
});

describe('ibous brute-force guard', () => {
  test('wrong secrets for one API key block that key with 429 in the ibous shape', async () => {
    const t = await startGateway({ env: { PAYGATE_RATE_CREDENTIAL_AUTH_FAILURES: '3' } });
    try {
      const m = await t.createMerchant('Guarded');
      const post = (secret: string) => fetch(`${t.url}/api/PaymentProcess?qrcode_id=1`, { method: 'POST', headers: { 'API-TOKEN-KEY': m.credentials.ibous.api_key, 'API-TOKEN-SECRET': secret } });
      for (let i = 0; i < 3; i++) assert.equal((await post('wrong')).status, 401);
      const blocked = await post(m.credentials.ibous.api_secret);
      assert.equal(blocked.status, 429);
      assert.match(blocked.headers.get('retry-after')!, /^\d+$/);
      const body = await blocked.json() as any;
      assert.equal(body.error, true);
      assert.match(body.status, /Too many failed authentications/);
      t.clock.advance(61_000);
      assert.equal((await post(m.credentials.ibous.api_secret)).status, 404, 'unblocked after the window: the id is simply unknown');
    } finally {
      await t.close();
    }
  });
});
