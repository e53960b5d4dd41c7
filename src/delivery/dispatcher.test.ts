import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, startGateway, startReceiver, type TestGateway } from '../../test/harness.ts';
import { callbackUrlError, isPrivateAddress } from './ssrf.ts';
import { verify } from './signature.ts';
import { Dispatcher, retryDelay_ms } from './dispatcher.ts';

describe('delivery engine', () => {
  let t: TestGateway;
  let merchant: { id: string; webhook_secret: string };
  let payer: { id: string };
  before(async () => {
    t = await startGateway({ env: { PAYGATE_DELIVERY_MAX_ATTEMPTS: '3' } });
    merchant = await t.createMerchant('Callback Shop');
    payer = await t.createPayer('wallet', { phone: '50933000001', currency: 'HTG', balance: '1000' });
    // A dialect-independent callback: one JSON message per payment state change.
    t.gw.payments.registerCallbacks('test', (ev) =>
      ev.kind === 'payment' && ev.payment.callback_url && ev.payment.state !== 'pending'
        ? { event: `payment.${ev.payment.state}`, url: ev.payment.callback_url, body: JSON.stringify({ id: ev.payment.id, state: ev.payment.state }) }
        : null,
    );
  });
  after(async () => { await t.close(); });

  let n = 0;
  async function paidPayment(callback_url: string) {
    const { payment } = await t.gw.payments.create({ merchant_id: merchant.id, dialect: 'test', rail: 'wallet', merchant_ref: `cb-${++n}`, amount_minor: 100n, currency: 'HTG', callback_url });
    await t.gw.payments.pay(payment.id, { kind: 'account', account_id: payer.id });
    return payment.id;
  }

  test('delivers a signed callback and logs the attempt', async () => {
    const rx = await startReceiver();
    const id = await paidPayment(rx.url);
    const [got] = await rx.waitFor(1);
    assert.deepEqual(JSON.parse(got!.body), { id, state: 'succeeded' });
    const sig = String(got!.headers['paygate-signature']);
    assert.match(sig, /^t=\d+,v1=[0-9a-f]{64}$/);
    const now_s = Math.floor(t.clock.now().getTime() / 1000);
    assert.equal(verify(got!.body, sig, merchant.webhook_secret, now_s), true);
    assert.equal(verify(got!.body + ' ', sig, merchant.webhook_secret, now_s), false);
    assert.equal(verify(got!.body, sig, 'whsec_other', now_s), false);
    const list = await eventually(async () => {
      const r = await t.admin('GET', `/admin/callbacks?payment_id=${id}`);
      return r.body.items[0]?.state === 'delivered' ? r.body.items : null;
    });
    const detail = await t.admin('GET', `/admin/callbacks/${list[0].id}`);
    assert.equal(detail.body.attempts.length, 1);
    assert.equal(detail.body.attempts[0].status_code, 200);
    assert.equal(typeof detail.body.attempts[0].latency_ms, 'number');
    await rx.close();
  });

  test('a commit that wrote callbacks wakes the dispatcher at once; a create wakes nobody', async () => {
    // Polling every 10 minutes: a prompt delivery can only come from the wake-up.
    const slow = await startGateway({ env: { PAYGATE_DELIVERY_POLL_MS: '600000' } });
    try {
      const m = await slow.createMerchant('Wake Shop');
      const w = await slow.createPayer('wallet', { phone: '50933000002', currency: 'HTG', balance: '1000' });
      slow.gw.payments.registerCallbacks('test', (ev) =>
        ev.kind === 'payment' && ev.payment.state !== 'pending' ? { event: 'payment', url: ev.payment.callback_url!, body: JSON.stringify({ id: ev.payment.id }) } : null);
      const rx = await startReceiver();
      await eventually(() => slow.gw.dispatcher.stats.passes >= 1); // the first pass at start
      const passes = slow.gw.dispatcher.stats.passes;
      const created = [];
      for (let i = 0; i < 20; i++) {
        created.push((await slow.gw.payments.create({ merchant_id: m.id, dialect: 'test', rail: 'wallet', merchant_ref: `wake-${i}`, amount_minor: 100n, currency: 'HTG', callback_url: rx.url })).payment);
      }
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(slow.gw.dispatcher.stats.passes, passes, 'creates write no callbacks and wake nobody');
      await slow.gw.payments.pay(created[0]!.id, { kind: 'account', account_id: w.id });
      const [got] = await rx.waitFor(1);
      assert.deepEqual(JSON.parse(got!.body), { id: created[0]!.id });
      assert.ok(slow.gw.dispatcher.stats.passes > passes);
      await rx.close();
    } finally {
      await slow.close();
    }
  });

  test('retries after receiver failures, with identical payloads, then stops', async () => {
    const rx = await startReceiver((k) => (k <= 2 ? { status: 500, body: 'boom' } : { status: 200, body: 'ok' }));
    await paidPayment(rx.url);
    const got = await rx.waitFor(3);
    assert.equal(new Set(got.map((g) => g.body)).size, 1, 'same payload on every attempt');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(rx.received.length, 3, 'no delivery after success');
    await rx.close();
  });

  test('dead-letters after the last attempt; operator redelivery sends it again', async () => {
    const rx = await startReceiver(() => ({ status: 503, body: 'down' }));
    const id = await paidPayment(rx.url);
    await rx.waitFor(3);
    const row = await eventually(async () => {
      const r = await t.admin('GET', `/admin/callbacks?payment_id=${id}`);
      return r.body.items[0]?.state === 'dead' ? r.body.items[0] : null;
    });
    const detail = await t.admin('GET', `/admin/callbacks/${row.id}`);
    assert.deepEqual(detail.body.attempts.map((a: any) => a.status_code), [503, 503, 503]);
    const re = await t.admin('POST', `/admin/callbacks/${row.id}/redeliver`);
    assert.equal(re.status, 202);
    await rx.waitFor(4);
    assert.equal((await t.admin('POST', '/admin/callbacks/999999999/redeliver')).status, 404);
    await rx.close();
  });

  test('a json_success callback counts as delivered only when the app answers success true (or "true")', async () => {
    const answers = ['{"success":false}', 'not json', '{"success":"true"}'];
    const rx = await startReceiver((k) => ({ status: 200, body: answers[k - 1] ?? '{"success":true}' }));
    t.gw.payments.registerCallbacks('test-ack', (ev) =>
      ev.kind === 'payment' && ev.payment.state === 'succeeded' ? { event: 'x', url: rx.url, body: '{"jsonpayload":{}}', ack: 'json_success' } : null);
    const { payment } = await t.gw.payments.create({ merchant_id: merchant.id, dialect: 'test-ack', rail: 'wallet', merchant_ref: 'ack-1', amount_minor: 100n, currency: 'HTG' });
    await t.gw.payments.pay(payment.id, { kind: 'account', account_id: payer.id });
    await rx.waitFor(3);
    const row = await eventually(async () => {
      const r = await t.admin('GET', `/admin/callbacks?payment_id=${payment.id}`);
      return r.body.items[0]?.state === 'delivered' ? r.body.items[0] : null;
    });
    const d = await t.admin('GET', `/admin/callbacks/${row.id}`);
    assert.deepEqual(d.body.attempts.map((a: any) => a.error === null), [false, false, true]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rx.received.length, 3);
    await rx.close();
  });

  test('a receiver answering with a NUL byte is delivered once and logged (Postgres text cannot hold NUL)', async () => {
    const rx = await startReceiver(() => ({ status: 200, body: '{"ok":true}\u0000' }));
    const id = await paidPayment(rx.url);
    const row = await eventually(async () => {
      const r = await t.admin('GET', `/admin/callbacks?payment_id=${id}`);
      return r.body.items[0]?.state === 'delivered' ? r.body.items[0] : null;
    });
    const d = await t.admin('GET', `/admin/callbacks/${row.id}`);
    assert.equal(d.body.attempts.length, 1);
    assert.equal(d.body.attempts[0].response_excerpt, '{"ok":true}\uFFFD');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rx.received.length, 1);
    await rx.close();
  });

  test('the retry schedule is exponential and capped', () => {
    const c = { base_ms: 1000, factor: 4, cap_ms: 3_600_000, maxAttempts: 10, timeout_ms: 5000, poll_ms: 500 };
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((k) => retryDelay_ms(k, c)), [1000, 4000, 16000, 64000, 256000, 1024000, 3600000]);
  });

  test('private, loopback and link-local callback addresses are refused by default', async () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '100.64.0.1']) {
      assert.equal(isPrivateAddress(ip), true, ip);
    }
    for (const ip of ['8.8.8.8', '1.1.1.1', '2606:4700::1111']) assert.equal(isPrivateAddress(ip), false, ip);
    assert.match((await callbackUrlError('http://127.0.0.1:9/x', false))!, /private/);
    assert.match((await callbackUrlError('http://localhost/x', false))!, /private/);
    assert.match((await callbackUrlError('http://[::1]/x', false))!, /private/);
    assert.match((await callbackUrlError('http://169.254.169.254/latest', false))!, /private/);
    assert.match((await callbackUrlError('ftp://example.com/', false))!, /http/);
    assert.match((await callbackUrlError('http://user:pw@example.com/', false))!, /credentials/);
    assert.equal(await callbackUrlError('http://127.0.0.1:9/x', true), null);
    assert.equal(await callbackUrlError('https://8.8.8.8/cb', false), null);
  });

  test('the dispatcher itself refuses a private address when not allowed, and logs why', async () => {
    const strict = await startGateway({ env: { PAYGATE_ALLOW_PRIVATE_CALLBACKS: '0', PAYGATE_DELIVERY_MAX_ATTEMPTS: '1' } });
    try {
      const rx = await startReceiver();
      const m = await strict.createMerchant('Strict');
      const w = await strict.createPayer('wallet', { phone: '50933000002', currency: 'HTG', balance: '10' });
      strict.gw.payments.registerCallbacks('test', (ev) => ev.kind === 'payment' && ev.payment.state === 'succeeded' ? { event: 'x', url: rx.url, body: '{}' } : null);
      const { payment } = await strict.gw.payments.create({ merchant_id: m.id, dialect: 'test', rail: 'wallet', merchant_ref: 'x', amount_minor: 100n, currency: 'HTG' });
      await strict.gw.payments.pay(payment.id, { kind: 'account', account_id: w.id });
      const row = await eventually(async () => {
        const r = await strict.admin('GET', `/admin/callbacks?payment_id=${payment.id}`);
        return r.body.items[0]?.state === 'dead' ? r.body.items[0] : null;
      });
      const d = await strict.admin('GET', `/admin/callbacks/${row.id}`);
      assert.match(d.body.attempts[0].error, /private/);
      assert.equal(rx.received.length, 0);
      await rx.close();
    } finally {
      await strict.close();
    }
  });

  test('two dispatchers never deliver the same attempt twice', async () => {
    const rx = await startReceiver();
    t.gw.dispatcher.kick();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await paidPayment(rx.url));
    // A second dispatcher (as on another node) races the running one over the same rows.
    const other = new Dispatcher(t.gw.db, t.gw.merchants, t.clock, t.gw.config.delivery, true, t.gw.log);
    await Promise.all([other.runOnce(), other.runOnce(), t.gw.dispatcher.runOnce()]);
    await rx.waitFor(10);
    await new Promise((r) => setTimeout(r, 300));
    const bodies = rx.received.map((r) => JSON.parse(r.body).id);
    assert.equal(bodies.length, 10);
    assert.equal(new Set(bodies).size, 10);
    await rx.close();
  });
});
