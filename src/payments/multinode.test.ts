// Several gateway nodes on one Postgres database work as one gateway: a payment created on
// node A, paid on node B, is seen as paid in node C's status cache; expiry sweepers and
// delivery dispatchers run on every node and never do the same work twice.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ENGINE, eventually, freshPostgresDatabase, startGateway, startReceiver, type TestGateway } from '../../test/harness.ts';
import type { CallbackBuilder } from './service.ts';
import type { PaymentRecord } from './model.ts';

const SKIP = ENGINE !== 'postgres' ? 'several nodes need a shared Postgres database (runs with PAYGATE_TEST_ENGINE=postgres)' : false;

describe('three gateway nodes on one Postgres database', { skip: SKIP }, () => {
  let drop: () => Promise<void>;
  let dbUrl: string;
  let nodes: TestGateway[] = [];
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let merchantId: string;
  const [A, B, C] = [0, 1, 2];

  // Dialect-independent callbacks: one per final state of a 'test' payment.
  const builder = (url: () => string): CallbackBuilder => (ev) =>
    ev.kind === 'payment' && ev.payment.state !== 'pending'
      ? { event: `payment.${ev.payment.state}`, url: url(), body: JSON.stringify({ id: ev.payment.id, state: ev.payment.state }) }
      : null;

  before(async () => {
    const db = await freshPostgresDatabase();
    drop = db.drop;
    dbUrl = db.url;
    receiver = await startReceiver();
    // One at a time: the first applies the migrations. Nodes of one gateway share the secret
    // key (merchant secrets are stored encrypted with it; any node may sign any callback).
    const env = { PAYGATE_SECRET_KEY: randomBytes(32).toString('hex') };
    for (let i = 0; i < 3; i++) nodes.push(await startGateway({ databaseUrl: db.url, env }));
    for (const n of nodes) n.gw.payments.registerCallbacks('test', builder(() => receiver.url));
    merchantId = (await nodes[A]!.createMerchant('Multi Node Shop')).id;
  });

  after(async () => {
    for (const n of nodes) await n.close();
    await receiver?.close();
    await drop?.();
  });

  const create = (node: number, ref: string, ttl_ms?: number) =>
    nodes[node]!.gw.payments.create({
      merchant_id: merchantId, dialect: 'test', rail: 'wallet', merchant_ref: ref, amount_minor: 1500n, currency: 'HTG',
      callback_url: receiver.url, ...(ttl_ms ? { ttl_ms } : {}),
    });

  test('a change whose notification is lost still reaches every node within the catch-up interval', async () => {
    const { payment } = await create(A, 'mn-lost');
    for (const n of [B, C]) assert.equal((await nodes[n]!.gw.status.get(payment.id))!.state, 'pending');
    // As if the node that made the change died between its commit and its notification:
    // the row changes, nobody is told.
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    await c.query(`update payments set state = 'cancelled', failure_code = 'cancelled', version = version + 1, updated_at = now() where id = $1`, [payment.id]);
    await c.end();
    for (const n of [B, C]) {
      const seen = await eventually(async () => {
        const p = await nodes[n]!.gw.status.get(payment.id);
        return p?.state === 'cancelled' ? p : null;
      }, 10_000);
      assert.equal(seen!.state, 'cancelled');
    }
  });

  test('a notification not signed by the gateway (any database role may NOTIFY) changes no cache', async () => {
    const { payment } = await create(A, 'mn-forged');
    assert.equal((await nodes[C]!.gw.status.get(payment.id))!.state, 'pending');
    const forged = { ...payment, state: 'succeeded', version: 999, amount_minor: String(payment.amount_minor), surcharge_minor: '0', fee_minor: '0', refunded_minor: '0' };
    const json = JSON.stringify({ t: 'payment', id: payment.id, v: 999, p: forged });
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    for (const payload of [`intruder AAAAAAAAAAAAAAAAAAAAAA ${json}`, json]) await c.query('select pg_notify($1, $2)', ['paygate_changes', payload]);
    await c.end();
    await new Promise((r) => setTimeout(r, 300));
    const seen = nodes[C]!.gw.status.peek(payment.id)!;
    assert.equal(seen.state, 'pending');
    assert.equal(seen.version, payment.version);
  });

  test('created on A, paid on B, seen as paid on C; one callback, one request per attempt', async () => {
    const payer = await nodes[B]!.createPayer('wallet', { phone: '50937000111', currency: 'HTG', balance: '100' });
    const { payment } = await create(A, 'mn-1');
    // C learns about the pending payment (a poll lands there first) and caches it.
    assert.equal((await nodes[C]!.gw.status.get(payment.id))!.state, 'pending');
    // Count C's reads of single payments from here on.
    const cPayments = nodes[C]!.gw.payments;
    const read = cPayments.get.bind(cPayments);
    let reads = 0;
    cPayments.get = (...a) => { reads++; return read(...a); };
    const paid = await nodes[B]!.gw.payments.pay(payment.id, { kind: 'account', account_id: payer.id });
    assert.equal(paid.state, 'succeeded');
    // C's cache follows the change feed: the notification carries the payment itself.
    const seen = await eventually(() => {
      const p = nodes[C]!.gw.status.peek(payment.id);
      return p && p.state === 'succeeded' ? p : null;
    }, 10_000, 10);
    cPayments.get = read;
    assert.deepEqual(seen, paid, 'C holds exactly the record B committed');
    assert.equal(reads, 0, 'without a read of its own');
    // A hears the same notification on its own connection, not necessarily before C.
    const onA = await eventually(async () => ((await nodes[A]!.gw.status.get(payment.id))?.state === 'succeeded' ? true : null), 10_000, 10);
    assert.equal(onA, true);
    await receiver.waitFor(1);
    // Every dispatcher had the chance to send it: one outbox row, delivered, and the receiver
    // got exactly one request per logged attempt (one unless an attempt timed out under load).
    await new Promise((r) => setTimeout(r, 400));
    const rows = (await nodes[C]!.admin('GET', `/admin/callbacks?payment_id=${payment.id}`)).body.items;
    assert.equal(rows.length, 1);
    assert.equal(rows[0].state, 'delivered');
    const attempts = (await nodes[A]!.admin('GET', `/admin/callbacks/${rows[0].id}`)).body.attempts;
    const got = receiver.received.filter((r) => JSON.parse(r.body).id === payment.id);
    assert.equal(got.length, attempts.length, 'one request per attempt');
    assert.equal(rows[0].attempts, attempts.length);
    assert.ok(got.every((r) => JSON.parse(r.body).state === 'succeeded'));
    assert.deepEqual(await nodes[A]!.verify(), []);
  });

  // B hears A's create (the announcement carries the record) and pays it without reading it.
  const heardOnB = async (ref: string) => {
    const { payment } = await create(A, ref);
    await eventually(() => nodes[B]!.gw.status.peek(payment.id)?.state === 'pending', 5_000, 5);
    return payment;
  };

  test('a payment created on A is paid on B from what A announced, without a read first', async () => {
    const payer = await nodes[B]!.createPayer('wallet', { phone: '50937000444', currency: 'HTG', balance: '100' });
    const pb = nodes[B]!.gw.payments;
    // The first pay of this payer on B reads its facts (payer, fee rate, accounts) and keeps them.
    const first = await heardOnB('mn-facts-1');
    const { payer_balance_minor: afterFirst } = await pb.payFrom(first.id, payer.id);
    const before = { ...pb.payFacts };
    const second = await heardOnB('mn-facts-2');
    const { payment, payer_balance_minor } = await pb.payFrom(second.id, payer.id);
    assert.equal(payment.state, 'succeeded');
    assert.deepEqual(pb.payFacts, { known: before.known + 1, read: before.read }, 'paid from memory');
    assert.equal(payer_balance_minor, afterFirst - 1500n);
    const metrics = await (await fetch(nodes[B]!.url + '/metrics')).text();
    assert.match(metrics, new RegExp(`paygate_pay_facts_total\\{source="memory"\\} ${pb.payFacts.known}\n`));
    assert.deepEqual(await nodes[B]!.verify(), []);
  });

  test('pay facts that do not match the payment row never reach the ledger', async () => {
    const payer = await nodes[B]!.createPayer('wallet', { phone: '50937000555', currency: 'HTG', balance: '1000' });
    const pb = nodes[B]!.gw.payments;
    // B learns this payer and a second merchant (its accounts and fee rate) by paying it twice
    // (the first pay of a new merchant creates its account, the full way).
    const other = (await nodes[A]!.createMerchant('Other Shop')).id;
    let balance = 0n;
    for (const ref of ['mn-wrong-a', 'mn-wrong-b']) {
      const { payment: learn } = await nodes[A]!.gw.payments.create({ merchant_id: other, dialect: 'test', rail: 'wallet', merchant_ref: ref, amount_minor: 1500n, currency: 'HTG' });
      await eventually(() => nodes[B]!.gw.status.peek(learn.id)?.state === 'pending', 5_000, 5);
      balance = (await pb.payFrom(learn.id, payer.id)).payer_balance_minor;
    }
    const otherBalance = await pb.merchantBalance(other, 'HTG');
    const recent = (pb as unknown as { recent: Map<string, PaymentRecord> }).recent;
    // As a wrong announcement would leave it: same id and version, another amount, surcharge or merchant.
    for (const [i, wrong] of [{ amount_minor: 1n }, { surcharge_minor: 100n }, { merchant_id: other }].entries()) {
      // A refused statement makes B forget the payer's facts: a clean pay first learns them again.
      const clean = await heardOnB(`mn-clean-${i + 1}`);
      balance = (await pb.payFrom(clean.id, payer.id)).payer_balance_minor;
      const p = await heardOnB(`mn-wrong-${i + 1}`);
      recent.set(p.id, { ...recent.get(p.id)!, ...wrong });
      const before = { ...pb.payFacts };
      const { payment, payer_balance_minor } = await pb.payFrom(p.id, payer.id);
      assert.equal(pb.payFacts.known, before.known + 1, 'the wrong facts were tried');
      // The paying statement left it alone; the full transaction paid the row's amount to its merchant.
      assert.equal(payment.state, 'succeeded');
      assert.equal(payment.amount_minor, 1500n);
      assert.equal(payer_balance_minor, balance - 1500n, `payer debited the row's amount (${JSON.stringify(wrong, (_k, v) => (typeof v === 'bigint' ? String(v) : v))})`);
      balance = payer_balance_minor;
    }
    assert.equal(await pb.merchantBalance(other, 'HTG'), otherBalance, 'nothing went to the other merchant');
    assert.deepEqual(await nodes[B]!.verify(), []);
  });

  test('expiry sweepers on all nodes expire each payment once, with one callback each', async () => {
    const before = receiver.received.length;
    const created = await Promise.all(Array.from({ length: 12 }, (_, i) => create(i % 3, `mn-exp-${i}`, 1_000)));
    for (const n of nodes) n.clock.advance(2_000); // each node's sweeper now finds them due
    for (const { payment } of created) {
      await eventually(async () => (await nodes[(Number(payment.id) + 1) % 3]!.gw.payments.get(payment.id))?.state === 'expired', 10_000);
    }
    // Every node's cache ends up with the expiry.
    for (const n of nodes) {
      for (const { payment } of created) await eventually(() => n.gw.status.peek(payment.id)?.state === 'expired' || !n.gw.status.peek(payment.id), 5_000, 10);
    }
    await receiver.waitFor(before + created.length);
    await new Promise((r) => setTimeout(r, 400));
    const bodies = receiver.received.slice(before).map((r) => JSON.parse(r.body));
    assert.deepEqual(new Set(bodies.map((b) => b.id)), new Set(created.map((c) => c.payment.id)));
    assert.ok(bodies.every((b) => b.state === 'expired'));
    // One outbox row each (expired once), delivered, and one request per attempt across all
    // dispatchers: no attempt was sent by two nodes.
    for (const { payment } of created) {
      const r = await nodes[B]!.admin('GET', `/admin/callbacks?payment_id=${payment.id}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.items.length, 1, `one outbox row for ${payment.id}: ${JSON.stringify(r.body.items)}`);
      assert.equal(r.body.items[0].state, 'delivered');
      const log = await nodes[C]!.admin('GET', `/admin/callbacks/${r.body.items[0].id}`);
      assert.equal(log.body.attempts.length, r.body.items[0].attempts);
      assert.equal(bodies.filter((b) => b.id === payment.id).length, log.body.attempts.length, `one request per attempt for ${payment.id}`);
    }
    assert.deepEqual(await nodes[C]!.verify(), []);
  });

  test('a node whose LISTEN connection drops reconnects and catches up on what it missed', async () => {
    const payer = await nodes[A]!.createPayer('wallet', { phone: '50937000222', currency: 'HTG', balance: '100' });
    const { payment } = await create(A, 'mn-reconnect');
    assert.equal((await nodes[C]!.gw.status.get(payment.id))!.state, 'pending');
    // Cut every node's listening connection, then change the payment while they are away.
    const admin = new pg.Client({ connectionString: dbUrl });
    await admin.connect();
    const cut = await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query = 'listen paygate_changes'`);
    await admin.end();
    assert.equal(cut.rowCount, 3);
    await nodes[B]!.gw.payments.pay(payment.id, { kind: 'account', account_id: payer.id });
    await eventually(() => nodes[C]!.gw.status.peek(payment.id)?.state === 'succeeded', 10_000, 20);
    // And the feed works again afterwards.
    const { payment: next } = await create(B, 'mn-reconnect-2');
    assert.equal((await nodes[C]!.gw.status.get(next.id))!.state, 'pending');
    await nodes[A]!.gw.payments.fail(next.id, 'cancelled', 'cancelled');
    await eventually(() => nodes[C]!.gw.status.peek(next.id)?.state === 'cancelled', 10_000, 20);
  });
});

describe('a node on its own announces no changes; a second node is heard and then told', { skip: SKIP }, () => {
  let drop: () => Promise<void>;
  const nodes: TestGateway[] = [];
  let listener: pg.Client;
  const heard: string[] = [];
  let dbUrl: string;
  const env = { PAYGATE_SECRET_KEY: randomBytes(32).toString('hex') };

  before(async () => {
    const db = await freshPostgresDatabase();
    drop = db.drop;
    dbUrl = db.url;
    listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    listener.on('notification', (n) => heard.push(n.payload ?? ''));
    await listener.query('listen paygate_changes');
    nodes.push(await startGateway({ databaseUrl: db.url, env }));
  });

  after(async () => {
    for (const n of nodes) await n.close();
    await listener?.end();
    await drop?.();
  });

  // Each notification packs one or more messages: "<node id> <mac> [<message>,…]".
  const kinds = (from: string) => heard.filter((h) => h.startsWith(from + ' ')).flatMap((h) => (JSON.parse(h.slice(h.indexOf(' ', from.length + 1) + 1)) as { t: string }[]).map((m) => m.t));

  test('alone: only hellos; with a peer: the changes too, on both nodes', async () => {
    const a = nodes[0]!;
    const m = await a.createMerchant('Lone Node Shop');
    const payer = await a.createPayer('wallet', { phone: '50937000333', currency: 'HTG', balance: '100' });
    const mk = (n: TestGateway, ref: string) => n.gw.payments.create({ merchant_id: m.id, dialect: 'test', rail: 'wallet', merchant_ref: ref, amount_minor: 1500n, currency: 'HTG' });
    const { payment } = await mk(a, 'lone-1');
    await a.gw.payments.pay(payment.id, { kind: 'account', account_id: payer.id });
    await eventually(() => kinds(a.gw.payments.nodeId).includes('hello'), 5_000, 10);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual([...new Set(kinds(a.gw.payments.nodeId))], ['hello'], 'nobody else listens: no change was announced');

    // A second node says hello; the first answers; from then on both announce their changes.
    const b = await startGateway({ databaseUrl: dbUrl, env });
    nodes.push(b);
    await eventually(() => a.gw.payments.peers.present() && b.gw.payments.peers.present(), 5_000, 10);
    const { payment: p2 } = await mk(a, 'lone-2');
    assert.equal((await b.gw.status.get(p2.id))!.state, 'pending');
    await a.gw.payments.pay(p2.id, { kind: 'account', account_id: payer.id });
    await eventually(() => b.gw.status.peek(p2.id)?.state === 'succeeded', 5_000, 10);
    // The test's own LISTEN connection hears a notification when it does, maybe after the nodes.
    await eventually(() => kinds(a.gw.payments.nodeId).includes('payment'), 5_000, 10);
    const { payment: p3 } = await mk(b, 'lone-3');
    await eventually(() => a.gw.status.peek(p3.id)?.state === 'pending', 5_000, 10);
    await eventually(() => kinds(b.gw.payments.nodeId).includes('payment'), 5_000, 10);
  });
});
