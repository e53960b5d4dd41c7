import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, startGateway, type TestGateway } from '../../test/harness.ts';
import type { Queryable } from '../store/db.ts';

describe('operator API', () => {
  let t: TestGateway;
  before(async () => { t = await startGateway(); });
  after(async () => { await t.close(); });

  test('refuses requests without the operator token', async () => {
    const res = await fetch(t.url + '/admin/merchants');
    assert.equal(res.status, 401);
    const wrong = await fetch(t.url + '/admin/merchants', { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
  });

  test('creates a merchant with credentials for every dialect', async () => {
    const r = await t.admin('POST', '/admin/merchants', { name: 'Zando' });
    assert.equal(r.status, 201);
    assert.match(r.body.id, /^\d+$/);
    assert.equal(r.body.name, 'Zando');
    const c = r.body.credentials;
    assert.ok(c.ibous.api_key && c.ibous.api_secret);
    assert.ok(c.kesspay.user && c.kesspay.password && /^\d+$/.test(c.kesspay.store_id));
    assert.ok(c.intouchpay.username && c.intouchpay.accountno && c.intouchpay.partner_password);
    assert.ok(c.flexpay.merchant && c.flexpay.token);
    const got = await t.admin('GET', `/admin/merchants/${r.body.id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.name, 'Zando');
    assert.equal(JSON.stringify(got.body).includes(c.ibous.api_secret), false, 'secrets are not readable back');
    // Verify-only secrets are stored hashed, protocol secrets sealed: none in plain in the database.
    const dump = JSON.stringify(await t.db.query('select * from merchant_credentials'), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    for (const s of [c.ibous.api_secret, c.kesspay.password, c.intouchpay.partner_password, c.flexpay.token]) assert.equal(dump.includes(s), false);
  });

  test('a dialect secret authenticates its own identifier only', async () => {
    const [a, b] = [await t.createMerchant('Auth Shop A'), await t.createMerchant('Auth Shop B')];
    const auth = (dialect: 'ibous' | 'kesspay' | 'intouchpay', id: string, secret: unknown) => t.gw.merchants.authenticate(dialect, id, secret as string);
    assert.equal((await auth('ibous', a.credentials.ibous.api_key, a.credentials.ibous.api_secret))?.merchant_id, a.id);
    assert.equal((await auth('kesspay', b.credentials.kesspay.user, b.credentials.kesspay.password))?.merchant_id, b.id);
    for (const [id, secret] of [
      [a.credentials.ibous.api_key, b.credentials.ibous.api_secret], // another merchant's secret
      [a.credentials.ibous.api_key, a.credentials.ibous.api_secret + 'x'],
      [a.credentials.ibous.api_key, ''],
      [a.credentials.ibous.api_key, 42],
      ['no-such-key', a.credentials.ibous.api_secret],
    ] as const) assert.equal(await auth('ibous', id, secret), null, `${String(id)} / ${String(secret)}`);
    // IntouchPay's password is sealed, not hashed: no secret (not even an empty one) matches a missing hash.
    for (const secret of ['', a.credentials.intouchpay.partner_password]) assert.equal(await auth('intouchpay', a.credentials.intouchpay.username, secret), null);
  });

  test('changes settings and fee rates', async () => {
    const m = await t.createMerchant('Settings Shop');
    const r = await t.admin('PATCH', `/admin/merchants/${m.id}`, { settings: { currencies: ['HTG', 'USD'] }, fee_bps: { wallet: 150 } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.settings.currencies, ['HTG', 'USD']);
    const w = await t.createPayer('wallet', { phone: '50937222222', currency: 'HTG', balance: '100' });
    const { payment } = await t.gw.payments.create({ merchant_id: m.id, dialect: 'test', rail: 'wallet', merchant_ref: 'fee-1', amount_minor: 10000n, currency: 'HTG' });
    const paid = await t.gw.payments.pay(payment.id, { kind: 'account', account_id: w.id });
    assert.equal(paid.fee_minor, 150n, '1.5 % of 100.00');
    for (const bad of [{ fee_bps: { wallet: 10001 } }, { fee_bps: { bank: 1 } }, { settings: 'x' }, { settings: { big: 'x'.repeat(5000) } }]) {
      assert.equal((await t.admin('PATCH', `/admin/merchants/${m.id}`, bad)).status, 400, JSON.stringify(bad).slice(0, 50));
    }
    assert.equal((await t.admin('PATCH', '/admin/merchants/999999', { settings: {} })).status, 404);
  });

  test('rejects bad merchant input with a clear 400', async () => {
    for (const body of [{}, { name: '' }, { name: 'x'.repeat(201) }, { name: 42 }]) {
      const r = await t.admin('POST', '/admin/merchants', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, 'invalid_request');
    }
  });

  test('creates wallets and subscribers with an exact balance', async () => {
    const w = await t.admin('POST', '/admin/wallets', { name: 'Ana', phone: '+50937111111', pin: '4321', currency: 'HTG', balance: '1500.25' });
    assert.equal(w.status, 201);
    assert.equal(w.body.balance, '1500.25');
    assert.equal(w.body.balance_minor, '150025');
    assert.equal(w.body.phone, '50937111111');
    const s = await t.admin('POST', '/admin/subscribers', { name: 'Jean', phone: '250788000001', pin: '1234', currency: 'RWF', balance: '1000' });
    assert.equal(s.status, 201);
    assert.equal(s.body.network, 'MTN');
    assert.equal(s.body.balance, '1000');
    const dup = await t.admin('POST', '/admin/wallets', { name: 'Ana', phone: '50937111111', pin: '4321', currency: 'HTG' });
    assert.equal(dup.status, 409);
    for (const bad of [
      { name: 'A', phone: 'abc', pin: '1234', currency: 'HTG' },
      { name: 'A', phone: '50937111112', pin: '12', currency: 'HTG' },
      { name: 'A', phone: '50937111112', pin: '1234', currency: 'XXX' },
      { name: 'A', phone: '50937111112', pin: '1234', currency: 'HTG', balance: '1.001' },
      { name: 'A', phone: '50937111112', pin: '1234', currency: 'HTG', balance: '-5' },
    ]) {
      const r = await t.admin('POST', '/admin/wallets', bad);
      assert.equal(r.status, 400, JSON.stringify(bad));
    }
    const acct = await t.admin('GET', `/admin/accounts/${w.body.id}`);
    assert.equal(acct.body.balance_minor, '150025');
    assert.deepEqual(await t.verify(), []);
  });

  test('serves health, readiness, metrics and OpenAPI', async () => {
    assert.equal((await fetch(t.url + '/healthz')).status, 200);
    const ready = await (await fetch(t.url + '/readyz')).json();
    assert.equal(ready.status, 'ready');
    const metrics = await (await fetch(t.url + '/metrics')).text();
    assert.match(metrics, /paygate_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1/);
    const created = Number(/paygate_group_commit_items_total\{op="create"\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(created >= 0 && /paygate_group_commit_statements_total\{op="pay"\} \d+/.test(metrics) && /paygate_group_commit_items_total\{op="pin_check"\} \d+/.test(metrics), 'group-commit counters per op');
    assert.match(metrics, /paygate_group_commit_seconds_total\{op="create"\} \d+\.\d{6}\n/, 'statement time per op');
    const doc = await (await fetch(t.url + '/openapi.json')).json();
    assert.equal(doc.openapi, '3.0.3');
    assert.ok(doc.paths['/admin/merchants']);
    const docs = await fetch(t.url + '/docs');
    assert.match(await docs.text(), /\/admin\/merchants/);
  });

  /**
   * Starts an operator read while `locked` is held, waits until the read is blocked on it (on
   * Postgres; PGlite has one connection, so the read waits for the whole transaction), then
   * commits `write`: a view read in separate statements would see the rows it read first from
   * before the commit and the locked one from after it.
   */
  async function straddle(locked: string, blockedRead: string, path: string, write: (q: Queryable) => Promise<void>) {
    let read!: Promise<any>;
    await t.db.tx(async (q) => {
      await q.query(`lock table ${locked} in access exclusive mode`);
      read = t.admin('GET', path);
      if (t.db.engine === 'postgres') {
        // The view's own read (the dispatcher may wait on the same lock), in this test's database.
        await eventually(async () => (await t.db.query(`select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like $1`, [`%${blockedRead}%`])).length > 0);
      }
      await write(q);
    });
    const r = await read;
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  }

  test('a callback is read in one snapshot: never a pending row beside the attempt that delivered it', async () => {
    const m = await t.createMerchant('Snapshot Shop');
    const far = new Date(t.clock.now().getTime() + 86_400_000); // never due: no dispatcher touches it
    const [{ id }] = await t.db.query(
      `insert into outbox (merchant_id, event, url, body, next_attempt_at, created_at, attempts) values ($1, 'payment.succeeded', 'http://127.0.0.1:9/cb', '{}', $2, $2, 1) returning id`,
      [m.id, far],
    );
    // The dispatcher's commit: the row's new state and the attempt's log line together.
    const view = await straddle('delivery_attempts', 'from delivery_attempts where outbox_id', `/admin/callbacks/${id}`, async (q) => {
      await q.query(`update outbox set state = 'delivered', delivered_at = $2 where id = $1`, [id, far]);
      await q.query(`insert into delivery_attempts (outbox_id, attempt, status_code, latency_ms, created_at) values ($1, 1, 200, 3, $2)`, [id, far]);
    });
    assert.equal(view.attempts.length === 1, view.state === 'delivered', `one snapshot: ${JSON.stringify(view)}`);
  });

  test('a payment is read in one snapshot with its callbacks', async () => {
    const m = await t.createMerchant('Snapshot Shop 2');
    const { payment } = await t.gw.payments.create({ merchant_id: m.id, dialect: 'test', rail: 'wallet', merchant_ref: 'snap-1', amount_minor: 1500n, currency: 'HTG' });
    const far = new Date(t.clock.now().getTime() + 86_400_000);
    // A state change committed with the callback it announces (as every writer of payments does).
    const view = await straddle('outbox', 'from outbox where payment_id', `/admin/payments/${payment.id}`, async (q) => {
      await q.query(`update payments set state = 'cancelled', version = version + 1 where id = $1`, [payment.id]);
      await q.query(`insert into outbox (merchant_id, event, payment_id, url, body, next_attempt_at, created_at) values ($1, 'payment.cancelled', $2, 'http://127.0.0.1:9/cb', '{}', $3, $3)`, [m.id, payment.id, far]);
    });
    assert.equal(view.callbacks.length === 1, view.state === 'cancelled', `one snapshot: ${JSON.stringify(view)}`);
  });

  test('unknown routes and oversized bodies get JSON 4xx errors', async () => {
    const r = await fetch(t.url + '/nope');
    assert.equal(r.status, 404);
    const big = await fetch(t.url + '/admin/merchants', {
      method: 'POST',
      headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(70_000) }),
    });
    assert.equal(big.status, 413);
    const badJson = await fetch(t.url + '/admin/merchants', {
      method: 'POST',
      headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' },
      body: '{"name":',
    });
    assert.equal(badJson.status, 400);
  });
});
