// KessPay (seed 001) over HTTP against a started gateway: every operation with the seed's
// example values, the Native / Quick / JSAPI flows with the payer acting in the wallet app,
// refunds (partial, idempotent, concurrent), token expiry on the manual clock, bad input.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import { eventually, startGateway, type TestGateway } from '../../../test/harness.ts';
import { applyRateBps } from '../../money/index.ts';
import { KessPayClient } from '../../../packages/sdk/src/kesspay/client.ts';

let t: TestGateway;
let kess: { user: string; password: string; store_id: string };
let other: { user: string; password: string; store_id: string };
const PHONE = '85512345678';
const PHONE2 = '85512345679';
const POOR = '85512345670';
const PIN = '1234';
let n = 0;
const orderNo = () => `ORDER-4339${String(++n).padStart(4, '0')}`;

interface Answer { status: number; body: any; text: string }

async function post(path: string, body: unknown, token?: string | null, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(t.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = null;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed, text };
}

async function token(c = kess): Promise<string> {
  const r = await post('/kesspay/api/token', { user: c.user, password: c.password });
  assert.equal(r.status, 200, r.text);
  return r.body.data.token;
}

async function walletLogin(phone = PHONE): Promise<string> {
  const r = await post('/wallet/api/login', { phone, pin: PIN });
  assert.equal(r.status, 200, r.text);
  return r.body.token;
}

async function walletApi(method: string, path: string, session: string, body?: unknown): Promise<Answer> {
  const res = await fetch(t.url + path, {
    method,
    headers: { authorization: `Bearer ${session}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, text };
}

async function balance(phone: string): Promise<bigint> {
  const [w] = await t.gw.payers.byPhone('wallet', phone, 'USD');
  return w!.balance_minor;
}

/** The seed's Native Pay request, with this store's id and a fresh order number. */
function seedOrder(over: Record<string, unknown> = {}) {
  return { service_id: 30, store_id: kess.store_id, sub_store_id: 12345, sub_store_name: 'Test Store', amount: 0.01, fee_rate: 2, auth_code: 284957, out_trade_no: orderNo(), ...over };
}

async function freshCode(session: string): Promise<string> {
  const r = await walletApi('GET', '/wallet/api/code', session);
  assert.equal(r.status, 200, r.text);
  return r.body.code;
}

/** Quick Pay with the auth_code as an unquoted 18-digit JSON number, as the seed writes it. */
function quickBody(fields: Record<string, unknown>, code: string): string {
  return JSON.stringify(fields).replace(/}$/, `,"auth_code":${code}}`);
}

before(async () => {
  t = await startGateway();
  kess = (await t.createMerchant('Kess Shop')).credentials.kesspay;
  other = (await t.createMerchant('Other Shop')).credentials.kesspay;
  await t.createPayer('wallet', { name: 'Sokha Chan', phone: PHONE, currency: 'USD', balance: '1000.00', pin: PIN });
  await t.createPayer('wallet', { name: 'Dara Kim', phone: PHONE2, currency: 'USD', balance: '1000.00', pin: PIN });
  await t.createPayer('wallet', { name: 'Poor Payer', phone: POOR, currency: 'USD', balance: '1.00', pin: PIN });
});

after(async () => {
  assert.deepEqual(await t.verify(), []);
  await t.close();
});

describe('Get API token', () => {
  test('user + password → HS256 JWT valid 60 s in the seed shape', async () => {
    const r = await post('/kesspay/api/token', { user: kess.user, password: kess.password });
    assert.equal(r.status, 200);
    assert.equal(r.body.success, true);
    assert.equal(r.body.data.message, 'SUCCESS');
    const jwt = r.body.data.token;
    assert.match(jwt, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(decodeProtectedHeader(jwt).alg, 'HS256');
    const claims = decodeJwt(jwt);
    assert.equal(claims.exp! - claims.iat!, 60);
    assert.equal(Math.abs(claims.iat! - Math.floor(t.clock.now().getTime() / 1000)) <= 1, true);
  });

  test('wrong credentials and missing fields are refused', async () => {
    let r = await post('/kesspay/api/token', { user: kess.user, password: 'wrong-password' });
    assert.equal(r.status, 401);
    assert.deepEqual([r.body.success, r.body.code], [false, 'INVALID_CREDENTIALS']);
    r = await post('/kesspay/api/token', { user: 'kp_nobody', password: kess.password });
    assert.equal(r.body.code, 'INVALID_CREDENTIALS');
    r = await post('/kesspay/api/token', { password: kess.password });
    assert.deepEqual([r.status, r.body.code], [400, 'MISSING_PARAM']);
    r = await post('/kesspay/api/token', { user: kess.user });
    assert.deepEqual([r.status, r.body.code], [400, 'MISSING_PARAM']);
    r = await post('/kesspay/api/token', { user: kess.user, password: 'x'.repeat(500) });
    assert.equal(r.body.code, 'INVALID_CREDENTIALS');
  });

  test('missing, malformed, foreign and expired tokens: success false with a stable code', async () => {
    const order = seedOrder();
    let r = await post('/kesspay/api/native-pay', order, null);
    assert.deepEqual([r.status, r.body.success, r.body.code], [401, false, 'TOKEN_MISSING']);
    r = await post('/kesspay/api/native-pay', order, null, { authorization: 'Basic abc' });
    assert.deepEqual([r.status, r.body.code], [401, 'TOKEN_INVALID']);
    r = await post('/kesspay/api/native-pay', order, 'not-a-jwt');
    assert.deepEqual([r.status, r.body.code], [401, 'TOKEN_INVALID']);
    const now = Math.floor(t.clock.now().getTime() / 1000);
    const foreign = await new SignJWT({ usr: kess.user, store_id: kess.store_id }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer('paygate').setAudience('kesspay').setIssuedAt(now).setExpirationTime(now + 60).sign(randomBytes(32));
    r = await post('/kesspay/api/native-pay', order, foreign);
    assert.deepEqual([r.status, r.body.code], [401, 'TOKEN_INVALID']);
    assert.match(r.body.message, /token/i);

    const tok = await token();
    // 58 s, not 59: iat is whole seconds (floored) and real time passes between the calls.
    t.clock.advance(58_000);
    r = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: 'ORDER-NONE' }, tok);
    assert.equal(r.body.code, 'ORDER_NOT_EXIST', 'still valid after 58 s');
    t.clock.advance(2_000);
    r = await post('/kesspay/api/native-pay', order, tok);
    assert.deepEqual([r.status, r.body.success, r.body.code], [401, false, 'TOKEN_EXPIRED']);
    assert.match(r.body.message, /token expired/i);
    r = await post('/kesspay/api/native-pay', order, await token());
    assert.equal(r.status, 200, 'a new token works');
  });

  test("store_id must be the token's store", async () => {
    let r = await post('/kesspay/api/native-pay', seedOrder({ store_id: other.store_id }), await token());
    assert.deepEqual([r.status, r.body.code], [403, 'STORE_ID_MISMATCH']);
    r = await post('/kesspay/api/native-pay', seedOrder(), await token(other));
    assert.deepEqual([r.status, r.body.code], [403, 'STORE_ID_MISMATCH']);
    r = await post('/kesspay/api/native-pay', seedOrder({ store_id: undefined }), await token());
    assert.deepEqual([r.status, r.body.code], [400, 'MISSING_PARAM']);
  });
});

describe('Native Pay', () => {
  test('seed example: qr_code is the wallet pay URL; payer pays in the wallet app; check says success', async () => {
    const tok = await token();
    const order = seedOrder({ store_id: Number(kess.store_id) });
    const r = await post('/kesspay/api/native-pay', order, tok);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.success, true);
    const d = r.body.data;
    assert.equal(d.result_code, 'SUCCESS');
    assert.equal(d.out_trade_no, order.out_trade_no);
    assert.match(r.text, /"amount":0\.01[,}]/, 'amount is the JSON number 0.01');
    assert.equal(d.currency, 'USD');
    assert.equal(d.fee_amount, 0, '2 % of 0.01 rounds half up to 0.00');
    assert.match(d.qr_code, new RegExp(`^${t.url.replace(/[.]/g, '\\.')}/wallet/pay/[A-Za-z0-9_-]{16,64}$`));
    const p = (await t.gw.payments.getByRef((await t.gw.merchants.credential('kesspay', kess.user))!.merchant_id, 'kesspay', order.out_trade_no))!;
    assert.equal(p.rail, 'wallet');
    assert.equal(p.details.payee_name, 'Test Store');
    assert.equal(p.details.sub_store_id, '12345');

    let c = await post('/kesspay/api/check-payment', { store_id: Number(kess.store_id), out_trade_no: order.out_trade_no }, tok);
    assert.equal(c.status, 200);
    assert.deepEqual([c.body.data.is_success, c.body.data.message, c.body.data.trade_state], [false, 'Waiting for the buyer to pay', 'NOTPAY']);

    const before = await balance(PHONE);
    const session = await walletLogin();
    const resolved = await walletApi('POST', '/wallet/api/resolve', session, { qr: d.qr_code });
    assert.equal(resolved.status, 200, resolved.text);
    assert.equal(resolved.body.merchant, 'Test Store', 'the payer sees sub_store_name as the payee');
    const page = await (await fetch(d.qr_code)).text();
    assert.match(page, /Test Store/);
    const paid = await walletApi('POST', '/wallet/api/pay', session, { qr: d.qr_code, pin: PIN });
    assert.equal(paid.status, 200, paid.text);
    assert.equal(await balance(PHONE), before - 1n);

    c = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: order.out_trade_no }, tok);
    assert.equal(c.body.success, true);
    assert.equal(c.body.data.is_success, true);
    assert.equal(c.body.data.message, 'Payment Successful!');
    assert.equal(c.body.data.out_trade_no, order.out_trade_no);
    assert.equal(c.body.data.currency, 'USD');
    assert.match(c.text, /"service_id":30[,}]/);
    assert.match(c.text, /"amount":0\.01[,}]/);

    // identical retry → the original answer; different parameters → error
    const again = await post('/kesspay/api/native-pay', order, tok);
    assert.equal(again.body.data.qr_code, d.qr_code);
    const diff = await post('/kesspay/api/native-pay', { ...order, amount: 0.02 }, tok);
    assert.deepEqual([diff.status, diff.body.success, diff.body.code], [409, false, 'ORDER_EXISTS']);
    const diff2 = await post('/kesspay/api/native-pay', { ...order, sub_store_name: 'Elsewhere' }, tok);
    assert.equal(diff2.body.code, 'ORDER_EXISTS');
  });

  test('fee_rate: buyer pays amount + fee, merchant is credited amount; without sub_store_name the payee is the store', async () => {
    const tok = await token();
    const mid = (await t.gw.merchants.credential('kesspay', kess.user))!.merchant_id;
    const order = seedOrder({ amount: '12.50', fee_rate: 2, sub_store_name: null, sub_store_id: null });
    const r = await post('/kesspay/api/native-pay', order, tok);
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /"fee_amount":0\.25,"total_amount":12\.75/);
    const p = (await t.gw.payments.getByRef(mid, 'kesspay', order.out_trade_no))!;
    assert.equal(p.details.payee_name, 'Kess Shop');
    assert.equal(p.surcharge_minor, 25n);
    const before = await balance(PHONE2);
    const merchantBefore = await t.gw.payments.merchantBalance(mid, 'USD');
    const session = await walletLogin(PHONE2);
    const paid = await walletApi('POST', '/wallet/api/pay', session, { url: r.body.data.qr_code, pin: PIN });
    assert.equal(paid.status, 200, paid.text);
    assert.equal(await balance(PHONE2), before - 1275n);
    assert.equal(await t.gw.payments.merchantBalance(mid, 'USD'), merchantBefore + 1250n);
  });

  test('fee_rate rounding (half up) and invalid rates', async () => {
    const tok = await token();
    const fee = async (amount: unknown, fee_rate: unknown) => {
      const r = await post('/kesspay/api/native-pay', seedOrder({ amount, fee_rate }), tok);
      assert.equal(r.status, 200, r.text);
      return /"fee_amount":([\d.]+)/.exec(r.text)![1];
    };
    assert.equal(await fee(0.01, 2), '0');
    assert.equal(await fee(0.25, 2), '0.01', '0.005 rounds half up');
    assert.equal(await fee(0.24, 2), '0', '0.0048 rounds down');
    assert.equal(await fee(100, 0), '0');
    assert.equal(await fee(100, '1.5'), '1.5');
    assert.equal(await fee('999999999999.99', 2.5), '25000000000');
    assert.equal(applyRateBps(99999999999999n, 250n), 2500000000000n);
    assert.equal(await fee(0.01, null), '0', 'absent fee_rate is 0');
    for (const bad of [-1, 101, 'abc', 1.234, true, '2%', [2]]) {
      const r = await post('/kesspay/api/native-pay', seedOrder({ fee_rate: bad }), tok);
      assert.deepEqual([r.status, r.body.success, r.body.code], [400, false, 'INVALID_FEE_RATE'], `fee_rate ${JSON.stringify(bad)}`);
    }
  });

  test('bad amounts, service ids and fields are refused and nothing is created', async () => {
    const tok = await token();
    const cases: [Record<string, unknown> | string, string][] = [
      [{ amount: 0.001 }, 'INVALID_AMOUNT'],
      [{ amount: 0 }, 'INVALID_AMOUNT'],
      [{ amount: -1 }, 'INVALID_AMOUNT'],
      [{ amount: 'abc' }, 'INVALID_AMOUNT'],
      [{ amount: true }, 'INVALID_AMOUNT'],
      [{ amount: '1e2' }, 'INVALID_AMOUNT'],
      [{ amount: '1234567890123456' }, 'INVALID_AMOUNT'],
      [{ amount: undefined }, 'MISSING_PARAM'],
      [{ service_id: 99 }, 'INVALID_SERVICE_ID'],
      [{ service_id: 'abc' }, 'INVALID_SERVICE_ID'],
      [{ service_id: undefined }, 'MISSING_PARAM'],
      [{ out_trade_no: undefined }, 'MISSING_PARAM'],
      [{ out_trade_no: 'X'.repeat(65) }, 'INVALID_PARAM'],
      [{ out_trade_no: 'has space' }, 'INVALID_PARAM'],
      [{ sub_store_name: 'n'.repeat(101) }, 'INVALID_PARAM'],
      [{ sub_store_name: 'bad\u0001name' }, 'INVALID_PARAM'],
      [{ sub_store_id: { a: 1 } }, 'INVALID_PARAM'],
    ];
    for (const [over, code] of cases) {
      const order = seedOrder(over as Record<string, unknown>);
      const r = await post('/kesspay/api/native-pay', order, tok);
      assert.equal(r.status, 400, `${JSON.stringify(over)}: ${r.text}`);
      assert.deepEqual([r.body.success, r.body.code], [false, code], JSON.stringify(over));
      assert.equal(typeof r.body.message, 'string');
    }
    // more decimals than a float can tell apart from 0.1: parsed exactly, refused
    const exact = JSON.stringify(seedOrder()).replace('"amount":0.01', '"amount":0.10000000000000001');
    const r = await post('/kesspay/api/native-pay', exact, tok);
    assert.deepEqual([r.status, r.body.code], [400, 'INVALID_AMOUNT']);
    assert.equal((await post('/kesspay/api/native-pay', JSON.stringify(seedOrder()).replace('"amount":0.01', '"amount":1e2'), tok)).body.code, 'INVALID_AMOUNT');
  });

  test('wire errors: invalid JSON, empty body, non-object, wrong media type, too large', async () => {
    const tok = await token();
    let r = await post('/kesspay/api/native-pay', '{"amount":', tok);
    assert.deepEqual([r.status, r.body.success, r.body.code], [400, false, 'INVALID_JSON']);
    r = await post('/kesspay/api/native-pay', '', tok);
    assert.deepEqual([r.status, r.body.code], [400, 'INVALID_JSON']);
    r = await post('/kesspay/api/native-pay', '[1,2]', tok);
    assert.deepEqual([r.status, r.body.code], [400, 'INVALID_JSON']);
    r = await post('/kesspay/api/native-pay', '<amount>1</amount>', tok, { 'content-type': 'application/xml' });
    assert.deepEqual([r.status, r.body.code], [415, 'UNSUPPORTED_MEDIA_TYPE']);
    r = await post('/kesspay/api/native-pay', JSON.stringify(seedOrder()), tok, { 'content-type': 'text/plain' });
    assert.equal(r.status, 200, 'JSON sent as text/plain is read leniently');
    r = await post('/kesspay/api/native-pay', 'amount=1', tok, { 'content-type': 'text/plain' });
    assert.deepEqual([r.status, r.body.code], [400, 'INVALID_JSON']);
    r = await post('/kesspay/api/native-pay', JSON.stringify({ ...seedOrder(), pad: 'x'.repeat(70_000) }), tok);
    assert.deepEqual([r.status, r.body.code], [413, 'BODY_TOO_LARGE']);
    // Another method on a known path: 405 METHOD_NOT_ALLOWED in the KessPay shape.
    for (const [method, path] of [['GET', '/kesspay/api/token'], ['PUT', '/kesspay/api/native-pay'], ['DELETE', '/kesspay/api/check-payment']]) {
      const res = await fetch(t.url + path, { method, headers: { authorization: `Bearer ${tok}` } });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.deepEqual(await res.json(), { success: false, code: 'METHOD_NOT_ALLOWED', message: 'method not allowed: use POST' });
    }
    r = await post('/kesspay/api/close-order', { store_id: kess.store_id }, tok);
    assert.deepEqual([r.status, r.body.success, r.body.code], [404, false, 'NOT_FOUND']);
  });

  test('service_id schemes and currency come from the store settings', async () => {
    const { merchant, credentials } = await t.gw.merchants.create('Riel Shop', { settings: { kesspay: { currency: 'KHR', services: { '7': 'wallet', '30': null } } } });
    void merchant;
    const c = credentials.kesspay;
    const tok = await token(c);
    let r = await post('/kesspay/api/native-pay', { service_id: 7, store_id: c.store_id, amount: '4000', out_trade_no: orderNo() }, tok);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.data.currency, 'KHR');
    r = await post('/kesspay/api/native-pay', { service_id: 30, store_id: c.store_id, amount: '4000', out_trade_no: orderNo() }, tok);
    assert.equal(r.body.code, 'INVALID_SERVICE_ID');
    r = await post('/kesspay/api/native-pay', { service_id: 2, store_id: c.store_id, amount: '4000', out_trade_no: orderNo() }, tok);
    assert.equal(r.status, 200, 'default 2 still there');
    // a USD wallet's code cannot pay a KHR store
    const code = await freshCode(await walletLogin());
    r = await post('/kesspay/api/quick-pay', quickBody({ service_id: 7, store_id: c.store_id, amount: '4000', out_trade_no: orderNo() }, code), tok);
    assert.deepEqual([r.status, r.body.code], [400, 'AUTH_CODE_CURRENCY']);
  });
});

describe('Quick Pay', () => {
  test('below the limit: debited at once, SUCCESS with transaction_id; the code works once', async () => {
    const tok = await token();
    const session = await walletLogin();
    const code = await freshCode(session);
    assert.match(code, /^\d{18}$/);
    const before = await balance(PHONE);
    const order = { service_id: 2, store_id: kess.store_id, sub_store_id: 12345, sub_store_name: 'Foo Bar', amount: 0.01, fee_rate: 2, out_trade_no: orderNo() };
    const r = await post('/kesspay/api/quick-pay', quickBody(order, code), tok);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.success, true);
    assert.equal(r.body.data.result_code, 'SUCCESS');
    assert.equal(r.body.data.currency, 'USD');
    assert.equal(r.body.data.out_trade_no, order.out_trade_no);
    assert.match(r.body.data.transaction_id, /^\d+$/);
    assert.match(r.text, /"amount":0\.01[,}]/);
    assert.equal(await balance(PHONE), before - 1n);

    // identical retry: the original answer, no second debit
    const again = await post('/kesspay/api/quick-pay', quickBody(order, code), tok);
    assert.equal(again.body.data.transaction_id, r.body.data.transaction_id);
    assert.equal(await balance(PHONE), before - 1n);
    // the code is spent
    const used = await post('/kesspay/api/quick-pay', quickBody({ ...order, out_trade_no: orderNo() }, code), tok);
    assert.deepEqual([used.status, used.body.success, used.body.code], [409, false, 'AUTH_CODE_USED']);
    const c = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: order.out_trade_no }, tok);
    assert.deepEqual([c.body.data.is_success, c.body.data.message], [true, 'Payment Successful!']);
    assert.match(c.text, /"service_id":2[,}]/);
  });

  test('unknown, expired, replaced and malformed codes are refused; nothing changes', async () => {
    const session = await walletLogin();
    const tok = await token();
    const order = () => ({ service_id: 2, store_id: kess.store_id, amount: 1, out_trade_no: orderNo() });
    let r = await post('/kesspay/api/quick-pay', quickBody(order(), '280000000000000001'), tok);
    assert.deepEqual([r.status, r.body.code], [400, 'AUTH_CODE_INVALID']);
    r = await post('/kesspay/api/quick-pay', order(), tok);
    assert.deepEqual([r.status, r.body.code], [400, 'MISSING_PARAM']);
    r = await post('/kesspay/api/quick-pay', { ...order(), auth_code: '12ab' }, tok);
    assert.deepEqual([r.status, r.body.code], [400, 'AUTH_CODE_INVALID']);

    const first = await freshCode(session);
    const second = await freshCode(session);
    const o = order();
    r = await post('/kesspay/api/quick-pay', quickBody(o, first), tok);
    assert.deepEqual([r.status, r.body.code], [400, 'AUTH_CODE_EXPIRED'], 'a newer code ends the older one');
    // the refused order number is still free
    r = await post('/kesspay/api/quick-pay', quickBody(o, second), tok);
    assert.equal(r.body.data.result_code, 'SUCCESS', r.text);

    const late = await freshCode(session);
    t.clock.advance(61_000);
    r = await post('/kesspay/api/quick-pay', quickBody(order(), late), await token());
    assert.deepEqual([r.status, r.body.code], [400, 'AUTH_CODE_EXPIRED']);
  });

  test('insufficient balance: refused, and the order reads failed', async () => {
    const tok = await token();
    const code = await freshCode(await walletLogin(POOR));
    const o = { service_id: 2, store_id: kess.store_id, amount: 5, out_trade_no: orderNo() };
    const r = await post('/kesspay/api/quick-pay', quickBody(o, code), tok);
    assert.deepEqual([r.status, r.body.success, r.body.code], [402, false, 'INSUFFICIENT_BALANCE']);
    const c = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: o.out_trade_no }, tok);
    assert.deepEqual([c.body.data.is_success, c.body.data.message, c.body.data.trade_state], [false, 'Payment failed: insufficient balance', 'PAYERROR']);
    assert.equal(await balance(POOR), 100n);
  });

  test('above the limit: USERPAYING, the payer approves with the PIN, check-payment turns successful', async () => {
    const tok = await token();
    const session = await walletLogin();
    const code = await freshCode(session);
    const before = await balance(PHONE);
    const o = { service_id: 2, store_id: kess.store_id, sub_store_name: 'Foo Bar', amount: '60.00', fee_rate: 2, out_trade_no: orderNo() };
    const r = await post('/kesspay/api/quick-pay', quickBody(o, code), tok);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.data.result_code, 'USERPAYING');
    assert.equal(await balance(PHONE), before, 'nothing debited yet');
    let c = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: o.out_trade_no }, tok);
    assert.deepEqual([c.body.data.is_success, c.body.data.trade_state, c.body.data.message], [false, 'USERPAYING', 'Waiting for the buyer to confirm with PIN']);
    const again = await post('/kesspay/api/quick-pay', quickBody(o, code), tok);
    assert.equal(again.body.data.result_code, 'USERPAYING');

    const list = await walletApi('GET', '/wallet/api/code/confirmations', session);
    const item = list.body.items.find((i: any) => i.payee === 'Foo Bar');
    assert.ok(item, list.text);
    assert.equal(item.amount, '61.20');
    // not someone else's to approve
    const foreign = await walletApi('POST', `/wallet/api/code/confirmations/${item.payment_id}/approve`, await walletLogin(PHONE2), { pin: PIN });
    assert.equal(foreign.status, 404);
    const wrong = await walletApi('POST', `/wallet/api/code/confirmations/${item.payment_id}/approve`, session, { pin: '9999' });
    assert.equal(wrong.status, 401);
    const okr = await walletApi('POST', `/wallet/api/code/confirmations/${item.payment_id}/approve`, session, { pin: PIN });
    assert.equal(okr.status, 200, okr.text);
    assert.equal(okr.body.payment.state, 'succeeded');
    assert.equal(await balance(PHONE), before - 6120n);
    c = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: o.out_trade_no }, tok);
    assert.deepEqual([c.body.data.is_success, c.body.data.message], [true, 'Payment Successful!']);
    const replay = await post('/kesspay/api/quick-pay', quickBody(o, code), tok);
    assert.equal(replay.body.data.result_code, 'SUCCESS');
    const twice = await walletApi('POST', `/wallet/api/code/confirmations/${item.payment_id}/approve`, session, { pin: PIN });
    assert.equal(twice.status, 404);
  });

  test('a per-wallet limit of 0 asks the PIN for every payment; declining fails the order', async () => {
    const [w] = await t.gw.payers.byPhone('wallet', PHONE2, 'USD');
    await t.db.query(`update accounts set settings = '{"quick_pay_limit_minor": 0}' where id = $1`, [w!.id]);
    const session = await walletLogin(PHONE2);
    const tok = await token();
    const o = { service_id: 2, store_id: kess.store_id, amount: 0.01, out_trade_no: orderNo() };
    const r = await post('/kesspay/api/quick-pay', quickBody(o, await freshCode(session)), tok);
    assert.equal(r.body.data.result_code, 'USERPAYING', r.text);
    const list = await walletApi('GET', '/wallet/api/code/confirmations', session);
    assert.equal(list.body.items.length, 1);
    const d = await walletApi('POST', `/wallet/api/code/confirmations/${list.body.items[0].payment_id}/decline`, session);
    assert.equal(d.status, 200, d.text);
    const c = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: o.out_trade_no }, tok);
    assert.deepEqual([c.body.data.is_success, c.body.data.message, c.body.data.trade_state], [false, 'Payment declined by the buyer', 'PAYERROR']);
    const replay = await post('/kesspay/api/quick-pay', quickBody(o, '280000000000000001'), tok);
    assert.equal(replay.body.code, 'ORDER_EXISTS', 'another code is another request');
    await t.db.query(`update accounts set settings = '{}' where id = $1`, [w!.id]);
  });

  test('an unconfirmed payment closes after 120 s', async () => {
    const tok = await token();
    const session = await walletLogin();
    const o = { service_id: 2, store_id: kess.store_id, amount: 51, out_trade_no: orderNo() };
    const r = await post('/kesspay/api/quick-pay', quickBody(o, await freshCode(session)), tok);
    assert.equal(r.body.data.result_code, 'USERPAYING');
    t.clock.advance(121_000);
    const c = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: o.out_trade_no }, await token());
    assert.deepEqual([c.body.data.is_success, c.body.data.message], [false, 'Payment expired']);
    const list = await walletApi('GET', '/wallet/api/code/confirmations', await walletLogin());
    assert.equal(list.body.items.length, 0);
  });
});

describe('JSAPI Pay', () => {
  test('seed example: answers prepay_id and pay_url; the payer confirms in the app; check success', async () => {
    const tok = await token();
    const o = { service_id: 30, store_id: kess.store_id, sub_store_id: 12345, sub_store_name: 'Foo Bar', amount: 0.01, fee_rate: 2, auth_code: 284957, out_trade_no: orderNo() };
    const r = await post('/kesspay/api/jsapi-pay', o, tok);
    assert.equal(r.status, 200, r.text);
    const d = r.body.data;
    assert.equal(d.result_code, 'SUCCESS');
    assert.equal(d.currency, 'USD');
    assert.match(d.transaction_id, /^\d+$/);
    assert.equal(d.pay_url, `${t.url}/wallet/jsapi/${d.prepay_id}`);
    // the page needs the wallet session
    const page = await fetch(d.pay_url);
    assert.equal(page.status, 401);
    assert.ok((await page.text()).includes(`href="/wallet/?next=${encodeURIComponent('/wallet/jsapi/' + d.prepay_id)}"`), 'login link returns to this page');
    const session = await walletLogin();
    const view = await walletApi('GET', `/wallet/api/jsapi/${d.prepay_id}`, session);
    assert.deepEqual([view.body.payee, view.body.amount, view.body.payable], ['Foo Bar', '0.01', true]);
    const wrong = await walletApi('POST', `/wallet/api/jsapi/${d.prepay_id}/confirm`, session, { pin: '0000' });
    assert.equal(wrong.status, 401);
    const before = await balance(PHONE);
    const okr = await walletApi('POST', `/wallet/api/jsapi/${d.prepay_id}/confirm`, session, { pin: PIN });
    assert.equal(okr.status, 200, okr.text);
    assert.equal(await balance(PHONE), before - 1n);
    const c = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: o.out_trade_no }, tok);
    assert.deepEqual([c.body.data.is_success, c.body.data.message], [true, 'Payment Successful!']);
    const twice = await walletApi('POST', `/wallet/api/jsapi/${d.prepay_id}/confirm`, session, { pin: PIN });
    assert.equal(twice.status, 409);
  });

  test('the payer cancels: check says cancelled', async () => {
    const tok = await token();
    const o = { service_id: 30, store_id: kess.store_id, amount: 3, out_trade_no: orderNo() };
    const r = await post('/kesspay/api/jsapi-pay', o, tok);
    const session = await walletLogin();
    const x = await walletApi('POST', `/wallet/api/jsapi/${r.body.data.prepay_id}/cancel`, session);
    assert.equal(x.status, 200, x.text);
    const c = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: o.out_trade_no }, tok);
    assert.deepEqual([c.body.data.is_success, c.body.data.message, c.body.data.trade_state], [false, 'Payment cancelled', 'CLOSED']);
  });
});

describe('Refund to buyer and status checks', () => {
  async function paidOrder(amount: string, phone = PHONE): Promise<string> {
    const tok = await token();
    const o = seedOrder({ amount, fee_rate: 0 });
    const r = await post('/kesspay/api/native-pay', o, tok);
    const session = await walletLogin(phone);
    const paid = await walletApi('POST', '/wallet/api/pay', session, { qr: r.body.data.qr_code, pin: PIN });
    assert.equal(paid.status, 200, paid.text);
    return o.out_trade_no;
  }

  test('partial refunds up to the amount, idempotent out_refund_no, then past it; check refund', async () => {
    const tok = await token();
    const out_trade_no = await paidOrder('10.00');
    const before = await balance(PHONE);
    const refund = (out_refund_no: string, refund_amount: unknown, reason = 'customer returned item') =>
      post('/kesspay/api/refund', { service_id: 30, store_id: Number(kess.store_id), refund_amount, out_trade_no, out_refund_no, reason }, tok);
    const r1 = await refund(`REFUND-${out_trade_no}-1`, 0.01);
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.body.data.result_code, 'SUCCESS');
    assert.match(r1.text, /"service_id":30,"store_id":\d+,"refund_amount":0\.01,"currency":"USD"/);
    assert.equal(r1.body.data.out_refund_no, `REFUND-${out_trade_no}-1`);
    assert.equal(r1.body.data.out_trade_no, out_trade_no);
    const again = await refund(`REFUND-${out_trade_no}-1`, 0.01);
    assert.equal(again.body.data.refund_id, r1.body.data.refund_id, 'same out_refund_no → same refund');
    const conflict = await refund(`REFUND-${out_trade_no}-1`, 0.02);
    assert.deepEqual([conflict.status, conflict.body.code], [409, 'REFUND_NO_EXISTS']);
    const r2 = await refund(`REFUND-${out_trade_no}-2`, '9.99');
    assert.equal(r2.status, 200, r2.text);
    const past = await refund(`REFUND-${out_trade_no}-3`, 0.01);
    assert.deepEqual([past.status, past.body.success, past.body.code], [409, false, 'REFUND_AMOUNT_EXCEEDED']);
    assert.equal(await balance(PHONE), before + 1000n);

    let c = await post('/kesspay/api/check-refund', { store_id: kess.store_id, out_trade_no }, tok);
    assert.deepEqual([c.body.data.is_success, c.body.data.message, c.body.data.out_refund_no], [true, 'Refund Successful!', `REFUND-${out_trade_no}-2`]);
    c = await post('/kesspay/api/check-refund', { store_id: kess.store_id, out_trade_no, out_refund_no: `REFUND-${out_trade_no}-1` }, tok);
    assert.match(c.text, /"amount":0\.01[,}]/);
    assert.equal(c.body.data.reason, 'customer returned item');
    c = await post('/kesspay/api/check-refund', { store_id: kess.store_id, out_trade_no, out_refund_no: 'REFUND-NONE' }, tok);
    assert.deepEqual([c.status, c.body.code], [404, 'REFUND_NOT_EXIST']);
    const p = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no }, tok);
    assert.deepEqual([p.body.data.is_success, p.body.data.trade_state, p.body.data.out_refund_no], [true, 'REFUND', `REFUND-${out_trade_no}-2`]);
  });

  test('bad refunds: unpaid or unknown order, bad amounts, wrong service_id; no refund yet', async () => {
    const tok = await token();
    const unpaid = seedOrder();
    await post('/kesspay/api/native-pay', unpaid, tok);
    const base = { service_id: 30, store_id: kess.store_id, refund_amount: 0.01, out_trade_no: unpaid.out_trade_no, out_refund_no: 'REFUND-X-1' };
    let r = await post('/kesspay/api/refund', base, tok);
    assert.deepEqual([r.status, r.body.code], [409, 'ORDER_NOT_PAID']);
    let c = await post('/kesspay/api/check-refund', { store_id: kess.store_id, out_trade_no: unpaid.out_trade_no }, tok);
    assert.deepEqual([c.body.success, c.body.data.is_success, c.body.data.message], [true, false, 'No refund for this order']);
    r = await post('/kesspay/api/refund', { ...base, out_trade_no: 'ORDER-UNKNOWN' }, tok);
    assert.deepEqual([r.status, r.body.code], [404, 'ORDER_NOT_EXIST']);
    c = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no: 'ORDER-UNKNOWN' }, tok);
    assert.deepEqual([c.status, c.body.success, c.body.code], [404, false, 'ORDER_NOT_EXIST']);
    const paid = await paidOrder('1.00');
    for (const [over, code] of [[{ refund_amount: 0 }, 'INVALID_AMOUNT'], [{ refund_amount: -0.01 }, 'INVALID_AMOUNT'], [{ refund_amount: 0.001 }, 'INVALID_AMOUNT'],
      [{ refund_amount: 'x' }, 'INVALID_AMOUNT'], [{ refund_amount: undefined }, 'MISSING_PARAM'], [{ out_refund_no: undefined }, 'MISSING_PARAM'],
      [{ service_id: 2 }, 'INVALID_SERVICE_ID'], [{ reason: 'r'.repeat(300) }, 'INVALID_PARAM']] as const) {
      r = await post('/kesspay/api/refund', { ...base, out_trade_no: paid, out_refund_no: `REFUND-${paid}-bad`, ...over }, tok);
      assert.deepEqual([r.status, r.body.code], [400, code], JSON.stringify(over));
    }
    const other_tok = await token(other);
    r = await post('/kesspay/api/refund', { ...base, store_id: other.store_id, out_trade_no: paid }, other_tok);
    assert.deepEqual([r.status, r.body.code], [404, 'ORDER_NOT_EXIST'], "another store's order does not exist for it");
  });

  test('50 concurrent refunds that together exceed the payment: total refunded ≤ paid', async () => {
    const tok = await token();
    const out_trade_no = await paidOrder('20.00');
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      post('/kesspay/api/refund', { service_id: 30, store_id: kess.store_id, refund_amount: '1.00', out_trade_no, out_refund_no: `REFUND-${out_trade_no}-c${i}` }, tok)));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    assert.equal(ok.length, 20);
    assert.ok(refused.every((r) => r.status === 409 && r.body.code === 'REFUND_AMOUNT_EXCEEDED'), refused.map((r) => r.text).join('\n'));
    const p = await post('/kesspay/api/check-payment', { store_id: kess.store_id, out_trade_no }, tok);
    assert.match(p.text, /"refunded_amount":20[,}]/);
  });
});

test('OpenAPI lists the KessPay paths', async () => {
  const doc = await (await fetch(t.url + '/openapi.json')).json() as any;
  for (const p of ['token', 'native-pay', 'quick-pay', 'jsapi-pay', 'refund', 'check-payment', 'check-refund']) {
    const op = doc.paths[`/kesspay/api/${p}`]?.post;
    assert.ok(op, p);
    assert.deepEqual(op.tags, ['KessPay']);
    assert.ok(op.summary);
  }
  assert.ok(doc.paths['/wallet/api/code']);
  assert.ok(doc.paths['/wallet/api/code/confirmations/{payment_id}/approve']);
});

test('the @paygate/sdk KessPay client works against these paths (Quick Pay confirmation loop included)', async () => {
  const client = new KessPayClient({ baseUrl: t.url, user: kess.user, password: kess.password, now: () => t.clock.now().getTime() });
  const native = await client.nativePay({ service_id: 30, store_id: kess.store_id, sub_store_name: 'Test Store', amount: '0.01', fee_rate: 2, out_trade_no: orderNo() });
  assert.equal(native.result_code, 'SUCCESS');
  assert.equal(native.amount, '0.01');
  const session = await walletLogin();
  assert.equal((await walletApi('POST', '/wallet/api/pay', session, { qr: native.qr_code, pin: PIN })).status, 200);
  const check = await client.checkPayment({ store_id: kess.store_id, out_trade_no: native.out_trade_no! });
  assert.deepEqual([check.is_success, check.message], [true, 'Payment Successful!']);
  const refund = await client.refund({ service_id: 30, store_id: Number(kess.store_id), refund_amount: '0.01', out_trade_no: native.out_trade_no!, out_refund_no: `REFUND-${native.out_trade_no}-1` });
  assert.equal(refund.result_code, 'SUCCESS');
  assert.equal((await client.checkRefund({ store_id: kess.store_id, out_trade_no: native.out_trade_no! })).is_success, true);

  // above the limit: the client polls check-payment while the payer approves in the app
  const code = await freshCode(session);
  const quick = client.quickPay({ service_id: 2, store_id: kess.store_id, amount: '55.00', out_trade_no: orderNo(), auth_code: code }, { confirm_interval_ms: 50, confirm_timeout_ms: 60_000 });
  const item = await eventually(async () => (await walletApi('GET', '/wallet/api/code/confirmations', session)).body.items[0]);
  assert.equal((await walletApi('POST', `/wallet/api/code/confirmations/${item.payment_id}/approve`, session, { pin: PIN })).status, 200);
  const done = await quick;
  assert.equal(done.outcome, 'success');
  assert.equal(done.pay.result_code, 'USERPAYING');
  assert.equal(done.check?.is_success, true);

  // an expired token is refreshed by the client
  t.clock.advance(61_000);
  assert.equal((await client.checkPayment({ store_id: kess.store_id, out_trade_no: native.out_trade_no! })).is_success, true);
});
