import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { loadConfig } from '../config.ts';
import { ACCOUNT_SELECT } from '../ledger/ledger.ts';
import { isCoreError } from '../errors.ts';
import { holdTable, startGateway, type TestGateway } from '../../test/harness.ts';
import { newToken, type Payments } from './service.ts';
import { PAYMENT_TRANSITIONS, type PaymentState } from './states.ts';

describe('payments core', () => {
  let t: TestGateway;
  let p: Payments;
  let merchant: string;
  before(async () => {
    t = await startGateway();
    p = t.gw.payments;
    merchant = (await t.createMerchant('Core Shop')).id;
  });
  after(async () => { await t.close(); });

  let seq = 0;
  const newPayment = (over: Partial<Parameters<Payments['create']>[0]> = {}) =>
    p.create({ merchant_id: merchant, dialect: 'test', rail: 'wallet', merchant_ref: `ref-${++seq}`, amount_minor: 1000n, currency: 'HTG', ...over });

  test('a payment moves money wallet → merchant in one balanced entry', async () => {
    const w = await t.createPayer('wallet', { phone: '50930000001', currency: 'HTG', balance: '100' });
    const { payment } = await newPayment({ amount_minor: 6000n });
    assert.equal(payment.state, 'pending');
    const paid = await p.pay(payment.id, { kind: 'account', account_id: w.id });
    assert.equal(paid.state, 'succeeded');
    assert.equal(paid.payer_name, 'Test Payer');
    const acct = await t.admin('GET', `/admin/accounts/${w.id}`);
    assert.equal(acct.body.balance_minor, '4000');
    assert.deepEqual(await t.verify(), []);
  });

  test('insufficient funds leaves the payment pending and nothing moves', async () => {
    const w = await t.createPayer('wallet', { phone: '50930000002', currency: 'HTG', balance: '5' });
    const { payment } = await newPayment({ amount_minor: 1000n });
    await assert.rejects(p.pay(payment.id, { kind: 'account', account_id: w.id }), (e) => isCoreError(e, 'insufficient_funds'));
    assert.equal((await p.get(payment.id))!.state, 'pending');
    assert.equal((await t.admin('GET', `/admin/accounts/${w.id}`)).body.balance_minor, '500');
    assert.deepEqual(await t.verify(), []);
  });

  test('200 concurrent debits against one wallet never overdraw it', async () => {
    const w = await t.createPayer('wallet', { phone: '50930000003', currency: 'HTG', balance: '50' }); // 50 payments of 1.00
    const created = await Promise.all(Array.from({ length: 200 }, () => newPayment({ amount_minor: 100n })));
    const results = await Promise.allSettled(created.map(({ payment }) => p.pay(payment.id, { kind: 'account', account_id: w.id })));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const short = results.filter((r) => r.status === 'rejected' && isCoreError(r.reason, 'insufficient_funds')).length;
    assert.equal(ok, 50);
    assert.equal(short, 150);
    assert.equal((await t.admin('GET', `/admin/accounts/${w.id}`)).body.balance_minor, '0');
    assert.deepEqual(await t.verify(), []);
  });

  test('pay writes the outbox rows of the paid record in the same change; a changed fee rate or payer name is never taken from memory', async () => {
    const url = 'http://127.0.0.1:9/cb';
    p.registerCallbacks('paytest', (ev) => (ev.kind === 'payment' && ev.payment.state === 'succeeded'
      ? { event: 'payment.succeeded', url, body: JSON.stringify({ id: ev.payment.id, fee: ev.payment.fee_minor.toString(), payer: ev.payment.payer_name, v: ev.payment.version }) }
      : null));
    const shop = (await t.createMerchant('Fee Shop')).id;
    const w = await t.createPayer('wallet', { phone: '50930000091', name: 'First Name', currency: 'HTG', balance: '1000' });
    // Payments on this node: the first creates the merchant's account, after the second the
    // node knows the payer, the fee rate and the accounts.
    const first0 = await newPayment({ merchant_id: shop, dialect: 'paytest', amount_minor: 10_000n });
    await p.pay(first0.payment.id, { kind: 'account', account_id: w.id });
    const first = await newPayment({ merchant_id: shop, dialect: 'paytest', amount_minor: 10_000n });
    const paid1 = await p.pay(first.payment.id, { kind: 'account', account_id: w.id });
    // Behind the node's back: a renamed payer, then a new fee rate.
    await t.db.query(`update accounts set name = 'Second Name' where id = $1`, [w.id]);
    const second = await newPayment({ merchant_id: shop, dialect: 'paytest', amount_minor: 10_000n });
    const paid2 = await p.pay(second.payment.id, { kind: 'account', account_id: w.id });
    await t.gw.merchants.update(shop, { fee_bps: { wallet: 250 } });
    const third = await newPayment({ merchant_id: shop, dialect: 'paytest', amount_minor: 10_000n });
    const paid3 = await p.pay(third.payment.id, { kind: 'account', account_id: w.id });
    assert.equal(paid1.payer_name, 'First Name');
    assert.equal(paid2.payer_name, 'Second Name');
    assert.equal(paid2.fee_minor, paid1.fee_minor);
    assert.equal(paid3.fee_minor, 250n);
    for (const paid of [paid1, paid2, paid3]) {
      const rows = await t.db.query('select event, body from outbox where payment_id = $1', [paid.id]);
      assert.deepEqual(rows.map((r) => [r.event, JSON.parse(r.body)]), [['payment.succeeded', { id: paid.id, fee: paid.fee_minor.toString(), payer: paid.payer_name, v: paid.version }]]);
      const entries = await t.db.query(`select count(*)::int as n from journal_entries where payment_id = $1 and kind = 'payment'`, [paid.id]);
      assert.equal(entries[0]!.n, 1);
    }
    await assert.rejects(p.pay(second.payment.id, { kind: 'account', account_id: w.id }), (e) => isCoreError(e, 'invalid_state'));
    assert.equal((await t.admin('GET', `/admin/accounts/${w.id}`)).body.balance_minor, String(100_000n - 40_000n));
    assert.deepEqual(await t.verify(), []);
  });

  test('group commit: concurrent creates and pays share statements, and each request still gets its own exact answer', async () => {
    const payers = await Promise.all(Array.from({ length: 40 }, (_, i) => t.createPayer('wallet', { phone: String(50937700000 + i), currency: 'HTG', balance: i < 36 ? '20' : '5' })));
    const before = p.batching();
    const merchantBefore = await p.merchantBalance(merchant, 'HTG');
    // 40 creates at once, plus two retries of the first reference (one same, one different).
    const refs = payers.map(() => `gc-${++seq}`);
    const [created, same, other] = await Promise.all([
      Promise.all(refs.map((ref) => newPayment({ merchant_ref: ref, amount_minor: 1000n }))),
      newPayment({ merchant_ref: refs[0], amount_minor: 1000n }).then((r) => r, (e) => e),
      newPayment({ merchant_ref: refs[0], amount_minor: 999n }).then((r) => r, (e) => e),
    ]);
    assert.equal(new Set(created.map((c) => c.payment.id)).size, 40);
    assert.ok(created.every((c) => c.payment.state === 'pending'));
    assert.ok(!('payment' in same) || same.payment.id === created[0]!.payment.id, 'the same request answers the one payment');
    assert.ok(isCoreError(other, 'reference_conflict') || (created[0]!.replayed && isCoreError(same, 'reference_conflict')), 'different parameters: a conflict');
    // 40 pays at once from 40 payers: 4 cannot afford it; one payment is paid twice at once.
    const results = await Promise.allSettled([
      ...created.map((c, i) => p.pay(c.payment.id, { kind: 'account', account_id: payers[i]!.id })),
      p.pay(created[0]!.payment.id, { kind: 'account', account_id: payers[1]!.id }),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const short = results.filter((r) => r.status === 'rejected' && isCoreError(r.reason, 'insufficient_funds'));
    const again = results.filter((r) => r.status === 'rejected' && isCoreError(r.reason, 'invalid_state'));
    assert.equal(ok.length, 36, JSON.stringify(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))));
    assert.equal(short.length, 4);
    assert.equal(again.length, 1, 'a payment is paid once');
    const after = p.batching();
    assert.ok(after.create.items - before.create.items >= 40);
    assert.ok(after.create.batches - before.create.batches < after.create.items - before.create.items, 'some creates shared a statement');
    assert.ok(after.pay.batches - before.pay.batches < after.pay.items - before.pay.items, 'some pays shared a statement');
    const balances = await Promise.all(payers.map(async (w) => BigInt((await t.admin('GET', `/admin/accounts/${w.id}`)).body.balance_minor)));
    assert.deepEqual(balances.slice(36), [500n, 500n, 500n, 500n], 'a short payer keeps its balance');
    assert.equal(balances.reduce((a, b) => a + b, 0n), 36n * 2000n + 4n * 500n - 36n * 1000n, 'payers paid exactly the 36 payments');
    const paidSum = (await Promise.all(created.map((c) => p.get(c.payment.id)))).filter((x) => x!.state === 'succeeded').reduce((s, x) => s + x!.amount_minor - x!.fee_minor, 0n);
    assert.equal(await p.merchantBalance(merchant, 'HTG'), merchantBefore + paidSum);
    assert.deepEqual(await t.verify(), []);
  });

  test('creates arriving one by one while create statements are running go together in the next one', async () => {
    // The payments table is held, so the creates in flight wait in the database; the requests
    // that arrive meanwhile (one per event-loop turn, as HTTP requests do) must queue and share
    // a statement, not each run on their own.
    const held = await holdTable(t.db, 'payments');
    const before = p.batching().create;
    const pending: Promise<{ payment: { id: string } }>[] = [];
    for (let i = 0; i < 12; i++) {
      pending.push(newPayment({ merchant_ref: `tick-${++seq}`, amount_minor: 100n }));
      await new Promise((r) => setImmediate(r));
    }
    await held.release();
    const done = await Promise.all(pending);
    assert.equal(new Set(done.map((d) => d.payment.id)).size, 12);
    const after = p.batching().create;
    assert.equal(after.items - before.items, 12);
    // One statement in flight (the first create, alone, held by the lock), then one for the
    // eleven that queued meanwhile: more in flight would starve the event loop on a shared machine.
    assert.ok(after.batches - before.batches <= 2, `12 creates took ${after.batches - before.batches} statements`);
  });

  test('a duplicate merchant reference under concurrency yields exactly one record', async () => {
    const same = await Promise.allSettled(Array.from({ length: 20 }, () => newPayment({ merchant_ref: 'dup-1', amount_minor: 500n })));
    const ok = same.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<any>).value);
    assert.equal(ok.length, 20, 'identical retries all answer');
    assert.equal(new Set(ok.map((r) => r.payment.id)).size, 1, 'with the same payment');
    assert.equal(ok.filter((r) => !r.replayed).length, 1);
    const mixed = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => newPayment({ merchant_ref: 'dup-2', amount_minor: BigInt(100 + i) })));
    assert.equal(mixed.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(mixed.filter((r) => r.status === 'rejected').every((r) => isCoreError((r as PromiseRejectedResult).reason, 'reference_conflict')));
    const rows = await t.db.query(`select count(*)::int as n from payments where merchant_ref in ('dup-1', 'dup-2')`);
    assert.equal(rows[0]!.n, 2);
  });

  test('the state machine refuses every illegal transition', async () => {
    const w = await t.createPayer('wallet', { phone: '50930000004', currency: 'HTG', balance: '1000' });
    // Reach each state, then try every action that is not allowed from it.
    const reach: Record<PaymentState, () => Promise<string>> = {
      pending: async () => (await newPayment()).payment.id,
      succeeded: async () => { const id = (await newPayment()).payment.id; await p.pay(id, { kind: 'account', account_id: w.id }); return id; },
      partially_refunded: async () => { const id = await reach.succeeded(); await p.refund({ payment_id: id, merchant_id: merchant, amount_minor: 100n }); return id; },
      refunded: async () => { const id = await reach.succeeded(); await p.refund({ payment_id: id, merchant_id: merchant, amount_minor: 1000n }); return id; },
      failed: async () => { const id = (await newPayment()).payment.id; await p.fail(id, 'failed', 'declined'); return id; },
      cancelled: async () => { const id = (await newPayment()).payment.id; await p.fail(id, 'cancelled', 'cancelled'); return id; },
      expired: async () => { const id = (await newPayment()).payment.id; await p.fail(id, 'expired', 'expired'); return id; },
    };
    const actions: Record<string, { to: PaymentState; run: (id: string) => Promise<unknown> }> = {
      pay: { to: 'succeeded', run: (id) => p.pay(id, { kind: 'account', account_id: w.id }) },
      fail: { to: 'failed', run: (id) => p.fail(id, 'failed', 'declined-again') },
      cancel: { to: 'cancelled', run: (id) => p.fail(id, 'cancelled', 'cancelled-again') },
      expire: { to: 'expired', run: (id) => p.fail(id, 'expired', 'expired-again') },
      refund: { to: 'partially_refunded', run: (id) => p.refund({ payment_id: id, merchant_id: merchant, amount_minor: 1n }) },
    };
    let refused = 0;
    for (const [state, go] of Object.entries(reach) as [PaymentState, () => Promise<string>][]) {
      for (const [name, a] of Object.entries(actions)) {
        const allowed = PAYMENT_TRANSITIONS[state].includes(a.to) && !(name === 'refund' && state === 'refunded');
        if (allowed) continue;
        const id = await go();
        const before = await p.get(id);
        await assert.rejects(a.run(id), (e) => isCoreError(e) && ['invalid_state', 'refund_exceeds_payment', 'expired'].includes(e.code), `${name} from ${state}`);
        const afterRow = await p.get(id);
        assert.equal(afterRow!.state, before!.state, `${name} from ${state} changed nothing`);
        assert.equal(afterRow!.version, before!.version);
        refused++;
      }
    }
    assert.ok(refused >= 20, `checked ${refused} illegal transitions`);
    assert.deepEqual(await t.verify(), []);
  });

  test('concurrent partial refunds never exceed the amount paid', async () => {
    const w = await t.createPayer('wallet', { phone: '50930000005', currency: 'HTG', balance: '100' });
    const { payment } = await newPayment({ amount_minor: 1000n });
    await p.pay(payment.id, { kind: 'account', account_id: w.id });
    const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => p.refund({ payment_id: payment.id, merchant_id: merchant, merchant_ref: `r-${payment.id}-${i}`, amount_minor: 70n })));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    assert.equal(ok, 14); // 14 × 70 = 980 ≤ 1000 < 15 × 70
    const after = await p.get(payment.id);
    assert.equal(after!.refunded_minor, 980n);
    assert.equal(after!.state, 'partially_refunded');
    assert.deepEqual(await t.verify(), []);
  });

  test('one refund reference used at once on two payments: one refund, one conflict (not a 500)', async () => {
    const w = await t.createPayer('wallet', { phone: '50930000010', currency: 'HTG', balance: '100' });
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { payment } = await newPayment({ amount_minor: 1000n });
      await p.pay(payment.id, { kind: 'account', account_id: w.id });
      ids.push(payment.id);
    }
    for (let round = 0; round < 5; round++) {
      const ref = `shared-ref-${round}`;
      const results = await Promise.allSettled(ids.map((id) => p.refund({ payment_id: id, merchant_id: merchant, merchant_ref: ref, amount_minor: 10n })));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}`);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.ok(isCoreError(rejected.reason, 'reference_conflict'), String(rejected.reason));
    }
    assert.deepEqual(await t.verify(), []);
  });

  test('payouts never overdraw the merchant, and replay by reference', async () => {
    const m2 = (await t.createMerchant('Payout Shop')).id;
    const payer = await t.createPayer('wallet', { phone: '50930000006', currency: 'HTG', balance: '10' });
    const sub = await t.createPayer('subscriber', { phone: '50930000007', currency: 'HTG' });
    const { payment } = await p.create({ merchant_id: m2, dialect: 'test', rail: 'wallet', merchant_ref: 'po-fund', amount_minor: 1000n, currency: 'HTG' });
    await p.pay(payment.id, { kind: 'account', account_id: payer.id });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      p.payout({ merchant_id: m2, dialect: 'test', rail: 'mobile-money', merchant_ref: `po-${i}`, payee_account_id: sub.id, amount_minor: 300n, currency: 'HTG' })));
    assert.equal(results.filter((r) => r.payout.state === 'succeeded').length, 3);
    assert.equal(results.filter((r) => r.payout.failure_code === 'insufficient_funds').length, 7);
    const again = await p.payout({ merchant_id: m2, dialect: 'test', rail: 'mobile-money', merchant_ref: 'po-0', payee_account_id: sub.id, amount_minor: 300n, currency: 'HTG' });
    assert.equal(again.replayed, true);
    await assert.rejects(p.payout({ merchant_id: m2, dialect: 'test', rail: 'mobile-money', merchant_ref: 'po-0', payee_account_id: sub.id, amount_minor: 301n, currency: 'HTG' }), (e) => isCoreError(e, 'reference_conflict'));
    assert.equal((await t.admin('GET', `/admin/accounts/${sub.id}`)).body.balance_minor, '900');
    assert.deepEqual(await t.verify(), []);
  });

  test('pending payments expire when their time is up', async () => {
    const { payment } = await newPayment({ ttl_ms: 60_000 });
    t.clock.advance(61_000);
    const w = await t.createPayer('wallet', { phone: '50930000008', currency: 'HTG', balance: '100' });
    await assert.rejects(p.pay(payment.id, { kind: 'account', account_id: w.id }), (e) => isCoreError(e, 'expired'));
    assert.equal((await p.get(payment.id))!.state, 'expired');
    const { payment: other } = await newPayment({ ttl_ms: 1_000 });
    t.clock.advance(2_000);
    await p.expireDue();
    assert.equal((await p.get(other.id))!.state, 'expired');
    assert.equal((await t.admin('GET', `/admin/accounts/${w.id}`)).body.balance_minor, '10000');
  });

  test('the status cache catch-up reads payments changed after their creation, not those only created', async () => {
    const since = t.clock.now();
    const w = await t.createPayer('wallet', { phone: '50930000019', currency: 'HTG', balance: '100' });
    const created = (await newPayment()).payment;
    const paid = await p.pay((await newPayment()).payment.id, { kind: 'account', account_id: w.id });
    const { changed, last_updated_at } = await p.changedSince(since, 1000);
    const ids = changed.map((c) => c.id);
    assert.ok(!ids.includes(created.id), 'a payment as created is never newer than a cached copy');
    assert.deepEqual(changed.filter((c) => c.id === paid.id), [{ id: paid.id, version: paid.version }]);
    assert.ok(paid.version > 1 && last_updated_at !== null && last_updated_at.getTime() >= paid.updated_at.getTime());
  });

  test('property: ledger invariants hold after random sequences of operations', async () => {
    const payers = await Promise.all([1, 2, 3].map((i) => t.createPayer('wallet', { phone: `5093100000${i}`, currency: 'HTG', balance: '20' })));
    const subs = await Promise.all([1, 2].map((i) => t.createPayer('subscriber', { phone: `5093200000${i}`, currency: 'HTG' })));
    const op = fc.oneof(
      fc.record({ k: fc.constant('pay' as const), payer: fc.nat(2), amount: fc.integer({ min: 1, max: 1500 }), surcharge: fc.integer({ min: 0, max: 50 }) }),
      fc.record({ k: fc.constant('fail' as const), amount: fc.integer({ min: 1, max: 1500 }) }),
      fc.record({ k: fc.constant('refund' as const), pick: fc.nat(50), amount: fc.integer({ min: 1, max: 800 }) }),
      fc.record({ k: fc.constant('payout' as const), sub: fc.nat(1), amount: fc.integer({ min: 1, max: 600 }) }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 25 }), async (ops) => {
        run++;
        const paid: string[] = [];
        for (const [i, o] of ops.entries()) {
          try {
            if (o.k === 'pay') {
              const { payment } = await newPayment({ amount_minor: BigInt(o.amount), surcharge_minor: BigInt(o.surcharge) });
              await p.pay(payment.id, { kind: 'account', account_id: payers[o.payer]!.id });
              paid.push(payment.id);
            } else if (o.k === 'fail') {
              const { payment } = await newPayment({ amount_minor: BigInt(o.amount) });
              await p.fail(payment.id, 'failed', 'declined');
            } else if (o.k === 'refund' && paid.length) {
              await p.refund({ payment_id: paid[o.pick % paid.length]!, merchant_id: merchant, amount_minor: BigInt(o.amount) });
            } else if (o.k === 'payout') {
              await p.payout({ merchant_id: merchant, dialect: 'test', rail: 'mobile-money', merchant_ref: `prop-${run}-${i}`, payee_account_id: subs[o.sub]!.id, amount_minor: BigInt(o.amount), fee_minor: 1n, currency: 'HTG' });
            }
          } catch (e) {
            if (!isCoreError(e)) throw e; // business refusals are fine; anything else is a bug
          }
        }
        assert.deepEqual(await t.verify(), []);
        // Balances as readers see them: pending credits (account_credits) included.
        const sums = await t.db.query(`select currency, sum(balance_minor)::text as s from (${ACCOUNT_SELECT}) b group by currency`);
        for (const s of sums) assert.equal(s.s, '0', `all balances of ${s.currency} sum to zero`);
      }),
      { numRuns: 15 },
    );
  });

  test('long-polls that time out leave nothing behind in the status cache', async () => {
    const { payment } = await newPayment();
    const waiters = (t.gw.status as unknown as { waiters: Map<string, Set<unknown>> }).waiters;
    await Promise.all([1, 2, 3].map(() => t.gw.status.waitForChange(payment.id, payment.version, 30)));
    assert.equal(waiters.has(payment.id), false);
  });

  test('the status cache keeps recent payments decoded and the rest encoded off the heap; past its bound the oldest are read again from the database', async () => {
    // A node with a small cache (PAYGATE_STATUS_CACHE_ENTRIES) and a smaller hot tier, on this suite's engine.
    const small = await startGateway({ env: { PAYGATE_STATUS_CACHE_ENTRIES: '2000', PAYGATE_STATUS_CACHE_HOT_ENTRIES: '200' } });
    try {
      const max = small.gw.config.statusCacheEntries;
      assert.equal(max, 2000);
      assert.equal(small.gw.config.statusCacheHotEntries, 200);
      const m = (await small.createMerchant('Cache Shop')).id;
      const { payment } = await small.gw.payments.create({ merchant_id: m, dialect: 'test', rail: 'wallet', merchant_ref: 'cache-1', amount_minor: 1000n, currency: 'HTG', description: 'Kès 😀', details: { code: 'x', nested: { n: 1 } } });
      assert.deepEqual(await small.gw.status.get(payment.id), payment);
      const inner = small.gw.status as unknown as { byId: Map<string, unknown>; byToken: Map<string, string>; ring: { size: number; has(id: string): boolean } };
      const synthetic = (i: number) => ({ ...payment, id: `9${String(i).padStart(17, '0')}`, token: `synthetic-${i}` });
      // Past the hot tier: the payment moves to the ring, and comes back from it whole.
      for (let i = 0; i < 300; i++) small.gw.status.put(synthetic(i));
      assert.equal(inner.byId.has(payment.id), false, 'out of the hot tier');
      assert.ok(inner.byId.size <= 200 && inner.byId.size > 150, `${inner.byId.size} hot`);
      assert.equal(inner.ring.has(payment.id), true, 'into the ring');
      const before = { ...small.gw.status.reads };
      assert.deepEqual(small.gw.status.peek(payment.id), payment, 'decoded from the ring as it was: amounts, times, details');
      assert.equal(inner.byId.has(payment.id), true, 'and hot again, being read');
      small.gw.status.peek(payment.id);
      assert.deepEqual(small.gw.status.reads, { hot: before.hot + 1, ring: before.ring + 1, database: before.database }, 'one read from the ring, then from the hot tier');
      for (let i = 300; i < 600; i++) small.gw.status.put(synthetic(i));
      assert.deepEqual(await small.gw.status.getByToken(payment.token), payment, 'by token from the ring');
      // A change while the ring holds the old version: the new one is served, by id and by token.
      for (let i = 600; i < 900; i++) small.gw.status.put(synthetic(i));
      assert.equal(inner.byId.has(payment.id), false);
      const cancelled = await small.gw.payments.fail(payment.id, 'cancelled', 'merchant_cancelled');
      assert.equal(small.gw.status.peek(payment.id)!.state, 'cancelled', 'the feed put the new version');
      assert.equal((await small.gw.status.getByToken(payment.token))!.version, cancelled.version);
      for (let i = 900; i < 1200; i++) small.gw.status.put(synthetic(i));
      assert.deepEqual(small.gw.status.peek(payment.id), cancelled, 'the ring holds the newest version');
      small.gw.status.put(payment); // an older version arriving late changes nothing
      assert.equal(small.gw.status.peek(payment.id)!.state, 'cancelled');
      // Fill it past its bound with records of payments that exist only in memory.
      for (let i = 1200; i < 1200 + 2 * max; i++) small.gw.status.put(synthetic(i));
      assert.ok(inner.ring.size <= max && inner.ring.size > max * 0.9, `${inner.ring.size} in the ring`);
      assert.equal(inner.byToken.size, inner.byId.size, 'a payment leaving the hot tier takes its token along');
      assert.equal(small.gw.status.peek(payment.id), undefined, 'the oldest went first');
      assert.ok(small.gw.status.peek(synthetic(1200 + 2 * max - 1).id), 'the newest stay');
      assert.ok(small.gw.status.peek(synthetic(1200 + 2 * max - 1000).id), 'in the ring too');
      assert.deepEqual(await small.gw.status.getByToken(payment.token), cancelled, 'read again from the database');
      assert.deepEqual(small.gw.status.peek(payment.id), cancelled, 'and cached again');
      assert.equal(await small.gw.status.getByToken('synthetic-0'), null, 'a dropped token no longer resolves');
      // Operators see the tiers and where reads were answered from.
      const metrics = await (await fetch(small.url + '/metrics')).text();
      const { reads, entries } = small.gw.status;
      assert.ok(reads.hot > 0 && reads.ring >= 3 && reads.database >= 2, JSON.stringify(reads));
      for (const [source, n] of Object.entries(reads)) assert.match(metrics, new RegExp(`\npaygate_status_cache_reads_total\\{source="${source}"\\} ${n}\n`));
      for (const [tier, n] of Object.entries(entries)) assert.match(metrics, new RegExp(`\npaygate_status_cache_entries\\{tier="${tier}"\\} ${n}\n`));
      assert.ok(entries.ring > max * 0.9 && entries.hot <= 200, JSON.stringify(entries));

      // A newer version the ring refuses (over a quarter of its arena) must not leave the older
      // one there to be served.
      const big = synthetic(99_999);
      small.gw.status.put(big);
      for (let i = 0; i < 300; i++) small.gw.status.put(synthetic(100_000 + i));
      assert.equal(inner.ring.has(big.id), true);
      small.gw.status.put({ ...big, version: big.version + 1, details: { blob: 'x'.repeat(800_000) } });
      assert.equal(small.gw.status.peek(big.id)!.version, big.version + 1);
      for (let i = 300; i < 600; i++) small.gw.status.put(synthetic(100_000 + i));
      assert.equal(inner.ring.has(big.id), false, 'refused, and the older copy gone with it');
      assert.equal(small.gw.status.peek(big.id), undefined, 'so nothing older is served');
      assert.equal(await small.gw.status.getByToken(big.token), null, 'by token neither (it exists only in memory here)');

      // A newer version heard while a miss reads the database wins over the row read.
      for (let i = 0; i < 2 * max; i++) small.gw.status.put(synthetic(200_000 + i));
      assert.equal(small.gw.status.peek(payment.id), undefined, 'dropped again');
      const reading = small.gw.status.get(payment.id);
      small.gw.status.put({ ...cancelled, version: cancelled.version + 1 }); // as the feed would, mid-read
      assert.equal((await reading)!.version, cancelled.version + 1);
      const byToken = small.gw.status.getByToken(`no-such-token-${Date.now()}`);
      assert.equal(await byToken, null);
    } finally {
      await small.close();
    }
    assert.equal(t.gw.config.statusCacheEntries, 200_000, 'the default');
    assert.equal(t.gw.config.statusCacheHotEntries, 16_384, 'the default');
    const env = { PAYGATE_SECRET_KEY: 'k'.repeat(64), PAYGATE_ADMIN_TOKEN: 'admin-token' };
    for (const bad of ['999', '-1', 'lots']) assert.throws(() => loadConfig({ ...env, PAYGATE_STATUS_CACHE_ENTRIES: bad }, { dataDir: '/nonexistent' }), /PAYGATE_STATUS_CACHE_ENTRIES must be at least 1000|expected an integer/);
    for (const bad of ['99', '1.5']) assert.throws(() => loadConfig({ ...env, PAYGATE_STATUS_CACHE_HOT_ENTRIES: bad }, { dataDir: '/nonexistent' }), /PAYGATE_STATUS_CACHE_HOT_ENTRIES must be at least 100|expected an integer/);
  });

  test('payment tokens are 24 base64url characters and never repeat, across refills of the random pool', () => {
    const tokens = Array.from({ length: 2000 }, () => newToken());
    for (const tok of tokens) assert.match(tok, /^[A-Za-z0-9_-]{24}$/);
    assert.equal(new Set(tokens).size, tokens.length);
  });

  test('references without foreign keys: an unknown merchant is refused alone or in a batch, referred-to rows are never deleted, verify finds a dangling one', async () => {
    const before = await t.db.query<{ n: bigint }>('select count(*)::int8 as n from payments');
    await assert.rejects(newPayment({ merchant_id: '987654321' }), (e) => isCoreError(e, 'not_found'));
    // In a batch (the first creates go alone, one per statement in flight; the rest queue and
    // go together): the others are created, the unknown merchant's create gets its own answer.
    const batchesBefore = p.batching().create.batches;
    const outs = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => newPayment(i === 10 ? { merchant_id: '987654322' } : {})));
    assert.deepEqual(outs.map((o) => o.status), Array.from({ length: 16 }, (_, i) => (i === 10 ? 'rejected' : 'fulfilled')));
    assert.ok(isCoreError((outs[10] as PromiseRejectedResult).reason, 'not_found'));
    assert.ok(p.batching().create.batches - batchesBefore < 16, 'some of them shared a statement');
    const after = await t.db.query<{ n: bigint }>('select count(*)::int8 as n from payments');
    assert.equal(after[0]!.n, before[0]!.n + 15n);
    assert.deepEqual(await t.db.query(`select id from payments where merchant_id in (987654321, 987654322)`), []);

    const w = await t.createPayer('wallet', { phone: '50930000039', currency: 'HTG', balance: '100' });
    const { payment } = await newPayment({ amount_minor: 1000n });
    await p.pay(payment.id, { kind: 'account', account_id: w.id });
    const [entry] = await t.db.query<{ id: bigint }>(`select id from journal_entries where payment_id = $1`, [payment.id]);
    for (const [table, id] of [['merchants', merchant], ['accounts', w.id], ['payments', payment.id], ['journal_entries', String(entry!.id)]] as const) {
      await assert.rejects(t.db.query(`delete from ${table} where id = $1`, [id]), (e: any) => e.code === '23503' && /never deleted/.test(e.message), `delete from ${table}`);
      await assert.rejects(t.db.query(`truncate ${table} cascade`), (e: any) => e.code === '23503', `truncate ${table}`);
    }
    assert.deepEqual(await t.verify(), []);

    // A posting to an account that is not there (written behind the gateway's back).
    const [bad] = await t.db.query<{ id: bigint }>(`insert into postings (entry_id, account_id, currency, amount_minor) values ($1, 987654321, 'HTG', 1) returning id`, [entry!.id]);
    const v = await t.verify();
    assert.deepEqual(v.find((x) => x.check === 'every posting refers to an existing journal entry and account')?.ids, [String(bad!.id)]);
    await t.db.query('delete from postings where id = $1', [bad!.id]);
    assert.deepEqual(await t.verify(), []);
  });

  test('the paying statement never posts to an account it did not lock (a wrong account id among the facts)', async () => {
    const w = await t.createPayer('wallet', { phone: '50930000029', currency: 'HTG', balance: '100' });
    const first = await newPayment({ amount_minor: 1000n });
    await p.pay(first.payment.id, { kind: 'account', account_id: w.id }); // the node now knows the accounts
    const facts = (p as any).accountIds as Map<string, string>;
    const key = `m:${merchant}:HTG`;
    const right = facts.get(key);
    assert.ok(right, 'the merchant account is known');
    facts.set(key, '987654321');
    const { payment } = await newPayment({ amount_minor: 1000n });
    const statementsBefore = p.batching().pay.batches;
    const paid = await p.pay(payment.id, { kind: 'account', account_id: w.id });
    assert.ok(p.batching().pay.batches > statementsBefore, 'the paying statement ran with the wrong account');
    assert.equal(paid.state, 'succeeded');
    assert.deepEqual(await t.db.query('select id from postings where account_id = 987654321'), []);
    const credited = await t.db.query<{ n: bigint }>(`select count(*)::int8 as n from postings p join journal_entries e on e.id = p.entry_id where e.payment_id = $1 and p.account_id = $2`, [paid.id, right]);
    assert.equal(credited[0]!.n, 1n, 'the merchant\'s own account was credited by the full transaction');
    assert.deepEqual(await t.verify(), []);
  });

  test('verify catches a deliberately corrupted balance', async () => {
    const w = await t.createPayer('wallet', { phone: '50930000009', currency: 'HTG', balance: '1' });
    await t.db.query('update accounts set balance_minor = balance_minor + 1 where id = $1', [w.id]);
    const v = await t.verify();
    assert.equal(v.length, 1);
    assert.equal(v[0]!.check, 'account balance equals the sum of its postings');
    assert.deepEqual(v[0]!.ids, [w.id]);
    await t.db.query('update accounts set balance_minor = balance_minor - 1 where id = $1', [w.id]);
    assert.deepEqual(await t.verify(), []);
  });
});
