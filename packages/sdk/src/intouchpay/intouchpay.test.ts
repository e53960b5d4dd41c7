import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { IntouchPayClient, intouchPayPassword, intouchPayTimestamp, type IntouchPayClientOptions } from './client.ts';
import { parseIntouchPayCallback, intouchPayCallbackReply } from './callback.ts';
import { ProviderError, ValidationError } from '../core/errors.ts';
import { FakeFetch, fixture, type RecordedRequest } from '../testing/fake-fetch.ts';

const CREDS = { username: 'testa', accountno: '250160000011', partnerpassword: 'pwd1234' };
// 2024-01-31 23:59:59 UTC; local time zones must not matter
const NOW = new Date(Date.UTC(2024, 0, 31, 23, 59, 59));
// sha256("testa" + "250160000011" + "pwd1234" + "20240131235959"), computed with `sha256sum`
const KNOWN_PASSWORD = '333c0fc47740705b66e28ab19ad8f46a5fb07c9facde0f1d310a521ce6a4cc39';

function client(ff: FakeFetch, extra: Partial<IntouchPayClientOptions> = {}) {
  return new IntouchPayClient({ ...CREDS, baseUrl: 'http://10.0.0.5:8080', fetch: ff.fetch, now: () => NOW, ...extra });
}

function form(req: RecordedRequest): Record<string, string> {
  assert.equal(req.method, 'POST');
  assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
  return Object.fromEntries(new URLSearchParams(req.body));
}

function assertAuth(f: Record<string, string>) {
  assert.equal(f.username, 'testa');
  assert.equal(f.accountno, '250160000011');
  assert.equal(f.timestamp, '20240131235959');
  assert.equal(f.password, KNOWN_PASSWORD);
  assert.equal(f.partnerpassword, undefined, 'the partner password never travels');
}

test('timestamp is UTC yyyymmddhhmmss; password is the known SHA-256 vector', async () => {
  assert.equal(intouchPayTimestamp(NOW), '20240131235959');
  assert.equal(intouchPayTimestamp(new Date(Date.UTC(2025, 2, 5, 4, 3, 2))), '20250305040302');
  assert.equal(await intouchPayPassword({ ...CREDS, timestamp: '20240131235959' }), KNOWN_PASSWORD);
  const independent = createHash('sha256').update('testa250160000011pwd123420240131235959').digest('hex');
  assert.equal(independent, KNOWN_PASSWORD);
  const other = { username: 'ü', accountno: '1', partnerpassword: 'p@ss w', timestamp: '20200101000000' };
  assert.equal(
    await intouchPayPassword(other),
    createHash('sha256').update('ü1p@ss w20200101000000', 'utf8').digest('hex'),
  );
});

test('requestPayment: form post with auth fields; pending answer with string codes', async () => {
  const ff = new FakeFetch().reply(fixture('intouchpay/requestpayment.pending.json'));
  const r = await client(ff).requestPayment({
    amount: '1500',
    mobilephone: '+250788123456',
    requesttransactionid: '4522233',
    callbackurl: 'https://shop.example/intouch/cb',
  });
  assert.equal(ff.last.url, 'http://10.0.0.5:8080/api/requestpayment/');
  const f = form(ff.last);
  assertAuth(f);
  assert.equal(f.amount, '1500');
  assert.equal(f.mobilephone, '250788123456');
  assert.equal(f.requesttransactionid, '4522233');
  assert.equal(f.callbackurl, 'https://shop.example/intouch/cb');
  assert.deepEqual(
    { s: r.status, id: r.requesttransactionid, ok: r.success, code: r.responsecode, tx: r.transactionid, m: r.message },
    { s: 'Pending', id: '4522233', ok: true, code: '1000', tx: '7716', m: 'Transaction Pending' },
  );
});

test('requestPayment: failure codes keep their leading zeros ("0002", "0005") and the raw body', async () => {
  const missing = '{"success":false,"responsecode":"0002","message":"Missing Username Information"}';
  const dup = '{"requesttransactionid":"4522233","success":false,"responsecode":"2400","message":"Duplicate Transaction ID"}';
  const ff = new FakeFetch().reply(missing).reply(dup);
  const c = client(ff);
  const input = { amount: 100n, mobilephone: '250788123456', requesttransactionid: '4522233' };
  await assert.rejects(c.requestPayment(input), (e: unknown) => {
    assert.ok(e instanceof ProviderError);
    assert.equal(e.code, '0002');
    assert.equal(e.providerMessage, 'Missing Username Information');
    assert.equal(e.rawBody, missing);
    return true;
  });
  await assert.rejects(c.requestPayment(input), (e: unknown) => e instanceof ProviderError && e.code === '2400');
});

test('requestPayment: validation before sending (whole RWF, phone, id, no numbers)', async () => {
  const ff = new FakeFetch();
  const c = client(ff);
  const ok = { amount: '100', mobilephone: '250788123456', requesttransactionid: 'r' };
  await assert.rejects(c.requestPayment({ ...ok, amount: '100.5' }), ValidationError);
  await assert.rejects(c.requestPayment({ ...ok, amount: 100 as unknown as string }), ValidationError);
  await assert.rejects(c.requestPayment({ ...ok, mobilephone: '07881' }), ValidationError);
  await assert.rejects(c.requestPayment({ ...ok, requesttransactionid: '' }), ValidationError);
  assert.equal(ff.requests.length, 0);
});

test('requestDeposit: seed success (2001 + referenceid) and failure (no referenceid)', async () => {
  const ff = new FakeFetch()
    .reply(fixture('intouchpay/requestdeposit.success.json'))
    .reply('{\n  "requesttransactionid":"1201",\n  "success":false,\n  "responsecode":"1108"\n}');
  const c = client(ff);
  const r = await c.requestDeposit({
    amount: '5000',
    mobilephone: '250788123456',
    requesttransactionid: '1201',
    withdrawcharge: true,
    reason: 'salary',
    sid: '1',
  });
  assert.deepEqual(
    { id: r.requesttransactionid, ref: r.referenceid, code: r.responsecode, ok: r.success },
    { id: '1201', ref: '1123', code: '2001', ok: true },
  );
  assert.equal(ff.last.url, 'http://10.0.0.5:8080/api/requestdeposit/');
  const f = form(ff.last);
  assertAuth(f);
  assert.deepEqual(
    { a: f.amount, m: f.mobilephone, id: f.requesttransactionid, w: f.withdrawcharge, r: f.reason, s: f.sid },
    { a: '5000', m: '250788123456', id: '1201', w: '1', r: 'salary', s: '1' },
  );
  await assert.rejects(
    c.requestDeposit({ amount: '5000', mobilephone: '250788123456', requesttransactionid: '1201', withdrawcharge: 0 }),
    (e: unknown) => e instanceof ProviderError && e.code === '1108' && e.operation === 'requestDeposit',
  );
  assert.equal(form(ff.last).withdrawcharge, '0');
});

test('getTransactionStatus: "01" successful, "1000" pending, a declined payment is an answer, 3100 throws', async () => {
  const ff = new FakeFetch()
    .reply(fixture('intouchpay/gettransactionstatus.success.json'))
    .reply('{"success":true,"responsecode":"1000","status":"Pending","message":"Transaction Pending"}')
    .reply('{"success":false,"responsecode":"1005","status":"Failed","message":"Insufficient funds"}')
    .reply('{"success":false,"responsecode":"3100","message":"Transaction Doesn\'t Exist"}');
  const c = client(ff);
  const ids = { requesttransactionid: '4522233', transactionid: '7716' };
  const ok = await c.getTransactionStatus(ids);
  assert.deepEqual(
    { s: ok.status, code: ok.responsecode, good: ok.successful, p: ok.pending, m: ok.message },
    { s: 'Successfull', code: '01', good: true, p: false, m: 'Transaction Successful' },
  );
  const f = form(ff.last);
  assertAuth(f);
  assert.equal(ff.last.url, 'http://10.0.0.5:8080/api/gettransactionstatus/');
  assert.equal(f.requesttransactionid, '4522233');
  assert.equal(f.transactionid, '7716');
  assert.equal((await c.getTransactionStatus(ids)).pending, true);
  const declined = await c.getTransactionStatus(ids);
  assert.equal(declined.successful, false);
  assert.equal(declined.responsecode, '1005');
  await assert.rejects(c.getTransactionStatus(ids), (e: unknown) => e instanceof ProviderError && e.code === '3100');
});

test('getBalance: seed and notes answers; failure keeps the code', async () => {
  const ff = new FakeFetch()
    .reply(fixture('intouchpay/getbalance.success.json'))
    .reply(fixture('intouchpay/getbalance.notes.json'))
    .reply('{\n  "success":false,\n  "responsecode":"0005",\n  "message": "Invalid Password"\n}');
  const c = client(ff);
  assert.equal((await c.getBalance()).balance, '0.0');
  assert.equal((await c.getBalance()).balance, '100000.0');
  assert.equal(ff.last.url, 'http://10.0.0.5:8080/api/getbalance/');
  assertAuth(form(ff.last));
  await assert.rejects(c.getBalance(), (e: unknown) => e instanceof ProviderError && e.code === '0005' && e.providerMessage === 'Invalid Password');
});

test('every request gets a fresh timestamp and password from the clock', async () => {
  let now = NOW;
  const ff = new FakeFetch().always(() => ({ body: fixture('intouchpay/getbalance.success.json') }));
  const c = client(ff, { now: () => now });
  await c.getBalance();
  now = new Date(NOW.getTime() + 61_000);
  await c.getBalance();
  const [a, b] = ff.requests.map(form);
  assert.equal(b!.timestamp, '20240201000100');
  assert.notEqual(a!.password, b!.password);
  assert.equal(b!.password, createHash('sha256').update('testa250160000011pwd123420240201000100').digest('hex'));
});

test('callback: JSON {"jsonpayload":{...}} and the reply body', () => {
  const raw = fixture('intouchpay/callback.json');
  for (const body of [raw, new TextEncoder().encode(raw), JSON.parse(raw) as Record<string, unknown>]) {
    const cb = parseIntouchPayCallback(body);
    assert.equal(cb.requesttransactionid, '4522233');
    assert.equal(cb.transactionid, '7716');
    assert.equal(cb.responsecode, '01');
    assert.equal(cb.status, 'Successfull');
    assert.equal(cb.statusdesc, 'Successfully Processed Transaction');
    assert.equal(cb.referenceno, '0012345678', 'leading zeros kept');
    assert.equal(cb.successful, true);
    assert.deepEqual(cb.reply, { message: 'success', success: true, request_id: '4522233' });
    assert.equal(cb.replyBody, '{"message":"success","success":true,"request_id":"4522233"}');
  }
});

test('callback: form body whose jsonpayload field is a JSON string', () => {
  const payload = { requesttransactionid: 'R-9', transactionid: '88', responsecode: '0002', status: 'Failed', statusdesc: 'x', referenceno: '' };
  const body = new URLSearchParams({ jsonpayload: JSON.stringify(payload) });
  for (const b of [body.toString(), body, { jsonpayload: JSON.stringify(payload) }]) {
    const cb = parseIntouchPayCallback(b);
    assert.equal(cb.requesttransactionid, 'R-9');
    assert.equal(cb.responsecode, '0002');
    assert.equal(cb.successful, false);
    assert.equal(cb.reply.request_id, 'R-9');
  }
  assert.equal(parseIntouchPayCallback(body, { request_id: 'mine' }).reply.request_id, 'mine');
  assert.deepEqual(intouchPayCallbackReply('1'), { message: 'success', success: true, request_id: '1' });
});

test('callback: garbage is a ValidationError', () => {
  assert.throws(() => parseIntouchPayCallback('{"nothing":1}'), ValidationError);
  assert.throws(() => parseIntouchPayCallback('jsonpayload=%7Bbroken'), ValidationError);
  assert.throws(() => parseIntouchPayCallback('{broken'), ValidationError);
});
