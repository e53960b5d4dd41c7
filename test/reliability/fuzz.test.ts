// Hostile input: ≥ 10,000 generated requests (fast-check) across every endpoint of IntouchPay,
// FlexPay, ibous, KessPay, the wallet (incl. payment codes and JSAPI) and handset payer APIs and pages, the card checkout and the
// operator API: wrong types, missing/extra fields, huge strings and bodies, unicode,
// negative/huge/fractional amounts, malformed JSON and forms, wrong content types, SQL- and
// HTML-looking strings, with no/garbage/valid credentials. Every answer: no 5xx, 4xx (200 only
// where the endpoint only reads or the dialect documents a 200-with-error answer), in the
// dialect's shape, no stack trace, no unescaped echo of input into HTML; the database is
// byte-for-byte unchanged (checksum of every table). Amounts are always invalid, ids and tokens
// never real, so no generated request may legitimately change anything.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { startGateway, type TestGateway } from '../harness.ts';
import { type Creds, ibous, intouch, intouchAuth, kess, kessToken, walletLogin } from './clients.ts';

const N = Number(process.env.PAYGATE_FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.PAYGATE_FUZZ_SEED ?? Date.now() % 1_000_000);

let t: TestGateway;
let creds: Creds;
let realIds: string[] = [];
let kpToken = '';
let walletSession = '';

before(async () => {
  t = await startGateway({ env: { PAYGATE_MOBILE_MONEY_TTL_MS: '3600000', PAYGATE_WALLET_TTL_MS: '3600000' } });
  creds = (await t.createMerchant('Fuzz <b>Shop</b>')).credentials;
  await t.createPayer('wallet', { phone: '50933000001', pin: '9753', currency: 'HTG', balance: '1000' });
  await t.createPayer('subscriber', { phone: '250788400001', pin: '9753', currency: 'RWF', balance: '100000' });
  // Something to read: a pending ibous payment and a pending IntouchPay one.
  const q = await ibous(t.url, creds.ibous, 'CreatePaymentQRcode', { qrcode_size: '4', amount: '60', currency: 'HTG', item: 'fuzz' });
  const r = await intouch(t.url, creds.intouchpay, 'requestpayment', { amount: '500', mobilephone: '250788400001', requesttransactionid: 'fuzz-1' }, t.clock.now());
  // And a pending KessPay Native Pay order (out_trade_no FUZZ-1).
  kpToken = await kessToken(t.url, creds.kesspay!);
  const k = await kess(t.url, kpToken, 'native-pay', { service_id: 30, store_id: creds.kesspay!.store_id, amount: 0.01, out_trade_no: 'FUZZ-1' });
  assert.equal(k.status, 200, k.text);
  realIds = [q.body.qrcode_id, r.body.transactionid, 'FUZZ-1'];
  // A stateless wallet session for the confirmation / JSAPI APIs (ids there are never real).
  walletSession = await walletLogin(t.url, '50933000001', '9753');
});
after(() => t.close());

async function checksum(): Promise<Record<string, string>> {
  const tables = await t.db.query<{ table_name: string }>(`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`);
  const out: Record<string, string> = {};
  for (const { table_name } of tables) {
    const [row] = await t.db.query<{ n: string; h: string }>(`select count(*)::text as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h from "${table_name}" x`);
    out[table_name] = `${row!.n}:${row!.h}`;
  }
  return out;
}

// ---- generators ---------------------------------------------------------------------------

const sqlish = fc.constantFrom(`' OR '1'='1`, `1; DROP TABLE payments; --`, `"); delete from accounts; --`, `' union select secret_hash from credentials --`, `\\'; select pg_sleep(1); --`);
const htmlish = fc.constantFrom('<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '"><svg onload=alert(1)>', `'><iframe src=javascript:alert(1)>`, '</title><h1>x</h1>');
const weirdStr = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', ' ', '\u0000', '\u202e\u0645\u0631\u062d\u0628\u0627', '😀'.repeat(50), 'é\u0301', '\r\n', '%00', '../../etc/passwd', 'null', 'undefined', 'true', '[]', '{}'),
  fc.integer({ min: 300, max: 5_000 }).map((n) => 'A'.repeat(n)), // bodies over the limit: encoding 'huge'
  sqlish, htmlish,
);
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: weirdStr },
  fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
  fc.array(weirdStr, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 8 }), weirdStr, { maxKeys: 3 }),
);
/** Never a valid amount for any dialect: ≤ 0, > 2 decimals or fractional where whole, exponent, ≥ 16 digits, not a number. */
const badAmount: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -1_000_000_000, max: 0 }), fc.integer({ min: -1_000_000_000, max: 0 }).map(String),
  fc.constantFrom('0', '0.00', '-0', '-1', '1.001', '60.123', '1e3', '1E2', '0x10', 'NaN', 'Infinity', '-Infinity', '١٢٣', '1,5', '1 000', '', ' ', '--5', '5-', '.', '1..2', 1.001, 1e21, -0.5, Number.NaN),
  fc.bigInt({ min: 10n ** 16n, max: 10n ** 40n }).map(String),
  fc.integer({ min: 1, max: 999 }).map((n) => `${n}.${String(n).padStart(3, '7')}`),
  sqlish, htmlish, fc.array(fc.integer()), fc.boolean(), fc.constant(null), fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
);

interface Ep {
  name: string;
  method: 'GET' | 'POST';
  path: (id: string) => string;
  fields: string[];
  /** The amount field (always invalid) for endpoints that create; creating endpoints must answer 4xx. */
  amount?: string;
  auth: 'intouchpay' | 'ibous' | 'flexpay' | 'kesspay' | 'kesspay-login' | 'wallet' | 'walletSession' | 'admin' | 'none';
  /** 200 allowed: the endpoint only reads, or the dialect documents 200-with-error answers. */
  ok200?: boolean;
  shape: 'intouchpay' | 'ibous' | 'flexpay' | 'kesspay' | 'error' | 'any';
}

const ITP = ['username', 'accountno', 'timestamp', 'password'];
const FX = ['merchant', 'type', 'reference', 'phone', 'currency', 'callbackUrl', 'callback_url', 'authorization', 'description', 'approve_url', 'cancel_url', 'decline_url', 'home_url'];
const KP = ['service_id', 'store_id', 'sub_store_id', 'sub_store_name', 'fee_rate', 'auth_code', 'out_trade_no'];
const EPS: Ep[] = [
  { name: 'itp.requestpayment', method: 'POST', path: () => '/api/requestpayment/', fields: [...ITP, 'mobilephone', 'requesttransactionid', 'callbackurl'], amount: 'amount', auth: 'intouchpay', shape: 'intouchpay' },
  { name: 'itp.requestdeposit', method: 'POST', path: () => '/api/requestdeposit/', fields: [...ITP, 'mobilephone', 'requesttransactionid', 'withdrawcharge', 'reason', 'sid', 'callbackurl'], amount: 'amount', auth: 'intouchpay', shape: 'intouchpay' },
  { name: 'itp.status', method: 'POST', path: () => '/api/gettransactionstatus/', fields: [...ITP, 'requesttransactionid', 'transactionid'], auth: 'intouchpay', ok200: true, shape: 'intouchpay' },
  { name: 'itp.balance', method: 'POST', path: () => '/api/getbalance/', fields: ITP, auth: 'intouchpay', ok200: true, shape: 'intouchpay' },
  { name: 'ibous.create', method: 'POST', path: () => '/api/CreatePaymentQRcode', fields: ['qrcode_size', 'currency', 'item'], amount: 'amount', auth: 'ibous', shape: 'ibous' },
  { name: 'ibous.process', method: 'POST', path: () => '/api/PaymentProcess', fields: ['qrcode_id', 'wait_ms'], auth: 'ibous', ok200: true, shape: 'ibous' },
  { name: 'ibous.refund', method: 'POST', path: () => '/api/PaymentRefund', fields: ['payment_id', 'qrcode_id'], auth: 'ibous', ok200: true, shape: 'ibous' },
  { name: 'ibous.png', method: 'GET', path: (id) => `/qrcd/${id}.png`, fields: [], auth: 'none', shape: 'any' },
  { name: 'fx.pay11', method: 'POST', path: () => '/v1.1/pay', fields: FX, amount: 'amount', auth: 'flexpay', shape: 'flexpay' },
  { name: 'fx.pay1', method: 'POST', path: () => '/v1/pay', fields: FX, amount: 'amount', auth: 'flexpay', shape: 'any' },
  { name: 'fx.check', method: 'GET', path: (id) => `/api/rest/v1/check/${id}`, fields: [], auth: 'flexpay', ok200: true, shape: 'flexpay' },
  { name: 'fx.mm', method: 'POST', path: () => '/api/rest/v1/paymentService', fields: FX, amount: 'amount', auth: 'flexpay', shape: 'flexpay' },
  { name: 'fx.payout', method: 'POST', path: () => '/api/rest/v1/merchantPayOutService', fields: FX, amount: 'amount', auth: 'flexpay', shape: 'flexpay' },
  { name: 'kp.token', method: 'POST', path: () => '/kesspay/api/token', fields: ['user', 'password'], auth: 'kesspay-login', ok200: true, shape: 'kesspay' },
  { name: 'kp.native', method: 'POST', path: () => '/kesspay/api/native-pay', fields: KP, amount: 'amount', auth: 'kesspay', shape: 'kesspay' },
  { name: 'kp.quick', method: 'POST', path: () => '/kesspay/api/quick-pay', fields: KP, amount: 'amount', auth: 'kesspay', shape: 'kesspay' },
  { name: 'kp.jsapi', method: 'POST', path: () => '/kesspay/api/jsapi-pay', fields: KP, amount: 'amount', auth: 'kesspay', shape: 'kesspay' },
  { name: 'kp.refund', method: 'POST', path: () => '/kesspay/api/refund', fields: ['service_id', 'store_id', 'out_trade_no', 'out_refund_no', 'reason'], amount: 'refund_amount', auth: 'kesspay', shape: 'kesspay' },
  { name: 'kp.checkPayment', method: 'POST', path: () => '/kesspay/api/check-payment', fields: ['store_id', 'out_trade_no'], auth: 'kesspay', ok200: true, shape: 'kesspay' },
  { name: 'kp.checkRefund', method: 'POST', path: () => '/kesspay/api/check-refund', fields: ['store_id', 'out_trade_no', 'out_refund_no'], auth: 'kesspay', ok200: true, shape: 'kesspay' },
  // Payment codes: issuing one writes a row, so /wallet/api/code and /wallet/code get no session.
  { name: 'wallet.code.get', method: 'GET', path: () => '/wallet/api/code', fields: [], auth: 'wallet', shape: 'error' },
  { name: 'wallet.code.post', method: 'POST', path: () => '/wallet/api/code', fields: ['currency'], auth: 'wallet', shape: 'error' },
  { name: 'wallet.code.confirmations', method: 'GET', path: () => '/wallet/api/code/confirmations', fields: [], auth: 'walletSession', shape: 'error' },
  { name: 'wallet.code.approve', method: 'POST', path: (id) => `/wallet/api/code/confirmations/${id}/approve`, fields: ['pin'], auth: 'walletSession', shape: 'error' },
  { name: 'wallet.code.decline', method: 'POST', path: (id) => `/wallet/api/code/confirmations/${id}/decline`, fields: [], auth: 'walletSession', shape: 'error' },
  { name: 'wallet.page.code', method: 'GET', path: () => '/wallet/code', fields: [], auth: 'none', shape: 'any' },
  { name: 'wallet.page.code.confirm', method: 'POST', path: () => '/wallet/code/confirm', fields: ['payment_id', 'pin', 'action', 'csrf'], auth: 'none', shape: 'any' },
  { name: 'wallet.page.jsapi', method: 'GET', path: (id) => `/wallet/jsapi/${id}`, fields: [], auth: 'none', shape: 'any' },
  { name: 'wallet.page.jsapi.post', method: 'POST', path: (id) => `/wallet/jsapi/${id}`, fields: ['pin', 'action', 'csrf'], auth: 'none', shape: 'any' },
  { name: 'wallet.jsapi.get', method: 'GET', path: (id) => `/wallet/api/jsapi/${id}`, fields: [], auth: 'walletSession', shape: 'error' },
  { name: 'wallet.jsapi.confirm', method: 'POST', path: (id) => `/wallet/api/jsapi/${id}/confirm`, fields: ['pin'], auth: 'walletSession', shape: 'error' },
  { name: 'wallet.jsapi.cancel', method: 'POST', path: (id) => `/wallet/api/jsapi/${id}/cancel`, fields: [], auth: 'walletSession', shape: 'error' },
  { name: 'wallet.login', method: 'POST', path: () => '/wallet/api/login', fields: ['phone', 'pin', 'currency'], auth: 'none', shape: 'error' },
  { name: 'wallet.balance', method: 'GET', path: () => '/wallet/api/balance', fields: [], auth: 'wallet', shape: 'error' },
  { name: 'wallet.history', method: 'GET', path: () => '/wallet/api/history', fields: [], auth: 'wallet', shape: 'error' },
  { name: 'wallet.resolve', method: 'POST', path: () => '/wallet/api/resolve', fields: ['qr', 'url', 'token'], auth: 'wallet', shape: 'error' },
  { name: 'wallet.pay', method: 'POST', path: () => '/wallet/api/pay', fields: ['qr', 'url', 'token', 'pin'], auth: 'wallet', shape: 'error' },
  { name: 'wallet.decline', method: 'POST', path: () => '/wallet/api/decline', fields: ['qr', 'url', 'token'], auth: 'wallet', shape: 'error' },
  { name: 'wallet.page.login', method: 'POST', path: () => '/wallet/login', fields: ['phone', 'pin', 'csrf'], auth: 'none', shape: 'any' },
  { name: 'wallet.page.pay', method: 'POST', path: (id) => `/wallet/pay/${id}`, fields: ['phone', 'pin', 'action', 'csrf'], auth: 'none', shape: 'any' },
  { name: 'wallet.page.get', method: 'GET', path: (id) => `/wallet/pay/${id}`, fields: [], auth: 'none', shape: 'any' },
  { name: 'handset.prompts', method: 'GET', path: (id) => `/handset/api/${id}/prompts`, fields: [], auth: 'none', shape: 'error' },
  { name: 'handset.approve', method: 'POST', path: (id) => `/handset/api/250788400009/prompts/${id}/approve`, fields: ['pin'], auth: 'none', shape: 'error' },
  { name: 'handset.reject', method: 'POST', path: (id) => `/handset/api/250788400002/prompts/${id}/reject`, fields: [], auth: 'none', shape: 'error' },
  { name: 'handset.balance', method: 'GET', path: (id) => `/handset/api/${id}/balance`, fields: [], auth: 'none', shape: 'error' },
  { name: 'handset.tx', method: 'GET', path: (id) => `/handset/api/${id}/transactions`, fields: [], auth: 'none', shape: 'error' },
  { name: 'handset.page', method: 'GET', path: (id) => `/handset/${id}`, fields: [], auth: 'none', shape: 'any' },
  { name: 'handset.page.approve', method: 'POST', path: (id) => `/handset/250788400009/prompts/${id}/approve`, fields: ['pin', 'csrf'], auth: 'none', shape: 'any' },
  { name: 'checkout.get', method: 'GET', path: (id) => `/checkout/${id}`, fields: [], auth: 'none', shape: 'any' },
  { name: 'checkout.pay', method: 'POST', path: (id) => `/checkout/${id}/pay`, fields: ['card_number', 'expiry', 'cvv', 'name', 'csrf'], auth: 'none', shape: 'any' },
  { name: 'checkout.3ds', method: 'POST', path: (id) => `/checkout/${id}/3ds`, fields: ['code', 'csrf'], auth: 'none', shape: 'any' },
  { name: 'checkout.cancel', method: 'POST', path: (id) => `/checkout/${id}/cancel`, fields: ['csrf'], auth: 'none', shape: 'any' },
  { name: 'admin.merchants', method: 'POST', path: () => '/admin/merchants', fields: ['name'], auth: 'none', shape: 'error' },
  { name: 'admin.payments', method: 'GET', path: (id) => `/admin/payments/${id}`, fields: [], auth: 'none', shape: 'error' },
];

/** Ids/tokens in paths and fields: never a real payable token (real payment ids only for reads);
 * PIN-taking paths name a phone with no subscriber, so a wrong PIN never counts toward a lockout. */
const pathId = fc.oneof(
  fc.constantFrom('40000000000001', '0', '-1', '99999999999999999999999', 'x'.repeat(300), 'null', '250788400001', 'ab%00cd', '%F0%9F%98%80'),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,60}$/),
  fc.string({ maxLength: 30 }).filter((x) => x !== '.' && x !== '..').map(encodeURIComponent),
);

type Encoding = 'json' | 'form' | 'badjson' | 'text' | 'xml' | 'multipart' | 'empty' | 'huge' | 'query';
interface Req { ep: Ep; id: string; fields: Record<string, unknown>; auth: 'none' | 'garbage' | 'valid'; enc: Encoding }

const reqArb: fc.Arbitrary<Req> = fc.record({
  ep: fc.constantFrom(...EPS),
  id: pathId,
  auth: fc.constantFrom('none', 'garbage', 'valid', 'valid'),
  enc: fc.constantFrom<Encoding>('json', 'json', 'json', 'form', 'form', 'badjson', 'text', 'xml', 'multipart', 'empty', 'huge', 'query'),
  extra: fc.dictionary(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty')), anyValue, { maxKeys: 4 }),
  known: fc.array(fc.tuple(fc.nat(20), anyValue), { maxLength: 8 }),
  amount: badAmount,
  useRealId: fc.boolean(),
}).map(({ ep, id, auth, enc, extra, known, amount, useRealId }) => {
  const fields: Record<string, unknown> = { ...extra };
  for (const [i, v] of known) if (ep.fields.length) fields[ep.fields[i % ep.fields.length]!] = v;
  if (ep.amount) fields[ep.amount] = amount;
  else delete fields.amount;
  if (ep.ok200 && useRealId) {
    // Reads may see the real payments (answers 200): qrcode_id / transactionid are real ids.
    for (const k of ['qrcode_id', 'transactionid', 'payment_id', 'out_trade_no']) if (k in fields || Math.random() < 0.5) fields[k] = realIds[Math.floor(Math.random() * realIds.length)];
  }
  return { ep, id, fields, auth, enc } as Req;
});

// ---- sending ------------------------------------------------------------------------------

function encodeForm(o: Record<string, unknown>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) p.append(k, typeof v === 'string' ? v : JSON.stringify(v) ?? '');
  return p.toString();
}

async function send(r: Req): Promise<{ status: number; ctype: string; text: string; sent: string }> {
  const headers: Record<string, string> = {};
  let fields = { ...r.fields };
  const ep = r.ep;
  if (r.auth === 'valid') {
    if (ep.auth === 'intouchpay') fields = { ...intouchAuth(creds.intouchpay, t.clock.now()), ...fields };
    if (ep.auth === 'ibous') { headers['API-TOKEN-KEY'] = creds.ibous.api_key; headers['API-TOKEN-SECRET'] = creds.ibous.api_secret; }
    if (ep.auth === 'flexpay') { headers.authorization = `Bearer ${creds.flexpay.token}`; fields = { merchant: creds.flexpay.merchant, ...fields }; }
    if (ep.auth === 'kesspay') { headers.authorization = `Bearer ${kpToken}`; fields = { store_id: creds.kesspay!.store_id, ...fields }; }
    if (ep.auth === 'kesspay-login') fields = { user: creds.kesspay!.user, password: creds.kesspay!.password, ...fields };
    if (ep.auth === 'walletSession') headers.authorization = `Bearer ${walletSession}`;
  } else if (r.auth === 'garbage') {
    headers.authorization = 'Bearer ' + 'garbage<script>';
    headers['API-TOKEN-KEY'] = "' OR 1=1 --";
    headers['API-TOKEN-SECRET'] = 'x';
    if (ep.auth === 'intouchpay') fields = { username: "admin'--", accountno: '1', timestamp: '20250101000000', password: 'x', ...fields };
  }
  let path = ep.path(r.id);
  let body: string | undefined;
  if (ep.method === 'POST') {
    switch (r.enc) {
      case 'json': headers['content-type'] = 'application/json'; body = JSON.stringify(fields); break;
      case 'form': headers['content-type'] = 'application/x-www-form-urlencoded'; body = encodeForm(fields); break;
      case 'badjson': headers['content-type'] = 'application/json'; body = JSON.stringify(fields).slice(0, -1) + ',,'; break;
      case 'text': headers['content-type'] = 'text/plain'; body = JSON.stringify(fields); break;
      case 'xml': headers['content-type'] = 'application/xml'; body = '<a>' + encodeForm(fields) + '</a>'; break;
      case 'multipart': headers['content-type'] = 'multipart/form-data; boundary=x'; body = '--x\r\nContent-Disposition: form-data; name="amount"\r\n\r\n1\r\n--x--'; break;
      case 'empty': headers['content-type'] = 'application/json'; body = ''; break;
      case 'huge': headers['content-type'] = 'application/json'; body = JSON.stringify({ ...fields, pad: 'Z'.repeat(70_000) }); break;
      case 'query': path += '?' + encodeForm(fields).slice(0, 6000); break;
    }
  } else if (r.enc === 'query' || r.enc === 'form') path += '?' + encodeForm(fields).slice(0, 6000);
  const res = await fetch(t.url + path, { method: ep.method, headers, body, redirect: 'manual' });
  return { status: res.status, ctype: res.headers.get('content-type') ?? '', text: await res.text(), sent: (body ?? '') + path };
}

function problem(r: Req, a: { status: number; ctype: string; text: string; sent: string }): string | null {
  const ep = r.ep;
  if (a.status >= 500) return `${a.status}`;
  if (a.status === 429) return null; // a limit is a fine answer to a flood
  if (/\bat [^\n]*\.(ts|js):\d+|node_modules|Error: [^\n]*\n\s+at /.test(a.text)) return 'stack trace in answer';
  const created = !!ep.amount;
  if (a.status < 400 && !(ep.ok200 || ep.shape === 'any' || (a.status === 200 && !created && ep.method === 'GET'))) return `non-error status ${a.status} on ${ep.name}`;
  if (created && a.status < 400) return `create endpoint accepted an invalid amount: ${a.status}`;
  if (/html/.test(a.ctype)) {
    for (const s of [...Object.values(r.fields), ...Object.keys(r.fields), r.id, decodeURIComponentSafe(r.id)]) {
      if (typeof s === 'string' && /[<>"]/.test(s) && s.length > 3 && a.text.includes(s)) return `unescaped echo into HTML: ${s.slice(0, 60)}`;
    }
  }
  let j: any = null;
  if (/json/.test(a.ctype)) {
    try { j = JSON.parse(a.text); } catch { return 'invalid JSON answer'; }
  }
  // A path the router has no route for (an empty id, dot segments the client resolved) is the
  // app's generic 404 {error:{code,message}}, not any dialect's.
  if (a.status === 404 && j?.error?.code === 'not_found' && /^no route/.test(j.error.message)) return null;
  if (a.status === 414 && j?.error?.code === 'uri_too_long') return null;
  {
    switch (ep.shape) {
      case 'intouchpay': if (!j || j.success !== false && a.status >= 400 || (a.status >= 400 && typeof j.responsecode !== 'string')) return `not IntouchPay-shaped: ${a.text.slice(0, 200)}`; break;
      case 'ibous': if (!j || typeof j.error !== 'boolean' || typeof j.status !== 'string') return `not ibous-shaped: ${a.text.slice(0, 200)}`; break;
      case 'kesspay': if (!j || (a.status >= 400 ? j.success !== false || typeof j.code !== 'string' || typeof j.message !== 'string' : j.success !== true)) return `not KessPay-shaped: ${a.text.slice(0, 200)}`; break;
      case 'flexpay': if (!j || typeof j.message !== 'string' || !('code' in j)) return `not FlexPay-shaped: ${a.text.slice(0, 200)}`; break;
      case 'error': if (a.status >= 400 && (!j || typeof j.error?.code !== 'string')) return `not {error:{code,message}}: ${a.text.slice(0, 200)}`; break;
    }
  }
  return null;
}

function decodeURIComponentSafe(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}

test(`fuzz: ${N} hostile requests across every endpoint: no 5xx, dialect-shaped 4xx, no leak, database unchanged (seed ${SEED})`, async () => {
  const before = await checksum();
  const reqs = fc.sample(reqArb, { numRuns: N, seed: SEED });
  const problems: string[] = [];
  const perEndpoint: Record<string, number> = {};
  let i = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (i < reqs.length) {
      const r = reqs[i++]!;
      perEndpoint[r.ep.name] = (perEndpoint[r.ep.name] ?? 0) + 1;
      let a;
      try { a = await send(r); } catch (e) { problems.push(`${r.ep.name}: request failed: ${(e as Error).message}`); continue; }
      const p = problem(r, a);
      if (p && problems.length < 50) problems.push(`${r.ep.name} [${r.enc}, auth ${r.auth}] ${p}\n    sent: ${a.sent.slice(0, 300)}\n    got: ${a.status} ${a.text.slice(0, 300)}`);
    }
  }));
  const after = await checksum();
  console.log(`fuzz: ${reqs.length} requests, seed ${SEED}, per endpoint ${JSON.stringify(perEndpoint)}`);
  assert.deepEqual(problems, []);
  assert.deepEqual(after, before, 'the database is unchanged');
  assert.ok(Object.keys(perEndpoint).length === EPS.length, 'every endpoint was hit');
});

test('found by the fuzz: a NUL character in a credential identifier is an authentication failure (was 500: Postgres text cannot hold NUL)', async () => {
  const r = await intouch(t.url, { ...creds.intouchpay, username: 'a\u0000b' }, 'getbalance', {}, t.clock.now());
  assert.deepEqual([r.status, r.body.responsecode], [401, '0007']);
});
