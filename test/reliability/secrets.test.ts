// Logs and database hold no secret, PIN or token: flows of every dialect run with the log at
// info level into a file, including failed authentications and wrong PINs; then the log file
// and a dump of every table are searched for each merchant secret, PIN and session token used.
// (Card numbers: src/dialects/flexpay/flexpay.test.ts "no card data in DB/logs".)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { startGateway } from '../harness.ts';
import { call, type Creds, flexpay, ibous, intouch, json, kess, kessToken, qrToken, walletLogin, walletPay } from './clients.ts';

test('no merchant secret, PIN or wallet session appears in the log file or any table', async () => {
  const t = await startGateway({ log: true });
  try {
    const m = await t.createMerchant('Secret Shop');
    const creds = m.credentials as Creds;
    const PINS = ['739164', '582047'];
    await t.createPayer('wallet', { phone: '50934000001', pin: PINS[0], currency: 'HTG', balance: '1000' });
    await t.createPayer('subscriber', { phone: '250788600001', pin: PINS[1], currency: 'RWF', balance: '100000' });
    // ibous + wallet: pay, with a wrong PIN first
    const q = await ibous(t.url, creds.ibous, 'CreatePaymentQRcode', { qrcode_size: '4', amount: '60', currency: 'HTG', item: 'x' });
    const session = await walletLogin(t.url, '50934000001', PINS[0]!, 'HTG');
    assert.equal((await walletPay(t.url, session, qrToken(q.body.qrcode_img), '111111')).status, 401);
    assert.equal((await walletPay(t.url, session, qrToken(q.body.qrcode_img), PINS[0]!)).status, 200);
    await ibous(t.url, { ...creds.ibous, api_secret: creds.ibous.api_secret + 'x' }, 'PaymentProcess', { qrcode_id: q.body.qrcode_id });
    // IntouchPay + handset
    const r = await intouch(t.url, creds.intouchpay, 'requestpayment', { amount: '500', mobilephone: '250788600001', requesttransactionid: 's1' }, t.clock.now());
    assert.equal(r.status, 200);
    const p = (await call(`${t.url}/handset/api/250788600001/prompts`)).body.prompts[0];
    assert.equal((await call(`${t.url}/handset/api/250788600001/prompts/${p.id}/approve`, json({ pin: '000000' }))).status, 401);
    assert.equal((await call(`${t.url}/handset/api/250788600001/prompts/${p.id}/approve`, json({ pin: PINS[1] }))).status, 200);
    await intouch(t.url, { ...creds.intouchpay, partner_password: 'nope' }, 'getbalance', {}, t.clock.now());
    // FlexPay, with the token in the body too
    const c = creds.flexpay;
    await flexpay(t.url, c, '/v1.1/pay', { authorization: `Bearer ${c.token}`, merchant: c.merchant, reference: 'S1', amount: '5', currency: 'USD', callback_url: 'http://127.0.0.1:9/cb' });
    await flexpay(t.url, { ...c, token: c.token + 'x' }, '/api/rest/v1/check/abc');
    // KessPay: a token, a call with it, and a wrong password
    const kp = creds.kesspay!;
    const jwt = await kessToken(t.url, kp);
    assert.equal((await kess(t.url, jwt, 'native-pay', { service_id: 30, store_id: kp.store_id, amount: 0.01, out_trade_no: 'S-1' })).status, 200);
    assert.equal((await call(`${t.url}/kesspay/api/token`, json({ user: kp.user, password: kp.password + 'x' }))).body.success, false);
    await new Promise((res) => setTimeout(res, 300)); // let the log stream flush

    const secrets: [string, string][] = [
      ['ibous api_secret', creds.ibous.api_secret],
      ['IntouchPay partner_password', creds.intouchpay.partner_password],
      ['FlexPay token', c.token],
      ['wallet session', session],
      ...PINS.map((x) => ['PIN', x] as [string, string]),
      ['wrong PIN', '111111'],
    ];
    secrets.push(['KessPay password', kp.password], ['KessPay JWT', jwt]);
    const tables = await t.db.query<{ table_name: string }>(`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`);
    let dump = '';
    for (const { table_name } of tables) dump += (await t.db.query(`select x::text as r from "${table_name}" x`)).map((row) => row.r).join('\n') + '\n';
    const log = readFileSync(t.logFile!, 'utf8');
    assert.ok(log.length > 1000 && /requestpayment/.test(log), 'the log did record the requests');
    for (const [what, s] of secrets) {
      const re = new RegExp(`(?<![0-9A-Za-z])${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![0-9A-Za-z])`);
      assert.doesNotMatch(log, re, `${what} in the log`);
      assert.doesNotMatch(dump, re, `${what} in the database`);
    }
  } finally {
    await t.close();
  }
});
