// Hostile callback receivers on 127.0.0.1 (allowed here by PAYGATE_ALLOW_PRIVATE_CALLBACKS=1;
// the refusal of private/loopback/link-local targets by default is proved in
// src/delivery/dispatcher.test.ts): a redirect is not followed, a receiver that hangs costs one
// bounded timeout, a huge answer is read only up to the limit.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { eventually, startGateway, type TestGateway } from '../harness.ts';
import { call, type Creds, flexpay, intouch, json } from './clients.ts';

let t: TestGateway;
let creds: Creds;
const servers: Server[] = [];
let n = 0;

async function serve(h: (req: any, res: any) => void): Promise<string> {
  const s = createServer(h);
  s.listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  servers.push(s);
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}/cb`;
}

before(async () => {
  t = await startGateway({ env: { PAYGATE_DELIVERY_TIMEOUT_MS: '500', PAYGATE_DELIVERY_MAX_ATTEMPTS: '2' } });
  creds = (await t.createMerchant('Callback Shop')).credentials;
  await t.createPayer('subscriber', { phone: '243990500001', pin: '1111', currency: 'USD', balance: '1000' });
});
after(async () => {
  for (const s of servers) { s.closeAllConnections(); s.close(); }
  await t.close();
});

/** A paid FlexPay mobile-money payment whose callback goes to `url`; returns its outbox row id. */
async function paidTo(url: string): Promise<string> {
  const c = creds.flexpay;
  const r = await flexpay(t.url, c, '/api/rest/v1/paymentService', { merchant: c.merchant, type: 1, reference: `cb${++n}`, phone: '243990500001', amount: '1.00', currency: 'USD', callbackUrl: url });
  assert.equal(r.status, 200, r.text);
  const p = (await call(`${t.url}/handset/api/243990500001/prompts`)).body.prompts[0];
  assert.equal((await call(`${t.url}/handset/api/243990500001/prompts/${p.id}/approve`, json({ pin: '1111' }))).status, 200);
  const pay = await t.admin('GET', `/admin/payments/${p.payment_id}`);
  return pay.body.callbacks[0].id;
}

async function attempts(id: string, k: number) {
  return eventually(async () => {
    const r = await t.admin('GET', `/admin/callbacks/${id}`);
    return r.body.attempts.length >= k ? r.body : null;
  }, 20_000);
}

test('a redirect is not followed: the attempt fails with the 3xx, the redirect target is never called', async () => {
  let targetHits = 0;
  const target = await serve((_q, s) => { targetHits++; s.end('{"success":true}'); });
  const redir = await serve((_q, s) => { s.writeHead(307, { location: target }).end(); });
  const row = await attempts(await paidTo(redir), 1);
  assert.equal(row.attempts[0].status_code, 307);
  assert.notEqual(row.state, 'delivered');
  assert.equal(targetHits, 0);
});

test('a receiver that never answers costs one bounded timeout per attempt', async () => {
  const hang = await serve(() => { /* never answers */ });
  const row = await attempts(await paidTo(hang), 1);
  assert.match(row.attempts[0].error, /timed out after 500 ms/);
  assert.equal(row.attempts[0].status_code, null);
});

test('a 2xx whose body then stalls is the acknowledgement: delivered once, the cut noted', async () => {
  const stall = await serve((_q, s) => {
    s.writeHead(200, { 'content-type': 'text/plain' });
    s.write('ok so far'); // and never ends: the attempt's time limit cuts the body
  });
  const id = await paidTo(stall);
  const row = await eventually(async () => {
    const r = await t.admin('GET', `/admin/callbacks/${id}`);
    return r.body.state === 'delivered' ? r.body : null;
  }, 20_000);
  assert.equal(row.attempts.length, 1);
  assert.equal(row.attempts[0].status_code, 200);
  assert.match(row.attempts[0].error, /answer cut short: timed out after 500 ms/);
  assert.equal(row.attempts[0].response_excerpt, 'ok so far');
});

test('where the app must answer {"success": true} (IntouchPay), a body cut short is a failed attempt', async () => {
  await t.createPayer('subscriber', { phone: '250788500001', pin: '1111', currency: 'RWF', balance: '100000' });
  const stall = await serve((_q, s) => {
    s.writeHead(200, { 'content-type': 'application/json' });
    s.write('{"success":'); // and never ends
  });
  const r = await intouch(t.url, creds.intouchpay, 'requestpayment', { amount: '500', mobilephone: '250788500001', requesttransactionid: `cut-${++n}`, callbackurl: stall }, t.clock.now());
  assert.equal(r.body.responsecode, '1000', r.text);
  const p = (await call(`${t.url}/handset/api/250788500001/prompts`)).body.prompts[0];
  assert.equal((await call(`${t.url}/handset/api/250788500001/prompts/${p.id}/approve`, json({ pin: '1111' }))).status, 200);
  const id = (await t.admin('GET', `/admin/payments/${p.payment_id}`)).body.callbacks[0].id;
  const row = await attempts(id, 1);
  assert.equal(row.attempts[0].status_code, 200);
  assert.match(row.attempts[0].error, /answer cut short: timed out after 500 ms/);
  assert.notEqual(row.state, 'delivered');
});

test('a huge answer is read only up to the limit; the excerpt kept is bounded', async () => {
  let written = 0;
  const huge = await serve((_q, s) => {
    s.writeHead(200, { 'content-type': 'text/plain' });
    const chunk = 'x'.repeat(64 * 1024);
    const pump = () => {
      while (written < 50 * 1024 * 1024) {
        written += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    s.on('error', () => {});
    pump();
  });
  const row = await attempts(await paidTo(huge), 1);
  assert.equal(row.attempts[0].status_code, 200);
  assert.equal(row.state, 'delivered', `FlexPay acknowledges with any 2xx: ${JSON.stringify(row)}`);
  assert.ok((row.attempts[0].response_excerpt ?? '').length <= 1024);
  assert.ok(written < 50 * 1024 * 1024, `the gateway stopped reading (${written} bytes written)`);
});
